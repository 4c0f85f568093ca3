"""A folder of class subfolders holding PNG/JPEG images, loaded into memory.

Example:
    >>> import tempfile, numpy as np, tensorflow as tf
    >>> from pathlib import Path
    >>> root = Path(tempfile.mkdtemp())
    >>> for name, value in (("cat", 10), ("dog", 200)):
    ...     (root / name).mkdir()
    ...     png = tf.io.encode_png(np.full((6, 8, 1), value, "uint8")).numpy()
    ...     _ = (root / name / "a.png").write_bytes(png)
    >>> data = load_image_folder(root, image_size=(4, 4))
    >>> data.images.shape, data.class_names, data.labels.tolist(), int(data.images[1, 0, 0])
    ((2, 4, 4), ('cat', 'dog'), [0, 1], 200)
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Literal, overload

import numpy as np
import numpy.typing as npt
import tensorflow as tf

from transferlab.data.dataset_splits import DatasetSplits
from transferlab.data.labeled_images import LabeledImages
from transferlab.errors import ConfigError, DataFileError, DatasetNotFoundError, describe

__all__ = ["load_image_folder"]

_EXTENSIONS = (".png", ".jpg", ".jpeg")
_MODES = {"grayscale": 1, "rgb": 3}


@overload
def load_image_folder(
    folder: str | os.PathLike[str],
    *,
    image_size: Sequence[int] | None = ...,
    color_mode: Literal["grayscale", "rgb"] = ...,
    test_folder: None = ...,
) -> LabeledImages: ...


@overload
def load_image_folder(
    folder: str | os.PathLike[str],
    *,
    image_size: Sequence[int] | None = ...,
    color_mode: Literal["grayscale", "rgb"] = ...,
    test_folder: str | os.PathLike[str],
) -> DatasetSplits: ...


def load_image_folder(
    folder: str | os.PathLike[str],
    *,
    image_size: Sequence[int] | None = None,
    color_mode: Literal["grayscale", "rgb"] = "grayscale",
    test_folder: str | os.PathLike[str] | None = None,
) -> LabeledImages | DatasetSplits:
    """Loads ``folder/<class>/<image>.png|jpg|jpeg`` as ``uint8`` images.

    Class names are the subfolder names, sorted; label ``i`` is the ``i``-th.
    Images are decoded with ``tf.io.decode_image`` (no extra dependency) and
    resized with antialiased bilinear interpolation. Hidden files and files
    with other extensions are skipped.

    Args:
        folder: The folder of class subfolders.
        image_size: ``(height, width)`` to resize every image to. ``None``:
            every image must already have the size of the first one.
        color_mode: ``"grayscale"`` (images ``(N, H, W)``) or ``"rgb"``
            (images ``(N, H, W, 3)``).
        test_folder: A second folder laid out the same way, read as the test
            split with the class names of ``folder`` (it may lack classes).

    Returns:
        ``LabeledImages``, or ``DatasetSplits`` (named after ``folder``) when
        ``test_folder`` is given.

    Raises:
        DatasetNotFoundError: A folder does not exist.
        DataFileError: No class subfolders, a class subfolder without images,
            an undecodable file (named), sizes that differ with
            ``image_size=None``, a test class unknown to the training folder.
        ConfigError: A bad ``image_size`` or ``color_mode``.
    """
    if color_mode not in _MODES:
        raise ConfigError(
            describe(
                "Unknown `color_mode`",
                received=f"color_mode={color_mode!r}",
                accepted="'grayscale', 'rgb'",
            )
        )
    size: tuple[int, int] | None = None
    if image_size is not None:
        try:
            height, width = (int(s) for s in image_size)
        except (TypeError, ValueError):
            height = width = 0
        if height < 1 or width < 1:
            raise ConfigError(
                describe(
                    "`image_size` must be (height, width) with positive sides, or None",
                    received=f"image_size={image_size!r}",
                    fix="pass e.g. image_size=(28, 28)",
                )
            )
        size = (height, width)
    channels = _MODES[color_mode]
    root = Path(folder).expanduser()
    names = _class_folders(root)
    train = _read_split(root, names, names, size, channels, strict=size is None)
    if test_folder is None:
        return train
    test_root = Path(test_folder).expanduser()
    test_names = _class_folders(test_root)
    unknown = sorted(set(test_names) - set(names))
    if unknown:
        raise DataFileError(
            describe(
                f"The test folder {test_root} has classes the training folder lacks",
                received=", ".join(unknown),
                accepted=", ".join(names),
                fix="give both folders the same class subfolder names",
            )
        )
    test = _read_split(
        test_root,
        test_names,
        names,
        size or (train.image_shape[0], train.image_shape[1]),
        channels,
        strict=size is None,
    )
    return DatasetSplits(root.name, train, test, source=str(root))


def _class_folders(root: Path) -> tuple[str, ...]:
    if not root.is_dir():
        raise DatasetNotFoundError(
            describe(
                f"The image folder {root} does not exist",
                fix="pass a folder holding one subfolder of images per class",
            )
        )
    entries = [p for p in root.iterdir() if not p.name.startswith(".")]
    names = tuple(sorted(p.name for p in entries if p.is_dir()))
    if not names:
        loose = [p.name for p in entries if p.suffix.lower() in _EXTENSIONS]
        raise DataFileError(
            describe(
                f"The image folder {root} has no class subfolders"
                + (" (it is empty)" if not entries else ""),
                received=f"{len(loose)} images directly in the folder" if loose else None,
                accepted="folder/<class name>/<image>.png|jpg|jpeg",
                fix="put each class's images in a subfolder named after the class",
            )
        )
    return names


def _read_split(
    root: Path,
    folders: Sequence[str],
    class_names: Sequence[str],
    size: tuple[int, int] | None,
    channels: int,
    *,
    strict: bool,
) -> LabeledImages:
    first: Path | None = None
    images: list[npt.NDArray[np.uint8]] = []
    labels: list[int] = []
    for name in folders:
        files = sorted(
            p
            for p in (root / name).iterdir()
            if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in _EXTENSIONS
        )
        if not files:
            raise DataFileError(
                describe(
                    f"The class folder {root / name} holds no images",
                    accepted="files ending in " + ", ".join(_EXTENSIONS),
                    fix="add images, or remove the folder",
                )
            )
        label = class_names.index(name)
        for file in files:
            image = _decode(file, channels)
            if size is None:
                size, first = (int(image.shape[0]), int(image.shape[1])), file
            if tuple(image.shape[:2]) != size:
                if strict:
                    raise DataFileError(
                        describe(
                            f"The image {file} has another size than the others",
                            received=f"{image.shape[0]}x{image.shape[1]}",
                            accepted=f"{size[0]}x{size[1]}"
                            + (f", the size of {first}" if first is not None else ""),
                            fix=f"pass image_size=({size[0]}, {size[1]}) to resize every image",
                        )
                    )
                image = _resize(image, size)
            images.append(image)
            labels.append(label)
    stacked = np.stack(images)
    if channels == 1:
        stacked = stacked[..., 0]
    return LabeledImages(stacked, np.asarray(labels, dtype=np.int64), tuple(class_names))


def _decode(file: Path, channels: int) -> npt.NDArray[np.uint8]:
    try:
        tensor = tf.io.decode_image(
            file.read_bytes(), channels=channels, dtype=tf.uint8, expand_animations=False
        )
    except (tf.errors.InvalidArgumentError, tf.errors.UnimplementedError) as err:
        raise DataFileError(
            describe(
                f"Cannot decode the image {file}",
                received=err.message.splitlines()[0] if err.message else type(err).__name__,
                accepted="PNG or JPEG files",
                fix="delete or re-export the file",
            )
        ) from None
    return np.asarray(tensor)


def _resize(image: npt.NDArray[np.uint8], size: tuple[int, int]) -> npt.NDArray[np.uint8]:
    resized = tf.image.resize(image, size, method="bilinear", antialias=True)
    return np.asarray(tf.cast(tf.clip_by_value(tf.round(resized), 0, 255), tf.uint8))
