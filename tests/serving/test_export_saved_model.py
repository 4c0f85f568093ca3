"""export_saved_model and .keras: the same predictions in a fresh process; atomic export; errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

from transferlab.errors import ConfigError, InputShapeError
from transferlab.serving import export_saved_model

from .conftest import make_tiny_classifier

HERE = Path(__file__).resolve().parent


def test_keras_file_and_saved_model_predict_the_same_in_a_fresh_process(
    tiny_model, digits, exported, tmp_path
):
    expected = np.asarray(tiny_model(digits[..., None], training=False))
    # The check has teeth: the images get clearly different outputs.
    assert expected.std(axis=0).max() > 0.1 and len(set(expected.argmax(1))) > 1
    tiny_model.save(tmp_path / "model.keras")
    np.save(tmp_path / "digits.npy", digits)
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="")
    result = subprocess.run(
        [
            sys.executable,
            str(HERE / "fresh_process_predict.py"),
            str(tmp_path / "model.keras"),
            str(exported),
            str(tmp_path / "digits.npy"),
            str(tmp_path / "out.npz"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    out = np.load(tmp_path / "out.npz")
    assert str(out["keras_class"]) == "Classifier"
    for key in ("keras_call", "keras_predict", "saved_signature", "saved_serve_4d", "saved_wrapped"):
        np.testing.assert_allclose(out[key], expected, atol=1e-5, err_msg=key)


def test_export_folder_layout_signature_and_metadata(exported):
    folder = exported
    assert folder.name == "served"
    assert sorted(p.name for p in folder.parent.iterdir()) == ["served"]  # no temp folder left
    assert (folder / "saved_model.pb").is_file()
    metadata = json.loads((folder / "assets.extra" / "transferlab.json").read_text())
    assert metadata["input_shape"] == [28, 28, 1]
    assert metadata["class_names"] == ["a", "b", "c"] and metadata["backbone"] == "alexnet"
    signature = tf.saved_model.load(str(folder)).signatures["serving_default"]
    inputs = signature.structured_input_signature[1]
    assert list(inputs) == ["images"] and inputs["images"].dtype == tf.uint8
    assert list(signature.structured_outputs) == ["probabilities"]


def test_wrong_image_shape_is_refused_by_the_signature(exported):
    served = tf.saved_model.load(str(exported))
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"not compatible with expected shape"):
        served.serve(np.zeros((2, 28, 28, 3), np.uint8))
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"not compatible with expected shape"):
        served.serve(np.zeros((2, 32, 32), np.uint8))


def test_logits_classifier_serves_probabilities(digits, tmp_path):
    model = make_tiny_classifier(activation=None)
    logits = np.asarray(model(digits[..., None], training=False))
    served = tf.saved_model.load(str(export_saved_model(model, tmp_path / "s")))
    probs = served.serve(digits)["probabilities"].numpy()
    np.testing.assert_allclose(probs, tf.nn.softmax(logits).numpy(), atol=1e-6)


def test_rgb_model_takes_grayscale_and_channel_less_batches(digits, tmp_path):
    model = make_tiny_classifier(input_shape=(28, 28, 3))
    rgb = np.repeat(digits[..., None], 3, axis=-1)
    expected = np.asarray(model(rgb, training=False))
    served = tf.saved_model.load(str(export_saved_model(model, tmp_path / "s")))
    for batch in (rgb, digits, digits[..., None]):
        np.testing.assert_allclose(served.serve(batch)["probabilities"].numpy(), expected, atol=1e-5)


def test_target_exists_then_overwrite(tiny_model, tmp_path):
    target = tmp_path / "served"
    target.mkdir()
    (target / "old.txt").write_text("old")
    with pytest.raises(
        ConfigError,
        match=r"The export target .*served already exists\. "
        r"Fix: pass overwrite=True to replace it",
    ):
        export_saved_model(tiny_model, target)
    assert (target / "old.txt").is_file()
    export_saved_model(tiny_model, target, overwrite=True)
    assert (target / "saved_model.pb").is_file() and not (target / "old.txt").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["served"]


def _archive_class() -> type:
    """The class ``keras.export.ExportArchive()`` really builds (a backend subclass)."""
    return type(keras.export.ExportArchive())


def test_failed_export_leaves_nothing(tiny_model, tmp_path, monkeypatch):
    import errno

    from transferlab.errors import StorageError

    def half_write(self, path, **kwargs):
        Path(path, "saved_model.pb").write_bytes(b"half")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(_archive_class(), "write_out", half_write)
    with pytest.raises(StorageError, match=r"Cannot write .*served: the disk is full"):
        export_saved_model(tiny_model, tmp_path / "served")
    assert list(tmp_path.iterdir()) == []


def test_failed_overwrite_keeps_the_old_export(tiny_model, tmp_path, monkeypatch):
    target = tmp_path / "served"
    target.mkdir()
    (target / "old.txt").write_text("old")
    monkeypatch.setattr(
        _archive_class(), "write_out", lambda self, path, **kw: (_ for _ in ()).throw(OSError("disk full"))
    )
    with pytest.raises(OSError, match="disk full"):
        export_saved_model(tiny_model, target, overwrite=True)
    assert [p.name for p in tmp_path.iterdir()] == ["served"] and (target / "old.txt").is_file()


def test_model_without_known_input_shape(tmp_path):
    inputs = keras.Input((None, None, 1))
    model = keras.Model(inputs, keras.layers.GlobalAveragePooling2D()(inputs))
    with pytest.raises(
        InputShapeError,
        match=r"The model's input shape is not known\. Received: "
        r"input shape \(None, None, 1\)\. Fix: pass "
        r"input_shape=\(height, width, channels\)",
    ):
        export_saved_model(model, tmp_path / "s")
    folder = export_saved_model(model, tmp_path / "s", input_shape=(8, 8, 1))
    served = tf.saved_model.load(str(folder))
    out = served.serve(np.full((2, 8, 8), 3, np.uint8))["probabilities"].numpy()
    np.testing.assert_allclose(out, np.full((2, 1), 3.0))


def test_bad_input_shape_and_class_names(tiny_model, tmp_path):
    with pytest.raises(
        InputShapeError,
        match=r"`input_shape` must be \(height, width\) or \(height, "
        r"width, channels\) with 1 or 3 channels\. Received: "
        r"input_shape=\(28, 28, 2\)",
    ):
        export_saved_model(tiny_model, tmp_path / "s", input_shape=(28, 28, 2))
    with pytest.raises(
        ConfigError,
        match=r"`class_names` must have one name per model output\. "
        r"Received: 2 names for 3 outputs",
    ):
        export_saved_model(tiny_model, tmp_path / "s", class_names=["a", "b"])
    assert list(tmp_path.iterdir()) == []
