"""``FeatureCache``: compute a frozen backbone's features once, train the head on them."""

from __future__ import annotations

import hashlib
import io
import json
import logging
import re
import uuid
import weakref
from pathlib import Path
from typing import TypeAlias

import keras
import numpy as np

from transferlab._atomic import atomic_write_bytes
from transferlab.data.labeled_images import LabeledImages
from transferlab.errors import ConfigError, describe

__all__ = ["FEATURE_CACHE_MODES", "RANDOM_ATTRIBUTE", "FeatureCache"]

logger = logging.getLogger(__name__)

#: Accepted values of a run's ``feature_cache`` option: ``auto`` caches where that is exact,
#: ``off`` never, ``disk`` also keeps the features in the run folder.
FEATURE_CACHE_MODES = ("auto", "off", "disk")

#: The class attribute by which a layer declares whether it is random in training: ``True``,
#: it changes its output from one training step to the next (no feature cache when it is on the
#: feature path); ``False``, it does not, even if it looks random (a ``Dropout`` subclass, a
#: ``keras.random.SeedGenerator`` attribute), and its sublayers are not checked either.
RANDOM_ATTRIBUTE = "transferlab_random"

# The dropout and noise families (SpatialDropout1D/2D/3D are Dropout subclasses).
_DROPOUT_AND_NOISE: tuple[type[keras.layers.Layer], ...] = (
    keras.layers.Dropout,
    keras.layers.GaussianNoise,
    keras.layers.GaussianDropout,
    keras.layers.AlphaDropout,
)
# Attributes that, when all present ones are 0, make a random layer an identity.
_RATE_ATTRIBUTES = ("rate", "stddev", "dropout", "recurrent_dropout")
_KEY_VERSION = b"transferlab-feature-cache-key-2\0"
_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")
# Per-object tokens of models whose feature path cannot be serialized.
_TOKENS: weakref.WeakKeyDictionary[keras.Model, str] = weakref.WeakKeyDictionary()
# ``(N, D)`` features in the feature path's dtype: float32, float16 or ml_dtypes' bfloat16 (which
# NumPy's types cannot name, hence ``generic[object]``); quoted: ``np.generic`` is not
# subscriptable at runtime.
_Features: TypeAlias = "np.ndarray[tuple[int, int], np.dtype[np.generic[object]]]"


class FeatureCache:
    """Pooled backbone features of a data set, computed once and reused.

    Valid only when the features do not change during training: no
    augmentation, no trainable variable outside the head (adapter and backbone
    frozen), no BatchNorm in training mode and no random layer active in
    training on the feature path (input adapter, backbone, pooling).
    :meth:`reasons_off` says why it is not valid.

    A layer is random when it is one of Keras' dropout and noise layers
    (``Dropout``, ``SpatialDropout1D/2D/3D``, ``GaussianNoise``,
    ``GaussianDropout``, ``AlphaDropout``) or a subclass, or when it holds a
    ``keras.random.SeedGenerator`` (every ``Random*`` augmentation layer,
    ``RandAugment``, ``MixUp``...); one whose rates (``rate``, ``stddev``,
    ``dropout``, ``recurrent_dropout``) are all 0 is not. A custom layer
    declares itself with the class attribute named by :data:`RANDOM_ATTRIBUTE`:
    ``transferlab_random = True`` (random: the cache is off) or ``False``
    (deterministic in training, sublayers included).

    Entries are keyed by a hash of the whole feature path: the config of every
    layer from the images to the pooled features (layer names canonicalized,
    trainable flags left out), every variable's value, the feature dtype and
    the data (bytes, shape, dtype); so a stale cache is never used, and the
    same model built twice has the same key. They live in memory; with
    ``folder`` they are also written to (and read back from)
    ``<folder>/<key>.npz``.

    Args:
        folder: Optional folder for on-disk entries (e.g. ``<run>/feature_cache``).
        batch_size: Images per forward pass when computing features.

    Example:
        >>> import keras
        >>> FeatureCache.reasons_off(keras.Sequential([keras.Input((2,))]), augment=None)
        ['the model has no `feature_extractor()` and `head` (build it with build_classifier)']
        >>> class Jitter(keras.layers.Layer):
        ...     transferlab_random = True  # random in training: the cache is off
        >>> getattr(Jitter, RANDOM_ATTRIBUTE)
        True
    """

    def __init__(self, folder: str | Path | None = None, *, batch_size: int = 256) -> None:
        self.folder = Path(folder) if folder is not None else None
        self.batch_size = int(batch_size)
        self._memory: dict[str, _Features] = {}
        self.hits = 0
        self.misses = 0

    @staticmethod
    def reasons_off(model: keras.Model, *, augment: keras.layers.Layer | None) -> list[str]:
        """Why cached features would differ from the model's own; ``[]`` when valid.

        Args:
            model: A model with ``feature_extractor()`` and ``head`` (a
                :class:`~transferlab.backbones.Classifier`).
            augment: The training pipeline's augmentation, or ``None``.

        Returns:
            One sentence per reason; those about layers name the layer and its class.

        Raises:
            ConfigError: For a layer whose ``transferlab_random`` is not a bool.

        Example:
            >>> import keras
            >>> from transferlab.backbones import build_classifier
            >>> model = build_classifier("alexnet", 3, width=0.125)
            >>> model.backbone.trainable = False
            >>> FeatureCache.reasons_off(model, augment=None)
            []
            >>> FeatureCache.reasons_off(model, augment=keras.layers.RandomFlip())
            ['augmentation is on (features change every epoch)']
        """
        if not (hasattr(model, "feature_extractor") and hasattr(model, "head")):
            return ["the model has no `feature_extractor()` and `head` (build it with build_classifier)"]
        reasons = []
        if augment is not None:
            reasons.append("augmentation is on (features change every epoch)")
        head_ids = {id(v) for v in model.head.variables}
        outside = [v for v in model.trainable_variables if id(v) not in head_ids]
        if outside:
            owners: dict[int, keras.layers.Layer] = {}
            _variable_owners(model, owners)
            layers: list[keras.layers.Layer] = []
            for variable in outside:
                owner = owners.get(id(variable))
                if owner is not None and all(owner is not seen for seen in layers):
                    layers.append(owner)
            named = ", ".join(_describe_layer(layer) for layer in layers[:3])
            more = f" and {len(layers) - 3} more" if len(layers) > 3 else ""
            if not named:
                named = repr(outside[0].path)
            reasons.append(
                f"{len(outside)} variables outside the head train (unfrozen layers: {named}{more})"
            )
        extractor = model.feature_extractor()
        for layer in _descendants(extractor):
            is_batchnorm = isinstance(layer, keras.layers.BatchNormalization) or (
                "BatchNormalization" in type(layer).__name__
            )
            if is_batchnorm and layer.trainable:
                reasons.append(f"BatchNorm layer {_describe_layer(layer)} trains (runs in training mode)")
        for layer, parent, why in _random_layers(extractor, getattr(model, "name", "model")):
            reasons.append(
                f"random layer {_describe_layer(layer)} in {parent!r} is active in training ({why})"
            )
        return reasons

    def key(self, model: keras.Model, data: LabeledImages) -> str:
        """The cache key of ``model``'s features of ``data``.

        A hash of the serialized feature path (every layer's config from the
        images to the pooled features, with canonical layer names and without
        trainable flags), every variable's value (random layers' seed states
        excepted), the input adapter's config, the feature dtype, and the
        images' bytes, shape and dtype. A feature path that cannot be
        serialized gets a key unique to the model object (reused in memory,
        never found on another process's disk).

        Args:
            model: A model with ``feature_extractor()``.
            data: The images.

        Returns:
            32 hex digits.

        Example:
            >>> import numpy as np
            >>> from transferlab.backbones import build_classifier
            >>> from transferlab.data import LabeledImages
            >>> data = LabeledImages(np.zeros((2, 28, 28), "uint8"), np.array([0, 1]), ("a", "b"))
            >>> model = build_classifier("alexnet", 2, width=0.125)
            >>> rebuilt = build_classifier("alexnet", 2, width=0.125)
            >>> rebuilt.set_weights(model.get_weights())
            >>> nearest = build_classifier("alexnet", 2, width=0.125, resize="nearest")
            >>> nearest.set_weights(model.get_weights())
            >>> cache = FeatureCache()
            >>> cache.key(model, data) == cache.key(rebuilt, data), len(cache.key(model, data))
            (True, 32)
            >>> cache.key(model, data) == cache.key(nearest, data)
            False
        """
        extractor = model.feature_extractor()
        digest = hashlib.sha256(_KEY_VERSION)
        digest.update(_path_json(model, extractor).encode())
        adapter = getattr(model, "adapter", None)
        if adapter is not None:
            config = keras.saving.serialize_keras_object(adapter)
            digest.update(_canonical_json(config, {adapter.name: "#adapter"}).encode())
        seeds = {id(gen.state) for layer in _descendants(extractor) for gen in _seed_generators(layer)}
        seen: set[int] = set()
        for variable in extractor.variables:
            if id(variable) in seeds or id(variable) in seen:
                continue
            seen.add(id(variable))
            value = np.ascontiguousarray(keras.ops.convert_to_numpy(variable.value))
            digest.update(f"|{value.dtype}{value.shape}|".encode())
            digest.update(value.tobytes())
        digest.update(f"|features {extractor.output.dtype}|".encode())
        images = np.ascontiguousarray(data.images)
        digest.update(f"|images {images.dtype}{images.shape}|".encode())
        digest.update(images.tobytes())
        return digest.hexdigest()[:32]

    def features(self, model: keras.Model, data: LabeledImages) -> _Features:
        """The pooled features of ``data`` (computed, or read from memory or disk).

        Args:
            model: A model with ``feature_extractor()``.
            data: The images.

        Returns:
            An ``(N, D)`` array in the features' dtype.

        Example:
            >>> import numpy as np
            >>> from transferlab.backbones import build_classifier
            >>> from transferlab.data import LabeledImages
            >>> data = LabeledImages(np.zeros((2, 28, 28), "uint8"), np.array([0, 1]), ("a", "b"))
            >>> model = build_classifier("alexnet", 2, width=0.125)
            >>> cache = FeatureCache()
            >>> cache.features(model, data).shape, cache.features(model, data).shape, cache.hits
            ((2, 64), (2, 64), 1)
        """
        key = self.key(model, data)
        if key in self._memory:
            self.hits += 1
            return self._memory[key]
        path = self.folder / f"{key}.npz" if self.folder is not None else None
        if path is not None and path.is_file():
            with np.load(path) as stored:
                import tensorflow as tf

                dtype = tf.as_dtype(str(stored["dtype"])).as_numpy_dtype
                features: _Features = stored["features"].astype(dtype)
            self.hits += 1
        else:
            self.misses += 1
            features = self._compute(model, data)
            if path is not None:
                buffer = io.BytesIO()
                np.savez(buffer, features=features.astype("float32"), dtype=np.array(str(features.dtype)))
                atomic_write_bytes(path, buffer.getvalue())
        self._memory[key] = features
        return features

    def _compute(self, model: keras.Model, data: LabeledImages) -> _Features:
        import tensorflow as tf

        extractor = model.feature_extractor()
        images = data.images if data.images.ndim == 4 else data.images[..., None]

        @tf.function(reduce_retracing=True)
        def forward(x: tf.Tensor) -> tf.Tensor:
            return extractor(x, training=False)

        parts = []
        for start in range(0, len(images), self.batch_size):
            batch = tf.constant(images[start : start + self.batch_size].astype("float32"))
            parts.append(keras.ops.convert_to_numpy(forward(batch)))
        return np.concatenate(parts, axis=0)


# === Layers ===


def _children(layer: keras.layers.Layer) -> list[keras.layers.Layer]:
    """The direct sublayers of ``layer`` (a functional model's layers, a custom layer's attributes)."""
    flatten = getattr(layer, "_flatten_layers", None)
    if flatten is not None:
        return list(flatten(include_self=False, recursive=False))
    return list(getattr(layer, "layers", []))


def _descendants(layer: keras.layers.Layer) -> list[keras.layers.Layer]:
    found: list[keras.layers.Layer] = []
    for child in _children(layer):
        found.append(child)
        found.extend(_descendants(child))
    return found


def _describe_layer(layer: keras.layers.Layer) -> str:
    return f"{layer.name!r} ({type(layer).__name__})"


def _variable_owners(layer: keras.layers.Layer, owners: dict[int, keras.layers.Layer]) -> None:
    """Maps each trainable variable's id to the innermost layer that holds it."""
    for child in _children(layer):
        for variable in child.trainable_weights:
            owners[id(variable)] = child  # overwritten by a deeper layer that holds it too
        _variable_owners(child, owners)


def _declared(layer: keras.layers.Layer) -> bool | None:
    value = getattr(layer, RANDOM_ATTRIBUTE, None)
    if value is None or isinstance(value, bool):
        return value
    raise ConfigError(
        describe(
            f"`{RANDOM_ATTRIBUTE}` must be True or False",
            received=f"{RANDOM_ATTRIBUTE}={value!r} on layer {_describe_layer(layer)}",
            fix=f"set the class attribute `{RANDOM_ATTRIBUTE} = True` (random in training) or False",
        )
    )


def _seed_generators(layer: keras.layers.Layer) -> list[keras.random.SeedGenerator]:
    """The ``keras.random.SeedGenerator`` objects a layer holds."""
    found = list(getattr(layer, "_seed_generators", None) or [])
    for value in vars(layer).values():
        if isinstance(value, keras.random.SeedGenerator) and all(value is not g for g in found):
            found.append(value)
    return [g for g in found if isinstance(g, keras.random.SeedGenerator)]


def _all_rates_zero(layer: keras.layers.Layer) -> bool:
    rates: list[float] = []
    for name in _RATE_ATTRIBUTES:
        value = getattr(layer, name, None)
        if isinstance(value, (int, float, np.number)) and not isinstance(value, bool):
            rates.append(float(value))
    return bool(rates) and all(rate == 0 for rate in rates)


def _why_random(layer: keras.layers.Layer) -> str | None:
    """Why ``layer`` changes its output between training steps, or ``None``."""
    if _declared(layer):
        return f"it declares {RANDOM_ATTRIBUTE} = True"
    family = next((base for base in _DROPOUT_AND_NOISE if isinstance(layer, base)), None)
    if family is not None:
        return None if _all_rates_zero(layer) else f"a keras {family.__name__}"
    if _seed_generators(layer):
        return None if _all_rates_zero(layer) else "it draws from a keras.random.SeedGenerator"
    return None


def _random_layers(layer: keras.layers.Layer, name: str) -> list[tuple[keras.layers.Layer, str, str]]:
    """``(layer, parent name, why)`` of the random layers under ``layer``, outermost first."""
    found: list[tuple[keras.layers.Layer, str, str]] = []
    for child in _children(layer):
        if _declared(child) is False:
            continue
        why = _why_random(child)
        if why is not None:
            found.append((child, name, why))
        else:
            found.extend(_random_layers(child, child.name))
    return found


# === Key ===


def _path_json(model: keras.Model, extractor: keras.Model) -> str:
    """The feature path's config as canonical JSON (or a per-model token if it cannot be serialized)."""
    try:
        config = keras.saving.serialize_keras_object(extractor)
    except Exception as error:  # a custom layer without get_config
        logger.warning(
            "Feature cache: the feature path of %r cannot be serialized (%s); its key is unique to "
            "this model object, so a disk cache is not reused by another process",
            getattr(model, "name", model),
            error,
        )
        token = _TOKENS.get(model)
        if token is None:
            token = _TOKENS[model] = uuid.uuid4().hex
        return json.dumps({"unserializable": token})
    names: dict[str, str] = {}
    for layer in [extractor, *_descendants(extractor)]:
        names.setdefault(layer.name, f"#{len(names)}")
    return _canonical_json(config, names)


def _canonical_json(config: object, names: dict[str, str]) -> str:
    """JSON of a Keras config with layer names replaced by their canonical ones, trainable flags out."""

    def rename(value: object) -> object:
        return names.get(value, value) if isinstance(value, str) else value

    def walk(value: object) -> object:
        if isinstance(value, dict):
            out: dict[str, object] = {}
            for key, item in value.items():
                if key == "trainable":
                    continue
                if key == "name":
                    out[key] = rename(item)
                elif key == "keras_history" and isinstance(item, (list, tuple)) and item:
                    out[key] = [rename(item[0]), *item[1:]]
                elif key in ("input_layers", "output_layers"):
                    out[key] = rename_all(item)
                else:
                    out[key] = walk(item)
            return out
        if isinstance(value, (list, tuple)):
            return [walk(item) for item in value]
        return value

    def rename_all(value: object) -> object:
        if isinstance(value, (list, tuple)):
            return [rename_all(item) for item in value]
        return rename(value)

    def default(value: object) -> object:
        if isinstance(value, np.ndarray):
            return value.tolist()
        if isinstance(value, np.generic):
            return value.item()
        return f"{type(value).__module__}.{type(value).__qualname__}:{value}"

    text = json.dumps(walk(config), sort_keys=True, default=default)
    return _ADDRESS.sub(" at 0x?", text)
