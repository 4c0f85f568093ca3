"""``group_learning_rates``: the learning rate of each trainable group in a Phase."""

from __future__ import annotations

from typing import TYPE_CHECKING

from transferlab.errors import StrategyError, describe
from transferlab.strategies._check_rate import check_rate
from transferlab.strategies._classifier_parts import resolve_groups
from transferlab.strategies.phase import Phase

if TYPE_CHECKING:  # pragma: no cover
    from transferlab.backbones.backbone_info import BackboneInfo

__all__ = ["group_learning_rates"]


def group_learning_rates(
    info: BackboneInfo, phase: Phase, *, head_rate: float | None = None
) -> dict[str, float]:
    """Maps each trainable group of ``phase`` to its learning rate.

    The head trains at ``head_rate`` (depth 0). The top backbone group has
    depth 1, the one below depth 2, and so on (counted over all the
    backbone's groups, trainable or not); a group trains at
    ``head_rate * lr_decay ** depth`` unless ``phase.group_learning_rates``
    names it.

    Args:
        info: The backbone's metadata (its groups, bottom to top).
        phase: The phase.
        head_rate: The head's rate; default ``phase.learning_rate``. A phase
            that leaves its rate to the optimizer (``learning_rate=None``)
            needs it: the optimizer's rate times ``phase.lr_scale``
            (:func:`~transferlab.strategies.phase_learning_rates` does this
            for you, schedules included).

    Returns:
        ``{group: rate}`` for the phase's trainable groups, bottom to top.

    Raises:
        StrategyError: For an unknown group, an explicit rate given to a group
            that does not train in this phase, or no head rate.

    Example:
        >>> from transferlab.backbones import BackboneInfo, LayerGroup
        >>> info = BackboneInfo(name="t", default_input_size=(8, 8), min_input_size=(8, 8),
        ...     channels=1, preprocessing="unit", feature_layer="c",
        ...     groups=(LayerGroup("a", "a"), LayerGroup("b", "b"), LayerGroup("c", "c")))
        >>> group_learning_rates(info, Phase("ft", 1, ("b", "c"), learning_rate=0.1, lr_decay=0.5))
        {'b': 0.025, 'c': 0.05}
        >>> group_learning_rates(info, Phase("ft", 1, ("c",), lr_decay=0.5), head_rate=1.0)
        {'c': 0.5}
    """
    plan = group_plan(info, phase)
    if head_rate is None:
        head_rate = phase.learning_rate
    if head_rate is None:
        raise StrategyError(
            describe(
                f"Phase {phase.name!r} takes its learning rate from the optimizer, so its group rates "
                "need the head's rate",
                received="learning_rate=None and no head_rate",
                fix="pass head_rate= (the optimizer's rate times lr_scale), or use "
                "transferlab.strategies.phase_learning_rates(info, phase, optimizer)",
            )
        )
    head_rate = check_rate(head_rate, what="head_rate", where=f"Phase {phase.name!r}: ")
    rates: dict[str, float] = {}
    for name, (kind, value) in plan.items():
        rates[name] = value if kind == "explicit" else head_rate * value
    return rates


def group_plan(info: BackboneInfo | None, phase: Phase) -> dict[str, tuple[str, float]]:
    """``{group: ("explicit", rate) | ("decay", factor relative to the head)}``, bottom to top.

    Raises:
        StrategyError: For an unknown group, or an explicit rate given to a
            group that does not train in this phase.
    """
    explicit = dict(phase.group_learning_rates)
    if info is None:
        if phase.trainable_groups or explicit:
            raise StrategyError(
                describe(
                    f"Phase {phase.name!r} trains backbone groups, which needs the backbone's info",
                    received="info=None",
                    fix="pass model.backbone_info",
                )
            )
        return {}
    names = resolve_groups(info, phase.trainable_groups)
    resolve_groups(info, tuple(explicit))
    extra = sorted(set(explicit) - set(names))
    if extra:
        raise StrategyError(
            describe(
                f"Phase {phase.name!r} gives learning rates to groups that do not train in it",
                received=f"group_learning_rates keys {extra}",
                accepted=f"trainable_groups {list(names)}",
                fix="add those groups to trainable_groups or drop their rates",
            )
        )
    order = info.group_names
    plan: dict[str, tuple[str, float]] = {}
    for name in names:
        if name in explicit:
            plan[name] = ("explicit", float(explicit[name]))
        else:
            plan[name] = ("decay", float(phase.lr_decay ** (len(order) - order.index(name))))
    return plan
