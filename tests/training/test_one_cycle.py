"""Tests of the OneCycle learning-rate schedule."""

from __future__ import annotations

import math
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

from transferlab.errors import ConfigError
from transferlab.training.one_cycle import OneCycle


def _rate(s: OneCycle, step: int) -> float:
    return float(s(step))


def test_values_at_key_steps_cosine() -> None:
    s = OneCycle(1.0, total_steps=100, warmup_fraction=0.2, div_factor=10.0, final_div_factor=10.0)
    assert _rate(s, 0) == pytest.approx(0.1)
    assert _rate(s, 10) == pytest.approx(0.55)  # halfway up, linear
    assert _rate(s, 20) == pytest.approx(1.0)  # the peak
    mid = 0.01 + (1.0 - 0.01) * 0.5 * (1 + math.cos(math.pi * 0.5))
    assert _rate(s, 60) == pytest.approx(mid, rel=1e-5)  # halfway down, cosine
    assert _rate(s, 100) == pytest.approx(0.01)
    assert _rate(s, 500) == pytest.approx(0.01)  # stays at the floor


def test_linear_anneal_and_no_warmup() -> None:
    s = OneCycle(
        2.0, total_steps=10, warmup_fraction=0.0, div_factor=2.0, final_div_factor=2.0, anneal="linear"
    )
    assert [round(_rate(s, k), 5) for k in (0, 5, 10)] == [2.0, 1.25, 0.5]


def test_serializes_and_round_trips_in_an_optimizer(tmp_path: Path) -> None:
    s = OneCycle(0.5, total_steps=40, anneal="linear")
    again = keras.optimizers.schedules.deserialize(keras.optimizers.schedules.serialize(s))
    assert isinstance(again, OneCycle) and again.get_config() == s.get_config()
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.Adam(s), loss="mse")
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras")
    assert isinstance(loaded.optimizer._learning_rate, OneCycle)
    assert loaded.optimizer._learning_rate.get_config() == s.get_config()


def test_bad_arguments() -> None:
    with pytest.raises(ConfigError, match=r"`max_rate` must be > 0. Received: max_rate=0"):
        OneCycle(0, 10)
    with pytest.raises(
        ConfigError, match=r"`total_steps` must be a whole number >= 1. Received: total_steps=0"
    ):
        OneCycle(1.0, 0)
    with pytest.raises(
        ConfigError, match=r"`warmup_fraction` must be in \[0, 1\). Received: warmup_fraction=1"
    ):
        OneCycle(1.0, 10, warmup_fraction=1)
    with pytest.raises(ConfigError, match="`div_factor` and `final_div_factor` must be >= 1"):
        OneCycle(1.0, 10, div_factor=0.5)
    with pytest.raises(
        ConfigError, match=r"unknown `anneal`. Received: anneal='exp'. Accepted: 'cos', 'linear'"
    ):
        OneCycle(1.0, 10, anneal="exp")


def test_fit_under_mirrored_strategy_follows_the_schedule(mirrored: tf.distribute.Strategy) -> None:
    strategy = mirrored
    s = OneCycle(0.1, total_steps=4, warmup_fraction=0.5)
    x = np.ones((16, 3), "float32")
    y = np.zeros((16, 1), "float32")
    ds = tf.data.Dataset.from_tensor_slices((x, y)).batch(4, drop_remainder=True)
    with strategy.scope():
        model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
        model.compile(optimizer=keras.optimizers.SGD(s), loss="mse")
    history = model.fit(ds, epochs=1, verbose=0, shuffle=False)
    assert np.isfinite(history.history["loss"][0])
    assert int(model.optimizer.iterations.numpy()) == 4
    assert float(model.optimizer.learning_rate) == pytest.approx(_rate(s, 4))  # the floor after the cycle
