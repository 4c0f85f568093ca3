"""A tiny registered backbone (conv + BatchNorm + pool, no dropout) for the training tests.

``register()`` adds it to the registry once (nothing happens on import); ``build(precision)``
builds a 3-class classifier on 12x12x1 images.
"""

from __future__ import annotations

from typing import Any

NAME = "tl_training_tiny"


def register() -> None:
    """Registers the backbone (idempotent)."""
    import keras

    from transferlab.backbones import BackboneInfo, LayerGroup, list_backbones, register_backbone

    if NAME in list_backbones():
        return

    @register_backbone(
        BackboneInfo(
            name=NAME,
            default_input_size=(12, 12),
            min_input_size=(8, 8),
            channels=1,
            preprocessing="unit",
            feature_layer="pool2",
            groups=(LayerGroup("block1", "pool1"), LayerGroup("block2", "pool2")),
        )
    )
    def tiny(*, input_shape: Any, name: str) -> keras.Model:
        x = keras.Input(input_shape)
        y = keras.layers.Conv2D(4, 3, padding="same", name="conv1")(x)
        y = keras.layers.BatchNormalization(name="bn1")(y)
        y = keras.layers.ReLU(name="relu1")(y)
        y = keras.layers.MaxPooling2D(name="pool1")(y)
        y = keras.layers.Conv2D(6, 3, padding="same", activation="relu", name="conv2")(y)
        y = keras.layers.MaxPooling2D(name="pool2")(y)
        return keras.Model(x, y, name=name)


def build(precision: str = "float32", dropout: float = 0.0) -> Any:
    """A 3-class classifier on the tiny backbone."""
    from transferlab.backbones import build_classifier

    register()
    return build_classifier(NAME, 3, input_shape=(12, 12, 1), dropout=dropout, precision=precision)


def data(n: int = 48, seed: int = 0) -> Any:
    """``n`` random 12x12 uint8 images with 3 classes."""
    import numpy as np

    from transferlab.data import LabeledImages

    rng = np.random.default_rng(seed)
    return LabeledImages(
        rng.integers(0, 256, (n, 12, 12), dtype="uint8"), rng.integers(0, 3, n), ("a", "b", "c")
    )
