"""The metadata record every registered backbone carries."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Literal

from transferlab.errors import BackboneError, describe

if TYPE_CHECKING:  # pragma: no cover
    import keras

__all__ = ["BackboneInfo", "LayerGroup", "PreprocessingMode"]

PreprocessingMode = Literal["unit", "caffe", "tf", "torch", "none"]
"""How a backbone expects its pixels, given raw values in [0, 255].

- ``"unit"``: scaled to [0, 1].
- ``"caffe"``: RGB to BGR, then the ImageNet channel means subtracted (VGG16, ResNet50).
- ``"tf"``: scaled to [-1, 1] (InceptionV3, MobileNetV2, ResNet50V2).
- ``"torch"``: scaled to [0, 1], then normalised by the ImageNet mean and std.
- ``"none"``: left in [0, 255] (EfficientNet rescales inside the model).
"""

PREPROCESSING_MODES: tuple[str, ...] = ("unit", "caffe", "tf", "torch", "none")


@dataclasses.dataclass(frozen=True)
class LayerGroup:
    """One named group of a backbone's layers, the unit of layer-wise fine-tuning.

    Groups partition the backbone's layers in their topological order
    (``model.layers``): a group holds every layer after the previous group's
    ``last_layer`` up to and including its own ``last_layer``.

    Attributes:
        name: The group's name, e.g. ``"stem"``, ``"block3"``, ``"mixed7"``.
        last_layer: Name of the group's last layer in ``model.layers`` order.
    """

    name: str
    last_layer: str


@dataclasses.dataclass(frozen=True)
class BackboneInfo:
    """What generic code needs to know about a backbone.

    Adaptation, strategies, the Trainer and the CLI read this record; nothing
    downstream special-cases a backbone by its name.

    Attributes:
        name: Registry name, lower case (``"vgg16"``).
        default_input_size: ``(height, width)`` the backbone was designed for.
        min_input_size: Smallest ``(height, width)`` it builds on.
        channels: Channels it expects by default (ImageNet weights need 3).
        preprocessing: One of :data:`PreprocessingMode`.
        groups: Named layer groups, bottom (input side) to top.
        feature_layer: Name of the layer whose output is the feature map.
        imagenet_weights: Whether ``weights="imagenet"`` is available.
        imagenet_file: File name of the no-top ImageNet weights in the Keras
            cache (``$KERAS_HOME/models/``), or ``None``.
        imagenet_url: Where Keras downloads that file from, or ``None``.
        imagenet_hash: The file's published hash (md5 or sha256), or ``None``.
        description: One line for listings.

    Example:
        >>> info = BackboneInfo(
        ...     name="tiny", default_input_size=(28, 28), min_input_size=(8, 8),
        ...     channels=1, preprocessing="unit",
        ...     groups=(LayerGroup("block1", "b1_pool"), LayerGroup("block2", "b2_pool")),
        ...     feature_layer="b2_pool")
        >>> info.group_names
        ('block1', 'block2')
    """

    name: str
    default_input_size: tuple[int, int]
    min_input_size: tuple[int, int]
    channels: int
    preprocessing: PreprocessingMode
    groups: tuple[LayerGroup, ...]
    feature_layer: str
    imagenet_weights: bool = False
    imagenet_file: str | None = None
    imagenet_url: str | None = None
    imagenet_hash: str | None = None
    description: str = ""

    def __post_init__(self) -> None:
        if not re.fullmatch(r"[a-z0-9_]+", self.name):
            raise BackboneError(
                describe(
                    "A backbone name must be lower-case letters, digits and '_'",
                    received=f"name={self.name!r}",
                    fix="rename it, e.g. 'my_net'",
                )
            )
        if self.preprocessing not in PREPROCESSING_MODES:
            raise BackboneError(
                describe(
                    f"Backbone {self.name!r} declares an unknown preprocessing mode",
                    received=f"preprocessing={self.preprocessing!r}",
                    accepted=", ".join(map(repr, PREPROCESSING_MODES)),
                )
            )
        if not self.groups:
            raise BackboneError(
                describe(
                    f"Backbone {self.name!r} declares no layer groups",
                    fix="list its groups, bottom to top, as LayerGroup(name, last_layer)",
                )
            )
        names = [g.name for g in self.groups]
        if len(set(names)) != len(names):
            raise BackboneError(
                describe(
                    f"Backbone {self.name!r} declares a layer group twice",
                    received=f"groups={names}",
                )
            )
        for size_name in ("default_input_size", "min_input_size"):
            size = getattr(self, size_name)
            if len(size) != 2 or min(size) < 1:
                raise BackboneError(
                    describe(
                        f"`{size_name}` of backbone {self.name!r} must be (height, width)",
                        received=f"{size_name}={size!r}",
                    )
                )

    def to_config(self) -> dict[str, object]:
        """The record as plain JSON values (a saved :class:`Classifier` keeps it).

        Example:
            >>> info = BackboneInfo(name="tiny", default_input_size=(8, 8), min_input_size=(8, 8),
            ...     channels=1, preprocessing="unit", groups=(LayerGroup("a", "x"),), feature_layer="x")
            >>> BackboneInfo.from_config(info.to_config()) == info
            True
        """
        config = dataclasses.asdict(self)
        config["default_input_size"] = list(self.default_input_size)
        config["min_input_size"] = list(self.min_input_size)
        config["groups"] = [[g.name, g.last_layer] for g in self.groups]
        return config

    @classmethod
    def from_config(cls, config: Mapping[str, object]) -> BackboneInfo:
        """The record :meth:`to_config` wrote.

        Raises:
            BackboneError: For a config that is not such a record.
        """
        values = dict(config)
        try:
            values["default_input_size"] = _pair(values["default_input_size"])
            values["min_input_size"] = _pair(values["min_input_size"])
            groups = values["groups"]
            if not isinstance(groups, (list, tuple)):
                raise TypeError(groups)
            values["groups"] = tuple(LayerGroup(str(name), str(last)) for name, last in groups)
            return cls(**values)  # type: ignore[arg-type]
        except (KeyError, TypeError, ValueError) as error:
            if isinstance(error, BackboneError):
                raise
            raise BackboneError(
                describe(
                    "Not a BackboneInfo record",
                    received=f"{sorted(values)} ({type(error).__name__}: {error})",
                    fix="pass the dict BackboneInfo.to_config() returned",
                )
            ) from None

    @property
    def group_names(self) -> tuple[str, ...]:
        """The group names, bottom to top."""
        return tuple(g.name for g in self.groups)

    def group_layers(self, backbone: keras.Model) -> dict[str, list[keras.layers.Layer]]:
        """Assigns every layer of ``backbone`` to its group.

        Args:
            backbone: A model built by this backbone's builder.

        Returns:
            ``{group name: [layers]}`` in group order (bottom to top). Input
            layers are skipped.

        Raises:
            BackboneError: If a group's ``last_layer`` is missing from the model
                or layers are left after the last group.
        """
        layers = [layer for layer in backbone.layers if type(layer).__name__ != "InputLayer"]
        result: dict[str, list[keras.layers.Layer]] = {g.name: [] for g in self.groups}
        index = 0
        for group in self.groups:
            while index < len(layers):
                layer = layers[index]
                result[group.name].append(layer)
                index += 1
                if layer.name == group.last_layer:
                    break
            else:
                raise BackboneError(
                    describe(
                        f"Layer group {group.name!r} of backbone {self.name!r} ends at a "
                        "layer the model does not have (or has before the previous group's end)",
                        received=f"last_layer={group.last_layer!r}",
                        fix="check the names in the backbone's LayerGroup list against model.layers",
                    )
                )
        if index < len(layers):
            left = [layer.name for layer in layers[index:]]
            raise BackboneError(
                describe(
                    f"Backbone {self.name!r} has layers after its last group",
                    received=f"{left[:5]}{' ...' if len(left) > 5 else ''}",
                    fix="end the last LayerGroup at the model's last layer",
                )
            )
        return result

    def validate_input_shape(self, input_shape: Sequence[int | None]) -> None:
        """Checks an ``(height, width, channels)`` shape against the minimum size.

        Raises:
            InputShapeError: If it is not 3-D or smaller than ``min_input_size``.

        Example:
            >>> info = BackboneInfo(name="tiny", default_input_size=(32, 32),
            ...     min_input_size=(32, 32), channels=3, preprocessing="unit",
            ...     groups=(LayerGroup("block1", "x"),), feature_layer="x")
            >>> info.validate_input_shape((28, 28, 3))
            Traceback (most recent call last):
            ...
            transferlab.errors.InputShapeError: Backbone 'tiny' needs inputs of at least 32x32. Received: input_shape=(28, 28, 3). Fix: resize the images (the classifier builder's input adaptation does it: `input_size=(32, 32)`), or pick a backbone with a smaller minimum.
        """
        from transferlab.errors import InputShapeError

        shape = tuple(input_shape)
        if len(shape) != 3:
            raise InputShapeError(
                describe(
                    f"Backbone {self.name!r} takes inputs of shape (height, width, channels)",
                    received=f"input_shape={shape!r}",
                    fix="pass a 3-tuple, e.g. (32, 32, 3)",
                )
            )
        height, width, _ = shape
        min_h, min_w = self.min_input_size
        if (height is not None and height < min_h) or (width is not None and width < min_w):
            raise InputShapeError(
                describe(
                    f"Backbone {self.name!r} needs inputs of at least {min_h}x{min_w}",
                    received=f"input_shape={shape!r}",
                    fix=(
                        "resize the images (the classifier builder's input adaptation does "
                        f"it: `input_size=({min_h}, {min_w})`), or pick a backbone with a "
                        "smaller minimum"
                    ),
                )
            )


def _pair(value: object) -> tuple[int, int]:
    if not isinstance(value, (list, tuple)) or len(value) != 2:
        raise TypeError(f"expected (height, width), got {value!r}")
    return (int(value[0]), int(value[1]))
