"""The ``[strategy]`` section of a run config."""

from __future__ import annotations

import dataclasses

from transferlab.config_section import ConfigSection, field
from transferlab.errors import ConfigError, describe
from transferlab.strategies.by_name import STRATEGY_NAMES
from transferlab.strategies.few_shot_heads import PROBE_METHODS
from transferlab.strategies.fine_tune import DEFAULT_WARMUP_EPOCHS

__all__ = ["AUTO", "AUTO_CANDIDATES", "STRATEGY_KINDS", "StrategyConfig"]

#: ``strategy.kind = "auto"``: the strategy is chosen among ``strategy.auto_candidates`` by
#: cross-validation on the labelled examples (see :mod:`transferlab.experiments.auto_strategy`).
AUTO = "auto"

#: The strategies ``auto`` chooses among by default, in order of preference (ties, and a
#: labelled set too small to cross-validate, go to the earliest).
AUTO_CANDIDATES: tuple[str, ...] = ("lp_ft", "linear_probe", "fine_tune", "scratch")

#: Every ``strategy.kind`` a config takes: a strategy's name, or ``auto``.
STRATEGY_KINDS: tuple[str, ...] = (*STRATEGY_NAMES, AUTO)


@dataclasses.dataclass(frozen=True)
class StrategyConfig(ConfigSection):
    """How the backbone trains: frozen, fine-tuned, unfrozen gradually, or a head fitted in closed form.

    Example:
        >>> StrategyConfig(kind="fine_tune", top=2).warmup_epochs
        1
        >>> StrategyConfig(kind="lp_ft", probe_method="ridge").probe_l2
        0.0
        >>> StrategyConfig(kind="linear_probe", probe_l2=-1.0)
        Traceback (most recent call last):
        ...
        transferlab.errors.ConfigError: `strategy.probe_l2` must be >= 0. Received: strategy.probe_l2=-1.0. Fix: pass 0 to choose it by cross-validation, or a strength > 0 such as 0.01.
    """

    SECTION = "strategy"

    kind: str = field(
        "fine_tune",
        "One of: "
        + ", ".join(STRATEGY_KINDS)
        + " (auto: chosen by cross-validation on the labelled examples).",
        choices=STRATEGY_KINDS,
    )
    epochs: int = field(3, "Epochs of the main phase(s) (for gradual: epochs per group).")
    warmup_epochs: int = field(
        DEFAULT_WARMUP_EPOCHS, "Head-only epochs before unfreezing (fine_tune, gradual)."
    )
    learning_rate: float = field(1e-3, "The head's learning rate.")
    finetune_learning_rate: float = field(0.0, "Rate once unfrozen; 0: learning_rate / 10.")
    top: int = field(0, "Unfreeze the top N backbone groups; 0: all (fine_tune).")
    from_group: str = field("", "Unfreeze from this group upward (instead of `top`).")
    lr_decay: float = field(1.0, "Rate factor per group going down the backbone (1: none).")
    batchnorm: str = field(
        "frozen", "BatchNorm policy in trainable groups.", choices=("frozen", "affine", "train")
    )
    probe_l2: float = field(
        0.0, "L2 strength of the linear probe (linear_probe, lp_ft); 0: chosen by cross-validation."
    )
    probe_method: str = field(
        "logistic", "How the linear probe is fitted (linear_probe, lp_ft).", choices=PROBE_METHODS
    )
    auto_candidates: tuple[str, ...] = field(
        AUTO_CANDIDATES, "The strategies auto chooses among, in order of preference (ties: the earliest)."
    )
    auto_folds: int = field(3, "Cross-validation folds of auto (at most the labels of the rarest class).")

    def validate(self) -> None:
        if self.epochs < 1:
            raise ConfigError(
                describe("`strategy.epochs` must be >= 1", received=f"strategy.epochs={self.epochs}")
            )
        if self.top and self.from_group:
            raise ConfigError(
                describe(
                    "`strategy.top` and `strategy.from_group` contradict each other",
                    received=f"top={self.top}, from_group={self.from_group!r}",
                    fix="set only one of them",
                )
            )
        if not 0 < self.lr_decay <= 1:
            raise ConfigError(
                describe(
                    "`strategy.lr_decay` must be in (0, 1]", received=f"strategy.lr_decay={self.lr_decay}"
                )
            )
        if self.probe_l2 < 0:
            raise ConfigError(
                describe(
                    "`strategy.probe_l2` must be >= 0",
                    received=f"strategy.probe_l2={self.probe_l2}",
                    fix="pass 0 to choose it by cross-validation, or a strength > 0 such as 0.01",
                )
            )
        unknown = [kind for kind in self.auto_candidates if kind not in STRATEGY_NAMES]
        if unknown or not self.auto_candidates or len(set(self.auto_candidates)) < len(self.auto_candidates):
            raise ConfigError(
                describe(
                    "`strategy.auto_candidates` must name distinct strategies",
                    received=f"strategy.auto_candidates={list(self.auto_candidates)}",
                    accepted=", ".join(STRATEGY_NAMES),
                    fix=f"e.g. auto_candidates = {list(AUTO_CANDIDATES)}",
                )
            )
        if self.auto_folds < 2:
            raise ConfigError(
                describe(
                    "`strategy.auto_folds` must be >= 2",
                    received=f"strategy.auto_folds={self.auto_folds}",
                    fix="use 3 (the default) or more",
                )
            )
        if self.learning_rate <= 0:
            raise ConfigError(
                describe(
                    "`strategy.learning_rate` must be > 0",
                    received=f"strategy.learning_rate={self.learning_rate}",
                )
            )
