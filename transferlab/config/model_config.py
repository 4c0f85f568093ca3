"""The ``[model]`` section of a run config."""

from __future__ import annotations

import dataclasses

from transferlab.backbones.classifier import HEADS
from transferlab.config_section import ConfigSection, field
from transferlab.data.augmentation import AUGMENTATION_PRESETS
from transferlab.errors import ConfigError, describe
from transferlab.strategies.build_optimizer import SCHEDULES

__all__ = ["ModelConfig"]


@dataclasses.dataclass(frozen=True)
class ModelConfig(ConfigSection):
    """Which backbone, which weights, which head.

    Example:
        >>> ModelConfig(backbone="vgg16", weights="imagenet").input_size
        ()
    """

    SECTION = "model"

    backbone: str = field("alexnet", "Registered backbone name (see `transferlab backbones`).")
    weights: str = field("", "Empty for random, 'imagenet', or a weights/.keras file path.")
    input_size: tuple[int, ...] = field((), "(height, width) fed to the backbone; empty: auto.")
    width: float = field(1.0, "Width multiplier, for backbones that take one (AlexNet).")
    pooling: str = field("avg", "How the feature map becomes a vector.", choices=("avg", "max", "flatten"))
    dropout: float = field(0.0, "Dropout rate before the head.")
    head: str = field(
        "auto",
        "The head's last layer: dense, cosine (a learnt scale x cosine similarity), or auto "
        "(cosine for strategy prototypes, which needs it; else dense).",
        choices=("auto", *HEADS),
    )
    pretrain_classes: tuple[int, ...] = field(
        (), "If set: first pretrain the backbone on these classes (source task), then transfer."
    )
    # The source-task recipe (model.pretrain_classes, and `transferlab pretrain`): every group
    # trains from model.weights (random when empty), BatchNorm fully, on all the source examples.
    pretrain_epochs: int = field(10, "Epochs of the source-task pretraining.")
    pretrain_learning_rate: float = field(1e-3, "Peak learning rate of the source-task pretraining.")
    pretrain_schedule: str = field(
        "cosine",
        "Learning-rate schedule of the source-task pretraining (as training.schedule).",
        choices=SCHEDULES,
    )
    pretrain_augment: str = field(
        "standard",
        "Augmentation preset of the source-task pretraining (as data.augment; none: off).",
        choices=tuple(AUGMENTATION_PRESETS),
    )
    pretrain_label_smoothing: float = field(
        0.0, "Label smoothing of the source-task loss, in [0, 1); 0: plain cross-entropy."
    )
    pretrain_batch_size: int = field(
        0, "Batch size of the source-task pretraining; 0: training.batch_size (the target's)."
    )

    def validate(self) -> None:
        if self.input_size and len(self.input_size) != 2:
            raise ConfigError(
                describe(
                    "`model.input_size` must be [height, width] or empty",
                    received=f"model.input_size={list(self.input_size)}",
                )
            )
        if not 0 <= self.dropout < 1:
            raise ConfigError(
                describe("`model.dropout` must be in [0, 1)", received=f"model.dropout={self.dropout}")
            )
        if self.width <= 0:
            raise ConfigError(describe("`model.width` must be > 0", received=f"model.width={self.width}"))
        if self.pretrain_epochs < 1:
            raise ConfigError(
                describe(
                    "`model.pretrain_epochs` must be >= 1",
                    received=f"model.pretrain_epochs={self.pretrain_epochs}",
                )
            )
        if self.pretrain_batch_size < 0:
            raise ConfigError(
                describe(
                    "`model.pretrain_batch_size` must be >= 0",
                    received=f"model.pretrain_batch_size={self.pretrain_batch_size}",
                    fix="use 0 for training.batch_size, or a batch size such as 64",
                )
            )
        if self.pretrain_learning_rate <= 0:
            raise ConfigError(
                describe(
                    "`model.pretrain_learning_rate` must be > 0",
                    received=f"model.pretrain_learning_rate={self.pretrain_learning_rate}",
                )
            )
        if not 0 <= self.pretrain_label_smoothing < 1:
            raise ConfigError(
                describe(
                    "`model.pretrain_label_smoothing` must be in [0, 1)",
                    received=f"model.pretrain_label_smoothing={self.pretrain_label_smoothing}",
                    fix="pass e.g. 0.1, or 0 for plain cross-entropy",
                )
            )
