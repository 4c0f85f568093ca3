"""Tests of load_idx_dataset: file-name variants and every error."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest

from transferlab.data.idx import write_idx
from transferlab.data.idx_dataset import load_idx_dataset
from transferlab.errors import ChecksumError, ConfigError, DataFileError, DatasetNotFoundError


def _make(
    folder: Path,
    names: tuple[str, str, str, str] = (
        "train-images-idx3-ubyte.gz",
        "train-labels-idx1-ubyte.gz",
        "t10k-images-idx3-ubyte.gz",
        "t10k-labels-idx1-ubyte.gz",
    ),
    n_train: int = 6,
    n_test: int = 3,
    shape: tuple[int, ...] = (8, 8),
) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    write_idx(folder / names[0], np.full((n_train, *shape), 7, np.uint8))
    write_idx(folder / names[1], (np.arange(n_train) % 3).astype(np.uint8))
    write_idx(folder / names[2], np.full((n_test, *shape), 9, np.uint8))
    write_idx(folder / names[3], (np.arange(n_test) % 3).astype(np.uint8))
    return folder


@pytest.mark.parametrize(
    "names",
    [
        (
            "train-images-idx3-ubyte",
            "train-labels-idx1-ubyte",
            "t10k-images-idx3-ubyte",
            "t10k-labels-idx1-ubyte",
        ),
        (
            "train-images.idx3-ubyte",
            "train-labels.idx1-ubyte",
            "t10k-images.idx3-ubyte.gz",
            "t10k-labels.idx1-ubyte",
        ),
        (
            "Train_Images_idx3_ubyte.gz",
            "train_labels_idx1_ubyte",
            "test-images-idx3-ubyte",
            "test-labels-idx1-ubyte",
        ),
        (
            "emnist-letters-train-images-idx3-ubyte.gz",
            "emnist-letters-train-labels-idx1-ubyte.gz",
            "emnist-letters-test-images-idx3-ubyte.gz",
            "emnist-letters-test-labels-idx1-ubyte.gz",
        ),
    ],
    ids=["plain", "dots", "underscores-test", "prefixed"],
)
def test_name_variants(tmp_path: Path, names: tuple[str, str, str, str]) -> None:
    folder = _make(tmp_path / "set", names)
    (folder / "README.txt").write_text("ignored")
    splits = load_idx_dataset(folder)
    assert splits.name == "set" and splits.source == str(folder)
    assert splits.train.images.shape == (6, 8, 8) and splits.test.images.shape == (3, 8, 8)
    assert int(splits.test.images[0, 0, 0]) == 9
    assert splits.train.class_names == ("0", "1", "2")
    assert splits.train.class_counts().tolist() == [2, 2, 2]


def test_name_class_names_and_channels(tmp_path: Path) -> None:
    folder = _make(tmp_path / "x", shape=(4, 4, 3))
    splits = load_idx_dataset(folder, name="colors", class_names=["r", "g", "b", "unused"])
    assert splits.name == "colors" and splits.train.images.shape == (6, 4, 4, 3)
    assert splits.train.num_classes == 4


def test_real_mnist_via_generic_loader(mnist_dir: Path) -> None:
    splits = load_idx_dataset(mnist_dir, name="mnist")
    assert splits.train.images.shape == (60000, 28, 28) and splits.train.num_classes == 10
    assert splits.test.class_counts().tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


def test_gz_and_plain_copies_prefer_plain_unless_checksummed(tmp_path: Path) -> None:
    folder = _make(tmp_path / "s")
    write_idx(folder / "train-images-idx3-ubyte", np.full((6, 8, 8), 1, np.uint8))  # a plain twin
    assert int(load_idx_dataset(folder).train.images[0, 0, 0]) == 1
    gz = folder / "train-images-idx3-ubyte.gz"
    sums = {gz.name: hashlib.sha256(gz.read_bytes()).hexdigest()}
    assert int(load_idx_dataset(folder, sha256=sums).train.images[0, 0, 0]) == 7


def test_checksums(tmp_path: Path) -> None:
    folder = _make(tmp_path / "s")
    with pytest.raises(
        ChecksumError,
        match=r"t10k-labels-idx1-ubyte\.gz is corrupt or not the expected "
        r"file.*Accepted: sha256 0{64}",
    ):
        load_idx_dataset(folder, sha256={"t10k-labels-idx1-ubyte.gz": "0" * 64})
    with pytest.raises(
        ConfigError,
        match=r"`sha256` names files that are not the data set's files"
        r".*Received: other\.gz",
    ):
        load_idx_dataset(folder, sha256={"other.gz": "0" * 64})


def test_missing_folder_and_files(tmp_path: Path) -> None:
    with pytest.raises(DatasetNotFoundError, match=r"The folder .*nowhere does not exist"):
        load_idx_dataset(tmp_path / "nowhere")
    folder = _make(tmp_path / "s")
    (folder / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(
        DatasetNotFoundError,
        match=r"does not hold the four IDX files.*Received: missing "
        r"t10k-labels-idx1-ubyte\[\.gz\]; the folder holds: t10k-images-idx3-ubyte\.gz",
    ):
        load_idx_dataset(folder)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DatasetNotFoundError, match=r"the folder holds: nothing"):
        load_idx_dataset(empty)


def test_two_data_sets_in_one_folder(tmp_path: Path) -> None:
    folder = _make(tmp_path / "s")
    write_idx(folder / "kmnist-train-images-idx3-ubyte.gz", np.zeros((1, 8, 8), np.uint8))
    with pytest.raises(
        DataFileError,
        match=r"several train images files of different data sets"
        r".*kmnist-train-images-idx3-ubyte\.gz, train-images-idx3-ubyte\.gz",
    ):
        load_idx_dataset(folder)


def test_count_mismatch(tmp_path: Path) -> None:
    folder = _make(tmp_path / "s")
    write_idx(folder / "train-labels-idx1-ubyte.gz", np.zeros(5, np.uint8))
    with pytest.raises(
        DataFileError,
        match=r"train-images-idx3-ubyte\.gz and train-labels-idx1-ubyte\.gz "
        r"do not match.*Received: 6 images, 5 labels",
    ):
        load_idx_dataset(folder)


def test_label_range_against_class_names(tmp_path: Path) -> None:
    folder = _make(tmp_path / "s")
    with pytest.raises(
        DataFileError,
        match=r"train-labels-idx1-ubyte\.gz holds labels outside the 2 "
        r"classes.*Received: labels in \[0, 2\].*Accepted: 0 to 1 for class_names=\['a', 'b'\]",
    ):
        load_idx_dataset(folder, class_names=["a", "b"])
    write_idx(folder / "t10k-labels-idx1-ubyte.gz", np.array([0, -1, 1], np.int8))
    with pytest.raises(DataFileError, match=r"t10k-labels-idx1-ubyte\.gz holds labels outside.*\[-1, 1\]"):
        load_idx_dataset(folder)
    with pytest.raises(ConfigError, match=r"`class_names` must name at least one class"):
        load_idx_dataset(_make(tmp_path / "t"), class_names=[])


def test_image_rank_and_dtype(tmp_path: Path) -> None:
    folder = _make(tmp_path / "s")
    write_idx(folder / "train-images-idx3-ubyte.gz", np.zeros((6, 64), np.uint8))
    with pytest.raises(
        DataFileError,
        match=r"train-images-idx3-ubyte\.gz does not hold images.*Received: "
        r"shape \(6, 64\).*Accepted: \(N, height, width\)",
    ):
        load_idx_dataset(folder)
    write_idx(folder / "train-images-idx3-ubyte.gz", np.zeros((6, 8, 8), np.int32))
    with pytest.raises(DataFileError, match=r"holds int32 values.*Accepted: uint8"):
        load_idx_dataset(folder)
    write_idx(folder / "train-images-idx3-ubyte.gz", np.zeros((6, 8, 8), np.uint8))
    write_idx(folder / "train-labels-idx1-ubyte.gz", np.zeros((6, 2), np.uint8))
    with pytest.raises(DataFileError, match=r"train-labels-idx1-ubyte\.gz does not hold labels.*\(6, 2\)"):
        load_idx_dataset(folder)


def test_train_and_test_shapes_differ(tmp_path: Path) -> None:
    folder = _make(tmp_path / "s")
    write_idx(folder / "t10k-images-idx3-ubyte.gz", np.zeros((3, 9, 9), np.uint8))
    with pytest.raises(
        DataFileError, match=r"train and test images have different shapes.*\(8, 8\).*\(9, 9\)"
    ):
        load_idx_dataset(folder)


def test_malformed_file_is_named(tmp_path: Path) -> None:
    folder = _make(tmp_path / "s")
    (folder / "t10k-images-idx3-ubyte.gz").write_bytes(b"")
    with pytest.raises(DataFileError, match=r"t10k-images-idx3-ubyte\.gz is empty"):
        load_idx_dataset(folder)
