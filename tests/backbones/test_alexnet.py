"""The AlexNet design: sizes, width, stem stride, FLOPs."""

from __future__ import annotations

import pytest

from transferlab.backbones import create_backbone
from transferlab.errors import ConfigError, InputShapeError


def conv_flops(model: object) -> int:
    total = 0
    for layer in model.layers:  # type: ignore[attr-defined]
        if layer.__class__.__name__ == "Conv2D":
            kh, kw, cin, cout = layer.kernel.shape
            _, h, w, _ = layer.output.shape
            total += 2 * h * w * kh * kw * cin * cout
        elif layer.__class__.__name__ == "Dense":
            total += 2 * layer.kernel.shape[0] * layer.kernel.shape[1]
    return total


def test_default_alexnet_on_mnist_is_small_and_keeps_a_3x3_map() -> None:
    model = create_backbone("alexnet")
    assert model.input_shape == (None, 28, 28, 1)
    assert model.get_layer("block4_pool").output.shape == (None, 3, 3, 96)
    assert model.output_shape == (None, 512)
    assert 35e6 < conv_flops(model) < 55e6  # about 42 MFLOP forward
    assert model.count_params() < 1.2e6


@pytest.mark.parametrize(("size", "last_map"), [(16, 2), (28, 3), (64, 4), (224, 7)])
def test_stem_stride_keeps_the_last_map_small(size: int, last_map: int) -> None:
    model = create_backbone("alexnet", input_shape=(size, size, 3), width=0.125)
    assert model.get_layer("block4_pool").output.shape[1:3] == (last_map, last_map)


def test_width_and_options() -> None:
    tiny = create_backbone("alexnet", width=0.125, fc_units=32, dropout=0.0)
    assert tiny.get_layer("stem_conv").filters == 4 and tiny.output_shape == (None, 32)
    with pytest.raises(ConfigError, match="`width` must be positive. Received: width=-1"):
        create_backbone("alexnet", width=-1)
    with pytest.raises(ConfigError, match=r"`dropout` must be in \[0, 1\)"):
        create_backbone("alexnet", dropout=1.5)
    with pytest.raises(ConfigError, match="`fc_units` must be at least 1"):
        create_backbone("alexnet", fc_units=0)
    with pytest.raises(InputShapeError, match="needs inputs of at least 16x16"):
        create_backbone("alexnet", input_shape=(15, 15, 1))


def test_batchnorm_momentum_defaults_to_0_9_and_is_checked():
    from transferlab.backbones.alexnet import alexnet
    from transferlab.errors import ConfigError

    model = alexnet(input_shape=(28, 28, 1), width=0.125)
    assert {layer.momentum for layer in model.layers if "bn" in layer.name} == {0.9}
    with pytest.raises(ConfigError, match=r"`bn_momentum` must be in \[0, 1\)"):
        alexnet(input_shape=(28, 28, 1), width=0.125, bn_momentum=1.0)
