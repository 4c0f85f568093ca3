"""RunIdentity and the digests/descriptions it is built from: stable for the same run, different otherwise."""

from __future__ import annotations

import math
from typing import Any

import keras
import numpy as np
import pytest

from transferlab.errors import ConfigError, DataError, ResumeError
from transferlab.training.identity import (
    RunIdentity,
    arrays_digest,
    describe_object,
    model_description,
    weights_digest,
)

BACKBONE = "tl_identity_tiny"


def _register() -> None:
    from transferlab.backbones import BackboneInfo, LayerGroup, list_backbones, register_backbone

    if BACKBONE in list_backbones():
        return

    @register_backbone(
        BackboneInfo(
            name=BACKBONE,
            default_input_size=(12, 12),
            min_input_size=(8, 8),
            channels=1,
            preprocessing="unit",
            feature_layer="pool",
            groups=(LayerGroup("block", "pool"),),
        )
    )
    def tiny(*, input_shape: Any, name: str) -> keras.Model:
        x = keras.Input(input_shape)  # auto-named: input_layer, input_layer_1, ...
        y = keras.layers.Conv2D(2, 3, padding="same")(x)  # auto-named conv2d, conv2d_1, ...
        y = keras.layers.MaxPooling2D(name="pool")(y)
        return keras.Model(x, y, name=name)


def _classifier(seed: int = 0, **kwargs: Any) -> keras.Model:
    from transferlab.backbones import build_classifier

    _register()
    keras.utils.set_random_seed(seed)
    return build_classifier(BACKBONE, 3, input_shape=(12, 12, 1), **kwargs)


def _functional(units: int = 4, rate: float = 0.5, size: int = 6) -> keras.Model:
    """A branching functional model with a nested model, every name auto-generated."""
    inner_in = keras.Input((units,))
    inner = keras.Model(inner_in, keras.layers.Dense(units)(inner_in))
    inputs = keras.Input((size,))
    a = keras.layers.Dense(units)(inputs)
    b = keras.layers.Dropout(rate)(keras.layers.Dense(units)(inputs))
    merged = keras.layers.Add()([a, b])
    return keras.Model(inputs, keras.layers.Dense(2)(inner(merged)))


def _components(model: keras.Model, images: np.ndarray, augment: Any = None) -> dict[str, Any]:
    labels = np.arange(len(images)) % 3
    return {
        "model": model_description(model),
        "initial_weights": weights_digest(model),
        "data": {"train": arrays_digest(images, labels)},
        "augment": describe_object(augment),
        "optimizer": describe_object(keras.optimizers.Adam(1e-3)),
        "replicas": 1,
    }


# RunIdentity ------------------------------------------------------------------
def test_same_components_give_the_same_digest_in_any_order() -> None:
    a = RunIdentity.from_components({"seed": 0, "phases": [{"epochs": 2, "name": "head"}], "rate": 0.1})
    b = RunIdentity.from_components({"rate": 0.1, "phases": ({"name": "head", "epochs": 2},), "seed": 0})
    assert a == b and a.digest == b.digest and hash(a) == hash(b)
    assert len(a.digest) == 64 and a.short() == a.digest[:10] and a.short(3) == a.digest[:3]
    assert a.differences(b) == []
    assert RunIdentity.from_components({"seed": np.int64(3)}).components == {"seed": 3}
    assert RunIdentity.from_components({"seed": 1}).digest != a.digest


def test_components_that_are_not_json_are_refused_naming_the_key() -> None:
    with pytest.raises(ConfigError) as caught:
        RunIdentity.from_components({"model": {"layers": [1, {"fn": print}]}})
    assert str(caught.value) == (
        "A run identity's components must be JSON values. "
        "Received: model.layers[1].fn of type builtin_function_or_method. "
        "Accepted: None, bool, int, finite float, str, and lists and dicts (with string keys) of them. "
        "Fix: describe the value with describe_object(...), or pass a digest of it "
        "(weights_digest, arrays_digest)."
    )
    with pytest.raises(ConfigError, match=r"Received: options.rate=nan \(not finite\)"):
        RunIdentity.from_components({"options": {"rate": math.nan}})
    with pytest.raises(ConfigError, match=r"Received: key 1 of type int in options\."):
        RunIdentity.from_components({"options": {1: "a"}})
    with pytest.raises(ConfigError, match="must be a mapping of names to JSON values"):
        RunIdentity.from_components([("seed", 0)])  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=r"`n` must be a whole number from 1 to 64\. Received: n=0\."):
        RunIdentity.from_components({}).short(0)
    with pytest.raises(ConfigError, match=r"`limit` must be a whole number >= 1\. Received: limit=0\."):
        RunIdentity.from_components({}).differences(RunIdentity.from_components({}), limit=0)
    with pytest.raises(ConfigError, match="compares two RunIdentity objects. Received: other of type dict"):
        RunIdentity.from_components({}).differences({})  # type: ignore[arg-type]


def test_differences_are_readable_dotted_paths() -> None:
    a = RunIdentity.from_components(
        {
            "data": {"train": "3f2a" + "0" * 58 + "91"},
            "model": {"config": {"layers": [{}, {"config": {"pooling": "avg"}}]}},
            "odd key": 1,
            "phases": [1, 2],
        }
    )
    b = RunIdentity.from_components(
        {
            "data": {"train": "77c0" + "1" * 58 + "aa"},
            "model": {"config": {"layers": [{}, {"config": {"pooling": "max"}}]}},
            "odd key": 2,
            "phases": [1, 2, 3],
            "seed": "x" * 100,
        }
    )
    assert a.differences(b) == [
        "data.train: sha256 3f2a00…0091 ≠ 77c011…11aa",
        "model.config.layers[1].config.pooling: 'avg' ≠ 'max'",
        "['odd key']: 1 ≠ 2",
        "phases[2]: (absent) ≠ 3",
        "seed: (absent) ≠ '" + "x" * 56 + "…x'",
    ]
    assert a.differences(b, limit=2)[2] == "… and 3 more differences"
    assert RunIdentity.from_components({"a": {"b": 1}}).differences(
        RunIdentity.from_components({"a": 1})
    ) == ["a: {1 keys} ≠ 1"]


def test_json_round_trip_and_an_edited_record_is_refused() -> None:
    identity = RunIdentity.from_components({"seed": 0, "rate": 0.1, "nested": {"x": [1.5, None, True]}})
    record = identity.to_json()
    assert record["digest"] == identity.digest
    assert RunIdentity.from_json(record) == identity
    record["components"]["seed"] = 1
    with pytest.raises(ResumeError, match=r"does not match its digest \(it was edited or damaged\)"):
        RunIdentity.from_json(record)
    with pytest.raises(ResumeError, match="must be a record with its `components`. Received: list"):
        RunIdentity.from_json([1])  # type: ignore[arg-type]
    assert identity.components["nested"] == {"x": [1.5, None, True]}  # to_json gave a copy


# Digests ------------------------------------------------------------------------
def test_arrays_digest_follows_values_dtype_and_shape() -> None:
    x = np.arange(12, dtype="uint8").reshape(3, 4)
    assert arrays_digest(x, x[:, 0]) == arrays_digest(x.copy(), x[:, 0].copy())
    assert arrays_digest(np.asfortranarray(x)) == arrays_digest(x)
    changed = x.copy()
    changed[2, 3] += 1
    assert len({arrays_digest(x), arrays_digest(changed), arrays_digest(x.reshape(4, 3))}) == 3
    assert arrays_digest(x) != arrays_digest(x.astype("int16"))
    assert arrays_digest(x) != arrays_digest(x, x[:0])
    with pytest.raises(
        DataError, match="Arrays of Python objects cannot be hashed. Received: array 1 of dtype"
    ):
        arrays_digest(x, np.array([None]))


def test_weights_digest_is_stable_across_builds_and_follows_seed_and_values() -> None:
    first, again = _classifier(seed=0), _classifier(seed=0)
    assert [w.path for w in first.weights] != [w.path for w in again.weights]  # auto-names differ
    assert weights_digest(first) == weights_digest(again)
    assert weights_digest(_classifier(seed=1)) != weights_digest(first)
    again.weights[0].assign(again.weights[0].numpy() + 1.0)
    assert weights_digest(again) != weights_digest(first)


# Descriptions ---------------------------------------------------------------------
def test_model_description_is_stable_for_two_builds_of_one_functional_model() -> None:
    a, b = _functional(), _functional()
    assert a.name != b.name and {layer.name for layer in a.layers}.isdisjoint(
        layer.name for layer in b.layers
    )
    assert model_description(a) == model_description(b)
    described = model_description(b)
    assert described["config"]["name"] == "functional"
    names = [layer["config"]["name"] for layer in described["config"]["layers"]]
    assert names[0] == "input_layer" and len(set(names)) == len(names)
    # the graph's references are renamed with the layers
    for layer in described["config"]["layers"]:
        for node in layer["inbound_nodes"]:
            for arg in node["args"] if isinstance(node["args"][0], dict) else node["args"][0]:
                assert arg["config"]["keras_history"][0] in names
    b.compile(optimizer="adam", loss="mse")  # compile settings are not the model's description
    assert model_description(b) == model_description(a)


@pytest.mark.parametrize(
    ("change", "path"),
    [
        ({"units": 5}, "units"),
        ({"rate": 0.25}, "rate"),
        ({"size": 7}, "batch_shape"),
    ],
)
def test_model_description_differs_in_every_config_value(change: dict[str, Any], path: str) -> None:
    base = RunIdentity.from_components({"model": model_description(_functional())})
    other = RunIdentity.from_components({"model": model_description(_functional(**change))})
    assert base.digest != other.digest
    assert any(line.startswith("model.config.layers[") and path in line for line in base.differences(other))


def test_a_change_in_weights_data_pooling_input_size_or_augmentation_changes_the_identity() -> None:
    images = np.random.default_rng(0).integers(0, 255, (6, 12, 12, 1), dtype="uint8")
    flip = keras.Sequential([keras.layers.RandomFlip("horizontal", seed=1)])
    base = RunIdentity.from_components(_components(_classifier(), images, flip))
    same = RunIdentity.from_components(
        _components(
            _classifier(), images.copy(), keras.Sequential([keras.layers.RandomFlip("horizontal", seed=1)])
        )
    )
    assert same.digest == base.digest and same.differences(base) == []
    other_images = images.copy()
    other_images[0, 0, 0, 0] ^= 1
    variants = {
        "initial_weights": (_classifier(seed=5), images, flip),
        "data.train": (_classifier(), other_images, flip),
        "model.config.pooling": (_classifier(pooling="max"), images, flip),
        "model.config.backbone.config.layers[0].config.batch_shape": (
            _classifier(input_size=(16, 16)),
            images,
            flip,
        ),
        "augment.config.layers[0].config.mode": (
            _classifier(),
            images,
            keras.Sequential([keras.layers.RandomFlip("vertical", seed=1)]),
        ),
    }
    for named, (model, data, augment) in variants.items():
        other = RunIdentity.from_components(_components(model, data, augment))
        assert other.digest != base.digest, named
        lines = base.differences(other)
        assert any(line.startswith(named) for line in lines), (named, lines)
    pooling = base.differences(
        RunIdentity.from_components(_components(_classifier(pooling="max"), images, flip))
    )
    assert pooling == ["model.config.pooling: 'avg' ≠ 'max'"]


def test_describe_object_is_stable_for_keras_objects_and_plain_values() -> None:
    first, second = keras.optimizers.Adam(1e-3), keras.optimizers.Adam(1e-3)
    assert first.name != second.name  # Keras numbers optimizers: adam, adam_1, ...
    assert describe_object(first) == describe_object(second)
    assert describe_object(first)["class"] == "keras.optimizers.Adam"
    assert describe_object(keras.optimizers.Adam(1e-2)) != describe_object(first)
    assert describe_object(keras.optimizers.SGD(1e-3)) != describe_object(first)
    loss = describe_object(keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    assert loss["class"] == "keras.losses.SparseCategoricalCrossentropy" and loss["config"]["from_logits"]
    assert describe_object(keras.metrics.SparseCategoricalAccuracy()) == describe_object(
        keras.metrics.SparseCategoricalAccuracy()
    )
    aug = [keras.Sequential([keras.layers.RandomRotation(0.1, seed=3)]) for _ in range(2)]
    assert describe_object(aug[0]) == describe_object(aug[1])
    assert describe_object(keras.Sequential([keras.layers.RandomRotation(0.2, seed=3)])) != describe_object(
        aug[0]
    )
    schedule = keras.optimizers.schedules.CosineDecay(0.1, 10)
    assert describe_object(schedule)["config"]["decay_steps"] == 10
    assert describe_object(["accuracy", None, 2, 0.5, math.inf, np.float32(0.25), (1,)]) == [
        "accuracy",
        None,
        2,
        0.5,
        "inf",
        0.25,
        [1],
    ]
    assert describe_object(np.zeros(3))["sha256"] == arrays_digest(np.zeros(3))
    assert describe_object(math.sqrt) == "math.sqrt"
    assert describe_object(_functional).endswith("test_identity._functional")
    assert describe_object(lambda x: x * 2) != describe_object(lambda x: x * 3)
    assert "0x" not in str(describe_object(object()))
    # every description is a valid identity component
    RunIdentity.from_components({"d": describe_object([first, aug[0], schedule, math.nan, object()])})
    with pytest.raises(ConfigError, match="needs a Keras model or layer. Received: an object of type str"):
        model_description("model")
