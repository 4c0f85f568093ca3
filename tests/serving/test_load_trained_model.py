"""load_trained_model: .keras file, run folder, SavedModel folder; every error."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from transferlab.backbones import Classifier
from transferlab.errors import ConfigError, DataFileError
from transferlab.serving import load_trained_model, predict


def test_keras_file_and_run_folder(tiny_model, digits, tmp_path):
    expected = np.asarray(tiny_model(digits[..., None], training=False))
    tiny_model.save(tmp_path / "model.keras")
    for source in (tmp_path / "model.keras", tmp_path, str(tmp_path)):
        model = load_trained_model(source)
        assert isinstance(model, Classifier) and model.backbone_name == "alexnet"
        np.testing.assert_allclose(predict(model, digits).probabilities, expected, atol=1e-5)


def test_saved_model_folder_is_wrapped(tiny_model, digits, exported):
    model = load_trained_model(exported)
    assert model.input_shape == (None, 28, 28, 1) and model.output_shape == (None, 3)
    expected = np.asarray(tiny_model(digits[..., None], training=False))
    np.testing.assert_allclose(predict(model, digits, batch_size=5).probabilities, expected, atol=1e-5)


def test_missing_path(tmp_path):
    with pytest.raises(
        DataFileError,
        match=r"No model at .*nothing\.keras: the path does not exist\. "
        r"Accepted: a \.keras file, a SavedModel folder",
    ):
        load_trained_model(tmp_path / "nothing.keras")


def test_folder_without_a_model(tmp_path):
    with pytest.raises(
        ConfigError,
        match=r"holds no model\. Received: neither saved_model\.pb nor "
        r"model\.keras\. Accepted: .*Fix: pass the run folder",
    ):
        load_trained_model(tmp_path)


def test_file_of_another_kind(tmp_path):
    (tmp_path / "weights.h5").write_bytes(b"x")
    with pytest.raises(
        ConfigError,
        match=r"weights\.h5 is not a model transferlab can load\. Received: "
        r"a file with extension '\.h5'",
    ):
        load_trained_model(tmp_path / "weights.h5")


def test_corrupt_keras_file(tmp_path):
    (tmp_path / "model.keras").write_bytes(b"not a zip file")
    with pytest.raises(
        DataFileError,
        match=r"Cannot load the Keras model .*model\.keras\. Received: "
        r".*Fix: check that the file is a complete \.keras file",
    ):
        load_trained_model(tmp_path)


def test_saved_model_without_transferlab_metadata(exported, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(exported, copy)
    shutil.rmtree(copy / "assets.extra")
    with pytest.raises(
        ConfigError,
        match=r"has no assets\.extra/transferlab\.json, so its input shape "
        r"is unknown\. Fix: export the model with transferlab's",
    ):
        load_trained_model(copy)


def test_corrupt_saved_model(exported, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(exported, copy)
    (copy / "saved_model.pb").write_bytes(b"garbage")
    with pytest.raises(
        DataFileError,
        match=r"Cannot load the SavedModel .*copy\. Received: .*saved_model"
        r"\.pb.*\. Fix: export the model again",
    ):
        load_trained_model(copy)
