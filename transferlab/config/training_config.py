"""The ``[training]`` section of a run config."""

from __future__ import annotations

import dataclasses

from transferlab.config.config_section import ConfigSection, field
from transferlab.errors import ConfigError, describe

__all__ = ["TrainingConfig"]


@dataclasses.dataclass(frozen=True)
class TrainingConfig(ConfigSection):
    """How training runs: batch, devices, precision, seed, where results go.

    Example:
        >>> TrainingConfig(batch_size=128).distribution
        'auto'
    """

    SECTION = "training"

    batch_size: int = field(64, "Examples per replica per step.")
    distribution: str = field(
        "auto",
        "auto, one_device, mirrored or multi_worker.",
        choices=("auto", "one_device", "mirrored", "multi_worker"),
    )
    precision: str = field(
        "float32",
        "float32, bfloat16 (CPU), float16 (GPU) or mixed (whichever fits the device).",
        choices=("float32", "bfloat16", "float16", "mixed"),
    )
    seed: int = field(0, "Seed for splits, shuffling, augmentation and initial weights.")
    deterministic: bool = field(False, "Bit-identical reruns (slower: enables op determinism).")
    feature_cache: str = field(
        "auto",
        "Train the head on cached features where valid; disk: also keep them in the run.",
        choices=("auto", "off", "disk"),
    )
    run_dir: str = field("runs", "Folder that holds the run folders.")
    run_name: str = field("", "Name of this run's folder; empty: a timestamp.")
    early_stopping: int = field(0, "End a phase after N epochs without improvement; 0: off.")
    reduce_lr_on_plateau: int = field(0, "Divide the rate by 10 after N epochs without improvement; 0: off.")

    def validate(self) -> None:
        if self.batch_size < 1:
            raise ConfigError(
                describe(
                    "`training.batch_size` must be >= 1", received=f"training.batch_size={self.batch_size}"
                )
            )
