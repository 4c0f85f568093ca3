"""The backbone registry: register by decorator, create by name, list by pattern."""

from __future__ import annotations

import difflib
import fnmatch
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Protocol, TypeVar, cast

from transferlab.backbones.backbone_info import BackboneInfo
from transferlab.errors import BackboneError, ConfigError, UnknownBackboneError, describe

if TYPE_CHECKING:  # pragma: no cover
    import keras

__all__ = [
    "BackboneBuilder",
    "create_backbone",
    "get_backbone_info",
    "list_backbones",
    "register_backbone",
    "unregister_backbone",
]


class BackboneBuilder(Protocol):
    """Builds a headless backbone with random weights.

    A builder is called with keyword arguments only: ``input_shape``
    ``(height, width, channels)``, ``name`` (the registry name, which the
    returned model must carry) and any backbone-specific options. It must not
    load weights: :func:`create_backbone` does that for every backbone alike.
    """

    def __call__(self, *, input_shape: tuple[int, int, int], name: str, **kwargs: object) -> keras.Model: ...


_B = TypeVar("_B")

_REGISTRY: dict[str, tuple[BackboneInfo, BackboneBuilder]] = {}


def register_backbone(info: BackboneInfo, *, overwrite: bool = False) -> Callable[[_B], _B]:
    """Registers a backbone builder under ``info.name``.

    Args:
        info: The backbone's metadata record.
        overwrite: Replace a backbone already registered under that name
            (a built-in one too) instead of refusing.

    Returns:
        A decorator that registers the builder and returns it unchanged.

    Raises:
        BackboneError: If the name is already registered and ``overwrite`` is
            false (checked when the decorator is applied).

    Example:
        >>> import keras
        >>> from transferlab.backbones import BackboneInfo, LayerGroup
        >>> @register_backbone(BackboneInfo(
        ...     name="doc_tiny", default_input_size=(28, 28), min_input_size=(8, 8),
        ...     channels=1, preprocessing="unit", groups=(LayerGroup("block1", "pool"),),
        ...     feature_layer="pool"))
        ... def doc_tiny(*, input_shape, name):
        ...     x = keras.Input(input_shape)
        ...     y = keras.layers.Conv2D(4, 3, name="conv")(x)
        ...     y = keras.layers.MaxPooling2D(name="pool")(y)
        ...     return keras.Model(x, y, name=name)
        >>> create_backbone("doc_tiny", input_shape=(28, 28, 1)).output_shape
        (None, 13, 13, 4)
        >>> unregister_backbone("doc_tiny")
    """
    if not isinstance(overwrite, bool):
        raise ConfigError(describe("`overwrite` must be True or False", received=f"overwrite={overwrite!r}"))

    def decorator(builder: _B) -> _B:
        _ensure_builtins()  # so a built-in name is known (and replaced only with overwrite=True)
        if info.name in _REGISTRY and not overwrite:
            raise BackboneError(
                describe(
                    f"A backbone named {info.name!r} is already registered",
                    received=f"register_backbone(BackboneInfo(name={info.name!r}, ...))",
                    fix="choose another name, pass overwrite=True to replace it, or call "
                    "unregister_backbone() first",
                )
            )
        if not callable(builder):
            raise BackboneError(
                describe(
                    "register_backbone(info) decorates a builder function",
                    received=f"{type(builder).__name__}",
                    fix="put @register_backbone(info) above `def my_net(*, input_shape, name): ...`",
                )
            )
        _REGISTRY[info.name] = (info, cast("BackboneBuilder", builder))
        return builder

    return decorator


def unregister_backbone(name: str) -> None:
    """Removes a backbone from the registry (mostly for tests and notebooks).

    Args:
        name: A registered name (case does not matter).

    Raises:
        UnknownBackboneError: If ``name`` is not registered; the message lists
            the registered names and the closest match.

    Example:
        >>> try:
        ...     unregister_backbone("no_such_net")
        ... except UnknownBackboneError as error:
        ...     print(str(error).split(". Accepted")[0])
        Unknown backbone. Received: name='no_such_net'
    """
    _lookup(name)
    del _REGISTRY[name.lower()]


def list_backbones(pattern: str = "*") -> list[str]:
    """Lists registered backbone names, sorted, matching a shell-style pattern.

    Example:
        >>> "vgg16" in list_backbones("vgg*")
        True
    """
    _ensure_builtins()
    return sorted(name for name in _REGISTRY if fnmatch.fnmatchcase(name, pattern.lower()))


def get_backbone_info(name: str) -> BackboneInfo:
    """Returns the metadata record of a registered backbone.

    Raises:
        UnknownBackboneError: If ``name`` is not registered; the message lists
            the registered names and the closest match.

    Example:
        >>> get_backbone_info("vgg16").min_input_size
        (32, 32)
    """
    return _lookup(name)[0]


def create_backbone(
    name: str,
    *,
    weights: str | None = None,
    input_shape: Sequence[int] | None = None,
    **kwargs: object,
) -> keras.Model:
    """Creates a headless backbone by registry name.

    Args:
        name: A registered name (see :func:`list_backbones`).
        weights: ``None`` (random), ``"imagenet"``, or the path of a
            ``.weights.h5`` / ``.keras`` file saved from the same backbone
            (for example one pretrained on a source task with transferlab).
        input_shape: ``(height, width, channels)``; defaults to the
            backbone's default size with its default channels.
        **kwargs: Options of that backbone's builder (e.g. ``width`` for AlexNet).

    Returns:
        A functional ``keras.Model`` named ``name`` that maps images to features.

    Raises:
        UnknownBackboneError: For a name that is not registered.
        InputShapeError: For an input smaller than the backbone's minimum.
        WeightsError: For weights that do not fit, or cannot be found.
    """
    info, builder = _lookup(name)
    if input_shape is None:
        input_shape = (*info.default_input_size, info.channels)
    shape = tuple(int(d) for d in input_shape)
    info.validate_input_shape(shape)
    from transferlab.backbones.backbone_weights import check_weights_fit, load_backbone_weights

    check_weights_fit(info, shape, weights)
    model = builder(input_shape=cast("tuple[int, int, int]", shape), name=info.name, **kwargs)  # validated
    if weights is not None:
        load_backbone_weights(model, info, weights)
    return model


def _lookup(name: str) -> tuple[BackboneInfo, BackboneBuilder]:
    _ensure_builtins()
    if not isinstance(name, str):
        raise ConfigError(describe("A backbone name must be a string", received=f"name={name!r}"))
    key = name.lower()
    if key not in _REGISTRY:
        names = sorted(_REGISTRY)
        close = difflib.get_close_matches(key, names, n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise UnknownBackboneError(
            describe(
                "Unknown backbone",
                received=f"name={name!r}",
                accepted=", ".join(names),
                fix=f"{hint}pass a registered name, or register your own with @register_backbone",
            )
        )
    return _REGISTRY[key]


def _ensure_builtins() -> None:
    # The built-in backbones register themselves when their modules are imported.
    import transferlab.backbones.builtin  # noqa: F401
