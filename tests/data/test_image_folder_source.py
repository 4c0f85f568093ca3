"""Tests of ImageFolderSource on tiny generated folders of PNG, JPEG, GIF and BMP files."""

from __future__ import annotations

import logging
import os
import re
import struct
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from transferlab.data import ImageFolderSource, load_image_folder, make_pipeline
from transferlab.data.image_file import decode_image_file
from transferlab.data.source import SubsetSource
from transferlab.errors import ConfigError, DataFileError

# Files ---------------------------------------------------------------------------------------------


def _noise(shape: tuple[int, ...], seed: int, dtype: str = "uint8", high: int = 256) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, high, shape).astype(dtype)


def _write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def _png(pixels: np.ndarray) -> bytes:
    return tf.io.encode_png(pixels).numpy()


def _jpeg(pixels: np.ndarray, orientation: int | None = None) -> bytes:
    """A JPEG of ``pixels``, with an APP1 EXIF segment holding ``orientation`` if given."""
    jpeg = tf.io.encode_jpeg(pixels, quality=95).numpy()
    if orientation is None:
        return jpeg
    tiff = b"MM\x00*" + struct.pack(">IH", 8, 1) + struct.pack(">HHIHH", 0x0112, 3, 1, orientation, 0)
    app1 = b"Exif\x00\x00" + tiff + b"\x00\x00\x00\x00"
    return jpeg[:2] + b"\xff\xe1" + struct.pack(">H", len(app1) + 2) + app1 + jpeg[2:]


def _gif(pixels: np.ndarray) -> bytes:
    """A GIF of ``pixels`` (RGB, at most 256 colours), LZW-coded with 9-bit codes (no Pillow needed)."""
    height, width = pixels.shape[:2]
    colors, index = np.unique(pixels.reshape(-1, 3), axis=0, return_inverse=True)
    table = np.zeros((256, 3), np.uint8)
    table[: len(colors)] = colors
    codes: list[int] = []
    for k, i in enumerate(index.reshape(-1).tolist()):
        if k % 250 == 0:
            codes.append(256)  # clear: the code table never grows past 9 bits
        codes.append(i)
    codes.append(257)
    out, bits, count = bytearray(), 0, 0
    for code in codes:
        bits |= code << count
        count += 9
        while count >= 8:
            out.append(bits & 0xFF)
            bits, count = bits >> 8, count - 8
    if count:
        out.append(bits)
    blocks = b"".join(bytes([len(out[i : i + 255])]) + out[i : i + 255] for i in range(0, len(out), 255))
    return (
        b"GIF89a"
        + struct.pack("<HHBBB", width, height, 0xF7, 0, 0)
        + table.tobytes()
        + b"\x2c"
        + struct.pack("<HHHHB", 0, 0, width, height, 0)
        + b"\x08"
        + blocks
        + b"\x00\x3b"
    )


def _bmp(pixels: np.ndarray) -> bytes:
    """A 24-bit BMP of RGB ``pixels``."""
    height, width = pixels.shape[:2]
    stride = (width * 3 + 3) // 4 * 4
    rows = b"".join(
        pixels[y, :, ::-1].tobytes() + bytes(stride - width * 3) for y in range(height - 1, -1, -1)
    )
    info = struct.pack("<IiiHHIIiiII", 40, width, height, 1, 24, 0, len(rows), 2835, 2835, 0, 0)
    return b"BM" + struct.pack("<IHHI", 14 + len(info) + len(rows), 0, 0, 14 + len(info)) + info + rows


def _marked(height: int, width: int) -> np.ndarray:
    """A dark RGB image with a bright top-left block (to see where it goes)."""
    pixels = np.full((height, width, 3), 30, np.uint8)
    pixels[:5, :5] = 230
    return pixels


def _corner(image: np.ndarray) -> str:
    h, w = image.shape[:2]
    corners = {"tl": image[2, 2], "tr": image[2, w - 3], "bl": image[h - 3, 2], "br": image[h - 3, w - 3]}
    return max(corners, key=lambda k: int(np.asarray(corners[k]).mean()))


@pytest.fixture()
def mixed(tmp_path: Path) -> Path:
    """Three classes of files of every kind, all of different sizes."""
    root = tmp_path / "mixed"
    _write(root / "ant" / "gray.png", _png(_noise((10, 12, 1), 1)))
    _write(root / "ant" / "rgb.PNG", _png(_noise((14, 9, 3), 2)))
    _write(root / "ant" / "rgba.png", _png(_noise((12, 12, 4), 3)))
    _write(root / "ant" / "notes.txt", b"not listed")
    _write(root / "ant" / ".hidden.png", b"not listed")
    _write(root / "bee" / "deep.png", _png(np.full((9, 11, 1), 40000, np.uint16)))
    _write(root / "bee" / "gray-alpha.png", _png(_noise((8, 13, 2), 4)))
    _write(root / "bee" / "photo.jpg", _jpeg(_marked(12, 16), orientation=6))
    _write(root / "bee" / "plain.jpeg", _jpeg(_noise((11, 13, 3), 5)))
    _write(root / "cat" / "anim.gif", _gif(_noise((10, 10, 3), 6, high=4) * 60))
    _write(root / "cat" / "b.bmp", _bmp(_noise((7, 9, 3), 7)))
    _write(root / "cat" / "c.jpg", _jpeg(_noise((16, 10, 1), 8)))
    return root


def _batches(ds: tf.data.Dataset) -> list[tuple[np.ndarray, np.ndarray]]:
    return [(x.numpy(), y.numpy()) for x, y in ds]


# The streamed folder and the folder in memory ------------------------------------------------------


@pytest.mark.parametrize("color_mode", ["grayscale", "rgb"])
def test_streamed_batches_equal_in_memory_batches(mixed: Path, color_mode: str) -> None:
    source = ImageFolderSource(mixed, image_size=(8, 7), color_mode=color_mode)  # type: ignore[arg-type]
    memory = load_image_folder(mixed, image_size=(8, 7), color_mode=color_mode)  # type: ignore[arg-type]
    assert len(source) == len(memory) == 10
    assert source.labels.tolist() == memory.labels.tolist() == [0, 0, 0, 1, 1, 1, 1, 2, 2, 2]
    orders = []
    for seed in (0, 11):
        kw = {"batch_size": 3, "shuffle": True, "seed": seed}
        streamed = _batches(make_pipeline(source, **kw))
        in_memory = _batches(make_pipeline(memory, **kw))
        assert len(streamed) == len(in_memory) == 4
        for (xs, ys), (xm, ym) in zip(streamed, in_memory, strict=True):
            assert xs.shape[1:] == (8, 7, 1 if color_mode == "grayscale" else 3)
            assert np.array_equal(xs, xm) and np.array_equal(ys, ym)
        resumed = _batches(make_pipeline(source, skip_batches=2, **kw))
        assert all(
            np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
            for a, b in zip(resumed, streamed[2:], strict=True)
        )
        orders.append(np.concatenate([y for _, y in streamed]).tolist())
        second_epoch = _batches(make_pipeline(source, epoch=1, **kw))
        assert not all(np.array_equal(a[0], b[0]) for a, b in zip(second_epoch, streamed, strict=True))
    assert sorted(orders[0]) == sorted(orders[1]) == source.labels.tolist()


def test_each_kind_of_file_reads_as_shown(mixed: Path) -> None:
    source = ImageFolderSource(mixed, image_size=(4, 4), color_mode="rgb")
    headers = {Path(p).name: h for p, h in zip(source.files(range(len(source))), source.headers, strict=True)}
    # The headers say what the decoder gives: size as shown (orientation 6 turns 12x16 into 16x12).
    for path, header in zip(source.files(range(len(source))), source.headers, strict=True):
        decoded = decode_image_file(path)
        assert header.size in (None, decoded.shape[:2]), path
    assert headers["photo.jpg"].size == (16, 12) and headers["photo.jpg"].orientation == 6
    assert headers["anim.gif"].size is None and headers["b.bmp"].size == (7, 9)
    assert {n: h.mode for n, h in headers.items()} == {
        "gray.png": "gray", "rgb.PNG": "RGB", "rgba.png": "RGBA", "deep.png": "gray",
        "gray-alpha.png": "gray+alpha", "photo.jpg": "RGB", "plain.jpeg": "RGB",
        "anim.gif": "palette", "b.bmp": "RGB", "c.jpg": "gray",
    }  # fmt: skip
    assert headers["deep.png"].bit_depth == 16
    # Pixels: 16-bit scaled to 8, GIF and BMP exact, RGBA without alpha, gray repeated in RGB.
    full = ImageFolderSource(mixed, image_size=(9, 11), color_mode="rgb")  # deep.png's own size
    names = [Path(p).name for p in full.files(range(len(full)))]
    deep = full.read_element(tf.constant(names.index("deep.png"), tf.int64)).numpy()
    assert deep.shape == (9, 11, 3) and np.all(np.abs(deep.astype(int) - 156) <= 1)
    for name, pixels in (("anim.gif", _noise((10, 10, 3), 6, high=4) * 60), ("b.bmp", _noise((7, 9, 3), 7))):
        assert np.array_equal(decode_image_file(mixed / "cat" / name, channels=3), pixels)
    rgba = _noise((12, 12, 4), 3)
    assert np.array_equal(decode_image_file(mixed / "ant" / "rgba.png", channels=3), rgba[..., :3])
    gray = decode_image_file(mixed / "ant" / "gray.png", channels=3)
    assert np.array_equal(gray, np.repeat(_noise((10, 12, 1), 1), 3, axis=-1))
    luminance = np.rint(rgba[..., :3].astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32))
    assert np.abs(decode_image_file(mixed / "ant" / "rgba.png", channels=1)[..., 0] - luminance).max() <= 1


def test_exif_orientation_and_size_from_headers(tmp_path: Path) -> None:
    _write(tmp_path / "a" / "turned.jpg", _jpeg(_marked(20, 40), orientation=6))  # shown 40 high, 20 wide
    _write(tmp_path / "b" / "upright.png", _png(_marked(40, 20)))
    _write(tmp_path / "b" / "flipped.jpg", _jpeg(_marked(40, 20), orientation=2))
    source = ImageFolderSource(tmp_path, color_mode="rgb")  # image_size=None: all are 40x20 as shown
    assert source.element_shape == (40, 20, 3)
    corners = [_corner(source.read_element(tf.constant(i, tf.int64)).numpy()) for i in range(3)]
    assert corners == ["tr", "tr", "tl"]  # turned clockwise, mirrored, as stored
    # Resized, a turned photo is resized as stored and turned after: the pixels of turning first.
    resized = ImageFolderSource(tmp_path, image_size=(16, 10), color_mode="rgb")
    for i, path in enumerate(resized.files(range(3))):
        turned_first = tf.image.resize(decode_image_file(path), (16, 10), antialias=True)
        expected = tf.cast(tf.clip_by_value(tf.round(turned_first), 0, 255), tf.uint8).numpy()
        got = resized.read_element(tf.constant(i, tf.int64)).numpy()
        assert got.shape == (16, 10, 3) and np.abs(got.astype(int) - expected).max() <= 1, path


def test_pad_keeps_the_aspect_ratio(tmp_path: Path) -> None:
    _write(tmp_path / "a" / "wide.png", _png(np.full((4, 8, 1), 200, np.uint8)))
    _write(tmp_path / "b" / "tall.png", _png(np.full((8, 4, 1), 100, np.uint8)))
    padded = ImageFolderSource(tmp_path, image_size=(8, 8), resize="pad")
    wide = padded.read_element(tf.constant(0, tf.int64)).numpy()[..., 0]
    tall = padded.read_element(tf.constant(1, tf.int64)).numpy()[..., 0]
    assert wide[:2].max() == 0 and wide[6:].max() == 0 and np.all(wide[2:6] == 200)
    assert tall[:, :2].max() == 0 and tall[:, 6:].max() == 0 and np.all(tall[:, 2:6] == 100)
    stretched = ImageFolderSource(tmp_path, image_size=(8, 8))
    assert np.all(stretched.read_element(tf.constant(0, tf.int64)).numpy() == 200)


# Bad files -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"this is no image", "it is not an image file of a known format"),
        (b"", r"the file is empty \(0 bytes\)"),
    ],
    ids=["garbage", "empty"],
)
def test_a_bad_header_is_named_at_listing(
    mixed: Path, content: bytes, message: str, caplog: pytest.LogCaptureFixture
) -> None:
    bad = _write(mixed / "bee" / "broken.jpg", content)
    with pytest.raises(
        DataFileError,
        match=rf"Cannot decode the image .*bee/broken\.jpg: {message}.*Accepted: PNG .*JPEG .*GIF, BMP"
        r".*Fix: delete or re-export the file, or pass on_bad_file='skip'",
    ):
        ImageFolderSource(mixed, image_size=(8, 8))
    with caplog.at_level(logging.WARNING, logger="transferlab.data.image_folder_source"):
        skipping = ImageFolderSource(mixed, image_size=(8, 8), on_bad_file="skip")
    assert len(skipping) == 10 and skipping.skipped_files == (str(bad),)
    assert str(bad) not in skipping.files(range(10))
    assert "Left out 1 unreadable image files" in caplog.text and "broken.jpg" in caplog.text
    assert skipping.summary()["skipped_files"] == 1


def test_a_damaged_body_is_named_by_diagnose_and_check(mixed: Path) -> None:
    source = ImageFolderSource(mixed, image_size=(8, 8))
    assert source.diagnose() is None
    source.check()
    good = _jpeg(_noise((16, 16, 3), 9))
    scan = good.index(b"\xff\xda")
    _write(mixed / "bee" / "cut.jpg", good[: scan + 40])  # the header is whole, the scan is cut short
    source = ImageFolderSource(mixed, image_size=(8, 8))  # listing passes
    with pytest.raises(tf.errors.InvalidArgumentError):
        _batches(make_pipeline(source, batch_size=4))
    error = source.diagnose()
    assert isinstance(error, DataFileError)
    pattern = r"Cannot decode the image .*bee/cut\.jpg: it is a damaged or unsupported JPEG file"
    with pytest.raises(DataFileError, match=pattern):
        source.check()
    assert re.search(pattern, str(error))
    assert isinstance(source.take([0, 5]).diagnose(), DataFileError)
    with pytest.raises(DataFileError, match=pattern) as info:
        load_image_folder(mixed, image_size=(8, 8))
    assert "function_node" not in str(info.value) and "[Op:" not in str(info.value)


def test_image_size_none_needs_one_size(mixed: Path, tmp_path: Path) -> None:
    with pytest.raises(
        DataFileError,
        match=r"The image .*ant/rgb\.PNG has another size than the others.*Received: 14x9"
        r".*Accepted: 10x12, the size of .*ant/gray\.png.*Fix: pass image_size=\(10, 12\)",
    ):
        ImageFolderSource(mixed)
    same = tmp_path / "same"
    _write(same / "a" / "x.gif", _gif(_noise((6, 5, 3), 1, high=2) * 200))  # size learnt by decoding
    _write(same / "a" / "y.bmp", _bmp(_noise((6, 5, 3), 2)))
    _write(same / "b" / "z.jpg", _jpeg(_noise((6, 5, 3), 3)))
    assert ImageFolderSource(same).element_shape == (6, 5, 1)
    _write(same / "b" / "w.gif", _gif(_noise((5, 5, 3), 1, high=2) * 200))
    with pytest.raises(DataFileError, match=r"b/w\.gif has another size.*Received: 5x5.*Accepted: 6x5"):
        ImageFolderSource(same)


@pytest.mark.parametrize(
    ("kwargs", "pattern"),
    [
        ({"color_mode": "rgba"}, r"Unknown `color_mode`.*color_mode='rgba'.*Accepted: 'grayscale', 'rgb'"),
        ({"image_size": (0, 4)}, r"`image_size` must be \(height, width\).*image_size=\(0, 4\)"),
        ({"resize": "crop", "image_size": (4, 4)}, r"Unknown `resize`.*resize='crop'.*'stretch', 'pad'"),
        ({"resize": "pad"}, r"`resize='pad'` needs an `image_size`.*Fix: pass image_size="),
        ({"on_bad_file": "ignore"}, r"Unknown `on_bad_file`.*on_bad_file='ignore'.*'error', 'skip'"),
        ({"class_names": ["ant", "ant"]}, r"`class_names` must be a sequence of distinct, non-empty names"),
    ],
)
def test_argument_errors(mixed: Path, kwargs: dict[str, object], pattern: str) -> None:
    with pytest.raises(ConfigError, match=pattern):
        ImageFolderSource(mixed, **kwargs)  # type: ignore[arg-type]


# Classes, subsets, files, workers ------------------------------------------------------------------


def test_class_names_map_a_test_folder_onto_the_training_classes(mixed: Path, tmp_path: Path) -> None:
    test = tmp_path / "test"
    _write(test / "cat" / "1.png", _png(np.full((5, 5, 1), 9, np.uint8)))
    _write(test / "ant" / "2.png", _png(np.full((5, 5, 1), 8, np.uint8)))
    train = ImageFolderSource(mixed, image_size=(5, 5))
    source = ImageFolderSource(test, image_size=(5, 5), class_names=train.class_names)
    assert source.class_names == ("ant", "bee", "cat") and source.labels.tolist() == [0, 2]
    assert source.class_counts().tolist() == [1, 0, 1]
    _write(test / "dog" / "3.png", _png(np.full((5, 5, 1), 7, np.uint8)))
    with pytest.raises(
        DataFileError,
        match=r"The image folder .*test has class subfolders that `class_names` lacks"
        r"\. Received: dog\. Accepted: ant, bee, cat",
    ):
        ImageFolderSource(test, image_size=(5, 5), class_names=train.class_names)


def test_take_and_files(mixed: Path) -> None:
    source = ImageFolderSource(mixed, image_size=(6, 6))
    sub = source.take([8, 2, 5])
    assert isinstance(sub, SubsetSource) and sub.labels.tolist() == [2, 0, 1]
    assert [Path(f).name for f in sub.files([0, 1, 2])] == ["b.bmp", "rgba.png", "photo.jpg"]
    assert sub.files([1]) == source.files([2]) == [str(mixed / "ant" / "rgba.png")]
    x = sub.read_batch(tf.constant([0, 2], tf.int64)).numpy()
    assert np.array_equal(x, source.read_batch(tf.constant([8, 5], tf.int64)).numpy())


def test_two_workers_each_read_only_their_files(mixed: Path) -> None:
    reads: list[int] = []

    class Counting(ImageFolderSource):
        def read_element(self, index: tf.Tensor) -> tf.Tensor:
            noted = tf.numpy_function(lambda i: reads.append(int(i)) or i, [index], tf.int64)
            with tf.control_dependencies([noted]):
                return super().read_element(index)

    source = Counting(mixed, image_size=(6, 6))
    kw = {"batch_size": 4, "num_replicas": 2, "shuffle": True, "seed": 5}
    whole = _batches(make_pipeline(source, **kw))
    read_by_one = sorted(reads)
    opened: list[list[str]] = []
    pieces: list[list[tuple[np.ndarray, np.ndarray]]] = []
    for index in range(2):
        reads.clear()
        pieces.append(_batches(make_pipeline(source, worker=(2, index), **kw)))
        opened.append(source.files(sorted(reads)))
    assert len(read_by_one) == 10 and len(opened[0]) == len(opened[1]) == 5
    assert not set(opened[0]) & set(opened[1])
    assert sorted(opened[0] + opened[1]) == sorted(source.files(read_by_one))
    for b, (x, y) in enumerate(whole):  # the global batches are the one-device run's
        assert np.array_equal(np.concatenate([pieces[0][b][0], pieces[1][b][0]]), x)
        assert np.array_equal(np.concatenate([pieces[0][b][1], pieces[1][b][1]]), y)


# Identity and summary ------------------------------------------------------------------------------


def test_fingerprint_follows_the_listing_not_the_contents(mixed: Path) -> None:
    first = ImageFolderSource(mixed, image_size=(6, 6)).fingerprint()
    assert first == ImageFolderSource(mixed, image_size=(6, 6)).fingerprint()
    assert first != ImageFolderSource(mixed, image_size=(6, 5)).fingerprint()
    assert first != ImageFolderSource(mixed, image_size=(6, 6), color_mode="rgb").fingerprint()
    target = mixed / "ant" / "gray.png"
    stat = target.stat()
    os.utime(target, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1))
    touched = ImageFolderSource(mixed, image_size=(6, 6)).fingerprint()
    assert touched != first
    # The documented blind spot: same size, same mtime, other pixels.
    target.write_bytes(_png(_noise((10, 12, 1), 99)))
    os.utime(target, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1))
    assert target.stat().st_size == stat.st_size
    assert ImageFolderSource(mixed, image_size=(6, 6)).fingerprint() == touched
    _write(mixed / "cat" / "new.png", _png(np.zeros((3, 3, 1), np.uint8)))
    assert ImageFolderSource(mixed, image_size=(6, 6)).fingerprint() != touched


def test_summary(mixed: Path) -> None:
    summary = ImageFolderSource(mixed, image_size=(6, 6), color_mode="rgb").summary()
    assert summary["kind"] == "ImageFolderSource" and summary["examples"] == 10
    assert summary["class_counts"] == {"ant": 3, "bee": 4, "cat": 3}
    assert summary["element_shape"] == [6, 6, 3] and summary["dtype"] == "uint8"
    assert summary["formats"] == {"PNG": 5, "JPEG": 3, "GIF": 1, "BMP": 1}
    modes = summary["modes"]
    assert isinstance(modes, dict) and modes["gray 16-bit"] == 1 and modes["RGB"] == 3
    sizes = summary["sizes"]
    assert (
        isinstance(sizes, dict) and sum(sizes.values()) == 10 and sizes["other"] == 5
    )  # 10 sizes (the GIF unknown)


def test_an_unlistable_class_folder_is_named(mixed: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = os.scandir

    def scandir(path: object) -> object:
        if str(path).endswith("bee"):
            raise PermissionError(13, "Permission denied")
        return real(path)  # type: ignore[call-overload]

    monkeypatch.setattr(os, "scandir", scandir)
    with pytest.raises(
        DataFileError,
        match=r"Cannot list the class folder .*mixed/bee\. Received: PermissionError: Permission denied"
        r"\. Fix: check that the folder exists and is readable",
    ):
        ImageFolderSource(mixed, image_size=(4, 4))


def test_decoding_takes_one_or_three_channels() -> None:
    from transferlab.data.image_file import decode_image_tensor

    png = _png(np.zeros((2, 2, 3), np.uint8))
    with pytest.raises(ConfigError, match=r"`channels` must be 1, 3 or None\. Received: channels=4"):
        decode_image_tensor(tf.constant(png), channels=4)
