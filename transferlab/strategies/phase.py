"""One training phase: which groups train, at what rates, for how many epochs."""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Mapping
from types import MappingProxyType

from transferlab.errors import StrategyError, describe
from transferlab.strategies._check_rate import check_rate

__all__ = ["BatchNormPolicy", "Phase"]


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

    Raises:
        StrategyError: For ``epochs < 1``, a rate or ``lr_scale`` that is not a
            finite number > 0, or ``lr_decay`` outside ``(0, 1]``.

    Example:
        >>> p = Phase("finetune", epochs=2, trainable_groups=("block4", "block5"), lr_scale=0.1,
        ...           lr_decay=0.5)
        >>> p.learning_rate is None, p.lr_scale, p.batchnorm.value
        (True, 0.1, 'frozen')
        >>> Phase("warmup", 1, learning_rate=float("inf"))
        Traceback (most recent call last):
        ...
        transferlab.errors.StrategyError: Phase 'warmup': `learning_rate` must be a finite number > 0. Received: learning_rate=inf. Fix: pass a positive number, or None to train at the optimizer's rate.
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
