"""CosineClassifier: scale * cosine logits, learnt or fixed scale, float32 inside, saving, prototypes."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

from transferlab.backbones import CosineClassifier
from transferlab.errors import ConfigError, DataError
from transferlab.strategies import class_prototypes, nearest_prototype


def _cosine_logits(x: np.ndarray, kernel: np.ndarray, scale: float) -> np.ndarray:
    x = np.asarray(x, np.float64)
    kernel = np.asarray(kernel, np.float64)
    xn = x / np.linalg.norm(x, axis=-1, keepdims=True)
    kn = kernel / np.linalg.norm(kernel, axis=0, keepdims=True)
    return scale * xn @ kn


def test_logits_are_scale_times_cosine():
    rng = np.random.default_rng(0)
    head = CosineClassifier(4, scale=7.5)
    x = rng.normal(size=(6, 5)).astype("float32") * 30
    logits = np.asarray(head(x))
    assert logits.shape == (6, 4) and logits.dtype == np.float32
    np.testing.assert_allclose(logits, _cosine_logits(x, np.asarray(head.kernel), 7.5), rtol=1e-5, atol=1e-5)
    assert np.abs(logits).max() <= 7.5 + 1e-5
    # A zero feature vector has no direction: its cosines are 0, not NaN.
    assert np.asarray(head(np.zeros((1, 5), "float32"))).tolist() == [[0.0] * 4]


def test_the_scale_learns_or_stays_fixed():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(16, 3)).astype("float32")
    y = (x[:, 0] > 0).astype("int64")
    for learn in (True, False):
        keras.utils.set_random_seed(0)
        head = CosineClassifier(2, scale=4.0, learn_scale=learn)
        model = keras.Sequential([keras.Input((3,)), head])
        model.compile(keras.optimizers.SGD(0.5), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        kernel_before = np.asarray(head.kernel).copy()
        model.fit(x, y, batch_size=16, epochs=3, verbose=0)
        assert ("scale" in [w.name for w in head.trainable_weights]) is learn
        assert "scale" in [w.name for w in head.weights]  # saved either way
        assert (float(head.scale.numpy()) != 4.0) is learn
        assert not np.allclose(np.asarray(head.kernel), kernel_before)


def test_config_round_trip():
    head = CosineClassifier(3, scale=2.5, learn_scale=False, epsilon=1e-8, name="cos")
    config = head.get_config()
    assert {k: config[k] for k in ("units", "scale", "learn_scale", "epsilon", "name")} == {
        "units": 3,
        "scale": 2.5,
        "learn_scale": False,
        "epsilon": 1e-8,
        "name": "cos",
    }
    again = CosineClassifier.from_config(config)
    assert again.get_config() == config
    assert keras.saving.get_registered_name(CosineClassifier) == "transferlab>CosineClassifier"


def test_keras_file_round_trip_keeps_the_weights_and_the_learnt_scale(tmp_path: Path):
    keras.utils.set_random_seed(0)
    inputs = keras.Input((5,))
    model = keras.Model(inputs, CosineClassifier(3, scale=6.0, name="cos")(inputs))
    model.get_layer("cos").scale.assign(3.25)  # as if trained away from its initial value
    x = np.random.default_rng(2).normal(size=(4, 5)).astype("float32")
    path = tmp_path / "head.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    layer = loaded.get_layer("cos")
    assert isinstance(layer, CosineClassifier)
    assert float(layer.scale.numpy()) == 3.25 and layer.get_config()["scale"] == 6.0
    np.testing.assert_array_equal(np.asarray(loaded(x)), np.asarray(model(x)))
    assert [w.name for w in layer.trainable_weights] == ["kernel", "scale"]


def test_mixed_float16_computes_in_float32_and_large_activations_do_not_overflow():
    rng = np.random.default_rng(3)
    head = CosineClassifier(3, scale=10.0, dtype="mixed_float16")
    inputs = keras.Input((64,), dtype="float16")
    model = keras.Model(inputs, head(inputs))
    assert model.output.dtype == "float32"
    # A squared norm of 64 * 300² = 5.8e6 overflows float16 (max 65504).
    x = (rng.uniform(200, 300, (4, 64)) * rng.choice([-1, 1], (4, 64))).astype("float16")
    logits = model(x)
    assert logits.dtype == tf.float32 and head.kernel.dtype == "float32" and head.scale.dtype == "float32"
    np.testing.assert_allclose(
        np.asarray(logits), _cosine_logits(x, np.asarray(head.kernel), 10.0), atol=1e-4
    )
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(model(x))
    grads = tape.gradient(loss, head.trainable_weights)
    assert all(g.dtype == tf.float32 and np.all(np.isfinite(np.asarray(g))) for g in grads)


def test_set_prototypes_builds_the_layer_and_the_nearest_prototype_wins():
    rng = np.random.default_rng(4)
    centres = rng.normal(0, 3, (4, 6))
    labels = np.repeat(np.arange(4), 5)
    features = centres[labels] + rng.normal(size=(20, 6))
    prototypes = class_prototypes(features, labels, 4)
    head = CosineClassifier(4, scale=10.0)
    head.set_prototypes(prototypes)
    assert head.built and head.kernel.shape == (6, 4)
    np.testing.assert_allclose(np.asarray(head.kernel).T, prototypes, atol=1e-6)
    queries = rng.normal(size=(50, 6)).astype("float32")
    predicted = np.argmax(np.asarray(head(queries)), axis=1)
    assert predicted.tolist() == nearest_prototype(queries, prototypes).tolist()
    # Only the direction of a prototype is stored.
    head.set_prototypes(prototypes * np.array([[2.0], [0.5], [9.0], [1.0]]))
    np.testing.assert_allclose(np.asarray(head.kernel).T, prototypes, atol=1e-6)


_BUILT = CosineClassifier(2)
_BUILT.build((None, 3))

_ERRORS: list[tuple[str, Callable[[], object], type[Exception], str]] = [
    (
        "units-zero",
        lambda: CosineClassifier(0),
        ConfigError,
        "`units` (the number of classes) must be an integer >= 1. Received: units=0. Accepted: an int >= 1. "
        "Fix: pass the number of classes, e.g. CosineClassifier(5).",
    ),
    ("units-bool", lambda: CosineClassifier(True), ConfigError, "Received: units=True."),
    ("units-float", lambda: CosineClassifier(2.0), ConfigError, "Received: units=2.0."),
    (
        "scale-zero",
        lambda: CosineClassifier(2, scale=0.0),
        ConfigError,
        "`scale` must be a finite number > 0. Received: scale=0.0. Accepted: a finite float > 0. Fix: pass "
        "e.g. scale=10.0 (Chen et al. use 2 to 10).",
    ),
    ("scale-nan", lambda: CosineClassifier(2, scale=float("nan")), ConfigError, "Received: scale=nan."),
    ("scale-text", lambda: CosineClassifier(2, scale="10"), ConfigError, "Received: scale='10'."),
    (
        "epsilon",
        lambda: CosineClassifier(2, epsilon=-1e-6),
        ConfigError,
        "`epsilon` must be a finite number > 0. Received: epsilon=-1e-06. Accepted: a finite float > 0. "
        "Fix: pass a small positive number, e.g. 1e-12.",
    ),
    (
        "learn-scale",
        lambda: CosineClassifier(2, learn_scale="yes"),
        ConfigError,
        "`learn_scale` must be True or False. Received: learn_scale='yes'. Accepted: True (the scale trains) "
        "or False (it stays fixed). Fix: pass a bool.",
    ),
    (
        "unknown-width",
        lambda: CosineClassifier(2).build((None, None)),
        DataError,
        "The last axis of the features must have a known size. Received: input shape (None, None). "
        "Accepted: a shape (..., features) with features known. Fix: give the model's Input a fixed "
        "feature size.",
    ),
    (
        "prototypes-rows",
        lambda: CosineClassifier(3).set_prototypes(np.ones((2, 4))),
        DataError,
        "`prototypes` must have one row per class, shape (units, features). Received: prototypes.shape=(2, 4). "
        "Accepted: shape (3, features). Fix: pass an array of shape (num_classes, feature_size)",
    ),
    (
        "prototypes-width",
        lambda: _BUILT.set_prototypes(np.ones((2, 4))),
        DataError,
        "Received: prototypes.shape=(2, 4). Accepted: shape (2, 3).",
    ),
    (
        "prototypes-nan",
        lambda: CosineClassifier(3).set_prototypes([[1.0, 0.0], [np.nan, 1.0], [0.0, np.inf]]),
        DataError,
        "`prototypes` must be finite. Received: NaN or infinity in the rows of classes [1, 2]. Accepted: "
        "finite numbers. Fix: compute the prototypes from finite features.",
    ),
]


@pytest.mark.parametrize(("call", "kind", "message"), [e[1:] for e in _ERRORS], ids=[e[0] for e in _ERRORS])
def test_bad_arguments_are_refused_with_the_argument_named(
    call: Callable[[], object], kind: type[Exception], message: str
):
    with pytest.raises(kind, match=re.escape(message)):
        call()
