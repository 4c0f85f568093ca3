"""A run's identity through the Trainer: what makes two runs different, seeds, conflicts, the cache."""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path
from typing import Any

import keras
import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
import resume_tiny

from transferlab.backbones import (
    BackboneInfo,
    LayerGroup,
    build_classifier,
    list_backbones,
    register_backbone,
)
from transferlab.backbones.backbone_weights import save_backbone
from transferlab.data import LabeledImages, make_augmentation
from transferlab.errors import RunConflictError
from transferlab.strategies import FeatureExtraction
from transferlab.training.trainer import Trainer


def folder_hashes(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def _builder(**kwargs: Any) -> Any:
    resume_tiny.register()

    def build(precision: str = "float32") -> Any:
        return build_classifier(resume_tiny.NAME, 3, input_shape=(12, 12, 1), precision=precision, **kwargs)

    return build


def _identity(tmp_path: Path, build: Any = None, data: LabeledImages | None = None, **kwargs: Any) -> Any:
    trainer = Trainer(
        build or _builder(), strategy=FeatureExtraction(1), run_dir=tmp_path, verbose=0, **kwargs
    )
    return trainer.identity(data if data is not None else resume_tiny.data(16))


def test_runs_that_differ_in_what_shapes_the_result_have_different_identities(tmp_path: Path) -> None:
    base = _identity(tmp_path)
    weights_file = tmp_path / "backbone.weights.h5"
    other_model = _builder()()
    for v in other_model.backbone.variables:
        v.assign(v.numpy() + 0.5)
    save_backbone(other_model.backbone, weights_file)
    variants = {
        "initial_weights": _identity(tmp_path, _builder(weights=str(weights_file))),
        "data.train": _identity(tmp_path, data=resume_tiny.data(16, seed=1)),
        "pooling": _identity(tmp_path, _builder(pooling="max")),
        "input_size": _identity(tmp_path, _builder(input_size=(16, 16))),
    }
    trainer = Trainer(_builder(), strategy=FeatureExtraction(1), run_dir=tmp_path, verbose=0)
    variants["augment"] = trainer.identity(
        resume_tiny.data(16), augment=make_augmentation("standard", seed=0)
    )
    for named, identity in variants.items():
        assert identity.digest != base.digest, named
        lines = identity.differences(base)
        assert lines, named
        if named in ("initial_weights", "data.train", "augment"):
            assert any(line.startswith(named) for line in lines), (named, lines)
        else:  # a setting of the model: named by its place in the model's config
            assert any(line.startswith("model") for line in lines), (named, lines)
    # the model's config differences name the setting itself
    assert any("max" in line and "avg" in line for line in variants["pooling"].differences(base))


def test_the_same_seed_gives_the_same_initial_weights_without_deterministic(tmp_path: Path) -> None:
    first = _identity(tmp_path, seed=7).components["initial_weights"]
    again = _identity(tmp_path, seed=7).components["initial_weights"]
    other = _identity(tmp_path, seed=8).components["initial_weights"]
    assert first == again
    assert first != other


def test_the_same_name_for_another_run_is_refused_and_the_folder_is_unchanged(tmp_path: Path) -> None:
    data = resume_tiny.data(16)
    Trainer(_builder(), strategy=FeatureExtraction(1), run_dir=tmp_path, run_name="x", verbose=0).fit(data)
    before = folder_hashes(tmp_path / "x")
    with pytest.raises(RunConflictError) as caught:
        Trainer(
            _builder(pooling="max"), strategy=FeatureExtraction(1), run_dir=tmp_path, run_name="x", verbose=0
        ).fit(data)
    message = str(caught.value)
    assert "x" in message and "overwrite" in message and "pooling" in message
    assert folder_hashes(tmp_path / "x") == before


def test_the_cli_refuses_another_run_under_the_same_name(
    tmp_path: Path, mnist_dir: Path, capsys: Any
) -> None:
    from transferlab.cli.main import main

    flags = [
        "train", "--path", str(mnist_dir), "--classes", "5", "6", "--labels-per-class", "3",
        "--backbone", "alexnet", "--width", "0.125", "--strategy", "feature_extraction", "--epochs", "1",
        "--batch-size", "8", "--run-dir", str(tmp_path), "--run-name", "same", "--quiet",
    ]  # fmt: skip
    assert main(flags) == 0
    before = folder_hashes(tmp_path / "same")
    capsys.readouterr()
    changed = [*flags]
    changed[changed.index("--labels-per-class") + 1] = "4"
    assert main(changed) == 2
    err = capsys.readouterr().err
    assert err.startswith("transferlab: error:") and "--overwrite" in err and "Traceback" not in err
    assert folder_hashes(tmp_path / "same") == before
    assert main([*flags]) == 0  # the same command: the finished run, returned as it is
    assert folder_hashes(tmp_path / "same") == before


class _MyDropout(keras.layers.Dropout):
    pass


def _register_random_backbone(name: str, random_layer: Any) -> None:
    if name in list_backbones():
        return

    @register_backbone(
        BackboneInfo(
            name=name,
            default_input_size=(12, 12),
            min_input_size=(8, 8),
            channels=1,
            preprocessing="unit",
            feature_layer="pool",
            groups=(LayerGroup("block", "pool"),),
        )
    )
    def backbone(*, input_shape: Any, name: str) -> keras.Model:
        x = keras.Input(input_shape)
        y = keras.layers.Conv2D(4, 3, padding="same", name="conv")(x)
        y = random_layer()(y)
        y = keras.layers.MaxPooling2D(name="pool")(y)
        return keras.Model(x, y, name=name)


@pytest.mark.parametrize(
    "layer",
    [lambda: _MyDropout(0.3, name="my_dropout"), lambda: keras.layers.RandomFlip(name="flip")],
    ids=["dropout-subclass", "random-flip"],
)
def test_random_layers_in_a_custom_backbone_switch_the_feature_cache_off(tmp_path: Path, layer: Any) -> None:
    name = f"tl_random_{'flip' if 'RandomFlip' in repr(layer()) else 'dropout'}"
    _register_random_backbone(name, layer)
    result = Trainer(
        lambda precision: build_classifier(name, 3, input_shape=(12, 12, 1), precision=precision),
        strategy=FeatureExtraction(1),
        run_dir=tmp_path,
        verbose=0,
    ).fit(resume_tiny.data(16))
    reason = json.loads((result.run_dir / "decisions.json").read_text())["feature_cache"][
        "feature_extraction"
    ]
    assert reason.startswith("off")
    assert "random" in reason


class _Count(keras.metrics.Metric):
    """How many examples were evaluated."""

    def __init__(self, name: str = "count", **kwargs: Any) -> None:
        super().__init__(name=name, **kwargs)
        self.total = self.add_variable(shape=(), initializer="zeros", name="total")

    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:
        ones = keras.ops.ones_like(keras.ops.cast(keras.ops.reshape(y_true, (-1,)), "float32"))
        if sample_weight is not None:
            ones = ones * keras.ops.cast(keras.ops.reshape(sample_weight, (-1,)), "float32")
        self.total.assign_add(keras.ops.sum(ones))

    def result(self) -> Any:
        return self.total


def test_evaluate_counts_every_example_on_two_replicas(tmp_path: Path, mirrored: Any) -> None:
    trainer = Trainer(
        resume_tiny.build,
        strategy=FeatureExtraction(1),
        distribution=mirrored,
        metrics=["accuracy", _Count()],
        run_dir=tmp_path,
        batch_size=8,
        verbose=0,
    )
    trainer.fit(resume_tiny.data(32))
    test = resume_tiny.data(101, seed=3)
    result = trainer.evaluate(test)
    assert result["count"] == 101
    assert trainer.model_ is not None
    predicted = np.argmax(trainer.model_.predict(test.images, verbose=0), axis=1)
    assert result["accuracy"] == pytest.approx(float(np.mean(predicted == test.labels)), abs=1e-6)
