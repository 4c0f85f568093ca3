from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from tiny_folders import write_class_folder

from transferlab.data.image_folder import load_image_folder
from transferlab.data.image_folder_source import ImageFolderSource
from transferlab.data.labeled_images import LabeledImages
from transferlab.data.pipeline import make_pipeline
from transferlab.data.source import IndexedSource
from transferlab.data.train_val_split import train_val_split
from transferlab.errors import ConfigError, DataError


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


@pytest.mark.parametrize("stratified", [True, False])
def test_on_a_folder_source_splits_as_the_arrays_split(tmp_path: Path, stratified: bool) -> None:
    root = write_class_folder(tmp_path / "f", [7, 5, 4])
    eager = train_val_split(load_image_folder(root), 0.25, seed=3, stratified=stratified)
    lazy = train_val_split(ImageFolderSource(root), 0.25, seed=3, stratified=stratified)
    for part, eager_part in zip(lazy, eager):
        assert isinstance(part, IndexedSource)
        assert part.labels.tolist() == eager_part.labels.tolist()
        images = np.concatenate([x for x, _ in make_pipeline(part, batch_size=8, evaluation=True)])
        np.testing.assert_array_equal(images[..., 0], eager_part.images)
    assert sorted(lazy[0].files(range(len(lazy[0]))) + lazy[1].files(range(len(lazy[1])))) == sorted(
        str(p) for p in root.glob("*/*.png")
    )


def test_a_stream_is_refused() -> None:
    stream = tf.data.Dataset.from_tensor_slices((np.zeros((4, 2, 2), "uint8"), np.array([0, 1, 0, 1])))
    with pytest.raises(DataError, match=r"`data` must have its labels known up front"):
        train_val_split(stream, 0.5, seed=0)  # type: ignore[type-var]


def test_a_split_of_a_folder_feeds_several_pipelines(tmp_path: Path) -> None:
    # the Trainer builds more than one pipeline from a source (its length, then its batches)
    _, val = train_val_split(ImageFolderSource(write_class_folder(tmp_path / "f", [4, 4])), 0.5, seed=0)
    for _ in range(2):
        assert sum(len(y) for _, y in make_pipeline(val, batch_size=3, evaluation=True)) == 4
