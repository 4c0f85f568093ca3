"""``LPFT``: fit a linear probe first, then fine-tune from it at a low rate (Kumar et al., 2022)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from transferlab.errors import StrategyError, describe
from transferlab.strategies._check_rate import check_rate
from transferlab.strategies.fine_tune import FineTune
from transferlab.strategies.linear_probe import LinearProbe
from transferlab.strategies.phase import BatchNormPolicy, Phase
from transferlab.strategies.prototypes import Prototypes
from transferlab.strategies.strategy import Strategy, backbone_info_of

if TYPE_CHECKING:  # pragma: no cover
    from transferlab.backbones.backbone_info import BackboneInfo

__all__ = ["DEFAULT_LP_FT_LR_SCALE", "LPFT"]

#: The fine-tuning head rate of :class:`LPFT` relative to the base rate, by default: a tenth.
#: Kumar et al. fine-tune from the probe at a rate well below a head's, so that the features,
#: which the fitted head no longer pushes hard, are distorted as little as possible.
DEFAULT_LP_FT_LR_SCALE = 0.1


class LPFT(Strategy):
    """LP-FT: a linear probe fitted on the frozen backbone, then fine-tuning from it at a low rate.

    Kumar et al., "Fine-Tuning can Distort Pretrained Features and Underperform
    Out-of-Distribution" (ICLR 2022): fine-tuning from a random head sends
    large gradients into the pretrained features before the head is any good;
    starting from the probe's head (fitted to convergence, in closed form)
    and fine-tuning at a low rate changes them far less. Phases:

    1. the probe (:class:`LinearProbe`, or :class:`Prototypes` for a cosine
       head): one closed-form phase, recorded in ``decisions.json``;
    2. ``finetune``: the chosen groups and the head, starting from the
       probe's weights, for ``epochs``.

    Rates follow :class:`FineTune`'s rule with the probe in the warm-up's
    place: the fine-tuning head rate is ``lr_scale`` (default
    :data:`DEFAULT_LP_FT_LR_SCALE`) times the base rate (``learning_rate`` if
    given, else the optimizer's own rate or schedule), or
    ``finetune_learning_rate`` when given.

    Which groups train: ``top=N`` the top N, ``from_group`` that group and the
    ones above, neither: all of them (as Kumar et al. do).

    Args:
        epochs: Epochs of the fine-tuning phase.
        top: Number of groups to unfreeze, counted from the top.
        from_group: Lowest group to unfreeze.
        learning_rate: An explicit base rate; ``None``: the optimizer's rate.
        finetune_learning_rate: An explicit, absolute head rate while
            fine-tuning (instead of ``lr_scale``).
        lr_scale: The fine-tuning head rate relative to the base rate
            (``None``: :data:`DEFAULT_LP_FT_LR_SCALE`).
        lr_decay: Rate factor per group down the backbone while fine-tuning.
        group_learning_rates: Explicit rates for some fine-tuned groups.
        batchnorm: :class:`BatchNormPolicy` of BN in fine-tuned groups.
        probe: The first phase's strategy: :class:`LinearProbe` (default:
            ``LinearProbe()``) or :class:`Prototypes`.

    Raises:
        StrategyError: As :class:`FineTune` does, for both
            ``finetune_learning_rate`` and ``lr_scale``, or a ``probe`` that is
            neither a :class:`LinearProbe` nor :class:`Prototypes`.

    Example:
        >>> from transferlab.backbones import BackboneInfo, LayerGroup
        >>> info = BackboneInfo(name="t", default_input_size=(8, 8), min_input_size=(8, 8),
        ...     channels=1, preprocessing="unit", feature_layer="c",
        ...     groups=(LayerGroup("a", "a"), LayerGroup("b", "b"), LayerGroup("c", "c")))
        >>> for p in LPFT(epochs=3, top=2).phases(info):
        ...     print(p.name, p.epochs, p.head_fit, p.trainable_groups, p.learning_rate, p.lr_scale)
        linear_probe 1 probe () None 1.0
        finetune 3 gradient ('b', 'c') None 0.1
        >>> LPFT(finetune_learning_rate=1e-4, lr_scale=0.1)
        Traceback (most recent call last):
        ...
        transferlab.errors.StrategyError: LPFT takes `finetune_learning_rate` or `lr_scale`, not both. Received: finetune_learning_rate=0.0001, lr_scale=0.1. Fix: keep the absolute rate or the factor.
    """

    def __init__(
        self,
        epochs: int = 1,
        *,
        top: int | None = None,
        from_group: str | None = None,
        learning_rate: float | None = None,
        finetune_learning_rate: float | None = None,
        lr_scale: float | None = None,
        lr_decay: float = 1.0,
        group_learning_rates: Mapping[str, float] | None = None,
        batchnorm: BatchNormPolicy | str = BatchNormPolicy.FROZEN,
        probe: LinearProbe | Prototypes | None = None,
    ) -> None:
        if finetune_learning_rate is not None and lr_scale is not None:
            raise StrategyError(
                describe(
                    "LPFT takes `finetune_learning_rate` or `lr_scale`, not both",
                    received=f"finetune_learning_rate={finetune_learning_rate!r}, lr_scale={lr_scale!r}",
                    fix="keep the absolute rate or the factor",
                )
            )
        if probe is None:
            probe = LinearProbe()
        if not isinstance(probe, (LinearProbe, Prototypes)):
            raise StrategyError(
                describe(
                    "LPFT's `probe` must fit the head in closed form",
                    received=f"probe of type {type(probe).__name__}",
                    accepted="LinearProbe(...), Prototypes()",
                    fix="pass e.g. probe=LinearProbe(l2=0.01), or chain other strategies with `+`",
                )
            )
        if lr_scale is None and finetune_learning_rate is None:
            lr_scale = DEFAULT_LP_FT_LR_SCALE
        if lr_scale is not None:
            lr_scale = check_rate(lr_scale, what="lr_scale", where="LPFT: ")
        self.probe = probe
        self.lr_scale = lr_scale
        self.finetune = FineTune(
            epochs,
            top=top,
            from_group=from_group,
            learning_rate=learning_rate,
            warmup_epochs=0,
            finetune_learning_rate=finetune_learning_rate,
            finetune_lr_scale=lr_scale,
            lr_decay=lr_decay,
            group_learning_rates=group_learning_rates,
            batchnorm=batchnorm,
        )

    @property
    def epochs(self) -> int:
        """Epochs of the fine-tuning phase."""
        return self.finetune.epochs

    def phases(self, info: BackboneInfo | None) -> list[Phase]:
        """The probe's phase, then ``finetune`` (names made unique as a :class:`Chain` does)."""
        info = backbone_info_of(self, info)  # named as LPFT's need, not its FineTune's
        return self.probe.then(self.finetune).phases(info)

    def __repr__(self) -> str:
        ft = self.finetune
        which = f"top={ft.top}, " if ft.top else f"from_group={ft.from_group!r}, " if ft.from_group else ""
        return f"LPFT(epochs={self.epochs}, {which}lr_scale={self.lr_scale}, probe={self.probe!r})"
