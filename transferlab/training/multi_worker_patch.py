"""A scoped workaround that lets ``model.fit`` run under ``MultiWorkerMirroredStrategy``.

On Keras 3.15.1 with the TensorFlow backend, ``model.fit`` under a
multi-worker ``MultiWorkerMirroredStrategy`` fails twice
(keras-team/keras#20585, open): the throw-away build batch is reduced as a
whole structure of per-replica values, and the step's scalar logs are reduced
along an axis they do not have. :mod:`transferlab._keras_compat` holds the two
replaced Keras internals and explains them.

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
from collections.abc import Iterator

import tensorflow as tf

from transferlab._keras_compat import ALLOW_UNCHECKED_ENV, CHECKED_KERAS_VERSIONS, patched_multi_worker_fit
from transferlab.training.distribution_info import DistributionInfo

__all__ = ["ALLOW_UNCHECKED_ENV", "CHECKED_KERAS_VERSIONS", "multi_worker_patch"]


def _is_multi_worker(strategy: tf.distribute.Strategy) -> bool:
    return (
        isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy)
        and DistributionInfo.from_strategy(strategy).num_workers > 1
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
    strategy = strategy or tf.distribute.get_strategy()
    if not _is_multi_worker(strategy):
        yield False
        return
    with patched_multi_worker_fit(_is_multi_worker, allow_unchecked=allow_unchecked):
        yield True
