"""Exporting a trained classifier as a TensorFlow SavedModel for serving."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from transferlab._atomic import storage_error
from transferlab.errors import ConfigError, InputShapeError, describe

if TYPE_CHECKING:  # pragma: no cover
    import keras
    import tensorflow as tf

__all__ = ["export_saved_model"]

#: Where the export's metadata (input shape, class names) is written, inside the folder.
METADATA_FILE = "assets.extra/transferlab.json"


def export_saved_model(
    model: keras.Model,
    path: str | os.PathLike[str],
    *,
    input_shape: Sequence[int] | None = None,
    class_names: Sequence[str] | None = None,
    overwrite: bool = False,
) -> Path:
    """Writes ``model`` as a SavedModel that takes raw ``uint8`` images.

    The serving signature (``serving_default``, also the ``serve`` endpoint)
    takes ``images``: a ``uint8`` batch ``(N, H, W)`` or ``(N, H, W, C)`` of the
    model's input size, and returns ``{"probabilities": (N, num_classes)}``. The
    model's input adaptation (resizing, channels, scaling) is inside; a
    :class:`~transferlab.backbones.Classifier` with logits gets a softmax. A
    grayscale batch is repeated to 3 channels for an RGB model.

    The folder is written beside the target under a temporary name, then
    renamed: a reader never sees a half-written export. It also holds
    ``assets.extra/transferlab.json`` (input shape, class names) which
    :func:`~transferlab.serving.load_trained_model` reads.

    Args:
        model: A Keras model with one image input.
        path: The SavedModel folder to create.
        input_shape: Shape of one image, ``(H, W)`` or ``(H, W, C)``;
            ``None``: the model's own input shape.
        class_names: Stored in the metadata for predictions by name.
        overwrite: Replace an existing folder.

    Returns:
        The folder written.

    Raises:
        ConfigError: The target exists (and ``overwrite`` is false), or
            ``class_names`` has the wrong length.
        InputShapeError: The input shape is unknown or not an image shape.

    Example:
        >>> import tempfile, numpy as np, tensorflow as tf
        >>> from pathlib import Path
        >>> from transferlab.backbones import build_classifier
        >>> model = build_classifier("alexnet", 3, width=0.125)
        >>> folder = export_saved_model(model, Path(tempfile.mkdtemp()) / "digits")
        >>> served = tf.saved_model.load(str(folder))
        >>> served.serve(np.zeros((2, 28, 28), "uint8"))["probabilities"].shape
        TensorShape([2, 3])
    """
    target = Path(path)
    if target.exists() and not overwrite:
        raise ConfigError(
            describe(
                f"The export target {target} already exists",
                fix="pass overwrite=True to replace it, or choose another path",
            )
        )
    shape = _image_shape(model, input_shape)
    num_classes = int(model.output_shape[-1])
    names = None if class_names is None else [str(n) for n in class_names]
    if names is not None and len(names) != num_classes:
        raise ConfigError(
            describe(
                "`class_names` must have one name per model output",
                received=f"{len(names)} names for {num_classes} outputs",
            )
        )
    serve = _serving_function(model, shape, getattr(model, "activation", "softmax") is None)

    import keras

    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint("serve", serve)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.tmp-"))
    except OSError as err:
        raise storage_error(target, err) from None
    try:
        archive.write_out(str(staging), verbose=False)
        metadata = {
            "format": "transferlab-saved-model-1",
            "input_shape": list(shape),
            "input_dtype": "uint8",
            "num_classes": num_classes,
            "class_names": names,
            "backbone": getattr(model, "backbone_name", None),
            "signature": {"name": "serving_default", "input": "images", "output": "probabilities"},
        }
        extra = staging / METADATA_FILE
        extra.parent.mkdir(parents=True, exist_ok=True)
        extra.write_text(json.dumps(metadata, indent=2) + "\n", encoding="utf-8")
        _replace_folder(staging, target)
    except OSError as err:  # a full disk, permissions: named, and nothing half-written is left
        shutil.rmtree(staging, ignore_errors=True)
        raise storage_error(target, err) from None
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return target


def _image_shape(model: keras.Model, input_shape: Sequence[int] | None) -> tuple[int, ...]:
    if input_shape is None:
        try:
            shape = tuple(model.input_shape[1:])
        except (AttributeError, ValueError):
            shape = ()
        if not shape or any(d is None for d in shape):
            raise InputShapeError(
                describe(
                    "The model's input shape is not known",
                    received=f"input shape {shape or 'unknown'}",
                    fix="pass input_shape=(height, width, channels), e.g. (28, 28, 1)",
                )
            )
    else:
        shape = tuple(input_shape)
    if (
        len(shape) not in (2, 3)
        or not all(isinstance(d, int) and d >= 1 for d in shape)
        or (len(shape) == 3 and shape[2] not in (1, 3))
    ):
        raise InputShapeError(
            describe(
                "`input_shape` must be (height, width) or (height, width, channels) with 1 or 3 channels",
                received=f"input_shape={shape!r}",
                fix="pass e.g. input_shape=(28, 28, 1)",
            )
        )
    return tuple(int(d) for d in shape)


def _serving_function(
    model: keras.Model, shape: tuple[int, ...], logits: bool
) -> tf.types.experimental.PolymorphicFunction:
    import tensorflow as tf

    height, width = shape[0], shape[1]
    channels = shape[2] if len(shape) == 3 else 1

    @tf.function(
        input_signature=[tf.TensorSpec(shape=None, dtype=tf.uint8, name="images")],
        autograph=False,
    )
    def serve(images: tf.Tensor) -> dict[str, tf.Tensor]:
        x = tf.cond(tf.equal(tf.rank(images), 3), lambda: tf.expand_dims(images, -1), lambda: images)
        if channels == 3:
            x = tf.cond(tf.equal(tf.shape(x)[-1], 1), lambda: tf.tile(x, [1, 1, 1, 3]), lambda: x)
        x = tf.ensure_shape(x, [None, height, width, channels])
        if len(shape) == 2:
            x = x[..., 0]
        outputs = model(tf.cast(x, model.inputs[0].dtype), training=False)
        outputs = tf.cast(outputs, tf.float32)
        if logits:
            outputs = tf.nn.softmax(outputs, axis=-1)
        return {"probabilities": outputs}

    return serve


def _replace_folder(staging: Path, target: Path) -> None:
    """Renames ``staging`` to ``target``; an old ``target`` is moved aside, then deleted."""
    if not target.exists():
        os.rename(staging, target)
        return
    trash = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.old-"))
    old = trash / target.name
    os.rename(target, old)
    try:
        os.rename(staging, target)
    except BaseException:
        os.rename(old, target)
        raise
    shutil.rmtree(trash, ignore_errors=True)
