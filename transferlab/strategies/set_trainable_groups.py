"""``set_trainable_groups``: choose which backbone groups of a Classifier train."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from transferlab.strategies._classifier_parts import classifier_parts, resolve_groups
from transferlab.strategies.apply_batchnorm_policy import apply_batchnorm_policy
from transferlab.strategies.phase import BatchNormPolicy

if TYPE_CHECKING:  # pragma: no cover
    import keras

__all__ = ["set_trainable_groups"]


def set_trainable_groups(
    model: keras.Model,
    groups: str | Iterable[str],
    *,
    batchnorm: BatchNormPolicy | str = BatchNormPolicy.FROZEN,
) -> tuple[str, ...]:
    """Makes exactly ``groups`` of the backbone trainable, plus the head.

    Every layer of the other backbone groups is frozen; BN layers of the
    trainable groups follow ``batchnorm`` and BN layers elsewhere in the
    backbone are frozen (inference mode). The head always trains. Takes
    effect at the next ``compile()`` (use a fresh optimizer).

    Args:
        model: A Classifier (``.backbone``, ``.backbone_info``, ``.head_layers``).
        groups: Group names (any order), ``()`` for none, or ``"all"``.
        batchnorm: The :class:`BatchNormPolicy` for BN in trainable groups.

    Returns:
        The trainable group names, bottom to top.

    Raises:
        StrategyError: For a model without those attributes or an unknown group.

    Example:
        >>> # see tests/strategies/test_set_trainable_groups.py for a full model
        >>> set_trainable_groups(object(), "all")
        Traceback (most recent call last):
        ...
        transferlab.errors.StrategyError: Strategies act on a transferlab Classifier, which has `backbone`, `backbone_info` and `head_layers`; this model lacks `backbone`, `backbone_info`, `head_layers`. Received: object named '?'. Fix: build the model with transferlab.backbones.build_classifier(...), or give your model those three attributes.
    """
    _backbone, info, by_group, head = classifier_parts(model)
    names = resolve_groups(info, groups)
    model.trainable = True  # propagates down; the groups are set one by one below
    for group, layers in by_group.items():
        for layer in layers:
            layer.trainable = group in names
    frozen = [layer for group, layers in by_group.items() if group not in names for layer in layers]
    trainable = [layer for group in names for layer in by_group[group]]
    apply_batchnorm_policy(frozen, BatchNormPolicy.FROZEN)
    apply_batchnorm_policy(trainable, batchnorm)
    for layer in head:
        layer.trainable = True
    return names
