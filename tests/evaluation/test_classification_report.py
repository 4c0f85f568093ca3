"""ClassificationReport: metrics computed by hand on small cases."""

from __future__ import annotations

import numpy as np
import pytest

from transferlab.errors import DataError
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
