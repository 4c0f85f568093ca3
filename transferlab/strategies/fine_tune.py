"""``FineTune``: optional head warm-up, then train the chosen backbone groups."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from transferlab.errors import StrategyError, describe
from transferlab.strategies._classifier_parts import resolve_groups
from transferlab.strategies.phase import BatchNormPolicy, Phase
from transferlab.strategies.strategy import Strategy

if TYPE_CHECKING:  # pragma: no cover
    from transferlab.backbones.backbone_info import BackboneInfo

__all__ = ["FineTune"]


class FineTune(Strategy):
    """Fine-tunes the top of the backbone, after an optional frozen warm-up.

    fastai's ``fine_tune`` recipe: ``warmup_epochs`` with the backbone frozen
    at ``learning_rate`` (the new head stops sending large gradients into the
    pretrained weights), then the chosen groups unfrozen at a lower rate.

    Which groups train (pick at most one of ``top`` / ``from_group``):
    ``top=N`` the top N groups; ``from_group="block4"`` that group and every
    group above it; neither: all groups.

    Args:
        epochs: Epochs of the fine-tuning phase.
        top: Number of groups to unfreeze, counted from the top.
        from_group: Lowest group to unfreeze.
        learning_rate: The warm-up's rate (head), and the fine-tuning head
            rate when there is no warm-up and no ``finetune_learning_rate``.
        warmup_epochs: Epochs of the frozen warm-up phase (0: none).
        finetune_learning_rate: The head's rate while fine-tuning; default
            ``learning_rate / 10`` after a warm-up, else ``learning_rate``.
        lr_decay: Rate factor per group down the backbone while fine-tuning.
        group_learning_rates: Explicit rates for some fine-tuned groups.
        batchnorm: :class:`BatchNormPolicy` of BN in fine-tuned groups.

    Raises:
        StrategyError: For both ``top`` and ``from_group``, ``top < 1``, a
            negative ``warmup_epochs``, or (in :meth:`phases`) a group or
            ``top`` the backbone does not have.

    Example:
        >>> from transferlab.backbones import BackboneInfo, LayerGroup
        >>> info = BackboneInfo(name="t", default_input_size=(8, 8), min_input_size=(8, 8),
        ...     channels=1, preprocessing="unit", feature_layer="c",
        ...     groups=(LayerGroup("a", "a"), LayerGroup("b", "b"), LayerGroup("c", "c")))
        >>> for p in FineTune(epochs=2, top=2, warmup_epochs=1, learning_rate=1e-3).phases(info):
        ...     print(p.name, p.epochs, p.trainable_groups, p.learning_rate)
        warmup 1 () 0.001
        finetune 2 ('b', 'c') 0.0001
    """

    def __init__(
        self,
        epochs: int = 1,
        *,
        top: int | None = None,
        from_group: str | None = None,
        learning_rate: float = 1e-3,
        warmup_epochs: int = 0,
        finetune_learning_rate: float | None = None,
        lr_decay: float = 1.0,
        group_learning_rates: Mapping[str, float] | None = None,
        batchnorm: BatchNormPolicy | str = BatchNormPolicy.FROZEN,
    ) -> None:
        if top is not None and from_group is not None:
            raise StrategyError(
                describe(
                    "FineTune takes `top` or `from_group`, not both",
                    received=f"top={top!r}, from_group={from_group!r}",
                    fix="keep one (neither = fine-tune all groups)",
                )
            )
        if top is not None and (not isinstance(top, int) or isinstance(top, bool) or top < 1):
            raise StrategyError(describe("`top` must be a whole number >= 1", received=f"top={top!r}"))
        if not isinstance(warmup_epochs, int) or warmup_epochs < 0:
            raise StrategyError(
                describe(
                    "`warmup_epochs` must be a whole number >= 0",
                    received=f"warmup_epochs={warmup_epochs!r}",
                )
            )
        self.epochs = epochs
        self.top = top
        self.from_group = from_group
        self.learning_rate = learning_rate
        self.warmup_epochs = warmup_epochs
        self.finetune_learning_rate = finetune_learning_rate
        self.lr_decay = lr_decay
        self.group_learning_rates = dict(group_learning_rates or {})
        self.batchnorm = BatchNormPolicy(batchnorm)
        Phase("finetune", epochs, (), self._finetune_rate(), lr_decay=lr_decay)  # validate

    def _finetune_rate(self) -> float:
        if self.finetune_learning_rate is not None:
            return self.finetune_learning_rate
        return self.learning_rate / 10 if self.warmup_epochs else self.learning_rate

    def groups(self, info: BackboneInfo) -> tuple[str, ...]:
        """The groups this strategy fine-tunes on ``info``'s backbone, bottom to top."""
        names = info.group_names
        if self.from_group is not None:
            start = resolve_groups(info, self.from_group)[0]
            return names[names.index(start) :]
        if self.top is not None:
            if self.top > len(names):
                raise StrategyError(
                    describe(
                        f"FineTune(top={self.top}) asks for more groups than backbone {info.name!r} has",
                        received=f"top={self.top}",
                        accepted=f"1 to {len(names)} (groups: {', '.join(names)})",
                    )
                )
            return names[len(names) - self.top :]
        return names

    def phases(self, info: BackboneInfo) -> list[Phase]:
        """An optional ``warmup`` phase, then ``finetune``."""
        result = []
        if self.warmup_epochs:
            result.append(Phase("warmup", self.warmup_epochs, (), self.learning_rate))
        result.append(
            Phase(
                "finetune",
                self.epochs,
                self.groups(info),
                self._finetune_rate(),
                group_learning_rates=self.group_learning_rates,
                lr_decay=self.lr_decay,
                batchnorm=self.batchnorm,
            )
        )
        return result

    def __repr__(self) -> str:
        which = f"top={self.top}" if self.top else f"from_group={self.from_group!r}"
        return f"FineTune(epochs={self.epochs}, {which}, warmup_epochs={self.warmup_epochs})"
