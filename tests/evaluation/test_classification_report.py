"""ClassificationReport: metrics computed by hand on small cases."""

from __future__ import annotations

import contextlib

import keras
import numpy as np
import pytest
import tensorflow as tf
from tiny_folders import damage, write_class_folder

from transferlab.data.augmentation import make_augmentation
from transferlab.data.image_folder import load_image_folder
from transferlab.data.image_folder_source import ImageFolderSource
from transferlab.data.labeled_images import LabeledImages
from transferlab.data.pipeline import make_pipeline
from transferlab.data.source import StreamSource, as_source
from transferlab.errors import ConfigError, DataError, DataFileError
from transferlab.evaluation import ClassificationReport


@pytest.fixture
def report():
    # true:      0  0  1  1  2  2
    # predicted: 0  1  1  1  0  2
    probs = np.array(
        [[0.8, 0.1, 0.1], [0.3, 0.6, 0.1], [0.1, 0.8, 0.1], [0.2, 0.7, 0.1], [0.5, 0.1, 0.4], [0.1, 0.1, 0.8]]
    )
    return ClassificationReport.from_probabilities(probs, np.array([0, 0, 1, 1, 2, 2]), ("a", "b", "c"))


def test_accuracy_and_confusion(report):
    assert report.accuracy == pytest.approx(4 / 6)
    assert report.confusion_matrix.tolist() == [[1, 1, 0], [0, 2, 0], [1, 0, 1]]


def test_per_class_precision_recall_f1(report):
    metrics = report.per_class()
    assert metrics["a"]["precision"] == pytest.approx(0.5)
    assert metrics["a"]["recall"] == pytest.approx(0.5)
    assert metrics["b"]["precision"] == pytest.approx(2 / 3)
    assert metrics["b"]["recall"] == pytest.approx(1.0)
    assert metrics["b"]["f1"] == pytest.approx(0.8)
    assert metrics["c"]["precision"] == pytest.approx(1.0)
    assert metrics["c"]["support"] == 2


def test_most_confused_and_top_losses(report):
    assert report.most_confused() == [("a", "b", 1), ("c", "a", 1)]
    # example 4 (true c, p(c)=0.4) and 1 (true a, p(a)=0.3) are the worst
    assert report.top_losses(2).tolist() == [1, 4]
    assert report.losses()[1] == pytest.approx(-np.log(0.3))


def test_text_and_json(report):
    text = report.to_text()
    assert "accuracy  0.6667 on 6 examples" in text
    assert "a->b (1)" in text
    assert '"accuracy": 0.666' in report.to_json()


def test_shape_mismatch_is_a_data_error():
    with pytest.raises(DataError, match=r"`probabilities` must have shape \(N, num_classes\)"):
        ClassificationReport.from_probabilities(np.zeros((3, 2)), np.array([0, 1]), ("a", "b"))


def test_label_out_of_range_is_a_data_error():
    with pytest.raises(DataError, match=r"`labels` must lie in \[0, 2\)"):
        ClassificationReport.from_probabilities(np.full((2, 2), 0.5), np.array([0, 2]), ("a", "b"))


class _NonEmpty(keras.layers.Layer):
    """Fails the step when its replica got an empty batch (what breaks Conv2D+BatchNorm on CPU)."""

    def call(self, x):
        tf.debugging.assert_positive(tf.shape(x)[0], message="a replica got an empty batch")
        return x


def _model(strategy):
    with strategy.scope() if strategy else contextlib.nullcontext():
        keras.utils.set_random_seed(0)
        return keras.Sequential(
            [
                keras.Input((4, 4, 1)),
                _NonEmpty(),
                keras.layers.Rescaling(1 / 255),
                keras.layers.Conv2D(2, 3),
                keras.layers.BatchNormalization(),
                keras.layers.Flatten(),
                keras.layers.Dense(3, activation="softmax"),
            ]
        )


def _counted_stream(data, reads):
    """``data`` (4x4 images) as a tf.data stream of (image, label) that appends to ``reads`` per example read."""

    def count(x, y):
        reads.append(1)
        return x, y

    stream = tf.data.Dataset.from_tensor_slices((data.images, data.labels)).map(
        lambda x, y: tf.py_function(count, [x, y], [tf.uint8, tf.int64])
    )
    return stream.map(lambda x, y: (tf.ensure_shape(x, (4, 4)), tf.ensure_shape(y, ())))


def _images(n):
    rng = np.random.default_rng(n)
    return LabeledImages(rng.integers(0, 256, (n, 4, 4), dtype=np.uint8), np.arange(n) % 3, ("a", "b", "c"))


@pytest.mark.parametrize("distributed", [False, True], ids=["one-device", "mirrored"])
@pytest.mark.parametrize(("n", "batch_size"), [(101, 256), (257, 256), (21, 10), (9, 4)])
def test_evaluate_predicts_every_example_once(request, distributed, n, batch_size):
    # 257 in batches of 256 (and 21 in 10s, 9 in 4s) leave a last batch of one example,
    # which under 2 replicas left one replica empty and failed.
    data = _images(n)
    model = _model(request.getfixturevalue("mirrored") if distributed else None)
    report = ClassificationReport.evaluate(model, data, batch_size=batch_size)
    want = model(data.images[..., None].astype("float32")).numpy()  # one call, all examples, in order
    assert report.probabilities.shape == (n, 3)
    np.testing.assert_allclose(report.probabilities, want, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(report.labels, data.labels)
    assert report.confusion_matrix.sum() == n
    assert report.accuracy == pytest.approx(float(np.mean(want.argmax(1) == data.labels)))


def test_evaluate_batch_size_error():
    with pytest.raises(ConfigError, match=r"`batch_size` must be an integer >= 1\. Received: batch_size=0"):
        ClassificationReport.evaluate(_model(None), _images(4), batch_size=0)


# Sources ---------------------------------------------------------------------------------


@pytest.mark.parametrize("distributed", [False, True], ids=["one-device", "mirrored"])
def test_evaluate_on_a_folder_source_equals_evaluate_on_its_arrays(request, tmp_path, distributed):
    root = write_class_folder(tmp_path / "f", [4, 6, 3], size=(4, 4))
    model = _model(request.getfixturevalue("mirrored") if distributed else None)
    eager = ClassificationReport.evaluate(model, load_image_folder(root), batch_size=4)
    lazy = ClassificationReport.evaluate(model, ImageFolderSource(root), batch_size=4)
    assert lazy.class_names == eager.class_names == ("c0", "c1", "c2") and len(lazy.labels) == 13
    np.testing.assert_array_equal(lazy.labels, eager.labels)
    np.testing.assert_allclose(lazy.probabilities, eager.probabilities, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("distributed", [False, True], ids=["one-device", "mirrored"])
def test_evaluate_on_a_stream_reads_it_once_with_its_labels(request, distributed):
    data = _images(21)
    model = _model(request.getfixturevalue("mirrored") if distributed else None)
    reads = []
    stream = _counted_stream(data, reads)
    report = ClassificationReport.evaluate(model, stream, batch_size=4)  # classes: the model's 3 outputs
    want = model(data.images[..., None].astype("float32")).numpy()
    np.testing.assert_array_equal(report.labels, data.labels)
    np.testing.assert_allclose(report.probabilities, want, rtol=1e-5, atol=1e-6)
    assert report.class_names == ("0", "1", "2")
    # one pass of the evaluation pipeline, labels included (no second pass for them)
    evaluated = len(reads)
    reads.clear()
    source = StreamSource(stream, num_classes=3)
    pipeline = make_pipeline(source, batch_size=4, num_replicas=2 if distributed else 1, evaluation=True)
    assert sum(len(y) for _, y in pipeline) == 21
    assert evaluated == len(reads) >= 21


def test_evaluate_names_a_damaged_file(tmp_path):
    root = write_class_folder(tmp_path / "f", [2, 2, 2], size=(4, 4))
    bad = damage(root / "c1" / "001.png")
    with pytest.raises(DataFileError, match=rf"Cannot decode the image {bad}"):
        ClassificationReport.evaluate(_model(None), ImageFolderSource(root), batch_size=4)
    with pytest.raises(
        DataError, match=r"`data` is not a kind of data transferlab reads\. Received: data of type list"
    ):
        ClassificationReport.evaluate(_model(None), [1, 2, 3])


def test_subset_keeps_the_rows_asked_for(report):
    part = report.subset([4, 1])
    assert part.labels.tolist() == [2, 0] and part.predictions.tolist() == [0, 1]
    np.testing.assert_array_equal(part.probabilities, report.probabilities[[4, 1]])
    assert part.class_names == report.class_names


# Test-time augmentation ------------------------------------------------------------------


def _by_hand(model, data, *, batch_size, replicas, copies, preset, seed):
    """The mean of the model's probabilities over each batch and ``copies`` copies drawn in a row."""
    augmentation = make_augmentation(preset, seed=seed)  # built here, apart from the report's
    means = []
    pipeline = make_pipeline(as_source(data), batch_size=batch_size, num_replicas=replicas, evaluation=True)
    for x, _ in pipeline:
        outputs = [model(x, training=False).numpy()]
        outputs += [model(augmentation(x, training=True), training=False).numpy() for _ in range(copies)]
        means.append(np.mean(outputs, axis=0))
    return np.concatenate(means)


@pytest.mark.parametrize("distributed", [False, True], ids=["one-device", "mirrored"])
def test_tta_is_the_mean_over_each_example_and_its_copies_drawn_with_the_seed(request, distributed):
    data = _images(9)  # batches of 4, 4 and 1
    model = _model(request.getfixturevalue("mirrored") if distributed else None)
    report = ClassificationReport.evaluate(model, data, batch_size=4, tta=3, tta_preset="standard", seed=7)
    want = _by_hand(
        model, data, batch_size=4, replicas=2 if distributed else 1, copies=3, preset="standard", seed=7
    )
    np.testing.assert_allclose(report.probabilities, want, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(report.labels, data.labels)
    plain = ClassificationReport.evaluate(model, data, batch_size=4)
    assert np.abs(report.probabilities - plain.probabilities).max() > 1e-3  # the copies count


def test_tta_zero_is_the_evaluation_without_it_exactly():
    data, model = _images(9), _model(None)
    plain = ClassificationReport.evaluate(model, data, batch_size=4)
    off = ClassificationReport.evaluate(model, data, batch_size=4, tta=0, tta_preset="strong", seed=3)
    np.testing.assert_array_equal(off.probabilities, plain.probabilities)
    np.testing.assert_array_equal(off.labels, plain.labels)


def test_tta_gives_the_same_numbers_for_a_seed_and_others_for_another_seed():
    data, model = _images(9), _model(None)
    first = ClassificationReport.evaluate(model, data, batch_size=4, tta=2, seed=1)
    again = ClassificationReport.evaluate(model, data, batch_size=4, tta=2, seed=1)
    other = ClassificationReport.evaluate(model, data, batch_size=4, tta=2, seed=2)
    np.testing.assert_array_equal(first.probabilities, again.probabilities)
    assert np.abs(first.probabilities - other.probabilities).max() > 1e-3


def test_tta_on_a_folder_source_and_on_a_stream_read_once_equals_tta_on_the_arrays(tmp_path):
    root = write_class_folder(tmp_path / "f", [4, 6, 3], size=(4, 4))
    model = _model(None)
    arrays = load_image_folder(root)
    eager = ClassificationReport.evaluate(model, arrays, batch_size=4, tta=2, seed=5)
    lazy = ClassificationReport.evaluate(model, ImageFolderSource(root), batch_size=4, tta=2, seed=5)
    np.testing.assert_array_equal(lazy.labels, eager.labels)
    np.testing.assert_allclose(lazy.probabilities, eager.probabilities, rtol=1e-6, atol=1e-7)
    reads = []
    stream = _counted_stream(arrays, reads)
    streamed = ClassificationReport.evaluate(model, stream, batch_size=4, tta=2, seed=5)
    np.testing.assert_array_equal(streamed.labels, eager.labels)
    np.testing.assert_allclose(streamed.probabilities, eager.probabilities, rtol=1e-6, atol=1e-7)
    evaluated = len(reads)  # the copies are made in memory: the stream is read as often as without them
    reads.clear()
    ClassificationReport.evaluate(model, stream, batch_size=4)
    assert evaluated == len(reads) >= 13


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"tta": -1},
            "`tta` must be an integer >= 0. Received: tta=-1. Fix: pass 0 for no test-time augmentation, "
            "or e.g. tta=4 for each example and 4 augmented copies.",
        ),
        ({"tta": 1.5}, "`tta` must be an integer >= 0. Received: tta=1.5."),
        ({"tta": True}, "`tta` must be an integer >= 0. Received: tta=True."),
        (
            {"tta": 2, "tta_preset": "heavy"},
            "Unknown augmentation preset `tta_preset`. Received: tta_preset='heavy'. "
            "Accepted: 'none', 'light', 'standard', 'strong'.",
        ),
        ({"tta": 2, "seed": -1}, "`seed` must be an integer >= 0. Received: seed=-1."),
    ],
)
def test_tta_argument_errors(kwargs, message):
    with pytest.raises(ConfigError) as info:
        ClassificationReport.evaluate(_model(None), _images(4), **kwargs)
    assert str(info.value).startswith(message)
