"""``transferlab train``: train and evaluate from a TOML config, flags, or both."""

from __future__ import annotations

import argparse

from transferlab.cli.config_flags import add_config_flags, resolved_config
from transferlab.config.recipes import RECIPES

__all__ = ["register"]

HELP = "train and evaluate a model from a TOML config and/or flags (flags override the file)"

EPILOG = """\
examples:
  transferlab train --config examples/few_shot_transfer.toml
  transferlab train --recipe few_shot --classes 5 6 7 8 9 --labels-per-class 10 \\
      --weights backbone.weights.h5
  transferlab train --backbone alexnet --kind feature_extraction --classes 5 6 7 8 9 \\
      --labels-per-class 10 --validation 0.2 --pretrain-classes 0 1 2 3 4
  transferlab train --backbone vgg16 --weights imagenet --kind fine_tune --top 2 \\
      --learning-rate 1e-3 --finetune-learning-rate 1e-4 --early-stopping 2

Every flag is a config key with dashes (strategy.learning_rate is --learning-rate;
--strategy is an alias of --kind); flags override the file. The config that ran is
saved as config.toml in the run folder: run it again with
`transferlab train --config runs/<name>/config.toml` to reproduce the run.
Ctrl-C stops a run; the same command resumes it where it stopped.
"""


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Adds the ``train`` command to the top-level parser."""
    parser = subparsers.add_parser(
        "train",
        help=HELP,
        description=HELP[0].upper() + HELP[1:] + ".",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--config", metavar="FILE", help="a TOML run config (see examples/*.toml)")
    parser.add_argument(
        "--recipe",
        choices=list(RECIPES),
        help="a recommended recipe (transferlab.config.recipes), applied over the config file; "
        "flags override it",
    )
    parser.add_argument("--quiet", action="store_true", help="no Keras progress bars")
    add_config_flags(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Resolves the config, runs it, prints the report and where the run folder is."""
    from transferlab.experiments.run_experiment import run_experiment

    config = resolved_config(args)
    result = run_experiment(config, verbose=0 if args.quiet else "auto")
    print()
    print(result.report.to_text())
    if result.strategy_choice is not None:
        choice = result.strategy_choice
        scores = ", ".join(f"{kind} {score:.4f}" for kind, score in choice.scores.items())
        print(f"\nstrategy auto chose {choice.kind}: {choice.reason}" + (f" ({scores})" if scores else ""))
    print(f"\ntest accuracy {result.test_accuracy:.4f}; trained in {result.train_seconds:.1f} s")
    print(f"run folder: {result.run_dir}")
    return 0
