"""``load_image_folder``: a folder of class subfolders of images, decoded into memory.

The folder is read through :class:`~transferlab.data.ImageFolderSource` (the
same listing, decoding and resizing), so a folder loaded into memory and the
same folder streamed give the same pixels, and ``make_pipeline`` the same
batches. Images are decoded as a viewer shows them: see
:mod:`transferlab.data.image_file`.

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
from typing import overload

import numpy as np
import tensorflow as tf

from transferlab.data.dataset_splits import DatasetSplits
from transferlab.data.image_file import decode_image_file, image_orientation
from transferlab.data.image_folder_source import DEFAULT_COLOR_MODE, ColorMode, ImageFolderSource
from transferlab.data.labeled_images import LabeledImages
from transferlab.errors import DataFileError, describe

__all__ = ["decode_image_file", "image_orientation", "load_image_folder"]

#: Examples decoded per step when a folder is loaded into memory.
_LOAD_BATCH = 256


@overload
def load_image_folder(
    folder: str | os.PathLike[str],
    *,
    image_size: Sequence[int] | None = ...,
    color_mode: ColorMode = ...,
    test_folder: None = ...,
) -> LabeledImages: ...


@overload
def load_image_folder(
    folder: str | os.PathLike[str],
    *,
    image_size: Sequence[int] | None = ...,
    color_mode: ColorMode = ...,
    test_folder: str | os.PathLike[str],
) -> DatasetSplits: ...


def load_image_folder(
    folder: str | os.PathLike[str],
    *,
    image_size: Sequence[int] | None = None,
    color_mode: ColorMode = DEFAULT_COLOR_MODE,
    test_folder: str | os.PathLike[str] | None = None,
) -> LabeledImages | DatasetSplits:
    """Loads ``folder/<class>/<image>.png|jpg|jpeg|gif|bmp`` as ``uint8`` images.

    Class names are the subfolder names, sorted; label ``i`` is the ``i``-th.
    The files are listed, decoded (EXIF orientation applied) and resized
    (antialiased bilinear) exactly as :class:`ImageFolderSource` reads them,
    in parallel. Hidden files and files with other extensions are skipped.
    For folders too big for memory, pass an ``ImageFolderSource`` where the
    data goes instead.

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
    train_source = ImageFolderSource(folder, image_size=image_size, color_mode=color_mode)
    train = materialise(train_source)
    if test_folder is None:
        return train
    test_source = ImageFolderSource(
        test_folder, image_size=image_size, color_mode=color_mode, class_names=train_source.class_names
    )
    if test_source.element_shape != train_source.element_shape:
        height, width = train_source.element_shape[:2]
        got = test_source.element_shape
        raise DataFileError(
            describe(
                f"The image {test_source.files([0])[0]} has another size than the others",
                received=f"{got[0]}x{got[1]}",
                accepted=f"{height}x{width}, the size of {train_source.files([0])[0]}",
                fix=f"pass image_size=({height}, {width}) to resize every image",
            )
        )
    return DatasetSplits(
        train_source.folder.name, train, materialise(test_source), source=str(train_source.folder)
    )


def materialise(source: ImageFolderSource) -> LabeledImages:
    """Reads every example of ``source`` into memory (``(N, H, W)`` for grayscale).

    Raises:
        DataFileError: A file cannot be read (named, by ``source.diagnose()``).
    """
    n = len(source)
    images = np.empty((n, *source.element_shape), np.uint8)
    ds = (
        tf.data.Dataset.range(n)
        .map(source.read_element, num_parallel_calls=os.cpu_count() or 1, deterministic=True)
        .batch(_LOAD_BATCH)
    )
    start = 0
    try:
        for batch in ds:
            images[start : start + len(batch)] = batch.numpy()
            start += len(batch)
    except tf.errors.OpError:
        error = source.diagnose()
        if error is None:
            raise
        raise error from None
    if source.channels == 1:
        images = images[..., 0]
    return LabeledImages(images, source.labels, source.class_names)
