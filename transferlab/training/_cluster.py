"""Who this process is in a (multi-worker) job, and where all workers resume together."""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING

from transferlab.training.state import BackupPosition

if TYPE_CHECKING:  # pragma: no cover
    import tensorflow as tf

__all__ = ["agree_on_position", "common_position", "task_identity"]

#: Positions each worker offers (its TrainingState keeps as many generations).
MAX_CANDIDATES = 3


def task_identity(strategy: tf.distribute.Strategy | None = None) -> tuple[bool, str]:
    """Returns ``(is_chief, worker_name)`` for this process.

    Uses the strategy's cluster resolver when it has one, else ``TF_CONFIG``.
    The chief is task type ``chief``, else ``worker`` 0; a single process is
    the chief, named ``"chief"``.

    Example:
        >>> task_identity()[0]
        True
    """
    task_type: str | None = None
    task_id = 0
    resolver = getattr(getattr(strategy, "extended", None), "_cluster_resolver", None)
    if resolver is not None and getattr(resolver, "task_type", None):
        task_type, task_id = resolver.task_type, int(resolver.task_id or 0)
        cluster = resolver.cluster_spec().as_dict()
    else:
        config = json.loads(os.environ.get("TF_CONFIG", "") or "{}")
        task = config.get("task") or {}
        cluster = config.get("cluster") or {}
        task_type, task_id = task.get("type"), int(task.get("index", 0) or 0)
    if not task_type:
        return True, "chief"
    has_chief = "chief" in cluster
    is_chief = task_type == "chief" or (task_type == "worker" and task_id == 0 and not has_chief)
    return is_chief, f"{task_type}{task_id}"


def common_position(offers: Sequence[Sequence[BackupPosition]]) -> BackupPosition | None:
    """The newest position every worker can resume from, or ``None`` (start afresh).

    Example:
        >>> P = BackupPosition
        >>> common_position([[P(0, 1, 4), P(0, 1, 2)], [P(0, 1, 2), P(0, 1, 0)]])
        BackupPosition(phase=0, epoch=1, step=2)
        >>> common_position([[P(1, 2, 0)], []]) is None
        True
    """
    if not offers:
        return None
    shared = set(offers[0]).intersection(*map(set, offers[1:]))
    return max(shared, key=dataclasses.astuple) if shared else None


def agree_on_position(
    strategy: tf.distribute.Strategy, positions: Sequence[BackupPosition], num_workers: int
) -> BackupPosition | None:
    """All workers exchange their backed-up positions; each returns the same common one.

    A collective (every worker must call it, at the same point). Workers are in
    lockstep only at collectives, so a worker that died may have backed up a
    save or two fewer than its peers; all resume from the newest position they
    all hold. A single worker gets its newest position back.
    """
    offered = sorted(positions, key=dataclasses.astuple, reverse=True)[:MAX_CANDIDATES]
    if num_workers <= 1:
        return offered[0] if offered else None
    import numpy as np
    import tensorflow as tf

    rows = [list(dataclasses.astuple(p)) for p in offered]
    rows += [[-1, -1, -1]] * (MAX_CANDIDATES - len(rows))
    local = tf.constant([rows], dtype=tf.int64)  # (1, K, 3): one block per replica

    @tf.function  # eager collectives are slow and warn
    def exchange() -> tf.Tensor:
        return strategy.gather(strategy.run(lambda: tf.identity(local)), axis=0)

    blocks = np.asarray(exchange()).reshape(-1, MAX_CANDIDATES, 3)
    offers = [[BackupPosition(*map(int, row)) for row in block if row[0] >= 0] for block in blocks]
    return common_position(offers)
