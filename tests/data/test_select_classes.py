from __future__ import annotations

import numpy as np
import pytest

from transferlab.data.labeled_images import LabeledImages
from transferlab.data.select_classes import select_classes
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
