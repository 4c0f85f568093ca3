"""``transferlab data``: load a data set and print a summary per split."""

from __future__ import annotations

import argparse

__all__ = ["register"]

HELP = "load a data set (MNIST, an IDX folder or an image folder) and summarise its splits"


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Adds the ``data`` command to the top-level parser."""
    parser = subparsers.add_parser("data", help=HELP, description=HELP[0].upper() + HELP[1:] + ".")
    parser.add_argument(
        "--dataset",
        choices=("mnist", "idx", "folder"),
        default="mnist",
        help="mnist (default), any MNIST-format IDX folder, or a folder of class subfolders",
    )
    parser.add_argument(
        "--path",
        metavar="DIR",
        help="folder holding the files (for mnist: else $TRANSFERLAB_MNIST_DIR, the Keras cache, "
        "then the official mirrors)",
    )
    parser.add_argument("--no-download", action="store_true", help="never download; fail if no local copy")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Loads the data set and prints its summary."""
    from transferlab.data.load_dataset import load_dataset

    splits = load_dataset(args.dataset, args.path, download=not args.no_download)
    print(splits.summary())
    return 0
