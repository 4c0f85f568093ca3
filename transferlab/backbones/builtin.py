"""Imports every built-in backbone module so that each registers itself."""

from __future__ import annotations

from transferlab.backbones import (  # noqa: F401
    alexnet,
    efficientnet_b0,
    inception_v3,
    mobilenet_v2,
    resnet50_v2,
    vgg16,
)
