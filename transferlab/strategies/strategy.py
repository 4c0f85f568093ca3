"""``Strategy``: the base of every transfer-learning strategy (a list of Phases)."""

from __future__ import annotations

import abc
from typing import TYPE_CHECKING

from transferlab.strategies.phase import Phase

if TYPE_CHECKING:  # pragma: no cover
    from transferlab.backbones.backbone_info import BackboneInfo
    from transferlab.strategies.chain import Chain

__all__ = ["Strategy"]


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
    def phases(self, info: BackboneInfo) -> list[Phase]:
        """Returns the phases to run on a backbone described by ``info``."""

    def then(self, other: Strategy) -> Chain:
        """Returns a strategy that runs this one, then ``other``."""
        from transferlab.strategies.chain import Chain

        return Chain(self, other)

    def __add__(self, other: Strategy) -> Chain:
        return self.then(other)

    def total_epochs(self, info: BackboneInfo) -> int:
        """The number of epochs over all phases."""
        return sum(phase.epochs for phase in self.phases(info))
