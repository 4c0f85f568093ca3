"""Per-group learning rates: each group's update matches its rate (SGD, Adam, schedule, Mirrored)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

from transferlab.errors import StrategyError
from transferlab.strategies import Phase, compile_phase, group_learning_rates, layerwise_optimizer

PHASE = Phase("ft", 1, ("block1", "block2"), learning_rate=0.1, lr_decay=0.5)
RATES = {"head_": 0.1, "block2_": 0.05, "block1_": 0.025}


def rate_of(path: str) -> float:
    return next(rate for prefix, rate in RATES.items() if path.startswith(prefix))


def gradients(model: keras.Model, x: np.ndarray, y: np.ndarray) -> dict[str, np.ndarray]:
    with tf.GradientTape() as tape:
        loss = keras.losses.sparse_categorical_crossentropy(y, model(x, training=True))
        loss = tf.reduce_mean(loss)
    grads = tape.gradient(loss, model.trainable_variables)
    return {v.path: g.numpy() for v, g in zip(model.trainable_variables, grads)}


def one_step(model: keras.Model, x: np.ndarray, y: np.ndarray) -> dict[str, np.ndarray]:
    """Trains one full-batch step; returns the change of every trainable variable."""
    before = {v.path: v.numpy().copy() for v in model.trainable_variables}
    model.fit(x, y, batch_size=len(x), epochs=1, shuffle=False, verbose=0)
    return {v.path: v.numpy() - before[v.path] for v in model.trainable_variables}


def test_rates_follow_decay_down_the_groups(tiny_backbone) -> None:  # type: ignore[no-untyped-def]
    assert group_learning_rates(tiny_backbone, PHASE) == {"block1": 0.025, "block2": 0.05}
    explicit = Phase("ft", 1, ("block2",), 0.1, group_learning_rates={"block2": 0.3})
    assert group_learning_rates(tiny_backbone, explicit) == {"block2": 0.3}


def test_sgd_step_of_each_group_matches_its_rate(make_model: Callable, data: tuple) -> None:
    model = make_model()
    opt = compile_phase(model, PHASE, loss="sparse_categorical_crossentropy", optimizer="sgd")
    assert type(opt).__name__ == "LayerwiseSGD"
    grads = gradients(model, *data)
    delta = one_step(model, *data)
    assert {p.split("_")[0] for p in delta} == {"head", "block1", "block2"}
    for path, d in delta.items():
        np.testing.assert_allclose(d, -rate_of(path) * grads[path], rtol=1e-4, atol=1e-7, err_msg=path)


def test_adam_first_step_moves_each_group_by_its_rate(make_model: Callable, data: tuple) -> None:
    model = make_model()
    compile_phase(model, PHASE, loss="sparse_categorical_crossentropy", optimizer="adam")
    grads = gradients(model, *data)
    delta = one_step(model, *data)
    c = np.sqrt(1 - 0.999)  # Keras Adam, step 1: lr * c * g / (c * |g| + eps) ~ lr * sign(g)
    for path, d in delta.items():
        g = grads[path]
        np.testing.assert_allclose(
            d, -rate_of(path) * c * g / (c * np.abs(g) + 1e-7), rtol=1e-3, atol=1e-7, err_msg=path
        )
        big = np.abs(g) > 1e-3
        assert big.any() and np.allclose(np.abs(d[big]), rate_of(path), rtol=1e-2), path


def test_factors_apply_on_top_of_a_schedule(make_model: Callable, data: tuple) -> None:
    schedule = keras.optimizers.schedules.ExponentialDecay(0.1, decay_steps=1, decay_rate=0.5)
    model = make_model()
    compile_phase(
        model,
        dataclasses.replace(PHASE, learning_rate=None),  # the schedule's rate is the head's
        loss="sparse_categorical_crossentropy",
        optimizer=keras.optimizers.SGD(learning_rate=schedule),
    )
    one_step(model, *data)  # step 0 at 0.1
    grads = gradients(model, *data)
    delta = one_step(model, *data)  # step 1: the schedule gives 0.05, each group its factor of it
    for path, d in delta.items():
        np.testing.assert_allclose(d, -0.5 * rate_of(path) * grads[path], rtol=1e-4, atol=1e-7)


def test_mirrored_strategy_applies_the_same_rates(
    make_model: Callable, data: tuple, mirrored: tf.distribute.Strategy
) -> None:
    with mirrored.scope():
        model = make_model()
    compile_phase(model, PHASE, loss="sparse_categorical_crossentropy", optimizer="sgd")
    grads = gradients(model, *data)
    delta = one_step(model, *data)
    for path, d in delta.items():
        np.testing.assert_allclose(d, -rate_of(path) * grads[path], rtol=1e-3, atol=1e-6, err_msg=path)


def test_compiled_model_with_layerwise_adam_saves_and_loads(
    make_model: Callable, data: tuple, tmp_path: Path
) -> None:
    model = make_model()
    compile_phase(model, PHASE, loss="sparse_categorical_crossentropy", optimizer="adam")
    one_step(model, *data)
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras")
    assert type(loaded.optimizer).__name__ == "LayerwiseAdam"
    assert loaded.optimizer.rate_factors == model.optimizer.rate_factors
    assert int(loaded.optimizer.iterations.numpy()) == 1
    one_step(model, *data)
    one_step(loaded, *data)  # same slots, same factors: same second step
    for a, b in zip(model.trainable_variables, loaded.trainable_variables):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-5, atol=1e-7, err_msg=a.path)


def test_optimizer_for_other_variables_is_refused(make_model: Callable, data: tuple) -> None:
    model = make_model()
    model.compile(
        optimizer=layerwise_optimizer(keras.optimizers.SGD(0.1), [("nope/kernel", 0.5)]),
        loss="sparse_categorical_crossentropy",
    )
    with pytest.raises(StrategyError, match=r"no single learning-rate factor.*Received: variable"):
        model.fit(*data, epochs=1, verbose=0)


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(StrategyError, match=r"takes a Keras optimizer instance.*Received: str"):
        layerwise_optimizer("adam", [])  # type: ignore[arg-type]
    with pytest.raises(
        StrategyError, match=r"factors must be finite numbers > 0. Received: \[\('a', 0.0\)\]"
    ):
        layerwise_optimizer(keras.optimizers.SGD(), [("a", 0.0)])
