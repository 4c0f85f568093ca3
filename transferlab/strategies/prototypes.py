"""``Prototypes``: one phase that sets a cosine head's class vectors to the class prototypes."""

from __future__ import annotations

from typing import TYPE_CHECKING

from transferlab.strategies.phase import Phase
from transferlab.strategies.strategy import Strategy

if TYPE_CHECKING:  # pragma: no cover
    from transferlab.backbones.backbone_info import BackboneInfo

__all__ = ["Prototypes"]


class Prototypes(Strategy):
    """One phase: the backbone frozen, each class's vector set to its prototype (nearest prototype wins).

    The prototype of a class is the mean of its examples' L2-normalised
    pooled features, normalised (:func:`~transferlab.strategies.class_prototypes`);
    set into the model's :class:`~transferlab.backbones.CosineClassifier`, the
    largest logit is the nearest prototype's. Computed once, in closed form:
    the phase counts as one epoch (one row of metrics), its record goes to
    ``decisions.json``. The head's scale is left as it is (it sets the
    confidence, not the class); a later fine-tuning phase learns it.

    The model needs a cosine head: ``build_classifier(..., head="cosine")``.

    Args:
        name: The phase's name.

    Example:
        >>> (phase,) = Prototypes().phases(None)
        >>> phase.name, phase.epochs, phase.head_fit
        ('prototypes', 1, 'prototypes')
    """

    def __init__(self, *, name: str = "prototypes") -> None:
        self.name = name
        self.phases(None)  # validate now, not at training time

    def phases(self, info: BackboneInfo | None) -> list[Phase]:
        """The single prototypes phase (``info`` is not needed)."""
        return [Phase(self.name, 1, head_fit="prototypes")]

    def __repr__(self) -> str:
        return "Prototypes()"
