"""One training phase: which groups train, at what rates, for how many epochs."""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Mapping
from types import MappingProxyType

from transferlab.errors import StrategyError, describe

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

    Attributes:
        name: Shown in logs and the run folder (``"warmup"``, ``"finetune"``).
        epochs: How many epochs this phase trains.
        trainable_groups: Backbone groups that train (the head always trains).
        learning_rate: The head's learning rate (base rate of the phase).
        group_learning_rates: Explicit rate per trainable group; groups not
            named here train at ``learning_rate * lr_decay ** depth`` where
            ``depth`` counts groups down from the top of the backbone (the
            head is depth 0, the top group depth 1; see
            :func:`~transferlab.strategies.group_learning_rates`).
        lr_decay: Factor per group going down the backbone (1.0 = no decay).
        batchnorm: The :class:`BatchNormPolicy` for trainable groups.

    Example:
        >>> p = Phase("finetune", epochs=2, trainable_groups=("block4", "block5"),
        ...           learning_rate=1e-4, lr_decay=0.5)
        >>> p.batchnorm.value
        'frozen'
    """

    name: str
    epochs: int
    trainable_groups: tuple[str, ...] = ()
    learning_rate: float = 1e-3
    group_learning_rates: Mapping[str, float] = dataclasses.field(
        default_factory=lambda: MappingProxyType({})
    )
    lr_decay: float = 1.0
    batchnorm: BatchNormPolicy = BatchNormPolicy.FROZEN

    def __post_init__(self) -> None:
        if not isinstance(self.epochs, int) or self.epochs < 1:
            raise StrategyError(
                describe(
                    f"Phase {self.name!r}: `epochs` must be a whole number >= 1",
                    received=f"epochs={self.epochs!r}",
                )
            )
        if not self.learning_rate > 0:
            raise StrategyError(
                describe(
                    f"Phase {self.name!r}: `learning_rate` must be > 0",
                    received=f"learning_rate={self.learning_rate!r}",
                )
            )
        if not 0 < self.lr_decay <= 1:
            raise StrategyError(
                describe(
                    f"Phase {self.name!r}: `lr_decay` must be in (0, 1]",
                    received=f"lr_decay={self.lr_decay!r}",
                    fix="use e.g. 0.5 to halve the rate per group going down the backbone",
                )
            )
        object.__setattr__(self, "trainable_groups", tuple(self.trainable_groups))
        object.__setattr__(self, "batchnorm", BatchNormPolicy(self.batchnorm))
        object.__setattr__(self, "group_learning_rates", MappingProxyType(dict(self.group_learning_rates)))
