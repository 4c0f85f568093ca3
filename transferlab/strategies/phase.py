"""One training phase: which groups train, at what rates, for how many epochs."""

from __future__ import annotations

import dataclasses
import enum
import numbers
from collections.abc import Mapping, Sequence
from types import MappingProxyType

from transferlab.errors import StrategyError, describe
from transferlab.strategies._check_rate import check_rate
from transferlab.strategies.few_shot_heads import PROBE_METHODS

__all__ = ["HEAD_FITS", "BatchNormPolicy", "Phase"]

#: How a phase fits the head (a :class:`Phase`'s ``head_fit`` values): ``"gradient"`` trains it
#: with the optimizer (``fit``), epoch after epoch; ``"probe"`` fits a linear probe to convergence
#: on the frozen backbone's features (:func:`~transferlab.strategies.fit_linear_probe`) and sets
#: the head's ``Dense`` layer to it; ``"prototypes"`` sets a cosine head's class vectors to the
#: class prototypes (:func:`~transferlab.strategies.class_prototypes`). The last two are fitted in
#: closed form, once: such a phase is one epoch (one row of metrics).
HEAD_FITS: tuple[str, ...] = ("gradient", "probe", "prototypes")


class BatchNormPolicy(str, enum.Enum):
    """What BatchNorm layers inside a trainable backbone group do.

    Independent of ``trainable`` on the group: the policy is applied after it.

    - ``FROZEN`` (default, the Keras guide's advice): moving statistics and
      affine parameters (gamma, beta) stay fixed; BN runs in inference mode.
    - ``AFFINE``: gamma and beta train; moving statistics stay fixed
      (BN still normalises with the stored statistics).
    - ``TRAIN``: BN trains fully: gamma, beta and the moving statistics.
    """

    FROZEN = "frozen"
    AFFINE = "affine"
    TRAIN = "train"

    @classmethod
    def _missing_(cls, value: object) -> BatchNormPolicy:
        # Called by BatchNormPolicy(value) for an unknown value: a named error, not Enum's bare one.
        raise StrategyError(
            describe(
                "Unknown BatchNorm policy",
                received=f"batchnorm={value!r}",
                accepted=", ".join(repr(p.value) for p in cls),
            )
        )


@dataclasses.dataclass(frozen=True)
class Phase:
    """A stretch of training with one fixed set of trainable variables.

    Keras ignores ``trainable`` changes made after ``compile()``, so every
    change of what trains is a new phase: flags set, compiled with a fresh
    optimizer, trained with ``fit(initial_epoch=...)``.

    Rates follow one rule: **the optimizer's own learning rate (or schedule)
    is the base rate; a phase scales it.** The head trains at
    ``learning_rate`` when it is given, else at ``base * lr_scale``; see
    :func:`~transferlab.strategies.phase_learning_rates`.

    Attributes:
        name: Shown in logs and the run folder (``"warmup"``, ``"finetune"``).
        epochs: How many epochs this phase trains.
        trainable_groups: Backbone groups that train (the head always trains).
        learning_rate: An explicit, absolute rate for the head; ``None``
            (default): the optimizer's rate times ``lr_scale``. An explicit
            rate replaces the rate of an optimizer instance (with a logged
            note) and cannot be combined with an optimizer whose rate is a
            schedule.
        group_learning_rates: Explicit, absolute rate per trainable group;
            groups not named here train at ``head rate * lr_decay ** depth``
            where ``depth`` counts groups down from the top of the backbone
            (the head is depth 0, the top group depth 1; see
            :func:`~transferlab.strategies.group_learning_rates`).
        lr_decay: Factor per group going down the backbone (1.0 = no decay).
        batchnorm: The :class:`BatchNormPolicy` for trainable groups.
        lr_scale: The head's rate relative to the optimizer's rate, used when
            ``learning_rate`` is ``None`` (0.1: a tenth of it).
        head_fit: How the head is fitted, one of :data:`HEAD_FITS`: by the
            optimizer (``"gradient"``, the default), or in closed form on the
            frozen backbone's features (``"probe"``, ``"prototypes"``): then
            the phase is one epoch with no trainable group, and its rates are
            not used.
        probe_l2: The probe's L2 strength(s) to choose from by cross-validation
            (``"probe"`` only); ``None``: the default grid of
            :func:`~transferlab.strategies.fit_linear_probe`. A single number
            is kept as a one-element tuple.
        probe_method: The probe's method, one of
            :data:`~transferlab.strategies.PROBE_METHODS` (``"probe"`` only).

    Raises:
        StrategyError: For ``epochs < 1``, a rate or ``lr_scale`` that is not a
            finite number > 0, ``lr_decay`` outside ``(0, 1]``, an unknown
            ``head_fit`` or ``probe_method``, a closed-form head fit with
            trainable groups or more than one epoch, or probe options on a
            phase that fits no probe.

    Example:
        >>> p = Phase("finetune", epochs=2, trainable_groups=("block4", "block5"), lr_scale=0.1,
        ...           lr_decay=0.5)
        >>> p.learning_rate is None, p.lr_scale, p.batchnorm.value
        (True, 0.1, 'frozen')
        >>> Phase("warmup", 1, learning_rate=float("inf"))
        Traceback (most recent call last):
        ...
        transferlab.errors.StrategyError: Phase 'warmup': `learning_rate` must be a finite number > 0. Received: learning_rate=inf. Fix: pass a positive number, or None to train at the optimizer's rate.
        >>> probe = Phase("probe", 1, head_fit="probe", probe_l2=0.01)
        >>> probe.head_fit, probe.probe_l2, probe.probe_method
        ('probe', (0.01,), 'logistic')
        >>> Phase("probe", 1, trainable_groups=("block5",), head_fit="probe")
        Traceback (most recent call last):
        ...
        transferlab.errors.StrategyError: Phase 'probe': head_fit='probe' fits the head on a frozen backbone's features, and this phase unfreezes backbone groups. Received: trainable_groups=('block5',). Fix: drop `trainable_groups` (the backbone stays frozen), and fine-tune in a later phase (LPFT does).
    """

    name: str
    epochs: int
    trainable_groups: tuple[str, ...] = ()
    learning_rate: float | None = None
    group_learning_rates: Mapping[str, float] = dataclasses.field(
        default_factory=lambda: MappingProxyType({})
    )
    lr_decay: float = 1.0
    batchnorm: BatchNormPolicy = BatchNormPolicy.FROZEN
    lr_scale: float = 1.0
    head_fit: str = "gradient"
    probe_l2: float | Sequence[float] | None = None
    probe_method: str = "logistic"

    def __post_init__(self) -> None:
        where = f"Phase {self.name!r}: "
        if not isinstance(self.epochs, int) or isinstance(self.epochs, bool) or self.epochs < 1:
            raise StrategyError(
                describe(
                    f"{where}`epochs` must be a whole number >= 1",
                    received=f"epochs={self.epochs!r}",
                )
            )
        if self.learning_rate is not None:
            rate = check_rate(
                self.learning_rate,
                what="learning_rate",
                where=where,
                fix="pass a positive number, or None to train at the optimizer's rate",
            )
            object.__setattr__(self, "learning_rate", rate)
        scale = check_rate(
            self.lr_scale,
            what="lr_scale",
            where=where,
            fix="use e.g. 0.1 for a tenth of the optimizer's rate",
        )
        object.__setattr__(self, "lr_scale", scale)
        if not (isinstance(self.lr_decay, (int, float)) and 0 < self.lr_decay <= 1):
            raise StrategyError(
                describe(
                    f"{where}`lr_decay` must be in (0, 1]",
                    received=f"lr_decay={self.lr_decay!r}",
                    fix="use e.g. 0.5 to halve the rate per group going down the backbone",
                )
            )
        groups = dict(self.group_learning_rates)
        for group, rate in groups.items():
            groups[group] = check_rate(rate, what=f"group_learning_rates[{group!r}]", where=where)
        object.__setattr__(self, "trainable_groups", tuple(self.trainable_groups))
        object.__setattr__(self, "batchnorm", BatchNormPolicy(self.batchnorm))
        object.__setattr__(self, "group_learning_rates", MappingProxyType(groups))
        self._check_head_fit(where)

    def _check_head_fit(self, where: str) -> None:
        if self.head_fit not in HEAD_FITS:
            raise StrategyError(
                describe(
                    f"{where}unknown `head_fit`",
                    received=f"head_fit={self.head_fit!r}",
                    accepted=", ".join(map(repr, HEAD_FITS)),
                )
            )
        if self.head_fit != "probe" and (
            self.probe_l2 is not None or self.probe_method != Phase.probe_method
        ):
            raise StrategyError(
                describe(
                    f"{where}`probe_l2` and `probe_method` are options of a linear probe, and this "
                    f"phase fits its head by {self.head_fit!r}",
                    received=f"head_fit={self.head_fit!r}, probe_l2={self.probe_l2!r}, "
                    f"probe_method={self.probe_method!r}",
                    fix="pass head_fit='probe', or drop the probe options",
                )
            )
        if self.probe_method not in PROBE_METHODS:
            raise StrategyError(
                describe(
                    f"{where}unknown `probe_method`",
                    received=f"probe_method={self.probe_method!r}",
                    accepted=", ".join(map(repr, PROBE_METHODS)),
                )
            )
        if self.probe_l2 is not None:
            values = [self.probe_l2] if isinstance(self.probe_l2, numbers.Number) else self.probe_l2
            if isinstance(values, (str, bytes)) or not isinstance(values, Sequence) or not values:
                raise StrategyError(
                    describe(
                        f"{where}`probe_l2` must be None, a number > 0 or a non-empty sequence of them",
                        received=f"probe_l2={self.probe_l2!r}",
                        fix="pass e.g. 0.01, or [1.0, 0.1, 0.01] to choose among by cross-validation",
                    )
                )
            strengths = tuple(check_rate(v, what="probe_l2", where=where) for v in values)
            object.__setattr__(self, "probe_l2", strengths)
        if self.head_fit == "gradient":
            return
        if self.trainable_groups:
            raise StrategyError(
                describe(
                    f"{where}head_fit={self.head_fit!r} fits the head on a frozen backbone's features, "
                    "and this phase unfreezes backbone groups",
                    received=f"trainable_groups={self.trainable_groups!r}",
                    fix="drop `trainable_groups` (the backbone stays frozen), and fine-tune in a later "
                    "phase (LPFT does)",
                )
            )
        if self.epochs != 1:
            raise StrategyError(
                describe(
                    f"{where}head_fit={self.head_fit!r} fits the head once, in closed form: the phase "
                    "is one epoch",
                    received=f"epochs={self.epochs!r}",
                    fix="pass epochs=1",
                )
            )
