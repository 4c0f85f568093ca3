"""Keeping a subset of the classes, re-indexed 0..k-1."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from transferlab.data.labeled_images import LabeledImages
from transferlab.errors import DataError, describe

__all__ = ["select_classes"]


def select_classes(data: LabeledImages, classes: Sequence[int | str]) -> LabeledImages:
    """Keeps the examples of ``classes`` and re-indexes their labels ``0..k-1``.

    The new label of a class is its position in ``classes``, so
    ``select_classes(mnist, [5, 6, 7, 8, 9])`` maps digits 5-9 to labels 0-4,
    and the class names travel with them. Examples keep their original order.

    Args:
        data: The examples to filter.
        classes: The classes to keep, in the order of their new labels; each
            is a label index (``int``) or a class name (``str``).

    Returns:
        The kept examples, with ``class_names`` in the order of ``classes``.

    Raises:
        DataError: ``classes`` is empty, names a class twice, or names a class
            that ``data`` does not have.

    Example:
        >>> import numpy as np
        >>> data = LabeledImages(np.zeros((4, 2, 2), "uint8"), np.array([0, 1, 2, 1]),
        ...                      ("a", "b", "c"))
        >>> kept = select_classes(data, ["c", 1])
        >>> kept.labels.tolist(), kept.class_names
        ([1, 0, 1], ('c', 'b'))
    """
    wanted = list(classes)
    if not wanted:
        raise DataError(
            describe(
                "`classes` must name at least one class",
                received="classes=[]",
                accepted=f"label indices 0..{data.num_classes - 1} or names {list(data.class_names)}",
            )
        )
    indices: list[int] = []
    for item in wanted:
        if isinstance(item, (int, np.integer)) and not isinstance(item, bool):
            if not 0 <= int(item) < data.num_classes:
                raise DataError(
                    describe(
                        "Unknown class in `classes`",
                        received=f"{item!r}",
                        accepted=f"label indices 0..{data.num_classes - 1} or names {list(data.class_names)}",
                    )
                )
            indices.append(int(item))
        elif isinstance(item, str) and item in data.class_names:
            indices.append(data.class_names.index(item))
        else:
            raise DataError(
                describe(
                    "Unknown class in `classes`",
                    received=f"{item!r}",
                    accepted=f"label indices 0..{data.num_classes - 1} or names {list(data.class_names)}",
                )
            )
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
    new_labels = mapping[data.labels]
    keep = np.flatnonzero(new_labels >= 0)
    return LabeledImages(
        data.images[keep],
        new_labels[keep],
        tuple(data.class_names[i] for i in indices),
        data.pixel_range,
    )
