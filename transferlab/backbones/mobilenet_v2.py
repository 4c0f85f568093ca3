"""MobileNetV2 from ``keras.applications``, headless, as a registered backbone."""

from __future__ import annotations

import keras

from transferlab.backbones.backbone_info import BackboneInfo, LayerGroup
from transferlab.backbones.registry import register_backbone
from transferlab.errors import ConfigError, describe

__all__ = ["mobilenet_v2"]

_ALPHAS = (0.35, 0.5, 0.75, 1.0, 1.3, 1.4)


@register_backbone(
    BackboneInfo(
        name="mobilenet_v2",
        default_input_size=(224, 224),
        min_input_size=(32, 32),
        channels=3,
        preprocessing="tf",
        groups=(
            LayerGroup("stem", "expanded_conv_project_BN"),
            LayerGroup("block1", "block_2_add"),
            LayerGroup("block2", "block_5_add"),
            LayerGroup("block3", "block_9_add"),
            LayerGroup("block4", "block_12_add"),
            LayerGroup("block5", "block_15_add"),
            LayerGroup("block6", "out_relu"),
        ),
        feature_layer="out_relu",
        imagenet_weights=True,
        imagenet_file="mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224_no_top.h5",
        imagenet_url=(
            "https://storage.googleapis.com/tensorflow/keras-applications/mobilenet_v2/"
            "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224_no_top.h5"
        ),
        imagenet_hash=None,  # Keras publishes no hash for this file.
        description="MobileNetV2 (keras.applications), alpha width multiplier, 2.3 M weights",
    )
)
def mobilenet_v2(
    *, input_shape: tuple[int, int, int], name: str = "mobilenet_v2", alpha: float = 1.0
) -> keras.Model:
    """Builds headless MobileNetV2 with random weights.

    Groups follow the resolution stages (16, 24, 32, 64, 96, 160 channels);
    ``block6`` holds the 320-channel block and the final 1x1 conv.

    Args:
        input_shape: ``(height, width, channels)``, at least 32x32.
        name: The model's name.
        alpha: Width multiplier; ImageNet weights exist for ``alpha=1.0`` only.

    Returns:
        ``keras.applications.MobileNetV2(include_top=False, weights=None)``.

    Example:
        >>> mobilenet_v2(input_shape=(32, 32, 3), alpha=0.35).output_shape
        (None, 1, 1, 1280)
    """
    if alpha not in _ALPHAS:
        raise ConfigError(
            describe(
                "Unknown MobileNetV2 `alpha`",
                received=f"alpha={alpha!r}",
                accepted=", ".join(map(str, _ALPHAS)),
            )
        )
    return keras.applications.MobileNetV2(
        include_top=False, weights=None, input_shape=tuple(input_shape), alpha=alpha, name=name
    )
