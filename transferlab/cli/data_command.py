"""``transferlab data``: summarise any data set's splits, check every file, convert to TFRecords."""

from __future__ import annotations

import argparse
import inspect
import math
from pathlib import Path

from transferlab.cli.config_flags import add_config_flags
from transferlab.data.source import ImageSource
from transferlab.data.tfrecords import ENCODINGS, write_tfrecords

__all__ = ["DATA_KEYS", "register"]

HELP = (
    "summarise a data set (MNIST, IDX, an image folder, TFRecords), check its files, convert it to TFRecords"
)

#: How TFRecords store images unless told: write_tfrecords' own default.
DEFAULT_ENCODING: str = inspect.signature(write_tfrecords).parameters["encoding"].default
#: The ``[data]`` keys that say which data set is read and how (each a flag).
DATA_KEYS = (
    "data.dataset",
    "data.path",
    "data.test_path",
    "data.image_size",
    "data.color_mode",
    "data.resize",
)

EPILOG = """\
examples:
  transferlab data                                        # MNIST
  transferlab data --dataset folder --path photos --image-size 224 224 --color-mode rgb --check
  transferlab data --dataset folder --path photos --image-size 224 224 --to-tfrecords photos-tf --shards 8
  transferlab data --dataset tfrecord --path photos-tf --check
  transferlab data --config run.toml                      # the data set a run config names

A folder or TFRecord data set holds its splits in DIR/train and DIR/test (or DIR and
--test-path). Nothing is loaded into memory: folders are listed (each file's header read),
TFRecords' indexes opened; --check reads every example once and names a file that cannot
be read (exit code 2).
"""


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Adds the ``data`` command to the top-level parser."""
    parser = subparsers.add_parser(
        "data",
        help=HELP,
        description=HELP[0].upper() + HELP[1:] + ".",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--config", metavar="FILE", help="a TOML run config whose [data] table names the data set"
    )
    parser.add_argument("--no-download", action="store_true", help="never download; fail if no local copy")
    parser.add_argument(
        "--check",
        action="store_true",
        help="read every example once (an image folder: decode every file; TFRecords: every record's "
        "checksums); a file that cannot be read is an error naming it",
    )
    parser.add_argument(
        "--to-tfrecords",
        metavar="OUT",
        help="write the splits as TFRecords into OUT/train and OUT/test (then: --dataset tfrecord --path OUT)",
    )
    parser.add_argument(
        "--shards",
        type=int,
        metavar="N",
        help="TFRecord files of the training split (the test split's in proportion, at least 1); "
        "default: one per ~128 MB of pixels",
    )
    parser.add_argument(
        "--encoding",
        choices=ENCODINGS,
        help=f"how the TFRecords store images (default: {DEFAULT_ENCODING}; jpeg is lossy, raw the largest)",
    )
    parser.add_argument(
        "--overwrite", action="store_true", help="replace TFRecords already in OUT/train, OUT/test"
    )
    add_config_flags(parser, keys=DATA_KEYS)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Loads the data set, prints its summary, then checks and converts it as asked."""
    from transferlab.cli.config_flags import resolved_config
    from transferlab.data.source import as_source
    from transferlab.errors import ConfigError, describe

    converting = [flag for flag, value in _conversion_flags(args) if value]
    if converting and not args.to_tfrecords:
        raise ConfigError(
            describe(
                f"`{converting[0]}` applies to a conversion",
                received=" ".join(converting),
                fix="add --to-tfrecords OUT, or leave it out",
            )
        )
    data = resolved_config(args).data
    splits = data.load_dataset(download=not args.no_download)
    sources = {"train": as_source(splits.train, name="train"), "test": as_source(splits.test, name="test")}
    print(splits.summary())
    for name, source in sources.items():
        print()
        print(source_text(name, source))
    if args.check:
        print()
        for name, source in sources.items():
            print(f"check: {name}: {_check(source)}")
    if args.to_tfrecords:
        print()
        _convert(sources, Path(args.to_tfrecords), args)
    return 0


def _conversion_flags(args: argparse.Namespace) -> list[tuple[str, object]]:
    return [("--shards", args.shards), ("--encoding", args.encoding), ("--overwrite", args.overwrite)]


def source_text(name: str, source: ImageSource) -> str:
    """A split's :meth:`~transferlab.data.source.ImageSource.summary`, a line per entry.

    Example:
        >>> import numpy as np
        >>> from transferlab.data.source import as_source
        >>> print(source_text("train", as_source((np.zeros((3, 4, 5), "uint8"), np.array([0, 1, 1])))))
        train: ArraySource
          examples        3
          classes         0 1
          element shape   4x5x1
          dtype           uint8
          pixel range     [0, 255]
    """
    summary = dict(source.summary())
    lines = [f"{name}: {summary.pop('kind', type(source).__name__)}"]
    for key, value in summary.items():
        lines.append(f"  {key.replace('_', ' '):<16}{_shown(key, value)}")
    return "\n".join(lines)


def _shown(key: str, value: object) -> str:
    if key == "pixel_range" and isinstance(value, list) and len(value) == 2:
        return f"[{value[0]:g}, {value[1]:g}]"
    if isinstance(value, dict):
        return "  ".join(f"{k}: {v}" for k, v in value.items()) or "none"
    if isinstance(value, (list, tuple)):
        return ("x" if key in ("element_shape", "image_size") else " ").join(str(v) for v in value)
    return "-" if value is None else str(value)


def _check(source: ImageSource) -> str:
    """Reads every example of ``source`` once; raises the error naming a file that cannot be read."""
    from transferlab.data.image_folder_source import ImageFolderSource
    from transferlab.data.pipeline import make_pipeline
    from transferlab.data.read_errors import naming_bad_files
    from transferlab.data.tfrecords import TFRecordSource

    if isinstance(source, ImageFolderSource):
        source.check()
        return f"all {source.num_examples()} files decode"
    if isinstance(source, TFRecordSource):
        source.verify()
        return f"all {source.num_examples()} records match their checksums and the index"
    count = 0
    with naming_bad_files(source):
        for _, labels in make_pipeline(source, batch_size=1024, evaluation=True):
            count += len(labels)
    return f"all {count} examples read"


def _convert(sources: dict[str, ImageSource], out: Path, args: argparse.Namespace) -> None:
    """Writes each split as TFRecords into ``out/<split>``; the test split's shards in proportion."""
    train_examples = sources["train"].num_examples()
    for name, source in sources.items():
        shards: int | None = args.shards
        if shards is not None and name != "train":
            shards = max(
                1, min(source.num_examples(), math.ceil(shards * source.num_examples() / train_examples))
            )
        encoding = args.encoding or DEFAULT_ENCODING
        written = write_tfrecords(
            source, out / name, shards=shards, encoding=encoding, overwrite=args.overwrite
        )
        summary = written.summary()
        print(f"wrote {out / name}: {written.num_examples()} examples, shard files: {summary['shards']}")
    print(f"train on them: transferlab train --dataset tfrecord --path {out}")
