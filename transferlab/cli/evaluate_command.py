"""``transferlab evaluate``: accuracy, per-class metrics and plots of a trained model."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from transferlab.cli.config_flags import add_config_flags
from transferlab.data.load_dataset import DATASETS

if TYPE_CHECKING:  # pragma: no cover
    from transferlab.config import RunConfig

__all__ = ["register"]

HELP = "evaluate a trained model (.keras, SavedModel or run folder) on a data set's test split"


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Adds the ``evaluate`` command to the top-level parser."""
    parser = subparsers.add_parser("evaluate", help=HELP, description=HELP[0].upper() + HELP[1:] + ".")
    parser.add_argument(
        "model",
        metavar="MODEL_OR_RUN",
        help="a .keras file, a SavedModel folder, or a run folder holding model.keras "
        "(whose config.toml gives the data settings)",
    )
    parser.add_argument(
        "--dataset",
        choices=DATASETS,
        help="data set (default: the run's data.dataset, else mnist); a folder or TFRecords are read "
        "in batches, with the run's data.image_size and data.color_mode",
    )
    parser.add_argument(
        "--path", metavar="DIR", help="folder holding the data (default: the run's data.path)"
    )
    parser.add_argument(
        "--classes",
        nargs="+",
        metavar="C",
        help="classes to keep, re-indexed in this order (default: the run's data.classes)",
    )
    parser.add_argument(
        "--split",
        choices=("test", "train"),
        default="test",
        help="which split to evaluate on (default: test)",
    )
    parser.add_argument(
        "--plots",
        action="store_true",
        help="also write confusion_matrix.png and top_losses.png (needs matplotlib)",
    )
    parser.add_argument(
        "--batch-size", type=int, default=256, metavar="N", help="images per forward pass (default: 256)"
    )
    parser.add_argument(
        "--no-download", action="store_true", help="never download the data set; fail if no local copy"
    )
    add_config_flags(parser, keys=("data.tta",))  # default: the run's data.tta
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Evaluates, prints the report, and writes ``evaluation.json`` (and plots)."""
    from transferlab._atomic import atomic_write_json
    from transferlab.data.read_examples import read_examples
    from transferlab.data.select_classes import select_classes
    from transferlab.errors import ConfigError, describe
    from transferlab.evaluation import ClassificationReport
    from transferlab.serving import load_trained_model, predict

    source = Path(args.model)
    out_dir = _output_folder(source)
    config = _run_settings(source, args)
    settings = config.data
    if args.plots:
        from transferlab.evaluation.figure import new_figure

        new_figure()  # fails now, with the install hint, if matplotlib is missing
    model = load_trained_model(source)
    splits = settings.load_dataset(download=not args.no_download)
    data = splits.test if args.split == "test" else splits.train
    classes = _classes(args) if args.classes is not None else list(settings.classes)
    if classes:
        data = select_classes(data, classes)
    num_outputs = int(model.output_shape[-1])
    if num_outputs != data.num_classes:
        raise ConfigError(
            describe(
                "The model's outputs and the data's classes differ in number",
                received=f"{num_outputs} outputs, {data.num_classes} classes "
                f"{list(data.class_names)} in the {args.split} split",
                fix=f"pass --classes with the {num_outputs} classes the model was trained on, "
                f"in its label order (e.g. --classes {' '.join(data.class_names[:num_outputs])})",
            )
        )
    if settings.tta:  # test-time augmentation, as a run evaluates with it
        if len(data):  # the images fit the model, said as without tta (one image read)
            predict(model, data.take([0]))
        report = ClassificationReport.evaluate(
            model,
            data,
            batch_size=args.batch_size,
            tta=settings.tta,
            tta_preset=config.tta_preset(),
            seed=config.training.seed,
        )
    else:
        predictions = predict(model, data, batch_size=args.batch_size)
        report = ClassificationReport.from_probabilities(
            predictions.probabilities, data.labels, data.class_names
        )
    print(report.to_text())
    record = {
        "model": str(source),
        "dataset": settings.dataset,
        "path": settings.path or None,
        "split": args.split,
        "classes": list(data.class_names),
        "tta": settings.tta,
        **report.to_dict(),
    }
    written = [atomic_write_json(out_dir / "evaluation.json", record)]
    if args.plots:
        from transferlab.evaluation import plot_confusion_matrix, plot_top_losses

        plot_confusion_matrix(report, out_dir / "confusion_matrix.png", title=str(source))
        top = report.top_losses()  # only the images shown are read
        plot_top_losses(
            report.subset(top), read_examples(data, top), out_dir / "top_losses.png", title=str(source)
        )
        written += [out_dir / "confusion_matrix.png", out_dir / "top_losses.png"]
    print("wrote " + ", ".join(str(p) for p in written))
    return 0


def _output_folder(source: Path) -> Path:
    """The run folder, or the folder holding the model file (or the SavedModel folder)."""
    if source.is_dir() and not (source / "saved_model.pb").is_file():
        return source
    return source.parent


def _run_settings(source: Path, args: argparse.Namespace) -> RunConfig:
    """The run's ``config.toml`` (else the defaults), with the flags applied to its ``[data]``.

    Its ``[data]`` says what is read and how, ``training.seed`` seeds test-time augmentation.
    """
    from transferlab.cli.config_flags import config_overrides
    from transferlab.config import RunConfig

    config_file = _output_folder(source) / "config.toml"
    config = RunConfig.load(config_file) if config_file.is_file() else RunConfig()
    # unset flags are None, which with_overrides skips
    return config.with_overrides(
        {"data.dataset": args.dataset, "data.path": args.path, **config_overrides(args)}
    )


def _classes(args: argparse.Namespace) -> list[int | str]:
    """``--classes``: label indices, or class names."""
    return [int(c) if c.lstrip("-").isdigit() else c for c in args.classes]
