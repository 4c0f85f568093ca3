"""The ``[data]`` section of a run config."""

from __future__ import annotations

import dataclasses

from transferlab.config_section import ConfigSection, field
from transferlab.errors import ConfigError, describe

__all__ = ["DataConfig"]


@dataclasses.dataclass(frozen=True)
class DataConfig(ConfigSection):
    """Which data the run trains and evaluates on.

    Example:
        >>> DataConfig(classes=(5, 6, 7, 8, 9), labels_per_class=10).labels_per_class
        10
    """

    SECTION = "data"

    dataset: str = field(
        "mnist",
        "Data set: mnist, idx (an IDX folder) or folder (images).",
        choices=("mnist", "idx", "folder"),
    )
    path: str = field("", "Folder with the files; empty: $TRANSFERLAB_MNIST_DIR, cache, mirrors.")
    classes: tuple[int, ...] = field((), "Classes to keep, re-indexed in this order; empty: all.")
    labels_per_class: int = field(0, "Labelled training examples per class; 0: all of them.")
    max_train: int = field(0, "Use at most this many training examples (stratified, seeded); 0: all.")
    validation: float = field(0.1, "Fraction of the training examples held out for validation.")
    augment: str = field(
        "none", "Augmentation preset for training batches.", choices=("none", "light", "standard", "strong")
    )
    augment_strength: float = field(1.0, "Scales the augmentation preset's magnitudes.")

    def validate(self) -> None:
        if self.labels_per_class < 0:
            raise ConfigError(
                describe(
                    "`data.labels_per_class` must be >= 0",
                    received=f"data.labels_per_class={self.labels_per_class}",
                    fix="use 0 for all examples",
                )
            )
        if self.max_train < 0:
            raise ConfigError(
                describe(
                    "`data.max_train` must be >= 0",
                    received=f"data.max_train={self.max_train}",
                    fix="use 0 for all examples",
                )
            )
        if not 0 <= self.validation < 1:
            raise ConfigError(
                describe("`data.validation` must be in [0, 1)", received=f"data.validation={self.validation}")
            )
        if len(set(self.classes)) != len(self.classes):
            raise ConfigError(
                describe("`data.classes` lists a class twice", received=f"data.classes={list(self.classes)}")
            )
