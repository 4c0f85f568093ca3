"""build_classifier(..., head="cosine"): a CosineClassifier as the head's last layer, saved and loaded."""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
import pytest

from transferlab.backbones import CosineClassifier, build_classifier
from transferlab.backbones.classifier import HEADS
from transferlab.errors import ConfigError


def test_the_cosine_head_replaces_the_dense_layer_and_survives_saving(tmp_path: Path) -> None:
    model = build_classifier("alexnet", 3, width=0.125, head="cosine", dropout=0.2)
    assert [type(layer).__name__ for layer in model.head_layers] == ["CosineClassifier"]
    assert [layer.name for layer in model.head.layers] == [
        "features",
        "head_dropout",
        "head_cosine",
        "head_softmax",
    ]
    assert model.get_config()["head"] == "cosine"
    assert "head" not in build_classifier("alexnet", 3, width=0.125).get_config()  # the default: as before
    layer = model.head.get_layer("head_cosine")
    assert isinstance(layer, CosineClassifier) and layer.kernel.shape == (64, 3)
    layer.set_prototypes(np.random.default_rng(0).normal(size=(3, 64)))
    images = np.random.default_rng(1).integers(0, 256, (4, 28, 28, 1)).astype("uint8")
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras")
    assert loaded.head_kind == "cosine"
    np.testing.assert_array_equal(loaded.predict(images, verbose=0), model.predict(images, verbose=0))


def test_the_cosine_head_of_a_mixed_precision_model_gives_float32() -> None:
    model = build_classifier("alexnet", 2, width=0.125, head="cosine", precision="bfloat16")
    assert model.output.dtype == "float32" and model.head.get_layer("head_cosine").kernel.dtype == "float32"


def test_an_unknown_head_is_refused() -> None:
    with pytest.raises(ConfigError) as info:
        build_classifier("alexnet", 3, width=0.125, head="mlp")
    assert str(info.value) == (
        "Unknown `head`. Received: head='mlp'. Accepted: 'dense', 'cosine'. "
        "Fix: pass 'cosine' for a cosine-similarity head (class prototypes), else leave the default."
    )
    assert HEADS[0] == "dense"
