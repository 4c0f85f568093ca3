"""Any data set in MNIST's IDX layout (Fashion-MNIST, KMNIST, EMNIST, your own files).

Example:
    >>> import tempfile, numpy as np
    >>> from pathlib import Path
    >>> from transferlab.data.idx import write_idx
    >>> folder = Path(tempfile.mkdtemp()) / "fashion"
    >>> folder.mkdir()
    >>> write_idx(folder / "train-images-idx3-ubyte.gz", np.zeros((3, 28, 28), "uint8"))
    >>> write_idx(folder / "train-labels-idx1-ubyte.gz", np.array([0, 2, 1], "uint8"))
    >>> write_idx(folder / "t10k-images.idx3-ubyte", np.zeros((1, 28, 28), "uint8"))
    >>> write_idx(folder / "t10k-labels.idx1-ubyte", np.array([2], "uint8"))
    >>> splits = load_idx_dataset(folder, class_names=["T-shirt", "Trouser", "Pullover"])
    >>> splits.name, len(splits.train), splits.test.class_names[splits.test.labels[0]]
    ('fashion', 3, 'Pullover')
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt

from transferlab.data.dataset_splits import DatasetSplits
from transferlab.data.idx import read_idx
from transferlab.data.labeled_images import LabeledImages
from transferlab.errors import (
    ChecksumError,
    ConfigError,
    DataFileError,
    DatasetNotFoundError,
    describe,
)

__all__ = ["load_idx_dataset"]

# After lower-casing, dropping ".gz" and turning "." and "_" into "-":
# "[prefix-](train|t10k|test)-(images|labels)-idx<N>-ubyte".
_PATTERN = re.compile(r"^(?P<prefix>.*?-)?(?P<split>train|t10k|test)-(?P<kind>images|labels)-idx\d-ubyte$")
_ROLES = (("train", "images"), ("train", "labels"), ("test", "images"), ("test", "labels"))
_STANDARD = {
    ("train", "images"): "train-images-idx3-ubyte[.gz]",
    ("train", "labels"): "train-labels-idx1-ubyte[.gz]",
    ("test", "images"): "t10k-images-idx3-ubyte[.gz]",
    ("test", "labels"): "t10k-labels-idx1-ubyte[.gz]",
}


def load_idx_dataset(
    folder: str | os.PathLike[str],
    *,
    name: str | None = None,
    class_names: Sequence[str] | None = None,
    sha256: Mapping[str, str] | None = None,
) -> DatasetSplits:
    """Loads the train and test splits of an MNIST-format folder.

    The four files are found by their standard names, gzipped or not, with
    dots, dashes or underscores (``train-images-idx3-ubyte.gz``,
    ``t10k-labels.idx1-ubyte``, ``emnist-letters-train-images-idx3-ubyte``
    ...); ``test-`` is accepted for ``t10k-``.

    Args:
        folder: The folder holding the four files.
        name: The data set's name (default: the folder's name).
        class_names: One name per class; default ``"0"``, ``"1"``, ... up to
            the largest label found.
        sha256: File name -> expected sha256, checked before parsing.

    Returns:
        ``DatasetSplits`` with ``train`` and ``test`` as ``LabeledImages``.

    Raises:
        DatasetNotFoundError: The folder or one of the four files is missing.
        DataFileError: Ambiguous files, a malformed file, images that are not
            ``(N, H, W)`` or ``(N, H, W, 1|3)``, image/label count mismatch,
            labels out of range of ``class_names``, splits of different shapes.
        ChecksumError: A file differs from its ``sha256`` entry.
        ConfigError: ``sha256`` names a file that is not one of the four.
    """
    root = Path(folder).expanduser()
    if not root.is_dir():
        raise DatasetNotFoundError(
            describe(
                f"The folder {root} does not exist",
                fix="pass the folder holding the train/t10k images and labels IDX files",
            )
        )
    files = _find_files(root, sha256 or {})
    if sha256:
        chosen = {path.name: path for path in files.values()}
        unknown = sorted(set(sha256) - set(chosen))
        if unknown:
            raise ConfigError(
                describe(
                    "`sha256` names files that are not the data set's files",
                    received=", ".join(unknown),
                    accepted=", ".join(sorted(chosen)),
                    fix="key the dict by the file names in the folder",
                )
            )
        for file_name, expected in sha256.items():
            _verify(chosen[file_name], expected)

    arrays = {role: read_idx(path) for role, path in files.items()}
    for split in ("train", "test"):
        _check_pair(
            arrays[(split, "images")],
            arrays[(split, "labels")],
            files[(split, "images")],
            files[(split, "labels")],
        )
    train_shape = arrays[("train", "images")].shape[1:]
    test_shape = arrays[("test", "images")].shape[1:]
    if train_shape != test_shape:
        raise DataFileError(
            describe(
                "The train and test images have different shapes",
                received=f"{files[('train', 'images')].name}: {train_shape}, "
                f"{files[('test', 'images')].name}: {test_shape}",
                fix="use the train and test files of the same data set",
            )
        )
    max_label = max(int(arrays[(s, "labels")].max(initial=0)) for s in ("train", "test"))
    names = (
        tuple(str(n) for n in class_names)
        if class_names is not None
        else tuple(str(i) for i in range(max_label + 1))
    )
    if not names:
        raise ConfigError(describe("`class_names` must name at least one class", received="[]"))
    for split in ("train", "test"):
        labels = arrays[(split, "labels")]
        if labels.size and (labels.min() < 0 or labels.max() >= len(names)):
            raise DataFileError(
                describe(
                    f"{files[(split, 'labels')]} holds labels outside the {len(names)} classes",
                    received=f"labels in [{labels.min()}, {labels.max()}]",
                    accepted=f"0 to {len(names) - 1} for class_names={list(names)!r}",
                    fix="pass one class name per label value",
                )
            )
    splits = {
        split: LabeledImages(arrays[(split, "images")], arrays[(split, "labels")], names)
        for split in ("train", "test")
    }
    return DatasetSplits(name or root.name, splits["train"], splits["test"], source=str(root))


def _find_files(root: Path, sha256: Mapping[str, str]) -> dict[tuple[str, str], Path]:
    candidates: dict[tuple[str, str], list[tuple[str, Path]]] = {role: [] for role in _ROLES}
    for path in sorted(root.iterdir()):
        if not path.is_file():
            continue
        normal = re.sub(r"[._]", "-", path.name.lower().removesuffix(".gz"))
        match = _PATTERN.match(normal)
        if match is None:
            continue
        split = "test" if match["split"] in ("t10k", "test") else "train"
        stem = f"{match['prefix'] or ''}{match['split']}"
        candidates[(split, match["kind"])].append((stem, path))
    missing = [_STANDARD[role] for role, found in candidates.items() if not found]
    if missing:
        seen = sorted(p.name for p in root.iterdir())
        raise DatasetNotFoundError(
            describe(
                f"{root} does not hold the four IDX files of a data set",
                received=f"missing {', '.join(missing)}; the folder holds: "
                + (_listing(seen) if seen else "nothing"),
                accepted="train/t10k images/labels IDX files, e.g. train-images-idx3-ubyte.gz "
                "or t10k-labels.idx1-ubyte",
                fix="put the four files in the folder under their standard names",
            )
        )
    chosen: dict[tuple[str, str], Path] = {}
    for role, found in candidates.items():
        stems = sorted({stem for stem, _ in found})
        if len(stems) > 1:
            raise DataFileError(
                describe(
                    f"{root} holds several {role[0]} {role[1]} files of different data sets",
                    received=", ".join(p.name for _, p in found),
                    fix="keep one data set per folder",
                )
            )
        paths = [p for _, p in found]
        # The same file gzipped and not: the one with a checksum, else the faster (plain) one.
        paths.sort(key=lambda p: (p.name not in sha256, p.name.lower().endswith(".gz")))
        chosen[role] = paths[0]
    return chosen


def _verify(path: Path, expected: str) -> None:
    actual = hashlib.sha256(path.read_bytes()).hexdigest()
    if actual != expected.lower():
        raise ChecksumError(
            describe(
                f"{path} is corrupt or not the expected file: its sha256 differs",
                received=f"sha256 {actual}",
                accepted=f"sha256 {expected.lower()}",
                fix=f"replace {path.name} with a good copy",
            )
        )


def _listing(names: list[str]) -> str:
    return ", ".join(names[:20]) + (" ..." if len(names) > 20 else "")


def _check_pair(
    images: npt.NDArray[np.generic[object]],
    labels: npt.NDArray[np.generic[object]],
    images_path: Path,
    labels_path: Path,
) -> None:
    if not (images.ndim == 3 or (images.ndim == 4 and images.shape[-1] in (1, 3))):
        raise DataFileError(
            describe(
                f"{images_path} does not hold images",
                received=f"shape {images.shape}",
                accepted="(N, height, width) or (N, height, width, 1 or 3)",
                fix="check that the file is an images file, not a labels file",
            )
        )
    if images.dtype != np.uint8 and not np.issubdtype(images.dtype, np.floating):
        raise DataFileError(
            describe(
                f"{images_path} holds {images.dtype} values",
                accepted="uint8 (pixels 0-255) or floating point",
                fix="write the images as uint8",
            )
        )
    if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
        raise DataFileError(
            describe(
                f"{labels_path} does not hold labels",
                received=f"shape {labels.shape}, dtype {labels.dtype}",
                accepted="(N,) integers",
                fix="check that the file is a labels file, not an images file",
            )
        )
    if len(images) != len(labels):
        raise DataFileError(
            describe(
                f"{images_path.name} and {labels_path.name} do not match",
                received=f"{len(images)} images, {len(labels)} labels",
                fix="use the images and labels files of the same split",
            )
        )
