"""Any built Keras model as a backbone: its layer groups and metadata, inferred or given.

:func:`~transferlab.backbones.build_classifier` calls :func:`model_backbone_info`
when it receives a ``keras.Model`` instead of a registered name.

Groups are found in this order:

1. ``groups=`` given explicitly (``LayerGroup``s, or ``{name: last layer}``);
2. block or stage names, as ``keras.applications`` writes them: a run of
   layers sharing a prefix (``block1_conv1`` ... in VGG, ``block2a_...`` in
   EfficientNet, ``conv3_block1_...`` in ResNet/DenseNet, ``block_4_...`` in
   MobileNetV2) is a group, layers before the first run form ``stem``, layers
   after a run join it; or end markers (``mixed0`` ... in InceptionV3), each
   ending a group;
3. downsampling: a group ends at every layer whose output is spatially
   smaller than its input (a pooling or strided layer) or that flattens the
   map; the groups are ``stage1``, ``stage2`` ...
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import cast

import keras

from transferlab.backbones.backbone_info import (
    PREPROCESSING_MODES,
    BackboneInfo,
    LayerGroup,
    PreprocessingMode,
)
from transferlab.errors import BackboneError, describe

__all__ = ["infer_groups", "model_backbone_info"]

# (pattern on a layer name, how the match names its group): runs of layers sharing a prefix.
_PREFIXES: tuple[tuple[re.Pattern[str], Callable[[re.Match[str]], str]], ...] = (
    (re.compile(r"^(conv\d+)_block\d+_"), lambda m: m.group(1)),  # ResNet, DenseNet stages
    (re.compile(r"^(block\d+)[a-z]?_"), lambda m: m.group(1)),  # VGG, Xception, EfficientNet
    (re.compile(r"^block_(\d+)_"), lambda m: f"block{m.group(1)}"),  # MobileNetV2 blocks
)
_END_MARKERS = (re.compile(r"^mixed\d+$"),)  # InceptionV3 / InceptionResNet ends of blocks

# Model name prefix -> preprocessing, for keras.applications models (checked in order).
_PREPROCESSING_BY_NAME: tuple[tuple[str, PreprocessingMode], ...] = (
    ("resnet50v2", "tf"),
    ("resnet101v2", "tf"),
    ("resnet152v2", "tf"),
    ("resnet", "caffe"),
    ("vgg", "caffe"),
    ("mobilenet", "tf"),
    ("inception", "tf"),
    ("xception", "tf"),
    ("nasnet", "tf"),
    ("densenet", "torch"),
    ("efficientnet", "none"),
    ("convnext", "none"),
    ("regnet", "none"),
)


def _layers(model: keras.Model) -> list[keras.layers.Layer]:
    return [layer for layer in model.layers if type(layer).__name__ != "InputLayer"]


def _by_prefix(names: list[str]) -> tuple[LayerGroup, ...] | None:
    for pattern, group_of in _PREFIXES:
        keys = [group_of(m) if (m := pattern.match(name)) else None for name in names]
        if sum(k is not None for k in keys) == 0:
            continue
        order: list[str] = []
        last: dict[str, str] = {}
        current = "stem"
        contiguous = True
        for name, key in zip(names, keys):
            if key is not None and key != current:
                if key in last:  # a group that comes back after another: not stages
                    contiguous = False
                    break
                current = key
            if current not in last:
                order.append(current)
            last[current] = name
        if contiguous and len(order) >= 2:
            return tuple(LayerGroup(group, last[group]) for group in order)
    return None


def _by_end_markers(names: list[str]) -> tuple[LayerGroup, ...] | None:
    for pattern in _END_MARKERS:
        ends = [i for i, name in enumerate(names) if pattern.match(name)]
        if not ends:
            continue
        groups = []
        if ends[0] > 0:
            groups.append(LayerGroup("stem", names[ends[0] - 1]))
        groups.extend(LayerGroup(names[i], names[i]) for i in ends)
        if ends[-1] < len(names) - 1:
            groups.append(LayerGroup("top", names[-1]))
        if len(groups) >= 2:
            return tuple(groups)
    return None


def _spatial(shape: object) -> tuple[object, ...] | None:
    if isinstance(shape, tuple) and len(shape) == 4:
        return tuple(shape[1:3])
    return None


def _downsamples(layer: keras.layers.Layer) -> bool:
    try:
        inputs = layer.input
        output = layer.output
    except (AttributeError, ValueError):  # a layer used more than once
        return False
    if isinstance(inputs, (list, tuple)) or isinstance(output, (list, tuple)):
        return False
    before, after = _spatial(tuple(inputs.shape)), _spatial(tuple(output.shape))
    if before is None:
        return False
    if after is None:
        return True  # flattened or globally pooled
    return any(isinstance(b, int) and isinstance(a, int) and a < b for a, b in zip(after, before))


def _by_downsampling(layers: list[keras.layers.Layer]) -> tuple[LayerGroup, ...]:
    ends = [i for i, layer in enumerate(layers) if _downsamples(layer)]
    if not ends or ends[-1] != len(layers) - 1:
        ends.append(len(layers) - 1)
    return tuple(LayerGroup(f"stage{n}", layers[i].name) for n, i in enumerate(ends, start=1))


def infer_groups(model: keras.Model) -> tuple[LayerGroup, ...]:
    """The layer groups of a Keras model, bottom to top, from its layer names or its downsampling.

    Args:
        model: A built functional ``keras.Model`` (e.g. from ``keras.applications``).

    Returns:
        The groups, which partition the model's layers in ``model.layers`` order.

    Raises:
        BackboneError: For a model without layers.

    Example:
        >>> import keras
        >>> x = keras.Input((16, 16, 3))
        >>> y = keras.layers.Conv2D(4, 3, padding="same", name="c1")(x)
        >>> y = keras.layers.MaxPooling2D(name="p1")(y)
        >>> y = keras.layers.Conv2D(8, 3, padding="same", name="c2")(y)
        >>> y = keras.layers.MaxPooling2D(name="p2")(y)
        >>> y = keras.layers.Conv2D(8, 1, name="c3")(y)
        >>> [(g.name, g.last_layer) for g in infer_groups(keras.Model(x, y))]
        [('stage1', 'p1'), ('stage2', 'p2'), ('stage3', 'c3')]
    """
    layers = _layers(model)
    if not layers:
        raise BackboneError(
            describe(
                "A backbone model needs at least one layer",
                received=f"model {model.name!r} with no layers",
            )
        )
    names = [layer.name for layer in layers]
    return _by_end_markers(names) or _by_prefix(names) or _by_downsampling(layers)


def _explicit_groups(groups: Sequence[LayerGroup] | Mapping[str, str]) -> tuple[LayerGroup, ...]:
    if isinstance(groups, Mapping):
        return tuple(LayerGroup(str(name), str(last)) for name, last in groups.items())
    result = tuple(groups)
    bad = [g for g in result if not isinstance(g, LayerGroup)]
    if bad:
        raise BackboneError(
            describe(
                "`groups` must be LayerGroup records or a {group name: last layer name} mapping",
                received=f"groups={groups!r}",
                fix='pass e.g. groups={"low": "block2_pool", "high": "block5_pool"}',
            )
        )
    return result


def _safe_name(name: str) -> str:
    safe = re.sub(r"[^a-z0-9_]+", "_", name.lower()).strip("_")
    return safe or "custom"


def _preprocessing_for(name: str) -> PreprocessingMode:
    key = name.lower()
    for prefix, mode in _PREPROCESSING_BY_NAME:
        if key.startswith(prefix):
            return mode
    return "unit"


def model_backbone_info(
    model: keras.Model,
    *,
    groups: Sequence[LayerGroup] | Mapping[str, str] | None = None,
    preprocessing: str | None = None,
) -> BackboneInfo:
    """The :class:`BackboneInfo` of a built Keras model used as a backbone.

    Input size and channels come from the model's input shape; the
    preprocessing from the name of a ``keras.applications`` model (e.g.
    ``"tf"`` for MobileNetV2, ``"caffe"`` for VGG16), else ``"unit"`` (pixels
    scaled to [0, 1]); the groups from :func:`infer_groups` unless given.

    Args:
        model: A built functional ``keras.Model`` taking images
            ``(batch, height, width, channels)`` of a fixed size.
        groups: Explicit layer groups, bottom to top.
        preprocessing: One of ``"unit"``, ``"caffe"``, ``"tf"``, ``"torch"``,
            ``"none"`` (``None``: inferred).

    Returns:
        The record (named after the model, lower case).

    Raises:
        BackboneError: For a model that is not a built single-input image
            model of fixed size, or groups that do not fit its layers.

    Example:
        >>> import keras
        >>> net = keras.applications.VGG16(weights=None, include_top=False, input_shape=(32, 32, 3))
        >>> info = model_backbone_info(net)
        >>> info.name, info.default_input_size, info.preprocessing, info.group_names
        ('vgg16', (32, 32), 'caffe', ('block1', 'block2', 'block3', 'block4', 'block5'))
    """
    if not isinstance(model, keras.Model) or not model.built or len(model.inputs or []) != 1:
        raise BackboneError(
            describe(
                "A backbone model must be a built keras.Model with one image input",
                received=f"{type(model).__name__}",
                fix="build it with a keras.Input((height, width, channels)) (functional API), "
                "e.g. keras.applications.MobileNetV2(weights=None, include_top=False, "
                "input_shape=(32, 32, 3))",
            )
        )
    shape = tuple(model.inputs[0].shape)
    if len(shape) != 4 or not all(isinstance(d, int) and d > 0 for d in shape[1:]):
        raise BackboneError(
            describe(
                f"Backbone model {model.name!r} must take images of a fixed size",
                received=f"input shape {shape!r}",
                fix="build it with a fixed input_shape=(height, width, channels)",
            )
        )
    height, width, channels = (cast(int, d) for d in shape[1:])
    mode = _preprocessing_for(model.name) if preprocessing is None else preprocessing
    if mode not in PREPROCESSING_MODES:
        raise BackboneError(
            describe(
                "Unknown preprocessing mode",
                received=f"preprocessing={preprocessing!r}",
                accepted=", ".join(map(repr, PREPROCESSING_MODES)),
            )
        )
    found = infer_groups(model) if groups is None else _explicit_groups(groups)
    layers = _layers(model)
    info = BackboneInfo(
        name=_safe_name(model.name),
        default_input_size=(height, width),
        min_input_size=(height, width),
        channels=channels,
        preprocessing=cast(PreprocessingMode, mode),
        groups=found,
        feature_layer=layers[-1].name if layers else "",
        description=f"the Keras model {model.name!r}",
    )
    info.group_layers(model)  # groups that do not fit: a BackboneError now, not at training time
    return info
