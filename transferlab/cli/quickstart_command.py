"""``transferlab quickstart``: the seed article's idea done right, on real MNIST, in minutes."""

from __future__ import annotations

import argparse

__all__ = ["register"]

HELP = "pretrain on digits 0-4, transfer to 5-9 with few labels, compare with scratch"

DESCRIPTION = """\
Pretrains the backbone (AlexNet by default) on MNIST digits 0-4, then learns digits 5-9
from a few labels per class by feature extraction and by fine-tuning, beside the same
network trained from scratch on the same labels, and prints the test accuracies.
With internet access: --backbone vgg16 --weights imagenet (or inception_v3).
"""


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Adds the ``quickstart`` command to the top-level parser."""
    parser = subparsers.add_parser(
        "quickstart", help=HELP, description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--backbone", default="alexnet", help="registered backbone (default alexnet)")
    parser.add_argument(
        "--weights", default="", help="'imagenet' or a weights file instead of pretraining on digits 0-4"
    )
    parser.add_argument(
        "--labels-per-class",
        type=int,
        default=5,
        metavar="K",
        help="labelled examples per target class (default 5)",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed (default 0)")
    parser.add_argument("--run-dir", default="runs", metavar="DIR", help="where run folders go")
    parser.add_argument(
        "--short", action="store_true", help="a CI-sized run (narrow network, small source set, few epochs)"
    )
    parser.add_argument("--quiet", action="store_true", help="no line per epoch (a line per method only)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Runs the quickstart and prints the accuracy table."""
    import sys

    from transferlab.experiments.quickstart import format_quickstart_table, run_quickstart

    # a step bar on a terminal, else one line per epoch
    verbose: int | str = 0 if args.quiet else ("auto" if sys.stdout.isatty() else 2)
    results = run_quickstart(
        progress=lambda line: print(line, flush=True),
        verbose=verbose,
        backbone=args.backbone,
        weights=args.weights,
        labels_per_class=args.labels_per_class,
        seed=args.seed,
        run_dir=args.run_dir,
        short=args.short,
    )
    print()
    print(format_quickstart_table(results))
    best = max(results, key=lambda m: results[m].test_accuracy)
    scratch = results.get("scratch")
    if scratch is not None and best != "scratch":
        gain = results[best].test_accuracy - scratch.test_accuracy
        print(
            f"\n{best} beats training from scratch by {gain * 100:.1f} points "
            f"with {args.labels_per_class} labels per class."
        )
    seconds = sum(result.train_seconds for result in results.values())
    print(f"Run folders are in {args.run_dir}/ (config.toml in each reproduces its run).")
    print(f"Trained in {seconds:.0f} s.")
    return 0
