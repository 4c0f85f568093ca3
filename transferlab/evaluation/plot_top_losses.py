"""The examples a model got most wrong, shown with true and predicted labels."""

from __future__ import annotations

import math
import os
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from transferlab.evaluation.classification_report import ClassificationReport
from transferlab.evaluation.figure import finish_figure, new_figure

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure

__all__ = ["plot_top_losses"]


def plot_top_losses(
    report: ClassificationReport,
    images: npt.NDArray[np.generic[object]],
    path: str | os.PathLike[str] | None = None,
    n: int = 9,
    *,
    title: str | None = None,
) -> Figure:
    """Plots a grid of the ``n`` highest-loss images titled ``true / predicted / p``.

    Args:
        report: The report over ``images`` (same order).
        images: The evaluated images, ``(N, H, W)`` or ``(N, H, W, C)``, pixels in [0, 255].
        path: Where to save it as PNG (atomically); ``None``: not saved.
        n: How many images.
        title: The run's name, shown above the grid.

    Returns:
        The matplotlib ``Figure``.

    Raises:
        MissingDependencyError: If matplotlib is not installed.

    Example:
        >>> import numpy as np
        >>> report = ClassificationReport.from_probabilities(
        ...     np.eye(3)[[0, 1, 2, 1]], np.array([0, 1, 2, 2]), ("a", "b", "c"))
        >>> figure = plot_top_losses(report, np.zeros((4, 8, 8), "uint8"), n=2, title="run 1")
        >>> figure.get_suptitle(), len(figure.axes)
        ('run 1 - top losses: true / predicted / probability', 2)
    """
    indices = report.top_losses(n)
    cols = min(len(indices), 3) or 1
    rows = max(math.ceil(len(indices) / cols), 1)
    figure = new_figure(2.2 * cols, 2.4 * rows)
    predictions = report.predictions
    for slot, index in enumerate(indices):
        axes = figure.add_subplot(rows, cols, slot + 1)
        image = np.asarray(images[index])
        if image.ndim == 3 and image.shape[-1] == 1:
            image = image[..., 0]
        axes.imshow(image.astype("uint8") if image.ndim == 3 else image, cmap="gray")
        true = report.class_names[report.labels[index]]
        predicted = report.class_names[predictions[index]]
        p = report.probabilities[index, predictions[index]]
        axes.set_title(f"{true} / {predicted} / {p:.2f}", fontsize=9)
        axes.axis("off")
    heading = "top losses: true / predicted / probability"
    return finish_figure(figure, title=f"{title} - {heading}" if title else heading, path=path)
