from __future__ import annotations

import numpy as np
import pytest

from transferlab.data.labeled_images import LabeledImages
from transferlab.data.train_val_split import train_val_split
from transferlab.errors import ConfigError


def _data() -> LabeledImages:
    labels = np.array([0] * 50 + [1] * 30 + [2] * 20)
    images = np.arange(100, dtype="uint8")[:, None, None] * np.ones((1, 2, 2), "uint8")
    return LabeledImages(images, labels, ("a", "b", "c"))


def _ids(data: LabeledImages) -> list[int]:
    return data.images[:, 0, 0].tolist()


def test_stratified_fraction_counts() -> None:
    train, val = train_val_split(_data(), 0.1, seed=0)
    assert val.class_counts().tolist() == [5, 3, 2]
    assert train.class_counts().tolist() == [45, 27, 18]
    assert sorted(_ids(train) + _ids(val)) == list(range(100))


def test_stratified_count_largest_remainder() -> None:
    # 7 of 100: exact shares 3.5, 2.1, 1.4 -> 3, 2, 1 plus one to the largest remainder (class 0).
    train, val = train_val_split(_data(), 7, seed=0)
    assert val.class_counts().tolist() == [4, 2, 1]
    assert len(train) == 93


def test_unstratified_count() -> None:
    train, val = train_val_split(_data(), 25, seed=3, stratified=False)
    assert len(val) == 25 and len(train) == 75
    rng = np.random.default_rng(3)
    assert _ids(val) == sorted(rng.permutation(100)[:25].tolist())


def test_reproducible_and_seed_dependent() -> None:
    a = _ids(train_val_split(_data(), 0.2, seed=5)[1])
    b = _ids(train_val_split(_data(), 0.2, seed=5)[1])
    c = _ids(train_val_split(_data(), 0.2, seed=6)[1])
    assert a == b and a != c


@pytest.mark.parametrize("value", [0.0, 1.0, 1.5, -0.1])
def test_bad_fraction(value: float) -> None:
    with pytest.raises(
        ConfigError, match=r"fraction must lie strictly between 0 and 1\. Received: fraction_or_count="
    ):
        train_val_split(_data(), value, seed=0)


@pytest.mark.parametrize("value", [0, 100, -3])
def test_bad_count(value: int) -> None:
    with pytest.raises(
        ConfigError,
        match=r"at least one example on each side\. Received: .*Accepted: a fraction in \(0, 1\) or a count in \[1, 99\]",
    ):
        train_val_split(_data(), value, seed=0)


def test_bad_type_and_seed_and_tiny() -> None:
    with pytest.raises(
        ConfigError, match=r"`fraction_or_count` must be a number\. Received: fraction_or_count='10%'"
    ):
        train_val_split(_data(), "10%", seed=0)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=r"`seed` must be a non-negative integer\. Received: seed=-1"):
        train_val_split(_data(), 0.1, seed=-1)
    one = LabeledImages(np.zeros((1, 2, 2), "uint8"), np.array([0]), ("a",))
    with pytest.raises(ConfigError, match=r"Cannot split fewer than 2 examples\. Received: 1 examples"):
        train_val_split(one, 0.5, seed=0)
