"""Loading a data set by kind (mnist, idx, folder, tfrecord), as configs and commands name it."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import cast, get_args

from transferlab.data.dataset_splits import DatasetSplits
from transferlab.data.image_folder_source import (
    DEFAULT_COLOR_MODE,
    ColorMode,
    ImageFolderSource,
    Resize,
    check_color_mode,
)
from transferlab.data.labeled_images import LabeledImages
from transferlab.data.source import IndexedSource
from transferlab.errors import ConfigError, DataFileError, DatasetNotFoundError, describe

__all__ = ["DATASETS", "DEFAULT_RESIZE", "RESIZE_MODES", "STREAMED", "load_dataset"]

#: The kinds of data set a config (``data.dataset``) and the commands (``--dataset``) name.
DATASETS = ("mnist", "idx", "folder", "tfrecord")
#: The kinds read lazily, as sources (the others are read into memory).
STREAMED = ("folder", "tfrecord")
#: How an image folder's images are fitted to ``image_size`` (see :class:`ImageFolderSource`).
RESIZE_MODES: tuple[str, ...] = get_args(Resize)
DEFAULT_RESIZE: Resize = "stretch"


def load_dataset(
    dataset: str,
    path: str | None,
    *,
    test_path: str | None = None,
    image_size: Sequence[int] | None = None,
    color_mode: str = DEFAULT_COLOR_MODE,
    resize: str = DEFAULT_RESIZE,
    download: bool = True,
) -> DatasetSplits[LabeledImages | IndexedSource]:
    """Loads a data set's train and test splits by kind.

    * ``"mnist"``: MNIST (``path``, else ``$TRANSFERLAB_MNIST_DIR``, the
      cache, the mirrors), in memory.
    * ``"idx"``: an MNIST-format IDX folder, in memory.
    * ``"folder"``: image folders of class subfolders, read lazily
      (:class:`~transferlab.data.ImageFolderSource`): ``path/train`` and
      ``path/test``, or ``path`` (training) and ``test_path`` (test, read with
      the training classes; it may lack some). ``image_size``, ``color_mode``
      and ``resize`` say how the files are read; the test split is resized
      to the training split's size.
    * ``"tfrecord"``: TFRecord folders written by
      :func:`~transferlab.data.write_tfrecords` (``transferlab data
      --to-tfrecords``), read lazily: ``path/train`` and ``path/test``, or
      ``path`` and ``test_path``. They hold images as written: ``image_size``,
      ``color_mode`` and ``resize`` do not apply.

    Args:
        dataset: One of :data:`DATASETS`.
        path: The folder (for mnist: optional).
        test_path: The test split's folder (folder, tfrecord); ``None``:
            ``path/test``, with the training split in ``path/train``.
        image_size: ``(height, width)`` a folder's images are resized to;
            ``None``: as stored (all of one size).
        color_mode: ``"grayscale"`` or ``"rgb"`` (folder).
        resize: ``"stretch"`` or ``"pad"`` (folder, with ``image_size``).
        download: Whether MNIST may be downloaded.

    Returns:
        The splits: ``LabeledImages`` (mnist, idx) or indexed sources (folder, tfrecord).

    Raises:
        ConfigError: An unknown data set, no path, a folder without
            ``train/`` and ``test/`` and no ``test_path``, a bad option.
        DatasetNotFoundError: A folder that does not exist.
        DataFileError: Files that cannot be read (named); TFRecord splits
            of different classes or image shapes.

    Example:
        >>> import tempfile, numpy as np
        >>> from pathlib import Path
        >>> from transferlab.data import LabeledImages, write_tfrecords
        >>> root = Path(tempfile.mkdtemp())
        >>> for split, n in (("train", 6), ("test", 4)):
        ...     data = LabeledImages(np.zeros((n, 4, 4), "uint8"), np.arange(n) % 2, ("no", "yes"))
        ...     _ = write_tfrecords(data, root / split)
        >>> splits = load_dataset("tfrecord", str(root))
        >>> type(splits.test).__name__, len(splits.train), splits.train.class_names
        ('TFRecordSource', 6, ('no', 'yes'))
    """
    if dataset not in DATASETS:
        raise ConfigError(
            describe("Unknown data set", received=f"dataset={dataset!r}", accepted=", ".join(DATASETS))
        )
    if dataset == "mnist":
        from transferlab.data.mnist import load_mnist

        return load_mnist(path, download=download)
    if path is None:
        raise ConfigError(
            describe(
                f"dataset={dataset!r} needs a folder",
                fix="pass --path DIR (in a config file: data.path)",
            )
        )
    if dataset == "idx":
        from transferlab.data.idx_dataset import load_idx_dataset

        return load_idx_dataset(path)
    train_dir, test_dir = _split_folders(dataset, Path(path).expanduser(), test_path)
    name = (train_dir.parent if test_path is None else train_dir).name
    if dataset == "folder":
        check_color_mode(color_mode)
        if resize not in RESIZE_MODES:
            raise ConfigError(
                describe("Unknown `resize`", received=f"resize={resize!r}", accepted=", ".join(RESIZE_MODES))
            )
        mode, fit = cast(ColorMode, color_mode), cast(Resize, resize)
        train = ImageFolderSource(train_dir, image_size=image_size, color_mode=mode, resize=fit)
        test = ImageFolderSource(
            test_dir,
            image_size=image_size or train.element_shape[:2],
            color_mode=mode,
            resize=fit,
            class_names=train.class_names,
        )
        return DatasetSplits(name, train, test, source=_shown(train_dir, test_dir, test_path))
    from transferlab.data.tfrecords import TFRecordSource

    train_records, test_records = TFRecordSource(train_dir), TFRecordSource(test_dir)
    for what, a, b in (
        ("classes", train_records.class_names, test_records.class_names),
        ("image shapes", train_records.element_shape, test_records.element_shape),
    ):
        if a != b:
            raise DataFileError(
                describe(
                    f"The TFRecord splits differ in their {what}",
                    received=f"{list(b)} in {test_dir}",
                    accepted=f"{list(a)}, as in {train_dir}",
                    fix="write both splits from one data set: transferlab data --dataset folder --path DIR "
                    "--to-tfrecords OUT",
                )
            )
    return DatasetSplits(name, train_records, test_records, source=_shown(train_dir, test_dir, test_path))


def _split_folders(dataset: str, root: Path, test_path: str | None) -> tuple[Path, Path]:
    """The training and test folders of a folder or TFRecord data set."""
    if not root.is_dir():
        raise DatasetNotFoundError(
            describe(
                f"The data folder {root} does not exist", fix="pass the folder as --path DIR (data.path)"
            )
        )
    if test_path is not None:
        return root, Path(test_path).expanduser()
    train, test = root / "train", root / "test"
    if train.is_dir() and test.is_dir():
        return train, test
    layout = "<class>/*.png" if dataset == "folder" else "index.json, shard-*.tfrecord"
    missing = [p.name + "/" for p in (train, test) if not p.is_dir()]
    raise ConfigError(
        describe(
            f"A {dataset} data set needs a training and a test split",
            received=f"{root} without {' and '.join(missing)}",
            accepted=f"DIR/train/{layout} and DIR/test/{layout}; or a test folder of its own",
            fix="arrange the folder so, or pass the test split's folder as --test-path (data.test_path)",
        )
    )


def _shown(train: Path, test: Path, test_path: str | None) -> str:
    """Where the splits come from, as the summary shows it."""
    return str(train.parent) if test_path is None else f"{train}, test: {test}"
