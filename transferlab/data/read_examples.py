"""Reading a few examples of a data set by index, alone (e.g. the images a plot shows)."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from transferlab.data.labeled_images import LabeledImages
from transferlab.data.pipeline import make_pipeline
from transferlab.data.read_errors import naming_bad_files
from transferlab.data.source import ArraySource, IndexedSource

__all__ = ["read_examples"]


def read_examples(data: LabeledImages | IndexedSource, indices: npt.ArrayLike) -> npt.NDArray[np.float32]:
    """The images of examples ``indices``, in that order: raw pixels, ``float32`` ``(n, H, W, C)``.

    Only those examples are read (one file each for an image folder), as a
    pipeline reads them (a source's pixel range scaled to ``[0, 255]``).

    Raises:
        DataFileError: One of the files cannot be read (named).

    Example:
        >>> data = LabeledImages(np.arange(4, dtype="uint8").reshape(4, 1, 1), np.array([0, 1, 0, 1]), ("a", "b"))
        >>> read_examples(data, [3, 0]).reshape(-1).tolist(), read_examples(data, []).shape
        ([3.0, 0.0], (0, 1, 1, 1))
    """
    source = data if isinstance(data, IndexedSource) else ArraySource(data)
    idx = np.asarray(indices, np.int64).reshape(-1)
    if not len(idx):
        return np.zeros((0, *source.element_shape), np.float32)
    subset = source.take(idx)
    with naming_bad_files(subset):
        images = next(iter(make_pipeline(subset, batch_size=len(idx), evaluation=True)))[0]
    return np.asarray(images, np.float32)
