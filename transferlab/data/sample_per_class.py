"""Drawing k labelled examples per class, stratified and seeded."""

from __future__ import annotations

from typing import Literal, overload

import numpy as np

from transferlab.data.labeled_data import LabeledData, check_labeled_data
from transferlab.errors import ConfigError, DataError, describe

__all__ = ["sample_per_class"]


@overload
def sample_per_class(
    data: LabeledData, k: int, *, seed: int, return_rest: Literal[False] = False
) -> LabeledData: ...


@overload
def sample_per_class(
    data: LabeledData, k: int, *, seed: int, return_rest: Literal[True]
) -> tuple[LabeledData, LabeledData]: ...


def sample_per_class(
    data: LabeledData, k: int, *, seed: int, return_rest: bool = False
) -> LabeledData | tuple[LabeledData, LabeledData]:
    """Draws ``k`` examples of every class (a few-shot labelled set).

    The draw is a pure function of ``(data, k, seed)``: it uses
    ``np.random.default_rng(seed)`` (PCG64, the same on every platform) and
    never NumPy's global state. Classes are visited in label order; for each,
    a permutation of its examples is drawn and the first ``k`` are kept.
    The result keeps the original order of the examples.

    It reads only the labels: an indexed source (an image folder, TFRecords)
    gives a source of the drawn examples, the same ones the same draw picks
    from the same examples in memory.

    Args:
        data: The examples to draw from: ``LabeledImages`` or an indexed source.
        k: How many examples per class (at least 1).
        seed: Seed of the draw (a non-negative ``int``).
        return_rest: Also return the examples that were not drawn (e.g. as an
            unlabelled pool for semi-supervised learning).

    Returns:
        ``k * num_classes`` examples, or ``(sample, rest)`` with ``return_rest=True``.

    Raises:
        ConfigError: ``k`` or ``seed`` is not a valid integer.
        DataError: a class has fewer than ``k`` examples; ``data`` is a
            stream (no labels before it is read).

    Example:
        >>> import numpy as np
        >>> from transferlab.data import LabeledImages
        >>> data = LabeledImages(np.zeros((6, 2, 2), "uint8"), np.array([0, 1, 0, 1, 0, 1]),
        ...                      ("a", "b"))
        >>> few, rest = sample_per_class(data, 2, seed=0, return_rest=True)
        >>> few.class_counts().tolist(), len(rest)
        ([2, 2], 2)
    """
    check_labeled_data(data)
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ConfigError(describe("`k` must be a positive integer", received=f"k={k!r}", fix="pass k >= 1"))
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ConfigError(
            describe(
                "`seed` must be a non-negative integer",
                received=f"seed={seed!r}",
                fix="pass e.g. seed=0",
            )
        )
    counts = data.class_counts()
    short = [(name, int(c)) for name, c in zip(data.class_names, counts) if c < k]
    if short:
        listing = ", ".join(f"class {name!r} has {c}" for name, c in short)
        raise DataError(
            describe(
                f"Not enough examples to draw k={k} per class",
                received=listing,
                fix=f"lower k to at most {int(counts.min())}, or drop those classes with select_classes",
            )
        )
    rng = np.random.default_rng(int(seed))
    chosen = []
    for label in range(data.num_classes):
        members = np.flatnonzero(np.asarray(data.labels) == label)
        chosen.append(members[rng.permutation(len(members))[:k]])
    picked = np.sort(np.concatenate(chosen))
    sample = data.take(picked)
    if not return_rest:
        return sample
    mask = np.ones(len(data), dtype=bool)
    mask[picked] = False
    return sample, data.take(np.flatnonzero(mask))
