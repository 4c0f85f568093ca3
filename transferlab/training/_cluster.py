"""Who this process is in a (multi-worker) job: chief or not, and a name for its own folders."""

from __future__ import annotations

import json
import os
from typing import Any

__all__ = ["task_identity"]


def task_identity(strategy: Any = None) -> tuple[bool, str]:
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
