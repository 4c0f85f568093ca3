"""``Strategy``: the base of every transfer-learning strategy (a list of Phases)."""

from __future__ import annotations

import abc
from typing import TYPE_CHECKING

from transferlab.errors import StrategyError, describe
from transferlab.strategies.phase import Phase

if TYPE_CHECKING:  # pragma: no cover
    from transferlab.backbones.backbone_info import BackboneInfo
    from transferlab.strategies.chain import Chain

__all__ = ["Strategy", "backbone_info_of"]


class Strategy(abc.ABC):
    """A recipe that turns a backbone's groups into a sequence of :class:`Phase`.

    A strategy holds only its options; :meth:`phases` is pure (same info,
    same phases), so a run can be planned, logged and resumed. Strategies
    compose: ``a.then(b)`` (or ``a + b``) runs ``a``'s phases, then ``b``'s.

    Subclasses implement :meth:`phases`.

    Example:
        >>> class HeadOnly(Strategy):
        ...     def phases(self, info):
        ...         return [Phase("head", epochs=2)]
        >>> [p.name for p in (HeadOnly() + HeadOnly()).phases(None)]
        ['head', 'head_2']
    """

    @abc.abstractmethod
    def phases(self, info: BackboneInfo | None) -> list[Phase]:
        """Returns the phases to run on a backbone described by ``info``."""

    def then(self, other: Strategy) -> Chain:
        """Returns a strategy that runs this one, then ``other``."""
        from transferlab.strategies.chain import Chain

        return Chain(self, other)

    def __add__(self, other: Strategy) -> Chain:
        return self.then(other)

    def total_epochs(self, info: BackboneInfo | None) -> int:
        """The number of epochs over all phases."""
        return sum(phase.epochs for phase in self.phases(info))


def backbone_info_of(strategy: Strategy, info: BackboneInfo | None) -> BackboneInfo:
    """``info``, or a clear error when a strategy that needs the backbone's groups has none.

    Raises:
        StrategyError: ``info`` is ``None`` (the model is not a transferlab Classifier).
    """
    if info is None:
        raise StrategyError(
            describe(
                f"{type(strategy).__name__} needs the backbone's layer groups, and the model has none",
                received="a model without `backbone_info` (not built by build_classifier)",
                fix="build the model with build_classifier(...), or use FeatureExtraction",
            )
        )
    return info
