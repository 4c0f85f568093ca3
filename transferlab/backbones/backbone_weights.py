"""Loading and saving backbone weights: ImageNet (cached or downloaded) and files.

:func:`check_weights_fit` runs before a backbone is built (cheap checks with
clear messages); :func:`load_backbone_weights` loads into a built backbone and
never leaves a partial load behind: every variable's shape is checked first,
and on any failure the backbone's previous weights are put back.
:func:`save_backbone` writes a backbone (e.g. one pretrained on a source task)
so that ``create_backbone(name, weights=path)`` or
``build_classifier(name, n, weights=path)`` starts from it.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from transferlab._atomic import atomic_path
from transferlab.backbones.backbone_info import BackboneInfo
from transferlab.errors import ConfigError, WeightsError, WeightsNotFoundError, describe

if TYPE_CHECKING:  # pragma: no cover
    import keras

__all__ = ["check_weights_fit", "imagenet_cache_path", "load_backbone_weights", "save_backbone"]

_SUFFIXES = (".weights.h5", ".keras")


def imagenet_cache_path(info: BackboneInfo) -> Path:
    """Where the backbone's no-top ImageNet file sits in the Keras cache.

    ``$KERAS_HOME/models/<file>`` (``~/.keras/models/<file>`` when
    ``KERAS_HOME`` is unset), read at call time, with the file name Keras uses.

    Raises:
        WeightsError: If the backbone has no ImageNet weights.

    Example:
        >>> from transferlab.backbones import get_backbone_info
        >>> path = imagenet_cache_path(get_backbone_info("vgg16"))
        >>> path.parent.name, path.name
        ('models', 'vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5')
    """
    if not info.imagenet_weights or not info.imagenet_file:
        raise WeightsError(
            describe(
                f"Backbone {info.name!r} has no ImageNet weights",
                received="weights='imagenet'",
                fix="use weights=None (random start) or the path of weights you saved with save_backbone",
            )
        )
    return _keras_home() / "models" / info.imagenet_file


def check_weights_fit(
    info: BackboneInfo, input_shape: Sequence[int], weights: str | os.PathLike[str] | None
) -> None:
    """Checks, before building, that ``weights`` can load into this backbone.

    Args:
        info: The backbone's metadata.
        input_shape: ``(height, width, channels)`` it will be built with.
        weights: ``None``, ``"imagenet"`` or a ``.weights.h5`` / ``.keras`` path.

    Raises:
        WeightsError: ImageNet weights for a backbone without them, or with
            other than 3 input channels.
        WeightsNotFoundError: A path that does not exist.
        ConfigError: A path with another suffix, or a value of another type.

    Example:
        >>> from transferlab.backbones import get_backbone_info
        >>> check_weights_fit(get_backbone_info("vgg16"), (32, 32, 1), "imagenet")
        Traceback (most recent call last):
        ...
        transferlab.errors.WeightsError: ImageNet weights need 3 input channels. Received: input_shape=(32, 32, 1). Fix: build with 3 channels (build_classifier converts grayscale to RGB in its input adapter), or use weights=None.
    """
    if weights is None:
        return
    if isinstance(weights, str) and weights == "imagenet":
        imagenet_cache_path(info)  # raises when the backbone has none
        if int(input_shape[-1]) != 3:
            raise WeightsError(
                describe(
                    "ImageNet weights need 3 input channels",
                    received=f"input_shape={tuple(input_shape)!r}",
                    fix=(
                        "build with 3 channels (build_classifier converts grayscale to RGB "
                        "in its input adapter), or use weights=None"
                    ),
                )
            )
        _imagenet_file(info)  # fetched before building, so a miss fails fast
        return
    if not isinstance(weights, (str, os.PathLike)):
        raise ConfigError(
            describe(
                "`weights` must be None, 'imagenet' or a file path",
                received=f"weights={weights!r}",
            )
        )
    path = Path(weights)
    if not str(path).endswith(_SUFFIXES):
        raise ConfigError(
            describe(
                "A weights file must be a '.weights.h5' or a '.keras' file",
                received=f"weights={str(weights)!r}",
                accepted="'imagenet', None, '<file>.weights.h5', '<file>.keras'",
                fix="save the backbone with transferlab.backbones.save_backbone(model, path)",
            )
        )
    if not path.is_file():
        raise WeightsNotFoundError(
            describe(
                "Weights file not found",
                received=f"weights={str(weights)!r}",
                fix="check the path, or use weights=None to start from random weights",
            )
        )


def load_backbone_weights(model: keras.Model, info: BackboneInfo, weights: str | os.PathLike[str]) -> None:
    """Loads ``weights`` into a built backbone, all or nothing.

    Args:
        model: The backbone, built by the registered builder.
        info: Its metadata.
        weights: ``"imagenet"`` or a ``.weights.h5`` / ``.keras`` path (a
            ``.keras`` file may hold a backbone or a whole ``Classifier``, whose
            ``.backbone`` is used).

    Raises:
        WeightsNotFoundError: ImageNet weights neither cached nor downloadable,
            or a missing file.
        WeightsError: Weights of another architecture, width, input size or
            channel count; the message names the first differing variable.
    """
    if isinstance(weights, str) and weights == "imagenet":
        check_weights_fit(info, model.input_shape[1:], weights)
        _load_imagenet(model, info)
        return
    check_weights_fit(info, model.input_shape[1:], weights)
    path = Path(weights)
    if str(path).endswith(".keras"):
        import keras

        try:
            source = keras.saving.load_model(path, compile=False)
        except Exception as err:
            raise WeightsError(
                describe(
                    "Could not read the .keras file",
                    received=f"weights={str(path)!r} ({type(err).__name__}: {err})",
                    fix="pass a file written by save_backbone or Classifier.save",
                )
            ) from err
        source = getattr(source, "backbone", source)
        _check_shapes(
            [(v.path, tuple(v.shape)) for v in model.weights],
            [(v.path, tuple(v.shape)) for v in source.weights],
            info,
            path,
        )
        model.set_weights(source.get_weights())
        return
    _check_shapes(_h5_shapes_of(model), _h5_shapes(path), info, path)
    _all_or_nothing(model, lambda: model.load_weights(path), info, path)


def save_backbone(model: keras.Model, path: str | os.PathLike[str]) -> Path:
    """Saves a backbone so that ``weights=path`` starts a new model from it.

    Written atomically (a temporary file in the same folder, then renamed).

    Args:
        model: A backbone, or a ``Classifier`` (its ``.backbone`` is saved).
        path: ``<file>.weights.h5`` (weights only) or ``<file>.keras``
            (architecture and weights).

    Returns:
        The path written.

    Raises:
        ConfigError: For another suffix.

    Example:
        >>> import tempfile, pathlib
        >>> from transferlab.backbones import create_backbone
        >>> net = create_backbone("alexnet", width=0.125)
        >>> folder = pathlib.Path(tempfile.mkdtemp())
        >>> path = save_backbone(net, folder / "digits.weights.h5")
        >>> again = create_backbone("alexnet", width=0.125, weights=path)
        >>> bool((again.weights[0].numpy() == net.weights[0].numpy()).all())
        True
    """
    target = Path(path)
    suffix = next((s for s in _SUFFIXES if str(target).endswith(s)), None)
    if suffix is None:
        raise ConfigError(
            describe(
                "save_backbone writes '.weights.h5' or '.keras' files",
                received=f"path={str(path)!r}",
                fix="end the file name with .weights.h5 or .keras",
            )
        )
    backbone = getattr(model, "backbone", model)
    with atomic_path(target) as tmp:
        if suffix == ".keras":
            backbone.save(tmp)
        else:
            backbone.save_weights(tmp)
    return target


def _keras_home() -> Path:
    return Path(os.environ.get("KERAS_HOME") or Path.home() / ".keras").expanduser()


def _imagenet_file(info: BackboneInfo) -> Path:
    cached = imagenet_cache_path(info)
    if not cached.is_file():
        import keras

        try:
            downloaded = keras.utils.get_file(
                info.imagenet_file,
                info.imagenet_url,
                file_hash=info.imagenet_hash,
                cache_subdir="models",
                cache_dir=str(_keras_home()),
            )
        except Exception as err:
            raise WeightsNotFoundError(
                describe(
                    f"ImageNet weights of {info.name!r} are not cached and could not be "
                    f"downloaded ({type(err).__name__}: {str(err)[:200]})",
                    received=f"missing file {str(cached)!r}",
                    fix=(
                        f"download {info.imagenet_url} on a machine with internet access and "
                        f"put it at {str(cached)!r} (or set KERAS_HOME to a folder whose "
                        "models/ holds it); or run without it with weights=None"
                    ),
                )
            ) from err
        cached = Path(downloaded)
    return cached


def _load_imagenet(model: keras.Model, info: BackboneInfo) -> None:
    cached = _imagenet_file(info)
    _all_or_nothing(model, lambda: model.load_weights(cached), info, cached)


def _all_or_nothing(model: keras.Model, load: Callable[[], object], info: BackboneInfo, path: Path) -> None:
    before = model.get_weights()
    try:
        load()
    except Exception as err:
        model.set_weights(before)
        raise WeightsError(
            describe(
                f"The weights in {str(path)!r} do not fit backbone {info.name!r} "
                f"({type(err).__name__}: {str(err)[:300]})",
                fix="pass weights saved from the same backbone with the same options, or weights=None",
            )
        ) from err


def _h5_shapes(path: Path) -> list[tuple[str, tuple[int, ...]]]:
    import h5py

    shapes: list[tuple[str, tuple[int, ...]]] = []
    try:
        with h5py.File(path, "r") as handle:
            handle.visititems(
                lambda name, obj: (
                    shapes.append((name, tuple(obj.shape))) if isinstance(obj, h5py.Dataset) else None
                )
            )
    except OSError as err:
        raise WeightsError(
            describe(
                "Could not read the weights file",
                received=f"weights={str(path)!r} ({err})",
                fix="pass a file written by save_backbone",
            )
        ) from err
    return shapes


def _h5_shapes_of(model: keras.Model) -> list[tuple[str, tuple[int, ...]]]:
    with tempfile.TemporaryDirectory() as folder:
        probe = Path(folder) / "model.weights.h5"
        model.save_weights(probe)
        return _h5_shapes(probe)


def _check_shapes(
    expected: list[tuple[str, tuple[int, ...]]],
    found: list[tuple[str, tuple[int, ...]]],
    info: BackboneInfo,
    path: Path,
) -> None:
    """Compares (name, shape) lists in order; raises on the first difference."""
    problem: str | None = None
    if len(expected) != len(found):
        problem = f"the backbone has {len(expected)} variables, the file {len(found)}"
    else:
        for (name, shape), (found_name, found_shape) in zip(expected, found):
            if shape != found_shape:
                problem = (
                    f"variable {name!r} has shape {shape} in the backbone but "
                    f"{found_shape} in the file ({found_name!r})"
                )
                break
    if problem is not None:
        raise WeightsError(
            describe(
                f"The weights in {str(path)!r} do not fit backbone {info.name!r}: {problem}",
                fix=(
                    "build the backbone with the same options (input size, channels, width) "
                    "as the one the weights were saved from, or use weights=None"
                ),
            )
        )
