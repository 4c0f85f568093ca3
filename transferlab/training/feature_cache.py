"""``FeatureCache``: compute a frozen backbone's features once, train the head on them."""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path
from typing import Any

import keras
import numpy as np

from transferlab._atomic import atomic_write_bytes
from transferlab.data.labeled_images import LabeledImages

__all__ = ["FeatureCache"]

logger = logging.getLogger(__name__)

_RANDOM_LAYERS = (
    "Dropout",
    "SpatialDropout1D",
    "SpatialDropout2D",
    "SpatialDropout3D",
    "GaussianNoise",
    "GaussianDropout",
    "AlphaDropout",
)


class FeatureCache:
    """Pooled backbone features of a data set, computed once and reused.

    Valid only when the features do not change during training: no
    augmentation, no trainable variable outside the head (adapter and backbone
    frozen), no BatchNorm in training mode and no random layer (dropout, noise)
    in the backbone. :meth:`reasons_off` says why it is not valid.

    Entries are keyed by a hash of the feature extractor's weights, the input
    adaptation's config, the feature dtype and the data's bytes, so a stale
    cache is never used. They live in memory; with ``folder`` they are also
    written to (and read back from) ``<folder>/<key>.npz``.

    Args:
        folder: Optional folder for on-disk entries (e.g. ``<run>/feature_cache``).
        batch_size: Images per forward pass when computing features.

    Example:
        >>> import keras
        >>> FeatureCache.reasons_off(keras.Sequential([keras.Input((2,))]), augment=None)
        ['the model has no `feature_extractor()` and `head` (build it with build_classifier)']
    """

    def __init__(self, folder: str | Path | None = None, *, batch_size: int = 256) -> None:
        self.folder = Path(folder) if folder is not None else None
        self.batch_size = int(batch_size)
        self._memory: dict[str, np.ndarray] = {}
        self.hits = 0
        self.misses = 0

    @staticmethod
    def reasons_off(model: Any, *, augment: Any) -> list[str]:
        """Why cached features would differ from the model's own; ``[]`` when valid."""
        if not (hasattr(model, "feature_extractor") and hasattr(model, "head")):
            return ["the model has no `feature_extractor()` and `head` (build it with build_classifier)"]
        reasons = []
        if augment is not None:
            reasons.append("augmentation is on (features change every epoch)")
        head_ids = {id(v) for v in model.head.variables}
        outside = [v.path for v in model.trainable_variables if id(v) not in head_ids]
        if outside:
            reasons.append(
                f"{len(outside)} variables outside the head train (unfrozen layers, e.g. {outside[0]!r})"
            )
        for layer in _flat_layers(model.backbone):
            kind = type(layer).__name__
            if "BatchNormalization" in kind and layer.trainable:
                reasons.append(f"BatchNorm layer {layer.name!r} trains (runs in training mode)")
            if kind in _RANDOM_LAYERS and float(getattr(layer, "rate", getattr(layer, "stddev", 1)) or 0) > 0:
                reasons.append(f"the backbone has a random layer {layer.name!r} ({kind}) active in training")
        return reasons

    def key(self, model: Any, data: LabeledImages) -> str:
        """The cache key: backbone + adapter weights, adapter config, feature dtype, data bytes."""
        digest = hashlib.sha256()
        extractor = model.feature_extractor()
        for variable in extractor.variables:
            value = np.ascontiguousarray(keras.ops.convert_to_numpy(variable.value))
            digest.update(str(variable.path).encode() + str(value.dtype).encode())
            digest.update(value.tobytes())
        adapter = getattr(model, "adapter", None)
        if adapter is not None:
            digest.update(json.dumps(adapter.get_config(), sort_keys=True, default=str).encode())
        digest.update(str(extractor.output.dtype).encode())
        digest.update(str(data.images.shape).encode() + str(data.images.dtype).encode())
        digest.update(np.ascontiguousarray(data.images).tobytes())
        return digest.hexdigest()[:32]

    def features(self, model: Any, data: LabeledImages) -> np.ndarray:
        """The pooled features of ``data`` (computed, or read from memory or disk)."""
        key = self.key(model, data)
        if key in self._memory:
            self.hits += 1
            return self._memory[key]
        path = self.folder / f"{key}.npz" if self.folder is not None else None
        if path is not None and path.is_file():
            with np.load(path) as stored:
                import tensorflow as tf

                dtype = tf.as_dtype(str(stored["dtype"])).as_numpy_dtype
                features = stored["features"].astype(dtype)
            self.hits += 1
        else:
            self.misses += 1
            features = self._compute(model, data)
            if path is not None:
                import io

                buffer = io.BytesIO()
                np.savez(buffer, features=features.astype("float32"), dtype=np.array(str(features.dtype)))
                atomic_write_bytes(path, buffer.getvalue())
        self._memory[key] = features
        return features

    def _compute(self, model: Any, data: LabeledImages) -> np.ndarray:
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


def _flat_layers(model: Any) -> list[Any]:
    found = []
    for layer in getattr(model, "layers", []):
        found.append(layer)
        if hasattr(layer, "layers"):
            found.extend(_flat_layers(layer))
    return found
