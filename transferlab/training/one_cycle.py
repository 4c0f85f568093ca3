"""The one-cycle learning-rate schedule (Smith & Topin, 2017)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import keras
from keras import ops

from transferlab.errors import ConfigError, describe

if TYPE_CHECKING:  # pragma: no cover
    import tensorflow as tf

__all__ = ["OneCycle"]


@keras.saving.register_keras_serializable(package="transferlab")
class OneCycle(keras.optimizers.schedules.LearningRateSchedule):
    """Warm-up from ``max_rate / div_factor`` to ``max_rate``, then down to a floor.

    Step 0 gives ``max_rate / div_factor``; step ``warmup_steps`` (=
    ``round(total_steps * warmup_fraction)``) gives ``max_rate``; the last step
    ``total_steps`` gives ``max_rate / (div_factor * final_div_factor)``, and
    later steps stay there. The warm-up is linear; the way down follows
    ``anneal`` (``"cos"`` or ``"linear"``).

    Args:
        max_rate: Peak learning rate.
        total_steps: Optimizer steps the cycle spans (epochs x steps per epoch).
        warmup_fraction: Share of the steps spent rising, in ``[0, 1)``.
        div_factor: Start rate is ``max_rate / div_factor``.
        final_div_factor: End rate is the start rate / ``final_div_factor``.
        anneal: ``"cos"`` or ``"linear"`` for the way down.

    Example:
        >>> s = OneCycle(0.1, total_steps=100, warmup_fraction=0.3, div_factor=10.0, final_div_factor=100.0)
        >>> [round(float(s(step)), 6) for step in (0, 30, 100)]
        [0.01, 0.1, 0.0001]
    """

    def __init__(
        self,
        max_rate: float,
        total_steps: int,
        warmup_fraction: float = 0.3,
        div_factor: float = 25.0,
        final_div_factor: float = 1e4,
        anneal: str = "cos",
        name: str = "OneCycle",
    ) -> None:
        if not max_rate > 0:
            raise ConfigError(describe("`max_rate` must be > 0", received=f"max_rate={max_rate!r}"))
        if not isinstance(total_steps, int) or total_steps < 1:
            raise ConfigError(
                describe("`total_steps` must be a whole number >= 1", received=f"total_steps={total_steps!r}")
            )
        if not 0 <= warmup_fraction < 1:
            raise ConfigError(
                describe(
                    "`warmup_fraction` must be in [0, 1)", received=f"warmup_fraction={warmup_fraction!r}"
                )
            )
        if not (div_factor >= 1 and final_div_factor >= 1):
            raise ConfigError(
                describe(
                    "`div_factor` and `final_div_factor` must be >= 1",
                    received=f"div_factor={div_factor!r}, final_div_factor={final_div_factor!r}",
                )
            )
        if anneal not in ("cos", "linear"):
            raise ConfigError(
                describe("unknown `anneal`", received=f"anneal={anneal!r}", accepted="'cos', 'linear'")
            )
        self.max_rate = float(max_rate)
        self.total_steps = total_steps
        self.warmup_fraction = float(warmup_fraction)
        self.div_factor = float(div_factor)
        self.final_div_factor = float(final_div_factor)
        self.anneal = anneal
        self.name = name

    @property
    def warmup_steps(self) -> int:
        """Steps spent rising to ``max_rate``."""
        return int(round(self.total_steps * self.warmup_fraction))

    def __call__(self, step: int | tf.Tensor) -> tf.Tensor:
        step = ops.cast(step, "float32")
        start = self.max_rate / self.div_factor
        end = start / self.final_div_factor
        warm = float(max(self.warmup_steps, 1))
        down = float(max(self.total_steps - self.warmup_steps, 1))
        up_rate = start + (self.max_rate - start) * ops.minimum(step / warm, 1.0)
        t = ops.clip((step - self.warmup_steps) / down, 0.0, 1.0)
        shape = 0.5 * (1.0 + ops.cos(math.pi * t)) if self.anneal == "cos" else 1.0 - t
        down_rate = end + (self.max_rate - end) * shape
        if self.warmup_steps == 0:
            return down_rate
        return ops.where(step < self.warmup_steps, up_rate, down_rate)

    def get_config(self) -> dict[str, object]:
        return {
            "max_rate": self.max_rate,
            "total_steps": self.total_steps,
            "warmup_fraction": self.warmup_fraction,
            "div_factor": self.div_factor,
            "final_div_factor": self.final_div_factor,
            "anneal": self.anneal,
            "name": self.name,
        }
