"""DatasetSplits holding sources: the summary reads shapes and counts from any source."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import tensorflow as tf
from tiny_folders import write_split_folders

from transferlab.data.dataset_splits import DatasetSplits
from transferlab.data.image_folder_source import ImageFolderSource
from transferlab.data.source import ImageSource, StreamSource


def test_summary_of_folder_sources_and_of_a_stream(tmp_path: Path) -> None:
    root = write_split_folders(tmp_path / "f", [3, 5], [2, 1], size=(6, 4))
    train = ImageFolderSource(root / "train", color_mode="rgb")
    test = ImageFolderSource(root / "test", color_mode="rgb", class_names=train.class_names)
    splits: DatasetSplits[ImageSource] = DatasetSplits("f", train, test, source=str(root))
    assert splits.summary().splitlines() == [
        f"f (from {root})",
        "split   examples  image     per class",
        "train   8         6x4x3     c0:3 c1:5",
        "test    3         6x4x3     c0:2 c1:1",
    ]
    stream = StreamSource(
        tf.data.Dataset.from_tensor_slices((np.zeros((7, 5, 5), "uint8"), np.arange(7) % 2)), num_classes=2
    )
    assert DatasetSplits("s", stream, test).summary().splitlines()[2] == "train   7         5x5x1     ?"
