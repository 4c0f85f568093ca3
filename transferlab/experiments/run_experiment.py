"""Running a whole config: data, model (optionally pretrained on a source task), strategy, test."""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import logging
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Protocol

import keras

from transferlab._atomic import atomic_write_text
from transferlab._version import __version__
from transferlab.backbones.backbone_weights import save_backbone
from transferlab.backbones.classifier import Classifier, build_classifier
from transferlab.config.run_config import RunConfig
from transferlab.config.strategy_config import StrategyConfig
from transferlab.data.augmentation import make_augmentation
from transferlab.data.read_examples import read_examples
from transferlab.data.select_classes import select_classes
from transferlab.data.source import as_source
from transferlab.data.task_checks import check_task
from transferlab.evaluation.classification_report import ClassificationReport
from transferlab.experiments.experiment_result import ExperimentResult
from transferlab.experiments.prepare_data import Split, limit_examples, prepare_data
from transferlab.experiments.strategy_from_config import strategy_from_config
from transferlab.training.trainer import Trainer

__all__ = ["ClassifierBuilder", "builder_for", "run_experiment", "source_weights"]

logger = logging.getLogger("transferlab.experiments")


class ClassifierBuilder(Protocol):
    """Builds a run's classifier, in the given precision (the Trainer calls it inside its scope)."""

    def __call__(self, precision: str = "float32") -> Classifier: ...


def run_experiment(config: RunConfig, *, verbose: int | str = "auto") -> ExperimentResult:
    """Trains and evaluates what ``config`` describes; the run folder holds everything.

    Steps: load the data set; keep ``data.classes`` (re-indexed); take
    ``data.labels_per_class`` labelled examples per class (seeded) or hold out
    ``data.validation``; if ``model.pretrain_classes`` is set, first train the
    backbone from scratch on those classes (the source task) and transfer its
    weights; train with the ``[strategy]`` through the :class:`Trainer`; evaluate
    on the test split of the same classes. The run folder gets the resolved
    ``config.toml`` (run it again to reproduce the run), ``evaluation.json`` and,
    with matplotlib installed, ``training_curves.png``, ``confusion_matrix.png``
    and ``top_losses.png``.

    With ``data.labels_per_class`` set there is no validation split: a few-shot
    run has only its few labels, and the test split measures the result.

    An image folder or TFRecords (``data.dataset = "folder"`` or
    ``"tfrecord"``) are never loaded into memory: training, the test
    evaluation and the plots read them batch by batch (the top-losses plot
    reads its few images alone).

    Args:
        config: The run's config.
        verbose: Keras' progress output (``"auto"``, 0, 1, 2).

    Returns:
        An :class:`ExperimentResult`.
    """
    splits, train, validation, test = prepare_data(config)
    # Before any training (the source task's included): a degenerate task is refused here.
    for warning in check_task(
        train, source_classes=config.model.pretrain_classes, target_classes=config.data.classes
    ):
        logger.warning("%s", warning)

    started = time.perf_counter()
    build = builder_for(config, train, source_weights(config, splits.train, verbose))
    trainer = Trainer(
        build, strategy=strategy_from_config(config.strategy), options=config.training, verbose=verbose
    )
    train_result = trainer.fit(train, validation, augment=_augmentation(config))
    train_seconds = time.perf_counter() - started

    report = ClassificationReport.evaluate(train_result.model, test)
    run_dir = Path(train_result.run_dir)
    if train_result.reused:
        logger.info("run %s had finished: its files are left as they are", run_dir)
    elif trainer.run_ is None or trainer.run_.is_chief:
        config.save(run_dir / "config.toml")
        atomic_write_text(run_dir / "evaluation.json", report.to_json())
        _plots(report, test, train_result.rows, run_dir)
    return ExperimentResult(config, report, run_dir, train_seconds, train_result)


def source_weights(config: RunConfig, train: Split, verbose: int | str = 0) -> str | None:
    """The weights a run starts from: ``model.weights``, or the backbone pretrained on
    ``model.pretrain_classes`` of ``train`` (trained once, then reused)."""
    if config.model.pretrain_classes:
        return str(_pretrain(config, train, verbose))
    return config.model.weights or None


def builder_for(config: RunConfig, data: Split, weights: str | None) -> ClassifierBuilder:
    """The classifier builder (for ``data``'s classes and image shape) the Trainer calls inside its scope."""
    input_shape = as_source(data).element_shape

    def build(precision: str = "float32") -> Classifier:
        build_it = functools.partial(
            build_classifier,
            config.model.backbone,
            data.num_classes,
            input_shape=input_shape,
            input_size=tuple(config.model.input_size) or "auto",
            weights=weights,
            pooling=config.model.pooling,
            dropout=config.model.dropout,
            precision=precision,
        )
        # `width` only when not the default: not every backbone's builder takes one
        return build_it(width=config.model.width) if config.model.width != 1.0 else build_it()

    return build


def _augmentation(config: RunConfig) -> keras.Sequential | None:
    if config.data.augment == "none":
        return None
    return make_augmentation(
        config.data.augment, strength=config.data.augment_strength, seed=config.training.seed
    )


def _pretrain_run_name(config: RunConfig) -> str:
    """Named after what the pretraining depends on, so runs that share it train it once."""
    data = config.data.to_mapping()
    for target_only in ("classes", "labels_per_class", "validation"):
        data.pop(target_only)
    training = config.training.to_mapping()
    training.pop("run_name")
    key = {"data": data, "model": config.model.to_mapping(), "training": training, "transferlab": __version__}
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()
    return f"{config.model.backbone}-pretrain-{digest[:8]}"


def _pretrain(config: RunConfig, train: Split, verbose: int | str) -> Path:
    """Trains the backbone from scratch on the source classes; returns its saved weights.

    The pretraining run is named after everything it depends on, and its backbone is
    saved (atomically) only once it has finished: an existing file is that run's result,
    reused by every config that shares it.
    """
    name = _pretrain_run_name(config)
    target = config.training.runs_path / name / "pretrained_backbone.weights.h5"
    if target.is_file():
        logger.info("reusing the pretrained backbone %s", target)
        return target
    source = limit_examples(select_classes(train, list(config.model.pretrain_classes)), config)
    # Every group trains, BatchNorm fully, from model.weights (random when empty).
    source_config = dataclasses.replace(
        config,
        model=dataclasses.replace(config.model, pretrain_classes=()),
        strategy=StrategyConfig(
            kind="fine_tune",
            epochs=config.model.pretrain_epochs,
            warmup_epochs=0,
            learning_rate=config.model.pretrain_learning_rate,
            batchnorm="train",
        ),
    )
    build = builder_for(config, source, config.model.weights or None)
    trainer = Trainer(
        build,
        strategy=strategy_from_config(source_config.strategy),
        options=source_config.training.replace(run_name=name),
        verbose=verbose,
    )
    result = trainer.fit(source, augment=_augmentation(config))
    save_backbone(result.model.backbone, target)
    logger.info(
        "pretrained %s on classes %s: %s", config.model.backbone, list(config.model.pretrain_classes), target
    )
    return target


def _plots(
    report: ClassificationReport, test: Split, rows: Sequence[Mapping[str, object]], run_dir: Path
) -> None:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        logger.info("matplotlib is not installed: no plots (pip install 'transferlab[plot]')")
        return
    from transferlab.evaluation import plot_confusion_matrix, plot_top_losses, plot_training_curves

    plot_confusion_matrix(report, run_dir / "confusion_matrix.png")
    top = report.top_losses()  # only the images shown are read
    plot_top_losses(report.subset(top), read_examples(test, top), run_dir / "top_losses.png")
    if rows:
        plot_training_curves(rows, run_dir / "training_curves.png")
