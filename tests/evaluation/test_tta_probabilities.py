"""tta_probabilities: the mean of a model's probabilities over a batch and its augmented copies."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from transferlab.data.augmentation import make_augmentation
from transferlab.errors import ConfigError
from transferlab.evaluation import tta_probabilities


def _model(activation):
    keras.utils.set_random_seed(0)
    return keras.Sequential(
        [
            keras.Input((6, 6, 1)),
            keras.layers.Rescaling(1 / 255),
            keras.layers.Flatten(),
            keras.layers.Dense(3, activation=activation),
        ]
    )


def _images():
    return np.random.default_rng(0).integers(0, 256, (5, 6, 6, 1)).astype("float32")


def test_no_copies_is_the_models_probabilities():
    model, images = _model("softmax"), _images()
    got = tta_probabilities(model, images, copies=0, augmentation=make_augmentation("strong", seed=0))
    assert got.dtype == np.float64
    np.testing.assert_allclose(got, model(images).numpy(), rtol=1e-6, atol=1e-7)


def test_the_mean_over_the_batch_and_copies_drawn_in_a_row_by_the_seeded_augmentation():
    model, images = _model("softmax"), _images()
    got = tta_probabilities(model, images, copies=3, augmentation=make_augmentation("standard", seed=4))
    augmentation = make_augmentation("standard", seed=4)
    copies = [augmentation(images, training=True) for _ in range(3)]
    want = np.mean([model(x).numpy() for x in [images, *copies]], axis=0)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    assert np.abs(got - model(images).numpy()).max() > 1e-3


def test_logits_are_turned_into_probabilities_before_the_mean():
    model, images = _model(None), _images()
    got = tta_probabilities(model, images, copies=2, augmentation=make_augmentation("light", seed=1))
    augmentation = make_augmentation("light", seed=1)
    batches = [images, *(augmentation(images, training=True) for _ in range(2))]
    want = np.mean([keras.ops.softmax(model(x)).numpy() for x in batches], axis=0)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"copies": -1},
            "`copies` must be an integer >= 0. Received: copies=-1. Fix: pass 0 for the model's "
            "probabilities alone, or e.g. copies=4.",
        ),
        ({"copies": 2.0}, "`copies` must be an integer >= 0. Received: copies=2.0."),
        (
            {"augmentation": "light"},
            "`augmentation` must be a Keras layer. Received: augmentation of type str. "
            "Fix: build one with transferlab.data.make_augmentation(preset, seed=...).",
        ),
    ],
)
def test_argument_errors(kwargs, message):
    arguments = {"copies": 1, "augmentation": make_augmentation("light", seed=0), **kwargs}
    with pytest.raises(ConfigError) as info:
        tta_probabilities(_model("softmax"), _images(), **arguments)
    assert str(info.value).startswith(message)
