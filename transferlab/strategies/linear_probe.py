"""``LinearProbe``: one phase that fits the head as a linear probe on the frozen backbone's features."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from transferlab.strategies.phase import Phase
from transferlab.strategies.strategy import Strategy

if TYPE_CHECKING:  # pragma: no cover
    from transferlab.backbones.backbone_info import BackboneInfo

__all__ = ["LinearProbe"]


class LinearProbe(Strategy):
    """One phase: the backbone frozen, the head's ``Dense`` layer fitted to convergence in closed form.

    CLIP's linear-probe protocol: the training examples' pooled features are
    computed once, a multinomial logistic regression (or ridge) is fitted on
    them by :func:`~transferlab.strategies.fit_linear_probe`, its L2 strength
    chosen by cross-validation on the labelled examples, and its kernel and
    bias are set into the head. No optimizer step: the phase counts as one
    epoch (one row of metrics, evaluated on the training and validation data),
    and the choice of ``l2`` with its cross-validated scores goes to
    ``decisions.json`` (``head_fit``, under the phase's name).

    The head must be ``build_classifier``'s ``Dense`` head (dropout before it
    is fine: it is the identity at inference). Augmentation does not apply:
    the probe sees the training images as they are.

    Args:
        l2: ``None`` (default: cross-validate the default grid), one L2
            strength, or several to choose from; each > 0.
        method: ``"logistic"`` (default; logits for a softmax head, and a good
            start for fine-tuning) or ``"ridge"`` (closed form on one-hot
            targets), see :data:`~transferlab.strategies.PROBE_METHODS`.
        name: The phase's name.

    Raises:
        StrategyError: For an ``l2`` that is not positive or an unknown ``method``.

    Example:
        >>> (phase,) = LinearProbe(l2=[1.0, 0.1]).phases(None)
        >>> phase.name, phase.epochs, phase.head_fit, phase.probe_l2, phase.probe_method
        ('linear_probe', 1, 'probe', (1.0, 0.1), 'logistic')
        >>> LinearProbe(method="svm")
        Traceback (most recent call last):
        ...
        transferlab.errors.StrategyError: Phase 'linear_probe': unknown `probe_method`. Received: probe_method='svm'. Accepted: 'logistic', 'ridge'.
    """

    def __init__(
        self,
        l2: float | Sequence[float] | None = None,
        *,
        method: str = "logistic",
        name: str = "linear_probe",
    ) -> None:
        self.l2 = l2
        self.method = method
        self.name = name
        self.phases(None)  # validate now, not at training time

    def phases(self, info: BackboneInfo | None) -> list[Phase]:
        """The single probe phase (``info`` is not needed)."""
        return [Phase(self.name, 1, head_fit="probe", probe_l2=self.l2, probe_method=self.method)]

    def __repr__(self) -> str:
        return f"LinearProbe(l2={self.l2!r}, method={self.method!r})"
