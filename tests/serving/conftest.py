"""Shared fixtures for the serving tests: a tiny classifier with distinct outputs, and digits."""

from __future__ import annotations

import numpy as np
import pytest


def make_tiny_classifier(num_classes: int = 3, **kwargs):
    """A width-1/8 AlexNet classifier whose head is scaled so that outputs differ per image."""
    import keras

    from transferlab.backbones import build_classifier

    keras.utils.set_random_seed(0)
    model = build_classifier("alexnet", num_classes, width=0.125, **kwargs)
    dense = model.head.get_layer("head_dense")
    kernel, bias = dense.get_weights()
    rng = np.random.default_rng(1)
    dense.set_weights([rng.normal(0.0, 10.0, kernel.shape).astype("float32"), bias])
    return model


def make_digits(n: int = 12, seed: int = 0, shape: tuple[int, ...] = (28, 28)) -> np.ndarray:
    """Synthetic raw uint8 images: a bright random rectangle on noise."""
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 60, (n, *shape), dtype=np.uint8)
    for image in images:
        top, left = rng.integers(2, 14, 2)
        image[top : top + 10, left : left + 6] = rng.integers(150, 256)
    return images


@pytest.fixture(scope="module")
def tiny_model():
    return make_tiny_classifier()


@pytest.fixture(scope="module")
def digits() -> np.ndarray:
    return make_digits()


@pytest.fixture(scope="module")
def exported(tiny_model, tmp_path_factory):
    """``tiny_model`` exported once per module, with class names a, b, c."""
    from transferlab.serving import export_saved_model

    return export_saved_model(
        tiny_model, tmp_path_factory.mktemp("export") / "served", class_names=["a", "b", "c"]
    )
