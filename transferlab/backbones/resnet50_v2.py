"""ResNet50V2 from ``keras.applications``, headless, as a registered backbone."""

from __future__ import annotations

import keras

from transferlab.backbones.backbone_info import BackboneInfo, LayerGroup
from transferlab.backbones.registry import register_backbone

__all__ = ["resnet50_v2"]


@register_backbone(
    BackboneInfo(
        name="resnet50_v2",
        default_input_size=(224, 224),
        min_input_size=(32, 32),
        channels=3,
        preprocessing="tf",
        groups=(
            LayerGroup("stem", "pool1_pool"),
            LayerGroup("conv2", "conv2_block3_out"),
            LayerGroup("conv3", "conv3_block4_out"),
            LayerGroup("conv4", "conv4_block6_out"),
            LayerGroup("conv5", "post_relu"),
        ),
        feature_layer="post_relu",
        imagenet_weights=True,
        imagenet_file="resnet50v2_weights_tf_dim_ordering_tf_kernels_notop.h5",
        imagenet_url=(
            "https://storage.googleapis.com/tensorflow/keras-applications/resnet/"
            "resnet50v2_weights_tf_dim_ordering_tf_kernels_notop.h5"
        ),
        imagenet_hash="fac2f116257151a9d068a22e544a4917",
        description="ResNet50V2 (keras.applications), stem + 4 stages, 23.6 M weights",
    )
)
def resnet50_v2(*, input_shape: tuple[int, int, int], name: str = "resnet50_v2") -> keras.Model:
    """Builds headless ResNet50V2 with random weights.

    The groups are Keras' stages (``conv2`` ... ``conv5``); ``conv5`` also
    holds the final ``post_bn``/``post_relu``.

    Args:
        input_shape: ``(height, width, channels)``, at least 32x32.
        name: The model's name.

    Returns:
        ``keras.applications.ResNet50V2(include_top=False, weights=None)``.
    """
    return keras.applications.ResNet50V2(
        include_top=False, weights=None, input_shape=tuple(input_shape), name=name
    )
