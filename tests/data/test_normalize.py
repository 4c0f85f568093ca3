from __future__ import annotations

import keras
import numpy as np
import pytest

from transferlab.data.input_adapter import InputAdapter
from transferlab.data.normalize import normalize
from transferlab.errors import ConfigError, DataError

RNG = np.random.default_rng(0)
RGB = RNG.integers(0, 256, size=(2, 5, 5, 3)).astype("uint8")
GRAY = RNG.integers(0, 256, size=(2, 5, 5, 1)).astype("uint8")


@pytest.mark.parametrize("mode", ["unit", "caffe", "tf", "torch"])
@pytest.mark.parametrize("images", [RGB, GRAY], ids=["rgb", "gray"])
def test_agrees_with_input_adapter(mode: str, images: np.ndarray) -> None:
    adapter = InputAdapter(size=None, channels=images.shape[-1], preprocessing=mode)
    expected = keras.ops.convert_to_numpy(adapter(images))
    got = normalize(images, mode)
    assert got.dtype == np.float32 and got.shape == images.shape
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-4)


def test_caffe_matches_vgg16_preprocess_input() -> None:
    expected = keras.applications.vgg16.preprocess_input(RGB.astype("float32").copy())
    np.testing.assert_allclose(normalize(RGB, "caffe"), expected, rtol=1e-6, atol=1e-4)


def test_tf_matches_inception_v3_preprocess_input() -> None:
    expected = keras.applications.inception_v3.preprocess_input(RGB.astype("float32").copy())
    np.testing.assert_allclose(normalize(RGB, "tf"), expected, rtol=1e-6, atol=1e-6)


def test_no_channel_axis_is_single_channel() -> None:
    got = normalize(GRAY[..., 0], "caffe")
    np.testing.assert_allclose(got, normalize(GRAY, "caffe")[..., 0])


def test_standardize_per_channel_and_given() -> None:
    out = normalize(RGB, "standardize")
    np.testing.assert_allclose(out.mean(axis=(0, 1, 2)), 0.0, atol=1e-5)
    np.testing.assert_allclose(out.std(axis=(0, 1, 2)), 1.0, atol=1e-5)
    given = normalize(np.array([[10.0, 30.0]]), "standardize", mean=20.0, std=10.0)
    assert given.tolist() == [[-1.0, 1.0]] and given.dtype == np.float32


def test_does_not_modify_input() -> None:
    x = RGB.astype("float32")
    before = x.copy()
    normalize(x, "caffe")
    assert (x == before).all()


def test_errors() -> None:
    with pytest.raises(
        ConfigError,
        match=r"Unknown normalization `mode`\. Received: mode='scale'\. Accepted: 'unit', 'standardize'",
    ):
        normalize(RGB, "scale")
    with pytest.raises(
        ConfigError,
        match=r"apply only to mode='standardize'.*Received: mean=0.5, std=None\. Fix: drop mean/std",
    ):
        normalize(RGB, "torch", mean=0.5)
    with pytest.raises(
        ConfigError,
        match=r"`std` must not be zero\. Received: std=\[0\.0\] \(computed from constant images\)",
    ):
        normalize(np.zeros((2, 3, 3, 1)), "standardize")
    with pytest.raises(DataError, match=r"`images` must be a numeric array\. Received: dtype=<U1"):
        normalize(np.array(["a"]), "unit")
