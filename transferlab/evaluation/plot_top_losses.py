"""The examples a model got most wrong, shown with true and predicted labels."""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import numpy.typing as npt

from transferlab.evaluation.classification_report import ClassificationReport
from transferlab.evaluation.figure import new_figure, save_figure

__all__ = ["plot_top_losses"]


def plot_top_losses(
    report: ClassificationReport,
    images: npt.NDArray[np.generic[object]],
    path: str | os.PathLike[str],
    n: int = 9,
) -> Path:
    """Saves a grid of the ``n`` highest-loss images titled ``true / predicted / p``.

    Args:
        report: The report over ``images`` (same order).
        images: The evaluated images, ``(N, H, W)`` or ``(N, H, W, C)``, pixels in [0, 255].
        path: Where to write the PNG.
        n: How many images.
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
    figure.suptitle("top losses: true / predicted / probability", fontsize=10)
    return save_figure(figure, path)
