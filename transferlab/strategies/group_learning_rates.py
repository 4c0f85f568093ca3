"""``group_learning_rates``: the learning rate of each trainable group in a Phase."""

from __future__ import annotations

from typing import TYPE_CHECKING

from transferlab.errors import StrategyError, describe
from transferlab.strategies._classifier_parts import resolve_groups
from transferlab.strategies.phase import Phase

if TYPE_CHECKING:  # pragma: no cover
    from transferlab.backbones.backbone_info import BackboneInfo

__all__ = ["group_learning_rates"]


def group_learning_rates(info: BackboneInfo, phase: Phase) -> dict[str, float]:
    """Maps each trainable group of ``phase`` to its learning rate.

    The head trains at ``phase.learning_rate`` (depth 0). The top backbone
    group has depth 1, the one below depth 2, and so on (counted over all the
    backbone's groups, trainable or not); a group trains at
    ``learning_rate * lr_decay ** depth`` unless ``phase.group_learning_rates``
    names it.

    Args:
        info: The backbone's metadata (its groups, bottom to top).
        phase: The phase.

    Returns:
        ``{group: rate}`` for the phase's trainable groups, bottom to top.

    Raises:
        StrategyError: For an unknown group, or an explicit rate given to a
            group that does not train in this phase, or a rate <= 0.

    Example:
        >>> from transferlab.backbones import BackboneInfo, LayerGroup
        >>> info = BackboneInfo(name="t", default_input_size=(8, 8), min_input_size=(8, 8),
        ...     channels=1, preprocessing="unit", feature_layer="c",
        ...     groups=(LayerGroup("a", "a"), LayerGroup("b", "b"), LayerGroup("c", "c")))
        >>> group_learning_rates(info, Phase("ft", 1, ("b", "c"), learning_rate=0.1, lr_decay=0.5))
        {'b': 0.025, 'c': 0.05}
    """
    names = resolve_groups(info, phase.trainable_groups)
    explicit = dict(phase.group_learning_rates)
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
    bad = {g: r for g, r in explicit.items() if not r > 0}
    if bad:
        raise StrategyError(
            describe(
                f"Phase {phase.name!r}: group learning rates must be > 0",
                received=f"group_learning_rates={bad}",
            )
        )
    order = info.group_names
    rates: dict[str, float] = {}
    for name in names:
        depth = len(order) - order.index(name)
        rates[name] = float(explicit.get(name, phase.learning_rate * phase.lr_decay**depth))
    return rates
