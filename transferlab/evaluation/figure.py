"""Creating and saving matplotlib figures without pyplot's global state."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from transferlab._atomic import atomic_path
from transferlab.errors import MissingDependencyError, describe

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure

__all__ = ["new_figure", "save_figure"]


def new_figure(width: float = 6.0, height: float = 4.0) -> Figure:
    """A ``matplotlib.figure.Figure`` with an Agg canvas (no pyplot, no global backend change).

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
    figure = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(figure)
    return figure


def save_figure(figure: Figure, path: str | os.PathLike[str]) -> Path:
    """Saves ``figure`` as PNG, atomically (a temp file, then a rename)."""
    with atomic_path(path) as tmp:
        figure.savefig(tmp, format="png", bbox_inches="tight")
    return Path(path)
