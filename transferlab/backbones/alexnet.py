"""AlexNet, redesigned so that it works on 28x28 digits as well as on large images.

The seed article's stack (96@7x7/2, pool 3/2, 256@5x5/2, pool 3/2, three 3x3
convs, pool 3/2) reaches a 1x1 map on a 28x28 input before its last convs.
This version keeps AlexNet's spirit — five convolutions of growing then
shrinking width, ReLU, three max-pools, a dense ``fc`` block with dropout on
top — and adapts only the stem stride to the input size:

============  ======================================  ==================
group         layers (width=1)                        map on 28x28
============  ======================================  ==================
``stem``      conv 32@5x5/s + BN + ReLU, max-pool 2   14x14x32
``block1``    conv 64@3x3 + BN + ReLU, max-pool 2     7x7x64
``block2``    conv 128@3x3 + BN + ReLU                7x7x128
``block3``    conv 128@3x3 + BN + ReLU                7x7x128
``block4``    conv 96@3x3 + BN + ReLU, max-pool 2     3x3x96
``fc``        flatten, dense 512 + ReLU, dropout (0)  512
============  ======================================  ==================

The stem stride ``s`` is 1 below 64 pixels, 2 below 128 and 4 from 128 on
(AlexNet's own stride at 224), so the flattened map stays small at any size:
about 42 MFLOP per 28x28 image forward, 0.9 M weights.

The minimum input is 16x16: three 2x2 pools leave a 2x2 map for the ``fc``
block; below that the last pool would leave 1x1 (or nothing), the failure
mode of the seed article's stack.

Note:
    The ``fc`` block flattens the last map, so its weights depend on the
    input size: weights saved from a 28x28 backbone load only into a 28x28
    one (a mismatch is reported as a ``WeightsError``, never a partial load).
"""

from __future__ import annotations

import keras

from transferlab.backbones.backbone_info import BackboneInfo, LayerGroup
from transferlab.backbones.registry import register_backbone
from transferlab.errors import ConfigError, describe

__all__ = ["alexnet"]

_CONVS = (  # (filters, kernel, pool after) for stem, block1 ... block4
    (32, 5, True),
    (64, 3, True),
    (128, 3, False),
    (128, 3, False),
    (96, 3, True),
)
_FC_UNITS = 512
_GROUPS = ("stem", "block1", "block2", "block3", "block4")


def _scaled(units: int, width: float) -> int:
    return max(1, int(round(units * width)))


def _stem_stride(height: int, width: int) -> int:
    side = min(height, width)
    return 1 if side < 64 else 2 if side < 128 else 4


@register_backbone(
    BackboneInfo(
        name="alexnet",
        default_input_size=(28, 28),
        min_input_size=(16, 16),
        channels=1,
        preprocessing="unit",
        groups=(
            LayerGroup("stem", "stem_pool"),
            LayerGroup("block1", "block1_pool"),
            LayerGroup("block2", "block2_relu"),
            LayerGroup("block3", "block3_relu"),
            LayerGroup("block4", "block4_pool"),
            LayerGroup("fc", "fc_dropout"),
        ),
        feature_layer="fc_dropout",
        description="AlexNet-style 5-conv net for small images (MNIST-sized and up), width multiplier",
    )
)
def alexnet(
    *,
    input_shape: tuple[int, int, int],
    name: str = "alexnet",
    width: float = 1.0,
    fc_units: int | None = None,
    dropout: float = 0.0,
    stem_stride: int | None = None,
    bn_momentum: float = 0.9,
) -> keras.Model:
    """Builds the AlexNet backbone with random weights.

    Args:
        input_shape: ``(height, width, channels)``, at least 16x16.
        name: The model's name.
        width: Multiplier on every layer's width (``0.125`` builds a tiny net
            for tests).
        fc_units: Units of the dense ``fc`` layer (default ``512 * width``).
        dropout: Dropout rate after the ``fc`` layer. 0 by default: a backbone
            is a deterministic feature extractor (so a frozen one can have its
            features cached); regularise with the classifier's ``dropout``.
        stem_stride: Stride of the first conv; ``None`` picks it from the
            input size (1 below 64 px, 2 below 128, else 4).
        bn_momentum: Momentum of the BatchNorm moving statistics. 0.9 (PyTorch's
            default) rather than Keras' 0.99: after a few hundred steps, as in a
            few-shot run, 0.99 leaves the statistics far from the data's
            (0.99**160 = 20 % of the initial value remains) and inference fails.

    Returns:
        A functional ``keras.Model`` from images to ``(batch, fc_units)`` features.

    Raises:
        ConfigError: For a non-positive ``width``/``fc_units`` or a dropout
            outside [0, 1).

    Example:
        >>> model = alexnet(input_shape=(28, 28, 1), width=0.125)
        >>> model.output_shape
        (None, 64)
    """
    if not width > 0:
        raise ConfigError(
            describe("`width` must be positive", received=f"width={width!r}", fix="pass e.g. width=0.5")
        )
    if fc_units is not None and fc_units < 1:
        raise ConfigError(describe("`fc_units` must be at least 1", received=f"fc_units={fc_units!r}"))
    if not 0.0 <= dropout < 1.0:
        raise ConfigError(describe("`dropout` must be in [0, 1)", received=f"dropout={dropout!r}"))
    if not 0.0 <= bn_momentum < 1.0:
        raise ConfigError(
            describe("`bn_momentum` must be in [0, 1)", received=f"bn_momentum={bn_momentum!r}")
        )
    height, wide, _ = input_shape
    stride = stem_stride if stem_stride is not None else _stem_stride(height, wide)

    # Layers and graph.
    inputs = keras.Input(shape=tuple(input_shape), name="images")
    x = inputs
    for index, ((filters, kernel, pool), group) in enumerate(zip(_CONVS, _GROUPS)):
        x = keras.layers.Conv2D(
            _scaled(filters, width),
            kernel,
            strides=stride if index == 0 else 1,
            padding="same",
            use_bias=False,
            name=f"{group}_conv",
        )(x)
        x = keras.layers.BatchNormalization(momentum=bn_momentum, name=f"{group}_bn")(x)
        x = keras.layers.ReLU(name=f"{group}_relu")(x)
        if pool:
            x = keras.layers.MaxPooling2D(2, name=f"{group}_pool")(x)
    x = keras.layers.Flatten(name="fc_flatten")(x)
    x = keras.layers.Dense(fc_units or _scaled(_FC_UNITS, width), name="fc_dense")(x)
    x = keras.layers.ReLU(name="fc_relu")(x)
    x = keras.layers.Dropout(dropout, name="fc_dropout")(x)
    return keras.Model(inputs, x, name=name)
