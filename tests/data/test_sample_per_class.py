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
from transferlab.data.sample_per_class import sample_per_class
from transferlab.data.source import IndexedSource
from transferlab.errors import ConfigError, DataError


def _data() -> LabeledImages:
    labels = np.array([0] * 10 + [1] * 7 + [2] * 5)
    images = np.arange(len(labels), dtype="uint8")[:, None, None] * np.ones((1, 2, 2), "uint8")
    return LabeledImages(images, labels, ("a", "b", "c"))


def test_stratified_counts_and_rest() -> None:
    data = _data()
    few, rest = sample_per_class(data, 3, seed=1, return_rest=True)
    assert few.class_counts().tolist() == [3, 3, 3]
    assert rest.class_counts().tolist() == [7, 4, 2]
    ids_few = set(few.images[:, 0, 0].tolist())
    ids_rest = set(rest.images[:, 0, 0].tolist())
    assert not ids_few & ids_rest and len(ids_few | ids_rest) == 22
    assert few.class_names == data.class_names


def test_same_seed_same_indices_pinned() -> None:
    # Pins the draw: PCG64 is platform-independent, so these indices hold everywhere.
    a = sample_per_class(_data(), 2, seed=7).images[:, 0, 0].tolist()
    b = sample_per_class(_data(), 2, seed=7).images[:, 0, 0].tolist()
    c = sample_per_class(_data(), 2, seed=8).images[:, 0, 0].tolist()
    assert a == b
    assert a != c
    rng = np.random.default_rng(7)
    expected = sorted(
        [int(i) for i in rng.permutation(10)[:2]]
        + [10 + int(i) for i in rng.permutation(7)[:2]]
        + [17 + int(i) for i in rng.permutation(5)[:2]]
    )
    assert a == expected


def test_does_not_touch_global_numpy_state() -> None:
    np.random.seed(0)
    before = np.random.get_state()[1].copy()
    sample_per_class(_data(), 2, seed=3)
    assert (np.random.get_state()[1] == before).all()


def test_too_few_names_class_count_and_k() -> None:
    with pytest.raises(
        DataError, match=r"k=6 per class\. Received: class 'c' has 5\. Fix: lower k to at most 5"
    ):
        sample_per_class(_data(), 6, seed=0)


@pytest.mark.parametrize("k", [0, -2, 1.5, True])
def test_bad_k(k: object) -> None:
    with pytest.raises(ConfigError, match=r"`k` must be a positive integer\. Received: k="):
        sample_per_class(_data(), k, seed=0)  # type: ignore[call-overload]


def test_bad_seed() -> None:
    with pytest.raises(ConfigError, match=r"`seed` must be a non-negative integer\. Received: seed=None"):
        sample_per_class(_data(), 1, seed=None)  # type: ignore[call-overload]


def test_on_a_folder_source_draws_the_examples_the_arrays_draw(tmp_path: Path) -> None:
    root = write_class_folder(tmp_path / "f", [6, 4, 5])
    eager_few, eager_rest = sample_per_class(load_image_folder(root), 3, seed=2, return_rest=True)
    few, rest = sample_per_class(ImageFolderSource(root), 3, seed=2, return_rest=True)
    assert isinstance(few, IndexedSource) and isinstance(rest, IndexedSource)
    for lazy, eager in ((few, eager_few), (rest, eager_rest)):
        assert lazy.labels.tolist() == eager.labels.tolist() and lazy.class_names == eager.class_names
        images = np.concatenate([x for x, _ in make_pipeline(lazy, batch_size=8, evaluation=True)])
        np.testing.assert_array_equal(images[..., 0], eager.images)
    assert len(few) == 9 and len(rest) == 6


def test_a_stream_is_refused() -> None:
    stream = tf.data.Dataset.from_tensor_slices((np.zeros((4, 2, 2), "uint8"), np.array([0, 1, 0, 1])))
    with pytest.raises(DataError, match=r"`data` must have its labels known up front"):
        sample_per_class(stream, 1, seed=0)  # type: ignore[type-var]
