"""Choosing and creating the ``tf.distribute.Strategy`` a run trains under.

Create the strategy first, before any other TensorFlow call in the process:
TensorFlow configures collective ops (used by ``MultiWorkerMirroredStrategy``)
only at program start-up. In a multi-worker job, every process runs the same
script with its own ``TF_CONFIG``, or as a task of a Slurm job step (``srun``,
read by :mod:`transferlab.training.slurm`); :func:`resolve_distribution` waits
for all of them (with a deadline) before TensorFlow joins them.
"""

from __future__ import annotations

from collections.abc import Sequence

import tensorflow as tf

from transferlab.errors import ConfigError, DistributionError, describe
from transferlab.training.slurm import PORT_FIX, SlurmStep
from transferlab.training.tf_config import TFConfig
from transferlab.training.worker_rendezvous import wait_for_workers

__all__ = ["ACCEPTED_SPECS", "DistributionSpec", "resolve_distribution"]

ACCEPTED_SPECS = ("auto", "one_device", "mirrored", "multi_worker")
DistributionSpec = str | Sequence[str]


def _context_started() -> bool:
    from tensorflow.python.eager import context  # TF has no public "has started" query

    return getattr(context.context(), "_context_handle", None) is not None


def _check_devices(devices: Sequence[str]) -> list[str]:
    if not devices or not all(isinstance(d, str) and d for d in devices):
        raise ConfigError(
            describe(
                "a device list for `spec` must hold one or more device names",
                received=f"spec={list(devices)!r}",
                accepted="e.g. ['/gpu:0', '/gpu:1'] or ['/cpu:0', '/cpu:1']",
            )
        )
    available = {
        (d.device_type, d.device_index)
        for d in (tf.DeviceSpec.from_string(ld.name) for ld in tf.config.list_logical_devices())
    }
    names = sorted(f"/{t.lower()}:{i}" for t, i in available)
    for name in devices:
        try:
            spec = tf.DeviceSpec.from_string(name)
        except ValueError:
            spec = None
        if spec is None or (str(spec.device_type).upper(), spec.device_index or 0) not in available:
            raise ConfigError(
                describe(
                    f"device {name!r} is not a device of this process",
                    received=f"spec={list(devices)!r}",
                    accepted=", ".join(names),
                    fix="name visible devices, or use spec='mirrored' for all GPUs",
                )
            )
    return list(devices)


def _multi_worker(
    config: TFConfig | None, timeout: float, slurm: SlurmStep | None = None
) -> tf.distribute.Strategy:
    if slurm is not None:
        config = slurm.tf_config()
    if config is not None and config.num_workers > 1:
        if _context_started():
            raise DistributionError(
                describe(
                    "MultiWorkerMirroredStrategy must be created before any other TensorFlow "
                    "operation in the process (TensorFlow: 'Collective ops must be configured "
                    "at program startup')",
                    received="TensorFlow had already run operations or listed logical devices",
                    fix="call resolve_distribution() at the very start of the script, before "
                    "building models, datasets or tensors",
                )
            )
        if slurm is None:
            wait_for_workers(config, timeout)
        else:
            wait_for_workers(config, timeout, source="Slurm step", port_fix=PORT_FIX)
    try:
        return tf.distribute.MultiWorkerMirroredStrategy(
            cluster_resolver=None if slurm is None else slurm.resolver()
        )
    except RuntimeError as err:
        if "program startup" not in str(err):
            raise
        raise DistributionError(
            describe(
                "MultiWorkerMirroredStrategy must be created before any other TensorFlow operation",
                received=str(err),
                fix="call resolve_distribution() at the very start of the script",
            )
        ) from None


def resolve_distribution(
    spec: DistributionSpec = "auto", *, timeout: float = 120.0
) -> tf.distribute.Strategy:
    """Returns the distribution strategy named by ``spec``.

    Args:
        spec: ``"auto"``: ``MultiWorkerMirroredStrategy`` when ``TF_CONFIG``
            names several workers or, without ``TF_CONFIG``, this process is a
            task of a Slurm job step of several tasks (``srun``); else
            ``MirroredStrategy`` when several GPUs are visible, else the
            default strategy. ``"one_device"``: the first GPU, else the CPU.
            ``"mirrored"``: all GPUs of this machine (the CPU when there is
            none). ``"multi_worker"``: the workers of ``TF_CONFIG``; without
            it, the tasks of the Slurm job step (see
            :class:`~transferlab.training.slurm.SlurmStep` for its ports);
            this process alone when neither is set. ``TF_CONFIG``, when set,
            wins over Slurm. A list of device names: ``MirroredStrategy`` over
            those devices.
        timeout: Seconds to wait for every peer of a multi-worker job.

    Returns:
        The created ``tf.distribute.Strategy``.

    Raises:
        ConfigError: Unknown ``spec`` or device.
        DistributionError: Malformed ``TF_CONFIG``; an incomplete or
            inconsistent Slurm step, or ``"multi_worker"`` in a Slurm job of
            several tasks outside ``srun``; a multi-worker strategy asked for
            after TensorFlow started.
        WorkerTimeoutError: A peer worker did not join within ``timeout``.

    Example:
        >>> resolve_distribution(["/cpu:0", "/cpu:1"]).num_replicas_in_sync
        2
        >>> resolve_distribution("one_device").num_replicas_in_sync
        1
    """
    if not isinstance(timeout, (int, float)) or not timeout > 0:
        raise ConfigError(
            describe("`timeout` must be a number of seconds > 0", received=f"timeout={timeout!r}")
        )
    if not isinstance(spec, str):
        if isinstance(spec, Sequence):
            return tf.distribute.MirroredStrategy(_check_devices(spec))
        raise ConfigError(
            describe(
                "`spec` must be a strategy name or a list of device names",
                received=f"spec={spec!r}",
                accepted=", ".join(map(repr, ACCEPTED_SPECS)) + ", or a list of device names",
            )
        )
    if spec not in ACCEPTED_SPECS:
        raise ConfigError(
            describe(
                "unknown distribution `spec`",
                received=f"spec={spec!r}",
                accepted=", ".join(map(repr, ACCEPTED_SPECS)) + ", or a list of device names",
            )
        )
    config = TFConfig.from_env()
    slurm = None
    if config is None and spec == "multi_worker":
        slurm = SlurmStep.from_env()
    elif config is None and spec == "auto":
        slurm = SlurmStep.detect()
    if (
        spec == "multi_worker"
        or slurm is not None
        or (spec == "auto" and config is not None and config.num_workers > 1)
    ):
        return _multi_worker(config, timeout, slurm)
    gpus = tf.config.list_physical_devices("GPU")
    if spec == "one_device":
        return tf.distribute.OneDeviceStrategy("/gpu:0" if gpus else "/cpu:0")
    if spec == "mirrored" or len(gpus) > 1:
        return tf.distribute.MirroredStrategy()
    return tf.distribute.get_strategy()
