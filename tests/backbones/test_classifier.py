"""build_classifier options, precision, the head, and the .keras round trip."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import keras
import numpy as np
import pytest

from transferlab.backbones import BackboneInfo, LayerGroup, register_backbone, unregister_backbone
from transferlab.backbones.classifier import Classifier, build_classifier
from transferlab.errors import ConfigError, InputShapeError

X = np.random.default_rng(0).integers(0, 256, (4, 28, 28, 1)).astype("uint8")


@pytest.fixture(scope="module")
def conv_backbone() -> Iterator[str]:
    """A tiny backbone with a 4-D feature map (AlexNet's features are flat)."""

    @register_backbone(
        BackboneInfo(
            name="test_conv",
            default_input_size=(32, 32),
            min_input_size=(32, 32),
            channels=3,
            preprocessing="tf",
            groups=(LayerGroup("stem", "stem_bn"), LayerGroup("top", "top_conv")),
            feature_layer="top_conv",
        )
    )
    def test_conv(*, input_shape: tuple[int, int, int], name: str) -> keras.Model:
        x = keras.Input(input_shape)
        y = keras.layers.Conv2D(4, 3, strides=4, name="stem_conv")(x)
        y = keras.layers.BatchNormalization(name="stem_bn")(y)
        y = keras.layers.Conv2D(6, 3, name="top_conv")(y)
        return keras.Model(x, y, name=name)

    yield "test_conv"
    unregister_backbone("test_conv")


@pytest.mark.parametrize(("pooling", "features"), [("avg", 6), ("max", 6), ("flatten", 6 * 6 * 6)])
def test_pooling_options(conv_backbone: str, pooling: str, features: int) -> None:
    clf = build_classifier(conv_backbone, 2, pooling=pooling)
    assert clf.feature_extractor().output_shape == (None, features)
    assert clf.head.input_shape == (None, features)


def test_auto_input_size_and_adapter(conv_backbone: str) -> None:
    small = build_classifier(conv_backbone, 2)  # 28 < 32: the minimum
    assert small.adapter.size == (32, 32) and small.backbone.input_shape == (None, 32, 32, 3)
    large = build_classifier(conv_backbone, 2, input_shape=(40, 36, 3))
    assert large.adapter.size == (40, 36)
    explicit = build_classifier(conv_backbone, 2, input_size=(48, 48))
    assert explicit.backbone.input_shape == (None, 48, 48, 3)
    assert explicit.predict(X, verbose=0).shape == (4, 2)
    with pytest.raises(InputShapeError, match=r"at least 32x32.*input_size=\(32, 32\)"):
        build_classifier(conv_backbone, 2, input_size=(16, 16))


def test_head_dropout_logits_and_feature_extractor(conv_backbone: str) -> None:
    clf = build_classifier(conv_backbone, 3, dropout=0.3, activation=None)
    assert [layer.name for layer in clf.head.layers[1:]] == ["head_dropout", "head_dense"]
    assert clf.head_layers == [clf.head.get_layer("head_dense")]
    logits = clf.predict(X, verbose=0)
    assert not np.allclose(logits.sum(axis=1), 1.0)
    features = clf.feature_extractor().predict(X, verbose=0)
    np.testing.assert_allclose(clf.head.predict(features, verbose=0), logits, atol=1e-5)
    assert clf.feature_extractor().get_layer(clf.backbone.name) is clf.backbone  # shared weights


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"pooling": "sum"},
            r"Unknown `pooling` type. Received: pooling='sum'. Accepted: 'avg', 'max', 'flatten'",
        ),
        ({"activation": "relu"}, r"Unknown `activation`. Received: activation='relu'"),
        ({"precision": "int8"}, r"Unknown `precision`.*'float32', 'bfloat16', 'float16'"),
        ({"dropout": 1.0}, r"`dropout` must be in \[0, 1\)"),
        ({"num_classes": 0}, r"`num_classes` must be a positive integer. Received: num_classes=0"),
        ({"input_size": "big"}, r"`input_size` must be 'auto' or \(height, width\)"),
        ({"input_size": (1, 2, 3)}, r"`input_size` must be 'auto' or \(height, width\)"),
        ({"input_shape": (28,)}, r"`input_shape` must be \(height, width\) or"),
    ],
)
def test_bad_options_have_clear_errors(kwargs: dict[str, object], message: str) -> None:
    args = {"num_classes": 2, **kwargs}
    with pytest.raises(ConfigError, match=message):
        build_classifier("alexnet", width=0.125, **args)  # type: ignore[arg-type]


@pytest.mark.parametrize("precision", ["bfloat16", "float16"])
def test_mixed_precision_keeps_the_global_policy(precision: str, tmp_path: Path) -> None:
    before = keras.config.dtype_policy().name
    clf = build_classifier("alexnet", 3, width=0.125, precision=precision)
    assert keras.config.dtype_policy().name == before
    assert clf.backbone.get_layer("block1_conv").compute_dtype == precision
    assert clf.backbone.get_layer("block1_conv").variable_dtype == "float32"
    assert clf.head.get_layer("head_dense").compute_dtype == "float32"
    out = clf(X, training=False)
    assert keras.backend.standardize_dtype(out.dtype) == "float32"
    clf.save(tmp_path / "mixed.keras")
    revived = keras.saving.load_model(tmp_path / "mixed.keras")
    assert revived.backbone.get_layer("block1_conv").compute_dtype == precision
    assert keras.config.dtype_policy().name == before


def test_global_policy_restored_when_the_build_fails() -> None:
    before = keras.config.dtype_policy().name
    with pytest.raises(ConfigError, match="`width` must be positive"):
        build_classifier("alexnet", 3, width=0, precision="bfloat16")
    assert keras.config.dtype_policy().name == before


def test_round_trip_keeps_group_freezing_and_model_flags(tmp_path: Path) -> None:
    clf = build_classifier("alexnet", 5, width=0.125, dropout=0.2)
    groups = clf.backbone_info.group_layers(clf.backbone)
    for layer in groups["stem"] + groups["block1"]:
        layer.trainable = False
    clf.save(tmp_path / "partial.keras")
    revived = keras.saving.load_model(tmp_path / "partial.keras")
    assert isinstance(revived, Classifier)
    revived_groups = revived.backbone_info.group_layers(revived.backbone)
    for name, layers in revived_groups.items():
        assert all(layer.trainable == (name not in ("stem", "block1")) for layer in layers), name
    assert len(revived.trainable_weights) == len(clf.trainable_weights)
    np.testing.assert_allclose(revived.predict(X, verbose=0), clf.predict(X, verbose=0), atol=1e-6)

    clf.backbone.trainable = False
    clf.save(tmp_path / "frozen.keras")
    frozen = keras.saving.load_model(tmp_path / "frozen.keras")
    assert frozen.backbone.trainable is False
    assert [v.path for v in frozen.trainable_weights] == [v.path for v in clf.trainable_weights]
    assert frozen.get_config()["dropout"] == 0.2
