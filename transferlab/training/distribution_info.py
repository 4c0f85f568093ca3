"""What a distribution strategy means for a run: replicas, chief, batch, rate."""

from __future__ import annotations

import dataclasses

import tensorflow as tf

from transferlab.errors import ConfigError, describe

__all__ = ["LR_SCALINGS", "DistributionInfo"]

#: Accepted values of a run's ``scale_learning_rate`` option.
LR_SCALINGS = ("none", "linear")


@dataclasses.dataclass(frozen=True)
class DistributionInfo:
    """Replica count and chief role of this process under a strategy.

    Attributes:
        num_replicas: Replicas in sync over all workers.
        num_workers: Processes taking part (1 unless multi-worker).
        task_type: ``"chief"``/``"worker"`` in a multi-worker job, else ``None``.
        task_index: This worker's index in its job (0 when not multi-worker).
        is_chief: Whether this process writes shared outputs (the task of type
            ``chief``, else worker 0; always ``True`` outside a multi-worker job).

    Example:
        >>> import tensorflow as tf
        >>> info = DistributionInfo.from_strategy(tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"]))
        >>> info.num_replicas, info.is_chief, info.global_batch_size(32)
        (2, True, 64)
        >>> info.scaled_learning_rate(1e-3)
        0.002
    """

    num_replicas: int
    num_workers: int = 1
    task_type: str | None = None
    task_index: int = 0
    is_chief: bool = True

    @classmethod
    def from_strategy(cls, strategy: tf.distribute.Strategy | None = None) -> DistributionInfo:
        """Reads the info of ``strategy`` (the current one when ``None``)."""
        strategy = strategy or tf.distribute.get_strategy()
        resolver = getattr(strategy, "cluster_resolver", None)
        task_type = getattr(resolver, "task_type", None)
        if resolver is None or task_type is None:
            return cls(num_replicas=strategy.num_replicas_in_sync)
        jobs = resolver.cluster_spec().as_dict()
        task_index = int(resolver.task_id or 0)
        num_workers = sum(len(jobs.get(job, ())) for job in ("chief", "worker"))
        is_chief = task_type == "chief" if jobs.get("chief") else (task_type == "worker" and task_index == 0)
        return cls(
            num_replicas=strategy.num_replicas_in_sync,
            num_workers=max(num_workers, 1),
            task_type=task_type,
            task_index=task_index,
            is_chief=is_chief,
        )

    def global_batch_size(self, per_replica_batch_size: int) -> int:
        """The batch the dataset must yield: per-replica batch x replicas."""
        if not isinstance(per_replica_batch_size, int) or per_replica_batch_size < 1:
            raise ConfigError(
                describe(
                    "`per_replica_batch_size` must be a whole number >= 1",
                    received=f"per_replica_batch_size={per_replica_batch_size!r}",
                )
            )
        return per_replica_batch_size * self.num_replicas

    def scaled_learning_rate(self, base_rate: float, scaling: str = "linear") -> float:
        """The learning rate for the global batch.

        Args:
            base_rate: The rate tuned for one replica's batch.
            scaling: ``"linear"`` (rate x replicas, Goyal et al. 2017) or
                ``"none"``.
        """
        if scaling not in LR_SCALINGS:
            raise ConfigError(
                describe(
                    "unknown learning-rate `scaling`",
                    received=f"scaling={scaling!r}",
                    accepted=", ".join(map(repr, LR_SCALINGS)),
                )
            )
        return base_rate * self.num_replicas if scaling == "linear" else base_rate
