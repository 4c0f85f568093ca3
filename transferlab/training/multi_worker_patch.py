"""A scoped workaround that lets ``model.fit`` run under ``MultiWorkerMirroredStrategy``.

On Keras 3.15.1 with the TensorFlow backend, ``model.fit`` under a
multi-worker ``MultiWorkerMirroredStrategy`` fails twice
(keras-team/keras#20585, open):

1. ``TensorFlowTrainer._maybe_symbolic_build`` builds the model from one
   throw-away batch and calls ``strategy.reduce("MEAN", batch, axis=None)`` on
   the whole ``(x, y)`` structure of per-replica values:
   ``ValueError: Attempt to convert a value (PerReplica...)``. The build only
   needs shapes and dtypes, so the patch takes this worker's first local
   replica's batch instead (no collective, the same on every worker).
2. ``reduce_per_replica`` reduces the step's logs with
   ``strategy.reduce("MEAN", v, axis=0)``; the logs are scalars:
   ``Invalid reduction dimension 0 for input with 0 dimensions``. The patch
   reduces scalars with ``axis=None`` (mean over replicas) and leaves
   everything else to the original.

:func:`multi_worker_patch` swaps both in only while its ``with`` block runs,
only for a multi-worker strategy, and restores the originals on exit. The
patched functions defer to the originals for any other strategy, so models
trained meanwhile in the same process are unaffected. It refuses Keras
versions it was not checked against (:data:`CHECKED_KERAS_VERSIONS`) unless
``allow_unchecked=True`` or the environment variable
``TRANSFERLAB_ALLOW_UNCHECKED_KERAS=1`` is set.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator
from typing import Any

import keras
import tensorflow as tf

from transferlab.errors import UnsupportedVersionError, describe
from transferlab.training.distribution_info import DistributionInfo

__all__ = ["ALLOW_UNCHECKED_ENV", "CHECKED_KERAS_VERSIONS", "multi_worker_patch"]

#: Keras versions on which the two replaced internals were read and the
#: patched multi-worker ``fit`` was run and compared with a one-device run.
CHECKED_KERAS_VERSIONS: tuple[str, ...] = ("3.15.1",)
ALLOW_UNCHECKED_ENV = "TRANSFERLAB_ALLOW_UNCHECKED_KERAS"

_lock = threading.Lock()
_depth = 0
_originals: dict[str, Any] = {}


def _is_multi_worker(strategy: Any) -> bool:
    return (
        isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy)
        and DistributionInfo.from_strategy(strategy).num_workers > 1
    )


def _first_local(strategy: Any, value: Any) -> Any:
    if isinstance(value, tf.distribute.DistributedValues):
        return strategy.experimental_local_results(value)[0]
    return value


def _patched_maybe_symbolic_build(self: Any, iterator: Any = None, data_batch: Any = None) -> Any:
    strategy = self._distribute_strategy
    if iterator is None or not _is_multi_worker(strategy):
        return _originals["maybe_symbolic_build"](self, iterator=iterator, data_batch=data_batch)
    for _, _, it in iterator:
        data_batch = keras.tree.map_structure(lambda v: _first_local(strategy, v), next(it))
        break
    with strategy.scope():
        self._symbolic_build(data_batch=data_batch)


def _patched_reduce_per_replica(values: Any, strategy: Any, reduction: str) -> Any:
    original = _originals["reduce_per_replica"]
    if reduction not in ("auto", "mean") or not _is_multi_worker(strategy):
        return original(values, strategy, reduction)

    def reduce_one(v: Any) -> Any:
        local = _first_local(strategy, v)
        if isinstance(local, (tf.Tensor, tf.Variable)) and local.shape.rank == 0:
            return strategy.reduce("MEAN", v, axis=None)
        return original(v, strategy, reduction)

    return keras.tree.map_structure(reduce_one, values)


def _targets() -> tuple[Any, Any]:
    try:
        from keras.src.backend.tensorflow import trainer as tf_trainer

        cls = tf_trainer.TensorFlowTrainer
        cls.__dict__["_maybe_symbolic_build"]
        tf_trainer.reduce_per_replica  # noqa: B018
    except (ImportError, AttributeError, KeyError) as err:
        raise UnsupportedVersionError(
            describe(
                "the Keras internals the multi-worker fit workaround replaces are not there",
                received=f"keras=={keras.__version__} ({err})",
                accepted="keras " + ", ".join(CHECKED_KERAS_VERSIONS),
                fix="install a checked Keras version, or train on one machine (MirroredStrategy)",
            )
        ) from None
    return tf_trainer, cls


def _check_version(allow_unchecked: bool) -> None:
    if keras.__version__ in CHECKED_KERAS_VERSIONS:
        return
    if allow_unchecked or os.environ.get(ALLOW_UNCHECKED_ENV, "") == "1":
        return
    raise UnsupportedVersionError(
        describe(
            "the multi-worker fit workaround (keras-team/keras#20585) was not checked "
            "against this Keras version",
            received=f"keras=={keras.__version__}",
            accepted="keras " + ", ".join(CHECKED_KERAS_VERSIONS),
            fix=f"install a checked version, or try anyway with {ALLOW_UNCHECKED_ENV}=1 "
            "(or allow_unchecked=True) and compare with a one-device run",
        )
    )


@contextlib.contextmanager
def multi_worker_patch(
    strategy: tf.distribute.Strategy | None = None, *, allow_unchecked: bool = False
) -> Iterator[bool]:
    """Lets ``model.fit`` run under a multi-worker strategy inside the block.

    Args:
        strategy: The strategy the model was compiled under (the current one
            when ``None``). Anything but a multi-worker
            ``MultiWorkerMirroredStrategy`` patches nothing.
        allow_unchecked: Patch on a Keras version not in
            :data:`CHECKED_KERAS_VERSIONS` (also: ``TRANSFERLAB_ALLOW_UNCHECKED_KERAS=1``).

    Yields:
        Whether the patch is active in the block.

    Raises:
        UnsupportedVersionError: Multi-worker on an unchecked Keras version.

    Example:
        >>> import tensorflow as tf
        >>> with multi_worker_patch(tf.distribute.get_strategy()) as active:
        ...     active
        False
    """
    global _depth
    strategy = strategy or tf.distribute.get_strategy()
    if not _is_multi_worker(strategy):
        yield False
        return
    _check_version(allow_unchecked)
    tf_trainer, cls = _targets()
    with _lock:
        if _depth == 0:
            _originals["maybe_symbolic_build"] = cls.__dict__["_maybe_symbolic_build"]
            _originals["reduce_per_replica"] = tf_trainer.reduce_per_replica
            cls._maybe_symbolic_build = _patched_maybe_symbolic_build
            tf_trainer.reduce_per_replica = _patched_reduce_per_replica
        _depth += 1
    try:
        yield True
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0:
                cls._maybe_symbolic_build = _originals.pop("maybe_symbolic_build")
                tf_trainer.reduce_per_replica = _originals.pop("reduce_per_replica")
