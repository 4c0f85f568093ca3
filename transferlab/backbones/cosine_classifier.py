"""``CosineClassifier``: a head whose logits are a learnt scale times cosine similarities."""

from __future__ import annotations

import math

import keras
import numpy as np
import numpy.typing as npt
import tensorflow as tf

from transferlab.errors import ConfigError, DataError, describe

__all__ = ["CosineClassifier"]


def _check_positive(name: str, value: object, fix: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ConfigError(
            describe(
                f"`{name}` must be a finite number > 0",
                received=f"{name}={value!r}",
                accepted="a finite float > 0",
                fix=fix,
            )
        )
    number = float(value)
    if not math.isfinite(number) or number <= 0:
        raise ConfigError(
            describe(
                f"`{name}` must be a finite number > 0",
                received=f"{name}={value!r}",
                accepted="a finite float > 0",
                fix=fix,
            )
        )
    return number


@keras.saving.register_keras_serializable(package="transferlab")
class CosineClassifier(keras.layers.Layer):
    """Logits ``scale * cos(features, w_c)``: a cosine-similarity head with a learnt scale.

    Each input feature vector and each class weight vector ``w_c`` (a column of
    ``kernel``, shape ``(features, units)``) is L2-normalised, so a logit is the
    cosine between them, times one scalar ``scale``. Without the scale the
    logits would lie in [-1, 1] and a softmax over them could never be
    confident; the scale, learnt with the rest (``learn_scale=True``) or fixed,
    sets the sharpness. This is the Baseline++ head of Chen et al., "A Closer
    Look at Few-shot Classification" (ICLR 2019), with the scale learnt as in
    Gidaris & Komodakis, "Dynamic Few-Shot Visual Learning without Forgetting"
    (CVPR 2018); Chen et al. fix it per data set (2 to 10 in their code).

    The class vectors can be initialised from data with :meth:`set_prototypes`
    (e.g. :func:`~transferlab.strategies.class_prototypes`): with the scale
    any positive number, the largest logit is then the nearest prototype.

    **Precision.** The layer always computes in float32, whatever its dtype
    policy: under ``mixed_float16`` or ``mixed_bfloat16`` the features are
    cast to float32, the float32 weights are read without autocasting, and the
    logits come out float32 (as the last layer of a mixed-precision model
    should), so a norm of large float16 activations cannot overflow.

    Args:
        units: Number of classes (outputs), >= 1.
        scale: Initial value of the scale (10 by default), > 0.
        learn_scale: Whether the scale trains (a trainable weight) or stays at
            ``scale`` (a non-trainable weight, still saved).
        epsilon: Floor of a squared norm before dividing by it (as
            ``tf.math.l2_normalize``): a zero vector gives cosines of 0.
        kernel_initializer: Initializer of the class vectors.
        **kwargs: ``name``, ``dtype``, ``trainable`` (passed to ``keras.layers.Layer``).

    Attributes:
        kernel: The class vectors as columns, ``(features, units)``, float32.
        scale: The scalar scale weight, float32.

    Raises:
        ConfigError: ``units`` below 1, or ``scale``/``epsilon`` not a finite
            number > 0.

    Example:
        >>> import numpy as np
        >>> head = CosineClassifier(2, scale=10.0)
        >>> head.set_prototypes(np.array([[1.0, 0.0], [0.0, 1.0]]))
        >>> logits = head(np.array([[3.0, 0.0], [1.0, 1.0]], "float32"))
        >>> np.asarray(logits, "float64").round(3).tolist()
        [[10.0, 0.0], [7.071, 7.071]]
        >>> [w.name for w in head.trainable_weights]
        ['kernel', 'scale']
    """

    def __init__(
        self,
        units: int,
        *,
        scale: float = 10.0,
        learn_scale: bool = True,
        epsilon: float = 1e-12,
        kernel_initializer: object = "glorot_uniform",
        **kwargs: object,
    ) -> None:
        if isinstance(units, bool) or not isinstance(units, (int, np.integer)) or units < 1:
            raise ConfigError(
                describe(
                    "`units` (the number of classes) must be an integer >= 1",
                    received=f"units={units!r}",
                    accepted="an int >= 1",
                    fix="pass the number of classes, e.g. CosineClassifier(5)",
                )
            )
        if not isinstance(learn_scale, bool):
            raise ConfigError(
                describe(
                    "`learn_scale` must be True or False",
                    received=f"learn_scale={learn_scale!r}",
                    accepted="True (the scale trains) or False (it stays fixed)",
                    fix="pass a bool",
                )
            )
        scale_value = _check_positive("scale", scale, "pass e.g. scale=10.0 (Chen et al. use 2 to 10)")
        epsilon_value = _check_positive("epsilon", epsilon, "pass a small positive number, e.g. 1e-12")
        # Features are cast to float32 in `call`, not to a mixed policy's float16 on the way in,
        # and the weights are read as stored (float32): no autocasting anywhere in this layer.
        kwargs.pop("autocast", None)
        super().__init__(autocast=False, **kwargs)
        self.units = int(units)
        self.initial_scale = scale_value
        self.learn_scale = learn_scale
        self.epsilon = epsilon_value
        self.kernel_initializer = keras.initializers.get(kernel_initializer)

    def build(self, input_shape: tuple[int | None, ...]) -> None:
        """Creates ``kernel`` ``(features, units)`` and ``scale``, both float32."""
        dim = input_shape[-1]
        if dim is None:
            raise DataError(
                describe(
                    "The last axis of the features must have a known size",
                    received=f"input shape {tuple(input_shape)}",
                    accepted="a shape (..., features) with features known",
                    fix="give the model's Input a fixed feature size",
                )
            )
        self.kernel = self.add_weight(
            shape=(int(dim), self.units),
            initializer=self.kernel_initializer,
            dtype="float32",
            autocast=False,
            name="kernel",
        )
        self.scale = self.add_weight(
            shape=(),
            initializer=keras.initializers.Constant(self.initial_scale),
            dtype="float32",
            trainable=self.learn_scale,
            autocast=False,
            name="scale",
        )

    def call(self, inputs: tf.Tensor) -> tf.Tensor:
        """``scale * normalised(inputs) @ normalised(kernel)``, in float32."""
        ops = keras.ops
        x = ops.cast(inputs, "float32")
        x = x * ops.rsqrt(ops.maximum(ops.sum(ops.square(x), axis=-1, keepdims=True), self.epsilon))
        w = ops.cast(self.kernel, "float32")
        w = w * ops.rsqrt(ops.maximum(ops.sum(ops.square(w), axis=0, keepdims=True), self.epsilon))
        return ops.cast(self.scale, "float32") * ops.matmul(x, w)

    def compute_output_shape(self, input_shape: tuple[int | None, ...]) -> tuple[int | None, ...]:
        """``input_shape`` with its last axis replaced by ``units``."""
        return (*tuple(input_shape)[:-1], self.units)

    def compute_output_spec(self, inputs: keras.KerasTensor) -> keras.KerasTensor:
        """The logits' shape, in float32 whatever the policy."""
        return keras.KerasTensor(self.compute_output_shape(inputs.shape), dtype="float32")

    def set_prototypes(self, prototypes: npt.ArrayLike) -> None:
        """Sets the class vectors to ``prototypes`` ``(units, features)``, one row per class.

        Builds the layer for ``(None, features)`` inputs if it is not built yet.
        The rows are stored L2-normalised (only their direction matters); the
        scale is left as it is.

        Args:
            prototypes: One vector per class, e.g. from
                :func:`~transferlab.strategies.class_prototypes`.

        Raises:
            DataError: ``prototypes`` is not ``(units, features)`` (with the
                built layer's feature size), or holds NaN or infinity.

        Example:
            >>> import numpy as np
            >>> head = CosineClassifier(2)
            >>> head.set_prototypes([[3.0, 4.0], [0.0, -2.0]])
            >>> np.asarray(head.kernel, "float64").T.round(3).tolist()
            [[0.6, 0.8], [0.0, -1.0]]
        """
        array = np.asarray(prototypes, dtype=np.float64)
        features = self.kernel.shape[0] if self.built else None
        if array.ndim != 2 or array.shape[0] != self.units or (features and array.shape[1] != features):
            raise DataError(
                describe(
                    "`prototypes` must have one row per class, shape (units, features)",
                    received=f"prototypes.shape={array.shape}",
                    accepted=f"shape ({self.units}, {features if features else 'features'})",
                    fix="pass an array of shape (num_classes, feature_size), e.g. class_prototypes(...)",
                )
            )
        if not np.all(np.isfinite(array)):
            bad = sorted({int(i) for i in np.argwhere(~np.isfinite(array))[:, 0]})
            raise DataError(
                describe(
                    "`prototypes` must be finite",
                    received=f"NaN or infinity in the rows of classes {bad}",
                    accepted="finite numbers",
                    fix="compute the prototypes from finite features",
                )
            )
        if not self.built:
            self.build((None, array.shape[1]))
        norms = np.sqrt(np.maximum(np.sum(array**2, axis=1, keepdims=True), self.epsilon))
        self.kernel.assign((array / norms).T.astype(np.float32))

    def get_config(self) -> dict[str, object]:
        """The constructor's arguments (the scale as initialised; its trained value is a weight)."""
        config: dict[str, object] = super().get_config()
        config.update(
            {
                "units": self.units,
                "scale": self.initial_scale,
                "learn_scale": self.learn_scale,
                "epsilon": self.epsilon,
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
            }
        )
        return config
