"""Keeping a subset of the classes, re-indexed 0..k-1."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from transferlab.data.labeled_data import LabeledData, check_labeled_data
from transferlab.data.labeled_images import LabeledImages
from transferlab.data.relabeled_source import RelabeledSource
from transferlab.data.source import ArraySource
from transferlab.errors import DataError, describe

__all__ = ["select_classes"]


def select_classes(data: LabeledData, classes: Sequence[int | str]) -> LabeledData:
    """Keeps the examples of ``classes`` and re-indexes their labels ``0..k-1``.

    The new label of a class is its position in ``classes``, so
    ``select_classes(mnist, [5, 6, 7, 8, 9])`` maps digits 5-9 to labels 0-4,
    and the class names travel with them. Examples keep their original order.

    ``LabeledImages`` give ``LabeledImages``; an indexed source (an image
    folder, TFRecords, arrays) gives a source of the same examples, read from
    the original one when a pipeline needs them: only the labels are looked at
    here.

    Args:
        data: The examples to filter: ``LabeledImages`` or an indexed source.
        classes: The classes to keep, in the order of their new labels; each
            is a label index (``int``) or a class name (``str``).

    Returns:
        The kept examples, with ``class_names`` in the order of ``classes``.

    Raises:
        DataError: ``classes`` is empty, names a class twice, or names a class
            that ``data`` does not have; ``data`` is a stream (its labels are
            not known before it is read).

    Example:
        >>> import numpy as np
        >>> data = LabeledImages(np.zeros((4, 2, 2), "uint8"), np.array([0, 1, 2, 1]),
        ...                      ("a", "b", "c"))
        >>> kept = select_classes(data, ["c", 1])
        >>> kept.labels.tolist(), kept.class_names
        ([1, 0, 1], ('c', 'b'))

        On a source, the same labels, and a source:

        >>> from transferlab.data.source import SubsetSource, as_source
        >>> lazy = SubsetSource(as_source(data), [0, 1, 2, 3])  # read by index, like a folder
        >>> kept = select_classes(lazy, ["c", 1])
        >>> type(kept).__name__, kept.labels.tolist(), kept.class_names
        ('RelabeledSource', [1, 0, 1], ('c', 'b'))
    """
    check_labeled_data(data)
    accepted = f"label indices 0..{data.num_classes - 1} or names {list(data.class_names)}"
    wanted = list(classes)
    if not wanted:
        raise DataError(
            describe("`classes` must name at least one class", received="classes=[]", accepted=accepted)
        )
    indices: list[int] = []
    for item in wanted:
        if (
            isinstance(item, (int, np.integer))
            and not isinstance(item, bool)
            and 0 <= int(item) < data.num_classes
        ):
            indices.append(int(item))
        elif isinstance(item, str) and item in data.class_names:
            indices.append(data.class_names.index(item))
        else:
            raise DataError(describe("Unknown class in `classes`", received=f"{item!r}", accepted=accepted))
    if len(set(indices)) != len(indices):
        repeated = sorted({data.class_names[i] for i in indices if indices.count(i) > 1})
        raise DataError(
            describe(
                "`classes` names a class more than once",
                received=f"classes={wanted!r} (repeated: {', '.join(repeated)})",
                fix="list each class once",
            )
        )
    mapping = np.full(data.num_classes, -1, dtype=np.int64)
    mapping[indices] = np.arange(len(indices))
    new_labels = mapping[np.asarray(data.labels, np.int64)]
    keep = np.flatnonzero(new_labels >= 0)
    names = tuple(data.class_names[i] for i in indices)
    if isinstance(data, LabeledImages):
        return LabeledImages(data.images[keep], new_labels[keep], names, data.pixel_range)
    if isinstance(data, ArraySource):  # in memory: stays arrays
        return ArraySource(select_classes(data.data, indices))
    return RelabeledSource(data.take(keep), new_labels[keep], names)
