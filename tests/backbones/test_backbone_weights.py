"""Weights: ImageNet from the Keras cache (offline), files, pretrained backbones, misfits."""

from __future__ import annotations

import warnings
from pathlib import Path

import keras
import numpy as np
import pytest

from transferlab.backbones import create_backbone, get_backbone_info
from transferlab.backbones.backbone_weights import (
    check_weights_fit,
    imagenet_cache_path,
    save_backbone,
)
from transferlab.backbones.classifier import build_classifier
from transferlab.errors import ConfigError, WeightsError, WeightsNotFoundError

VGG_FILE = "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5"


def assert_same_weights(a: keras.Model, b: keras.Model) -> None:
    assert len(a.weights) == len(b.weights)
    for x, y in zip(a.weights, b.weights):
        np.testing.assert_array_equal(x.numpy(), y.numpy(), err_msg=x.path)


def write_keras_cache_file(model: keras.Model, path: Path) -> None:
    """Writes weights in the legacy H5 layout Keras' ImageNet files use."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "legacy HDF5 format" warning
        model.save(path)


def test_imagenet_weights_load_from_the_keras_cache_offline(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    source = create_backbone("vgg16", input_shape=(32, 32, 3))
    cached = tmp_path / "models" / VGG_FILE
    assert imagenet_cache_path(get_backbone_info("vgg16")) == cached
    write_keras_cache_file(source, cached)

    def no_network(*args: object, **kwargs: object) -> None:
        raise AssertionError("must not download when the file is cached")

    monkeypatch.setattr(keras.utils, "get_file", no_network)
    loaded = create_backbone("vgg16", input_shape=(32, 32, 3), weights="imagenet")
    assert_same_weights(loaded, source)


def test_missing_imagenet_weights_say_which_file_where_and_how_to_go_without(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))

    def offline(*args: object, **kwargs: object) -> None:
        raise Exception("URL fetch failure: no network")  # what keras.utils.get_file raises

    monkeypatch.setattr(keras.utils, "get_file", offline)
    expected = str(tmp_path / "models" / VGG_FILE)
    with pytest.raises(
        WeightsNotFoundError, match=rf"not cached and could not be downloaded.*{expected}.*weights=None"
    ):
        create_backbone("vgg16", input_shape=(32, 32, 3), weights="imagenet")


def test_imagenet_weights_with_other_than_three_channels_fail_before_building() -> None:
    with pytest.raises(WeightsError, match=r"ImageNet weights need 3 input channels.*\(32, 32, 1\)"):
        create_backbone("vgg16", input_shape=(32, 32, 1), weights="imagenet")


def test_imagenet_weights_for_a_backbone_without_them() -> None:
    with pytest.raises(WeightsError, match="Backbone 'alexnet' has no ImageNet weights"):
        create_backbone("alexnet", weights="imagenet")


def test_a_wrong_imagenet_file_is_a_weights_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    other = create_backbone("alexnet", input_shape=(32, 32, 3), width=0.125)
    write_keras_cache_file(other, tmp_path / "models" / VGG_FILE)
    with pytest.raises(WeightsError, match="do not fit backbone 'vgg16'"):
        create_backbone("vgg16", input_shape=(32, 32, 3), weights="imagenet")


@pytest.mark.parametrize("suffix", [".weights.h5", ".keras"])
def test_pretrained_backbone_transfers_to_a_new_classifier(tmp_path: Path, suffix: str) -> None:
    """AlexNet trained on a source task, saved, then the start of a new classifier."""
    source = build_classifier("alexnet", 5, width=0.125)
    source.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    x = np.random.default_rng(0).integers(0, 256, (8, 28, 28, 1)).astype("uint8")
    source.fit(x, np.arange(8) % 5, epochs=1, verbose=0)
    path = save_backbone(source.backbone, tmp_path / f"digits04{suffix}")
    target = build_classifier("alexnet", 5, weights=str(path), width=0.125)
    assert_same_weights(target.backbone, source.backbone)
    # A whole Classifier can be passed too: its backbone is saved.
    path2 = save_backbone(source, tmp_path / f"from_classifier{suffix}")
    assert_same_weights(create_backbone("alexnet", width=0.125, weights=path2), source.backbone)


@pytest.mark.parametrize("suffix", [".weights.h5", ".keras"])
@pytest.mark.parametrize(
    ("options", "detail"),
    [
        ({"width": 0.25}, r"has shape .* in the backbone but .* in the file"),
        ({"width": 0.125, "input_shape": (28, 28, 3)}, r"\(5, 5, 1, 4\) in the file"),
    ],
)
def test_weights_of_another_shape_are_refused_whole(
    tmp_path: Path, suffix: str, options: dict[str, object], detail: str
) -> None:
    path = save_backbone(create_backbone("alexnet", width=0.125), tmp_path / f"small{suffix}")
    with pytest.raises(WeightsError, match=rf"do not fit backbone 'alexnet': .*{detail}.*same options"):
        create_backbone("alexnet", weights=str(path), **options)


def test_weights_file_errors(tmp_path: Path) -> None:
    info = get_backbone_info("alexnet")
    with pytest.raises(WeightsNotFoundError, match="Weights file not found.*nothing.weights.h5"):
        check_weights_fit(info, (28, 28, 1), str(tmp_path / "nothing.weights.h5"))
    with pytest.raises(ConfigError, match=r"must be a '.weights.h5' or a '.keras' file.*model.pt"):
        check_weights_fit(info, (28, 28, 1), "model.pt")
    with pytest.raises(ConfigError, match="`weights` must be None, 'imagenet' or a file path"):
        check_weights_fit(info, (28, 28, 1), 3)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="save_backbone writes '.weights.h5' or '.keras' files"):
        save_backbone(create_backbone("alexnet", width=0.125), tmp_path / "x.h5")
    broken = tmp_path / "broken.weights.h5"
    broken.write_bytes(b"not hdf5")
    with pytest.raises(WeightsError, match="Could not read the weights file"):
        create_backbone("alexnet", width=0.125, weights=broken)
    broken_keras = tmp_path / "broken.keras"
    broken_keras.write_bytes(b"not a zip")
    with pytest.raises(WeightsError, match="Could not read the .keras file"):
        create_backbone("alexnet", width=0.125, weights=broken_keras)
    assert not list(tmp_path.glob(".*")), "no temporary file left behind"
