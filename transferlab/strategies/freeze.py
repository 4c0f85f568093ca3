"""``freeze``: make layers (and everything nested in them) non-trainable."""

from __future__ import annotations

from collections.abc import Iterable

import keras

from transferlab.strategies._as_layers import as_layers

__all__ = ["freeze"]


def freeze(target: keras.layers.Layer | Iterable[keras.layers.Layer]) -> None:
    """Sets ``trainable = False`` on a layer or model, or on each of several.

    Keras propagates the flag to nested layers. Like every trainable change,
    it takes effect at the next ``compile()`` only (see
    :func:`~transferlab.strategies.check_trainable_state`). A frozen
    ``BatchNormalization`` layer runs in inference mode.

    Args:
        target: A layer, a model, or an iterable of layers.

    Raises:
        StrategyError: If ``target`` holds something that is not a layer.

    Example:
        >>> import keras
        >>> dense = keras.layers.Dense(2)
        >>> dense.build((None, 3))
        >>> freeze(dense)
        >>> (dense.trainable, len(dense.trainable_weights))
        (False, 0)
    """
    for layer in as_layers(target):
        layer.trainable = False
