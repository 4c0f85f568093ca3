"""Reading and checking ``TF_CONFIG``, the cluster description of a multi-worker job."""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Mapping

from transferlab.errors import DistributionError, describe

__all__ = ["TFConfig"]

EXAMPLE = (
    'TF_CONFIG=\'{"cluster": {"worker": ["host1:12345", "host2:12345"]}, '
    '"task": {"type": "worker", "index": 0}}\''
)
_JOBS = ("chief", "worker")


@dataclasses.dataclass(frozen=True)
class TFConfig:
    """A checked ``TF_CONFIG``: the cluster and this process's task in it.

    Attributes:
        cluster: Job name -> list of ``"host:port"`` addresses.
        task_type: This process's job (``"chief"`` or ``"worker"``).
        task_index: This process's index within its job.

    Example:
        >>> cfg = TFConfig.parse('{"cluster": {"worker": ["a:1", "b:2"]},'
        ...                      ' "task": {"type": "worker", "index": 1}}')
        >>> cfg.num_workers, cfg.own_address, cfg.peers, cfg.is_chief
        (2, 'b:2', ('a:1',), False)
    """

    cluster: Mapping[str, tuple[str, ...]]
    task_type: str
    task_index: int

    @property
    def addresses(self) -> tuple[str, ...]:
        """Every chief and worker address, chief first."""
        return tuple(a for job in _JOBS for a in self.cluster.get(job, ()))

    @property
    def num_workers(self) -> int:
        """How many processes train (chief + workers)."""
        return len(self.addresses)

    @property
    def own_address(self) -> str:
        """This process's ``"host:port"``."""
        return self.cluster[self.task_type][self.task_index]

    @property
    def peers(self) -> tuple[str, ...]:
        """The other processes' addresses."""
        own = self.own_address
        return tuple(a for a in self.addresses if a != own)

    @property
    def is_chief(self) -> bool:
        """Task type ``chief``, or worker 0 when the cluster has no chief."""
        if self.cluster.get("chief"):
            return self.task_type == "chief"
        return self.task_type == "worker" and self.task_index == 0

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> TFConfig | None:
        """The checked ``TF_CONFIG`` of the environment, or ``None`` when unset or empty.

        Raises:
            DistributionError: ``TF_CONFIG`` is set but malformed.
        """
        text = (os.environ if environ is None else environ).get("TF_CONFIG", "")
        if not text.strip():
            return None
        return cls.parse(text)

    @classmethod
    def parse(cls, text: str) -> TFConfig:
        """Parses and checks the JSON text of a ``TF_CONFIG``.

        Raises:
            DistributionError: Bad JSON, no ``cluster`` or ``task``, a task
                type not in the cluster, an index out of range, a bad address.
        """

        def bad(problem: str, received: object) -> DistributionError:
            return DistributionError(
                describe(
                    f"TF_CONFIG is malformed: {problem}",
                    received=received,
                    fix=f"set one JSON object per process, e.g. {EXAMPLE}",
                )
            )

        try:
            raw = json.loads(text)
        except json.JSONDecodeError as err:
            raise bad(f"not valid JSON ({err.msg} at char {err.pos})", f"TF_CONFIG={text!r}") from None
        if not isinstance(raw, dict):
            raise bad("it must be a JSON object", f"TF_CONFIG={text!r}")
        for key in ("cluster", "task"):
            if not isinstance(raw.get(key), dict):
                raise bad(f"missing or non-object `{key}`", f"TF_CONFIG={text!r}")
        cluster: dict[str, tuple[str, ...]] = {}
        for job, addrs in raw["cluster"].items():
            if not isinstance(addrs, list) or not all(
                isinstance(a, str) and a.rpartition(":")[2].isdigit() for a in addrs
            ):
                raise bad(f"cluster job {job!r} must be a list of 'host:port' strings", f"{job}={addrs!r}")
            cluster[job] = tuple(addrs)
        if not any(cluster.get(job) for job in _JOBS):
            raise bad("the cluster has no 'chief' or 'worker' job", f"cluster={raw['cluster']!r}")
        task = raw["task"]
        task_type, index = task.get("type"), task.get("index", 0)
        if task_type not in cluster:
            raise bad(
                f"task type {task_type!r} is not a job of the cluster ({', '.join(map(repr, cluster))})",
                f"task={task!r}",
            )
        if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index < len(cluster[task_type]):
            raise bad(
                f"task index out of range: job {task_type!r} has {len(cluster[task_type])} "
                f"address(es), so the index must be 0..{len(cluster[task_type]) - 1}",
                f"task={task!r}",
            )
        return cls(cluster=cluster, task_type=task_type, task_index=index)
