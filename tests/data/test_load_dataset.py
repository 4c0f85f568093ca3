"""load_dataset: every kind by name; folders and TFRecords as sources (train/ and test/, or a test path)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from tiny_folders import write_class_folder, write_split_folders

from transferlab.cli.main import build_parser
from transferlab.config import DataConfig
from transferlab.data.image_folder_source import ImageFolderSource
from transferlab.data.labeled_images import LabeledImages
from transferlab.data.load_dataset import DATASETS, load_dataset
from transferlab.data.tfrecords import TFRecordSource, write_tfrecords
from transferlab.errors import ConfigError, DataFileError, DatasetNotFoundError


def test_a_folder_is_two_sources_the_test_one_with_the_training_classes_and_size(tmp_path: Path) -> None:
    root = write_split_folders(tmp_path / "pets", [3, 2, 4], [1, 2])  # the test split lacks class c2
    shutil.rmtree(root / "test" / "c1")
    write_class_folder(root / "test", [0, 2], size=(12, 10), seed=5)  # c1's test images are larger
    splits = load_dataset("folder", str(root), color_mode="rgb")
    assert isinstance(splits.train, ImageFolderSource) and isinstance(splits.test, ImageFolderSource)
    assert splits.name == "pets" and splits.source == str(root)
    assert splits.test.class_names == ("c0", "c1", "c2") and splits.test.labels.tolist() == [0, 1, 1]
    assert splits.train.element_shape == splits.test.element_shape == (8, 8, 3)
    resized = load_dataset("folder", str(root), image_size=(4, 6), resize="pad")
    assert resized.test.element_shape == (4, 6, 1) and resized.train.resize == "pad"


def test_a_test_path_of_its_own(tmp_path: Path) -> None:
    train = write_class_folder(tmp_path / "train-images", [2, 2])
    test = write_class_folder(tmp_path / "holdout", [1, 1])
    splits = load_dataset("folder", str(train), test_path=str(test))
    assert len(splits.train) == 4 and len(splits.test) == 2
    assert splits.source == f"{train}, test: {test}"


def test_tfrecords_are_two_sources(tmp_path: Path) -> None:
    root = tmp_path / "records"
    for split, n in (("train", 6), ("test", 4)):
        write_tfrecords(
            LabeledImages(np.full((n, 3, 3), 7, "uint8"), np.arange(n) % 2, ("no", "yes")), root / split
        )
    splits = load_dataset("tfrecord", str(root))
    assert isinstance(splits.train, TFRecordSource) and isinstance(splits.test, TFRecordSource)
    assert splits.test.labels.tolist() == [0, 1, 0, 1] and splits.train.class_names == ("no", "yes")
    # splits written from different data sets are refused, naming both folders
    write_tfrecords(
        LabeledImages(np.zeros((2, 3, 3), "uint8"), np.array([0, 1]), ("cat", "dog")),
        root / "test",
        overwrite=True,
    )
    pattern = r"The TFRecord splits differ in their classes\. Received: \['cat', 'dog'\] in .*test\. Accepted: \['no', 'yes'\], as in .*train"
    with pytest.raises(DataFileError, match=pattern):
        load_dataset("tfrecord", str(root))


def test_layout_errors_name_the_folder_and_the_fix(tmp_path: Path) -> None:
    write_class_folder(tmp_path / "flat", [2, 2])
    pattern = (
        r"A folder data set needs a training and a test split\. Received: .*flat without train/ and test/\. "
        r"Accepted: DIR/train/<class>/\*\.png and DIR/test/<class>/\*\.png; or a test folder of its own\. "
        r"Fix: .*--test-path \(data\.test_path\)"
    )
    with pytest.raises(ConfigError, match=pattern):
        load_dataset("folder", str(tmp_path / "flat"))
    (tmp_path / "records" / "train").mkdir(parents=True)
    with pytest.raises(
        ConfigError, match=r"A tfrecord data set .* without test/\. Accepted: DIR/train/index\.json"
    ):
        load_dataset("tfrecord", str(tmp_path / "records"))
    with pytest.raises(
        DatasetNotFoundError, match=r"The data folder .*nowhere does not exist\. Fix: pass the folder"
    ):
        load_dataset("folder", str(tmp_path / "nowhere"))


def test_option_and_kind_errors(tmp_path: Path) -> None:
    root = write_split_folders(tmp_path / "f", [1, 1], [1, 1])
    with pytest.raises(
        ConfigError,
        match=r"Unknown data set\. Received: dataset='cifar'\. Accepted: mnist, idx, folder, tfrecord",
    ):
        load_dataset("cifar", str(root))
    with pytest.raises(
        ConfigError, match=r"Unknown `resize`\. Received: resize='crop'\. Accepted: stretch, pad"
    ):
        load_dataset("folder", str(root), resize="crop")
    with pytest.raises(ConfigError, match=r"Unknown `color_mode`\. Received: color_mode='cmyk'"):
        load_dataset("folder", str(root), color_mode="cmyk")
    with pytest.raises(ConfigError, match=r"dataset='tfrecord' needs a folder"):
        load_dataset("tfrecord", None)


def test_the_kinds_are_listed_once_for_the_config_and_every_command() -> None:
    config_choices = next(
        f for f in DataConfig.__dataclass_fields__.values() if f.name == "dataset"
    ).metadata["choices"]
    assert config_choices is DATASETS
    parser = build_parser()
    commands = parser._subparsers._group_actions[0].choices  # type: ignore[union-attr]
    for command in ("data", "evaluate", "train"):
        action = next(a for a in commands[command]._actions if "--dataset" in a.option_strings)
        assert tuple(action.choices) == DATASETS, command
