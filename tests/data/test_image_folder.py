"""Tests of load_image_folder on tiny PNG/JPEG folders."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from transferlab.data.dataset_splits import DatasetSplits
from transferlab.data.image_folder import load_image_folder
from transferlab.data.labeled_images import LabeledImages
from transferlab.errors import ConfigError, DataFileError, DatasetNotFoundError


def _png(path: Path, value: int, size: tuple[int, int] = (6, 6), channels: int = 1) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(tf.io.encode_png(np.full((*size, channels), value, np.uint8)).numpy())


def _jpeg(path: Path, rgb: tuple[int, int, int], size: tuple[int, int] = (6, 6)) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    image = np.broadcast_to(np.array(rgb, np.uint8), (*size, 3)).copy()
    path.write_bytes(tf.io.encode_jpeg(image, quality=100).numpy())


@pytest.fixture()
def folder(tmp_path: Path) -> Path:
    root = tmp_path / "shapes"
    _png(root / "circle" / "1.png", 10)
    _png(root / "circle" / "2.PNG", 20, channels=3)  # an RGB file read as grayscale
    _jpeg(root / "square" / "a.jpg", (200, 200, 200))
    _png(root / "triangle" / "x.png", 255)
    (root / "triangle" / "notes.txt").write_text("skipped")
    (root / "triangle" / ".DS_Store").write_bytes(b"\x00")
    (root / ".hidden").mkdir()
    return root


def test_grayscale_classes_labels_and_values(folder: Path) -> None:
    data = load_image_folder(folder)
    assert isinstance(data, LabeledImages)
    assert data.class_names == ("circle", "square", "triangle")
    assert data.labels.tolist() == [0, 0, 1, 2]
    assert data.images.shape == (4, 6, 6) and data.images.dtype == np.uint8
    assert [int(v) for v in data.images[:, 0, 0]] == [10, 20, 200, 255]


def test_rgb_and_resize(folder: Path) -> None:
    data = load_image_folder(folder, image_size=(3, 4), color_mode="rgb")
    assert data.images.shape == (4, 3, 4, 3) and data.images.dtype == np.uint8
    assert data.images[0].tolist() == np.full((3, 4, 3), 10).tolist()  # flat image stays flat
    assert abs(int(data.images[2, 1, 1, 0]) - 200) <= 1  # JPEG at quality 100


def test_mixed_sizes_need_image_size(folder: Path) -> None:
    _png(folder / "square" / "big.png", 50, size=(12, 10))
    with pytest.raises(
        DataFileError,
        match=r"The image .*square/big\.png has another size than the "
        r"others.*Received: 12x10.*Accepted: 6x6, the size of .*circle/1\.png"
        r".*Fix: pass image_size=\(6, 6\)",
    ):
        load_image_folder(folder)
    data = load_image_folder(folder, image_size=(6, 6))
    assert data.images.shape == (5, 6, 6) and int(data.images[3, 3, 3]) == 50  # sorted: a.jpg, big.png


def test_test_folder(folder: Path, tmp_path: Path) -> None:
    test_root = tmp_path / "test"
    _png(test_root / "triangle" / "t.png", 7)
    splits = load_image_folder(folder, test_folder=test_root)
    assert isinstance(splits, DatasetSplits) and splits.name == "shapes"
    assert splits.test.class_names == splits.train.class_names
    assert splits.test.labels.tolist() == [2] and splits.test.images.shape == (1, 6, 6)
    _png(test_root / "hexagon" / "h.png", 7)
    with pytest.raises(
        DataFileError,
        match=r"test folder .* has classes the training folder lacks"
        r".*Received: hexagon.*Accepted: circle, square, triangle",
    ):
        load_image_folder(folder, test_folder=test_root)


def test_undecodable_file_is_named(folder: Path) -> None:
    (folder / "square" / "broken.jpg").write_bytes(b"this is not a jpeg")
    with pytest.raises(
        DataFileError,
        match=r"Cannot decode the image .*square/broken\.jpg"
        r".*Accepted: PNG or JPEG files.*Fix: delete or re-export the file",
    ):
        load_image_folder(folder)


def test_folder_errors(tmp_path: Path) -> None:
    with pytest.raises(DatasetNotFoundError, match=r"The image folder .*missing does not exist"):
        load_image_folder(tmp_path / "missing")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(
        DataFileError,
        match=r"empty has no class subfolders \(it is empty\)"
        r".*Accepted: folder/<class name>/<image>\.png\|jpg\|jpeg",
    ):
        load_image_folder(empty)
    flat = tmp_path / "flat"
    _png(flat / "a.png", 1)
    with pytest.raises(
        DataFileError,
        match=r"flat has no class subfolders\. Received: 1 images directly "
        r"in the folder.*Fix: put each class's images in a subfolder",
    ):
        load_image_folder(flat)
    _png(tmp_path / "one" / "cls" / "a.png", 1)
    (tmp_path / "one" / "nothing").mkdir()
    (tmp_path / "one" / "nothing" / "readme.txt").write_text("")
    with pytest.raises(DataFileError, match=r"class folder .*one/nothing holds no images"):
        load_image_folder(tmp_path / "one")


@pytest.mark.parametrize(
    ("kwargs", "pattern"),
    [
        ({"color_mode": "rgba"}, r"Unknown `color_mode`.*color_mode='rgba'.*'grayscale', 'rgb'"),
        ({"image_size": (0, 4)}, r"`image_size` must be \(height, width\).*image_size=\(0, 4\)"),
        ({"image_size": 28}, r"`image_size` must be \(height, width\).*image_size=28"),
    ],
)
def test_argument_errors(folder: Path, kwargs: dict[str, object], pattern: str) -> None:
    with pytest.raises(ConfigError, match=pattern):
        load_image_folder(folder, **kwargs)  # type: ignore[arg-type]
