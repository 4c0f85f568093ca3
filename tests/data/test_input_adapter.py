from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
import pytest

from transferlab.data.input_adapter import InputAdapter
from transferlab.errors import ConfigError, InputShapeError

RNG = np.random.default_rng(0)
DIGITS = RNG.integers(0, 256, size=(2, 28, 28)).astype("uint8")


def _np(x: object) -> np.ndarray:
    return keras.ops.convert_to_numpy(x)


@pytest.fixture(scope="module")
def vgg16() -> keras.Model:
    return keras.applications.VGG16(weights=None, include_top=False, input_shape=(32, 32, 3))


@pytest.fixture(scope="module")
def inception_v3() -> keras.Model:
    return keras.applications.InceptionV3(weights=None, include_top=False, input_shape=(75, 75, 3))


def test_output_feeds_vgg16_at_32(vgg16: keras.Model) -> None:
    adapter = InputAdapter(size=(32, 32), channels=3, preprocessing="caffe")
    x = adapter(DIGITS)
    assert tuple(x.shape) == (2, 32, 32, 3) and x.dtype == "float32"
    assert tuple(vgg16(x).shape) == (2, 1, 1, 512)
    # Caffe: BGR minus the ImageNet means; grey input has equal channels before.
    np.testing.assert_allclose(_np(x)[..., 0] + 103.939, _np(x)[..., 2] + 123.68, atol=1e-3)


def test_output_feeds_inception_v3_at_75(inception_v3: keras.Model) -> None:
    adapter = InputAdapter(size=(75, 75), channels=3, preprocessing="tf")
    x = _np(adapter(DIGITS[..., None].astype("float32")))
    assert x.shape == (2, 75, 75, 3)
    assert x.min() >= -1.0 - 1e-6 and x.max() <= 1.0 + 1e-6
    assert tuple(inception_v3(x).shape) == (2, 1, 1, 2048)


def test_adapter_inside_functional_model_with_backbone(vgg16: keras.Model) -> None:
    inputs = keras.Input((28, 28, 1))
    features = vgg16(InputAdapter(size=(32, 32), channels=3, preprocessing="caffe")(inputs))
    model = keras.Model(inputs, keras.layers.GlobalAveragePooling2D()(features))
    assert tuple(model.output_shape) == (None, 512)
    assert _np(model(DIGITS[..., None])).shape == (2, 512)


def test_pad_mode_centres_without_rescaling() -> None:
    out = _np(InputAdapter(size=(32, 32), channels=1, preprocessing="none", resize="pad")(DIGITS))
    assert out.shape == (2, 32, 32, 1)
    np.testing.assert_array_equal(out[:, 2:30, 2:30, 0], DIGITS.astype("float32"))
    assert out[:, :2].sum() == 0 and out[:, 30:].sum() == 0 and out[:, :, :2].sum() == 0
    odd = _np(InputAdapter(size=(31, 29), channels=1, preprocessing="none", resize="pad")(DIGITS))
    np.testing.assert_array_equal(odd[:, 1:29, 0:28, 0], DIGITS.astype("float32"))


def test_pad_cannot_shrink() -> None:
    with pytest.raises(
        InputShapeError, match=r"resize='pad' cannot shrink images\. Received: input 28x28, size=\(20, 20\)"
    ):
        InputAdapter(size=(20, 20), resize="pad")(DIGITS)


def test_channels_and_modes() -> None:
    rgb = RNG.integers(0, 256, size=(2, 4, 4, 3)).astype("float32")
    gray = _np(InputAdapter(channels=1, preprocessing="none")(rgb))
    np.testing.assert_allclose(gray[..., 0], rgb @ np.array([0.299, 0.587, 0.114]), rtol=1e-5)
    unit = _np(InputAdapter(preprocessing="unit")(np.full((1, 4, 4), 255, "uint8")))
    assert unit.shape == (1, 4, 4, 3) and np.allclose(unit, 1.0)
    torch = _np(InputAdapter(preprocessing="torch")(np.zeros((1, 2, 2, 3), "uint8")))
    np.testing.assert_allclose(
        torch[0, 0, 0], -np.array([0.485, 0.456, 0.406]) / [0.229, 0.224, 0.225], rtol=1e-5
    )
    assert InputAdapter(size=(9, 7), channels=1).compute_output_shape((None, 28, 28)) == (None, 9, 7, 1)


def test_save_load_round_trip_identical_outputs(tmp_path: Path) -> None:
    inputs = keras.Input((28, 28))
    x = InputAdapter(size=(32, 32), channels=3, preprocessing="tf", resize="pad", name="adapter")(inputs)
    x = keras.layers.Conv2D(2, 3, name="conv")(x)
    model = keras.Model(inputs, keras.layers.GlobalAveragePooling2D()(x))
    path = tmp_path / "tiny.keras"
    model.save(path)
    revived = keras.models.load_model(path)
    adapter = revived.get_layer("adapter")
    assert isinstance(adapter, InputAdapter)
    assert (adapter.size, adapter.channels, adapter.preprocessing, adapter.resize) == (
        (32, 32),
        3,
        "tf",
        "pad",
    )
    np.testing.assert_array_equal(_np(revived(DIGITS)), _np(model(DIGITS)))


@pytest.mark.parametrize(
    ("kwargs", "pattern"),
    [
        (
            {"size": (32,)},
            r"`size` must be \(height, width\) with positive sides, or None\. Received: size=\(32,\)\. Fix: pass e\.g\. size=\(32, 32\)",
        ),
        ({"size": (0, 32)}, r"`size` must be \(height, width\).*Received: size=\(0, 32\)"),
        ({"channels": 2}, r"`channels` must be 1 or 3\. Received: channels=2"),
        (
            {"preprocessing": "imagenet"},
            r"Unknown `preprocessing` mode\. Received: preprocessing='imagenet'\. Accepted: 'unit', 'caffe', 'tf', 'torch', 'none'",
        ),
        (
            {"resize": "bicubic"},
            r"Unknown `resize` method\. Received: resize='bicubic'\. Accepted: 'bilinear', 'nearest', 'pad'",
        ),
    ],
)
def test_config_errors(kwargs: dict[str, object], pattern: str) -> None:
    with pytest.raises(ConfigError, match=pattern):
        InputAdapter(**kwargs)  # type: ignore[arg-type]


def test_input_shape_error() -> None:
    with pytest.raises(
        InputShapeError,
        match=r"with 1 or 3 channels\. Received: shape=\(2, 8, 8, 2\)\. Fix: reshape the images",
    ):
        InputAdapter()(np.zeros((2, 8, 8, 2), "float32"))
