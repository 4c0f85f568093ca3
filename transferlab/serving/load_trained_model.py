"""Loading a trained model from a ``.keras`` file, a SavedModel folder or a run folder."""

from __future__ import annotations

import json
import os
import re
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING

from transferlab.errors import ConfigError, DataFileError, describe
from transferlab.serving.export_saved_model import METADATA_FILE

if TYPE_CHECKING:  # pragma: no cover
    import keras

__all__ = ["load_trained_model"]

_TF_NOISE = re.compile(r"\{\{[^}]*\}\}|\[Op:[^\]]*\]")

_ACCEPTED = (
    "a .keras file, a SavedModel folder (holding saved_model.pb) or a run folder (holding model.keras)"
)


def load_trained_model(path_or_run_folder: str | os.PathLike[str]) -> keras.Model:
    """Loads a model for prediction and evaluation.

    Args:
        path_or_run_folder: A ``.keras`` file (Keras' own format, e.g. from
            ``model.save``), a SavedModel folder written by
            :func:`~transferlab.serving.export_saved_model` (wrapped in a Keras
            model taking ``uint8`` images), or a training run folder holding
            ``model.keras``.

    Returns:
        A ``keras.Model`` from raw images to class probabilities (or whatever
        the saved model outputs). A ``.keras`` model is loaded without its
        optimizer state (``compile=False``).

    Raises:
        DataFileError: The path does not exist ("No model at ..."), or a
            model file or SavedModel is damaged (empty, truncated, zeroed:
            "... is damaged", with its path).
        ConfigError: The path holds no model transferlab can load.

    Example:
        >>> import tempfile
        >>> from pathlib import Path
        >>> from transferlab.backbones import build_classifier
        >>> path = Path(tempfile.mkdtemp()) / "model.keras"
        >>> build_classifier("alexnet", 3, width=0.125).save(path)
        >>> load_trained_model(path.parent).output_shape
        (None, 3)
    """
    path = Path(path_or_run_folder).expanduser()
    if not path.exists():
        raise DataFileError(
            describe(f"No model at {path}: the path does not exist", accepted=_ACCEPTED, fix="check the path")
        )
    if path.is_dir():
        if (path / "saved_model.pb").is_file():
            return _wrap_saved_model(path)
        if (path / "model.keras").is_file():
            return _load_keras(path / "model.keras")
        raise ConfigError(
            describe(
                f"{path} holds no model",
                received="neither saved_model.pb nor model.keras",
                accepted=_ACCEPTED,
                fix="pass the run folder of a finished run, or the model file itself",
            )
        )
    if path.suffix == ".keras":
        return _load_keras(path)
    raise ConfigError(
        describe(
            f"{path} is not a model transferlab can load",
            received=f"a file with extension {path.suffix or '(none)'!r}",
            accepted=_ACCEPTED,
            fix="save the model with model.save('model.keras') or export_saved_model(...)",
        )
    )


def _load_keras(path: Path) -> keras.Model:
    import keras

    # Registers transferlab's serializable classes (Classifier, InputAdapter, BN policy layer).
    import transferlab.backbones
    import transferlab.strategies  # noqa: F401

    size = path.stat().st_size
    head = path.read_bytes()[:4] if size else b""
    if size == 0 or head != b"PK\x03\x04" or not zipfile.is_zipfile(path):
        what = (
            "empty (0 bytes)"
            if size == 0
            else (
                "zeroed or overwritten (it does not start like a .keras zip archive)"
                if head != b"PK\x03\x04"
                else "truncated (its zip archive has no end)"
            )
        )
        raise DataFileError(
            describe(
                f"The Keras model {path} is damaged: it is {what}",
                received=f"{size} bytes",
                fix="save the model again (model.save), or train the run again with --overwrite; "
                "a run's checkpoints/best.weights.h5 may still hold good weights",
            )
        )
    try:
        return keras.saving.load_model(path, compile=False)
    except (OSError, ValueError, TypeError, KeyError, EOFError, zipfile.BadZipFile) as error:
        reason = " ".join(_TF_NOISE.sub(" ", str(error)).split())[:300]
        raise DataFileError(
            describe(
                f"The Keras model {path} is damaged: it cannot be loaded",
                received=f"{size} bytes; {type(error).__name__}: {reason}",
                fix="save the model again (model.save), or train the run again with --overwrite",
            )
        ) from None


def _wrap_saved_model(path: Path) -> keras.Model:
    import keras

    metadata_path = path / METADATA_FILE
    if not metadata_path.is_file():
        raise ConfigError(
            describe(
                f"The SavedModel {path} has no {METADATA_FILE}, so its input shape is unknown",
                fix="export the model with transferlab's export_saved_model, or load it "
                "with tf.saved_model.load",
            )
        )
    try:
        metadata = json.loads(metadata_path.read_text(encoding="utf-8"))
        shape = tuple(int(d) for d in metadata["input_shape"])
    except (ValueError, KeyError, TypeError) as error:
        raise DataFileError(
            describe(f"{metadata_path} is unreadable", received=str(error), fix="export the model again")
        ) from None
    try:
        layer = keras.layers.TFSMLayer(str(path), call_endpoint="serve", name="saved_model")
    except Exception as error:  # TensorFlow raises many kinds for a damaged SavedModel
        reason = " ".join(_TF_NOISE.sub(" ", str(error)).split())[:300]
        raise DataFileError(
            describe(
                f"The SavedModel {path} is damaged: it cannot be loaded",
                received=f"{type(error).__name__}: {reason}",
                fix="export the model again (export_saved_model)",
            )
        ) from None
    images = keras.Input(shape=shape, dtype="uint8", name="images")
    outputs = layer(images)
    if isinstance(outputs, dict):
        outputs = outputs["probabilities"]
    return keras.Model(images, outputs, name=path.name or "saved_model")
