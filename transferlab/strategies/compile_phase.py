"""``compile_phase``: apply a Phase and compile with a fresh optimizer, the safe way."""

from __future__ import annotations

import contextlib

import keras
import tensorflow as tf

from transferlab.strategies import _compiled_state
from transferlab.strategies.apply_phase import apply_phase
from transferlab.strategies.build_optimizer import build_optimizer
from transferlab.strategies.phase import Phase

__all__ = ["compile_phase"]


def compile_phase(
    model: keras.Model,
    phase: Phase,
    *,
    loss: object,
    metrics: object = None,
    optimizer: str | keras.optimizers.Optimizer = "adam",
    schedule: str = "constant",
    decay_steps: int | None = None,
    rate_scale: float = 1.0,
    **compile_kwargs: object,
) -> keras.optimizers.Optimizer:
    """Applies ``phase``, then compiles ``model`` with a fresh optimizer.

    The three steps Keras needs for a change of what trains:
    :func:`apply_phase`, :func:`build_optimizer`, ``model.compile`` — inside
    the model's ``tf.distribute`` strategy scope when it was built under one.
    It records the compiled trainable state for
    :func:`check_trainable_state`. Then call
    ``model.fit(..., initial_epoch=...)``. Never call it from a callback
    during ``fit`` (Keras cannot recompile there).

    Args:
        model: A Classifier.
        phase: The phase to train next.
        loss: Passed to ``compile``.
        metrics: Passed to ``compile``.
        optimizer: Name or template instance, see :func:`build_optimizer`:
            its own rate (or schedule) is the base rate the phase scales.
        schedule: ``"constant"`` or ``"cosine"``, see :func:`build_optimizer`.
        decay_steps: Steps of the cosine decay.
        rate_scale: Multiplies every rate (e.g. the replica count).
        **compile_kwargs: Other ``compile`` arguments (``jit_compile``...).

    Returns:
        The new optimizer (also ``model.optimizer``).

    Raises:
        StrategyError: See :func:`apply_phase` and :func:`build_optimizer`.

    Example:
        >>> compile_phase(object(), Phase("warmup", 1), loss="mse")
        Traceback (most recent call last):
        ...
        transferlab.errors.StrategyError: Strategies act on a transferlab Classifier, which has `backbone`, `backbone_info` and `head_layers`; this model lacks `backbone`, `backbone_info`, `head_layers`. Received: object named '?'. Fix: build the model with transferlab.backbones.build_classifier(...), or give your model those three attributes.
    """
    apply_phase(model, phase)
    strategy = getattr(model, "distribute_strategy", None)
    scope: contextlib.AbstractContextManager[object] = contextlib.nullcontext()
    if strategy is not None and not tf.distribute.has_strategy():
        scope = strategy.scope()
    with scope:
        new_optimizer = build_optimizer(
            model, phase, optimizer, schedule=schedule, decay_steps=decay_steps, rate_scale=rate_scale
        )
        model.compile(optimizer=new_optimizer, loss=loss, metrics=metrics, **compile_kwargs)
    _compiled_state.record(model)
    return new_optimizer
