"""``ScaledSchedule``: a learning-rate schedule times a constant factor."""

from __future__ import annotations

import keras
import tensorflow as tf

from transferlab.errors import StrategyError, describe
from transferlab.strategies._check_rate import check_rate

__all__ = ["ScaledSchedule"]


@keras.saving.register_keras_serializable(package="transferlab")
class ScaledSchedule(keras.optimizers.schedules.LearningRateSchedule):
    """``schedule(step) * factor``: how a phase scales a schedule-valued optimizer.

    When the optimizer you pass has a ``LearningRateSchedule`` as its rate,
    each phase trains along that schedule times the phase's relative factor
    (``Phase.lr_scale``, times the Trainer's ``rate_scale``). It saves and
    loads with the model (registered as ``transferlab>ScaledSchedule``).
    Scaling a ``ScaledSchedule`` multiplies the factors instead of nesting.

    Args:
        schedule: Any Keras ``LearningRateSchedule``.
        factor: A finite number > 0.
        name: The schedule's name.

    Raises:
        StrategyError: For a ``schedule`` that is not a ``LearningRateSchedule``
            or a ``factor`` that is not a finite number > 0.

    Example:
        >>> import keras
        >>> decay = keras.optimizers.schedules.ExponentialDecay(0.5, decay_steps=1, decay_rate=0.5)
        >>> scaled = ScaledSchedule(ScaledSchedule(decay, 0.5), 0.2)
        >>> scaled.factor, [round(float(scaled(step)), 6) for step in (0, 1, 2)]
        (0.1, [0.05, 0.025, 0.0125])
    """

    schedule: keras.optimizers.schedules.LearningRateSchedule
    factor: float
    name: str

    def __init__(
        self,
        schedule: keras.optimizers.schedules.LearningRateSchedule,
        factor: float,
        name: str = "ScaledSchedule",
    ) -> None:
        if not isinstance(schedule, keras.optimizers.schedules.LearningRateSchedule):
            raise StrategyError(
                describe(
                    "ScaledSchedule() scales a keras.optimizers.schedules.LearningRateSchedule",
                    received=f"schedule of type {type(schedule).__name__}",
                    fix="pass a schedule such as keras.optimizers.schedules.CosineDecay(...)",
                )
            )
        factor = check_rate(factor, what="factor", where="ScaledSchedule: ")
        if isinstance(schedule, ScaledSchedule):
            schedule, factor = schedule.schedule, schedule.factor * factor
        self.schedule = schedule
        self.factor = factor
        self.name = name

    def __call__(self, step: tf.Tensor | int) -> tf.Tensor:
        rate = keras.ops.convert_to_tensor(self.schedule(step))
        return keras.ops.multiply(rate, keras.ops.cast(self.factor, keras.ops.dtype(rate)))

    def get_config(self) -> dict[str, object]:
        return {
            "schedule": keras.saving.serialize_keras_object(self.schedule),
            "factor": self.factor,
            "name": self.name,
        }

    @classmethod
    def from_config(cls, config: dict[str, object]) -> ScaledSchedule:
        schedule = keras.saving.deserialize_keras_object(config["schedule"])
        factor = check_rate(config.get("factor"), what="factor", where="ScaledSchedule: ")
        return cls(schedule, factor, name=str(config.get("name", "ScaledSchedule")))

    def __repr__(self) -> str:
        return f"ScaledSchedule({type(self.schedule).__name__}, factor={self.factor!r})"
