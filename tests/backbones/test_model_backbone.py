"""Any built Keras model as a backbone: groups and metadata inferred or given, trained by phases."""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
import pytest

from transferlab.backbones import BackboneInfo, Classifier, LayerGroup, build_classifier
from transferlab.backbones.model_backbone import infer_groups, model_backbone_info
from transferlab.errors import BackboneError, ConfigError
from transferlab.strategies import FineTune, compile_phase


def _hand_made(name: str = "HandMade") -> keras.Model:
    """Two conv stages with pooling, a BN, and a 1x1 conv on top (3 groups by downsampling)."""
    x = keras.Input((16, 16, 3))
    y = keras.layers.Conv2D(4, 3, padding="same", name="c1")(x)
    y = keras.layers.BatchNormalization(name="bn1")(y)
    y = keras.layers.MaxPooling2D(name="p1")(y)
    y = keras.layers.Conv2D(6, 3, padding="same", name="c2")(y)
    y = keras.layers.Conv2D(6, 3, strides=2, padding="same", name="c2_down")(y)
    y = keras.layers.Conv2D(8, 1, name="c3")(y)
    y = keras.layers.BatchNormalization(name="bn3")(y)
    return keras.Model(x, y, name=name)


def _values(model: keras.Model) -> dict[str, np.ndarray]:
    return {v.path: np.array(v.numpy()) for v in model.variables}


def _moved_after_fine_tuning(clf: Classifier) -> tuple[set[str], set[str]]:
    """Trains FineTune(top=1) for two steps; returns (moved, expected to move) variable paths."""
    (phase,) = FineTune(1, top=1, warmup_epochs=0).phases(clf.backbone_info)
    compile_phase(clf, phase, loss="sparse_categorical_crossentropy", optimizer=keras.optimizers.Adam(0.01))
    top = clf.backbone_info.group_names[-1]
    top_layers = clf.backbone_info.group_layers(clf.backbone)[top]
    expected = {v.path for layer in [*top_layers, *clf.head_layers] for v in layer.trainable_weights}
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (16, 28, 28, 1)).astype("float32")
    y = np.arange(16) % clf.num_classes
    before = _values(clf)
    clf.fit(x, y, batch_size=8, epochs=1, verbose=0, shuffle=False)
    after = _values(clf)
    assert before.keys() == after.keys()
    moved = {path for path in before if not np.array_equal(before[path], after[path])}
    return moved, expected


def test_mobilenet_v2_from_keras_applications_fine_tunes_only_head_and_top_group() -> None:
    net = keras.applications.MobileNetV2(weights=None, include_top=False, input_shape=(32, 32, 3), alpha=0.35)
    clf = build_classifier(net, 5)
    info = clf.backbone_info
    assert clf.backbone is net and clf.output_shape == (None, 5)
    assert info.default_input_size == (32, 32) and info.channels == 3 and info.preprocessing == "tf"
    assert info.group_names[0] == "stem" and info.group_names[-1] == "block16"
    assert info.groups[-1].last_layer == "out_relu" and info.feature_layer == "out_relu"
    moved, expected = _moved_after_fine_tuning(clf)
    assert moved == expected
    assert any("head_dense" in path for path in moved)
    assert any("Conv_1" in path for path in moved) and not any("block_15" in path for path in moved)


def test_hand_made_backbone_groups_by_downsampling_and_fine_tunes_the_top_group() -> None:
    clf = build_classifier(_hand_made(), 3)
    info = clf.backbone_info
    assert info.name == "handmade" and info.preprocessing == "unit"
    assert info.groups == (
        LayerGroup("stage1", "p1"),
        LayerGroup("stage2", "c2_down"),
        LayerGroup("stage3", "bn3"),
    )
    moved, expected = _moved_after_fine_tuning(clf)
    assert moved == expected
    assert {p.split("/")[-2] if "/" in p else p for p in moved if "head" not in p} == {"c3"}


def test_groups_and_info_given_explicitly(tmp_path: Path) -> None:
    clf = build_classifier(_hand_made(), 3, groups={"low": "p1", "high": "bn3"})
    assert clf.backbone_info.group_names == ("low", "high")
    info = BackboneInfo(
        name="given",
        default_input_size=(16, 16),
        min_input_size=(16, 16),
        channels=3,
        preprocessing="torch",
        groups=(LayerGroup("all", "bn3"),),
        feature_layer="bn3",
    )
    given = build_classifier(_hand_made(), 2, backbone_info=info, dropout=0.1)
    assert given.backbone_info is info and given.adapter.preprocessing == "torch"
    given.save(tmp_path / "given.keras")
    revived = keras.saving.load_model(tmp_path / "given.keras")
    assert isinstance(revived, Classifier) and revived.backbone_info == info
    assert revived.get_config()["backbone_info"] == info.to_config()
    x = np.random.default_rng(1).integers(0, 256, (4, 28, 28, 1)).astype("float32")
    np.testing.assert_allclose(revived.predict(x, verbose=0), given.predict(x, verbose=0), atol=1e-6)


def test_registered_backbones_keep_their_config_unchanged() -> None:
    clf = build_classifier("alexnet", 3, width=0.125)
    assert "backbone_info" not in clf.get_config()


def test_group_inference_from_keras_applications_names() -> None:
    x = keras.Input((8, 8, 3))
    y = keras.layers.Conv2D(2, 1, name="conv1_conv")(x)
    y = keras.layers.Conv2D(2, 1, name="conv2_block1_1_conv")(y)
    y = keras.layers.Conv2D(2, 1, name="conv2_block2_1_conv")(y)
    y = keras.layers.Conv2D(2, 1, name="conv3_block1_1_conv")(y)
    y = keras.layers.ReLU(name="post_relu")(y)
    resnet_like = keras.Model(x, y)
    assert [(g.name, g.last_layer) for g in infer_groups(resnet_like)] == [
        ("stem", "conv1_conv"),
        ("conv2", "conv2_block2_1_conv"),
        ("conv3", "post_relu"),
    ]
    x = keras.Input((8, 8, 3))
    a = keras.layers.Conv2D(2, 1, name="stem_conv")(x)
    b1 = keras.layers.Conv2D(2, 1, name="branch_a")(a)
    b2 = keras.layers.Conv2D(2, 1, name="branch_b")(a)
    m0 = keras.layers.Concatenate(name="mixed0")([b1, b2])
    c1 = keras.layers.Conv2D(2, 1, name="branch_c")(m0)
    m1 = keras.layers.Concatenate(name="mixed1")([c1, m0])
    inception_like = keras.Model(x, m1)
    assert [g.name for g in infer_groups(inception_like)] == ["stem", "mixed0", "mixed1"]


def test_vgg16_names_and_preprocessing() -> None:
    net = keras.applications.VGG16(weights=None, include_top=False, input_shape=(32, 32, 3))
    info = model_backbone_info(net)
    assert info.group_names == ("block1", "block2", "block3", "block4", "block5")
    assert info.preprocessing == "caffe"


def test_backbone_info_round_trips_and_rejects_other_records() -> None:
    info = model_backbone_info(_hand_made())
    assert BackboneInfo.from_config(info.to_config()) == info
    with pytest.raises(BackboneError, match=r"Not a BackboneInfo record. Received: \['name'\].*KeyError"):
        BackboneInfo.from_config({"name": "x"})


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        (
            {"weights": "imagenet"},
            ConfigError,
            r"A Keras model passed as the backbone brings its own weights and options. "
            r"Received: weights='imagenet'. Fix: load its weights on the model before",
        ),
        (
            {"width": 0.5},
            ConfigError,
            r"brings its own weights and options. Received: width=0.5",
        ),
        (
            {"input_size": (32, 32)},
            ConfigError,
            r"takes only its own input size. Received: input_size=\(32, 32\) for a model built for \(16, 16\)",
        ),
        (
            {"precision": "bfloat16"},
            ConfigError,
            r"computes under the dtype policy 'float32', not the 'mixed_bfloat16' that "
            r"precision='bfloat16' needs.*Fix: build the model inside keras.config.set_dtype_policy",
        ),
        (
            {"groups": {"low": "p1"}},
            BackboneError,
            r"has layers after its last group. Received: \['c2', 'c2_down', 'c3', 'bn3'\]",
        ),
        (
            {"groups": {"low": "nope"}},
            BackboneError,
            r"Layer group 'low' of backbone 'handmade' ends at a layer the model does not have",
        ),
        (
            {"groups": "p1"},
            BackboneError,
            r"`groups` must be LayerGroup records or a \{group name: last layer name\} mapping",
        ),
        (
            {"groups": {"a": "bn3"}, "backbone_info": model_backbone_info(_hand_made())},
            ConfigError,
            r"Pass `groups` or `backbone_info`, not both. Fix: put the groups in the BackboneInfo",
        ),
    ],
)
def test_model_backbone_errors(kwargs: dict[str, object], error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        build_classifier(_hand_made(), 3, **kwargs)  # type: ignore[arg-type]


def test_models_that_cannot_be_backbones() -> None:
    x = keras.Input((None, None, 3))
    dynamic = keras.Model(x, keras.layers.Conv2D(2, 3)(x), name="dyn")
    with pytest.raises(
        BackboneError,
        match=r"Backbone model 'dyn' must take images of a fixed size. Received: input shape "
        r"\(None, None, None, 3\). Fix: build it with a fixed input_shape",
    ):
        build_classifier(dynamic, 3)
    with pytest.raises(
        BackboneError, match=r"A backbone model must be a built keras.Model with one image input"
    ):
        model_backbone_info(keras.Sequential([keras.layers.Dense(2)]))
    with pytest.raises(BackboneError, match=r"Unknown preprocessing mode. Received: preprocessing='raw'"):
        model_backbone_info(_hand_made(), preprocessing="raw")
    with pytest.raises(
        ConfigError, match=r"`groups` and `backbone_info` describe a Keras model passed as the backbone"
    ):
        build_classifier("alexnet", 3, groups={"a": "b"})


def test_one_class_is_a_clear_error() -> None:
    with pytest.raises(
        ConfigError,
        match=r"`num_classes` must be at least 2: the head is a softmax over the classes. "
        r"Received: num_classes=1. Fix: for a yes/no task pass num_classes=2",
    ):
        build_classifier("alexnet", 1, width=0.125)
    with pytest.raises(ConfigError, match=r"num_classes=1"):
        build_classifier(_hand_made(), 1)
