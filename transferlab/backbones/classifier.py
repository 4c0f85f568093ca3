"""A backbone with an input adapter and a classification head, and its builder."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping, Sequence
from typing import NamedTuple, cast

import keras

from transferlab._keras_compat import flatten_layers
from transferlab.backbones.backbone_info import BackboneInfo, LayerGroup
from transferlab.backbones.cosine_classifier import CosineClassifier
from transferlab.backbones.model_backbone import model_backbone_info
from transferlab.backbones.registry import create_backbone, get_backbone_info
from transferlab.data.input_adapter import InputAdapter
from transferlab.errors import ConfigError, describe

__all__ = ["HEADS", "Classifier", "build_classifier"]

#: The kinds of the head's last layer, the default first: ``"dense"`` (a ``Dense`` layer, named
#: ``head_dense``) or ``"cosine"`` (a :class:`~transferlab.backbones.CosineClassifier` with a
#: learnt scale, named ``head_cosine``: the few-shot head, and the one class prototypes set).
HEADS: tuple[str, ...] = ("dense", "cosine")
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
        backbone: A backbone built by ``create_backbone(backbone_name, ...)``,
            or any built Keras model described by ``backbone_info``.
        backbone_name: Its registry name (for :attr:`backbone_info`), or the
            name in ``backbone_info``.
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
        backbone_info: The backbone's record when it is not a registered one
            (a model passed to :func:`build_classifier`); saved with the model.
        head: The head's last layer, one of :data:`HEADS`.
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
        backbone_info: BackboneInfo | None = None,
        head: str = HEADS[0],
        **kwargs: object,
    ) -> None:
        info = get_backbone_info(backbone_name) if backbone_info is None else backbone_info
        _validate_head(num_classes, pooling, dropout, activation, precision, head)
        policy = _PRECISIONS[precision]
        # Every layer made here, and the model itself, under the precision's policy, when
        # built and when loaded alike: a mixed_float16 model compiles with loss scaling.
        with _dtype_policy(policy):
            self._build_graph(
                backbone, info, num_classes, input_shape, pooling, dropout, activation, resize, head, kwargs
            )
        self._backbone_info = info
        self._own_info = backbone_info is not None
        self.backbone_name = info.name
        self.num_classes = num_classes
        self.image_shape = tuple(int(d) for d in input_shape)
        self.pooling = pooling
        self.dropout = dropout
        self.activation = activation
        self.precision = precision
        self.resize = resize
        self.head_kind = head

    def _build_graph(
        self,
        backbone: keras.Model,
        info: BackboneInfo,
        num_classes: int,
        input_shape: Sequence[int],
        pooling: str,
        dropout: float,
        activation: str | None,
        resize: str,
        head_kind: str,
        kwargs: dict[str, object],
    ) -> None:
        policy = keras.config.dtype_policy().name
        backbone_in = tuple(backbone.input_shape[1:])

        # === Layers ===
        adapter = InputAdapter(
            size=(int(backbone_in[0]), int(backbone_in[1])),
            channels=int(backbone_in[2]),
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
        if head_kind == "cosine":
            h = CosineClassifier(num_classes, name="head_cosine", dtype="float32")(h)
        else:
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

        self.adapter = adapter
        self.backbone = backbone
        self.head = head
        self._pooled = pooled

    @property
    def backbone_info(self) -> BackboneInfo:
        """The backbone's metadata record."""
        return self._backbone_info

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

    def get_config(self) -> dict[str, object]:
        config: dict[str, object] = {
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
        if self._own_info:
            config["backbone_info"] = self._backbone_info.to_config()
        if self.head_kind != HEADS[0]:  # the default left out: earlier models' configs unchanged
            config["head"] = self.head_kind
        return config

    @classmethod
    def from_config(cls, config: dict[str, object]) -> Classifier:
        config = dict(config)
        flags = cast("dict[str, bool]", config.pop("model_flags", {}))
        trainable = config.pop("trainable", True)
        backbone = keras.saving.deserialize_keras_object(config.pop("backbone"))
        info = config.pop("backbone_info", None)
        if info is not None:
            config["backbone_info"] = BackboneInfo.from_config(cast("dict[str, object]", info))
        model = cls(backbone=backbone, **config)  # type: ignore[arg-type]  # the values get_config wrote
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
    num_classes: int, pooling: str, dropout: float, activation: str | None, precision: str, head: str
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
    if head not in HEADS:
        raise ConfigError(
            describe(
                "Unknown `head`",
                received=f"head={head!r}",
                accepted=", ".join(map(repr, HEADS)),
                fix="pass 'cosine' for a cosine-similarity head (class prototypes), else leave the default",
            )
        )


def build_classifier(
    backbone: str | keras.Model,
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
    groups: Sequence[LayerGroup] | Mapping[str, str] | None = None,
    backbone_info: BackboneInfo | None = None,
    head: str = HEADS[0],
    **backbone_kwargs: object,
) -> Classifier:
    """Builds a :class:`Classifier` on a registered backbone or on any Keras model.

    Raw images of ``input_shape`` (e.g. 28x28x1 MNIST) go straight in: the
    input adapter resizes them, converts their channels to the backbone's and
    applies its preprocessing.

    A built ``keras.Model`` (e.g. ``keras.applications.MobileNetV2(weights=None,
    include_top=False, input_shape=(32, 32, 3))`` or your own functional
    model) is used as it is, weights included, and becomes part of the
    classifier (its layers are shared, not copied). Its metadata is inferred
    (see :func:`~transferlab.backbones.model_backbone.model_backbone_info`):
    input size and channels from its input shape, preprocessing from a
    ``keras.applications`` name (else ``"unit"``), layer groups from its block
    names or its downsampling layers; pass ``groups`` or a whole
    ``backbone_info`` to set them.

    The head is a softmax over ``num_classes >= 2`` outputs of a ``Dense``
    layer, or of a :class:`~transferlab.backbones.CosineClassifier` with
    ``head="cosine"`` (scaled cosines to class vectors); a two-class task
    (yes/no) uses ``num_classes=2``, which is what the library's losses,
    metrics and reports expect (a single sigmoid output is not built).

    Args:
        backbone: A registered backbone name (see ``list_backbones()``), or a
            built ``keras.Model`` taking images of a fixed size.
        num_classes: Number of classes, at least 2.
        input_shape: Shape of one raw image, ``(height, width[, channels])``.
        input_size: ``"auto"`` (the image size when the backbone takes it,
            else the backbone's minimum size) or ``(height, width)``; a model
            backbone takes only its own size.
        weights: ``None``, ``"imagenet"`` or a saved backbone's path (a
            registered backbone only: a model brings its own weights).
        pooling: ``"avg"``, ``"max"`` or ``"flatten"``.
        dropout: Dropout rate before the last dense layer.
        activation: ``"softmax"`` or ``None`` for logits.
        precision: ``"float32"``, ``"bfloat16"`` or ``"float16"``; the global
            Keras dtype policy is left as it was. A model backbone must have
            been built under the matching policy (``"mixed_bfloat16"`` ...).
        resize: ``"bilinear"``, ``"nearest"`` or ``"pad"``.
        groups: A model backbone's layer groups, bottom to top:
            ``LayerGroup`` records or ``{group name: last layer name}``.
        backbone_info: A model backbone's whole record (instead of inferring it).
        head: The head's last layer, one of :data:`HEADS`: ``"dense"`` or
            ``"cosine"``.
        **backbone_kwargs: Options of a registered backbone's builder (e.g. ``width``).

    Returns:
        The :class:`Classifier`, not compiled.

    Raises:
        UnknownBackboneError: For an unregistered name.
        ConfigError: For a bad head option, ``num_classes < 2``, or options
            that do not apply to a model backbone.
        BackboneError: For a model that cannot be a backbone, or groups that
            do not fit it.
        InputShapeError: For an ``input_size`` below the backbone's minimum.
        WeightsError: For weights that do not fit.

    Example:
        >>> clf = build_classifier("alexnet", 10, width=0.125)
        >>> clf.output_shape, clf.backbone_info.name
        ((None, 10), 'alexnet')
        >>> [type(layer).__name__ for layer in build_classifier("alexnet", 3, width=0.125, head="cosine").head_layers]
        ['CosineClassifier']
        >>> import keras
        >>> net = keras.applications.MobileNetV2(weights=None, include_top=False,
        ...     input_shape=(32, 32, 3), alpha=0.35)
        >>> clf = build_classifier(net, 5)
        >>> clf.backbone is net, clf.backbone_info.preprocessing, clf.backbone_info.group_names[-2:]
        (True, 'tf', ('block15', 'block16'))
    """
    _validate_head(num_classes, pooling, dropout, activation, precision, head)
    if num_classes == 1:
        raise ConfigError(
            describe(
                "`num_classes` must be at least 2: the head is a softmax over the classes",
                received="num_classes=1",
                fix="for a yes/no task pass num_classes=2 (two softmax outputs: the same model "
                "as one sigmoid output, and what the losses, metrics and reports expect)",
            )
        )
    shape = tuple(int(d) for d in input_shape)
    if len(shape) not in (2, 3) or min(shape) < 1:
        raise ConfigError(
            describe(
                "`input_shape` must be (height, width) or (height, width, channels)",
                received=f"input_shape={input_shape!r}",
                fix="pass e.g. input_shape=(28, 28, 1)",
            )
        )
    if isinstance(backbone, keras.Model):
        return _classifier_on_model(
            backbone,
            num_classes,
            shape,
            input_size=input_size,
            weights=weights,
            groups=groups,
            backbone_info=backbone_info,
            backbone_kwargs=backbone_kwargs,
            head=_Head(pooling, dropout, activation, resize, head),
            precision=precision,
        )
    if groups is not None or backbone_info is not None:
        raise ConfigError(
            describe(
                "`groups` and `backbone_info` describe a Keras model passed as the backbone; "
                "a registered backbone has its own",
                received=f"backbone={backbone!r}",
                fix="drop them, or pass the built keras.Model itself",
            )
        )
    info = get_backbone_info(backbone)
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
            head=head,
            name=f"{info.name}_classifier",
        )


class _Head(NamedTuple):
    pooling: str
    dropout: float
    activation: str | None
    resize: str
    kind: str


def _classifier_on_model(
    model: keras.Model,
    num_classes: int,
    shape: tuple[int, ...],
    *,
    input_size: str | Sequence[int],
    weights: str | None,
    groups: Sequence[LayerGroup] | Mapping[str, str] | None,
    backbone_info: BackboneInfo | None,
    backbone_kwargs: Mapping[str, object],
    head: _Head,
    precision: str,
) -> Classifier:
    unused = {"weights": weights, **backbone_kwargs} if weights is not None else dict(backbone_kwargs)
    if unused:
        raise ConfigError(
            describe(
                "A Keras model passed as the backbone brings its own weights and options",
                received=", ".join(f"{k}={v!r}" for k, v in unused.items()),
                fix="load its weights on the model before (model.load_weights(...)) and drop these",
            )
        )
    if groups is not None and backbone_info is not None:
        raise ConfigError(
            describe(
                "Pass `groups` or `backbone_info`, not both",
                fix="put the groups in the BackboneInfo (its `groups` field)",
            )
        )
    if backbone_info is None:
        info = model_backbone_info(model, groups=groups)
    else:
        info = backbone_info
        info.group_layers(model)  # groups that do not fit: BackboneError now
    model_size = tuple(model.inputs[0].shape[1:3]) if model.inputs else ()
    if not isinstance(input_size, str) and tuple(int(d) for d in input_size) != model_size:
        raise ConfigError(
            describe(
                "A Keras model passed as the backbone takes only its own input size",
                received=f"input_size={tuple(input_size)!r} for a model built for {model_size!r}",
                fix=f"drop `input_size`, or build the model with input_shape=({', '.join(map(str, input_size))}, channels)",
            )
        )
    policy = _PRECISIONS[precision]
    if model.dtype_policy.name != policy:
        raise ConfigError(
            describe(
                f"The backbone model computes under the dtype policy {model.dtype_policy.name!r}, "
                f"not the {policy!r} that precision={precision!r} needs",
                received=f"precision={precision!r}",
                fix=f"build the model inside keras.config.set_dtype_policy({policy!r}) (and restore it "
                "afterwards), or pass the precision it was built with",
            )
        )
    return Classifier(
        model,
        info.name,
        num_classes,
        input_shape=shape,
        precision=precision,
        backbone_info=info,
        name=f"{info.name}_classifier",
        pooling=head.pooling,
        dropout=head.dropout,
        activation=head.activation,
        resize=head.resize,
        head=head.kind,
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
    return (size[0], size[1])
