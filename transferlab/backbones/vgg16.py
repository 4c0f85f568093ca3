"""VGG16 from ``keras.applications``, headless, as a registered backbone."""

from __future__ import annotations

import keras

from transferlab.backbones.backbone_info import BackboneInfo, LayerGroup
from transferlab.backbones.registry import register_backbone

__all__ = ["vgg16"]


@register_backbone(
    BackboneInfo(
        name="vgg16",
        default_input_size=(224, 224),
        min_input_size=(32, 32),
        channels=3,
        preprocessing="caffe",
        groups=tuple(LayerGroup(f"block{i}", f"block{i}_pool") for i in range(1, 6)),
        feature_layer="block5_pool",
        imagenet_weights=True,
        imagenet_file="vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5",
        imagenet_url=(
            "https://storage.googleapis.com/tensorflow/keras-applications/vgg16/"
            "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5"
        ),
        imagenet_hash="6d6bbae143d832006294945121d1f1fc",
        description="VGG16 (keras.applications), 13 convs in 5 blocks, 14.7 M weights",
    )
)
def vgg16(*, input_shape: tuple[int, int, int], name: str = "vgg16") -> keras.Model:
    """Builds headless VGG16 with random weights.

    Args:
        input_shape: ``(height, width, channels)``, at least 32x32.
        name: The model's name.

    Returns:
        ``keras.applications.VGG16(include_top=False, weights=None)``.

    Example:
        >>> vgg16(input_shape=(32, 32, 3)).output_shape
        (None, 1, 1, 512)
    """
    return keras.applications.VGG16(
        include_top=False, weights=None, input_shape=tuple(input_shape), name=name
    )
