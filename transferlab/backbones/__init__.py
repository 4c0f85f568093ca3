"""Backbones: headless feature extractors, their registry and metadata."""

from transferlab.backbones.backbone_info import BackboneInfo, LayerGroup
from transferlab.backbones.registry import (
    create_backbone,
    get_backbone_info,
    list_backbones,
    register_backbone,
    unregister_backbone,
)

__all__ = [
    "BackboneInfo",
    "LayerGroup",
    "create_backbone",
    "get_backbone_info",
    "list_backbones",
    "register_backbone",
    "unregister_backbone",
]
