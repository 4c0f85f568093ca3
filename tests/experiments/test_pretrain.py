"""pretrain_backbone: the recipe reaches the run, the file is reused, written where asked, or refused."""

from __future__ import annotations

import csv
import json

import keras
import numpy as np
import pytest

from transferlab.backbones import create_backbone
from transferlab.config import RunConfig
from transferlab.data.labeled_images import LabeledImages
from transferlab.errors import ConfigError
from transferlab.experiments import pretrain
from transferlab.experiments.prepare_data import prepare_data
from transferlab.experiments.pretrain import (
    BACKBONE_FILE,
    check_backbone_file,
    pretrain_backbone,
    pretrain_run_name,
)
from transferlab.experiments.run_experiment import source_weights

SOURCE = """
[data]
path = "{mnist}"
classes = [0, 1, 2, 3, 4]
max_train = 300
[model]
width = 0.125
pretrain_epochs = 1
pretrain_learning_rate = 2e-3
pretrain_label_smoothing = 0.1
[training]
batch_size = 32
schedule = "constant"
run_dir = "{runs}"
"""


@pytest.fixture(scope="module")
def pretrained(mnist_dir, tmp_path_factory):
    """One tiny pretraining on 300 digits 0-4 (1 epoch, AlexNet width 0.125), shared by the tests."""
    runs = tmp_path_factory.mktemp("pretrain") / "runs"
    config = RunConfig.from_toml(SOURCE.format(mnist=mnist_dir, runs=runs))
    _, source, _, _ = prepare_data(config)
    return config, source, pretrain_backbone(config, source)


@pytest.fixture
def no_training(monkeypatch):
    """Any training from here on fails the test."""

    def train(*args, **kwargs):
        raise AssertionError("pretrain_backbone trained instead of reusing the run's backbone")

    monkeypatch.setattr(pretrain, "_train", train)


def _backbone_weights(path, width=0.125):
    return create_backbone("alexnet", width=width, weights=path).get_weights()


def test_the_backbone_is_saved_in_the_run_named_after_what_it_depends_on(pretrained):
    config, source, path = pretrained
    assert path == config.training.runs_path / pretrain_run_name(config, source) / BACKBONE_FILE
    assert path.parent.name.startswith("alexnet-pretrain-")
    # the file is a backbone: it loads (all or nothing, every shape checked) into a fresh AlexNet
    assert len(_backbone_weights(path)) == len(create_backbone("alexnet", width=0.125).get_weights())


def test_the_recipe_reaches_the_run(pretrained):
    config, source, path = pretrained
    record = json.loads((path.parent / "config.json").read_text())
    (phase,) = record["phases"]
    # every group trains from the first step, BatchNorm fully, at the recipe's rate and epochs
    assert phase["trainable_groups"] == ["stem", "block1", "block2", "block3", "block4", "fc"]
    assert phase["batchnorm"] == "train" and phase["epochs"] == config.model.pretrain_epochs == 1
    assert phase["learning_rate"] == config.model.pretrain_learning_rate == 2e-3
    # the recipe's schedule, not the target's training.schedule
    assert config.training.schedule == "constant" and record["options"]["schedule"] == "cosine"
    assert record["augment"]["config"]["name"] == f"augmentation_{config.model.pretrain_augment}"
    assert record["loss"]["config"]["label_smoothing"] == 0.1
    assert record["train"]["examples"] == len(source) == 300
    with open(path.parent / "metrics.csv", newline="") as file:
        (row,) = list(csv.DictReader(file))
    assert float(row["learning_rate"]) == pytest.approx(2e-3 / 100)  # the cosine's end, 1 % of the peak


def test_a_second_call_reuses_the_backbone_without_training(pretrained, no_training):
    config, source, path = pretrained
    written = path.stat().st_mtime_ns
    assert pretrain_backbone(config, source) == path
    assert path.stat().st_mtime_ns == written


def test_a_run_that_pretrains_on_the_same_source_reuses_the_backbone(pretrained, no_training):
    config, _, path = pretrained
    # a target run on 5-9 whose source task is the same 300 digits 0-4
    run = config.with_overrides(
        {
            "data.classes": (5, 6, 7, 8, 9),
            "data.labels_per_class": 4,
            "model.pretrain_classes": (0, 1, 2, 3, 4),
        }
    )
    splits = run.data.load_dataset()
    assert source_weights(run, splits.train) == str(path)


@pytest.mark.parametrize("suffix", [".weights.h5", ".keras"])
def test_out_gets_the_run_s_backbone(pretrained, no_training, tmp_path, suffix):
    config, source, path = pretrained
    out = tmp_path / "models" / f"digits{suffix}"
    assert pretrain_backbone(config, source, out=out) == out
    for written, expected in zip(_backbone_weights(out), _backbone_weights(path), strict=True):
        np.testing.assert_array_equal(written, expected)
    assert not [p for p in out.parent.iterdir() if p != out]  # no temporary file left


def test_an_existing_out_is_refused_before_training_and_replaced_with_overwrite(
    pretrained, no_training, tmp_path
):
    config, source, path = pretrained
    out = tmp_path / "digits.weights.h5"
    out.write_bytes(b"not a backbone")
    with pytest.raises(
        ConfigError,
        match=r"The backbone file exists already\. Received: out='.*digits\.weights\.h5'\. "
        r"Fix: pass another file, or --overwrite \(overwrite=True\) to replace it\.",
    ):
        pretrain_backbone(config, source, out=out)
    assert out.read_bytes() == b"not a backbone"
    pretrain_backbone(config, source, out=out, overwrite=True)
    np.testing.assert_array_equal(_backbone_weights(out)[0], _backbone_weights(path)[0])


def test_a_bad_backbone_file_name_is_refused(tmp_path):
    with pytest.raises(
        ConfigError,
        match=r"The backbone file must be a '\.weights\.h5' or a '\.keras' file\. Received: out='.*digits\.h5'\. "
        r"Fix: end the file name with \.weights\.h5 \(weights only\) or \.keras\.",
    ):
        check_backbone_file(tmp_path / "digits.h5")
    folder = tmp_path / "x.weights.h5"
    folder.mkdir()
    with pytest.raises(
        ConfigError,
        match=r"The backbone file names a folder\. Received: out='.*x\.weights\.h5'\. Fix: name a file\.",
    ):
        check_backbone_file(folder, overwrite=True)


def _tiny_source(seed=0):
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, (12, 28, 28), dtype=np.uint8)
    return LabeledImages(images, np.arange(12) % 3, ("a", "b", "c"))


def test_the_run_name_depends_on_the_source_the_model_and_the_training_only():
    config = RunConfig()
    name = pretrain_run_name(config, _tiny_source())
    # what the target run does is not part of the pretraining
    for same in (
        {"data.classes": (5, 6), "data.labels_per_class": 3, "data.validation": 0.5},
        {"model.pretrain_classes": (0, 1, 2), "data.classes": (5, 6)},
        {"strategy.kind": "feature_extraction", "strategy.epochs": 7},
        {"training.schedule": "cosine", "training.run_name": "target"},
    ):
        assert pretrain_run_name(config.with_overrides(same), _tiny_source()) == name, same
    # the examples, the backbone, the recipe and the training options are
    assert pretrain_run_name(config, _tiny_source(seed=1)) != name
    for other in (
        {"model.width": 0.5},
        {"model.pretrain_epochs": 3},
        {"model.pretrain_augment": "none"},
        {"model.pretrain_label_smoothing": 0.1},
        {"model.pretrain_schedule": "constant"},
        {"training.seed": 1},
    ):
        assert pretrain_run_name(config.with_overrides(other), _tiny_source()) != name, other


def test_label_smoothing_is_cross_entropy_against_smoothed_one_hot_labels():
    rng = np.random.default_rng(0)
    probs = rng.dirichlet(np.ones(4), size=6).astype("float32")
    labels = np.array([0, 3, 1, 2, 2, 0])
    smoothing = 0.2
    loss = pretrain._loss(smoothing)
    targets = np.full((6, 4), smoothing / 4) + np.eye(4)[labels] * (1 - smoothing)
    expected = -(targets * np.log(probs)).sum(axis=1).mean()
    assert float(loss(labels, probs)) == pytest.approx(expected, rel=1e-5)
    # labels shaped (batch, 1), as some pipelines give them, mean the same
    assert float(loss(labels[:, None], probs)) == pytest.approx(expected, rel=1e-5)
    # a round trip through Keras' serialization (a saved model's compile config)
    again = keras.losses.deserialize(keras.losses.serialize(loss))
    assert again.get_config() == loss.get_config() and float(again(labels, probs)) == pytest.approx(expected)


def test_without_label_smoothing_the_loss_is_keras_own():
    assert pretrain._loss(0.0) == "sparse_categorical_crossentropy"
