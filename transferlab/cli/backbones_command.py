"""``transferlab backbones``: list the registered backbones, their input sizes and groups."""

from __future__ import annotations

import argparse

__all__ = ["register"]

HELP = "list registered backbones with input sizes, preprocessing and layer groups"


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Adds the ``backbones`` command to the top-level parser."""
    parser = subparsers.add_parser("backbones", help=HELP, description=HELP[0].upper() + HELP[1:] + ".")
    parser.add_argument(
        "pattern", nargs="?", default="*", help="shell-style filter, e.g. 'vgg*' (default: all)"
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Prints one row per backbone."""
    from transferlab.backbones import get_backbone_info, list_backbones

    names = list_backbones(args.pattern)
    if not names:
        print(f"no backbone matches {args.pattern!r}; registered: {', '.join(list_backbones())}")
        return 1
    print(f"{'name':<16}{'default':>9}{'minimum':>9}{'ch':>4}  {'preprocess':<11}{'imagenet':<9}groups")
    for name in names:
        info = get_backbone_info(name)
        default = "x".join(map(str, info.default_input_size))
        minimum = "x".join(map(str, info.min_input_size))
        print(
            f"{name:<16}{default:>9}{minimum:>9}{info.channels:>4}  {info.preprocessing:<11}"
            f"{'yes' if info.imagenet_weights else 'no':<9}{' '.join(info.group_names)}"
        )
    return 0
