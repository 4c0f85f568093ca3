"""``transferlab pretrain``: pretrain a backbone on a source data set, write it for ``model.weights``."""

from __future__ import annotations

import argparse
import sys

from transferlab.cli.config_flags import add_config_flags
from transferlab.config.run_config import RunConfig

__all__ = ["NOT_APPLICABLE", "register"]

HELP = "pretrain a backbone on a source data set (its classes, all examples) and write it for model.weights"

#: Config keys that say nothing about a pretraining (no flag here; a file that sets one is refused
#: when it would change what is trained): the target's few labels, validation, augmentation and
#: test-time augmentation, the source classes of a run that pretrains itself, the strategy, the
#: target's schedule (the recipe's is model.pretrain_schedule) and the run folder's overwrite
#: (`--overwrite` here replaces the backbone file); `--batch-size` is the pretraining's batch
#: size here, so model.pretrain_batch_size has no flag either.
NOT_APPLICABLE = (
    "data.labels_per_class",
    "data.validation",
    "data.augment",
    "data.augment_strength",
    "data.tta",
    "model.pretrain_classes",
    "model.pretrain_batch_size",
    "training.overwrite",
    "training.schedule",
)

EPILOG = """\
examples:
  transferlab pretrain --classes 0 1 2 3 4 --width 0.5 --out digits04.weights.h5
  transferlab train --classes 5 6 7 8 9 --labels-per-class 10 --width 0.5 \\
      --weights digits04.weights.h5 --kind feature_extraction
  transferlab pretrain --dataset folder --path photos --image-size 64 64 --out photos.weights.h5
  transferlab pretrain --config source.toml --pretrain-epochs 20 --out source.weights.h5

The [data] section names the source: its classes (--classes; all when empty), all of
their training examples (at most --max-train). The recipe is the [model] pretrain_* keys:
every layer trains, --pretrain-epochs at --pretrain-learning-rate along
--pretrain-schedule, batches augmented with --pretrain-augment, --pretrain-label-smoothing.
The run goes to runs/<backbone>-pretrain-<digest>/ and leaves the backbone there; the
same command again reuses it (Ctrl-C, then the same command, resumes). Load the file with
model.weights (--weights) in a run with the same backbone, width and input size.
"""


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Adds the ``pretrain`` command to the top-level parser."""
    parser = subparsers.add_parser(
        "pretrain",
        help=HELP,
        description=HELP[0].upper() + HELP[1:] + ".",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--config", metavar="FILE", help="a TOML run config: [data] names the source, [model] the recipe"
    )
    parser.add_argument(
        "--out",
        metavar="FILE",
        help="also write the backbone here (.weights.h5 or .keras); default: only in the run folder",
    )
    parser.add_argument("--overwrite", action="store_true", help="replace the --out file if it exists")
    parser.add_argument("--quiet", action="store_true", help="no Keras progress bars")
    add_config_flags(parser, keys=_keys())
    parser.set_defaults(run=run)


def _keys() -> list[str]:
    """The config keys this command has a flag for: [data], [model] and [training], less NOT_APPLICABLE."""
    mapping = RunConfig().to_mapping()
    return [
        f"{section}.{key}"
        for section in ("data", "model", "training")
        for key in mapping[section]
        if f"{section}.{key}" not in NOT_APPLICABLE
    ]


def run(args: argparse.Namespace) -> int:
    """Resolves the config, pretrains (or reuses the pretraining), prints where the backbone is."""
    from transferlab.cli.config_flags import resolved_config
    from transferlab.data.task_checks import check_task
    from transferlab.experiments.prepare_data import prepare_data
    from transferlab.experiments.pretrain import check_backbone_file, pretrain_backbone

    config = resolved_config(args)
    _refuse_target_settings(config)
    if args.out:
        check_backbone_file(args.out, overwrite=args.overwrite)  # before any reading or training
    _, source, _, _ = prepare_data(config)
    for warning in check_task(source, target_classes=config.data.classes):
        print(f"warning: {warning}", file=sys.stderr)
    model = config.model
    print(f"pretraining {model.backbone} on {len(source)} examples of {source.num_classes} classes")
    path = pretrain_backbone(
        config, source, out=args.out, overwrite=args.overwrite, verbose=0 if args.quiet else "auto"
    )
    print(f"pretrained backbone: {path}")
    shape = [f"--backbone {model.backbone}"]
    shape += [f"--width {model.width:g}"] if model.width != 1.0 else []
    shape += ["--input-size " + " ".join(map(str, model.input_size))] if model.input_size else []
    print(f"transfer it: transferlab train {' '.join(shape)} --weights {path} ...")
    return 0


def _refuse_target_settings(config: RunConfig) -> None:
    """A config that cuts the source as a target (few labels, validation) or pretrains itself is refused."""
    from transferlab.errors import ConfigError, describe

    defaults = RunConfig()
    batch, pretrain_batch = config.training.batch_size, config.model.pretrain_batch_size
    if pretrain_batch and batch != defaults.training.batch_size and batch != pretrain_batch:
        raise ConfigError(
            describe(
                "Two batch sizes for one pretraining",
                received=f"training.batch_size={batch} (--batch-size), model.pretrain_batch_size={pretrain_batch}",
                fix="keep one: --batch-size sets the pretraining's batch size here",
            )
        )
    for key in ("data.labels_per_class", "data.validation", "model.pretrain_classes"):
        section, _, name = key.partition(".")
        value = getattr(getattr(config, section), name)
        if value != getattr(getattr(defaults, section), name):
            raise ConfigError(
                describe(
                    f"`{key}` does not apply to `transferlab pretrain`",
                    received=f"{key}={list(value) if isinstance(value, tuple) else value!r}",
                    fix="remove it from the config file: the pretraining trains on all the training "
                    "examples of the classes `data.classes` (--classes; at most `data.max_train`), so "
                    "a run's source classes are passed as `data.classes`",
                )
            )
