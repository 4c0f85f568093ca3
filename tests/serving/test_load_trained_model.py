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
        match=r"(?s)The Keras model .*model\.keras is damaged: it is zeroed or overwritten.*"
        r"Received: 14 bytes.*Fix: save the model again",
    ):
        load_trained_model(tmp_path)


@pytest.mark.parametrize(
    ("damage", "what"),
    [
        (lambda data: data[: len(data) // 2], r"truncated \(its zip archive has no end\)"),
        (lambda data: bytes(len(data)), r"zeroed or overwritten"),
        (lambda data: b"", r"empty \(0 bytes\)"),
        (lambda data: data[:-30], r"truncated|cannot be loaded"),
    ],
    ids=["half", "zeroed", "empty", "end-cut"],
)
def test_a_damaged_keras_file_is_reported_as_damaged_not_missing(tiny_model, tmp_path, damage, what):
    path = tmp_path / "model.keras"
    tiny_model.save(path)
    path.write_bytes(damage(path.read_bytes()))
    for target in (path, tmp_path):  # the file, and the run folder holding it
        with pytest.raises(
            DataFileError, match=rf"(?s)The Keras model .*model\.keras is damaged: .*({what})"
        ) as info:
            load_trained_model(target)
        assert "No model at" not in str(info.value) and "function_node" not in str(info.value)


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
        match=r"(?s)The SavedModel .*copy is damaged: it cannot be loaded.*Received: .*"
        r"Fix: export the model again",
    ):
        load_trained_model(copy)


def test_a_saved_model_with_damaged_variables_is_damaged(exported, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(exported, copy)
    for index in copy.glob("variables/*.index"):
        index.write_bytes(bytes(index.stat().st_size))
    with pytest.raises(
        DataFileError, match=r"(?s)The SavedModel .*copy is damaged.*Fix: export the model again"
    ) as info:
        load_trained_model(copy)
    assert "function_node" not in str(info.value) and "[Op:" not in str(info.value)
