"""Training: the Trainer on tf.distribute, a run's identity and folder, exact resume, feature cache, LR tools."""

from transferlab.training.distribution import resolve_distribution
from transferlab.training.distribution_info import DistributionInfo
from transferlab.training.feature_cache import FEATURE_CACHE_MODES, RANDOM_ATTRIBUTE, FeatureCache
from transferlab.training.identity import RunIdentity
from transferlab.training.launch_result import LaunchResult
from transferlab.training.launcher import launch_local
from transferlab.training.lr_finder import LRFinder, find_learning_rate
from transferlab.training.metrics_logger import MetricsLogger
from transferlab.training.multi_worker_patch import CHECKED_KERAS_VERSIONS, multi_worker_patch
from transferlab.training.one_cycle import OneCycle
from transferlab.training.options import TrainingOptions
from transferlab.training.precision import resolve_precision
from transferlab.training.run_folder import RunFolder
from transferlab.training.state import BackupPosition, TrainingState
from transferlab.training.tf_config import TFConfig
from transferlab.training.train_result import TrainResult
from transferlab.training.trainer import Trainer
from transferlab.training.worker_rendezvous import wait_for_workers

__all__ = [
    "CHECKED_KERAS_VERSIONS",
    "FEATURE_CACHE_MODES",
    "RANDOM_ATTRIBUTE",
    "BackupPosition",
    "DistributionInfo",
    "FeatureCache",
    "LRFinder",
    "LaunchResult",
    "MetricsLogger",
    "OneCycle",
    "RunFolder",
    "RunIdentity",
    "TFConfig",
    "TrainResult",
    "Trainer",
    "TrainingOptions",
    "TrainingState",
    "find_learning_rate",
    "launch_local",
    "multi_worker_patch",
    "resolve_distribution",
    "resolve_precision",
    "wait_for_workers",
]
