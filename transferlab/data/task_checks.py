"""Checks that a training task is a real one: two classes at least, and no source class in the target."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from transferlab.data.labeled_images import LabeledImages
from transferlab.data.source import IndexedSource
from transferlab.errors import DataError, describe

__all__ = ["check_task"]


def check_task(
    train: LabeledImages | IndexedSource,
    *,
    source_classes: Sequence[int] = (),
    target_classes: Sequence[int] = (),
) -> list[str]:
    """Refuses degenerate tasks; returns warnings about weak ones.

    Args:
        train: The training examples of the (target) task (any indexed
            source: only its labels are read).
        source_classes: The classes a transfer run pretrains on (the source
            task), as indices of the original data set.
        target_classes: The classes of the target task, as indices of the
            original data set (``data.classes``).

    Returns:
        Warnings, one per class of ``train`` without training examples.

    Raises:
        DataError: Fewer than two classes with training examples (nothing to
            tell apart), or source classes that are also target classes
            (pretraining on the very classes of the target is no transfer).

    Example:
        >>> import numpy as np
        >>> from transferlab.data import LabeledImages
        >>> data = LabeledImages(np.zeros((4, 8, 8), "uint8"), [0, 1, 0, 1], ("cat", "dog", "fox"))
        >>> check_task(data)
        ["Class 2 ('fox') has no training examples: the model can never learn to predict it"]
        >>> check_task(data, source_classes=[0, 1], target_classes=[1, 2, 3])
        Traceback (most recent call last):
        ...
        transferlab.errors.DataError: The source classes overlap the target classes: ...
    """
    if not isinstance(train, (LabeledImages, IndexedSource)):
        raise DataError(
            describe(
                "`train` must be a transferlab LabeledImages or an indexed source",
                received=f"train of type {type(train).__name__}",
                fix="wrap arrays as LabeledImages(images, labels, class_names)",
            )
        )
    counts = np.bincount(np.asarray(train.labels, dtype=np.int64), minlength=len(train.class_names))
    present = [i for i, n in enumerate(counts) if n > 0]
    if len(present) < 2:
        seen = ", ".join(f"{train.class_names[i]!r} ({int(counts[i])})" for i in present) or "none"
        raise DataError(
            describe(
                "A classifier needs training examples of at least two classes",
                received=f"{len(train)} examples; classes with examples: {seen} "
                f"of {len(train.class_names)} class name(s)",
                fix="add examples of another class (data.classes lists at least two, "
                "each with training examples)",
            )
        )
    overlap = sorted(set(int(c) for c in source_classes) & set(int(c) for c in target_classes))
    if source_classes and overlap:
        raise DataError(
            describe(
                "The source classes overlap the target classes: pretraining on the very "
                "classes of the target is no transfer",
                received=f"source classes {sorted(int(c) for c in source_classes)}, target classes "
                f"{[int(c) for c in target_classes]}; both hold {overlap}",
                fix="pretrain on other classes than the target's (e.g. digits 0-4 for targets 5-9)",
            )
        )
    return [
        f"Class {i} ({name!r}) has no training examples: the model can never learn to predict it"
        for i, name in enumerate(train.class_names)
        if counts[i] == 0
    ]
