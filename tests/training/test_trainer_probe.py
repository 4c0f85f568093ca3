"""The Trainer runs heads fitted in closed form: a linear probe, class prototypes; what it refuses."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

sys.path.insert(0, str(Path(__file__).resolve().parent))
import resume_tiny

from transferlab.backbones import build_classifier
from transferlab.errors import ConfigError, StrategyError
from transferlab.strategies import LinearProbe, Prototypes, class_prototypes, fit_linear_probe
from transferlab.training.trainer import Trainer


def _initial_features(images: np.ndarray, build: object = resume_tiny.build) -> np.ndarray:
    """The pooled features of the model as a run of seed 0 builds it, computed apart from the run."""
    keras.utils.set_random_seed(0)
    model = build()  # type: ignore[operator]
    features: np.ndarray = model.feature_extractor().predict(images[..., None], verbose=0)
    return features


def _cosine(precision: str = "float32") -> keras.Model:
    resume_tiny.register()
    return build_classifier(resume_tiny.NAME, 3, input_shape=(12, 12, 1), head="cosine", precision=precision)


def test_a_linear_probe_run_sets_the_fit_of_the_features_and_records_it(tmp_path: Path) -> None:
    data, validation = resume_tiny.data(30), resume_tiny.data(12, seed=99)
    trainer = Trainer(
        resume_tiny.build,
        strategy=LinearProbe(method="ridge"),
        run_dir=tmp_path,
        batch_size=8,
        verbose=0,
    )
    result = trainer.fit(data, validation, augment=keras.layers.RandomFlip(seed=1))
    reference = fit_linear_probe(_initial_features(data.images), data.labels, 3, method="ridge")
    dense = result.model.head.get_layer("head_dense")
    np.testing.assert_array_equal(dense.kernel.numpy(), reference.kernel)
    np.testing.assert_array_equal(dense.bias.numpy(), reference.bias)

    run = result.run_dir
    decisions = json.loads((run / "decisions.json").read_text())
    assert decisions["head_fit"] == {"linear_probe": {"head_fit": "probe", **reference.as_json()}}
    assert decisions["feature_cache"]["linear_probe"].startswith("on: ")
    assert any(
        "'linear_probe'" in n and "augmentation applies to phases trained by gradient" in n
        for n in decisions["notes"]
    )
    # One row, evaluated: the model's own loss and accuracy on the training and validation data.
    (row,) = result.rows
    assert (row["epoch"], row["phase"]) == (1, "linear_probe") and "learning_rate" not in row
    for prefix, part in (("", data), ("val_", validation)):
        logs = result.model.evaluate(part.images[..., None], part.labels, verbose=0, return_dict=True)
        assert row[f"{prefix}loss"] == pytest.approx(logs["loss"], rel=1e-5)
        assert row[f"{prefix}accuracy"] == pytest.approx(logs["accuracy"])
    assert (run / "checkpoints" / "last.weights.h5").is_file() and (run / "model.keras").is_file()
    config = json.loads((run / "config.json").read_text())
    assert config["phases"][0]["head_fit"] == "probe" and config["phases"][0]["probe_method"] == "ridge"
    assert set(trainer.evaluate(validation)) == {"loss", "accuracy"}


def test_prototypes_run_on_a_cosine_head_with_a_streamed_validation_set(tmp_path: Path) -> None:
    data, validation = resume_tiny.data(24, seed=4), resume_tiny.data(9, seed=98)
    stream = tf.data.Dataset.from_tensor_slices((validation.images[..., None], validation.labels))
    result = Trainer(_cosine, strategy=Prototypes(), run_dir=tmp_path, batch_size=8, verbose=0).fit(
        data, stream
    )
    expected = class_prototypes(_initial_features(data.images, _cosine), data.labels, 3)
    kernel = result.model.head.get_layer("head_cosine").kernel.numpy()
    np.testing.assert_allclose(kernel.T, expected, rtol=1e-6, atol=1e-7)
    decisions = json.loads((result.run_dir / "decisions.json").read_text())
    assert decisions["head_fit"]["prototypes"] == {
        "head_fit": "prototypes",
        "num_classes": 3,
        "examples_per_class": np.bincount(data.labels, minlength=3).tolist(),
    }
    (row,) = result.rows
    logs = result.model.evaluate(stream.batch(4), verbose=0, return_dict=True)
    assert row["val_accuracy"] == pytest.approx(logs["accuracy"])
    assert row["val_loss"] == pytest.approx(logs["loss"], rel=1e-5)


def test_prototypes_on_a_dense_head_are_refused_naming_the_fix(tmp_path: Path) -> None:
    trainer = Trainer(resume_tiny.build, strategy="prototypes", run_dir=tmp_path, batch_size=8, verbose=0)
    with pytest.raises(StrategyError) as info:
        trainer.fit(resume_tiny.data(12))
    assert str(info.value) == (
        "Phase 'prototypes': head_fit='prototypes' needs a CosineClassifier on the pooled features "
        "(build_classifier(..., head='cosine')). Received: a head of 'features' (InputLayer), "
        "'head_dense' (Dense), 'head_softmax' (Activation). Fix: build the model with "
        "build_classifier(..., head='cosine')."
    )


def test_a_probe_on_streamed_training_data_is_refused_before_the_run_folder(tmp_path: Path) -> None:
    data = resume_tiny.data(12)
    stream = tf.data.Dataset.from_tensor_slices((data.images[..., None], data.labels))
    trainer = Trainer(resume_tiny.build, strategy="lp_ft", run_dir=tmp_path, batch_size=4, verbose=0)
    with pytest.raises(ConfigError) as info:
        trainer.fit(stream)
    assert str(info.value).startswith(
        "Phase 'linear_probe' fits the head on the features of the training examples, computed once, "
        "and a stream's examples cannot be read by index. Received: training data read as a "
    )
    assert str(info.value).endswith(
        "Accepted: arrays, LabeledImages, an image folder, TFRecords (indexed sources). Fix: pass the "
        "training data as one of those, or train the head by gradient (FeatureExtraction, FineTune)."
    )
    assert list(tmp_path.iterdir()) == []  # nothing written
