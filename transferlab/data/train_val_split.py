"""Splitting examples into a training and a validation part, seeded and stratified."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from transferlab.data.labeled_data import LabeledData, check_labeled_data
from transferlab.errors import ConfigError, describe

__all__ = ["train_val_split"]


def _val_count(fraction_or_count: float | int, n: int) -> int:
    value = fraction_or_count
    accepted = f"a fraction in (0, 1) or a count in [1, {n - 1}]"
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ConfigError(
            describe(
                "`fraction_or_count` must be a number",
                received=f"fraction_or_count={value!r}",
                accepted=accepted,
            )
        )
    if n < 2:
        raise ConfigError(
            describe(
                "Cannot split fewer than 2 examples",
                received=f"{n} examples",
                fix="pass a larger data set",
            )
        )
    if isinstance(value, (float, np.floating)):
        if not 0.0 < float(value) < 1.0:
            raise ConfigError(
                describe(
                    "A validation fraction must lie strictly between 0 and 1",
                    received=f"fraction_or_count={value!r}",
                    accepted=accepted,
                )
            )
        count = int(round(float(value) * n))
        return min(max(count, 1), n - 1)
    if not 1 <= int(value) <= n - 1:
        raise ConfigError(
            describe(
                "A validation count must leave at least one example on each side",
                received=f"fraction_or_count={value!r} for {n} examples",
                accepted=accepted,
            )
        )
    return int(value)


def _stratified_quotas(counts: npt.NDArray[np.intp], total: int) -> npt.NDArray[np.int64]:
    """Per-class validation sizes proportional to ``counts`` summing to ``total``.

    Largest-remainder rounding; ties go to the lower class index.
    """
    n = int(counts.sum())
    exact = counts * total / n
    quotas = np.floor(exact).astype(np.int64)
    leftover = total - int(quotas.sum())
    order = np.lexsort((np.arange(len(counts)), -(exact - quotas)))
    quotas[order[:leftover]] += 1
    return quotas


def train_val_split(
    data: LabeledData,
    fraction_or_count: float | int,
    *,
    seed: int,
    stratified: bool = True,
) -> tuple[LabeledData, LabeledData]:
    """Splits ``data`` into ``(train, val)``.

    The split is a pure function of its arguments (``np.random.default_rng(seed)``,
    never global state). Stratified, every class gives the validation part
    its share of the examples (largest-remainder rounding, so the total is
    exactly the requested size). Both parts keep the original order.

    It reads only the labels: an indexed source (an image folder, TFRecords)
    is split into two sources of the same examples the in-memory split picks.

    Args:
        data: The examples to split: ``LabeledImages`` or an indexed source.
        fraction_or_count: The validation size: a ``float`` in (0, 1) is a
            fraction of ``len(data)`` (rounded), an ``int`` is a count.
        seed: Seed of the split (a non-negative ``int``).
        stratified: Keep the class proportions in both parts.

    Returns:
        ``(train, val)``.

    Raises:
        ConfigError: a size or seed out of range.
        DataError: ``data`` is a stream (no labels before it is read).

    Example:
        >>> import numpy as np
        >>> from transferlab.data import LabeledImages
        >>> data = LabeledImages(np.zeros((10, 2, 2), "uint8"), np.array([0] * 6 + [1] * 4),
        ...                      ("a", "b"))
        >>> train, val = train_val_split(data, 0.5, seed=0)
        >>> train.class_counts().tolist(), val.class_counts().tolist()
        ([3, 2], [3, 2])
    """
    check_labeled_data(data)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ConfigError(
            describe(
                "`seed` must be a non-negative integer",
                received=f"seed={seed!r}",
                fix="pass e.g. seed=0",
            )
        )
    n = len(data)
    total = _val_count(fraction_or_count, n)
    rng = np.random.default_rng(int(seed))
    if stratified:
        quotas = _stratified_quotas(data.class_counts(), total)
        parts = []
        for label, quota in enumerate(quotas):
            members = np.flatnonzero(np.asarray(data.labels) == label)
            parts.append(members[rng.permutation(len(members))[:quota]])
        val_idx = np.sort(np.concatenate(parts))
    else:
        val_idx = np.sort(rng.permutation(n)[:total])
    mask = np.ones(n, dtype=bool)
    mask[val_idx] = False
    return data.take(np.flatnonzero(mask)), data.take(val_idx)
