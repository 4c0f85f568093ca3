"""A Keras layer that adapts raw images to what a backbone takes."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import keras
from keras import ops

if TYPE_CHECKING:
    import tensorflow as tf

from transferlab.errors import ConfigError, InputShapeError, describe

__all__ = ["InputAdapter"]

_CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)
_TORCH_MEAN = (0.485, 0.456, 0.406)
_TORCH_STD = (0.229, 0.224, 0.225)
_MODES = ("unit", "caffe", "tf", "torch", "none")
_RESIZE = ("bilinear", "nearest", "pad")


@keras.saving.register_keras_serializable(package="transferlab")
class InputAdapter(keras.layers.Layer):
    """Resizes (or pads), converts channels and applies a backbone's preprocessing.

    It takes raw pixel values in [0, 255] (``uint8`` or float), of shape
    ``(batch, height, width)`` or ``(batch, height, width, channels)``, and
    runs the same inside a saved model at training and at inference, so a raw
    28x28 digit can go straight into VGG16 or InceptionV3.

    Args:
        size: Target ``(height, width)``, or ``None`` to keep the input size.
        channels: Output channels: 1 or 3. Grayscale becomes RGB by repeating
            the channel; RGB becomes grayscale by luminance.
        preprocessing: ``"unit"`` ([0, 1]), ``"caffe"`` (BGR minus ImageNet
            means; VGG16, ResNet50), ``"tf"`` ([-1, 1]; InceptionV3),
            ``"torch"`` (ImageNet mean/std) or ``"none"`` (left in [0, 255]).
        resize: ``"bilinear"``, ``"nearest"``, or ``"pad"`` (zero-pad around the
            centre; the target must not be smaller than the input).
        **kwargs: Passed to ``keras.layers.Layer`` (``name`` ...). The layer
            computes in float32 unless another ``dtype`` is passed.

    Example:
        >>> import numpy as np
        >>> adapter = InputAdapter(size=(32, 32), channels=3, preprocessing="tf")
        >>> out = adapter(np.full((2, 28, 28), 255, dtype="uint8"))
        >>> tuple(out.shape), float(out[0, 0, 0, 0])
        ((2, 32, 32, 3), 1.0)
    """

    def __init__(
        self,
        size: Sequence[int] | None = None,
        channels: int = 3,
        preprocessing: str = "unit",
        resize: str = "bilinear",
        **kwargs: object,
    ) -> None:
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        if size is not None:
            if len(tuple(size)) != 2 or any(int(s) < 1 for s in size):
                raise ConfigError(
                    describe(
                        "`size` must be (height, width) with positive sides, or None",
                        received=f"size={size!r}",
                        fix="pass e.g. size=(32, 32)",
                    )
                )
            size = (int(size[0]), int(size[1]))
        if channels not in (1, 3):
            raise ConfigError(describe("`channels` must be 1 or 3", received=f"channels={channels!r}"))
        if preprocessing not in _MODES:
            raise ConfigError(
                describe(
                    "Unknown `preprocessing` mode",
                    received=f"preprocessing={preprocessing!r}",
                    accepted=", ".join(map(repr, _MODES)),
                )
            )
        if resize not in _RESIZE:
            raise ConfigError(
                describe(
                    "Unknown `resize` method",
                    received=f"resize={resize!r}",
                    accepted=", ".join(map(repr, _RESIZE)),
                )
            )
        self.size = size
        self.channels = channels
        self.preprocessing = preprocessing
        self.resize = resize

    def _in_shape(self, input_shape: Sequence[int | None]) -> tuple[int | None, int | None, int]:
        shape = tuple(input_shape)
        if len(shape) == 3:
            return shape[1], shape[2], 1
        if len(shape) == 4 and shape[3] in (1, 3):
            return shape[1], shape[2], int(shape[3])
        raise InputShapeError(
            describe(
                "InputAdapter takes images of shape (batch, height, width) or "
                "(batch, height, width, channels) with 1 or 3 channels",
                received=f"shape={shape!r}",
                fix="reshape the images, e.g. add a channel axis with x[..., None]",
            )
        )

    def build(self, input_shape: Sequence[int | None]) -> None:
        height, width, _ = self._in_shape(input_shape)
        if self.resize == "pad" and self.size is not None:
            if (height is not None and height > self.size[0]) or (width is not None and width > self.size[1]):
                raise InputShapeError(
                    describe(
                        "resize='pad' cannot shrink images",
                        received=f"input {height}x{width}, size={self.size}",
                        fix="use resize='bilinear', or a size at least as large as the input",
                    )
                )
        super().build(input_shape)

    def compute_output_shape(self, input_shape: Sequence[int | None]) -> tuple[int | None, ...]:
        height, width, _ = self._in_shape(input_shape)
        if self.size is not None:
            height, width = self.size
        return (input_shape[0], height, width, self.channels)

    def call(self, inputs: tf.Tensor) -> tf.Tensor:
        x = ops.cast(inputs, self.compute_dtype)
        if len(x.shape) == 3:
            x = ops.expand_dims(x, -1)
        if self.size is not None and tuple(x.shape[1:3]) != self.size:
            if self.resize == "pad":
                dh = self.size[0] - x.shape[1]
                dw = self.size[1] - x.shape[2]
                x = ops.pad(x, [[0, 0], [dh // 2, dh - dh // 2], [dw // 2, dw - dw // 2], [0, 0]])
            else:
                x = ops.image.resize(x, self.size, interpolation=self.resize)
        in_channels = x.shape[-1]
        if in_channels == 1 and self.channels == 3:
            x = ops.concatenate([x, x, x], axis=-1)
        elif in_channels == 3 and self.channels == 1:
            weights = ops.convert_to_tensor([0.299, 0.587, 0.114], dtype=x.dtype)
            x = ops.sum(x * weights, axis=-1, keepdims=True)
        return self._preprocess(x)

    def _preprocess(self, x: tf.Tensor) -> tf.Tensor:
        mode = self.preprocessing
        if mode == "unit":
            return x / 255.0
        if mode == "tf":
            return x / 127.5 - 1.0
        if mode == "caffe":
            if self.channels == 3:
                x = ops.flip(x, axis=-1)  # RGB -> BGR
                mean = ops.convert_to_tensor(_CAFFE_MEAN_BGR, dtype=x.dtype)
            else:
                mean = ops.convert_to_tensor(sum(_CAFFE_MEAN_BGR) / 3, dtype=x.dtype)
            return x - mean
        if mode == "torch":
            if self.channels == 3:
                mean = ops.convert_to_tensor(_TORCH_MEAN, dtype=x.dtype)
                std = ops.convert_to_tensor(_TORCH_STD, dtype=x.dtype)
            else:
                mean = ops.convert_to_tensor(sum(_TORCH_MEAN) / 3, dtype=x.dtype)
                std = ops.convert_to_tensor(sum(_TORCH_STD) / 3, dtype=x.dtype)
            return (x / 255.0 - mean) / std
        return x

    def get_config(self) -> dict[str, object]:
        config: dict[str, object] = super().get_config()
        config.update(
            size=self.size,
            channels=self.channels,
            preprocessing=self.preprocessing,
            resize=self.resize,
        )
        return config
