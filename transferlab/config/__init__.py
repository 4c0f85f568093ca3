"""Run configs: TOML files mapped onto typed, validated, frozen dataclasses."""

from transferlab.config.data_config import DataConfig
from transferlab.config.model_config import ModelConfig
from transferlab.config.run_config import RunConfig
from transferlab.config.strategy_config import StrategyConfig
from transferlab.config_section import ConfigSection
from transferlab.training.options import TrainingOptions

__all__ = [
    "ConfigSection",
    "DataConfig",
    "ModelConfig",
    "RunConfig",
    "StrategyConfig",
    "TrainingOptions",
]
