"""Plots are real PNGs with content, written atomically."""

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


def test_confusion_matrix_png_has_content(tmp_path):
    path = plot_confusion_matrix(_report(), tmp_path / "confusion.png")
    pixels = _png_pixels(path)
    assert pixels.shape[0] > 100 and pixels.shape[1] > 100
    assert pixels[..., :3].std() > 0.05  # not a blank image
    assert [p.name for p in tmp_path.iterdir()] == ["confusion.png"]  # no temp file left


def test_top_losses_png_has_content(tmp_path):
    images = np.random.default_rng(1).integers(0, 255, (12, 28, 28), dtype=np.uint8)
    pixels = _png_pixels(plot_top_losses(_report(), images, tmp_path / "top.png", n=6))
    assert pixels.shape[1] > 300
    assert pixels[..., :3].std() > 0.05


def test_training_curves_png_has_content(tmp_path):
    rows = [
        {"epoch": 1, "phase": "warmup", "loss": 1.0, "accuracy": 0.5, "val_loss": 1.1},
        {"epoch": 2, "phase": "finetune", "loss": 0.5, "accuracy": 0.8, "val_loss": 0.7},
        {"epoch": 3, "phase": "finetune", "loss": 0.3, "accuracy": 0.9, "val_loss": 0.6},
    ]
    pixels = _png_pixels(plot_training_curves(rows, tmp_path / "curves.png"))
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
