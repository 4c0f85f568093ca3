"""``compile_phase``: apply a Phase and compile with a fresh optimizer, the safe way."""

from __future__ import annotations

import contextlib
from typing import Any

import keras
import tensorflow as tf

from transferlab.strategies import _compiled_state
from transferlab.strategies.apply_phase import apply_phase
from transferlab.strategies.build_optimizer import build_optimizer
from transferlab.strategies.phase import Phase

__all__ = ["compile_phase"]


def compile_phase(
    model: Any,
    phase: Phase,
    *,
    loss: Any,
    metrics: Any = None,
    optimizer: str | keras.optimizers.Optimizer = "adam",
    **compile_kwargs: Any,
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
        optimizer: Name or template instance, see :func:`build_optimizer`.
        **compile_kwargs: Other ``compile`` arguments (``jit_compile``...).

    Returns:
        The new optimizer (also ``model.optimizer``).

    Raises:
        StrategyError: See :func:`apply_phase` and :func:`build_optimizer`.
    """
    apply_phase(model, phase)
    strategy = getattr(model, "distribute_strategy", None)
    scope: Any = contextlib.nullcontext()
    if strategy is not None and not tf.distribute.has_strategy():
        scope = strategy.scope()
    with scope:
        new_optimizer = build_optimizer(model, phase, optimizer)
        model.compile(optimizer=new_optimizer, loss=loss, metrics=metrics, **compile_kwargs)
    _compiled_state.record(model)
    return new_optimizer
