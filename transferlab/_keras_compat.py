"""The one place where transferlab touches private Keras/TensorFlow internals.

Everything else in transferlab uses public API only. What Keras offers no public
way to do lives here, each behind the same version check
(:func:`check_keras_version` against :data:`CHECKED_KERAS_VERSIONS`):

- reading internals: :func:`flatten_layers` (a model's layers, recursively),
  :func:`build_compiled_metrics` (create the compiled metrics' variables
  before ``fit`` does), :func:`replica_components` (each local replica's copy
  of a variable under ``tf.distribute``). On a Keras version not in
  :data:`CHECKED_KERAS_VERSIONS` they run, with one warning per feature, and
  a missing internal raises :class:`~transferlab.errors.UnsupportedVersionError`;
- replacing internals: :func:`patched_multi_worker_fit` swaps in the
  keras-team/keras#20585 workaround that
  :func:`transferlab.training.multi_worker_patch.multi_worker_patch` scopes.
  It is refused on an unchecked version unless allowed
  (``allow_unchecked=True`` or ``TRANSFERLAB_ALLOW_UNCHECKED_KERAS=1``).

On Keras 3.15.1 with the TensorFlow backend, ``model.fit`` under a multi-worker
``MultiWorkerMirroredStrategy`` fails twice (keras-team/keras#20585, open):

1. ``TensorFlowTrainer._maybe_symbolic_build`` builds the model from one
   throw-away batch and calls ``strategy.reduce("MEAN", batch, axis=None)`` on
   the whole ``(x, y)`` structure of per-replica values:
   ``ValueError: Attempt to convert a value (PerReplica...)``. The build only
   needs shapes and dtypes, so the replacement takes this worker's first local
   replica's batch instead (no collective, the same on every worker).
2. ``reduce_per_replica`` reduces the step's logs with
   ``strategy.reduce("MEAN", v, axis=0)``; the logs are scalars:
   ``Invalid reduction dimension 0 for input with 0 dimensions``. The
   replacement reduces scalars with ``axis=None`` (mean over replicas) and
   leaves everything else to the original.

This module imports nothing from transferlab but :mod:`transferlab.errors`.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import cast

import keras
import tensorflow as tf

from transferlab.errors import UnsupportedVersionError, describe

__all__ = [
    "ALLOW_UNCHECKED_ENV",
    "CHECKED_KERAS_VERSIONS",
    "build_compiled_metrics",
    "check_keras_version",
    "flatten_layers",
    "multi_worker_fit_targets",
    "patched_multi_worker_fit",
    "replica_components",
]

#: Keras versions on which every internal used here was read, and the patched
#: multi-worker ``fit`` was run and compared with a one-device run.
CHECKED_KERAS_VERSIONS: tuple[str, ...] = ("3.15.1",)
#: Set to ``1`` to use the internals on a Keras version not in :data:`CHECKED_KERAS_VERSIONS`.
ALLOW_UNCHECKED_ENV = "TRANSFERLAB_ALLOW_UNCHECKED_KERAS"

logger = logging.getLogger("transferlab")
_warned: set[str] = set()


def check_keras_version(feature: str, *, allow_unchecked: bool = False) -> bool:
    """Checks that ``feature``'s Keras internals were checked on the installed Keras.

    Args:
        feature: What needs the internals, for the messages (e.g.
            ``"the multi-worker fit workaround (keras-team/keras#20585)"``).
        allow_unchecked: Go on with an unchecked version (with a warning,
            once per feature) instead of raising; also allowed by the
            environment variable ``TRANSFERLAB_ALLOW_UNCHECKED_KERAS=1``.

    Returns:
        ``True`` on a checked version, ``False`` on an unchecked one that is allowed.

    Raises:
        UnsupportedVersionError: An unchecked version, not allowed.

    Example:
        >>> check_keras_version("flatten_layers")
        True
    """
    if keras.__version__ in CHECKED_KERAS_VERSIONS:
        return True
    if allow_unchecked or os.environ.get(ALLOW_UNCHECKED_ENV, "") == "1":
        if feature not in _warned:
            _warned.add(feature)
            logger.warning(
                "%s uses Keras internals not checked on keras==%s (checked: %s)",
                feature,
                keras.__version__,
                ", ".join(CHECKED_KERAS_VERSIONS),
            )
        return False
    raise UnsupportedVersionError(
        describe(
            f"{feature} was not checked against this Keras version",
            received=f"keras=={keras.__version__}",
            accepted="keras " + ", ".join(CHECKED_KERAS_VERSIONS),
            fix=f"install a checked version, or try anyway with {ALLOW_UNCHECKED_ENV}=1 "
            "(or allow_unchecked=True) and compare with a run on a checked version",
        )
    )


def _missing(feature: str, err: BaseException) -> UnsupportedVersionError:
    return UnsupportedVersionError(
        describe(
            f"the Keras internals {feature} uses are not there",
            received=f"keras=={keras.__version__} ({type(err).__name__}: {err})",
            accepted="keras " + ", ".join(CHECKED_KERAS_VERSIONS),
            fix="install a checked Keras version",
        )
    )


# Reading internals -------------------------------------------------------------------
def flatten_layers(
    layer: keras.layers.Layer, *, include_self: bool = True, recursive: bool = True
) -> list[keras.layers.Layer]:
    """Every layer inside ``layer`` (depth first), each once: ``Layer._flatten_layers``.

    Keras has no public recursive walk: ``Model.layers`` is one level deep and
    plain layers holding sublayers have none.

    Args:
        layer: A layer or model.
        include_self: Whether ``layer`` itself comes first.
        recursive: Whether to descend into the sublayers' sublayers.

    Raises:
        UnsupportedVersionError: The installed Keras has no ``_flatten_layers``.

    Example:
        >>> import keras
        >>> inner = keras.Sequential([keras.layers.Dense(1, name="d")], name="inner")
        >>> outer = keras.Sequential([inner], name="outer")
        >>> [sub.name for sub in flatten_layers(outer)]
        ['outer', 'inner', 'd']
        >>> [sub.name for sub in flatten_layers(outer, include_self=False, recursive=False)]
        ['inner']
    """
    check_keras_version("flatten_layers", allow_unchecked=True)
    try:
        walk = layer._flatten_layers
    except AttributeError as err:
        raise _missing("flatten_layers", err) from None
    return list(walk(include_self=include_self, recursive=recursive))


def _strategy_scope(model: keras.Model) -> contextlib.AbstractContextManager[object]:
    """The model's distribution scope, unless a strategy is active already."""
    strategy = getattr(model, "distribute_strategy", None)
    if strategy is None or tf.distribute.has_strategy():
        return contextlib.nullcontext()
    return cast(contextlib.AbstractContextManager[object], strategy.scope())


def build_compiled_metrics(model: keras.Model, batch: object) -> None:
    """Creates the variables of ``model``'s compiled metrics (and loss) as ``fit`` would.

    Keras creates them lazily, from the first batch ``fit`` sees: before that,
    ``model.metrics`` lacks them. This runs Keras' own symbolic build
    (``Trainer._symbolic_build``) on ``batch``'s shapes and dtypes (no value is
    read, no metric is updated, no collective runs), under the model's
    distribution scope when no strategy is active. It also builds the
    optimizer for the trainable variables if it is not built, as ``fit`` does.

    Args:
        model: A compiled model.
        batch: One batch ``(x, y)`` or ``(x, y, sample_weight)`` of real data
            (arrays or tensors with the training data's shapes and dtypes).

    Raises:
        UnsupportedVersionError: The installed Keras has no ``_symbolic_build``.

    Example:
        >>> import keras, numpy as np
        >>> model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(3, activation="softmax")])
        >>> model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        >>> sum(len(m.variables) for m in model.metrics)
        2
        >>> build_compiled_metrics(model, (np.zeros((4, 2), "float32"), np.zeros((4,), "int32")))
        >>> sum(len(m.variables) for m in model.metrics)
        4
    """
    check_keras_version("build_compiled_metrics", allow_unchecked=True)
    try:
        build = model._symbolic_build
    except AttributeError as err:
        raise _missing("build_compiled_metrics", err) from None
    with _strategy_scope(model):
        build(data_batch=tuple(batch) if isinstance(batch, list) else batch)


def replica_components(variable: keras.Variable | tf.Variable) -> list[tf.Variable]:
    """This process's copies of ``variable``: one per local replica under a strategy, else itself.

    Metric accumulators are sync-on-read: each replica keeps its own share, and
    reading one in cross-replica context sums the replicas (a collective under a
    multi-worker strategy). Reading or assigning each local copy is exact and
    needs no collective. The copies are ``tf.Variable`` objects (``numpy()``,
    ``assign()``) held by Keras' private ``Variable._value``.

    Example:
        >>> import keras
        >>> mean = keras.metrics.Mean()
        >>> [part is mean.variables[0] for part in replica_components(mean.variables[0])]
        [True]
    """
    check_keras_version("replica_components", allow_unchecked=True)
    for candidate in (getattr(variable, "_value", None), getattr(variable, "value", None)):
        parts = getattr(candidate, "values", None)
        if isinstance(parts, tuple) and parts and hasattr(parts[0], "assign"):
            return list(parts)
    return [variable]


# Replacing internals: the multi-worker fit workaround --------------------------------------
_lock = threading.Lock()
_depth = 0
_BuildFn = Callable[[keras.Model, object, object], object]
_ReduceFn = Callable[[object, tf.distribute.Strategy, str], object]
_originals: dict[str, object] = {}
_predicate: list[Callable[[tf.distribute.Strategy], bool]] = []


def _is_multi_worker(strategy: tf.distribute.Strategy) -> bool:
    return bool(_predicate) and _predicate[0](strategy)


def _first_local(strategy: tf.distribute.Strategy, value: object) -> object:
    if isinstance(value, tf.distribute.DistributedValues):
        return strategy.experimental_local_results(value)[0]
    return value


def _patched_maybe_symbolic_build(
    self: keras.Model,
    iterator: Iterable[tuple[int, int, Iterator[object]]] | None = None,
    data_batch: object = None,
) -> object:
    strategy = self._distribute_strategy
    if iterator is None or not _is_multi_worker(strategy):
        return cast(_BuildFn, _originals["maybe_symbolic_build"])(self, iterator, data_batch)
    for _, _, it in iterator:
        data_batch = keras.tree.map_structure(lambda v: _first_local(strategy, v), next(it))
        break
    with strategy.scope():
        self._symbolic_build(data_batch=data_batch)
    return None


def _patched_reduce_per_replica(values: object, strategy: tf.distribute.Strategy, reduction: str) -> object:
    original = cast(_ReduceFn, _originals["reduce_per_replica"])
    if reduction not in ("auto", "mean") or not _is_multi_worker(strategy):
        return original(values, strategy, reduction)

    def reduce_one(v: object) -> object:
        local = _first_local(strategy, v)
        if isinstance(local, (tf.Tensor, tf.Variable)) and local.shape.rank == 0:
            return strategy.reduce("MEAN", v, axis=None)
        return original(v, strategy, reduction)

    return keras.tree.map_structure(reduce_one, values)


def multi_worker_fit_targets() -> None:
    """Checks that the internals the multi-worker fit workaround replaces are there.

    They are ``TensorFlowTrainer._maybe_symbolic_build`` and ``reduce_per_replica``
    of ``keras.src.backend.tensorflow.trainer``.

    Raises:
        UnsupportedVersionError: ``_maybe_symbolic_build`` or ``reduce_per_replica`` is not there.

    Example:
        >>> multi_worker_fit_targets()
    """
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


@contextlib.contextmanager
def patched_multi_worker_fit(
    is_multi_worker: Callable[[tf.distribute.Strategy], bool], *, allow_unchecked: bool = False
) -> Iterator[None]:
    """Swaps in the keras-team/keras#20585 workaround while the block runs (nestable).

    The replacements act only for strategies for which ``is_multi_worker``
    is true and defer to the originals otherwise, so other models fitting
    meanwhile are unaffected. The originals are back when the outermost block
    exits (also on an exception).

    Args:
        is_multi_worker: Whether a strategy is a multi-worker one (the
            outermost block's predicate is used while nested).
        allow_unchecked: Patch on a Keras version not in :data:`CHECKED_KERAS_VERSIONS`.

    Raises:
        UnsupportedVersionError: An unchecked Keras version (not allowed) or
            the internals are not there.

    Example:
        >>> from keras.src.backend.tensorflow import trainer as module
        >>> with patched_multi_worker_fit(lambda strategy: False):
        ...     module.reduce_per_replica is _patched_reduce_per_replica
        True
        >>> module.reduce_per_replica is _patched_reduce_per_replica
        False
    """
    global _depth
    check_keras_version(
        "the multi-worker fit workaround (keras-team/keras#20585)", allow_unchecked=allow_unchecked
    )
    multi_worker_fit_targets()
    from keras.src.backend.tensorflow import trainer as tf_trainer

    cls = tf_trainer.TensorFlowTrainer
    with _lock:
        if _depth == 0:
            _originals["maybe_symbolic_build"] = cls.__dict__["_maybe_symbolic_build"]
            _originals["reduce_per_replica"] = tf_trainer.reduce_per_replica
            _predicate[:] = [is_multi_worker]
            cls._maybe_symbolic_build = _patched_maybe_symbolic_build
            tf_trainer.reduce_per_replica = _patched_reduce_per_replica
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0:
                cls._maybe_symbolic_build = _originals.pop("maybe_symbolic_build")
                tf_trainer.reduce_per_replica = _originals.pop("reduce_per_replica")
                _predicate.clear()
