"""Tests of the one module that touches private Keras internals."""

from __future__ import annotations

import logging

import keras
import numpy as np
import pytest
import tensorflow as tf
from keras.src.trainers.trainer import Trainer

from transferlab import _keras_compat
from transferlab._keras_compat import (
    ALLOW_UNCHECKED_ENV,
    CHECKED_KERAS_VERSIONS,
    build_compiled_metrics,
    check_keras_version,
    flatten_layers,
    replica_components,
)
from transferlab.errors import UnsupportedVersionError


def test_the_checked_version_is_this_one() -> None:
    assert CHECKED_KERAS_VERSIONS == ("3.15.1",)
    assert ALLOW_UNCHECKED_ENV == "TRANSFERLAB_ALLOW_UNCHECKED_KERAS"
    assert check_keras_version("anything") is True


def test_an_unchecked_version_is_refused_unless_allowed(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(keras, "__version__", "3.99.0")
    monkeypatch.delenv(ALLOW_UNCHECKED_ENV, raising=False)
    monkeypatch.setattr(_keras_compat, "_warned", set())
    with pytest.raises(UnsupportedVersionError) as info:
        check_keras_version("the frobnicator")
    assert str(info.value) == (
        "the frobnicator was not checked against this Keras version. Received: keras==3.99.0. "
        "Accepted: keras 3.15.1. Fix: install a checked version, or try anyway with "
        "TRANSFERLAB_ALLOW_UNCHECKED_KERAS=1 (or allow_unchecked=True) and compare with a run on a "
        "checked version."
    )
    with caplog.at_level(logging.WARNING, logger="transferlab"):
        assert check_keras_version("the frobnicator", allow_unchecked=True) is False
        monkeypatch.setenv(ALLOW_UNCHECKED_ENV, "1")
        assert check_keras_version("the frobnicator") is False
    assert [r.getMessage() for r in caplog.records] == [  # warned once per feature
        "the frobnicator uses Keras internals not checked on keras==3.99.0 (checked: 3.15.1)"
    ]


def test_reading_internals_warns_on_an_unchecked_version(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(keras, "__version__", "3.99.0")
    monkeypatch.delenv(ALLOW_UNCHECKED_ENV, raising=False)
    monkeypatch.setattr(_keras_compat, "_warned", set())
    layer = keras.layers.Dense(1, name="d")
    with caplog.at_level(logging.WARNING, logger="transferlab"):
        assert flatten_layers(layer) == [layer]
    assert "flatten_layers uses Keras internals not checked on keras==3.99.0" in caplog.text


def test_flatten_layers_walks_nested_models() -> None:
    inputs = keras.Input((2,))
    head = keras.Sequential([keras.layers.Dense(2, name="h1"), keras.layers.Dense(1, name="h2")], name="head")
    model = keras.Model(inputs, head(keras.layers.Dense(2, name="body")(inputs)), name="outer")
    names = [layer.name for layer in flatten_layers(model)]
    assert names[0] == "outer"
    assert {"body", "head", "h1", "h2"} <= set(names)
    assert names.index("head") < min(names.index("h1"), names.index("h2"))  # a model before its layers
    assert [layer.name for layer in flatten_layers(model, include_self=False)] == names[1:]
    shallow = [layer.name for layer in flatten_layers(model, include_self=False, recursive=False)]
    assert "head" in shallow and "h1" not in shallow
    assert all(isinstance(layer, keras.layers.Layer) for layer in flatten_layers(model))


def test_missing_internals_are_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delattr(keras.layers.Layer, "_flatten_layers")
    with pytest.raises(
        UnsupportedVersionError,
        match=r"^the Keras internals flatten_layers uses are not there. Received: keras==3.15.1 \(AttributeError: .*_flatten_layers.*\). Accepted: keras 3.15.1. Fix: install a checked Keras version.$",
    ):
        flatten_layers(keras.layers.Dense(1))
    monkeypatch.delattr(Trainer, "_symbolic_build")
    with pytest.raises(UnsupportedVersionError, match="^the Keras internals build_compiled_metrics uses"):
        build_compiled_metrics(keras.Sequential([keras.Input((1,))]), (np.zeros((1, 1)), np.zeros((1, 1))))


def _compiled() -> keras.Model:
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def test_build_compiled_metrics_creates_them_without_updating_them() -> None:
    model = _compiled()
    assert [v.path for m in model.metrics for v in m.variables] == ["loss/total", "loss/count"]
    build_compiled_metrics(model, [np.ones((4, 3), "float32"), np.zeros((4,), "int32")])
    variables = [v for m in model.metrics for v in m.variables]
    assert [v.path for v in variables] == ["loss/total", "loss/count", "accuracy/total", "accuracy/count"]
    assert [float(v.numpy()) for v in variables] == [0.0] * 4
    assert model.optimizer.built  # as fit's own build does


def test_under_a_strategy_metrics_are_built_per_replica(mirrored: tf.distribute.Strategy) -> None:
    with mirrored.scope():
        model = _compiled()
    build_compiled_metrics(model, (np.ones((4, 3), "float32"), np.zeros((4,), "int32")))  # enters the scope
    accuracy_total = [v for m in model.metrics for v in m.variables][2]
    parts = replica_components(accuracy_total)
    assert len(parts) == 2 and [p.device for p in parts] != [parts[0].device] * 2
    parts[0].assign(3.0)
    parts[1].assign(4.0)
    assert float(accuracy_total.numpy()) == 7.0  # read across replicas: a sync-on-read sum
    kernel = model.layers[0].kernel
    assert len(replica_components(kernel)) == 2  # mirrored weights have a copy per replica too


def test_a_plain_variable_is_its_own_component() -> None:
    variable = keras.Variable(np.zeros((2,)))
    assert replica_components(variable) == [variable]
