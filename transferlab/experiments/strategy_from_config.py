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
    - ``linear_probe``: the head fitted in closed form on the frozen backbone's
      features (``probe_l2``, 0: cross-validated; ``probe_method``), one epoch.
    - ``lp_ft``: that probe instead of the warm-up, then ``epochs`` with the chosen
      groups (``top`` / ``from_group`` / all) at ``finetune_learning_rate`` (0: a
      tenth of ``learning_rate``).
    - ``prototypes``: a cosine head's class vectors set to the class prototypes.
    - ``auto`` is not a strategy of its own: :func:`~transferlab.experiments.run_experiment`
      chooses one of ``auto_candidates`` from the data
      (:func:`~transferlab.experiments.auto_strategy.choose_strategy`) and builds that;
      here it is refused with that explanation.

    Example:
        >>> s = strategy_from_config(StrategyConfig(kind="fine_tune", top=2, warmup_epochs=1))
        >>> type(s).__name__, s.top
        ('FineTune', 2)
        >>> s = strategy_from_config(StrategyConfig(kind="lp_ft", epochs=2, probe_l2=0.01))
        >>> type(s).__name__, s.epochs, s.probe.l2, s.finetune.learning_rate, s.lr_scale
        ('LPFT', 2, 0.01, 0.001, 0.1)
    """
    c = config
    if c.kind == "feature_extraction":
        return strategy_by_name(c.kind, epochs=c.epochs, learning_rate=c.learning_rate)
    if c.kind == "linear_probe":
        return strategy_by_name(c.kind, l2=c.probe_l2, method=c.probe_method)
    if c.kind == "prototypes":
        return strategy_by_name(c.kind)
    if c.kind == "lp_ft":
        return strategy_by_name(
            c.kind,
            epochs=c.epochs,
            top=c.top,
            from_group=c.from_group,
            learning_rate=c.learning_rate,
            finetune_learning_rate=c.finetune_learning_rate,
            lr_decay=c.lr_decay,
            batchnorm=c.batchnorm,
            l2=c.probe_l2,
            method=c.probe_method,
        )
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
