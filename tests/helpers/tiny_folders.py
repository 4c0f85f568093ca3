"""Tiny generated image folders (PNG files of noise) for tests of folder and TFRecord data sets."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import tensorflow as tf


def write_class_folder(
    root: Path, per_class: Sequence[int], *, size: tuple[int, int] = (8, 8), seed: int = 0, channels: int = 1
) -> Path:
    """``root/c<k>/<i>.png``: ``per_class[k]`` noise PNGs of class ``k`` (a class's files share a bright row)."""
    rng = np.random.default_rng(seed)
    for k, n in enumerate(per_class):
        folder = root / f"c{k}"
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(n):
            pixels = rng.integers(0, 120, (*size, channels), dtype=np.uint8)
            pixels[k % size[0]] = 255  # something to learn
            (folder / f"{i:03d}.png").write_bytes(tf.io.encode_png(pixels).numpy())
    return root


def write_split_folders(
    root: Path,
    train: Sequence[int],
    test: Sequence[int],
    *,
    size: tuple[int, int] = (8, 8),
    seed: int = 0,
    channels: int = 1,
) -> Path:
    """``root/train/...`` and ``root/test/...`` (see :func:`write_class_folder`)."""
    write_class_folder(root / "train", train, size=size, seed=seed, channels=channels)
    write_class_folder(root / "test", test, size=size, seed=seed + 1, channels=channels)
    return root


def damage(path: Path) -> Path:
    """Keeps a PNG's header and cuts its body: listing passes, decoding fails."""
    data = path.read_bytes()
    path.write_bytes(data[:40])
    return path
