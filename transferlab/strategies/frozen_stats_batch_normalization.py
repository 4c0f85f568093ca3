"""``FrozenStatsBatchNormalization``: BN whose gamma/beta train but whose statistics do not."""

from __future__ import annotations

import keras
import tensorflow as tf

__all__ = ["FrozenStatsBatchNormalization"]


@keras.saving.register_keras_serializable(package="transferlab")
class FrozenStatsBatchNormalization(keras.layers.BatchNormalization):
    """A ``BatchNormalization`` that always normalises with its moving statistics.

    It is the mechanism behind ``BatchNormPolicy.AFFINE``: while the layer is
    trainable, gamma and beta receive gradients, but ``call`` runs BN in
    inference mode whatever ``training`` says, so the moving mean and variance
    are neither used from the batch nor updated. (Keras 3 BN uses batch
    statistics when ``training and self.trainable``; setting ``trainable=False``
    would also freeze gamma and beta.)

    :func:`~transferlab.strategies.apply_batchnorm_policy` switches existing
    ``BatchNormalization`` layers of a built model to this class and back, in
    place (same weights, same config). The class is registered for
    serialization, so a saved ``.keras`` model keeps the behaviour.

    Example:
        >>> import numpy as np
        >>> bn = FrozenStatsBatchNormalization()
        >>> x = np.full((4, 2), 5.0, "float32")
        >>> y = bn(x, training=True)        # inference mode: (5 - 0) / sqrt(1 + eps)
        >>> bool(np.allclose(y, 5.0, atol=1e-2)), bn.moving_mean.numpy().tolist()
        (True, [0.0, 0.0])
    """

    def call(self, inputs: tf.Tensor, training: object = None, mask: tf.Tensor | None = None) -> tf.Tensor:
        """Normalises with the moving statistics (``training`` is ignored)."""
        del training
        return super().call(inputs, training=False, mask=mask)
