"""``build_optimizer``: a fresh copy of your optimizer at a Phase's (per-group) rates."""

from __future__ import annotations

import logging

import keras

from transferlab.strategies._classifier_parts import classifier_parts, walk_layers
from transferlab.strategies.layerwise_optimizer import layerwise_optimizer, plain_class
from transferlab.strategies.phase import Phase
from transferlab.strategies.phase_learning_rates import SCHEDULES, phase_learning_rates, template_optimizer

__all__ = ["SCHEDULES", "build_optimizer"]

logger = logging.getLogger("transferlab.strategies")


def build_optimizer(
    model: keras.Model,
    phase: Phase,
    optimizer: str | keras.optimizers.Optimizer = "adam",
    *,
    schedule: str = "constant",
    decay_steps: int | None = None,
    rate_scale: float = 1.0,
) -> keras.optimizers.Optimizer:
    """Returns a fresh copy of ``optimizer`` for ``phase``, at the phase's rates.

    The optimizer you pass is the optimizer that trains: its class and every
    setting (momentum, epsilon, clipnorm, weight decay, EMA, gradient
    accumulation...) are copied from its config; only the learning rate is
    the phase's, as :func:`phase_learning_rates` computes it from the
    optimizer's own rate (the base; a phase scales it). Notes about explicit
    strategy rates that replace an optimizer instance's rate are logged at
    WARNING (logger ``transferlab.strategies``).

    Call it after :func:`apply_phase` (it reads the current trainable
    variables) and compile with it; never reuse it for another phase. When
    all rates are equal the result is a plain Keras optimizer; otherwise a
    :func:`layerwise_optimizer`.

    Args:
        model: A Classifier whose flags are already set for ``phase``.
        phase: The phase.
        optimizer: A Keras optimizer name (``"adam"``, ``"sgd"``...: Keras'
            default rate is the base) or an instance used as a template (its
            config is copied, never the instance). Its rate may be a
            ``LearningRateSchedule``: each phase then follows the schedule
            times its factor (:class:`ScaledSchedule`).
        schedule: One of :data:`SCHEDULES`: ``"constant"``, or ``"cosine"``
            (the head's rate decays to 1 % of itself over ``decay_steps``).
        decay_steps: Steps of the cosine decay.
        rate_scale: Multiplies every rate (the Trainer passes the replica
            count for linear scaling).

    Returns:
        An unbuilt optimizer of the template's class (or its layer-wise subclass).

    Raises:
        StrategyError: For an unknown optimizer name or schedule, rates that
            do not fit the backbone's groups, and the conflicts listed in
            :func:`phase_learning_rates`.

    Example:
        >>> build_optimizer(object(), Phase("warmup", 1), optimizer="no_such")
        Traceback (most recent call last):
        ...
        transferlab.errors.StrategyError: Unknown optimizer. Received: optimizer='no_such'. Accepted: a Keras optimizer name such as 'adam', 'sgd', 'rmsprop', 'adamw', or a keras.optimizers.Optimizer instance.
    """
    template = template_optimizer(optimizer)
    _backbone, info, by_group, _ = classifier_parts(model)
    rates = phase_learning_rates(
        info, phase, optimizer, schedule=schedule, decay_steps=decay_steps, rate_scale=rate_scale
    )
    for note in rates.notes:
        logger.warning(note)
    config = template.get_config()
    config.pop("rate_factors", None)
    config["learning_rate"] = rates.learning_rate
    base: keras.optimizers.Optimizer = plain_class(type(template)).from_config(config)  # type: ignore[attr-defined]
    if all(f == 1.0 for f in rates.group_factors.values()):
        return base
    variable_factor: dict[int, float] = {}
    for name, factor in rates.group_factors.items():
        for top in by_group[name]:
            for layer in walk_layers(top):
                for variable in layer.trainable_weights:
                    variable_factor[id(variable)] = factor
    pairs = [(v.path, variable_factor.get(id(v), 1.0)) for v in model.trainable_variables]
    return layerwise_optimizer(base, pairs)
