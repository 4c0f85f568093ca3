"""``FeatureCache``: compute a frozen backbone's features once, train the head on them."""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import re
import uuid
import weakref
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol

import keras
import numpy as np
import numpy.typing as npt
import tensorflow as tf

from transferlab.data.labeled_images import LabeledImages
from transferlab.data.source import IndexedSource, as_source
from transferlab.errors import ConfigError, DataError, DataFileError, describe
from transferlab.training.feature_source import (
    FEATURE_DTYPES,
    MANIFEST,
    Features,
    FeatureShard,
    FeatureSource,
    ShardWriter,
    open_shards,
    read_rows,
)

__all__ = ["FEATURE_CACHE_MODES", "MEMORY_LIMIT", "RANDOM_ATTRIBUTE", "SHARD_BYTES", "FeatureCache"]

logger = logging.getLogger(__name__)

#: Accepted values of a run's ``feature_cache`` option: ``auto`` caches where that is exact,
#: ``off`` never, ``disk`` also keeps the features in the run folder.
FEATURE_CACHE_MODES = ("auto", "off", "disk")

#: The class attribute by which a layer declares whether it is random in training: ``True``,
#: it changes its output from one training step to the next (no feature cache when it is on the
#: feature path); ``False``, it does not, even if it looks random (a ``Dropout`` subclass, a
#: ``keras.random.SeedGenerator`` attribute), and its sublayers are not checked either.
RANDOM_ATTRIBUTE = "transferlab_random"

#: Bytes of features a cache holds in memory, all entries together; beyond, entries go to disk.
MEMORY_LIMIT = 512 * 2**20
#: The largest shard file of an entry on disk (bytes of rows).
SHARD_BYTES = 64 * 2**20

# The dropout and noise families (SpatialDropout1D/2D/3D are Dropout subclasses).
_DROPOUT_AND_NOISE: tuple[type[keras.layers.Layer], ...] = (
    keras.layers.Dropout,
    keras.layers.GaussianNoise,
    keras.layers.GaussianDropout,
    keras.layers.AlphaDropout,
)
# Attributes that, when all present ones are 0, make a random layer an identity.
_RATE_ATTRIBUTES = ("rate", "stddev", "dropout", "recurrent_dropout")
_KEY_VERSION = b"transferlab-feature-cache-key-3\0"
_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")
# Per-object tokens of models whose feature path cannot be serialized.
_TOKENS: weakref.WeakKeyDictionary[keras.Model, str] = weakref.WeakKeyDictionary()


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
    the source's fingerprint; so a stale cache is never used, and the same
    model built twice has the same key.

    Where an entry lives: in memory while the cache's entries together take
    at most ``memory_limit`` bytes; beyond, in shards on disk (``.npy`` files
    of at most ``shard_bytes``, written as they are computed, read back row by
    row: never all in memory), in ``folder`` or else ``scratch``. With
    ``folder`` every entry is also written there (in memory too when it fits),
    as ``<folder>/<key>/``, and found again by its key by any later cache.
    Without either, features beyond the limit are refused before anything is
    computed. Damaged files are never used: see :meth:`features`.

    Args:
        folder: Optional folder for persistent entries (e.g. ``<run>/feature_cache``).
        batch_size: Images per forward pass when computing features.
        memory_limit: Bytes of features held in memory, all entries together.
        shard_bytes: The largest shard file (bytes of rows; at least one row).
        scratch: Optional folder for entries beyond the memory limit when
            there is no ``folder`` (the caller deletes it, after :meth:`close`).

    Raises:
        ConfigError: A size that is not a positive integer.

    Example:
        >>> import keras
        >>> FeatureCache.reasons_off(keras.Sequential([keras.Input((2,))]), augment=None)
        ['the model has no `feature_extractor()` and `head` (build it with build_classifier)']
        >>> class Jitter(keras.layers.Layer):
        ...     transferlab_random = True  # random in training: the cache is off
        >>> getattr(Jitter, RANDOM_ATTRIBUTE)
        True
    """

    def __init__(
        self,
        folder: str | Path | None = None,
        *,
        batch_size: int = 256,
        memory_limit: int = MEMORY_LIMIT,
        shard_bytes: int = SHARD_BYTES,
        scratch: str | Path | None = None,
    ) -> None:
        self.folder = Path(folder) if folder is not None else None
        self.scratch = Path(scratch) if scratch is not None else None
        self.batch_size = _positive("batch_size", batch_size, 1)
        self.memory_limit = _positive("memory_limit", memory_limit, 0)
        self.shard_bytes = _positive("shard_bytes", shard_bytes, 1)
        self._entries: dict[str, FeatureSource] = {}
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

    def key(self, model: keras.Model, data: LabeledImages | IndexedSource) -> str:
        """The cache key of ``model``'s features of ``data``.

        A hash of the serialized feature path (every layer's config from the
        images to the pooled features, with canonical layer names and without
        trainable flags), every variable's value (random layers' seed states
        excepted), the input adapter's config, the feature dtype, and the
        source's fingerprint (canonical JSON; an in-memory source's holds a
        digest of its arrays), element shape, dtype and pixel range. A
        feature path that cannot be serialized gets a key unique to the model
        object (reused in memory, never found on another process's disk).

        Args:
            model: A model with ``feature_extractor()``.
            data: The images: an indexed source, or a :class:`LabeledImages`.

        Returns:
            32 hex digits.

        Raises:
            DataError: ``data`` is not an indexed source (e.g. a ``tf.data.Dataset``).

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
        source = _indexed(data)
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
        described = {
            "kind": type(source).__name__,
            "fingerprint": source.fingerprint(),
            "element_shape": list(source.element_shape),
            "element_dtype": source.element_dtype.name,
            "pixel_range": list(source.pixel_range) if source.pixel_range is not None else None,
        }
        digest.update(b"|source ")
        digest.update(_canonical_json(described, {}).encode())
        return digest.hexdigest()[:32]

    def features(self, model: keras.Model, data: LabeledImages | IndexedSource) -> FeatureSource:
        """The pooled features of ``data``, as a source (computed, or found in memory or on disk).

        Computed by streaming ``make_pipeline(data, evaluation=True)`` (every
        example once, in order, :attr:`batch_size` at a time) through the
        feature extractor: the images are never all held. The table is kept
        in memory when it fits in what is left of :attr:`memory_limit`; else
        it is written to shards (in ``folder``, else in ``scratch``) as it is
        computed and read back row by row.

        An entry on disk is found again by its key; every shard is checked
        against the manifest (size, header, checksum) first. A damaged entry
        is logged (a warning naming the file) and computed again. A shard
        damaged later, while a pipeline reads it, raises a
        :class:`~transferlab.errors.DataFileError` naming the file (see
        :class:`~transferlab.training.feature_source.FeatureSource`) and
        drops the entry: the next call computes it again.

        Args:
            model: A model with ``feature_extractor()``.
            data: The images: an indexed source, or a :class:`LabeledImages`.

        Returns:
            A :class:`~transferlab.training.feature_source.FeatureSource`: the
            same labels and class names as ``data``, element shape ``(D,)``,
            the features' dtype, ``pixel_range=None``.

        Raises:
            DataError: ``data`` is not an indexed source.
            ConfigError: The features exceed the memory limit and neither
                ``folder`` nor ``scratch`` is given.
            StorageError: A shard cannot be written.

        Example:
            >>> import numpy as np
            >>> from transferlab.backbones import build_classifier
            >>> from transferlab.data import LabeledImages, make_pipeline
            >>> data = LabeledImages(np.zeros((3, 28, 28), "uint8"), np.array([0, 1, 1]), ("a", "b"))
            >>> model = build_classifier("alexnet", 2, width=0.125)
            >>> cache = FeatureCache()
            >>> features = cache.features(model, data)
            >>> features.element_shape, features.labels.tolist(), cache.features(model, data) is features
            ((64,), [0, 1, 1], True)
            >>> x, y = next(iter(make_pipeline(features, batch_size=2, shuffle=True, seed=0)))
            >>> tuple(x.shape), cache.hits, cache.misses
            ((2, 64), 1, 1)
        """
        source = _indexed(data)
        key = self.key(model, source)
        entry = self._entries.get(key)
        if entry is not None and entry.damage is None:
            self.hits += 1
            if np.array_equal(entry.labels, source.labels) and entry.class_names == source.class_names:
                return entry
            return entry.relabeled(source.labels, source.class_names)
        if entry is not None:
            self._drop(key)
        extractor = model.feature_extractor()
        dtype = tf.as_dtype(extractor.output.dtype).name
        width = extractor.output.shape[-1]
        if dtype not in FEATURE_DTYPES or not isinstance(width, int) or len(extractor.output.shape) != 2:
            raise ConfigError(
                describe(
                    "The feature extractor must give (batch, width) float features",
                    received=f"output {extractor.output.shape} of dtype {dtype}",
                    accepted=f"a pooled (batch, width) output in {', '.join(FEATURE_DTYPES)}",
                    fix="build the model with build_classifier (its pooling gives (batch, width))",
                )
            )
        n = len(source)
        nbytes = n * width * np.dtype(FEATURE_DTYPES[dtype]).itemsize
        in_memory = nbytes <= self.memory_limit - self._held_bytes()
        root = self.folder if self.folder is not None else (self.scratch if not in_memory else None)
        directory = root / key if root is not None else None
        found = self._open(directory, n, width, dtype) if directory is not None else None
        if found is not None and directory is not None:
            self.hits += 1
            if in_memory:
                table = read_rows(found, np.arange(n), width=width, dtype=dtype)
                result = FeatureSource(source.labels, source.class_names, key=key, array=table)
            else:
                result = self._on_disk(source, key, found, width, dtype, directory)
        else:
            self.misses += 1
            if in_memory:
                table = np.empty((n, width), tf.as_dtype(dtype).as_numpy_dtype)
                self._compute(extractor, source, _ArraySink(table))
                if directory is not None:
                    self._write(directory, n, width, dtype, lambda writer: writer.write(table))
                result = FeatureSource(source.labels, source.class_names, key=key, array=table)
            else:
                if directory is None:
                    raise ConfigError(
                        describe(
                            "The cached features do not fit in the feature cache's memory limit, and it "
                            "has no folder to write them to",
                            received=f"{n} examples x {width} {dtype} features = {_mib(nbytes)}, "
                            f"memory_limit={_mib(self.memory_limit)} "
                            f"({_mib(self._held_bytes())} already held)",
                            fix="pass FeatureCache(folder=...) or FeatureCache(scratch=...) "
                            "(feature_cache='disk' in a run), or a larger memory_limit",
                        )
                    )
                shards = self._write(
                    directory, n, width, dtype, lambda writer: self._compute(extractor, source, writer)
                )
                result = self._on_disk(source, key, shards, width, dtype, directory)
        self._entries[key] = result
        return result

    def close(self) -> None:
        """Forgets every entry and closes the shard files kept open (before deleting ``scratch``)."""
        for entry in self._entries.values():
            entry.close()
        self._entries.clear()

    def _held_bytes(self) -> int:
        return sum(e.shape[0] * e.shape[1] * e.dtype.itemsize for e in self._entries.values() if e.in_memory)

    def _drop(self, key: str) -> None:
        entry = self._entries.pop(key, None)
        if entry is not None:
            entry.close()

    def _open(self, directory: Path, n: int, width: int, dtype: str) -> list[FeatureShard] | None:
        try:
            return open_shards(directory, examples=n, width=width, dtype=dtype)
        except FileNotFoundError:
            return None
        except DataFileError as error:
            logger.warning("Feature cache: %s; computing the features again", str(error).split(". Fix:")[0])
            with contextlib.suppress(OSError):
                (directory / MANIFEST).unlink()
            return None

    def _write(
        self, directory: Path, n: int, width: int, dtype: str, fill: Callable[[ShardWriter], None]
    ) -> list[FeatureShard]:
        with contextlib.suppress(OSError):
            (directory / MANIFEST).unlink()  # the old entry, if any, is no longer complete
        with ShardWriter(
            directory, examples=n, width=width, dtype=dtype, shard_bytes=self.shard_bytes
        ) as writer:
            fill(writer)
            return writer.finish()

    def _on_disk(
        self,
        source: IndexedSource,
        key: str,
        shards: Sequence[FeatureShard],
        width: int,
        dtype: str,
        directory: Path,
    ) -> FeatureSource:
        entries = self._entries

        def damaged() -> None:
            entries.pop(key, None)
            with contextlib.suppress(OSError):
                (directory / MANIFEST).unlink()

        return FeatureSource(
            source.labels,
            source.class_names,
            key=key,
            shards=shards,
            width=width,
            dtype=dtype,
            on_damage=damaged,
        )

    def _compute(self, extractor: keras.Model, source: IndexedSource, sink: _Sink) -> None:
        from transferlab.data.pipeline import make_pipeline

        @tf.function(reduce_retracing=True)
        def forward(x: tf.Tensor) -> tf.Tensor:
            return extractor(x, training=False)

        batches = make_pipeline(source, batch_size=self.batch_size, evaluation=True, cache=False)
        for images, _ in batches:
            sink.write(keras.ops.convert_to_numpy(forward(images)))


class _Sink(Protocol):
    def write(self, rows: npt.ArrayLike) -> None: ...


class _ArraySink:
    """Fills a preallocated table, rows in order."""

    def __init__(self, table: Features) -> None:
        self.table = table
        self.written = 0

    def write(self, rows: npt.ArrayLike) -> None:
        array = np.asarray(rows, self.table.dtype)
        self.table[self.written : self.written + len(array)] = array
        self.written += len(array)


def _indexed(data: LabeledImages | IndexedSource) -> IndexedSource:
    source = as_source(data, name="data")
    if not isinstance(source, IndexedSource):
        raise DataError(
            describe(
                "The feature cache reads indexed sources (every example by index, in a fixed order)",
                received=f"a source of type {type(source).__name__}",
                accepted="LabeledImages, ArraySource, ImageFolderSource, TFRecordSource, any IndexedSource",
                fix="turn the feature cache off for this data (feature_cache='off')",
            )
        )
    return source


def _positive(name: str, value: object, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise ConfigError(describe(f"`{name}` must be an integer >= {low}", received=f"{name}={value!r}"))
    return int(value)


def _mib(nbytes: int) -> str:
    return f"{nbytes / 2**20:.1f} MiB"


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
