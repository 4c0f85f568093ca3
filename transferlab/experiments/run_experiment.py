"""Running a whole config: data, model (optionally pretrained on a source task), strategy, test."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from transferlab._atomic import atomic_write_text
from transferlab.config.run_config import RunConfig
from transferlab.config.strategy_config import AUTO
from transferlab.data.read_examples import read_examples
from transferlab.data.select_classes import select_classes
from transferlab.data.task_checks import check_task
from transferlab.evaluation.classification_report import ClassificationReport
from transferlab.experiments.auto_strategy import choose_strategy, start_weights
from transferlab.experiments.classifier_builder import ClassifierBuilder, builder_for
from transferlab.experiments.experiment_result import ExperimentResult
from transferlab.experiments.prepare_data import Split, limit_examples, prepare_data
from transferlab.experiments.pretrain import pretrain_backbone
from transferlab.experiments.strategy_from_config import strategy_from_config
from transferlab.training.trainer import Trainer

__all__ = ["ClassifierBuilder", "builder_for", "run_experiment", "source_weights"]

logger = logging.getLogger("transferlab.experiments")


def run_experiment(config: RunConfig, *, verbose: int | str = "auto") -> ExperimentResult:
    """Trains and evaluates what ``config`` describes; the run folder holds everything.

    Steps: load the data set; keep ``data.classes`` (re-indexed); take
    ``data.labels_per_class`` labelled examples per class (seeded) or hold out
    ``data.validation``; if ``model.pretrain_classes`` is set, first pretrain the
    backbone on those classes (the source task, with the ``model.pretrain_*``
    recipe: :func:`~transferlab.experiments.pretrain.pretrain_backbone`) and
    transfer its weights; train with the ``[strategy]`` through the :class:`Trainer`
    (``strategy.kind = "auto"``: the strategy chosen first by cross-validation on the
    labelled examples, :func:`~transferlab.experiments.auto_strategy.choose_strategy`,
    recorded in ``decisions.json`` under ``strategy_choice``); evaluate
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
    weights = source_weights(config, splits.train, verbose)
    section, choice, decided = config.strategy, None, {}
    if section.kind == AUTO:
        choice = choose_strategy(config, train, weights=weights)
        section, decided = choice.config, {"strategy_choice": choice.as_json()}
        weights = start_weights(choice.kind, weights)
    trainer = Trainer(
        builder_for(config, train, weights, kind=section.kind),
        strategy=strategy_from_config(section),
        options=config.training,
        verbose=verbose,
    )
    train_result = trainer.fit(train, validation, augment=config.augmentation(section.kind), decided=decided)
    train_seconds = time.perf_counter() - started

    report = ClassificationReport.evaluate(
        train_result.model,
        test,
        tta=config.data.tta,
        tta_preset=config.tta_preset(section.kind),
        seed=config.training.seed,
    )
    run_dir = Path(train_result.run_dir)
    if train_result.reused:
        logger.info("run %s had finished: its files are left as they are", run_dir)
    elif trainer.run_ is None or trainer.run_.is_chief:
        config.save(run_dir / "config.toml")
        atomic_write_text(run_dir / "evaluation.json", report.to_json())
        _plots(report, test, train_result.rows, run_dir)
    return ExperimentResult(config, report, run_dir, train_seconds, train_result, choice)


def source_weights(config: RunConfig, train: Split, verbose: int | str = 0) -> str | None:
    """The weights a run starts from: ``model.weights``, or the backbone pretrained on
    ``model.pretrain_classes`` of ``train`` (at most ``data.max_train`` of them; trained
    once, then reused: see :func:`~transferlab.experiments.pretrain.pretrain_backbone`)."""
    if config.model.pretrain_classes:
        source = limit_examples(select_classes(train, list(config.model.pretrain_classes)), config)
        return str(pretrain_backbone(config, source, verbose=verbose))
    return config.model.weights or None


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
