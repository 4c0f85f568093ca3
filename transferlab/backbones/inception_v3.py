"""InceptionV3 from ``keras.applications``, headless, as a registered backbone."""

from __future__ import annotations

import keras

from transferlab.backbones.backbone_info import BackboneInfo, LayerGroup
from transferlab.backbones.registry import register_backbone

__all__ = ["inception_v3"]

_STEM_END = "stem_pool"


@register_backbone(
    BackboneInfo(
        name="inception_v3",
        default_input_size=(299, 299),
        min_input_size=(75, 75),
        channels=3,
        preprocessing="tf",
        groups=(
            LayerGroup("stem", _STEM_END),
            *(LayerGroup(f"mixed{i}", f"mixed{i}") for i in range(11)),
        ),
        feature_layer="mixed10",
        imagenet_weights=True,
        imagenet_file="inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5",
        imagenet_url=(
            "https://storage.googleapis.com/tensorflow/keras-applications/inception_v3/"
            "inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5"
        ),
        imagenet_hash="bcbd6486424b2319ff4ef7d526e38f63",
        description="InceptionV3 (keras.applications), stem + 11 mixed blocks, 21.8 M weights",
    )
)
def inception_v3(*, input_shape: tuple[int, int, int], name: str = "inception_v3") -> keras.Model:
    """Builds headless InceptionV3 with random weights.

    Keras names the stem's layers automatically (``max_pooling2d_1`` in a
    fresh process, another number later), so the stem's last layer (the
    max-pool before ``mixed0``) is renamed ``stem_pool`` to give the ``stem``
    group a stable end.

    Args:
        input_shape: ``(height, width, channels)``, at least 75x75.
        name: The model's name.

    Returns:
        ``keras.applications.InceptionV3(include_top=False, weights=None)``.

    Example:
        >>> model = inception_v3(input_shape=(75, 75, 3))
        >>> model.output_shape, model.get_layer("stem_pool").output.shape
        ((None, 1, 1, 2048), (None, 7, 7, 192))
    """
    model = keras.applications.InceptionV3(
        include_top=False, weights=None, input_shape=tuple(input_shape), name=name
    )
    names = [layer.name for layer in model.layers]
    before_mixed0 = model.layers[: names.index("mixed0")]
    stem_pool = [layer for layer in before_mixed0 if isinstance(layer, keras.layers.MaxPooling2D)][-1]
    stem_pool.name = _STEM_END
    return model
