"""Confusion-matrix plot."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from transferlab.evaluation.classification_report import ClassificationReport
from transferlab.evaluation.figure import finish_figure, new_figure

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure

__all__ = ["plot_confusion_matrix"]


def plot_confusion_matrix(
    report: ClassificationReport,
    path: str | os.PathLike[str] | None = None,
    *,
    title: str | None = None,
) -> Figure:
    """Plots the confusion matrix of ``report`` with counts in each cell.

    Args:
        report: The evaluation.
        path: Where to save it as PNG (atomically); ``None``: not saved.
        title: The run's name, shown above the plot.

    Returns:
        The matplotlib ``Figure`` (shown inline by notebooks).

    Raises:
        MissingDependencyError: If matplotlib is not installed.

    Example:
        >>> import numpy as np
        >>> report = ClassificationReport.from_probabilities(
        ...     np.eye(3)[[0, 1, 2, 1]], np.array([0, 1, 2, 2]), ("a", "b", "c"))
        >>> figure = plot_confusion_matrix(report, title="run 1")
        >>> figure.get_suptitle(), figure.axes[0].get_title()
        ('run 1', 'accuracy 75.00%')
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
    return finish_figure(figure, title=title, path=path)
