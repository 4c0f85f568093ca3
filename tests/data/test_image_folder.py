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
        match=r"The image folder .*test has class subfolders that `class_names` lacks"
        r".*Received: hexagon.*Accepted: circle, square, triangle",
    ):
        load_image_folder(folder, test_folder=test_root)


def test_undecodable_file_is_named(folder: Path) -> None:
    (folder / "square" / "broken.jpg").write_bytes(b"this is not a jpeg")
    with pytest.raises(
        DataFileError,
        match=r"(?s)Cannot decode the image .*square/broken\.jpg: it is not an image file of a known format"
        r".*Accepted: PNG .*JPEG .*GIF, BMP.*Fix: delete or re-export the file",
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


# Every kind of image file, as a viewer shows it ---------------------------------------------------
def _exif_jpeg(pixels: np.ndarray, orientation: int, order: str = "<") -> bytes:
    """A JPEG of ``pixels`` with an APP1 EXIF segment holding ``orientation``."""
    import struct

    import tensorflow as tf

    jpeg = tf.io.encode_jpeg(pixels, quality=100).numpy()
    mark = b"II*\x00" if order == "<" else b"MM\x00*"
    tiff = mark + struct.pack(order + "IH", 8, 2)
    tiff += struct.pack(order + "HHI", 0x010F, 2, 4) + b"cam\x00"  # a tag before it (Make)
    tiff += struct.pack(order + "HHIHH", 0x0112, 3, 1, orientation, 0) + b"\x00\x00\x00\x00"
    app1 = b"Exif\x00\x00" + tiff
    return jpeg[:2] + b"\xff\xe1" + struct.pack(">H", len(app1) + 2) + app1 + jpeg[2:]


def _marked(height: int = 20, width: int = 40) -> np.ndarray:
    """A dark image with a bright top-left corner block (to see where it goes)."""
    pixels = np.full((height, width, 3), 30, np.uint8)
    pixels[:6, :6] = 230
    return pixels


def _corner(image: np.ndarray) -> str:
    h, w = image.shape[:2]
    corners = {"tl": image[2, 2], "tr": image[2, w - 3], "bl": image[h - 3, 2], "br": image[h - 3, w - 3]}
    return max(corners, key=lambda k: int(np.asarray(corners[k]).mean()))


@pytest.mark.parametrize(
    ("orientation", "shape", "corner"),
    [(1, (20, 40), "tl"), (2, (20, 40), "tr"), (3, (20, 40), "br"), (4, (20, 40), "bl"),
     (5, (40, 20), "tl"), (6, (40, 20), "tr"), (7, (40, 20), "br"), (8, (40, 20), "bl")],
)  # fmt: skip
@pytest.mark.parametrize("order", ["<", ">"], ids=["intel", "motorola"])
def test_exif_orientation_is_applied(
    tmp_path: Path, orientation: int, shape: tuple, corner: str, order: str
) -> None:
    from transferlab.data.image_folder import decode_image_file, image_orientation

    path = tmp_path / "photo.jpg"
    path.write_bytes(_exif_jpeg(_marked(), orientation, order))
    assert image_orientation(path.read_bytes()) == orientation
    image = decode_image_file(path)
    assert image.shape == (*shape, 3) and _corner(image) == corner


def test_a_rotated_photo_loads_in_a_folder_as_shown(tmp_path: Path) -> None:
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "p.jpg").write_bytes(_exif_jpeg(_marked(), 6))
    data = load_image_folder(tmp_path, color_mode="rgb")
    assert data.images.shape == (2, 40, 20, 3)


def _pil_bytes(image: object, fmt: str, **kw: object) -> bytes:
    import io

    buffer = io.BytesIO()
    image.save(buffer, fmt, **kw)  # type: ignore[attr-defined]
    return buffer.getvalue()


def _pil() -> object:
    return pytest.importorskip("PIL.Image", reason="Pillow writes the CMYK/palette/GIF test files")


@pytest.mark.parametrize(
    ("kind", "name"),
    [("cmyk-jpeg", "c.jpg"), ("palette-png", "p.png"), ("palette-alpha-png", "pa.png"), ("gif", "g.gif"),
     ("gif-named-png", "g.png"), ("bmp", "b.bmp")],
)  # fmt: skip
@pytest.mark.parametrize("color_mode", ["grayscale", "rgb"])
def test_other_color_modes_and_formats(tmp_path: Path, kind: str, name: str, color_mode: str) -> None:
    image_module = _pil()
    rgb = np.zeros((8, 10, 3), np.uint8)
    rgb[..., 0], rgb[..., 1], rgb[..., 2] = 200, 100, 50
    img = image_module.fromarray(rgb)  # type: ignore[attr-defined]
    data = {
        "cmyk-jpeg": lambda: _pil_bytes(img.convert("CMYK"), "JPEG", quality=100),
        "palette-png": lambda: _pil_bytes(img.convert("P"), "PNG"),
        "palette-alpha-png": lambda: _pil_bytes(img.convert("P"), "PNG", transparency=7),
        "gif": lambda: _pil_bytes(img, "GIF"),
        "gif-named-png": lambda: _pil_bytes(img, "GIF"),
        "bmp": lambda: _pil_bytes(img, "BMP"),
    }[kind]()
    for cls in ("x", "y"):
        (tmp_path / cls).mkdir()
        (tmp_path / cls / name).write_bytes(data)
    loaded = load_image_folder(tmp_path, color_mode=color_mode)  # type: ignore[arg-type]
    expected = (
        np.array([200, 100, 50])
        if color_mode == "rgb"
        else np.array([200 * 0.299 + 100 * 0.587 + 50 * 0.114])
    )
    assert loaded.images.shape == ((2, 8, 10, 3) if color_mode == "rgb" else (2, 8, 10))
    pixel = loaded.images[0, 4, 5].astype(float).reshape(-1)
    assert np.abs(pixel - expected).max() <= 12, (kind, pixel)


@pytest.mark.parametrize("channels", [1, 2, 3, 4], ids=["gray", "gray-alpha", "rgb", "rgba"])
@pytest.mark.parametrize("color_mode", ["grayscale", "rgb"])
def test_16_bit_pngs_in_every_color_mode(tmp_path: Path, channels: int, color_mode: str) -> None:
    import tensorflow as tf

    pixels = np.full((6, 7, channels), 40000, np.uint16)
    for cls in ("x", "y"):
        (tmp_path / cls).mkdir()
        (tmp_path / cls / "deep.png").write_bytes(tf.io.encode_png(pixels).numpy())
    loaded = load_image_folder(tmp_path, color_mode=color_mode)  # type: ignore[arg-type]
    assert loaded.images.dtype == np.uint8
    assert loaded.images.shape == ((2, 6, 7, 3) if color_mode == "rgb" else (2, 6, 7))
    assert abs(int(loaded.images[0, 0, 0].reshape(-1)[0]) - round(40000 / 257)) <= 1


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", r"the file is empty \(0 bytes\)"),
        (
            b"\x89PNG\r\n\x1a\ngarbage",
            r"it is a damaged or unsupported PNG file.*the PNG decoder said: Invalid PNG",
        ),
        (b"\xff\xd8\xff\xe0" + bytes(60), r"it is a damaged or unsupported JPEG file"),
        (b"GIF89a" + bytes(5), r"it is a damaged or unsupported GIF file"),
    ],
    ids=["empty", "png", "jpeg", "gif"],
)
def test_decoding_errors_name_the_file_and_format_not_tensorflow(
    tmp_path: Path, content: bytes, message: str
) -> None:
    from transferlab.data.image_folder import decode_image_file

    (tmp_path / "bad.png").write_bytes(content)
    with pytest.raises(DataFileError, match=r"(?s)Cannot decode the image .*bad\.png: " + message) as info:
        decode_image_file(tmp_path / "bad.png")
    text = str(info.value)
    assert "function_node" not in text and "__wrapped__" not in text and "[Op:" not in text
