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
from transferlab.data.relabeled_source import RelabeledSource
from transferlab.data.select_classes import select_classes
from transferlab.data.source import ArraySource, IndexedSource, StreamSource
from transferlab.errors import DataError


def _digits() -> LabeledImages:
    labels = np.arange(20) % 10
    images = (labels[:, None, None] * np.ones((1, 4, 4))).astype("uint8")
    return LabeledImages(images, labels, tuple(str(d) for d in range(10)))


def test_reindexes_in_given_order_and_keeps_names() -> None:
    data = _digits()
    kept = select_classes(data, [5, 6, 7, 8, 9])
    assert kept.class_names == ("5", "6", "7", "8", "9")
    assert kept.labels.tolist() == [0, 1, 2, 3, 4, 0, 1, 2, 3, 4]
    # The images travel with their labels: image value == original digit.
    assert (kept.images[:, 0, 0] == kept.labels + 5).all()


def test_order_of_classes_sets_labels_and_names_select() -> None:
    kept = select_classes(_digits(), ["9", 0])
    assert kept.class_names == ("9", "0")
    assert kept.labels.tolist() == [1, 0, 1, 0]
    assert kept.images[:, 0, 0].tolist() == [0, 9, 0, 9]


@pytest.mark.parametrize("bad", [10, -1, "ten", 2.0])
def test_unknown_class(bad: object) -> None:
    with pytest.raises(
        DataError, match=r"Unknown class in `classes`\. Received: .*Accepted: label indices 0\.\.9"
    ):
        select_classes(_digits(), [1, bad])  # type: ignore[list-item]


def test_duplicates() -> None:
    with pytest.raises(
        DataError, match=r"more than once\. Received: .*repeated: 3.*Fix: list each class once"
    ):
        select_classes(_digits(), [3, "3"])


def test_empty() -> None:
    with pytest.raises(DataError, match=r"`classes` must name at least one class\. Received: classes=\[\]"):
        select_classes(_digits(), [])


# On sources ------------------------------------------------------------------------------


def _read(source: IndexedSource) -> tuple[np.ndarray, np.ndarray]:
    batches = list(make_pipeline(source, batch_size=64, evaluation=True))
    return np.concatenate([x for x, _ in batches]), np.concatenate([y for _, y in batches])


def test_on_a_folder_source_keeps_the_examples_and_labels_of_the_arrays(tmp_path: Path) -> None:
    root = write_class_folder(tmp_path / "f", [5, 4, 6])
    eager = select_classes(load_image_folder(root), ["c2", 0])
    lazy = select_classes(ImageFolderSource(root), ["c2", 0])
    assert isinstance(lazy, RelabeledSource)
    assert lazy.class_names == eager.class_names == ("c2", "c0")
    assert lazy.labels.tolist() == eager.labels.tolist() == [1] * 5 + [0] * 6
    images, labels = _read(lazy)
    np.testing.assert_array_equal(images[..., 0], eager.images)
    np.testing.assert_array_equal(labels, eager.labels)
    assert [Path(f).parent.name for f in lazy.files([0, 5])] == ["c0", "c2"]
    # selecting again composes (one relabelling over the folder), as in memory
    again, again_eager = select_classes(lazy, ["c0"]), select_classes(eager, ["c0"])
    assert isinstance(again, RelabeledSource) and not isinstance(again.parent, RelabeledSource)
    assert again.labels.tolist() == again_eager.labels.tolist() == [0] * 5
    np.testing.assert_array_equal(_read(again)[0][..., 0], again_eager.images)


def test_on_arrays_as_a_source_stays_arrays() -> None:
    kept = select_classes(ArraySource(_digits()), [9, 0])
    assert isinstance(kept, ArraySource)
    assert kept.labels.tolist() == [1, 0, 1, 0] and kept.class_names == ("9", "0")


def test_a_stream_is_refused_naming_the_fix() -> None:
    stream = tf.data.Dataset.from_tensor_slices((np.zeros((4, 2, 2), "uint8"), np.array([0, 1, 0, 1])))
    pattern = r"`data` must have its labels known up front\. Received: data of type StreamSource\..*filter"
    with pytest.raises(DataError, match=pattern):
        select_classes(StreamSource(stream, num_classes=2), [1])  # type: ignore[type-var]
