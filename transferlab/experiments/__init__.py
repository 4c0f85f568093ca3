"""Experiments: a run config trained and evaluated end to end; the quickstart; LR finding."""

from transferlab.experiments.experiment_result import ExperimentResult
from transferlab.experiments.lr_find_for_config import lr_find_for_config
from transferlab.experiments.prepare_data import prepare_data
from transferlab.experiments.quickstart import format_quickstart_table, quickstart_configs, run_quickstart
from transferlab.experiments.run_experiment import run_experiment
from transferlab.experiments.strategy_from_config import strategy_from_config

__all__ = [
    "ExperimentResult",
    "format_quickstart_table",
    "lr_find_for_config",
    "prepare_data",
    "quickstart_configs",
    "run_experiment",
    "run_quickstart",
    "strategy_from_config",
]
