"""read_images: PNG, JPEG, IDX, .npy/.npz; resizing, channels, stacking; every error."""

from __future__ import annotations

import gzip

import numpy as np
import pytest
import tensorflow as tf

from transferlab.data import write_idx
from transferlab.errors import ConfigError, DataFileError
from transferlab.serving import read_images

from .conftest import make_digits


def _write_png(path, image):
    path.write_bytes(tf.io.encode_png(image).numpy())
    return path


def test_png_gray_and_rgb_decode_exactly(tmp_path):
    gray = make_digits(2)[..., None]
    rgb = np.stack([make_digits(1, seed=s)[0] for s in (1, 2, 3)], axis=-1)
    a = _write_png(tmp_path / "a.png", gray[0])
    b = _write_png(tmp_path / "b.PNG", gray[1])
    c = _write_png(tmp_path / "c.png", rgb)
    both = read_images([a, b])
    assert both.dtype == np.uint8 and both.shape == (2, 28, 28, 1)
    np.testing.assert_array_equal(both, gray)
    np.testing.assert_array_equal(read_images(c)[0], rgb)
    as_gray = read_images(c, channels=1)
    assert as_gray.shape == (1, 28, 28, 1)
    expected = np.rint(rgb.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32))
    np.testing.assert_array_equal(as_gray[0, ..., 0], expected.astype(np.uint8))
    np.testing.assert_array_equal(read_images(a, channels=3)[0], np.repeat(gray[0], 3, axis=-1))


def test_rgba_png_drops_alpha(tmp_path):
    rgba = np.full((5, 5, 4), 7, np.uint8)
    rgba[..., 3] = 255
    out = read_images(_write_png(tmp_path / "x.png", rgba))
    assert out.shape == (1, 5, 5, 3) and (out == 7).all()


def test_jpeg_decodes_close_to_the_original(tmp_path):
    image = np.full((28, 28, 1), 40, np.uint8)
    image[8:20, 10:16] = 220
    path = tmp_path / "digit.jpg"
    path.write_bytes(tf.io.encode_jpeg(image, quality=95).numpy())
    out = read_images(path)
    assert out.shape == (1, 28, 28, 1) and out.dtype == np.uint8
    assert np.abs(out[0].astype(int) - image).mean() < 3


def test_idx_npy_npz_and_stacking_with_resize(tmp_path):
    digits = make_digits(5)
    write_idx(tmp_path / "t10k-images-idx3-ubyte.gz", digits[:2])
    np.save(tmp_path / "more.npy", digits[2:4])
    np.savez(tmp_path / "one.npz", digits[4])  # a single 2-D image, one unnamed array
    np.savez(tmp_path / "mnist.npz", x_test=digits[:3], y_test=np.arange(3))
    files = [tmp_path / "t10k-images-idx3-ubyte.gz", tmp_path / "more.npy", tmp_path / "one.npz"]
    out = read_images(files)
    assert out.shape == (5, 28, 28)
    np.testing.assert_array_equal(out, digits)
    np.testing.assert_array_equal(read_images(tmp_path / "mnist.npz"), digits[:3])
    resized = read_images(files, size=(32, 30), channels=3)
    assert resized.shape == (5, 32, 30, 3) and resized.dtype == np.uint8
    expected = tf.image.resize(digits[:1, ..., None].astype("float32"), (32, 30), antialias=True)
    np.testing.assert_array_equal(resized[0, ..., 0], np.rint(expected.numpy()[0, ..., 0]))


def test_channel_less_and_png_sources_stack_with_a_channel_axis(tmp_path):
    digits = make_digits(2)
    np.save(tmp_path / "a.npy", digits[:1])
    png = _write_png(tmp_path / "b.png", digits[1][..., None])
    out = read_images([tmp_path / "a.npy", png])
    assert out.shape == (2, 28, 28, 1)
    np.testing.assert_array_equal(out[..., 0], digits)


def test_float_arrays_in_pixel_range_become_uint8(tmp_path):
    np.save(tmp_path / "f.npy", np.array([[[0.4, 254.6]]], np.float32))
    assert read_images(tmp_path / "f.npy").tolist() == [[[0, 255]]]


def test_missing_file(tmp_path):
    with pytest.raises(DataFileError, match=r"Image file .*nope\.png does not exist\. Fix: check the path"):
        read_images([tmp_path / "nope.png"])


def test_folder_instead_of_file(tmp_path):
    with pytest.raises(DataFileError, match=r"is a folder, not an image file\. Fix: pass the files"):
        read_images(tmp_path)


def test_undecodable_png_names_the_file(tmp_path):
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"this is not a png at all")
    with pytest.raises(
        DataFileError,
        match=r"(?s)Cannot decode the image .*broken\.png: it is not an image file of a known format.*"
        r"Received: 24 bytes.*Fix: delete or re-export the file",
    ):
        read_images(bad)


def test_unknown_extension(tmp_path):
    path = tmp_path / "digits.bmp2"
    path.write_bytes(b"x")
    with pytest.raises(
        DataFileError,
        match=r"Cannot tell what kind of file .*digits\.bmp2 is from its "
        r"name\. Received: extension '\.bmp2'\. Accepted: \.png, ",
    ):
        read_images(path)


def test_wrong_rank(tmp_path):
    np.save(tmp_path / "flat.npy", np.zeros(10, np.uint8))
    with pytest.raises(
        DataFileError,
        match=r"flat\.npy does not hold images\. Received: an array of "
        r"shape \(10,\)\. Accepted: \(H, W\), \(N, H, W\)",
    ):
        read_images(tmp_path / "flat.npy")
    np.save(tmp_path / "five.npy", np.zeros((2, 4, 4, 5), np.uint8))
    with pytest.raises(DataFileError, match=r"shape \(2, 4, 4, 5\)"):
        read_images(tmp_path / "five.npy")


def test_values_outside_pixel_range(tmp_path):
    np.save(tmp_path / "norm.npy", np.full((1, 4, 4), -0.5, np.float32))
    with pytest.raises(
        DataFileError,
        match=r"norm\.npy holds values outside the pixel range "
        r"\[0, 255\]\. Received: values in \[-0\.5, -0\.5\]",
    ):
        read_images(tmp_path / "norm.npy")


def test_non_numeric_array(tmp_path):
    np.save(tmp_path / "b.npy", np.zeros((1, 2, 2), bool))
    with pytest.raises(DataFileError, match=r"b\.npy does not hold pixel values\. Received: dtype bool"):
        read_images(tmp_path / "b.npy")


def test_unreadable_numpy_file(tmp_path):
    (tmp_path / "x.npy").write_bytes(b"garbage")
    with pytest.raises(
        DataFileError,
        match=r"Cannot read NumPy file .*x\.npy\. Received: .*Fix: save "
        r"the images with numpy\.save",
    ):
        read_images(tmp_path / "x.npy")


def test_npz_with_several_arrays_and_no_known_name(tmp_path):
    np.savez(tmp_path / "two.npz", a=np.zeros((1, 2, 2)), b=np.zeros((1, 2, 2)))
    with pytest.raises(
        DataFileError,
        match=r"Cannot tell which array of .*two\.npz holds the images\. "
        r"Received: arrays \['a', 'b'\]\. Accepted: one array, "
        r"or one named images, x, x_test",
    ):
        read_images(tmp_path / "two.npz")


def test_corrupt_idx_file_reports_read_idx_error(tmp_path):
    path = tmp_path / "images-idx3-ubyte.gz"
    path.write_bytes(gzip.compress(b"\x00\x00\x08\x03\x00\x00\x00\x02"))
    with pytest.raises(DataFileError, match=r"truncated inside its header"):
        read_images(path)


def test_differing_sizes_without_size(tmp_path):
    np.save(tmp_path / "a.npy", np.zeros((1, 28, 28), np.uint8))
    np.save(tmp_path / "b.npy", np.zeros((1, 32, 32), np.uint8))
    with pytest.raises(
        DataFileError,
        match=r"The images in .*b\.npy differ in size from those in "
        r".*a\.npy\. Received: 32x32 vs 28x28\. Fix: pass size=",
    ):
        read_images([tmp_path / "a.npy", tmp_path / "b.npy"])
    assert read_images([tmp_path / "a.npy", tmp_path / "b.npy"], size=(28, 28)).shape == (2, 28, 28)


def test_differing_channels_without_channels(tmp_path):
    np.save(tmp_path / "g.npy", np.zeros((1, 8, 8), np.uint8))
    np.save(tmp_path / "c.npy", np.zeros((1, 8, 8, 3), np.uint8))
    with pytest.raises(
        DataFileError,
        match=r"differ in channels from those in .*g\.npy\. Received: "
        r"3 vs 1 channels\. Fix: pass channels=1 or channels=3",
    ):
        read_images([tmp_path / "g.npy", tmp_path / "c.npy"])


def test_bad_arguments(tmp_path):
    with pytest.raises(ConfigError, match=r"`paths` names no file\. Received: paths=\[\]"):
        read_images([])
    with pytest.raises(
        ConfigError,
        match=r"`size` must be \(height, width\) with positive sides, "
        r"or None\. Received: size=\(0, 28\)",
    ):
        read_images(["x.png"], size=(0, 28))
    with pytest.raises(ConfigError, match=r"`channels` must be 1, 3 or None\. Received: channels=2"):
        read_images(["x.png"], channels=2)


def test_a_rotated_jpeg_reads_as_shown_and_a_gif_named_png_reads(tmp_path):
    import struct

    import tensorflow as tf

    jpeg = tf.io.encode_jpeg(np.zeros((20, 40, 3), "uint8")).numpy()
    tiff = b"II*\x00" + struct.pack("<IH", 8, 1) + struct.pack("<HHIHH", 0x0112, 3, 1, 6, 0)
    app1 = b"Exif\x00\x00" + tiff
    (tmp_path / "p.jpg").write_bytes(
        jpeg[:2] + b"\xff\xe1" + struct.pack(">H", len(app1) + 2) + app1 + jpeg[2:]
    )
    assert read_images(tmp_path / "p.jpg").shape == (1, 40, 20, 3)
    image = pytest.importorskip("PIL.Image")
    buffer = __import__("io").BytesIO()
    image.fromarray(np.full((5, 6, 3), 90, "uint8")).save(buffer, "GIF")
    (tmp_path / "g.png").write_bytes(buffer.getvalue())
    assert read_images(tmp_path / "g.png").shape == (1, 5, 6, 3)


def test_16_bit_rgba_png_reads_as_8_bit_rgb(tmp_path):
    import tensorflow as tf

    (tmp_path / "d.png").write_bytes(tf.io.encode_png(np.full((3, 4, 4), 65535, np.uint16)).numpy())
    images = read_images(tmp_path / "d.png")
    assert images.shape == (1, 3, 4, 3) and images.dtype == np.uint8 and int(images.max()) == 255


def test_file_names_of_any_encoding_survive_into_text(tmp_path):
    import os

    from transferlab.serving.predictions import display_name

    raw = os.fsencode(tmp_path) + b"/caf\xe9-\xff.npy"
    with open(raw, "wb") as handle:
        np.save(handle, np.zeros((1, 4, 4), "uint8"))
    (path,) = [p for p in tmp_path.iterdir() if p.suffix == ".npy"]
    assert read_images(path).shape == (1, 4, 4)
    name = display_name(path)
    assert name.endswith("caf\\xe9-\\xff.npy") and name.encode("utf-8")
