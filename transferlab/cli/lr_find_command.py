"""``transferlab lr-find``: sweep the learning rate for a run config and suggest one."""

from __future__ import annotations

import argparse

from transferlab.cli.config_flags import add_config_flags, resolved_config

__all__ = ["register"]

HELP = "sweep the learning rate (exponentially) for a run config and suggest a rate"


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Adds the ``lr-find`` command to the top-level parser."""
    parser = subparsers.add_parser("lr-find", help=HELP, description=HELP[0].upper() + HELP[1:] + ".")
    parser.add_argument("--config", metavar="FILE", help="a TOML run config")
    parser.add_argument(
        "--phase",
        type=int,
        default=0,
        metavar="N",
        help="which phase of the strategy to sweep (default 0, the first)",
    )
    parser.add_argument("--min-lr", type=float, default=1e-6, metavar="X", help="sweep start")
    parser.add_argument("--max-lr", type=float, default=1.0, metavar="X", help="sweep end")
    parser.add_argument("--steps", type=int, default=100, metavar="N", help="sweep steps")
    parser.add_argument("--plot", metavar="PNG", help="save the loss curve (needs matplotlib)")
    add_config_flags(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Runs the sweep and prints the suggested rate."""
    from transferlab.experiments.lr_find_for_config import lr_find_for_config

    config = resolved_config(args)
    finder = lr_find_for_config(
        config,
        phase=args.phase,
        plot_to=args.plot,
        min_rate=args.min_lr,
        max_rate=args.max_lr,
        steps=args.steps,
    )
    print(f"swept {len(finder.rates)} rates from {finder.rates[0]:.2e} to {finder.rates[-1]:.2e}")
    print(f"suggested learning rate: {finder.suggestion():.2e}")
    if args.plot:
        print(f"loss curve: {args.plot}")
    return 0
