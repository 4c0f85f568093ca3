"""Evaluation and interpretation: metrics, confusion, top losses, test-time augmentation, plots (matplotlib optional)."""

from transferlab.evaluation.classification_report import ClassificationReport
from transferlab.evaluation.plot_confusion_matrix import plot_confusion_matrix
from transferlab.evaluation.plot_top_losses import plot_top_losses
from transferlab.evaluation.plot_training_curves import plot_training_curves
from transferlab.evaluation.tta_probabilities import tta_probabilities

__all__ = [
    "ClassificationReport",
    "plot_confusion_matrix",
    "plot_top_losses",
    "plot_training_curves",
    "tta_probabilities",
]
