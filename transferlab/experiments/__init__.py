"""Experiments: a run config trained and evaluated end to end; the quickstart."""

from transferlab.experiments.experiment_result import ExperimentResult
from transferlab.experiments.run_experiment import run_experiment
from transferlab.experiments.strategy_from_config import strategy_from_config

__all__ = ["ExperimentResult", "run_experiment", "strategy_from_config"]
