"""Shared fixtures of the strategies tests: a tiny registered backbone with BN, data, a runner."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

import keras
import numpy as np
import pytest

from transferlab.backbones import BackboneInfo, LayerGroup, register_backbone, unregister_backbone
from transferlab.backbones.classifier import Classifier
from transferlab.strategies import Phase, check_trainable_state, compile_phase

TINY = "tl_strategies_tiny"
GROUPS = ("stem", "block1", "block2")


def _tiny(*, input_shape: tuple[int, int, int], name: str) -> keras.Model:
    x = keras.Input(input_shape, name="images")
    y = x
    for group in GROUPS:
        y = keras.layers.Conv2D(3, 3, padding="same", name=f"{group}_conv")(y)
        y = keras.layers.BatchNormalization(name=f"{group}_bn")(y)
        y = keras.layers.ReLU(name=f"{group}_relu")(y)
    return keras.Model(x, y, name=name)


TINY_INFO = BackboneInfo(
    name=TINY,
    default_input_size=(8, 8),
    min_input_size=(8, 8),
    channels=1,
    preprocessing="unit",
    groups=tuple(LayerGroup(g, f"{g}_relu") for g in GROUPS),
    feature_layer="block2_relu",
)


@pytest.fixture()
def tiny_backbone() -> Iterator[BackboneInfo]:
    """Registers the tiny backbone for one test, then removes it."""
    register_backbone(TINY_INFO)(_tiny)
    try:
        yield TINY_INFO
    finally:
        unregister_backbone(TINY)


@pytest.fixture()
def make_model(tiny_backbone: BackboneInfo) -> Callable[..., Classifier]:
    """``make_model(seed=0)``: a Classifier on the tiny backbone, 8x8x1 -> 3 classes."""

    def make(seed: int = 0) -> Classifier:
        keras.utils.set_random_seed(seed)
        backbone = _tiny(input_shape=(8, 8, 1), name=TINY)
        return Classifier(backbone=backbone, backbone_name=TINY, num_classes=3, input_shape=(8, 8, 1))

    return make


@pytest.fixture()
def data() -> tuple[np.ndarray, np.ndarray]:
    """8 random raw 8x8x1 images (pixel values in [0, 255]) and labels."""
    rng = np.random.default_rng(0)
    return rng.uniform(0, 255, (8, 8, 8, 1)).astype("float32"), rng.integers(0, 3, 8)


def snapshot(model: keras.Model) -> dict[str, np.ndarray]:
    """Every variable of the model by path (unique in these tests), except RNG states."""
    return {v.path: np.array(v.numpy()) for v in model.variables if "seed_generator" not in v.path}


def changed(before: dict[str, np.ndarray], after: dict[str, np.ndarray]) -> set[str]:
    """Paths of the variables whose value changed."""
    return {p for p in before if not np.array_equal(before[p], after[p])}


def run_phases(
    model: keras.Model,
    phases: Sequence[Phase],
    x: np.ndarray,
    y: np.ndarray,
    *,
    optimizer: str = "sgd",
    on_phase: Callable[[Phase, keras.Model, set[str]], None] | None = None,
) -> None:
    """The Trainer's loop in miniature: compile_phase, guard, fit(initial_epoch).

    ``on_phase(phase, model, moved)`` is called after each phase with the
    paths of the variables that changed during it.
    """
    epoch = 0
    for phase in phases:
        compile_phase(model, phase, loss="sparse_categorical_crossentropy", optimizer=optimizer)
        check_trainable_state(model)
        before = snapshot(model)
        model.fit(
            x,
            y,
            batch_size=len(x),
            epochs=epoch + phase.epochs,
            initial_epoch=epoch,
            shuffle=False,
            verbose=0,
        )
        epoch += phase.epochs
        if on_phase is not None:
            on_phase(phase, model, changed(before, snapshot(model)))


def variables_of(model: keras.Model, *prefixes: str) -> set[str]:
    """Paths of the model's trainable-kind variables (kernels, biases, gamma, beta) by prefix."""
    return {
        v.path
        for v in model.variables
        if v.path.startswith(prefixes) and not v.path.endswith(("moving_mean", "moving_variance"))
    }


class Helpers:
    """The helpers above, for tests (conftest cannot be imported under importlib mode)."""

    snapshot = staticmethod(snapshot)
    changed = staticmethod(changed)
    run_phases = staticmethod(run_phases)
    variables_of = staticmethod(variables_of)


@pytest.fixture()
def h() -> type[Helpers]:
    """Access to ``snapshot``, ``changed``, ``run_phases``, ``variables_of``."""
    return Helpers
