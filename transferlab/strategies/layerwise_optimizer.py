"""``layerwise_optimizer``: any Keras optimizer with a learning-rate factor per variable.

Keras 3 has no per-layer learning rates (keras-team/keras#21741). Scaling
gradients is not equivalent for adaptive optimizers (Adam normalises the
gradient away), so the factor multiplies the *learning rate* handed to the
optimizer's own ``update_step(gradient, variable, learning_rate)``. Everything
else — slots, schedules, weight decay, clipping, ``tf.distribute`` — is the
base optimizer's. (Decoupled weight decay, e.g. AdamW's, uses the unscaled
rate for every variable.)
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import keras
import tensorflow as tf

from transferlab.errors import StrategyError, describe

__all__ = ["layerwise_optimizer"]


class _LayerwiseMixin:
    """Multiplies the learning rate of each variable by its factor in ``update_step``."""

    def __init__(self, *args: object, rate_factors: Sequence[Sequence[str | float]] = (), **kwargs: object):
        super().__init__(*args, **kwargs)
        self._rate_factors = tuple((str(path), float(factor)) for path, factor in rate_factors)
        self._factor_by_index: tuple[float, ...] = ()

    def build(self, variables: Sequence[keras.Variable]) -> None:
        super().build(variables)  # type: ignore[misc]
        self._factor_by_index = _match_factors(self._rate_factors, list(variables))

    def update_step(
        self, gradient: tf.Tensor, variable: keras.Variable, learning_rate: tf.Tensor
    ) -> tf.Tensor:
        factor = self._factor_by_index[self._get_variable_index(variable)]  # type: ignore[attr-defined]
        if factor != 1.0:
            learning_rate = keras.ops.multiply(
                learning_rate, keras.ops.cast(factor, keras.ops.dtype(learning_rate))
            )
        return super().update_step(gradient, variable, learning_rate)  # type: ignore[misc]

    @property
    def rate_factors(self) -> dict[str, float]:
        """``{variable path: factor}`` as given (paths may repeat; order kept in config)."""
        return dict(self._rate_factors)

    def get_config(self) -> dict[str, object]:
        config: dict[str, object] = super().get_config()  # type: ignore[misc]
        config["rate_factors"] = [[path, factor] for path, factor in self._rate_factors]
        return config


def _match_factors(
    rate_factors: tuple[tuple[str, float], ...], variables: list[keras.Variable]
) -> tuple[float, ...]:
    paths = [str(v.path) for v in variables]
    if [p for p, _ in rate_factors] == paths:
        return tuple(f for _, f in rate_factors)
    by_path: dict[str, set[float]] = {}
    for path, factor in rate_factors:
        by_path.setdefault(path, set()).add(factor)
    factors = []
    for path in paths:
        found = by_path.get(path, set())
        if len(found) != 1:
            raise StrategyError(
                describe(
                    "A layer-wise optimizer was built for variables it has no single learning-rate "
                    "factor for (the trainable variables changed since it was made)",
                    received=f"variable {path!r}",
                    fix="build a fresh optimizer for the current trainable variables "
                    "(transferlab.strategies.build_optimizer or compile_phase)",
                )
            )
        factors.append(next(iter(found)))
    return tuple(factors)


_CLASSES: dict[type, type] = {}


def _layerwise_class(base: type) -> type:
    if issubclass(base, _LayerwiseMixin):
        return base
    if base not in _CLASSES:
        cls = type(f"Layerwise{base.__name__}", (_LayerwiseMixin, base), {"__module__": __name__})
        _CLASSES[base] = keras.saving.register_keras_serializable(package="transferlab")(cls)
    return _CLASSES[base]


def plain_class(cls: type) -> type:
    """The optimizer class under a layer-wise one (``LayerwiseAdam`` -> ``Adam``); else ``cls``."""
    if not issubclass(cls, _LayerwiseMixin):
        return cls
    return next(c for c in cls.__mro__ if not issubclass(c, _LayerwiseMixin))


# Registered at import (like a decorator), so saved models load after `import transferlab`.
for _name in (
    "SGD",
    "Adam",
    "AdamW",
    "RMSprop",
    "Adagrad",
    "Adadelta",
    "Adamax",
    "Nadam",
    "Ftrl",
    "Lion",
    "Lamb",
    "Adafactor",
):
    if hasattr(keras.optimizers, _name):
        _layerwise_class(getattr(keras.optimizers, _name))


def layerwise_optimizer(
    optimizer: keras.optimizers.Optimizer, rate_factors: Sequence[tuple[str, float]]
) -> keras.optimizers.Optimizer:
    """Returns a fresh copy of ``optimizer`` whose rate is scaled per variable.

    Each variable is updated with ``learning_rate * factor``, where
    ``learning_rate`` is the optimizer's (a float or a schedule's current
    value) and ``factor`` is looked up by the variable's ``path``. The
    returned optimizer is an instance of a subclass of ``type(optimizer)``
    (e.g. ``LayerwiseAdam``), registered for serialization as
    ``transferlab>Layerwise<Name>``: a compiled model saved as ``.keras``
    loads back with the same factors. Subclasses of the built-in optimizers
    are registered when transferlab is imported; for your own optimizer class,
    call this function once before loading a model saved with it.

    Args:
        optimizer: A template; only its config is used (it is not reused).
        rate_factors: ``(variable path, factor)`` pairs, ideally for the
            model's ``trainable_variables`` in order (then repeated paths
            are fine); a variable of the built set without a factor is an error.

    Returns:
        A new, unbuilt optimizer.

    Raises:
        StrategyError: For a factor that is not a finite number > 0, or an object that is not an optimizer.

    Example:
        >>> import keras
        >>> opt = layerwise_optimizer(keras.optimizers.SGD(0.1), [("dense/kernel", 0.5)])
        >>> type(opt).__name__, opt.rate_factors
        ('LayerwiseSGD', {'dense/kernel': 0.5})
    """
    if not isinstance(optimizer, keras.optimizers.Optimizer):
        raise StrategyError(
            describe(
                "layerwise_optimizer() takes a Keras optimizer instance as its template",
                received=f"{type(optimizer).__name__}",
                fix="pass e.g. keras.optimizers.Adam(1e-3)",
            )
        )
    pairs = [(str(path), float(factor)) for path, factor in rate_factors]
    bad = [(p, f) for p, f in pairs if not (math.isfinite(f) and f > 0)]
    if bad:
        raise StrategyError(
            describe("Learning-rate factors must be finite numbers > 0", received=f"{bad[:3]}")
        )
    config = optimizer.get_config()
    config.pop("rate_factors", None)
    config["rate_factors"] = pairs
    schedule = getattr(optimizer, "_learning_rate", None)
    if isinstance(schedule, keras.optimizers.schedules.LearningRateSchedule):
        config["learning_rate"] = schedule  # the object, not a copy through (de)serialization
    cls = _layerwise_class(type(optimizer))
    return cls.from_config(config)  # type: ignore[attr-defined]
