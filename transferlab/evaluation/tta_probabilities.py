"""Test-time augmentation: a model's class probabilities averaged over a batch and augmented copies of it."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from transferlab.errors import ConfigError, describe

if TYPE_CHECKING:  # pragma: no cover
    import keras

__all__ = ["DEFAULT_TTA_PRESET", "tta_probabilities"]

#: The augmentation preset test-time augmentation draws its copies with unless told.
DEFAULT_TTA_PRESET = "light"


def tta_probabilities(
    model: keras.Model, images: npt.ArrayLike, *, copies: int, augmentation: keras.layers.Layer
) -> npt.NDArray[np.float64]:
    """The mean of ``model``'s class probabilities over ``images`` and ``copies`` augmented copies.

    The copies are drawn in memory, one after the other, by calling
    ``augmentation(images, training=True)`` ``copies`` times (each call draws
    new transformations from the layer's own seeded generators, so a layer
    from ``make_augmentation(preset, seed=s)`` gives the same copies again
    for the same ``s``). The original and every copy go through the model as
    raw pixels; a model that outputs logits gets a softmax on each before the
    mean (the mean of probabilities, not of logits).

    Args:
        model: Any Keras classifier taking the batch ``images``.
        images: One batch of raw pixels ``(N, H, W, C)`` in [0, 255].
        copies: How many augmented copies to average over besides the
            original (0: the model's probabilities alone).
        augmentation: A layer that draws random transformations in training
            mode, e.g. :func:`transferlab.data.make_augmentation`.

    Returns:
        ``(N, num_classes)`` probabilities, ``float64``.

    Raises:
        ConfigError: ``copies`` not an integer >= 0, or ``augmentation`` not
            a Keras layer.

    Example:
        >>> import keras, numpy as np
        >>> from transferlab.data import make_augmentation
        >>> model = keras.Sequential([keras.Input((6, 6, 1)), keras.layers.Flatten(),
        ...                           keras.layers.Dense(3, activation="softmax")])
        >>> images = np.arange(2 * 36, dtype="float32").reshape(2, 6, 6, 1)
        >>> probs = tta_probabilities(model, images, copies=4, augmentation=make_augmentation("light", seed=0))
        >>> probs.shape, np.allclose(probs.sum(axis=1), 1)
        ((2, 3), True)
    """
    import keras
    import tensorflow as tf

    if isinstance(copies, bool) or not isinstance(copies, (int, np.integer)) or copies < 0:
        raise ConfigError(
            describe(
                "`copies` must be an integer >= 0",
                received=f"copies={copies!r}",
                fix="pass 0 for the model's probabilities alone, or e.g. copies=4",
            )
        )
    if not isinstance(augmentation, keras.layers.Layer):
        raise ConfigError(
            describe(
                "`augmentation` must be a Keras layer",
                received=f"augmentation of type {type(augmentation).__name__}",
                fix="build one with transferlab.data.make_augmentation(preset, seed=...)",
            )
        )
    replicas = int(getattr(model.distribute_strategy, "num_replicas_in_sync", 1))
    batch = tf.convert_to_tensor(images)

    def probabilities(x: tf.Tensor) -> npt.NDArray[np.float64]:
        out = model.predict_on_batch(x) if replicas == 1 else model(x, training=False)
        return as_probabilities(np.asarray(tf.convert_to_tensor(out), dtype=np.float64))

    total = probabilities(batch)
    for _ in range(int(copies)):
        total = total + probabilities(tf.cast(augmentation(batch, training=True), tf.float32))
    return total / (int(copies) + 1)


def as_probabilities(outputs: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """``outputs`` as they are if they are probabilities (rows >= 0 summing to 1), else their softmax.

    Example:
        >>> as_probabilities(np.array([[0.0, np.log(3.0)]])).round(2).tolist()
        [[0.25, 0.75]]
    """
    if outputs.size and (outputs.min() < 0 or not np.allclose(outputs.sum(1), 1, atol=1e-3)):
        shifted = np.exp(outputs - outputs.max(1, keepdims=True))
        return np.asarray(shifted / shifted.sum(1, keepdims=True), dtype=np.float64)
    return outputs
