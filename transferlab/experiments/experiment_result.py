"""What one experiment (a run config, trained and evaluated) produced."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from transferlab.config.run_config import RunConfig
from transferlab.evaluation.classification_report import ClassificationReport
from transferlab.experiments.auto_strategy import StrategyChoice
from transferlab.training.train_result import TrainResult

__all__ = ["ExperimentResult"]


@dataclasses.dataclass
class ExperimentResult:
    """The outcome of :func:`~transferlab.experiments.run_experiment.run_experiment`.

    Attributes:
        config: The resolved config that ran (also saved as ``config.toml``).
        report: Evaluation on the test split (of the configured classes).
        run_dir: The run folder.
        train_seconds: Wall time of training (pretraining included).
        train_result: The Trainer's :class:`~transferlab.training.train_result.TrainResult`.
        strategy_choice: What ``strategy.kind = "auto"`` chose and why (``None`` otherwise).
    """

    config: RunConfig
    report: ClassificationReport
    run_dir: Path
    train_seconds: float
    train_result: TrainResult
    strategy_choice: StrategyChoice | None = None

    @property
    def test_accuracy(self) -> float:
        """Accuracy on the test split."""
        return self.report.accuracy
