"""Turning the ``[strategy]`` section of a config into a strategy object."""

from __future__ import annotations

from transferlab.config.strategy_config import StrategyConfig
from transferlab.strategies import Strategy
from transferlab.strategies.by_name import strategy_by_name

__all__ = ["strategy_from_config"]


def strategy_from_config(config: StrategyConfig) -> Strategy:
    """The strategy a ``[strategy]`` section describes.

    - ``feature_extraction``: the backbone frozen, ``epochs`` of head training.
    - ``fine_tune``: ``warmup_epochs`` frozen, then ``epochs`` with the chosen groups
      (``top`` / ``from_group`` / all) at ``finetune_learning_rate``.
    - ``gradual``: ``warmup_epochs`` frozen, then one more group every ``epochs``.
    - ``scratch``: every group trains from the first step (BatchNorm fully), for
      ``warmup_epochs + epochs`` epochs — the baseline transfer is compared with.

    Example:
        >>> s = strategy_from_config(StrategyConfig(kind="fine_tune", top=2, warmup_epochs=1))
        >>> type(s).__name__, s.top
        ('FineTune', 2)
    """
    c = config
    if c.kind == "feature_extraction":
        return strategy_by_name(c.kind, epochs=c.epochs, learning_rate=c.learning_rate)
    if c.kind == "scratch":
        return strategy_by_name(c.kind, epochs=c.warmup_epochs + c.epochs, learning_rate=c.learning_rate)
    if c.kind == "gradual":
        return strategy_by_name(
            c.kind,
            epochs=c.epochs,
            warmup_epochs=c.warmup_epochs,
            warmup_learning_rate=c.learning_rate,
            learning_rate=c.finetune_learning_rate or c.learning_rate / 10,
            lr_decay=c.lr_decay,
            batchnorm=c.batchnorm,
        )
    return strategy_by_name(
        c.kind,
        epochs=c.epochs,
        top=c.top,
        from_group=c.from_group,
        learning_rate=c.learning_rate,
        warmup_epochs=c.warmup_epochs,
        finetune_learning_rate=c.finetune_learning_rate,
        lr_decay=c.lr_decay,
        batchnorm=c.batchnorm,
    )
