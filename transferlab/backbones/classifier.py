"""A backbone with an input adapter and a classification head, and its builder."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import Any

import keras

from transferlab._keras_compat import flatten_layers
from transferlab.backbones.backbone_info import BackboneInfo
from transferlab.backbones.registry import create_backbone, get_backbone_info
from transferlab.data.input_adapter import InputAdapter
from transferlab.errors import ConfigError, describe

__all__ = ["Classifier", "build_classifier"]

_POOLINGS = ("avg", "max", "flatten")
_ACTIVATIONS = ("softmax", None)
_PRECISIONS = {"float32": "float32", "bfloat16": "mixed_bfloat16", "float16": "mixed_float16"}


@contextlib.contextmanager
def _dtype_policy(policy: str) -> Iterator[None]:
    """Sets the global dtype policy for a build and always restores it.

    ``keras.applications`` builders read only the global policy.
    """
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(policy)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


@keras.saving.register_keras_serializable(package="transferlab")
class Classifier(keras.Model):
    """Raw images -> :class:`InputAdapter` -> backbone -> pooling -> head.

    A functional ``keras.Model`` (keras-hub's Task pattern): built from its
    parts, it saves to and loads from ``.keras`` with its trainable flags.
    Build one with :func:`build_classifier`.

    Args:
        backbone: A backbone built by ``create_backbone(backbone_name, ...)``.
        backbone_name: Its registry name (for :attr:`backbone_info`).
        num_classes: Number of outputs of the head.
        input_shape: Shape of one raw image, ``(height, width, channels)``
            (or ``(height, width)``).
        pooling: ``"avg"``, ``"max"`` or ``"flatten"``, applied to a feature
            map; a backbone whose features are already flat (AlexNet's ``fc``)
            is not pooled.
        dropout: Dropout rate before the last dense layer.
        activation: ``"softmax"`` or ``None`` (logits).
        precision: ``"float32"``, ``"bfloat16"`` or ``"float16"`` (mixed: the
            last dense layer and the softmax stay float32).
        resize: How the adapter resizes (see :class:`InputAdapter`).
        **kwargs: ``name``, ``trainable`` (passed to ``keras.Model``).

    Attributes:
        adapter: The :class:`InputAdapter`.
        backbone: The backbone ``keras.Model``.
        backbone_info: The backbone's :class:`BackboneInfo`.
        head: A ``keras.Model`` from pooled features to outputs.
    """

    def __init__(
        self,
        backbone: keras.Model,
        backbone_name: str,
        num_classes: int,
        input_shape: Sequence[int] = (28, 28, 1),
        pooling: str = "avg",
        dropout: float = 0.0,
        activation: str | None = "softmax",
        precision: str = "float32",
        resize: str = "bilinear",
        **kwargs: Any,
    ) -> None:
        info = get_backbone_info(backbone_name)
        _validate_head(num_classes, pooling, dropout, activation, precision)
        policy = _PRECISIONS[precision]
        backbone_in = tuple(backbone.input_shape[1:])

        # === Layers ===
        adapter = InputAdapter(
            size=tuple(backbone_in[:2]),  # type: ignore[arg-type]
            channels=int(backbone_in[2]),  # type: ignore[arg-type]
            preprocessing=info.preprocessing,
            resize=resize,
            name="adapter",
        )
        feature_rank = len(backbone.output_shape)
        pool: keras.layers.Layer | None = None
        if feature_rank == 4:
            pool = {
                "avg": keras.layers.GlobalAveragePooling2D,
                "max": keras.layers.GlobalMaxPooling2D,
                "flatten": keras.layers.Flatten,
            }[pooling](name="pooling", dtype=policy)
        features_in = keras.Input(
            shape=pool.compute_output_shape(backbone.output_shape)[1:] if pool else backbone.output_shape[1:],
            name="features",
        )
        h = features_in
        if dropout > 0:
            h = keras.layers.Dropout(dropout, name="head_dropout", dtype=policy)(h)
        h = keras.layers.Dense(num_classes, name="head_dense", dtype="float32")(h)
        if activation is not None:
            h = keras.layers.Activation(activation, name="head_softmax", dtype="float32")(h)
        head = keras.Model(features_in, h, name="head")

        # === Functional graph ===
        inputs = keras.Input(shape=tuple(input_shape), name="images")
        features = backbone(adapter(inputs))
        pooled = pool(features) if pool is not None else features
        outputs = head(pooled)
        super().__init__(inputs=inputs, outputs=outputs, **kwargs)

        # === Config ===
        self.adapter = adapter
        self.backbone = backbone
        self.head = head
        self.backbone_name = info.name
        self.num_classes = num_classes
        self.image_shape = tuple(int(d) for d in input_shape)
        self.pooling = pooling
        self.dropout = dropout
        self.activation = activation
        self.precision = precision
        self.resize = resize
        self._pooled = pooled

    @property
    def backbone_info(self) -> BackboneInfo:
        """The backbone's metadata record."""
        return get_backbone_info(self.backbone_name)

    @property
    def head_layers(self) -> list[keras.layers.Layer]:
        """The layers of the head that hold weights."""
        return [layer for layer in self.head.layers if layer.weights]

    def feature_extractor(self) -> keras.Model:
        """A model from raw images to pooled features that shares this one's weights.

        Example:
            >>> clf = build_classifier("alexnet", 3, width=0.125)
            >>> clf.feature_extractor().output_shape
            (None, 64)
        """
        return keras.Model(self.inputs[0], self._pooled, name=f"{self.name}_features")

    def get_config(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "trainable": self.trainable,
            "backbone": keras.saving.serialize_keras_object(self.backbone),
            "backbone_name": self.backbone_name,
            "num_classes": self.num_classes,
            "input_shape": list(self.image_shape),
            "pooling": self.pooling,
            "dropout": self.dropout,
            "activation": self.activation,
            "precision": self.precision,
            "resize": self.resize,
            "model_flags": {
                "backbone": self.backbone.trainable,
                "head": self.head.trainable,
                "adapter": self.adapter.trainable,
            },
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Classifier:
        config = dict(config)
        flags = config.pop("model_flags", {})
        trainable = config.pop("trainable", True)
        backbone = keras.saving.deserialize_keras_object(config.pop("backbone"))
        model = cls(backbone=backbone, **config)
        # Layer configs carry each layer's own flag; restore the flags of the
        # nested models too, without cascading over their layers' flags.
        for part, flag in flags.items():
            _set_own_trainable(getattr(model, part), bool(flag))
        if not trainable:
            _set_own_trainable(model, False)
        return model


def _set_own_trainable(layer: keras.layers.Layer, flag: bool) -> None:
    """Sets ``layer.trainable`` and puts its sublayers' own flags back."""
    if layer.trainable == flag:
        return
    own = [(sub, sub.trainable) for sub in flatten_layers(layer, include_self=False)]
    layer.trainable = flag
    for sub, sub_flag in own:
        sub.trainable = sub_flag


def _validate_head(
    num_classes: int, pooling: str, dropout: float, activation: str | None, precision: str
) -> None:
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
        raise ConfigError(
            describe("`num_classes` must be a positive integer", received=f"num_classes={num_classes!r}")
        )
    if pooling not in _POOLINGS:
        raise ConfigError(
            describe(
                "Unknown `pooling` type",
                received=f"pooling={pooling!r}",
                accepted=", ".join(map(repr, _POOLINGS)),
            )
        )
    if not isinstance(dropout, (int, float)) or not 0.0 <= dropout < 1.0:
        raise ConfigError(describe("`dropout` must be in [0, 1)", received=f"dropout={dropout!r}"))
    if activation not in _ACTIVATIONS:
        raise ConfigError(
            describe(
                "Unknown `activation`",
                received=f"activation={activation!r}",
                accepted="'softmax', None (logits)",
            )
        )
    if precision not in _PRECISIONS:
        raise ConfigError(
            describe(
                "Unknown `precision`",
                received=f"precision={precision!r}",
                accepted=", ".join(map(repr, _PRECISIONS)),
            )
        )


def build_classifier(
    backbone: str,
    num_classes: int,
    *,
    input_shape: Sequence[int] = (28, 28, 1),
    input_size: str | Sequence[int] = "auto",
    weights: str | None = None,
    pooling: str = "avg",
    dropout: float = 0.0,
    activation: str | None = "softmax",
    precision: str = "float32",
    resize: str = "bilinear",
    **backbone_kwargs: Any,
) -> Classifier:
    """Builds a :class:`Classifier` on a registered backbone.

    Raw images of ``input_shape`` (e.g. 28x28x1 MNIST) go straight in: the
    input adapter resizes them, converts their channels to the backbone's and
    applies its preprocessing.

    Args:
        backbone: A registered backbone name (see ``list_backbones()``).
        num_classes: Number of classes.
        input_shape: Shape of one raw image, ``(height, width[, channels])``.
        input_size: ``"auto"`` (the image size when the backbone takes it,
            else the backbone's minimum size) or ``(height, width)``.
        weights: ``None``, ``"imagenet"`` or a saved backbone's path.
        pooling: ``"avg"``, ``"max"`` or ``"flatten"``.
        dropout: Dropout rate before the last dense layer.
        activation: ``"softmax"`` or ``None`` for logits.
        precision: ``"float32"``, ``"bfloat16"`` or ``"float16"``; the global
            Keras dtype policy is left as it was.
        resize: ``"bilinear"``, ``"nearest"`` or ``"pad"``.
        **backbone_kwargs: Options of the backbone's builder (e.g. ``width``).

    Returns:
        The :class:`Classifier`, not compiled.

    Raises:
        UnknownBackboneError: For an unregistered name.
        ConfigError: For a bad head option.
        InputShapeError: For an ``input_size`` below the backbone's minimum.
        WeightsError: For weights that do not fit.

    Example:
        >>> clf = build_classifier("alexnet", 10, width=0.125)
        >>> clf.output_shape, clf.backbone_info.name
        ((None, 10), 'alexnet')
    """
    info = get_backbone_info(backbone)
    _validate_head(num_classes, pooling, dropout, activation, precision)
    shape = tuple(int(d) for d in input_shape)
    if len(shape) not in (2, 3) or min(shape) < 1:
        raise ConfigError(
            describe(
                "`input_shape` must be (height, width) or (height, width, channels)",
                received=f"input_shape={input_shape!r}",
                fix="pass e.g. input_shape=(28, 28, 1)",
            )
        )
    size = _resolve_size(info, shape[:2], input_size)
    with _dtype_policy(_PRECISIONS[precision]):
        net = create_backbone(
            info.name, weights=weights, input_shape=(*size, info.channels), **backbone_kwargs
        )
        return Classifier(
            net,
            info.name,
            num_classes,
            input_shape=shape,
            pooling=pooling,
            dropout=dropout,
            activation=activation,
            precision=precision,
            resize=resize,
            name=f"{info.name}_classifier",
        )


def _resolve_size(
    info: BackboneInfo, image_size: tuple[int, ...], input_size: str | Sequence[int]
) -> tuple[int, int]:
    if isinstance(input_size, str):
        if input_size != "auto":
            raise ConfigError(
                describe(
                    "`input_size` must be 'auto' or (height, width)",
                    received=f"input_size={input_size!r}",
                )
            )
        return (max(image_size[0], info.min_input_size[0]), max(image_size[1], info.min_input_size[1]))
    size = tuple(int(d) for d in input_size)
    if len(size) != 2 or min(size) < 1:
        raise ConfigError(
            describe(
                "`input_size` must be 'auto' or (height, width)",
                received=f"input_size={input_size!r}",
            )
        )
    return size  # type: ignore[return-value]
