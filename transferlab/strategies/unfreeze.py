"""``unfreeze``: make layers (and everything nested in them) trainable."""

from __future__ import annotations

from collections.abc import Iterable

import keras

from transferlab.strategies._as_layers import as_layers

__all__ = ["unfreeze"]


def unfreeze(target: keras.layers.Layer | Iterable[keras.layers.Layer]) -> None:
    """Sets ``trainable = True`` on a layer or model, or on each of several.

    Every nested layer is unfrozen too, BatchNormalization included (which then
    trains its moving statistics: to choose what BN does, use
    :func:`~transferlab.strategies.set_trainable_groups` with a
    :class:`~transferlab.strategies.BatchNormPolicy`). Keras alone does not do
    that for a functional model: ``model.trainable = True`` leaves layers that
    were frozen one by one frozen. The change takes effect at the next
    ``compile()``.

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
        _unfreeze_nested(layer)


def _unfreeze_nested(layer: keras.layers.Layer) -> None:
    layer.trainable = True
    for inner in getattr(layer, "layers", ()):
        _unfreeze_nested(inner)
