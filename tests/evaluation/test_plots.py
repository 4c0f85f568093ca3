"""Plots return matplotlib Figures (titled with the run, nothing cut off); saved, they are real PNGs."""

from __future__ import annotations

import numpy as np
import pytest

from transferlab.evaluation import (
    ClassificationReport,
    plot_confusion_matrix,
    plot_top_losses,
    plot_training_curves,
)

pytest.importorskip("matplotlib")


def _png_pixels(path):
    from matplotlib.image import imread

    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    return imread(path)


def _report():
    rng = np.random.default_rng(0)
    probs = rng.dirichlet(np.ones(3), size=12)
    return ClassificationReport.from_probabilities(probs, rng.integers(0, 3, 12), ("x", "y", "z"))


def _inside_figure(figure) -> list[str]:
    """What sticks out of the drawn figure: axes (with their drawn titles, labels, ticks) or its title."""
    figure.canvas.draw()
    renderer = figure.canvas.get_renderer()
    width, height = figure.bbox.width, figure.bbox.height
    boxes = [(axes.get_title() or "axes", axes.get_tightbbox(renderer)) for axes in figure.axes]
    if figure._suptitle is not None and figure.get_suptitle():
        boxes.append((figure.get_suptitle(), figure._suptitle.get_window_extent(renderer)))
    return [
        name for name, box in boxes if box.x0 < -1 or box.y0 < -1 or box.x1 > width + 1 or box.y1 > height + 1
    ]


def test_confusion_matrix_png_has_content(tmp_path):
    figure = plot_confusion_matrix(_report(), tmp_path / "confusion.png")
    assert figure.axes and _inside_figure(figure) == []
    pixels = _png_pixels(tmp_path / "confusion.png")
    assert pixels.shape[0] > 100 and pixels.shape[1] > 100
    assert pixels[..., :3].std() > 0.05  # not a blank image
    assert [p.name for p in tmp_path.iterdir()] == ["confusion.png"]  # no temp file left


def test_top_losses_png_has_content(tmp_path):
    images = np.random.default_rng(1).integers(0, 255, (12, 28, 28), dtype=np.uint8)
    figure = plot_top_losses(_report(), images, tmp_path / "top.png", n=6)
    assert len(figure.axes) == 6 and _inside_figure(figure) == []
    pixels = _png_pixels(tmp_path / "top.png")
    assert pixels.shape[1] > 300
    assert pixels[..., :3].std() > 0.05


def test_training_curves_png_has_content(tmp_path):
    rows = [
        {"epoch": 1, "phase": "warmup", "loss": 1.0, "accuracy": 0.5, "val_loss": 1.1},
        {"epoch": 2, "phase": "finetune", "loss": 0.5, "accuracy": 0.8, "val_loss": 0.7},
        {"epoch": 3, "phase": "finetune", "loss": 0.3, "accuracy": 0.9, "val_loss": 0.6},
    ]
    figure = plot_training_curves(rows, tmp_path / "curves.png")
    assert [axes.get_xlabel() for axes in figure.axes] == ["epoch", "epoch"]
    assert _inside_figure(figure) == []
    pixels = _png_pixels(tmp_path / "curves.png")
    assert pixels.shape[1] > 600
    assert pixels[..., :3].std() > 0.05


def test_plots_leave_the_global_matplotlib_backend_alone(tmp_path):
    import matplotlib

    before = matplotlib.get_backend()
    plot_confusion_matrix(_report(), tmp_path / "c.png")
    assert matplotlib.get_backend() == before


def test_missing_matplotlib_is_a_clear_error(tmp_path, monkeypatch):
    import sys

    from transferlab.errors import MissingDependencyError

    for name in [m for m in sys.modules if m == "matplotlib" or m.startswith("matplotlib.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(
        MissingDependencyError, match=r'Plots need matplotlib.*pip install "transferlab\[plot\]"'
    ):
        plot_confusion_matrix(_report(), tmp_path / "c.png")
    assert not list(tmp_path.iterdir())


def test_figures_without_a_path_are_returned_unsaved_and_titled_with_the_run(tmp_path, monkeypatch):
    from matplotlib.figure import Figure

    monkeypatch.chdir(tmp_path)
    rows = [{"epoch": 1, "phase": "warmup", "loss": 1.0}, {"epoch": 2, "phase": "finetune", "loss": 0.4}]
    images = np.zeros((12, 28, 28), np.uint8)
    figures = {
        "confusion": plot_confusion_matrix(_report(), title="mnist-fine_tune-7"),
        "top_losses": plot_top_losses(_report(), images, n=4, title="mnist-fine_tune-7"),
        "curves": plot_training_curves(rows, title="mnist-fine_tune-7"),
    }
    for name, figure in figures.items():
        assert isinstance(figure, Figure), name
        assert figure.get_suptitle().startswith("mnist-fine_tune-7"), name
        assert _inside_figure(figure) == [], name
    assert list(tmp_path.iterdir()) == []  # nothing saved
    assert plot_confusion_matrix(_report()).get_suptitle() == ""  # no run, no title
