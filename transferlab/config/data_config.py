"""The ``[data]`` section of a run config."""

from __future__ import annotations

import dataclasses
import math

from transferlab.config_section import ConfigSection, field
from transferlab.errors import ConfigError, describe

__all__ = ["DataConfig"]


@dataclasses.dataclass(frozen=True)
class DataConfig(ConfigSection):
    """Which data the run trains and evaluates on.

    ``validation`` holds out that fraction of the training examples, per class
    and seeded by ``training.seed`` (0, the default, holds out none, like
    Keras' ``validation_split``). With ``labels_per_class`` it is a fraction of
    the labelled examples: a few-shot run never uses more labels than it says,
    so ``labels_per_class=10, validation=0.2`` trains on 8 and validates on 2
    labelled examples of each class (:meth:`validation_per_class`). A split
    that leaves a class no training example is refused.

    Example:
        >>> data = DataConfig(classes=(5, 6, 7, 8, 9), labels_per_class=10, validation=0.2)
        >>> data.labels_per_class, data.validation_per_class()
        (10, 2)
        >>> DataConfig(labels_per_class=1, validation=0.2)
        Traceback (most recent call last):
        ...
        transferlab.errors.ConfigError: `data.validation` leaves no labelled training example per class. Received: data.labels_per_class=1, data.validation=0.2 (1 of the 1 labelled examples per class held out). Fix: pass more labels per class, or validation=0 (--validation 0) for no validation split.
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
    validation: float = field(
        0.0,
        "Fraction of the training examples held out for validation, per class and seeded "
        "(with labels_per_class: of the labelled examples); 0: none.",
    )
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
        held_out = self.validation_per_class()
        if self.labels_per_class and held_out >= self.labels_per_class:
            raise ConfigError(
                describe(
                    "`data.validation` leaves no labelled training example per class",
                    received=f"data.labels_per_class={self.labels_per_class}, "
                    f"data.validation={self.validation} ({held_out} of the {self.labels_per_class} "
                    "labelled examples per class held out)",
                    fix="pass more labels per class, or validation=0 (--validation 0) for no validation split",
                )
            )
        if len(set(self.classes)) != len(self.classes):
            raise ConfigError(
                describe("`data.classes` lists a class twice", received=f"data.classes={list(self.classes)}")
            )

    def validation_per_class(self) -> int:
        """Labelled examples per class held out for validation (with ``labels_per_class``; else 0).

        ``validation * labels_per_class`` rounded half up, at least 1 when
        ``validation`` is above 0.

        Example:
            >>> DataConfig(labels_per_class=5, validation=0.1).validation_per_class()
            1
            >>> DataConfig(validation=0.1).validation_per_class()  # a fraction of all examples
            0
        """
        if not self.labels_per_class or not self.validation:
            return 0
        return max(1, math.floor(self.validation * self.labels_per_class + 0.5))
