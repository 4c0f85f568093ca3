"""``apply_batchnorm_policy``: what BatchNormalization layers do while their group trains."""

from __future__ import annotations

from collections.abc import Iterable

import keras

from transferlab.errors import StrategyError, describe
from transferlab.strategies._classifier_parts import walk_layers
from transferlab.strategies.frozen_stats_batch_normalization import (
    FrozenStatsBatchNormalization,
)
from transferlab.strategies.phase import BatchNormPolicy

__all__ = ["apply_batchnorm_policy"]


def apply_batchnorm_policy(layers: Iterable[keras.layers.Layer], policy: BatchNormPolicy | str) -> int:
    """Applies a :class:`BatchNormPolicy` to every BN layer in (or nested in) ``layers``.

    Call it after setting the layers' ``trainable`` flags; it overrides the
    flags of BN layers only:

    - ``FROZEN``: BN ``trainable=False`` (inference mode; gamma, beta and the
      moving statistics fixed).
    - ``AFFINE``: BN ``trainable=True`` and switched in place to
      :class:`FrozenStatsBatchNormalization` (gamma/beta train; moving
      statistics neither used from the batch nor updated).
    - ``TRAIN``: BN ``trainable=True``, plain ``BatchNormalization``.

    Like any trainable change, it takes effect at the next ``compile()``.

    Args:
        layers: Layers (or models) whose BN layers the policy governs.
        policy: A :class:`BatchNormPolicy` or its value (``"frozen"``...).

    Returns:
        How many BN layers were set.

    Raises:
        StrategyError: For an unknown policy, or ``AFFINE`` on a BN subclass
            this function cannot switch.

    Example:
        >>> import keras
        >>> bn = keras.layers.BatchNormalization()
        >>> bn.build((None, 3))
        >>> apply_batchnorm_policy([bn], "affine")
        1
        >>> type(bn).__name__, [w.name for w in bn.trainable_weights]
        ('FrozenStatsBatchNormalization', ['gamma', 'beta'])
    """
    try:
        policy = BatchNormPolicy(policy)
    except ValueError:
        raise StrategyError(
            describe(
                "Unknown BatchNorm policy",
                received=f"policy={policy!r}",
                accepted=", ".join(repr(p.value) for p in BatchNormPolicy),
            )
        ) from None
    count = 0
    seen: set[int] = set()
    for top in layers:
        for layer in walk_layers(top):
            if id(layer) in seen or not isinstance(layer, keras.layers.BatchNormalization):
                continue
            seen.add(id(layer))
            _set_policy(layer, policy)
            count += 1
    return count


def _set_policy(layer: keras.layers.BatchNormalization, policy: BatchNormPolicy) -> None:
    if policy is BatchNormPolicy.AFFINE:
        if type(layer) is keras.layers.BatchNormalization:
            layer.__class__ = FrozenStatsBatchNormalization
        elif not isinstance(layer, FrozenStatsBatchNormalization):
            raise StrategyError(
                describe(
                    "BatchNormPolicy.AFFINE can only switch plain keras.layers.BatchNormalization "
                    f"layers; layer {layer.name!r} is a {type(layer).__name__}",
                    received="batchnorm='affine'",
                    accepted="'frozen', 'train' for this layer",
                    fix="use batchnorm='frozen' or 'train', or make that layer a plain BatchNormalization",
                )
            )
        layer.trainable = True
        return
    if type(layer) is FrozenStatsBatchNormalization:
        layer.__class__ = keras.layers.BatchNormalization
    layer.trainable = policy is BatchNormPolicy.TRAIN
