"""``GradualUnfreeze``: unfreeze one more group, top down, every few epochs."""

from __future__ import annotations

from typing import TYPE_CHECKING

from transferlab.errors import StrategyError, describe
from transferlab.strategies._check_rate import check_rate
from transferlab.strategies.phase import BatchNormPolicy, Phase
from transferlab.strategies.strategy import Strategy, backbone_info_of

if TYPE_CHECKING:  # pragma: no cover
    from transferlab.backbones.backbone_info import BackboneInfo

__all__ = ["GradualUnfreeze"]


class GradualUnfreeze(Strategy):
    """ULMFiT's gradual unfreezing: phase i trains the top i groups.

    Each step is its own :class:`Phase` (Keras needs a recompile with a
    fresh optimizer whenever the trainable set changes). Combine with a
    head warm-up: ``FeatureExtraction(1).then(GradualUnfreeze(...))``.

    Args:
        epochs_per_step: Epochs each step trains.
        steps: How many groups to unfreeze in total (default: all).
        learning_rate: An explicit head rate for every step; ``None``
            (default): ``lr_scale`` times the optimizer's own rate (or schedule).
        lr_scale: The head's rate relative to the optimizer's; default 0.1
            (it usually follows a warm-up, like ``FineTune``'s fine-tuning).
        lr_decay: Rate factor per group down the backbone.
        batchnorm: :class:`BatchNormPolicy` of BN in unfrozen groups.

    Raises:
        StrategyError: For ``steps < 1``, a rate or scale that is not a finite
            number > 0, both ``learning_rate`` and ``lr_scale``, or (in
            :meth:`phases`) more steps than the backbone has groups.

    Example:
        >>> from transferlab.backbones import BackboneInfo, LayerGroup
        >>> info = BackboneInfo(name="t", default_input_size=(8, 8), min_input_size=(8, 8),
        ...     channels=1, preprocessing="unit", feature_layer="c",
        ...     groups=(LayerGroup("a", "a"), LayerGroup("b", "b"), LayerGroup("c", "c")))
        >>> [(p.name, p.trainable_groups, p.lr_scale) for p in GradualUnfreeze(steps=2).phases(info)]
        [('unfreeze_1', ('c',), 0.1), ('unfreeze_2', ('b', 'c'), 0.1)]
    """

    def __init__(
        self,
        epochs_per_step: int = 1,
        *,
        steps: int | None = None,
        learning_rate: float | None = None,
        lr_scale: float | None = None,
        lr_decay: float = 1.0,
        batchnorm: BatchNormPolicy | str = BatchNormPolicy.FROZEN,
    ) -> None:
        if steps is not None and (not isinstance(steps, int) or isinstance(steps, bool) or steps < 1):
            raise StrategyError(describe("`steps` must be a whole number >= 1", received=f"steps={steps!r}"))
        if learning_rate is not None and lr_scale is not None:
            raise StrategyError(
                describe(
                    "GradualUnfreeze takes `learning_rate` or `lr_scale`, not both",
                    received=f"learning_rate={learning_rate!r}, lr_scale={lr_scale!r}",
                    fix="keep the absolute rate or the factor of the optimizer's rate",
                )
            )
        for what, value in (("learning_rate", learning_rate), ("lr_scale", lr_scale)):
            if value is not None:
                check_rate(value, what=what, where="GradualUnfreeze: ")
        self.epochs_per_step = epochs_per_step
        self.steps = steps
        self.learning_rate = learning_rate
        self.lr_scale = lr_scale
        self.lr_decay = lr_decay
        self.batchnorm = BatchNormPolicy(batchnorm)
        self._phase(1, ())  # validate now, not at training time

    def _phase(self, step: int, groups: tuple[str, ...]) -> Phase:
        scale = 1.0 if self.learning_rate is not None else 0.1 if self.lr_scale is None else self.lr_scale
        return Phase(
            f"unfreeze_{step}",
            self.epochs_per_step,
            groups,
            self.learning_rate,
            lr_decay=self.lr_decay,
            batchnorm=self.batchnorm,
            lr_scale=scale,
        )

    def phases(self, info: BackboneInfo | None) -> list[Phase]:
        """One phase per step, named ``unfreeze_<i>``."""
        info = backbone_info_of(self, info)
        names = info.group_names
        steps = len(names) if self.steps is None else self.steps
        if steps > len(names):
            raise StrategyError(
                describe(
                    f"GradualUnfreeze(steps={steps}) asks for more groups than backbone {info.name!r} has",
                    received=f"steps={steps}",
                    accepted=f"1 to {len(names)} (groups: {', '.join(names)})",
                )
            )
        return [self._phase(i, names[len(names) - i :]) for i in range(1, steps + 1)]

    def __repr__(self) -> str:
        return f"GradualUnfreeze(epochs_per_step={self.epochs_per_step}, steps={self.steps})"
