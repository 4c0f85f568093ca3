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
        learning_rate: The head's learning rate.
        name: The phase's name.

    Raises:
        StrategyError: For ``epochs < 1`` or ``learning_rate <= 0``.

    Example:
        >>> FeatureExtraction(epochs=3, learning_rate=1e-3).phases(None)[0].trainable_groups
        ()
    """

    def __init__(
        self, epochs: int = 1, *, learning_rate: float = 1e-3, name: str = "feature_extraction"
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
