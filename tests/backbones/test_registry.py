"""Registry errors and user-registered backbones."""

from __future__ import annotations

from collections.abc import Iterator

import keras
import numpy as np
import pytest

from transferlab.backbones import (
    BackboneInfo,
    LayerGroup,
    create_backbone,
    get_backbone_info,
    list_backbones,
    register_backbone,
    unregister_backbone,
)
from transferlab.backbones.classifier import build_classifier
from transferlab.errors import BackboneError, ConfigError, UnknownBackboneError

BUILTIN = {"alexnet", "vgg16", "inception_v3", "resnet50_v2", "mobilenet_v2", "efficientnet_b0"}


def test_builtin_backbones_are_registered() -> None:
    assert set(list_backbones()) >= BUILTIN
    assert list_backbones("vgg*") == ["vgg16"]


def test_unknown_name_lists_valid_names_and_suggests_the_closest() -> None:
    with pytest.raises(UnknownBackboneError, match=r"name='vgg61'.*alexnet, .*vgg16.*did you mean 'vgg16'"):
        create_backbone("vgg61")
    with pytest.raises(UnknownBackboneError, match="did you mean 'inception_v3'"):
        build_classifier("inceptionv3", 2)


def test_duplicate_registration_is_refused_and_the_fix_names_overwrite() -> None:
    with pytest.raises(
        BackboneError,
        match=r"A backbone named 'vgg16' is already registered\. Received: register_backbone\("
        r"BackboneInfo\(name='vgg16', \.\.\.\)\)\. Fix: choose another name, pass overwrite=True",
    ):
        register_backbone(get_backbone_info("vgg16"))(lambda **_: None)
    with pytest.raises(ConfigError, match=r"`overwrite` must be True or False. Received: overwrite='yes'"):
        register_backbone(get_backbone_info("vgg16"), overwrite="yes")  # type: ignore[arg-type]


def test_overwrite_replaces_and_unregister_removes(user_backbone: str) -> None:
    info = get_backbone_info(user_backbone)

    def other(*, input_shape: tuple[int, int, int], name: str) -> keras.Model:
        x = keras.Input(input_shape)
        y = keras.layers.Conv2D(2, 3, name="stem_pool")(x)
        return keras.Model(x, keras.layers.Conv2D(5, 1, name="top_conv")(y), name=name)

    assert register_backbone(info, overwrite=True)(other) is other
    assert create_backbone(user_backbone, input_shape=(20, 20, 3)).output_shape == (None, 18, 18, 5)
    assert list_backbones("user_*") == ["user_tiny"]
    unregister_backbone("USER_TINY")  # names are case-insensitive, as in create_backbone
    assert list_backbones("user_*") == []
    with pytest.raises(UnknownBackboneError, match=r"Unknown backbone. Received: name='user_tiny'"):
        unregister_backbone("user_tiny")
    register_backbone(info)(other)  # the fixture unregisters it


def test_unregister_is_exported_by_the_backbones_package() -> None:
    import transferlab.backbones as backbones
    from transferlab.backbones import registry

    assert backbones.unregister_backbone is registry.unregister_backbone
    assert {"register_backbone", "unregister_backbone"} <= set(backbones.__all__)


@pytest.fixture
def user_backbone() -> Iterator[str]:
    @register_backbone(
        BackboneInfo(
            name="user_tiny",
            default_input_size=(20, 20),
            min_input_size=(20, 20),
            channels=3,
            preprocessing="torch",
            groups=(LayerGroup("stem", "stem_pool"), LayerGroup("top", "top_conv")),
            feature_layer="top_conv",
        )
    )
    def user_tiny(*, input_shape: tuple[int, int, int], name: str) -> keras.Model:
        x = keras.Input(input_shape)
        y = keras.layers.Conv2D(4, 3, name="stem_conv")(x)
        y = keras.layers.MaxPooling2D(name="stem_pool")(y)
        y = keras.layers.Conv2D(6, 3, name="top_conv")(y)
        return keras.Model(x, y, name=name)

    yield "user_tiny"
    unregister_backbone("user_tiny")


def test_user_registered_backbone_works_through_build_classifier(user_backbone: str) -> None:
    clf = build_classifier(user_backbone, 4)  # 28x28x1 -> auto size 28 >= 20, 3 channels
    assert clf.adapter.size == (28, 28) and clf.adapter.channels == 3
    assert clf.adapter.preprocessing == "torch"
    out = clf.predict(np.zeros((2, 28, 28, 1), "uint8"), verbose=0)
    assert out.shape == (2, 4)
    assert set(get_backbone_info(user_backbone).group_layers(clf.backbone)) == {"stem", "top"}
