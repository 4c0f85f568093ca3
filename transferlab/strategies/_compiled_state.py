"""Private: what a model was compiled for, recorded by compile_phase."""

from __future__ import annotations

import dataclasses
import weakref

import keras

from transferlab._keras_compat import flatten_layers

__all__: list[str] = []


@dataclasses.dataclass
class CompiledState:
    """Trainable flags and variables at compile time, and the optimizer compiled with."""

    optimizer: keras.optimizers.Optimizer | None
    layer_flags: dict[int, tuple[keras.layers.Layer, bool]]
    variable_ids: frozenset[int]


_STATES: weakref.WeakKeyDictionary[keras.Model, CompiledState] = weakref.WeakKeyDictionary()


def layer_flags(model: keras.Model) -> dict[int, tuple[keras.layers.Layer, bool]]:
    """``{id(layer): (layer, trainable)}`` for the model and every layer in it."""
    return {id(layer): (layer, bool(layer.trainable)) for layer in flatten_layers(model)}


def record(model: keras.Model) -> None:
    """Stores the model's current trainable state as its compiled state."""
    _STATES[model] = CompiledState(
        optimizer=getattr(model, "optimizer", None),
        layer_flags=layer_flags(model),
        variable_ids=frozenset(id(v) for v in model.trainable_variables),
    )


def recorded(model: keras.Model) -> CompiledState | None:
    """The state stored by :func:`record`, if still valid for the model's optimizer."""
    state = _STATES.get(model)
    if state is None or state.optimizer is not getattr(model, "optimizer", None):
        return None
    return state
