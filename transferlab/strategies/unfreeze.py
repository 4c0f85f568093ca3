"""``unfreeze``: make layers (and everything nested in them) trainable."""

from __future__ import annotations

from collections.abc import Iterable

import keras

from transferlab.strategies._as_layers import as_layers

__all__ = ["unfreeze"]


def unfreeze(target: keras.layers.Layer | Iterable[keras.layers.Layer]) -> None:
    """Sets ``trainable = True`` on a layer or model, or on each of several.

    Keras propagates the flag to nested layers, BatchNormalization included
    (which then trains its moving statistics: to choose what BN does, use
    :func:`~transferlab.strategies.set_trainable_groups` with a
    :class:`~transferlab.strategies.BatchNormPolicy`). A layer inside a frozen
    model stays untrained until the model itself is unfrozen. The change takes
    effect at the next ``compile()``.

    Args:
        target: A layer, a model, or an iterable of layers.

    Raises:
        StrategyError: If ``target`` holds something that is not a layer.

    Example:
        >>> import keras
        >>> dense = keras.layers.Dense(2, trainable=False)
        >>> dense.build((None, 3))
        >>> unfreeze([dense])
        >>> len(dense.trainable_weights)
        2
    """
    for layer in as_layers(target):
        layer.trainable = True
