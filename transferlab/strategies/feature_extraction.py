"""``FeatureExtraction``: train the head on a frozen backbone."""

from __future__ import annotations

from typing import TYPE_CHECKING

from transferlab.strategies.phase import BatchNormPolicy, Phase
from transferlab.strategies.strategy import Strategy

if TYPE_CHECKING:  # pragma: no cover
    from transferlab.backbones.backbone_info import BackboneInfo

__all__ = ["FeatureExtraction"]


class FeatureExtraction(Strategy):
    """One phase: backbone frozen (BN in inference mode), head trained.

    Args:
        epochs: Epochs to train the head.
        learning_rate: An explicit rate for the head; ``None`` (default): the
            optimizer's own rate (or schedule).
        name: The phase's name.

    Raises:
        StrategyError: For ``epochs < 1`` or a ``learning_rate`` that is not a
            finite number > 0.

    Example:
        >>> (phase,) = FeatureExtraction(epochs=3).phases(None)
        >>> phase.trainable_groups, phase.learning_rate, phase.lr_scale
        ((), None, 1.0)
    """

    def __init__(
        self, epochs: int = 1, *, learning_rate: float | None = None, name: str = "feature_extraction"
    ) -> None:
        self.epochs = epochs
        self.learning_rate = learning_rate
        self.name = name
        self.phases(None)  # validate now, not at training time

    def phases(self, info: BackboneInfo | None) -> list[Phase]:
        """The single head-only phase (``info`` is not needed)."""
        return [
            Phase(
                self.name,
                epochs=self.epochs,
                trainable_groups=(),
                learning_rate=self.learning_rate,
                batchnorm=BatchNormPolicy.FROZEN,
            )
        ]

    def __repr__(self) -> str:
        return f"FeatureExtraction(epochs={self.epochs}, learning_rate={self.learning_rate})"
