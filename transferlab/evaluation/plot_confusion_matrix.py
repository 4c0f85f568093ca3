"""Confusion-matrix plot."""

from __future__ import annotations

import os
from pathlib import Path

from transferlab.evaluation.classification_report import ClassificationReport
from transferlab.evaluation.figure import new_figure, save_figure

__all__ = ["plot_confusion_matrix"]


def plot_confusion_matrix(report: ClassificationReport, path: str | os.PathLike[str]) -> Path:
    """Saves the confusion matrix of ``report`` as a PNG with counts in each cell.

    Returns:
        The path written.
    """
    cm = report.confusion_matrix
    k = len(report.class_names)
    figure = new_figure(1.0 + 0.5 * k, 0.8 + 0.5 * k)
    axes = figure.add_subplot()
    image = axes.imshow(cm, cmap="Blues")
    figure.colorbar(image, ax=axes, fraction=0.046)
    axes.set_xticks(range(k), report.class_names)
    axes.set_yticks(range(k), report.class_names)
    axes.set_xlabel("predicted")
    axes.set_ylabel("true")
    axes.set_title(f"accuracy {report.accuracy:.2%}")
    threshold = cm.max() / 2 if cm.size else 0
    for i in range(k):
        for j in range(k):
            axes.text(
                j,
                i,
                str(cm[i, j]),
                ha="center",
                va="center",
                fontsize=8,
                color="white" if cm[i, j] > threshold else "black",
            )
    return save_figure(figure, path)
