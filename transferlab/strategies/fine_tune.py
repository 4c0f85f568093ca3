"""``FineTune``: optional head warm-up, then train the chosen backbone groups."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from transferlab.errors import StrategyError, describe
from transferlab.strategies._check_rate import check_rate
from transferlab.strategies._classifier_parts import resolve_groups
from transferlab.strategies.phase import BatchNormPolicy, Phase
from transferlab.strategies.strategy import Strategy, backbone_info_of

if TYPE_CHECKING:  # pragma: no cover
    from transferlab.backbones.backbone_info import BackboneInfo

__all__ = ["DEFAULT_WARMUP_EPOCHS", "FineTune"]


#: Head-only epochs before unfreezing, by default (``FineTune``, ``strategy_by_name`` and a
#: config's ``strategy.warmup_epochs`` all read it): the Keras guide's and fastai's recipe —
#: train the new, random head first, so that it does not send large gradients into the
#: pretrained weights once they are unfrozen. ``warmup_epochs=0`` fine-tunes at once.
DEFAULT_WARMUP_EPOCHS = 1


class FineTune(Strategy):
    """Fine-tunes the top of the backbone, after an optional frozen warm-up.

    fastai's ``fine_tune`` recipe: ``warmup_epochs`` with the backbone frozen
    (the new head stops sending large gradients into the pretrained weights),
    then the chosen groups unfrozen at a lower rate.

    Rates are relative to the optimizer's own rate (or schedule) unless given:
    the warm-up trains at the optimizer's rate, the fine-tuning phase at
    ``finetune_lr_scale`` times it (default a tenth after a warm-up, else the
    same rate). Explicit rates (``learning_rate``, ``finetune_learning_rate``)
    are absolute; they replace an optimizer instance's rate (with a logged
    note) and do not combine with a schedule-valued optimizer.

    Which groups train (pick at most one of ``top`` / ``from_group``):
    ``top=N`` the top N groups; ``from_group="block4"`` that group and every
    group above it; neither: all groups.

    Args:
        epochs: Epochs of the fine-tuning phase.
        top: Number of groups to unfreeze, counted from the top.
        from_group: Lowest group to unfreeze.
        learning_rate: An explicit warm-up rate (head); the fine-tuning head
            rate is then ``learning_rate / 10`` after a warm-up (or
            ``learning_rate * finetune_lr_scale``), else ``learning_rate``.
            ``None`` (default): the optimizer's rate.
        warmup_epochs: Epochs of the frozen warm-up phase (0: none).
        finetune_learning_rate: An explicit head rate while fine-tuning.
        finetune_lr_scale: The fine-tuning head rate relative to the
            warm-up's; default 0.1 after a warm-up, else 1.0.
        lr_decay: Rate factor per group down the backbone while fine-tuning.
        group_learning_rates: Explicit rates for some fine-tuned groups.
        batchnorm: :class:`BatchNormPolicy` of BN in fine-tuned groups.

    Raises:
        StrategyError: For both ``top`` and ``from_group``, ``top < 1``, a
            negative ``warmup_epochs``, a rate or scale that is not a finite
            number > 0, both ``finetune_learning_rate`` and
            ``finetune_lr_scale``, or (in :meth:`phases`) a group or ``top``
            the backbone does not have.

    Example:
        >>> from transferlab.backbones import BackboneInfo, LayerGroup
        >>> info = BackboneInfo(name="t", default_input_size=(8, 8), min_input_size=(8, 8),
        ...     channels=1, preprocessing="unit", feature_layer="c",
        ...     groups=(LayerGroup("a", "a"), LayerGroup("b", "b"), LayerGroup("c", "c")))
        >>> for p in FineTune(epochs=2, top=2, warmup_epochs=1).phases(info):
        ...     print(p.name, p.epochs, p.trainable_groups, p.learning_rate, p.lr_scale)
        warmup 1 () None 1.0
        finetune 2 ('b', 'c') None 0.1
        >>> [p.learning_rate for p in FineTune(top=2, warmup_epochs=1, learning_rate=1e-3).phases(info)]
        [0.001, 0.0001]
    """

    def __init__(
        self,
        epochs: int = 1,
        *,
        top: int | None = None,
        from_group: str | None = None,
        learning_rate: float | None = None,
        warmup_epochs: int = DEFAULT_WARMUP_EPOCHS,
        finetune_learning_rate: float | None = None,
        finetune_lr_scale: float | None = None,
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
        if finetune_learning_rate is not None and finetune_lr_scale is not None:
            raise StrategyError(
                describe(
                    "FineTune takes `finetune_learning_rate` or `finetune_lr_scale`, not both",
                    received=f"finetune_learning_rate={finetune_learning_rate!r}, "
                    f"finetune_lr_scale={finetune_lr_scale!r}",
                    fix="keep the absolute rate or the factor",
                )
            )
        for what, value in (
            ("learning_rate", learning_rate),
            ("finetune_learning_rate", finetune_learning_rate),
            ("finetune_lr_scale", finetune_lr_scale),
        ):
            if value is not None:
                check_rate(value, what=what, where="FineTune: ")
        self.epochs = epochs
        self.top = top
        self.from_group = from_group
        self.learning_rate = learning_rate
        self.warmup_epochs = warmup_epochs
        self.finetune_learning_rate = finetune_learning_rate
        self.finetune_lr_scale = finetune_lr_scale
        self.lr_decay = lr_decay
        self.group_learning_rates = dict(group_learning_rates or {})
        self.batchnorm = BatchNormPolicy(batchnorm)
        self._finetune_phase(())  # validate now, not at training time

    def _finetune_rate(self) -> tuple[float | None, float]:
        """``(learning_rate, lr_scale)`` of the fine-tuning phase."""
        if self.finetune_learning_rate is not None:
            return self.finetune_learning_rate, 1.0
        scale = self.finetune_lr_scale
        if self.learning_rate is None:
            if scale is None:
                scale = 0.1 if self.warmup_epochs else 1.0
            return None, scale
        if scale is None:  # `/ 10`, not `* 0.1`: 1e-3 / 10 is exactly 1e-4
            return (self.learning_rate / 10 if self.warmup_epochs else self.learning_rate), 1.0
        return self.learning_rate * scale, 1.0

    def _finetune_phase(self, groups: tuple[str, ...]) -> Phase:
        rate, scale = self._finetune_rate()
        return Phase(
            "finetune",
            self.epochs,
            groups,
            rate,
            group_learning_rates=self.group_learning_rates,
            lr_decay=self.lr_decay,
            batchnorm=self.batchnorm,
            lr_scale=scale,
        )

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

    def phases(self, info: BackboneInfo | None) -> list[Phase]:
        """An optional ``warmup`` phase, then ``finetune``."""
        info = backbone_info_of(self, info)
        result = []
        if self.warmup_epochs:
            result.append(Phase("warmup", self.warmup_epochs, (), self.learning_rate))
        result.append(self._finetune_phase(self.groups(info)))
        return result

    def __repr__(self) -> str:
        which = f"top={self.top}" if self.top else f"from_group={self.from_group!r}"
        return f"FineTune(epochs={self.epochs}, {which}, warmup_epochs={self.warmup_epochs})"
