"""RelabeledSource: the parent's examples under new labels; errors; read errors; check_labeled_data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from tiny_folders import damage, write_class_folder

from transferlab.data.image_folder_source import ImageFolderSource
from transferlab.data.labeled_data import check_labeled_data
from transferlab.data.pipeline import make_pipeline
from transferlab.data.read_errors import naming_bad_files
from transferlab.data.relabeled_source import RelabeledSource
from transferlab.data.source import SubsetSource, as_source
from transferlab.errors import DataError, DataFileError


def _parent() -> SubsetSource:
    images = np.arange(6, dtype="uint8").reshape(6, 1, 1) * 10
    return SubsetSource(as_source((images, np.array([0, 1, 2, 0, 1, 2]))), [5, 4, 3, 2, 1, 0])


def test_reads_the_parents_examples_under_the_new_labels() -> None:
    source = RelabeledSource(_parent(), [0, 0, 1, 1, 0, 1], ("x", "y"))
    x, y = next(iter(make_pipeline(source, batch_size=6, evaluation=True)))
    assert x.numpy()[:, 0, 0, 0].tolist() == [50, 40, 30, 20, 10, 0]
    assert y.numpy().tolist() == [0, 0, 1, 1, 0, 1]
    assert source.class_counts().tolist() == [3, 3] and source.element_shape == (1, 1, 1)
    taken = source.take([3, 0])
    assert isinstance(taken, RelabeledSource) and taken.labels.tolist() == [1, 0]
    assert next(iter(make_pipeline(taken, batch_size=2, evaluation=True)))[0].numpy()[
        :, 0, 0, 0
    ].tolist() == [
        20,
        50,
    ]
    with pytest.raises(DataError, match=r"`indices` out of range"):
        source.take([6])


def test_fingerprint_follows_the_labels_and_names() -> None:
    a = RelabeledSource(_parent(), [0, 0, 1, 1, 0, 1], ("x", "y"))
    assert a.fingerprint() == RelabeledSource(_parent(), [0, 0, 1, 1, 0, 1], ("x", "y")).fingerprint()
    assert a.fingerprint() != RelabeledSource(_parent(), [1, 0, 1, 1, 0, 1], ("x", "y")).fingerprint()
    assert a.fingerprint() != RelabeledSource(_parent(), [0, 0, 1, 1, 0, 1], ("y", "x")).fingerprint()
    assert a.summary()["read_from"] == "SubsetSource" and a.summary()["classes"] == ["x", "y"]


@pytest.mark.parametrize(
    ("labels", "pattern"),
    [
        ([0, 1], r"one integer label per example of the source\. Received: labels of shape \(2,\) .* for 6"),
        ([0.0] * 6, r"one integer label per example .*dtype float64"),
        (
            [0, 1, 2, 0, 1, 0],
            r"`labels` must lie in \[0, 2\) for 2 class names\. Received: labels from 0 to 2",
        ),
    ],
)
def test_bad_labels(labels: list[float], pattern: str) -> None:
    with pytest.raises(DataError, match=pattern):
        RelabeledSource(_parent(), np.asarray(labels), ("x", "y"))


def test_a_damaged_file_is_named_through_the_relabelling(tmp_path: Path) -> None:
    root = write_class_folder(tmp_path / "f", [3, 3])
    damage(root / "c1" / "001.png")
    source = RelabeledSource(ImageFolderSource(root), [1, 1, 1, 0, 0, 0], ("c1", "c0"))
    assert source.files([4]) == [str(root / "c1" / "001.png")]
    with pytest.raises(DataFileError, match=r"c1/001\.png"), naming_bad_files(source):
        list(make_pipeline(source, batch_size=6, evaluation=True))


def test_naming_bad_files_lets_an_undiagnosed_error_through() -> None:
    with pytest.raises(tf.errors.InvalidArgumentError, match="boom"), naming_bad_files(_parent(), None):
        raise tf.errors.InvalidArgumentError(None, None, "boom")


def test_check_labeled_data_names_arrays_and_streams() -> None:
    pattern = r"`train` must have its labels known up front\. Received: train of type tuple\..*as_source"
    with pytest.raises(DataError, match=pattern):
        check_labeled_data((np.zeros((2, 2, 2)), np.zeros(2)), "train")
    dataset = tf.data.Dataset.from_tensor_slices((np.zeros((2, 2, 2), "uint8"), np.array([0, 1])))
    with pytest.raises(
        DataError, match=r"Received: data of type .*Dataset.*Fix: a tf\.data\.Dataset is read"
    ):
        check_labeled_data(dataset)
