"""``Chain``: strategies run one after the other."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from transferlab.errors import StrategyError, describe
from transferlab.strategies.phase import Phase
from transferlab.strategies.strategy import Strategy

if TYPE_CHECKING:  # pragma: no cover
    from transferlab.backbones.backbone_info import BackboneInfo

__all__ = ["Chain"]


class Chain(Strategy):
    """Runs several strategies in order: their phases, concatenated.

    Phase names are made unique by a suffix (``finetune``, ``finetune_2``) so
    every phase has its own entry in logs and run folders.

    Args:
        *strategies: Two or more strategies (nested chains are flattened).

    Raises:
        StrategyError: If an argument is not a :class:`Strategy`.

    Example:
        >>> from transferlab.strategies.feature_extraction import FeatureExtraction
        >>> chain = Chain(FeatureExtraction(epochs=1), FeatureExtraction(epochs=2))
        >>> [(p.name, p.epochs) for p in chain.phases(None)]
        [('feature_extraction', 1), ('feature_extraction_2', 2)]
    """

    def __init__(self, *strategies: Strategy) -> None:
        flat: list[Strategy] = []
        for strategy in strategies:
            if not isinstance(strategy, Strategy):
                raise StrategyError(
                    describe(
                        "Chain() takes strategies",
                        received=f"{type(strategy).__name__}",
                        accepted="FeatureExtraction, FineTune, GradualUnfreeze, Chain or a Strategy subclass",
                    )
                )
            flat.extend(strategy.strategies if isinstance(strategy, Chain) else [strategy])
        self.strategies: tuple[Strategy, ...] = tuple(flat)

    def phases(self, info: BackboneInfo | None) -> list[Phase]:
        """Every part's phases in order, with unique names."""
        result: list[Phase] = []
        used: set[str] = set()
        for strategy in self.strategies:
            for phase in strategy.phases(info):
                name, n = phase.name, 1
                while name in used:
                    n += 1
                    name = f"{phase.name}_{n}"
                used.add(name)
                result.append(dataclasses.replace(phase, name=name))
        return result

    def __repr__(self) -> str:
        return "Chain(" + ", ".join(map(repr, self.strategies)) + ")"
