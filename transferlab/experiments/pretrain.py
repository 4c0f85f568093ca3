"""Pretraining a backbone on a source task: the recipe, its run, the backbone file it writes."""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path

import keras

from transferlab._version import __version__
from transferlab.backbones.backbone_weights import _SUFFIXES as WEIGHTS_SUFFIXES
from transferlab.backbones.backbone_weights import save_backbone
from transferlab.config.run_config import RunConfig
from transferlab.config.strategy_config import StrategyConfig
from transferlab.data.augmentation import make_augmentation
from transferlab.data.source import as_source
from transferlab.errors import ConfigError, describe
from transferlab.experiments.classifier_builder import builder_for
from transferlab.experiments.prepare_data import Split
from transferlab.experiments.strategy_from_config import strategy_from_config
from transferlab.training.trainer import Trainer

__all__ = ["BACKBONE_FILE", "check_backbone_file", "pretrain_backbone", "pretrain_run_name"]

logger = logging.getLogger("transferlab.experiments")

#: The backbone file a pretraining run leaves in its run folder.
BACKBONE_FILE = "pretrained_backbone.weights.h5"


def pretrain_backbone(
    config: RunConfig,
    source_data: Split,
    *,
    out: str | os.PathLike[str] | None = None,
    overwrite: bool = False,
    verbose: int | str = 0,
) -> Path:
    """Trains the config's backbone on a source task; returns the backbone file it wrote.

    The recipe is the ``[model]`` section's ``pretrain_*`` keys: the backbone
    starts from ``model.weights`` (random when empty) under a new head for the
    source classes, and every group trains from the first step, BatchNorm
    fully, on all of ``source_data`` for ``pretrain_epochs`` epochs at
    ``pretrain_learning_rate`` (the peak of ``pretrain_schedule``), each batch
    augmented with the ``pretrain_augment`` preset, with
    ``pretrain_label_smoothing``, in batches of ``pretrain_batch_size`` (0: the
    ``[training]`` one). The ``[training]`` options (seed, precision,
    devices...) apply; ``[strategy]`` does not.

    The run is ``<run_dir>/<backbone>-pretrain-<digest>`` (:func:`pretrain_run_name`),
    named after everything it depends on, and leaves its backbone there as
    :data:`BACKBONE_FILE` once it has finished (atomically): a later call that
    shares it reuses that file without training, and an interrupted one resumes.

    Args:
        config: The run config (its ``[model]`` and ``[training]`` sections).
        source_data: The source task's training examples, labels ``0..k-1``.
        out: Also write the backbone here (``.weights.h5`` or ``.keras``,
            atomically), for ``model.weights = "<out>"``.
        overwrite: Replace ``out`` if it exists.
        verbose: Keras' progress output (``"auto"``, 0, 1, 2).

    Returns:
        ``out`` if given, else the backbone file in the run folder.

    Raises:
        ConfigError: ``out`` with another suffix, a folder, or an existing file
            without ``overwrite`` (checked before any training).
    """
    out_path = None if out is None else check_backbone_file(out, overwrite=overwrite)
    # the source task's head is dense (softmax), its batch size model.pretrain_batch_size (0: the run's)
    config = config.with_overrides(
        {
            "model.head": "dense",
            "training.batch_size": config.model.pretrain_batch_size or config.training.batch_size,
        }
    )
    name = pretrain_run_name(config, source_data)
    target = config.training.runs_path / name / BACKBONE_FILE
    if target.is_file():
        logger.info("reusing the pretrained backbone %s", target)
    else:
        _train(config, source_data, name, target, verbose)
    if out_path is None:
        return target
    # The file, loaded into a backbone as `model.weights` would load it, written as asked.
    return save_backbone(builder_for(config, source_data, str(target))(), out_path)


def pretrain_run_name(config: RunConfig, source_data: Split) -> str:
    """The pretraining run's name: ``<backbone>-pretrain-<digest>``.

    The digest covers what the pretraining depends on: the source examples
    (their fingerprint), the ``[model]`` section (backbone, start weights,
    recipe) and the ``[training]`` options, so runs and commands that share a
    pretraining train it once. The target's ``training.schedule``,
    ``model.head`` (the source task's is dense) and ``model.pretrain_classes``
    (already in the examples) are left out.
    """
    model = config.model.to_mapping()
    # the head is always dense; the batch size is training.batch_size by now (pretrain_backbone)
    for target_only in ("pretrain_classes", "head", "pretrain_batch_size"):
        model.pop(target_only)
    training = config.training.to_mapping()
    for not_used in ("run_name", "schedule"):
        training.pop(not_used)
    key = {
        "source": as_source(source_data).fingerprint(),
        "model": model,
        "training": training,
        "transferlab": __version__,
    }
    digest = hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()
    return f"{config.model.backbone}-pretrain-{digest[:8]}"


def _train(config: RunConfig, source_data: Split, name: str, target: Path, verbose: int | str) -> None:
    model = config.model
    strategy = StrategyConfig(
        kind="fine_tune",
        epochs=model.pretrain_epochs,
        warmup_epochs=0,
        learning_rate=model.pretrain_learning_rate,
        batchnorm="train",
    )
    trainer = Trainer(
        builder_for(config, source_data, model.weights or None),
        strategy=strategy_from_config(strategy),
        options=config.training.replace(run_name=name, schedule=model.pretrain_schedule),
        loss=_loss(model.pretrain_label_smoothing),
        verbose=verbose,
    )
    augment = None
    if model.pretrain_augment != "none":
        augment = make_augmentation(model.pretrain_augment, seed=config.training.seed)
    result = trainer.fit(source_data, augment=augment)
    save_backbone(result.model.backbone, target)
    logger.info("pretrained %s on %d examples: %s", model.backbone, len(source_data), target)


def _loss(label_smoothing: float) -> str | keras.losses.Loss:
    if not label_smoothing:
        return "sparse_categorical_crossentropy"
    return _SmoothedSparseCrossentropy(label_smoothing)


@keras.saving.register_keras_serializable(package="transferlab")
class _SmoothedSparseCrossentropy(keras.losses.Loss):
    """Cross-entropy of integer labels against probabilities, with label smoothing.

    Keras' ``SparseCategoricalCrossentropy`` takes no ``label_smoothing``: the
    labels become one-hot here, in the loss, so the pipelines and the
    ``accuracy`` metric keep their integer labels.
    """

    def __init__(
        self, label_smoothing: float = 0.1, *, name: str = "smoothed_sparse_crossentropy", **kwargs: object
    ) -> None:
        super().__init__(name=name, **kwargs)
        self.label_smoothing = float(label_smoothing)

    def call(self, y_true: keras.KerasTensor, y_pred: keras.KerasTensor) -> keras.KerasTensor:
        labels = keras.ops.reshape(keras.ops.cast(y_true, "int32"), (-1,))
        one_hot = keras.ops.one_hot(labels, keras.ops.shape(y_pred)[-1], dtype=y_pred.dtype)
        return keras.losses.categorical_crossentropy(one_hot, y_pred, label_smoothing=self.label_smoothing)

    def get_config(self) -> dict[str, object]:
        return {**super().get_config(), "label_smoothing": self.label_smoothing}


def check_backbone_file(out: str | os.PathLike[str], *, overwrite: bool = False) -> Path:
    """``out`` as a path, if a backbone file may be written there (before any training).

    Raises:
        ConfigError: Another suffix than ``.weights.h5`` / ``.keras``, a folder,
            or an existing file without ``overwrite``.

    Example:
        >>> check_backbone_file("digits.h5")
        Traceback (most recent call last):
        ...
        transferlab.errors.ConfigError: The backbone file must be a '.weights.h5' or a '.keras' file. Received: out='digits.h5'. Fix: end the file name with .weights.h5 (weights only) or .keras.
    """
    path = Path(out)
    if not str(path).endswith(WEIGHTS_SUFFIXES):
        raise ConfigError(
            describe(
                "The backbone file must be a '.weights.h5' or a '.keras' file",
                received=f"out={str(path)!r}",
                fix="end the file name with .weights.h5 (weights only) or .keras",
            )
        )
    if path.is_dir():
        raise ConfigError(
            describe("The backbone file names a folder", received=f"out={str(path)!r}", fix="name a file")
        )
    if path.exists() and not overwrite:
        raise ConfigError(
            describe(
                "The backbone file exists already",
                received=f"out={str(path)!r}",
                fix="pass another file, or --overwrite (overwrite=True) to replace it",
            )
        )
    return path
