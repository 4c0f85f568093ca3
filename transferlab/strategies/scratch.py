"""``Scratch``: every group trains from the first step — the baseline transfer is compared with."""

from __future__ import annotations

from typing import TYPE_CHECKING

from transferlab.strategies.phase import BatchNormPolicy, Phase
from transferlab.strategies.strategy import Strategy, backbone_info_of

if TYPE_CHECKING:  # pragma: no cover
    from transferlab.backbones.backbone_info import BackboneInfo

__all__ = ["Scratch"]


class Scratch(Strategy):
    """One phase: every backbone group and the head train, BatchNorm fully.

    What training from scratch needs (a config's ``kind = "scratch"``): no
    warm-up, no frozen group, BN statistics and affine parameters updated
    (:attr:`BatchNormPolicy.TRAIN`), one rate for all. The strategy only sets
    what trains; build the model without pretrained weights for a true
    from-scratch baseline.

    Args:
        epochs: Epochs to train.
        learning_rate: An explicit rate for every layer; ``None`` (default):
            the optimizer's own rate (or schedule).
        name: The phase's name.

    Raises:
        StrategyError: For ``epochs < 1`` or a ``learning_rate`` that is not a
            finite number > 0.

    Example:
        >>> from transferlab.backbones import BackboneInfo, LayerGroup
        >>> info = BackboneInfo(name="t", default_input_size=(8, 8), min_input_size=(8, 8),
        ...     channels=1, preprocessing="unit", feature_layer="b",
        ...     groups=(LayerGroup("a", "a"), LayerGroup("b", "b")))
        >>> (phase,) = Scratch(epochs=5).phases(info)
        >>> phase.name, phase.epochs, phase.trainable_groups, phase.batchnorm.value, phase.learning_rate
        ('scratch', 5, ('a', 'b'), 'train', None)
    """

    def __init__(self, epochs: int = 1, *, learning_rate: float | None = None, name: str = "scratch") -> None:
        self.epochs = epochs
        self.learning_rate = learning_rate
        self.name = name
        self._phase(())  # validate now, not at training time

    def _phase(self, groups: tuple[str, ...]) -> Phase:
        return Phase(
            self.name,
            epochs=self.epochs,
            trainable_groups=groups,
            learning_rate=self.learning_rate,
            batchnorm=BatchNormPolicy.TRAIN,
        )

    def phases(self, info: BackboneInfo | None) -> list[Phase]:
        """The single phase training all of ``info``'s groups."""
        return [self._phase(backbone_info_of(self, info).group_names)]

    def __repr__(self) -> str:
        return f"Scratch(epochs={self.epochs}, learning_rate={self.learning_rate})"
