"""Reading a Slurm job step into the cluster of a multi-worker job.

Under ``srun``, every task of a job step gets the same description of the
step (its nodes, how many tasks run on each, how many tasks in all) and its own
rank. :class:`SlurmStep` reads them and lays the tasks out as TensorFlow
workers: the ranks in Slurm's block order (the tasks of the first node, then
those of the next), each task of a node on its own port from a base
(``TRANSFERLAB_SLURM_PORT_BASE``, default 8888 as in TensorFlow's
``SlurmClusterResolver``).

TensorFlow 2.21's own ``SlurmClusterResolver`` is not used: it sorts the node
names as strings (``node10`` before ``node9``, so a rank gets another node's
address and the job hangs), expands node lists without ``scontrol`` (``a[1-2]-b[1-2]``
fails), and needs ``nvidia-smi`` or at least one GPU per task.
"""

from __future__ import annotations

import dataclasses
import os
import re
import shutil
import subprocess
from collections.abc import Mapping

import tensorflow as tf

from transferlab.errors import DistributionError, describe
from transferlab.training.tf_config import TFConfig

__all__ = [
    "DEFAULT_PORT_BASE",
    "PORT_BASE_ENV",
    "PORT_FIX",
    "SlurmStep",
    "expand_hostlist",
    "expand_tasks_per_node",
]

#: The variable that sets the first port of every node's tasks.
PORT_BASE_ENV = "TRANSFERLAB_SLURM_PORT_BASE"
#: The first port when :data:`PORT_BASE_ENV` is unset (TensorFlow's ``SlurmClusterResolver`` default).
DEFAULT_PORT_BASE = 8888
#: How to fix a port that is taken.
PORT_FIX = f"free that port, or set {PORT_BASE_ENV} to a free first port for every task (default {DEFAULT_PORT_BASE})"

_STEP_VARS = ("SLURM_PROCID", "SLURM_STEP_NUM_TASKS", "SLURM_STEP_NODELIST", "SLURM_STEP_TASKS_PER_NODE")
_FIX = "start one task per worker with `srun` (e.g. `srun python train.py` in an sbatch script), or set TF_CONFIG"
_TASKS_PART = re.compile(r"(\d+)(?:\(x(\d+)\))?")
_HOST_ITEM = re.compile(r"([^\[\],]*)\[([0-9,\-]+)\]([^\[\],]*)")
_RANGE = re.compile(r"(\d+)(?:-(\d+))?")


def _bad(problem: str, received: str, fix: str = _FIX) -> DistributionError:
    return DistributionError(describe(f"Slurm job step: {problem}", received=received, fix=fix))


def expand_tasks_per_node(text: str) -> tuple[int, ...]:
    """Expands Slurm's tasks-per-node list (``SLURM_STEP_TASKS_PER_NODE``).

    Example:
        >>> expand_tasks_per_node("2(x3),1")
        (2, 2, 2, 1)

    Raises:
        DistributionError: Not in Slurm's form.
    """
    counts: list[int] = []
    for part in text.split(","):
        match = _TASKS_PART.fullmatch(part.strip())
        if match is None or int(match.group(1)) < 1:
            raise _bad(
                "SLURM_STEP_TASKS_PER_NODE is not a list of task counts",
                f"SLURM_STEP_TASKS_PER_NODE={text!r}",
                "use the value srun sets, e.g. '2(x3),1' (2 tasks on each of 3 nodes, 1 on the next)",
            )
        counts += [int(match.group(1))] * int(match.group(2) or 1)
    return tuple(counts)


def expand_hostlist(text: str) -> tuple[str, ...] | None:
    """Expands a simple Slurm node list, or returns ``None`` for a form it does not know.

    Known: names and ``prefix[ranges]suffix`` items (one bracket each), ranges
    keeping their zero padding. ``scontrol show hostnames`` knows every form;
    this is the fallback where it is missing (e.g. inside a container).

    Example:
        >>> expand_hostlist("gpu[08-10,12],login1")
        ('gpu08', 'gpu09', 'gpu10', 'gpu12', 'login1')
        >>> expand_hostlist("rack[1-2]-n[1-2]") is None
        True
    """
    hosts: list[str] = []
    for item in re.split(r",(?![^\[]*\])", text.strip()):
        if re.fullmatch(r"[^\[\],\s]+", item):
            hosts.append(item)
            continue
        match = _HOST_ITEM.fullmatch(item)
        if match is None:
            return None
        prefix, ranges, suffix = match.groups()
        for part in ranges.split(","):
            bounds = _RANGE.fullmatch(part)
            if bounds is None:
                return None
            low, high = bounds.group(1), bounds.group(2) or bounds.group(1)
            if int(high) < int(low):
                return None
            hosts += [f"{prefix}{str(i).zfill(len(low))}{suffix}" for i in range(int(low), int(high) + 1)]
    return tuple(hosts) if hosts else None


def _hostnames(nodelist: str, environ: Mapping[str, str]) -> tuple[str, ...]:
    """The step's node names, in Slurm's order: ``scontrol show hostnames``, else :func:`expand_hostlist`."""
    received = f"SLURM_STEP_NODELIST={nodelist!r}"
    scontrol = shutil.which("scontrol", path=environ.get("PATH"))
    if scontrol is None:
        hosts = expand_hostlist(nodelist)
        if hosts is None:
            raise _bad(
                "SLURM_STEP_NODELIST cannot be expanded: `scontrol` is not on PATH and the list is not "
                "of a simple form (names and prefix[1-3,5] items)",
                received,
                "put Slurm's `scontrol` on PATH (in a container: bind it in), or set TF_CONFIG for every task",
            )
        return hosts
    try:
        done = subprocess.run(
            [scontrol, "show", "hostnames", nodelist], capture_output=True, text=True, timeout=60, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as err:
        raise _bad(f"`scontrol show hostnames` failed ({err})", received) from None
    hosts = tuple(line.strip() for line in done.stdout.splitlines() if line.strip())
    if done.returncode != 0 or not hosts:
        raise _bad(
            f"`{scontrol} show hostnames` exited {done.returncode} without node names "
            f"({done.stderr.strip() or 'no message'})",
            received,
            "check that Slurm's commands work on this node, or set TF_CONFIG for every task",
        )
    return hosts


def _port_base(value: int | str | None) -> int:
    text = str(value).strip()
    if not text.isdigit() or not 1 <= int(text) <= 65535:
        raise DistributionError(
            describe(
                f"the first port of a Slurm step's tasks must be a port number ({PORT_BASE_ENV})",
                received=f"{PORT_BASE_ENV}={value!r}",
                accepted="a whole number 1..65535 (a node's tasks take it and the next ports)",
                fix=f"set {PORT_BASE_ENV} to a free port, or unset it for {DEFAULT_PORT_BASE}",
            )
        )
    return int(text)


@dataclasses.dataclass(frozen=True)
class SlurmStep:
    """A Slurm job step's tasks as the workers of a multi-worker job.

    Attributes:
        hosts: The step's node names, in Slurm's order.
        tasks_per_node: How many tasks run on each of ``hosts``.
        rank: This task's rank (``SLURM_PROCID``).
        port_base: The port of each node's first task; the node's next tasks
            take the next ports.

    Example:
        >>> step = SlurmStep(hosts=("node1", "node2"), tasks_per_node=(2, 1), rank=2)
        >>> step.addresses, step.num_tasks, step.own_address
        (('node1:8888', 'node1:8889', 'node2:8888'), 3, 'node2:8888')
        >>> step.resolver(num_gpus=0).cluster_spec().as_dict()
        {'worker': ['node1:8888', 'node1:8889', 'node2:8888']}
    """

    hosts: tuple[str, ...]
    tasks_per_node: tuple[int, ...]
    rank: int
    port_base: int = DEFAULT_PORT_BASE

    @property
    def num_tasks(self) -> int:
        """How many tasks (workers) the step has."""
        return sum(self.tasks_per_node)

    @property
    def layout(self) -> tuple[tuple[str, int], ...]:
        """``(node, index on that node)`` of each rank: Slurm's block order."""
        return tuple((h, i) for h, n in zip(self.hosts, self.tasks_per_node, strict=True) for i in range(n))

    @property
    def addresses(self) -> tuple[str, ...]:
        """Every task's ``"host:port"``, by rank."""
        return tuple(f"{host}:{self.port_base + i}" for host, i in self.layout)

    @property
    def own_address(self) -> str:
        """This task's ``"host:port"``."""
        return self.addresses[self.rank]

    def tf_config(self) -> TFConfig:
        """The same cluster as a :class:`~transferlab.training.tf_config.TFConfig` (workers only, by rank)."""
        return TFConfig(cluster={"worker": self.addresses}, task_type="worker", task_index=self.rank)

    def resolver(self, num_gpus: int | None = None) -> tf.distribute.cluster_resolver.ClusterResolver:
        """A cluster resolver for ``MultiWorkerMirroredStrategy(cluster_resolver=...)``.

        Args:
            num_gpus: GPUs this task trains on; ``None`` counts the GPUs it sees
                (``CUDA_VISIBLE_DEVICES`` as Slurm set it) without starting
                TensorFlow's runtime.
        """
        if num_gpus is None:
            num_gpus = len(tf.config.list_physical_devices("GPU"))
        return tf.distribute.cluster_resolver.SimpleClusterResolver(
            tf.train.ClusterSpec({"worker": list(self.addresses)}),
            task_type="worker",
            task_id=self.rank,
            num_accelerators={"GPU": num_gpus} if num_gpus else None,
            rpc_layer="grpc",
        )

    @classmethod
    def detect(cls, environ: Mapping[str, str] | None = None) -> SlurmStep | None:
        """The step when this process is a task of a Slurm step of several tasks, else ``None``.

        A step of several tasks is ``SLURM_STEP_NUM_TASKS`` > 1 with
        ``SLURM_PROCID`` set (what ``srun`` sets); an sbatch script itself is
        not one. What ``distribution="auto"`` looks for.

        Raises:
            DistributionError: Such a step, but its description is incomplete
                or inconsistent (see :meth:`from_env`).

        Example:
            >>> SlurmStep.detect({"SLURM_NTASKS": "4", "SLURM_PROCID": "0"}) is None  # the sbatch script
            True
        """
        env = os.environ if environ is None else environ
        num = env.get("SLURM_STEP_NUM_TASKS", "").strip()
        if not (num.isdigit() and int(num) > 1 and env.get("SLURM_PROCID", "").strip()):
            return None
        return cls.from_env(env)

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, *, port_base: int | None = None
    ) -> SlurmStep | None:
        """Reads this task's Slurm job step; ``None`` outside Slurm or in a step of one task.

        Args:
            environ: The environment (``os.environ`` when ``None``).
            port_base: The first port of each node's tasks; default
                :data:`PORT_BASE_ENV`, else :data:`DEFAULT_PORT_BASE`.

        Raises:
            DistributionError: In a Slurm job of several tasks but not in a
                step (run under ``srun``); a variable of the step missing or
                malformed; a node list that cannot be expanded; node and task
                counts that disagree; this task not where Slurm's block layout
                puts its rank (``SLURMD_NODENAME``, ``SLURM_LOCALID``).

        Example:
            >>> env = {"SLURM_PROCID": "1", "SLURM_STEP_NUM_TASKS": "2",
            ...        "SLURM_STEP_NODELIST": "node[1-2]", "SLURM_STEP_TASKS_PER_NODE": "1(x2)"}
            >>> SlurmStep.from_env(env, port_base=23456).own_address
            'node2:23456'
        """
        env = os.environ if environ is None else environ
        if "SLURM_STEP_NUM_TASKS" not in env:
            ntasks = env.get("SLURM_NTASKS", "").strip()
            if env.get("SLURM_JOB_ID") and ntasks.isdigit() and int(ntasks) > 1:
                raise _bad(
                    f"this process is in a Slurm job of {ntasks} tasks but not in a job step "
                    "(SLURM_STEP_NUM_TASKS is unset: an sbatch script runs once, on the first node)",
                    f"SLURM_NTASKS={ntasks!r}, SLURM_STEP_NUM_TASKS unset",
                    "start the training with `srun` so that every task runs it, or set TF_CONFIG",
                )
            return None
        missing = [name for name in _STEP_VARS if not env.get(name, "").strip()]
        if missing:
            shown = ", ".join(f"{n}={env[n]!r}" if n in env else f"{n} unset" for n in _STEP_VARS)
            raise DistributionError(
                describe(
                    f"Slurm job step: {', '.join(missing)} {'is' if len(missing) == 1 else 'are'} "
                    "not set, so the step's workers cannot be read",
                    received=shown,
                    accepted="the variables srun sets in every task: " + ", ".join(_STEP_VARS),
                    fix=_FIX,
                )
            )
        num_text, rank_text = env["SLURM_STEP_NUM_TASKS"].strip(), env["SLURM_PROCID"].strip()
        if not num_text.isdigit() or int(num_text) < 1:
            raise _bad(
                "SLURM_STEP_NUM_TASKS must be a number of tasks >= 1", f"SLURM_STEP_NUM_TASKS={num_text!r}"
            )
        num = int(num_text)
        if not rank_text.isdigit() or int(rank_text) >= num:
            raise _bad(
                f"SLURM_PROCID must be this task's rank, 0..{num - 1} for a step of {num} tasks",
                f"SLURM_PROCID={rank_text!r}, SLURM_STEP_NUM_TASKS={num_text!r}",
            )
        if num == 1:
            return None
        base = _port_base(port_base if port_base is not None else env.get(PORT_BASE_ENV, DEFAULT_PORT_BASE))
        counts = expand_tasks_per_node(env["SLURM_STEP_TASKS_PER_NODE"])
        nodelist = env["SLURM_STEP_NODELIST"].strip()
        hosts = _hostnames(nodelist, env)
        received = (
            f"SLURM_STEP_NODELIST={nodelist!r} ({len(hosts)} node(s)), "
            f"SLURM_STEP_TASKS_PER_NODE={env['SLURM_STEP_TASKS_PER_NODE']!r} ({len(counts)} count(s), "
            f"{sum(counts)} task(s)), SLURM_STEP_NUM_TASKS={num_text!r}"
        )
        if len(counts) != len(hosts) or sum(counts) != num:
            raise _bad("its node list, tasks per node and number of tasks disagree", received)
        if base + max(counts) - 1 > 65535:
            raise DistributionError(
                describe(
                    f"the ports of a Slurm step's tasks run past 65535 ({PORT_BASE_ENV})",
                    received=f"{PORT_BASE_ENV}={base} with {max(counts)} tasks on a node",
                    accepted=f"a first port <= {65536 - max(counts)}",
                    fix=f"set {PORT_BASE_ENV} lower",
                )
            )
        step = cls(hosts=hosts, tasks_per_node=counts, rank=int(rank_text), port_base=base)
        step._check_place(env)
        return step

    def _check_place(self, env: Mapping[str, str]) -> None:
        """Checks that this task runs where the block layout puts its rank (when Slurm says where)."""
        node, local = env.get("SLURMD_NODENAME", "").strip(), env.get("SLURM_LOCALID", "").strip()
        want_node, want_local = self.layout[self.rank]
        if (node and node != want_node) or (local.isdigit() and int(local) != want_local):
            raise _bad(
                f"rank {self.rank} runs as task {local or '?'} of node {node or '?'}, but the block "
                f"layout of the step puts it as task {want_local} of node {want_node}",
                f"SLURM_PROCID={self.rank}, SLURMD_NODENAME={node!r}, SLURM_LOCALID={local!r}",
                "start the step with `srun --distribution=block` (Slurm's default), or set TF_CONFIG",
            )
