"""The quickstart: pretrain on digits 0-4, transfer to 5-9 with few labels, beside scratch."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from transferlab.backbones.registry import get_backbone_info
from transferlab.config.data_config import DataConfig
from transferlab.config.model_config import ModelConfig
from transferlab.config.recipes import FEW_SHOT
from transferlab.config.run_config import RunConfig
from transferlab.config.strategy_config import StrategyConfig
from transferlab.experiments.experiment_result import ExperimentResult
from transferlab.experiments.run_experiment import run_experiment
from transferlab.experiments.strategy_from_config import strategy_from_config
from transferlab.training.options import TrainingOptions

__all__ = ["format_quickstart_table", "quickstart_configs", "run_quickstart"]

SOURCE = (0, 1, 2, 3, 4)
TARGET = (5, 6, 7, 8, 9)


def quickstart_configs(
    *,
    backbone: str = "alexnet",
    weights: str = "",
    labels_per_class: int = 5,
    seed: int = 0,
    run_dir: str = "runs",
    short: bool = False,
) -> dict[str, RunConfig]:
    """The runs the quickstart makes, by method name.

    Without ``weights`` the backbone is first pretrained from scratch on digits
    0-4 (the source task; one run shared by the transfer methods). With
    ``weights="imagenet"`` (online) or a file, those weights are the source.
    Every method then learns digits 5-9 from ``labels_per_class`` labels per
    class, and is tested on all test digits 5-9: ``lp_ft``, the recommended
    recipe (:data:`~transferlab.config.recipes.FEW_SHOT`), ``fine_tune`` (a
    frozen warm-up, then every group) as the alternative, and ``scratch``, each
    for the same number of epochs.

    Args:
        backbone: A registered backbone name.
        weights: ``""`` (pretrain on 0-4), ``"imagenet"`` or a weights file.
        labels_per_class: Labelled target examples per class.
        seed: Seed of the label sample, data order and initial weights.
        run_dir: Folder of the run folders.
        short: A CI-sized run: a narrow network and a small source set.

    Example:
        >>> configs = quickstart_configs(short=True)
        >>> list(configs)
        ['lp_ft', 'fine_tune', 'scratch']
        >>> configs["lp_ft"].strategy.kind, configs["lp_ft"].data.augment  # the recommended recipe
        ('lp_ft', 'standard')
        >>> configs["fine_tune"].model.pretrain_classes, configs["scratch"].model.pretrain_classes
        ((0, 1, 2, 3, 4), ())
        >>> configs["scratch"].training.deterministic, configs["scratch"].data.validation
        (True, 0.0)
    """
    # every label trains (no validation split): the table compares methods on the same few labels
    data = DataConfig(
        classes=TARGET, labels_per_class=labels_per_class, validation=0.0, max_train=2000 if short else 0
    )
    # The source: the recipe's pretraining (model.pretrain_* defaults, its batch size); 1 epoch with short.
    model = ModelConfig(
        backbone=backbone,
        weights=weights,
        width=0.25 if short and backbone == "alexnet" else 1.0,
        pretrain_classes=() if weights else SOURCE,
        pretrain_epochs=1 if short else ModelConfig().pretrain_epochs,
    )
    # deterministic kernels: the same seed prints the same table on any machine of a kind
    training = TrainingOptions(batch_size=16, seed=seed, deterministic=True, run_dir=run_dir)
    epochs = 20 if short else 40
    source = {key: value for key, value in FEW_SHOT.items() if key.startswith("model.")}
    base = RunConfig(data=data, model=model, training=training).with_overrides(source)
    # The recommended recipe (recipes.FEW_SHOT), the classic warm-up-then-fine-tune as the
    # alternative, and the same labels from random weights, each for the same epochs.
    configs = {
        "lp_ft": base.with_overrides({**FEW_SHOT, "strategy.epochs": epochs}),
        "fine_tune": dataclasses.replace(
            base,
            strategy=StrategyConfig(
                kind="fine_tune",
                warmup_epochs=epochs // 2,
                epochs=epochs // 2,
                learning_rate=3e-3,
                finetune_learning_rate=1e-3,
                batchnorm="train",
            ),
        ),
        "scratch": dataclasses.replace(
            base,
            model=dataclasses.replace(base.model, weights="", pretrain_classes=()),
            strategy=StrategyConfig(kind="scratch", warmup_epochs=0, epochs=epochs, learning_rate=1e-3),
        ),
    }
    return configs


def run_quickstart(
    *, progress: Callable[[str], None] | None = None, verbose: int | str = 0, **options: object
) -> dict[str, ExperimentResult]:
    """Runs every quickstart config (see :func:`quickstart_configs` for ``options``).

    Args:
        progress: Called with a line before each run (what it trains) and one
            after it (its test accuracy and time), e.g. ``print``.
        verbose: The training progress of each run (``"auto"``, 0, 1, 2, as
            :class:`~transferlab.training.Trainer` takes it): 2 prints a line per epoch.
        **options: Passed to :func:`quickstart_configs`.

    Returns:
        ``{method: ExperimentResult}``.
    """
    results = {}
    configs = quickstart_configs(**options)  # type: ignore[arg-type]
    for number, (method, config) in enumerate(configs.items(), 1):
        if progress is not None:
            progress(f"[{number}/{len(configs)} {method}] {_describe(config)}")
        result = run_experiment(config, verbose=verbose)
        if progress is not None:
            progress(
                f"[{number}/{len(configs)} {method}] test accuracy {result.test_accuracy:.2%} "
                f"in {result.train_seconds:.0f} s"
            )
        results[method] = result
    return results


def format_quickstart_table(results: dict[str, ExperimentResult]) -> str:
    """A Markdown table: method, its source weights, test accuracy, run folder.

    Only what the seed fixes is in it (no times), so the same seed prints the
    same table on any machine of a kind.

    Example:
        >>> print(format_quickstart_table({}))
        | method | source weights | test accuracy (digits 5-9) | run folder |
        |---|---|---|---|
    """
    lines = [
        "| method | source weights | test accuracy (digits 5-9) | run folder |",
        "|---|---|---|---|",
    ]
    for method, result in results.items():
        model = result.config.model
        source = (
            "digits " + "-".join(map(str, (model.pretrain_classes[0], model.pretrain_classes[-1])))
            if model.pretrain_classes
            else (model.weights or "none (random)")
        )
        lines.append(f"| {method} | {source} | {result.test_accuracy:.2%} | {result.run_dir} |")
    return "\n".join(lines)


def _describe(config: RunConfig) -> str:
    phases = strategy_from_config(config.strategy).phases(get_backbone_info(config.model.backbone))
    source = (
        "pretrained on digits 0-4"
        if config.model.pretrain_classes
        else (config.model.weights or "random weights")
    )
    return (
        f"{config.model.backbone} ({source}), {config.data.labels_per_class} labels per class of "
        f"digits 5-9, phases: " + ", ".join(f"{p.name} {p.epochs} epochs" for p in phases)
    )
