"""Backbones: headless feature extractors, their registry and metadata, the Classifier."""

from transferlab.backbones.backbone_info import BackboneInfo, LayerGroup
from transferlab.backbones.backbone_weights import (
    check_weights_fit,
    imagenet_cache_path,
    load_backbone_weights,
    save_backbone,
)
from transferlab.backbones.classifier import Classifier, build_classifier
from transferlab.backbones.cosine_classifier import CosineClassifier
from transferlab.backbones.registry import (
    create_backbone,
    get_backbone_info,
    list_backbones,
    register_backbone,
    unregister_backbone,
)

__all__ = [
    "BackboneInfo",
    "Classifier",
    "CosineClassifier",
    "LayerGroup",
    "build_classifier",
    "check_weights_fit",
    "create_backbone",
    "get_backbone_info",
    "imagenet_cache_path",
    "list_backbones",
    "load_backbone_weights",
    "register_backbone",
    "save_backbone",
    "unregister_backbone",
]
