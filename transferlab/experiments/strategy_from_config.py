"""Turning the ``[strategy]`` section of a config into a strategy object."""

from __future__ import annotations

from transferlab.config.strategy_config import StrategyConfig
from transferlab.strategies import FeatureExtraction, FineTune, GradualUnfreeze, Scratch, Strategy

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
    finetune_rate = config.finetune_learning_rate or None
    if config.kind == "feature_extraction":
        return FeatureExtraction(config.epochs, learning_rate=config.learning_rate)
    if config.kind == "scratch":
        return Scratch(config.warmup_epochs + config.epochs, learning_rate=config.learning_rate)
    if config.kind == "gradual":
        gradual = GradualUnfreeze(
            config.epochs,
            learning_rate=finetune_rate or config.learning_rate / 10,
            lr_decay=config.lr_decay,
            batchnorm=config.batchnorm,
        )
        if config.warmup_epochs:
            return FeatureExtraction(
                config.warmup_epochs, learning_rate=config.learning_rate, name="warmup"
            ).then(gradual)
        return gradual
    return FineTune(
        config.epochs,
        top=config.top or None,
        from_group=config.from_group or None,
        learning_rate=config.learning_rate,
        warmup_epochs=config.warmup_epochs,
        finetune_learning_rate=finetune_rate,
        lr_decay=config.lr_decay,
        batchnorm=config.batchnorm,
    )
