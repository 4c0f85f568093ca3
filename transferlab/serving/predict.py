"""Running a trained classifier on raw images."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from transferlab.data.labeled_images import LabeledImages
from transferlab.errors import ConfigError, DataError, describe
from transferlab.serving.predictions import Predictions

if TYPE_CHECKING:  # pragma: no cover
    import keras
    import tensorflow as tf

    from transferlab.data.source import ImageSource

__all__ = ["predict"]


def predict(
    model: keras.Model,
    images: npt.ArrayLike | LabeledImages | ImageSource | tf.data.Dataset,
    *,
    batch_size: int = 256,
    class_names: Sequence[str] | None = None,
) -> Predictions:
    """Predicts the class of each raw image.

    The model adapts its input itself (a :class:`~transferlab.backbones.Classifier`
    holds its ``InputAdapter``), so raw pixels go in: ``uint8`` (or float) values
    in [0, 255]. Only the layout is fitted to the model's input: a channel axis
    of 1 is added or dropped, and grayscale is repeated to 3 channels for an RGB
    input. A model that outputs logits gets a softmax.

    Data that does not fit in memory is read batch by batch, never whole:
    pass a source (an :class:`~transferlab.data.ImageFolderSource`,
    :class:`~transferlab.data.TFRecordSource`, any
    :class:`~transferlab.data.source.ImageSource`), a ``LabeledImages`` or a
    ``tf.data.Dataset`` of ``(image, label)`` pairs (map bare images to
    ``(image, 0)``). Every example is predicted once, in the source's order
    (through ``make_pipeline(..., evaluation=True)``: raw pixels, a declared
    pixel range scaled to [0, 255]); labels are not used. A file that cannot
    be read is an error naming it.

    Args:
        model: A Keras model taking images ``(N, H, W[, C])``, e.g. from
            :func:`~transferlab.serving.load_trained_model`.
        images: ``(N, H, W)`` or ``(N, H, W, C)`` pixels in [0, 255], e.g.
            from :func:`~transferlab.serving.read_images`; or a source, a
            ``LabeledImages`` or a ``tf.data.Dataset`` (read in batches).
        batch_size: Images per forward pass.
        class_names: One name per class; ``None``: ``"0"``, ``"1"``, ...

    Returns:
        The :class:`Predictions`.

    Raises:
        ConfigError: For a bad ``batch_size`` or ``class_names``, or a model
            with more than one input.
        DataError: For images of the wrong rank, size, channels or range.
        DataFileError: A file of a source cannot be read (named).

    Example:
        >>> import numpy as np
        >>> from transferlab.backbones import build_classifier
        >>> model = build_classifier("alexnet", 3, width=0.125)
        >>> p = predict(model, np.zeros((5, 28, 28), "uint8"), class_names=["a", "b", "c"])
        >>> p.probabilities.shape, len(p.labels)
        ((5, 3), 5)
        >>> from transferlab.data import LabeledImages
        >>> data = LabeledImages(np.zeros((3, 28, 28), "uint8"), np.array([0, 1, 2]), ("a", "b", "c"))
        >>> len(predict(model, data, batch_size=2))
        3
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ConfigError(
            describe("`batch_size` must be a positive integer", received=f"batch_size={batch_size!r}")
        )
    if len(model.inputs) != 1:
        raise ConfigError(
            describe(
                "`predict` takes a model with one image input",
                received=f"{len(model.inputs)} inputs",
            )
        )
    shape, dtype = tuple(model.input_shape[1:]), model.inputs[0].dtype
    num_classes = int(model.output_shape[-1])
    if class_names is not None and len(class_names) != num_classes:
        Predictions.from_probabilities(np.zeros((0, num_classes)), list(class_names))
    if _is_data_set(images):
        outputs = _predict_source(model, images, int(batch_size), num_classes, shape, dtype)
    else:
        batch = _fit_to_model(np.asarray(images), shape, dtype)
        outputs = [
            np.asarray(model.predict_on_batch(batch[start : start + int(batch_size)]), dtype=np.float32)
            for start in range(0, len(batch), int(batch_size))
        ]
    probs = np.concatenate(outputs) if outputs else np.zeros((0, num_classes), np.float32)
    probs = probs.reshape(-1, num_classes)
    if probs.size and (probs.min() < 0 or not np.allclose(probs.sum(axis=1), 1.0, atol=1e-3)):
        shifted = np.exp(probs - probs.max(axis=1, keepdims=True))
        probs = shifted / shifted.sum(axis=1, keepdims=True)
    return Predictions.from_probabilities(probs, class_names)


def _is_data_set(images: object) -> bool:
    """Whether ``images`` is read as a source (in batches) rather than as one array."""
    import tensorflow as tf

    from transferlab.data.source import ImageSource

    return isinstance(images, (LabeledImages, ImageSource, tf.data.Dataset))


def _predict_source(
    model: keras.Model,
    data: object,
    batch_size: int,
    num_classes: int,
    shape: tuple[int | None, ...],
    dtype: npt.DTypeLike,
) -> list[npt.NDArray[np.float32]]:
    """The model's outputs on every example of ``data``, read batch by batch."""
    from transferlab.data.pipeline import make_pipeline
    from transferlab.data.read_errors import naming_bad_files
    from transferlab.data.source import as_source

    source = as_source(data, name="images", num_classes=max(num_classes, 2))
    fix = "read them at the model's size, e.g. ImageFolderSource(folder, image_size={size}) (data.image_size)"
    outputs = []
    with naming_bad_files(source):
        for x, _ in make_pipeline(source, batch_size=batch_size, evaluation=True):
            batch = _fit_to_model(np.asarray(x), shape, dtype, size_fix=fix)
            outputs.append(np.asarray(model.predict_on_batch(batch), dtype=np.float32))
    return outputs


def _fit_to_model(
    images: npt.NDArray[np.generic[object]],
    shape: tuple[int | None, ...],
    dtype: npt.DTypeLike,
    *,
    size_fix: str = "resize them, e.g. read_images(paths, size={size})",
) -> npt.NDArray[np.generic[object]]:
    """Checks the images and fits their layout and dtype to the model's input."""
    wanted = "x".join("?" if d is None else str(d) for d in shape)
    if images.ndim not in (3, 4) or (images.ndim == 4 and images.shape[-1] not in (1, 3)):
        raise DataError(
            describe(
                "`images` must have shape (N, height, width) or (N, height, width, channels) "
                "with 1 or 3 channels",
                received=f"images.shape={images.shape}",
                fix="stack the images into one array, e.g. with read_images(paths)",
            )
        )
    if not (np.issubdtype(images.dtype, np.integer) or np.issubdtype(images.dtype, np.floating)):
        raise DataError(describe("`images` must hold numbers", received=f"images.dtype={images.dtype}"))
    finite = images.dtype.kind != "f" or bool(np.isfinite(images).all())
    if images.size and (not finite or images.min() < 0 or images.max() > 255):
        raise DataError(
            describe(
                "`images` must hold raw pixel values in [0, 255] (the model scales them itself)",
                received=f"values in [{images.min()}, {images.max()}], dtype={images.dtype}",
                fix="pass uint8 pixels, e.g. from read_images(paths), not normalised images",
            )
        )
    height, width = shape[0], shape[1]
    if (height is not None and images.shape[1] != height) or (width is not None and images.shape[2] != width):
        raise DataError(
            describe(
                "The images' size differs from the model's input size",
                received=f"images {images.shape[1]}x{images.shape[2]}, model input {wanted}",
                fix=size_fix.format(size=f"({height}, {width})"),
            )
        )
    channels = shape[2] if len(shape) == 3 else 1
    if images.ndim == 3:
        images = images[..., None]
    if images.shape[-1] != channels and channels is not None:
        if images.shape[-1] == 1 and channels == 3:
            images = np.repeat(images, 3, axis=-1)
        else:
            raise DataError(
                describe(
                    "The images' channels differ from the model's input",
                    received=f"{images.shape[-1]} channels, model input {wanted}",
                    fix=f"convert them, e.g. read_images(paths, channels={channels})",
                )
            )
    if len(shape) == 2:
        images = images[..., 0]
    import keras

    target = np.dtype(keras.backend.standardize_dtype(dtype))
    if images.dtype != target:
        images = np.rint(images) if target.kind in "ui" and images.dtype.kind == "f" else images
        images = images.astype(target)
    return images
