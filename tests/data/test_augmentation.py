from __future__ import annotations

import keras
import numpy as np
import pytest

from transferlab.data.augmentation import AUGMENTATION_PRESETS, make_augmentation
from transferlab.errors import ConfigError


def _digit() -> np.ndarray:
    x = np.zeros((4, 28, 28, 1), "float32")
    x[:, 6:22, 12:16] = 255.0  # a vertical bar, like a "1"
    return x


def _names(model: keras.Sequential) -> list[str]:
    return [layer.__class__.__name__ for layer in model.layers]


def test_presets_layers() -> None:
    assert _names(make_augmentation("none")) == ["Identity"]
    assert _names(make_augmentation("light")) == ["RandomTranslation", "RandomRotation", "RandomZoom"]
    assert _names(make_augmentation("standard")) == [
        "RandomTranslation",
        "RandomRotation",
        "RandomZoom",
        "RandomContrast",
    ]
    assert _names(make_augmentation("strong"))[-1] == "RandomErasing"
    assert set(AUGMENTATION_PRESETS) == {"none", "light", "standard", "strong"}
    for preset in AUGMENTATION_PRESETS:
        assert not any("Flip" in n for n in _names(make_augmentation(preset)))


def test_strength_scales_magnitudes() -> None:
    half = make_augmentation("standard", strength=0.5).layers
    full = make_augmentation("standard", strength=1.0).layers
    assert half[0].height_factor == pytest.approx(0.05) and full[0].height_factor == pytest.approx(0.1)
    assert full[1].factor == pytest.approx((-10 / 360, 10 / 360))
    big = make_augmentation("strong", strength=10).layers
    assert big[0].height_factor == pytest.approx(0.5)  # capped
    assert big[-1].factor == (1.0, 1.0)
    assert _names(make_augmentation("strong", strength=0)) == ["Identity"]


def test_identity_at_inference_random_in_training() -> None:
    x = _digit()
    augment = make_augmentation("strong", seed=3)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(augment(x, training=False)), x)
    out = keras.ops.convert_to_numpy(augment(x, training=True))
    assert out.shape == x.shape
    assert not np.array_equal(out, x)
    assert out.min() >= 0.0 and out.max() <= 255.0
    # Digits stay recognisable at the standard preset: most of the bar's ink survives.
    std = keras.ops.convert_to_numpy(make_augmentation("standard", seed=0)(x, training=True))
    assert (std.sum(axis=(1, 2, 3)) > 0.6 * x[0].sum()).all()


def test_serializable_round_trip() -> None:
    augment = make_augmentation("strong", strength=0.7, seed=1)
    revived = keras.Sequential.from_config(augment.get_config())
    assert _names(revived) == _names(augment)
    assert revived.layers[2].height_factor == augment.layers[2].height_factor


def test_errors() -> None:
    with pytest.raises(
        ConfigError,
        match=r"Unknown augmentation `preset`\. Received: preset='heavy'\. Accepted: 'none', 'light', 'standard', 'strong'",
    ):
        make_augmentation("heavy")
    with pytest.raises(ConfigError, match=r"`strength` must be a finite number >= 0\. Received: strength=-1"):
        make_augmentation("light", strength=-1)
    with pytest.raises(
        ConfigError, match=r"`seed` must be a non-negative integer or None\. Received: seed='1'"
    ):
        make_augmentation("light", seed="1")  # type: ignore[arg-type]
