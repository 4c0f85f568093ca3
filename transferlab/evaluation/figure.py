"""Creating and saving matplotlib figures without pyplot's global state."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from transferlab._atomic import atomic_path
from transferlab.errors import MissingDependencyError, describe

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure

__all__ = ["finish_figure", "new_figure", "save_figure"]


def new_figure(width: float = 6.0, height: float = 4.0) -> Figure:
    """A ``matplotlib.figure.Figure`` with an Agg canvas (no pyplot, no global backend change).

    Its layout is ``"constrained"``: titles, labels and colorbars are fitted
    inside the figure when it is drawn, shown or saved, so nothing is cut off.

    Raises:
        MissingDependencyError: If matplotlib is not installed.
    """
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise MissingDependencyError(
            describe(
                "Plots need matplotlib, which is not installed",
                fix='pip install "transferlab[plot]" (everything else works without it)',
            )
        ) from None
    figure = Figure(figsize=(width, height), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def finish_figure(
    figure: Figure, *, title: str | None = None, path: str | os.PathLike[str] | None = None
) -> Figure:
    """Titles ``figure`` with the run (when given), saves it (when ``path`` is given), returns it.

    Example:
        >>> figure = new_figure()
        >>> finish_figure(figure, title="run 7") is figure, figure.get_suptitle()
        (True, 'run 7')
    """
    if title:
        figure.suptitle(title, fontsize=11)
    if path is not None:
        save_figure(figure, path)
    return figure


def save_figure(figure: Figure, path: str | os.PathLike[str]) -> Path:
    """Saves ``figure`` as PNG, atomically (a temp file, then a rename)."""
    with atomic_path(path) as tmp:
        figure.savefig(tmp, format="png", bbox_inches="tight")
    return Path(path)
