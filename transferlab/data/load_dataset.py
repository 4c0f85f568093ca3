"""Loading a data set by kind (mnist, idx, folder), as configs and commands name it."""

from __future__ import annotations

from transferlab.data.dataset_splits import DatasetSplits
from transferlab.errors import ConfigError, describe

__all__ = ["load_dataset"]

DATASETS = ("mnist", "idx", "folder")


def load_dataset(dataset: str, path: str | None, *, download: bool = True) -> DatasetSplits:
    """Loads ``mnist``, an IDX folder or an image folder.

    Raises:
        ConfigError: For an unknown data set, or ``idx``/``folder`` without a path.
    """
    if dataset == "mnist":
        from transferlab.data.mnist import load_mnist

        return load_mnist(path, download=download)
    if dataset not in DATASETS:
        raise ConfigError(
            describe(
                "Unknown data set",
                received=f"dataset={dataset!r}",
                accepted=", ".join(DATASETS),
            )
        )
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
    from transferlab.data.image_folder import load_image_folder

    loaded = load_image_folder(path)
    if not isinstance(loaded, DatasetSplits):
        raise ConfigError(
            describe(
                "An image folder used as a data set needs train/ and test/ subfolders",
                received=path,
                fix="arrange it as DIR/train/<class>/*.png and DIR/test/<class>/*.png",
            )
        )
    return loaded
