"""check_task: degenerate tasks refused, weak ones warned about."""

from __future__ import annotations

import numpy as np
import pytest

from transferlab.data import LabeledImages
from transferlab.data.task_checks import check_task
from transferlab.errors import DataError


def _data(labels: list[int], names: tuple[str, ...] = ("a", "b", "c")) -> LabeledImages:
    return LabeledImages(np.zeros((len(labels), 4, 4), "uint8"), np.asarray(labels), names)


def test_a_real_task_passes_without_warnings() -> None:
    assert check_task(_data([0, 1, 2, 0])) == []


def test_one_class_is_refused() -> None:
    with pytest.raises(
        DataError,
        match=r"(?s)at least two classes.*3 examples; classes with examples: 'a' \(3\) of 1 class name.*Fix: add",
    ):
        check_task(_data([0, 0, 0], ("a",)))


def test_one_class_with_examples_among_several_names_is_refused() -> None:
    with pytest.raises(DataError, match=r"(?s)classes with examples: 'b' \(2\) of 3 class name"):
        check_task(_data([1, 1]))


def test_classes_without_examples_are_warned_about() -> None:
    assert check_task(_data([0, 1, 0])) == [
        "Class 2 ('c') has no training examples: the model can never learn to predict it"
    ]


def test_source_classes_overlapping_the_target_are_refused() -> None:
    with pytest.raises(
        DataError,
        match=r"(?s)source classes overlap the target classes.*source classes \[0, 1, 5\], "
        r"target classes \[5, 6, 7\]; both hold \[5\].*Fix: pretrain on other classes",
    ):
        check_task(_data([0, 1, 2]), source_classes=[5, 1, 0], target_classes=[5, 6, 7])


def test_disjoint_source_and_target_pass() -> None:
    assert check_task(_data([0, 1, 2]), source_classes=[0, 1], target_classes=[5, 6, 7]) == []


def test_not_labeled_images_is_refused() -> None:
    with pytest.raises(
        DataError, match=r"`train` must be a transferlab LabeledImages or an indexed source.*list"
    ):
        check_task([1, 2])  # type: ignore[arg-type]
