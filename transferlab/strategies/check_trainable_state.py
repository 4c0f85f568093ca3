"""``check_trainable_state``: refuse to train when flags changed since compile()."""

from __future__ import annotations

from typing import TYPE_CHECKING

from transferlab.errors import TrainableStateError, describe
from transferlab.strategies import _compiled_state
from transferlab.strategies._classifier_parts import walk_layers

if TYPE_CHECKING:  # pragma: no cover
    import keras

__all__ = ["check_trainable_state"]

_FIX = (
    "re-apply the phase and compile with a fresh optimizer: "
    "transferlab.strategies.compile_phase(model, phase, loss=...) (or apply_phase(model, phase) "
    "then model.compile(optimizer=build_optimizer(model, phase), ...)), or let the Trainer run "
    "the phases"
)


def check_trainable_state(model: keras.Model) -> None:
    """Raises if what trains now differs from what the model was compiled for.

    Keras fixes the set of trained variables at ``compile()`` (once the train
    function is built) and silently ignores later ``trainable`` changes, in
    both directions. Call this right before ``fit``. It compares the current
    flags with the state recorded by :func:`compile_phase`, or else with the
    flags Keras recorded at its last ``compile()``, and checks that a built
    optimizer tracks exactly the current trainable variables.

    Args:
        model: A compiled Keras model (a Classifier names the groups).

    Raises:
        TrainableStateError: If the model is not compiled, or layers changed
            ``trainable`` since compile (the message names them and their
            groups), or the optimizer was built for other variables.

    Example:
        >>> import keras
        >>> model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, name="d")])
        >>> model.compile(optimizer="sgd", loss="mse")
        >>> check_trainable_state(model)  # nothing changed: passes
        >>> model.get_layer("d").trainable = False
        >>> check_trainable_state(model)
        Traceback (most recent call last):
        ...
        transferlab.errors.TrainableStateError: Trainable flags changed since the model was compiled; Keras would silently keep training what it was compiled for. Received: now frozen: layers d. Fix: re-apply the phase and compile with a fresh optimizer: transferlab.strategies.compile_phase(model, phase, loss=...) (or apply_phase(model, phase) then model.compile(optimizer=build_optimizer(model, phase), ...)), or let the Trainer run the phases.
    """
    if not getattr(model, "compiled", False):
        raise TrainableStateError(
            describe(
                f"Model {getattr(model, 'name', '?')!r} is not compiled",
                fix=_FIX,
            )
        )
    current = _compiled_state.layer_flags(model)
    state = _compiled_state.recorded(model)
    if state is not None:
        compiled = {key: flag for key, (_, flag) in state.layer_flags.items()}
    else:
        keras_state = getattr(model, "_compiled_trainable_state", None)
        if keras_state is None:
            raise TrainableStateError(
                describe(
                    "Cannot tell what the model was compiled for (no record from compile_phase "
                    "and none from Keras)",
                    fix=_FIX,
                )
            )
        compiled = {id(layer): bool(flag) for layer, flag in keras_state.items()}
    changed = [(layer, flag) for key, (layer, flag) in current.items() if compiled.get(key) is not flag]
    if changed:
        groups, order = _group_names(model)
        parts = []
        for flag, word in ((False, "now frozen"), (True, "now trainable")):
            layers = [layer for layer, f in changed if f is flag]
            if layers:
                parts.append(f"{word}: {_summary(layers, groups, order)}")
        raise TrainableStateError(
            describe(
                "Trainable flags changed since the model was compiled; Keras would silently keep "
                "training what it was compiled for",
                received="; ".join(parts),
                fix=_FIX,
            )
        )
    now = {id(v) for v in model.trainable_variables}
    if state is not None and state.variable_ids != now:
        _raise_variables(len(state.variable_ids), len(now))
    optimizer = getattr(model, "optimizer", None)
    built_for = getattr(optimizer, "_trainable_variables", None) if optimizer is not None else None
    if getattr(optimizer, "built", False) and built_for is not None:
        if {id(v) for v in built_for} != now:
            _raise_variables(len(built_for), len(now))


def _raise_variables(before: int, now: int) -> None:
    raise TrainableStateError(
        describe(
            "The optimizer was built for other variables than the ones trainable now",
            received=f"{before} variables compiled for, {now} trainable now",
            fix=_FIX,
        )
    )


def _group_names(model: keras.Model) -> tuple[dict[int, str], dict[int, int]]:
    """``{id(layer): group}`` and ``{id(layer): position bottom to top}``."""
    names: dict[int, str] = {}
    backbone = getattr(model, "backbone", None)
    info = getattr(model, "backbone_info", None)
    if backbone is None or info is None:
        return names, {}
    try:
        by_group = info.group_layers(backbone)
    except Exception:  # a describing helper must not fail the check itself
        return names, {}
    for group, layers in by_group.items():
        for top in layers:
            for layer in walk_layers(top):
                names[id(layer)] = group
    for top in getattr(model, "head_layers", ()):
        for layer in walk_layers(top):
            names[id(layer)] = "head"
    return names, {key: i for i, key in enumerate(names)}


def _summary(
    layers: list[keras.layers.Layer], groups: dict[int, str], order: dict[int, int], limit: int = 6
) -> str:
    """``groups a, b; layers x, y, ... and N more``, bottom to top."""
    layers = sorted(layers, key=lambda layer: order.get(id(layer), len(order)))
    text = ""
    in_groups = list(dict.fromkeys(groups[id(layer)] for layer in layers if id(layer) in groups))
    if in_groups:
        text = f"groups {', '.join(in_groups)}; "
    names = [str(layer.name) for layer in layers]
    more = f" and {len(names) - limit} more" if len(names) > limit else ""
    return f"{text}layers {', '.join(names[:limit])}{more}"
