"""The shared harness: every registered backbone passes the same checks.

Parametrised from ``list_backbones()``, so a backbone is tested the moment it
is registered. Each backbone is built once per module (the big
``keras.applications`` models are slow to build), at its minimum input size
and, where the builder has a width option, at a tiny width.
"""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

import keras
import numpy as np
import pytest

from transferlab.backbones import create_backbone, get_backbone_info, list_backbones
from transferlab.backbones.classifier import Classifier, build_classifier
from transferlab.backbones.registry import _lookup
from transferlab.errors import InputShapeError

NAMES = list_backbones()
NUM_CLASSES = 3

# Tiny widths for the builders that take one (tests only need the structure).
_TINY = {"width": 0.125, "alpha": 0.35}


def tiny_kwargs(name: str) -> dict[str, Any]:
    """Width options the backbone's builder accepts, set to tiny values."""
    params = inspect.signature(_lookup(name)[1]).parameters
    return {key: value for key, value in _TINY.items() if key in params}


@pytest.fixture(scope="module")
def classifiers() -> dict[str, Classifier]:
    """One classifier per backbone, built lazily, at the backbone's minimum size."""
    return {}


@pytest.fixture
def clf(request: pytest.FixtureRequest, classifiers: dict[str, Classifier]) -> Classifier:
    name = request.param
    if name not in classifiers:
        info = get_backbone_info(name)
        classifiers[name] = build_classifier(
            name,
            NUM_CLASSES,
            input_shape=(*info.min_input_size, 1),
            **tiny_kwargs(name),
        )
    model = classifiers[name]
    model.trainable = True
    return model


def images(info_name: str, n: int = 2, seed: int = 0) -> np.ndarray:
    size = get_backbone_info(info_name).min_input_size
    return np.random.default_rng(seed).integers(0, 256, (n, *size, 1)).astype("uint8")


def by_id(variables: list[Any]) -> dict[int, Any]:
    return {id(v): v for v in variables}


@pytest.mark.parametrize("clf", NAMES, indirect=True)
def test_builds_at_minimum_size(clf: Classifier) -> None:
    info = clf.backbone_info
    assert tuple(clf.backbone.input_shape[1:]) == (*info.min_input_size, info.channels)
    assert clf.backbone.name == info.name
    assert clf.backbone.get_layer(info.feature_layer).output.shape == clf.backbone.output.shape
    assert clf.adapter.preprocessing == info.preprocessing


@pytest.mark.parametrize("name", NAMES)
def test_rejects_a_smaller_input_with_a_clear_error(name: str) -> None:
    info = get_backbone_info(name)
    h, w = info.min_input_size
    with pytest.raises(InputShapeError, match=f"needs inputs of at least {h}x{w}.*input_size="):
        create_backbone(name, input_shape=(h - 1, w, info.channels), **tiny_kwargs(name))
    with pytest.raises(InputShapeError, match=f"needs inputs of at least {h}x{w}"):
        build_classifier(name, 2, input_size=(h, w - 1), **tiny_kwargs(name))


@pytest.mark.parametrize("clf", NAMES, indirect=True)
def test_forward_pass_shape_and_probabilities(clf: Classifier) -> None:
    out = np.asarray(clf(images(clf.backbone_name), training=False))
    assert out.shape == (2, NUM_CLASSES)
    np.testing.assert_allclose(out.sum(axis=1), 1.0, rtol=1e-5)
    features = clf.feature_extractor()(images(clf.backbone_name), training=False)
    assert features.shape[0] == 2 and len(features.shape) == 2


@pytest.mark.parametrize("clf", NAMES, indirect=True)
def test_groups_cover_every_weight_exactly_once(clf: Classifier) -> None:
    backbone = clf.backbone
    groups = clf.backbone_info.group_layers(backbone)
    assert tuple(groups) == clf.backbone_info.group_names
    assert all(groups.values()), "every group holds at least one layer"
    seen: list[int] = [id(v) for layers in groups.values() for layer in layers for v in layer.weights]
    assert len(seen) == len(set(seen)), "a weight is in two groups"
    assert set(seen) == set(by_id(backbone.weights)), "a weight is in no group"


@pytest.mark.parametrize("clf", NAMES, indirect=True)
def test_groups_follow_the_data_flow(clf: Classifier) -> None:
    """No layer reads the output of a layer in a later group (groups are bottom to top)."""
    groups = clf.backbone_info.group_layers(clf.backbone)
    rank = {id(layer): i for i, layers in enumerate(groups.values()) for layer in layers}
    for layer in (layer for layers in groups.values() for layer in layers):
        inputs = layer.input if isinstance(layer.input, list) else [layer.input]
        for tensor in inputs:
            source = tensor._keras_history.operation
            if id(source) in rank:
                assert rank[id(source)] <= rank[id(layer)], (source.name, layer.name)


@pytest.mark.parametrize("clf", NAMES, indirect=True)
def test_keras_round_trip_keeps_predictions_and_frozen_flags(clf: Classifier, tmp_path: Path) -> None:
    info = clf.backbone_info
    first_group = info.group_layers(clf.backbone)[info.group_names[0]]
    frozen = next(layer for layer in first_group if layer.weights)
    frozen.trainable = False
    try:
        path = tmp_path / f"{info.name}.keras"
        clf.save(path)
        revived = keras.saving.load_model(path)
    finally:
        frozen.trainable = True
    assert isinstance(revived, Classifier)
    assert revived.backbone_info == info
    assert tuple(info.group_layers(revived.backbone)) == info.group_names
    assert revived.backbone.get_layer(frozen.name).trainable is False
    others = [layer for layer in revived.backbone.layers if layer.weights and layer.name != frozen.name]
    assert all(layer.trainable for layer in others)
    x = images(info.name, seed=1)
    np.testing.assert_allclose(revived.predict(x, verbose=0), clf.predict(x, verbose=0), atol=1e-6)


@pytest.mark.parametrize("clf", NAMES, indirect=True)
def test_frozen_backbone_is_unchanged_by_a_training_step(clf: Classifier) -> None:
    clf.backbone.trainable = False  # before compile: Keras ignores it after
    clf.compile(optimizer=keras.optimizers.SGD(0.1), loss="sparse_categorical_crossentropy")
    before = [v.numpy().copy() for v in clf.backbone.weights]
    head_before = [v.numpy().copy() for v in clf.head.weights]
    clf.fit(images(clf.backbone_name, n=4), np.array([0, 1, 2, 0]), epochs=1, batch_size=4, verbose=0)
    for old, var in zip(before, clf.backbone.weights):
        np.testing.assert_array_equal(old, var.numpy(), err_msg=var.path)
    assert any(not np.array_equal(old, v.numpy()) for old, v in zip(head_before, clf.head.weights))


@pytest.mark.parametrize("name", NAMES)
def test_real_mnist_digits_go_straight_into_every_backbone(name: str, mnist_dir: Path) -> None:
    # 28x28x1 uint8 digits, as load_mnist returns them: the adapter resizes them to the
    # backbone's minimum where 28 is too small and converts their channels.
    from transferlab.data import load_mnist

    digits = load_mnist(mnist_dir).test.images[:4]
    model = build_classifier(name, 10, input_shape=(28, 28, 1), **tiny_kwargs(name))
    info = get_backbone_info(name)
    expected = tuple(max(28, side) for side in info.min_input_size)
    assert tuple(model.backbone.input_shape[1:3]) == expected
    assert model.backbone.input_shape[3] == info.channels
    probabilities = np.asarray(model.predict(digits[..., None], verbose=0))
    assert probabilities.shape == (4, 10)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)
