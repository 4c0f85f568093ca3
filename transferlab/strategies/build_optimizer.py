"""``build_optimizer``: a fresh optimizer with a Phase's per-group learning rates."""

from __future__ import annotations

from typing import Any

import keras

from transferlab.errors import StrategyError, describe
from transferlab.strategies._classifier_parts import classifier_parts, walk_layers
from transferlab.strategies.group_learning_rates import group_learning_rates
from transferlab.strategies.layerwise_optimizer import layerwise_optimizer
from transferlab.strategies.phase import Phase

__all__ = ["build_optimizer"]


def build_optimizer(
    model: Any,
    phase: Phase,
    optimizer: str | keras.optimizers.Optimizer = "adam",
) -> keras.optimizers.Optimizer:
    """Returns a new optimizer for ``phase``, with its per-group learning rates.

    Call it after :func:`apply_phase` (it reads the current trainable
    variables) and compile with it; never reuse it for another phase.

    The head and every variable outside the backbone train at
    ``phase.learning_rate``; each trainable backbone group at its rate from
    :func:`group_learning_rates`. When all rates are equal the result is a
    plain Keras optimizer; otherwise a :func:`layerwise_optimizer`.

    Args:
        model: A Classifier whose flags are already set for ``phase``.
        phase: The phase.
        optimizer: A Keras optimizer name (``"adam"``, ``"sgd"``...) or an
            instance used as a template (its config is copied, never the
            instance). The template's learning rate is replaced by
            ``phase.learning_rate``, unless it is a
            ``LearningRateSchedule``: then the schedule is kept for the head and
            groups train at ``schedule(step) * rate / phase.learning_rate``.

    Returns:
        An unbuilt optimizer.

    Raises:
        StrategyError: For an unknown optimizer name, or rates that do not fit
            the backbone's groups.

    Example:
        >>> build_optimizer(object(), Phase("warmup", 1), optimizer="no_such")
        Traceback (most recent call last):
        ...
        transferlab.errors.StrategyError: Unknown optimizer. Received: optimizer='no_such'. Accepted: a Keras optimizer name such as 'adam', 'sgd', 'rmsprop', 'adamw', or a keras.optimizers.Optimizer instance.
    """
    template = _template(optimizer)
    _backbone, info, by_group, _ = classifier_parts(model)
    rates = group_learning_rates(info, phase)
    config = template.get_config()
    config.pop("rate_factors", None)
    if not isinstance(config.get("learning_rate"), dict):  # a dict is a serialized schedule
        config["learning_rate"] = phase.learning_rate
    base = type(template).from_config(config)
    factors = {name: rate / phase.learning_rate for name, rate in rates.items()}
    if all(f == 1.0 for f in factors.values()):
        return base
    variable_factor: dict[int, float] = {}
    for name, factor in factors.items():
        for top in by_group[name]:
            for layer in walk_layers(top):
                for variable in layer.trainable_weights:
                    variable_factor[id(variable)] = factor
    pairs = [(v.path, variable_factor.get(id(v), 1.0)) for v in model.trainable_variables]
    return layerwise_optimizer(base, pairs)


def _template(optimizer: str | keras.optimizers.Optimizer) -> keras.optimizers.Optimizer:
    if isinstance(optimizer, keras.optimizers.Optimizer):
        return optimizer
    if isinstance(optimizer, str):
        try:
            found = keras.optimizers.get(optimizer)
        except ValueError:
            found = None
        if isinstance(found, keras.optimizers.Optimizer):
            return found
    raise StrategyError(
        describe(
            "Unknown optimizer",
            received=f"optimizer={optimizer!r}",
            accepted="a Keras optimizer name such as 'adam', 'sgd', 'rmsprop', 'adamw', or a "
            "keras.optimizers.Optimizer instance",
        )
    )
