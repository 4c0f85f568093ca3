"""Sources: arrays, subsets, tf.data streams; what make_pipeline reads from each."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from transferlab.data import LabeledImages, make_pipeline
from transferlab.data.fingerprint import arrays_digest
from transferlab.data.source import ArraySource, StreamSource, SubsetSource, as_source
from transferlab.errors import DataError


def _data(n: int = 23, classes: int = 3) -> LabeledImages:
    images = (np.arange(n * 4 * 4) % 251).astype("uint8").reshape(n, 4, 4)
    return LabeledImages(images, np.arange(n) % classes, tuple("abc"[:classes]))


def _labels(ds: tf.data.Dataset) -> list[list[int]]:
    return [y.numpy().tolist() for _, y in ds]


def _flat(batches: list[list[int]]) -> list[int]:
    return [label for batch in batches for label in batch]


def test_as_source_accepts_each_kind_and_names_the_argument_otherwise() -> None:
    data = _data()
    assert isinstance(as_source(data), ArraySource)
    source = as_source(data)
    assert as_source(source) is source
    pair = as_source((data.images, data.labels), num_classes=5)
    assert pair.class_names == ("0", "1", "2", "3", "4")
    stream = as_source(tf.data.Dataset.from_tensor_slices((data.images, data.labels)), num_classes=3)
    assert isinstance(stream, StreamSource)
    with pytest.raises(DataError, match=r"`test` is not a kind of data transferlab reads.*test of type list"):
        as_source([1, 2], name="test")


def test_array_fingerprint_is_the_digest_of_the_arrays() -> None:
    data = _data()
    assert ArraySource(data).fingerprint() == {
        "arrays": arrays_digest(data.images, data.labels),
        "class_names": ["a", "b", "c"],
    }


def test_subsets_of_subsets_read_the_parent_examples() -> None:
    data = _data()
    sub = as_source(data).take(np.array([5, 3, 9, 1]))
    subsub = SubsetSource(SubsetSource(ArraySource(data), [5, 3, 9, 1]), [2, 0])
    assert subsub.indices.tolist() == [9, 5] and isinstance(subsub.parent, ArraySource)
    images, labels = next(iter(make_pipeline(subsub, batch_size=2)))
    np.testing.assert_array_equal(images.numpy()[..., 0], data.images[[9, 5]].astype("float32"))
    assert labels.numpy().tolist() == data.labels[[9, 5]].tolist()
    assert len(sub) == 4
    with pytest.raises(DataError, match=r"`indices` out of range.*from 0 to 23.*Accepted: 0 .. 22"):
        SubsetSource(ArraySource(data), [0, 23])


@pytest.mark.parametrize("batched", [False, True])
def test_a_stream_is_read_whole_once_per_epoch_and_its_shuffle_is_keyed_by_seed_and_epoch(
    batched: bool,
) -> None:
    data = _data()
    ds = tf.data.Dataset.from_tensor_slices((data.images, data.labels))
    source = StreamSource(ds.batch(4) if batched else ds, class_names=data.class_names)
    assert source.batched is batched and source.num_examples() == 23 and source.element_shape == (4, 4, 1)
    evaluation = _labels(make_pipeline(source, batch_size=8, evaluation=True))
    assert _flat(evaluation) == data.labels.tolist()
    one = _labels(make_pipeline(source, batch_size=8, shuffle=True, seed=3, epoch=0))
    again = _labels(make_pipeline(source, batch_size=8, shuffle=True, seed=3, epoch=0))
    later = _labels(make_pipeline(source, batch_size=8, shuffle=True, seed=3, epoch=1))
    other = _labels(make_pipeline(source, batch_size=8, shuffle=True, seed=4, epoch=0))
    assert one == again and one != later and one != other
    assert sorted(_flat(one)) == sorted(data.labels.tolist())
    # repeat: epoch after epoch, each the one-epoch pipeline's batches; skip drops the first batches
    repeated = _labels(make_pipeline(source, batch_size=8, shuffle=True, seed=3, repeat=True).take(6))
    assert repeated == one + later
    skipped = _labels(make_pipeline(source, batch_size=8, shuffle=True, seed=3, skip_batches=1))
    assert skipped == one[1:]


def test_a_stream_with_one_hot_labels_and_two_replicas() -> None:
    data = _data(11)
    one_hot = tf.one_hot(data.labels, 3)
    source = StreamSource(tf.data.Dataset.from_tensor_slices((data.images, one_hot)))
    assert source.class_names == ("0", "1", "2")
    assert [len(y) for y in _labels(make_pipeline(source, batch_size=4, num_replicas=2))] == [4, 4, 2]
    assert _flat(_labels(make_pipeline(source, batch_size=4, num_replicas=2, evaluation=True))) == (
        data.labels.tolist()
    )


@pytest.mark.parametrize(
    ("dataset", "kwargs", "message"),
    [
        (lambda: tf.data.Dataset.range(3), {}, r"must yield \(image, label\) pairs.*Fix: map it to pairs"),
        (
            lambda: tf.data.Dataset.from_tensor_slices((np.zeros((2, 4, 4)), np.zeros((2, 3, 3), "int64"))),
            {"num_classes": 2},
            r"labels have a shape or dtype.*int64 of shape \(3, 3\)",
        ),
        (
            lambda: tf.data.Dataset.from_tensor_slices((np.zeros((2, 4, 4, 2)), np.zeros(2, "int64"))),
            {"num_classes": 2},
            r"images must be \(height, width\) or \(height, width, 1 or 3 channels\).*\(4, 4, 2\)",
        ),
        (
            lambda: tf.data.Dataset.from_tensor_slices((np.zeros((2, 4, 4)), np.zeros(2, "int64"))),
            {},
            r"needs its classes.*num_classes=None.*Fix: pass class_names=\[...\] or num_classes=N",
        ),
        (
            lambda: tf.data.Dataset.from_tensor_slices(
                (np.full((2, 4, 4), 0.5, "float32"), np.zeros(2, "int64"))
            ),
            {"num_classes": 2},
            r"look like values in \[0, 1\].*span \[0.5, 0.5\].*pixel_range=\(0, 1\)",
        ),
        (
            lambda: tf.data.Dataset.from_tensor_slices((np.zeros((2, 4, 4)), np.zeros(2, "int64"))),
            {"num_classes": 2, "pixel_range": (1, 0)},
            r"`pixel_range` must be \(low, high\).*pixel_range=\(1, 0\)",
        ),
    ],
)
def test_bad_streams_are_refused_with_what_to_do(dataset: object, kwargs: dict, message: str) -> None:
    with pytest.raises(DataError, match=message):
        StreamSource(dataset(), **kwargs)  # type: ignore[operator]


def test_declared_ranges_reach_the_pipeline_as_raw_pixels() -> None:
    unit = np.linspace(0, 1, 2 * 2 * 2, dtype="float32").reshape(2, 2, 2)
    data = LabeledImages(unit, np.array([0, 1]), ("a", "b"), pixel_range=(0, 1))
    images, _ = next(iter(make_pipeline(data, batch_size=2)))
    np.testing.assert_allclose(images.numpy()[..., 0], unit * 255, rtol=1e-6)
    signed = LabeledImages(unit * 2 - 1, np.array([0, 1]), ("a", "b"), pixel_range=(-1, 1))
    images, _ = next(iter(make_pipeline(signed, batch_size=2)))
    np.testing.assert_allclose(images.numpy()[..., 0], unit * 255, rtol=1e-5, atol=1e-4)
    with pytest.raises(DataError, match=r"`uint8` images hold raw pixels.*pixel_range=\(0, 1\)"):
        LabeledImages(np.zeros((1, 2, 2), "uint8"), np.array([0]), ("a",), pixel_range=(0, 1))


def test_worker_pieces_make_up_the_global_batches() -> None:
    data = _data(22)
    whole = _labels(make_pipeline(data, batch_size=4, num_replicas=2, shuffle=True, seed=7))
    parts = [
        _labels(make_pipeline(data, batch_size=4, num_replicas=2, shuffle=True, seed=7, worker=(2, w)))
        for w in (0, 1)
    ]
    assert [a + b for a, b in zip(parts[0], parts[1], strict=True)] == whole
    four = [
        _labels(make_pipeline(data, batch_size=8, num_replicas=4, shuffle=True, seed=7, worker=(2, w)))
        for w in (0, 1)
    ]
    glob = _labels(make_pipeline(data, batch_size=8, num_replicas=4, shuffle=True, seed=7))
    # two local replicas per worker: each worker yields its two pieces of each global batch in turn
    for b, batch in enumerate(glob):
        assert four[0][2 * b] + four[0][2 * b + 1] + four[1][2 * b] + four[1][2 * b + 1] == batch


def test_steps_per_epoch_keeps_each_epochs_own_order() -> None:
    data = _data(40)
    full = [_labels(make_pipeline(data, batch_size=4, shuffle=True, seed=1, epoch=e)) for e in (0, 1)]
    limited = _labels(
        make_pipeline(data, batch_size=4, shuffle=True, seed=1, repeat=True, steps_per_epoch=3).take(6)
    )
    assert limited == full[0][:3] + full[1][:3]
