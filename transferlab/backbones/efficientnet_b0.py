"""EfficientNetB0 from ``keras.applications``, headless, as a registered backbone."""

from __future__ import annotations

import keras

from transferlab.backbones.backbone_info import BackboneInfo, LayerGroup
from transferlab.backbones.registry import register_backbone

__all__ = ["efficientnet_b0"]


@register_backbone(
    BackboneInfo(
        name="efficientnet_b0",
        default_input_size=(224, 224),
        min_input_size=(32, 32),
        channels=3,
        preprocessing="none",
        groups=(
            LayerGroup("stem", "stem_activation"),
            LayerGroup("block1", "block1a_project_bn"),
            LayerGroup("block2", "block2b_add"),
            LayerGroup("block3", "block3b_add"),
            LayerGroup("block4", "block4c_add"),
            LayerGroup("block5", "block5c_add"),
            LayerGroup("block6", "block6d_add"),
            LayerGroup("block7", "top_activation"),
        ),
        feature_layer="top_activation",
        imagenet_weights=True,
        imagenet_file="efficientnetb0_notop.h5",
        imagenet_url="https://storage.googleapis.com/keras-applications/efficientnetb0_notop.h5",
        imagenet_hash="50bc09e76180e00e4465e1a485ddc09d",
        description="EfficientNetB0 (keras.applications), rescales inside, 4.0 M weights",
    )
)
def efficientnet_b0(*, input_shape: tuple[int, int, int], name: str = "efficientnet_b0") -> keras.Model:
    """Builds headless EfficientNetB0 with random weights.

    It takes pixels in [0, 255] (preprocessing ``"none"``): the model
    rescales and normalises inside. ``block7`` also holds the top 1x1 conv.

    Args:
        input_shape: ``(height, width, channels)``, at least 32x32.
        name: The model's name.

    Returns:
        ``keras.applications.EfficientNetB0(include_top=False, weights=None)``.
    """
    return keras.applications.EfficientNetB0(
        include_top=False, weights=None, input_shape=tuple(input_shape), name=name
    )
