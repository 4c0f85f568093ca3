"""Training curves per phase, from a run's per-epoch metrics."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from transferlab.evaluation.figure import finish_figure, new_figure

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure

__all__ = ["plot_training_curves"]


def plot_training_curves(
    rows: Sequence[Mapping[str, object]],
    path: str | os.PathLike[str] | None = None,
    *,
    title: str | None = None,
) -> Figure:
    """Plots loss and accuracy per epoch, one shaded band per phase.

    Args:
        rows: One mapping per epoch with ``epoch`` (counted from 1), ``phase`` and metric keys
            (``loss``, ``accuracy``, ``val_loss``, ``val_accuracy`` ...), as in
            a run folder's ``metrics.json``.
        path: Where to save it as PNG (atomically); ``None``: not saved.
        title: The run's name, shown above the plots.

    Returns:
        The matplotlib ``Figure``.

    Raises:
        MissingDependencyError: If matplotlib is not installed.

    Example:
        >>> rows = [{"epoch": 1, "phase": "warmup", "loss": 1.0}, {"epoch": 2, "phase": "finetune", "loss": 0.5}]
        >>> figure = plot_training_curves(rows, title="run 1")
        >>> figure.get_suptitle(), [axes.get_xlabel() for axes in figure.axes]
        ('run 1', ['epoch', 'epoch'])
    """
    figure = new_figure(10, 4)
    epochs = [int(_number(r["epoch"])) for r in rows]
    for slot, metric in enumerate(("loss", "accuracy")):
        axes = figure.add_subplot(1, 2, slot + 1)
        for key in (metric, f"val_{metric}"):
            values = [r.get(key) for r in rows]
            if any(v is not None for v in values):
                axes.plot(
                    epochs, [float("nan") if v is None else _number(v) for v in values], marker="o", label=key
                )
        for segment, (phase, first, last) in enumerate(_phase_segments(rows)):
            axes.axvspan(
                epochs[first] - 0.5, epochs[last] + 0.5, alpha=0.1 if segment % 2 else 0.0, color="gray"
            )
            axes.annotate(
                phase, (epochs[first] - 0.4, 1.0), xycoords=("data", "axes fraction"), fontsize=8, va="top"
            )
        axes.set_xlabel("epoch")
        axes.set_title(metric)
        if axes.get_legend_handles_labels()[0]:
            axes.legend(fontsize=8)
    return finish_figure(figure, title=title, path=path)


def _number(value: object) -> float:
    """A metric value of a row (a number, or a number written as text)."""
    if isinstance(value, (int, float, str)):
        return float(value)
    raise TypeError(f"a metric value must be a number, not {value!r}")


def _phase_segments(rows: Sequence[Mapping[str, object]]) -> list[tuple[str, int, int]]:
    """``(phase, first row, last row)`` for each run of rows in the same phase."""
    segments: list[tuple[str, int, int]] = []
    for index, row in enumerate(rows):
        phase = str(row.get("phase", ""))
        if segments and segments[-1][0] == phase:
            segments[-1] = (phase, segments[-1][1], index)
        else:
            segments.append((phase, index, index))
    return segments
