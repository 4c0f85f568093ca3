"""``phase_learning_rates``: the rates a phase trains at, from the optimizer's own rate.

The rule: **the optimizer's own learning rate (or schedule) is the base rate;
a phase scales it.** The head trains at ``phase.learning_rate`` when the
strategy gives one, else at ``base * phase.lr_scale``; each trainable backbone
group at the head's rate times ``lr_decay ** depth``, unless
``phase.group_learning_rates`` names it. ``rate_scale`` (the Trainer's linear
scaling by the replica count) multiplies every rate.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING

import keras
import numpy as np

from transferlab.errors import StrategyError, describe
from transferlab.strategies._check_rate import check_rate
from transferlab.strategies.group_learning_rates import group_plan
from transferlab.strategies.phase import Phase
from transferlab.strategies.scaled_schedule import ScaledSchedule

if TYPE_CHECKING:  # pragma: no cover
    from transferlab.backbones.backbone_info import BackboneInfo

__all__ = ["SCHEDULES", "PhaseRates", "phase_learning_rates", "template_optimizer"]

#: The accepted values of ``schedule`` (``build_optimizer``, ``compile_phase``,
#: the Trainer): ``"constant"`` keeps each phase's rates; ``"cosine"`` decays
#: them along a cosine to 1 % over ``decay_steps``.
SCHEDULES: tuple[str, ...] = ("constant", "cosine")

_Schedule = keras.optimizers.schedules.LearningRateSchedule


@dataclasses.dataclass(frozen=True)
class PhaseRates:
    """The learning rates one phase trains at, and where they come from.

    Made by :func:`phase_learning_rates`; :func:`build_optimizer` builds the
    phase's optimizer from it. ``as_dict()`` is what a run records (the
    Trainer's ``decisions.json``).

    Attributes:
        phase: The phase's name.
        base: The optimizer's own rate: a number, or its ``LearningRateSchedule``.
        head_rate: The head's rate (with ``schedule="cosine"`` the rate it
            decays from); ``None`` when ``base`` is a schedule.
        head_scale: The head's rate relative to ``base``.
        group_factors: ``{group: factor}`` of the phase's trainable groups,
            bottom to top: each group trains at the head's rate times it.
        schedule: ``"constant"`` or ``"cosine"`` (see :data:`SCHEDULES`).
        decay_steps: Steps of the cosine decay (``None`` when constant).
        rate_scale: The factor applied to every rate (replica count, ...).
        notes: One sentence per explicit rate of the strategy that replaces
            the rate of the optimizer instance passed (logged at WARNING by
            :func:`build_optimizer`).

    Example:
        >>> import keras
        >>> rates = phase_learning_rates(None, Phase("warmup", 1), keras.optimizers.SGD(0.5))
        >>> rates.head_rate, rates.learning_rate, rates.notes
        (0.5, 0.5, ())
    """

    phase: str
    base: float | keras.optimizers.schedules.LearningRateSchedule
    head_rate: float | None
    head_scale: float
    group_factors: Mapping[str, float]
    schedule: str = "constant"
    decay_steps: int | None = None
    rate_scale: float = 1.0
    notes: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "group_factors", MappingProxyType(dict(self.group_factors)))
        object.__setattr__(self, "notes", tuple(self.notes))

    @property
    def learning_rate(self) -> float | keras.optimizers.schedules.LearningRateSchedule:
        """What the phase's optimizer gets as its (head) rate: a number or a schedule."""
        if isinstance(self.base, _Schedule):
            if self.head_scale == 1.0:
                return self.base
            return ScaledSchedule(self.base, self.head_scale)
        assert self.head_rate is not None
        if self.schedule == "cosine":
            return keras.optimizers.schedules.CosineDecay(
                self.head_rate, decay_steps=int(self.decay_steps or 1), alpha=0.01
            )
        return self.head_rate

    @property
    def group_rates(self) -> dict[str, float] | None:
        """``{group: rate}`` (start rates under cosine); ``None`` when ``base`` is a schedule."""
        if self.head_rate is None:
            return None
        return {group: self.head_rate * factor for group, factor in self.group_factors.items()}

    def as_dict(self) -> dict[str, object]:
        """A JSON-ready record: every rate as ``{"rate": absolute or None, "scale": x base}``."""
        base: object = self.base
        if isinstance(base, _Schedule):
            base = {"class": type(base).__name__, "config": _jsonable(base.get_config())}

        def entry(factor: float) -> dict[str, float | None]:
            rate = None if self.head_rate is None else self.head_rate * factor
            return {"rate": rate, "scale": self.head_scale * factor}

        return {
            "phase": self.phase,
            "base": base,
            "schedule": self.schedule,
            "decay_steps": self.decay_steps,
            "rate_scale": self.rate_scale,
            "head": entry(1.0),
            "groups": {group: entry(factor) for group, factor in self.group_factors.items()},
            "notes": list(self.notes),
        }


def phase_learning_rates(
    info: BackboneInfo | None,
    phase: Phase,
    optimizer: str | keras.optimizers.Optimizer = "adam",
    *,
    schedule: str = "constant",
    decay_steps: int | None = None,
    rate_scale: float = 1.0,
) -> PhaseRates:
    """The head and group rates of ``phase`` when trained with ``optimizer``.

    The optimizer's own rate is the base: a name (``"adam"``) gives Keras'
    default for it (1e-3 for Adam, 0.01 for SGD), an instance its
    ``learning_rate``. The head trains at ``phase.learning_rate`` if the
    strategy gives one, else at ``base * phase.lr_scale``; groups at their
    factors of it (``lr_decay``, ``group_learning_rates``); everything times
    ``rate_scale``. An explicit rate that replaces an optimizer instance's is
    never silent: it gets a note. When the optimizer's rate is a schedule,
    each rate is that schedule times the phase's relative factor
    (:class:`ScaledSchedule`): explicit absolute rates do not fit it.

    Args:
        info: The backbone's metadata (``None`` is fine for a head-only phase).
        phase: The phase.
        optimizer: A Keras optimizer name or an instance (read, never changed).
        schedule: One of :data:`SCHEDULES`.
        decay_steps: Steps of the cosine decay (needed with ``"cosine"``).
        rate_scale: Multiplies every rate (e.g. the replica count).

    Returns:
        The :class:`PhaseRates`.

    Raises:
        StrategyError: For an unknown optimizer or schedule, a bad
            ``rate_scale`` or ``decay_steps``, an explicit rate (of the phase
            or a group) with a schedule-valued optimizer, ``"cosine"`` with a
            schedule-valued optimizer, or groups that do not fit ``info``.

    Example:
        >>> import keras
        >>> rates = phase_learning_rates(None, Phase("warmup", 1, learning_rate=1e-3),
        ...                              keras.optimizers.Adadelta(learning_rate=1.0))
        >>> rates.head_rate
        0.001
        >>> print(rates.notes[0])
        phase 'warmup': learning_rate=0.001 from the strategy replaces the optimizer's 1.0 (Adadelta); leave the strategy's learning_rate unset to train at the optimizer's rate
    """
    if schedule not in SCHEDULES:
        raise StrategyError(
            describe(
                "Unknown learning-rate `schedule`",
                received=f"schedule={schedule!r}",
                accepted=", ".join(map(repr, SCHEDULES)),
            )
        )
    rate_scale = check_rate(rate_scale, what="rate_scale", fix="pass e.g. the number of replicas, or 1.0")
    if schedule == "cosine":
        if not isinstance(decay_steps, int) or isinstance(decay_steps, bool) or decay_steps < 1:
            raise StrategyError(
                describe(
                    "schedule='cosine' needs `decay_steps`, a whole number >= 1",
                    received=f"decay_steps={decay_steps!r}",
                    fix="pass the phase's optimizer steps (epochs x steps per epoch)",
                )
            )
    else:
        decay_steps = None
    template = template_optimizer(optimizer)
    is_instance = isinstance(optimizer, keras.optimizers.Optimizer)
    base = base_rate(template)
    plan = group_plan(info, phase)
    explicit_groups = {g: rate for g, (kind, rate) in plan.items() if kind == "explicit"}
    notes: list[str] = []
    kind = type(template).__name__

    if isinstance(base, _Schedule):
        what = type(base).__name__
        if schedule == "cosine":
            raise StrategyError(
                describe(
                    f"schedule='cosine' and an optimizer whose learning rate is a schedule ({what}) "
                    "both set how the rate changes",
                    received=f"schedule='cosine', optimizer={kind}(learning_rate={what}(...))",
                    fix=f"keep one: schedule='constant' to follow the {what}, or give the optimizer a "
                    "number as its learning rate to decay it along the cosine",
                )
            )
        if phase.learning_rate is not None or explicit_groups:
            given = (
                f"learning_rate={phase.learning_rate!r}"
                if phase.learning_rate is not None
                else f"group_learning_rates={explicit_groups!r}"
            )
            raise StrategyError(
                describe(
                    f"Phase {phase.name!r} gives an absolute learning rate, but the optimizer's rate "
                    f"is a schedule ({what}), which an absolute rate cannot follow",
                    received=given,
                    fix="give rates relative to the schedule: leave the strategy's learning_rate "
                    "(and group_learning_rates) unset and use lr_scale / lr_decay (e.g. "
                    "FineTune(finetune_lr_scale=0.1)); or pass an optimizer with a constant rate",
                )
            )
        factors = {g: factor for g, (_, factor) in plan.items()}
        return PhaseRates(
            phase=phase.name,
            base=base,
            head_rate=None,
            head_scale=phase.lr_scale * rate_scale,
            group_factors=factors,
            schedule=schedule,
            decay_steps=decay_steps,
            rate_scale=rate_scale,
        )

    if phase.learning_rate is not None:
        head = phase.learning_rate * rate_scale
        if is_instance and phase.learning_rate != base:
            notes.append(
                f"phase {phase.name!r}: learning_rate={phase.learning_rate!r} from the strategy replaces "
                f"the optimizer's {base!r} ({kind}); leave the strategy's learning_rate unset to train "
                "at the optimizer's rate"
            )
    else:
        head = base * phase.lr_scale * rate_scale
    factors = {}
    for group, (how, value) in plan.items():
        if how == "explicit":
            factors[group] = value * rate_scale / head
            if is_instance:
                notes.append(
                    f"phase {phase.name!r}: group {group!r} trains at learning_rate={value!r} from the "
                    f"strategy's group_learning_rates, not at a factor of the optimizer's {base!r} ({kind})"
                )
        else:
            factors[group] = value
    return PhaseRates(
        phase=phase.name,
        base=base,
        head_rate=head,
        head_scale=head / base,
        group_factors=factors,
        schedule=schedule,
        decay_steps=decay_steps,
        rate_scale=rate_scale,
        notes=tuple(notes),
    )


def template_optimizer(optimizer: str | keras.optimizers.Optimizer) -> keras.optimizers.Optimizer:
    """The optimizer a name stands for, or the instance itself.

    Raises:
        StrategyError: For an unknown name, another type, or a
            ``LossScaleOptimizer`` (Keras adds that wrapper itself).

    Example:
        >>> type(template_optimizer("sgd")).__name__
        'SGD'
    """
    if isinstance(optimizer, keras.optimizers.LossScaleOptimizer):
        raise StrategyError(
            describe(
                "Pass the optimizer inside the LossScaleOptimizer, not the wrapper",
                received=f"LossScaleOptimizer({type(optimizer.inner_optimizer).__name__})",
                fix="pass optimizer.inner_optimizer; under a mixed_float16 policy Keras adds "
                "loss scaling itself at compile()",
            )
        )
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


def base_rate(
    optimizer: keras.optimizers.Optimizer,
) -> float | keras.optimizers.schedules.LearningRateSchedule:
    """The optimizer's own rate: its schedule, or its number (float32's shortest decimal).

    Raises:
        StrategyError: For a rate that is a plain callable, or not a finite number > 0.
    """
    rate = getattr(optimizer, "_learning_rate", None)
    if isinstance(rate, _Schedule):
        return rate
    value = optimizer.get_config().get("learning_rate")
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        raise StrategyError(
            describe(
                "The optimizer's learning rate is neither a number nor a LearningRateSchedule",
                received=f"{type(optimizer).__name__}(learning_rate={rate!r})",
                fix="give it a number or a keras.optimizers.schedules.LearningRateSchedule",
            )
        )
    # The rate lives in a float32 variable: 1e-3 reads back as 0.0010000000474974513.
    number = float(str(np.float32(value))) if math.isfinite(value) else float(value)
    return check_rate(
        number, what="learning_rate", where=f"The optimizer {type(optimizer).__name__}: ", fix=None
    )


def _jsonable(value: object) -> object:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return repr(value)
