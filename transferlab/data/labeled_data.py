"""What the splitting functions take: examples whose labels are known before any is read."""

from __future__ import annotations

from typing import TypeVar

import tensorflow as tf

from transferlab.data.labeled_images import LabeledImages
from transferlab.data.source import IndexedSource, StreamSource
from transferlab.errors import DataError, describe

__all__ = ["LabeledData", "check_labeled_data"]

#: In-memory images or any indexed source; a splitting function returns the kind it was given
#: (an indexed source comes back as a source: nothing is read), and either kind for either.
LabeledData = TypeVar("LabeledData", LabeledImages, IndexedSource, "LabeledImages | IndexedSource")


def check_labeled_data(data: object, name: str = "data") -> None:
    """Refuses what has no labels to split by (a stream, arrays that are no ``LabeledImages``).

    Raises:
        DataError: Naming ``name``, what it was and what is accepted.

    Example:
        >>> check_labeled_data([1, 2], "train")
        Traceback (most recent call last):
        ...
        transferlab.errors.DataError: `train` must have its labels known up front. Received: train of type list. Accepted: a LabeledImages, or an indexed source (ArraySource, ImageFolderSource, TFRecordSource, a subset of one). Fix: wrap arrays as LabeledImages(images, labels, class_names) or as_source((images, labels)).
    """
    if isinstance(data, (LabeledImages, IndexedSource)):
        return
    stream = isinstance(data, (StreamSource, tf.data.Dataset))
    raise DataError(
        describe(
            f"`{name}` must have its labels known up front",
            received=f"{name} of type {type(data).__name__}",
            accepted="a LabeledImages, or an indexed source (ArraySource, ImageFolderSource, "
            "TFRecordSource, a subset of one)",
            fix=(
                "a tf.data.Dataset is read front to back: filter or split it yourself "
                "(dataset.filter, dataset.take), or read the files through an indexed source"
                if stream
                else "wrap arrays as LabeledImages(images, labels, class_names) or as_source((images, labels))"
            ),
        )
    )
