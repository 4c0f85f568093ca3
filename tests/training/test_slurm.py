"""Tests of reading a Slurm job step into a multi-worker cluster, with a faked Slurm.

The Slurm environment is faked: the variables ``srun`` sets in every task are
monkeypatched, and a fake ``scontrol`` put first on ``PATH`` prints the node
names (and records how it was called). One end-to-end test runs two tasks of a
"step" on 127.0.0.1 as two processes that join one ``MultiWorkerMirroredStrategy``.
"""

from __future__ import annotations

import json
import os
import re
import socket
import stat
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import tensorflow as tf

from transferlab.errors import DistributionError, WorkerTimeoutError
from transferlab.training import distribution
from transferlab.training._cluster import task_identity
from transferlab.training.distribution import resolve_distribution
from transferlab.training.distribution_info import DistributionInfo
from transferlab.training.slurm import (
    DEFAULT_PORT_BASE,
    PORT_BASE_ENV,
    PORT_FIX,
    SlurmStep,
    expand_hostlist,
    expand_tasks_per_node,
)
from transferlab.training.tf_config import TFConfig
from transferlab.training.worker_rendezvous import wait_for_workers

REPO = Path(__file__).resolve().parents[2]
FIX = re.escape(
    "Fix: start one task per worker with `srun` (e.g. `srun python train.py` in an sbatch script), "
    "or set TF_CONFIG."
)


def _fake_scontrol(folder: Path, hosts: list[str], *, exit_code: int = 0) -> Path:
    """Writes a fake ``scontrol`` into ``folder``: it records its arguments and prints ``hosts``."""
    folder.mkdir(parents=True, exist_ok=True)
    script = folder / "scontrol"
    lines = "".join(f"echo {h}\n" for h in hosts)
    fail = f"echo 'scontrol: error: Invalid hostlist' >&2\nexit {exit_code}\n" if exit_code else ""
    script.write_text(f'#!/bin/sh\necho "$@" >> "{folder}/calls"\n{fail}{lines}')
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return folder


@pytest.fixture
def slurm(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    """A clean environment (no Slurm, no TF_CONFIG) with a folder first on PATH for a fake scontrol."""
    for name in list(os.environ):
        if name.startswith(("SLURM_", "SLURMD_")) or name in ("TF_CONFIG", PORT_BASE_ENV):
            monkeypatch.delenv(name)
    (tmp_path / "bin").mkdir()
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}")
    return monkeypatch


def _step_env(
    monkeypatch: pytest.MonkeyPatch, procid: str, num: str, nodelist: str, per_node: str, **more: str
) -> None:
    monkeypatch.setenv("SLURM_JOB_ID", "4242")
    monkeypatch.setenv("SLURM_PROCID", procid)
    monkeypatch.setenv("SLURM_STEP_NUM_TASKS", num)
    monkeypatch.setenv("SLURM_NTASKS", num)
    monkeypatch.setenv("SLURM_STEP_NODELIST", nodelist)
    monkeypatch.setenv("SLURM_STEP_TASKS_PER_NODE", per_node)
    for name, value in more.items():
        monkeypatch.setenv(name, value)


def _fake_strategy(resolver: object) -> SimpleNamespace:
    """What task_identity and DistributionInfo read of a strategy: its cluster resolver."""
    return SimpleNamespace(
        extended=SimpleNamespace(_cluster_resolver=resolver),
        cluster_resolver=resolver,
        num_replicas_in_sync=2,
    )


# The cluster a step becomes ------------------------------------------------------------------


def test_two_nodes_one_task_each(slurm: pytest.MonkeyPatch, tmp_path: Path) -> None:
    _fake_scontrol(tmp_path / "bin", ["node1", "node2"])
    _step_env(slurm, "1", "2", "node[1-2]", "1(x2)", SLURMD_NODENAME="node2", SLURM_LOCALID="0")
    step = SlurmStep.from_env()
    assert step is not None
    assert (tmp_path / "bin" / "calls").read_text() == "show hostnames node[1-2]\n"
    assert step.addresses == ("node1:8888", "node2:8888") and step.own_address == "node2:8888"
    resolver = step.resolver(num_gpus=0)
    assert resolver.cluster_spec().as_dict() == {"worker": ["node1:8888", "node2:8888"]}
    assert (resolver.task_type, resolver.task_id, resolver.rpc_layer) == ("worker", 1, "grpc")
    assert resolver.num_accelerators() == {}
    assert step.resolver(num_gpus=2).num_accelerators() == {"GPU": 2}
    assert task_identity(_fake_strategy(resolver)) == (False, "worker1")  # type: ignore[arg-type]
    info = DistributionInfo.from_strategy(_fake_strategy(resolver))  # type: ignore[arg-type]
    assert (info.num_workers, info.task_type, info.task_index, info.is_chief) == (2, "worker", 1, False)
    assert step.tf_config() == TFConfig(
        cluster={"worker": ("node1:8888", "node2:8888")}, task_type="worker", task_index=1
    )


def test_rank_0_is_the_chief(slurm: pytest.MonkeyPatch, tmp_path: Path) -> None:
    _fake_scontrol(tmp_path / "bin", ["node1", "node2"])
    _step_env(slurm, "0", "2", "node[1-2]", "1(x2)")
    step = SlurmStep.from_env()
    assert step is not None
    assert task_identity(_fake_strategy(step.resolver(num_gpus=0))) == (True, "worker0")  # type: ignore[arg-type]
    assert step.tf_config().is_chief


def test_one_node_two_tasks_take_two_ports_from_the_base(slurm: pytest.MonkeyPatch, tmp_path: Path) -> None:
    _fake_scontrol(tmp_path / "bin", ["node1"])
    _step_env(slurm, "1", "2", "node1", "2", SLURMD_NODENAME="node1", SLURM_LOCALID="1")
    step = SlurmStep.from_env()
    assert step is not None and step.port_base == DEFAULT_PORT_BASE == 8888
    assert step.addresses == ("node1:8888", "node1:8889") and step.own_address == "node1:8889"
    slurm.setenv(PORT_BASE_ENV, "23000")
    moved = SlurmStep.from_env()
    assert moved is not None and moved.addresses == ("node1:23000", "node1:23001")
    explicit = SlurmStep.from_env(port_base=24000)
    assert explicit is not None and explicit.own_address == "node1:24001"


def test_nodes_keep_slurms_order_and_uneven_task_counts(slurm: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # TensorFlow 2.21's SlurmClusterResolver sorts the names: node10 would come before node9.
    _fake_scontrol(tmp_path / "bin", ["node9", "node10"])
    _step_env(slurm, "2", "3", "node[9-10]", "2,1", SLURMD_NODENAME="node10", SLURM_LOCALID="0")
    step = SlurmStep.from_env()
    assert step is not None
    assert step.addresses == ("node9:8888", "node9:8889", "node10:8888")
    assert step.resolver(num_gpus=0).cluster_spec().as_dict() == {"worker": list(step.addresses)}


def test_without_scontrol_a_simple_node_list_is_expanded_here(slurm: pytest.MonkeyPatch) -> None:
    slurm.setenv("PATH", "")  # no scontrol anywhere (e.g. inside a container)
    _step_env(slurm, "0", "4", "gpu[08-09],cpu[1,3]", "1(x4)")
    step = SlurmStep.from_env()
    assert step is not None and step.hosts == ("gpu08", "gpu09", "cpu1", "cpu3")
    assert expand_hostlist("n1,n[2-3]x") == ("n1", "n2x", "n3x")
    assert expand_hostlist("n[3-1]") is None and expand_hostlist("") is None
    assert expand_tasks_per_node("3(x2),2,1") == (3, 3, 2, 1)


# When it applies ----------------------------------------------------------------------------


def test_no_slurm_or_a_single_task_is_no_cluster(slurm: pytest.MonkeyPatch) -> None:
    assert SlurmStep.from_env() is None and SlurmStep.detect() is None
    _step_env(slurm, "0", "1", "node1", "1")  # srun -n 1
    assert SlurmStep.from_env() is None and SlurmStep.detect() is None


def test_detect_needs_a_step_of_several_tasks_with_a_rank(slurm: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # The sbatch script itself: SLURM_NTASKS and SLURM_PROCID=0 are set, no step variables.
    slurm.setenv("SLURM_JOB_ID", "4242")
    slurm.setenv("SLURM_NTASKS", "2")
    slurm.setenv("SLURM_PROCID", "0")
    assert SlurmStep.detect() is None
    slurm.delenv("SLURM_PROCID")
    slurm.setenv("SLURM_STEP_NUM_TASKS", "2")
    assert SlurmStep.detect() is None  # no rank: not a task of the step
    _fake_scontrol(tmp_path / "bin", ["node1"])
    _step_env(slurm, "0", "2", "node1", "2")
    detected = SlurmStep.detect()
    assert detected is not None and detected.num_tasks == 2


def test_resolve_distribution_prefers_tf_config_then_slurm(slurm: pytest.MonkeyPatch, tmp_path: Path) -> None:
    calls: list[tuple[TFConfig | None, SlurmStep | None]] = []

    def fake_multi_worker(
        config: TFConfig | None, timeout: float, step: SlurmStep | None = None
    ) -> tf.distribute.Strategy:
        calls.append((config, step))
        return tf.distribute.get_strategy()

    slurm.setattr(distribution, "_multi_worker", fake_multi_worker)
    _fake_scontrol(tmp_path / "bin", ["node1", "node2"])
    _step_env(slurm, "0", "2", "node[1-2]", "1(x2)")
    resolve_distribution("auto")
    resolve_distribution("multi_worker")
    assert [step.addresses if step else None for _, step in calls] == [("node1:8888", "node2:8888")] * 2
    calls.clear()
    tf_config = '{"cluster": {"worker": ["a:1", "b:2"]}, "task": {"type": "worker", "index": 1}}'
    slurm.setenv("TF_CONFIG", tf_config)
    resolve_distribution("auto")
    resolve_distribution("multi_worker")
    assert calls == [(TFConfig.parse(tf_config), None)] * 2  # TF_CONFIG wins
    calls.clear()
    slurm.delenv("TF_CONFIG")
    assert resolve_distribution("one_device").num_replicas_in_sync == 1  # a named strategy ignores Slurm
    assert calls == []


def test_auto_in_an_sbatch_script_stays_one_process(slurm: pytest.MonkeyPatch) -> None:
    slurm.setenv("SLURM_JOB_ID", "4242")
    slurm.setenv("SLURM_NTASKS", "2")
    slurm.setenv("SLURM_PROCID", "0")
    if len(tf.config.list_physical_devices("GPU")) <= 1:
        assert resolve_distribution("auto") is tf.distribute.get_strategy()


# Errors -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("env", "message"),
    [
        (
            {"SLURM_PROCID": None},
            r"Slurm job step: SLURM_PROCID is not set, so the step's workers cannot be read. "
            r"Received: SLURM_PROCID unset, SLURM_STEP_NUM_TASKS='2', SLURM_STEP_NODELIST='node\[1-2\]', "
            r"SLURM_STEP_TASKS_PER_NODE='1\(x2\)'. Accepted: the variables srun sets in every task: "
            r"SLURM_PROCID, SLURM_STEP_NUM_TASKS, SLURM_STEP_NODELIST, SLURM_STEP_TASKS_PER_NODE. " + FIX,
        ),
        (
            {"SLURM_STEP_NODELIST": "", "SLURM_STEP_TASKS_PER_NODE": None},
            r"Slurm job step: SLURM_STEP_NODELIST, SLURM_STEP_TASKS_PER_NODE are not set.*"
            r"SLURM_STEP_NODELIST='', SLURM_STEP_TASKS_PER_NODE unset\. ",
        ),
        (
            {"SLURM_PROCID": "2"},
            r"Slurm job step: SLURM_PROCID must be this task's rank, 0..1 for a step of 2 tasks. "
            r"Received: SLURM_PROCID='2', SLURM_STEP_NUM_TASKS='2'. " + FIX,
        ),
        (
            {"SLURM_STEP_NUM_TASKS": "two"},
            r"Slurm job step: SLURM_STEP_NUM_TASKS must be a number of tasks >= 1. "
            r"Received: SLURM_STEP_NUM_TASKS='two'",
        ),
        (
            {"SLURM_STEP_TASKS_PER_NODE": "1(x3)"},
            r"Slurm job step: its node list, tasks per node and number of tasks disagree. "
            r"Received: SLURM_STEP_NODELIST='node\[1-2\]' \(2 node\(s\)\), SLURM_STEP_TASKS_PER_NODE="
            r"'1\(x3\)' \(3 count\(s\), 3 task\(s\)\), SLURM_STEP_NUM_TASKS='2'. " + FIX,
        ),
        (
            {"SLURM_STEP_TASKS_PER_NODE": "one each"},
            r"Slurm job step: SLURM_STEP_TASKS_PER_NODE is not a list of task counts. "
            r"Received: SLURM_STEP_TASKS_PER_NODE='one each'. Fix: use the value srun sets, e\.g\. '2\(x3\),1'",
        ),
        (
            {PORT_BASE_ENV: "http"},
            r"the first port of a Slurm step's tasks must be a port number \(TRANSFERLAB_SLURM_PORT_BASE\). "
            r"Received: TRANSFERLAB_SLURM_PORT_BASE='http'. Accepted: a whole number 1..65535 \(a node's "
            r"tasks take it and the next ports\). Fix: set TRANSFERLAB_SLURM_PORT_BASE to a free port, or "
            r"unset it for 8888\.",
        ),
        (
            {PORT_BASE_ENV: "65535", "SLURM_STEP_TASKS_PER_NODE": "2", "SLURM_STEP_NODELIST": "node1"},
            r"the ports of a Slurm step's tasks run past 65535 \(TRANSFERLAB_SLURM_PORT_BASE\). "
            r"Received: TRANSFERLAB_SLURM_PORT_BASE=65535 with 2 tasks on a node. Accepted: a first port "
            r"<= 65534. Fix: set TRANSFERLAB_SLURM_PORT_BASE lower\.",
        ),
        (
            {"SLURMD_NODENAME": "node1", "SLURM_LOCALID": "0", "SLURM_PROCID": "1"},
            r"Slurm job step: rank 1 runs as task 0 of node node1, but the block layout of the step puts "
            r"it as task 0 of node node2. Received: SLURM_PROCID=1, SLURMD_NODENAME='node1', "
            r"SLURM_LOCALID='0'. Fix: start the step with `srun --distribution=block` \(Slurm's default\), "
            r"or set TF_CONFIG\.",
        ),
    ],
)
def test_an_incomplete_or_inconsistent_step_names_the_variable(
    slurm: pytest.MonkeyPatch, tmp_path: Path, env: dict[str, str | None], message: str
) -> None:
    _fake_scontrol(
        tmp_path / "bin", ["node1"] if env.get("SLURM_STEP_NODELIST") == "node1" else ["node1", "node2"]
    )
    _step_env(slurm, "0", "2", "node[1-2]", "1(x2)")
    for name, value in env.items():
        if value is None:
            slurm.delenv(name)
        else:
            slurm.setenv(name, value)
    with pytest.raises(DistributionError, match=message):
        SlurmStep.from_env()
    with pytest.raises(DistributionError, match=message):  # what "multi_worker" and "auto" say too
        resolve_distribution("multi_worker")


def test_multi_worker_in_an_sbatch_script_without_srun(slurm: pytest.MonkeyPatch) -> None:
    slurm.setenv("SLURM_JOB_ID", "4242")
    slurm.setenv("SLURM_NTASKS", "4")
    slurm.setenv("SLURM_PROCID", "0")
    with pytest.raises(
        DistributionError,
        match=r"Slurm job step: this process is in a Slurm job of 4 tasks but not in a job step "
        r"\(SLURM_STEP_NUM_TASKS is unset: an sbatch script runs once, on the first node\). "
        r"Received: SLURM_NTASKS='4', SLURM_STEP_NUM_TASKS unset. Fix: start the training with `srun` "
        r"so that every task runs it, or set TF_CONFIG\.",
    ):
        resolve_distribution("multi_worker")


def test_missing_scontrol_and_a_list_it_alone_can_expand(slurm: pytest.MonkeyPatch) -> None:
    slurm.setenv("PATH", "")
    _step_env(slurm, "0", "4", "rack[1-2]-n[1-2]", "1(x4)")
    with pytest.raises(
        DistributionError,
        match=r"Slurm job step: SLURM_STEP_NODELIST cannot be expanded: `scontrol` is not on PATH and "
        r"the list is not of a simple form \(names and prefix\[1-3,5\] items\). Received: "
        r"SLURM_STEP_NODELIST='rack\[1-2\]-n\[1-2\]'. Fix: put Slurm's `scontrol` on PATH \(in a "
        r"container: bind it in\), or set TF_CONFIG for every task\.",
    ):
        SlurmStep.from_env()


def test_failing_scontrol(slurm: pytest.MonkeyPatch, tmp_path: Path) -> None:
    bin_dir = _fake_scontrol(tmp_path / "bin", [], exit_code=1)
    _step_env(slurm, "0", "2", "node[1-2", "1(x2)")
    with pytest.raises(
        DistributionError,
        match=rf"Slurm job step: `{re.escape(str(bin_dir / 'scontrol'))} show hostnames` exited 1 without "
        r"node names \(scontrol: error: Invalid hostlist\). Received: SLURM_STEP_NODELIST='node\[1-2'. "
        r"Fix: check that Slurm's commands work on this node, or set TF_CONFIG for every task\.",
    ):
        SlurmStep.from_env()


def test_auto_slurm_after_tensorflow_started_explains_the_fix(
    slurm: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    tf.constant(1.0)  # TensorFlow is running in this process
    _fake_scontrol(tmp_path / "bin", ["node1", "node2"])
    _step_env(slurm, "0", "2", "node[1-2]", "1(x2)")
    with pytest.raises(
        DistributionError,
        match=r"MultiWorkerMirroredStrategy must be created before any other TensorFlow operation",
    ):
        resolve_distribution("auto")


def _free_port_pair() -> int:
    """A port p with p and p + 1 free (one node's two tasks)."""
    for _ in range(50):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
        if port >= 65535:
            continue
        try:
            with socket.create_server(("", port)), socket.create_server(("", port + 1)):
                return port
        except OSError:
            continue
    raise RuntimeError("no two consecutive free ports")


def test_rendezvous_messages_name_the_slurm_step(slurm: pytest.MonkeyPatch) -> None:
    base = _free_port_pair()
    step = SlurmStep(hosts=("127.0.0.1",), tasks_per_node=(2,), rank=0, port_base=base)
    with (
        socket.create_server(("", base)),
        pytest.raises(
            DistributionError,
            match=rf"cannot listen on this worker's own Slurm step address '127.0.0.1:{base}' .*"
            rf"Fix: {re.escape(PORT_FIX)}\.",
        ),
    ):
        wait_for_workers(step.tf_config(), timeout=1.0, source="Slurm step", port_fix=PORT_FIX)
    assert PORT_FIX == (
        "free that port, or set TRANSFERLAB_SLURM_PORT_BASE to a free first port for every task (default 8888)"
    )
    with pytest.raises(
        WorkerTimeoutError,
        match=rf"did not join within 0.5 s: 127.0.0.1:{base + 1}.*"
        r"Fix: start every worker of the job \(same Slurm step cluster, its own task\)",
    ):
        wait_for_workers(step.tf_config(), timeout=0.5, source="Slurm step", port_fix=PORT_FIX)


def _guide_section() -> str:
    text = (REPO / "docs" / "guide-distribution.md").read_text(encoding="utf-8")
    return text[text.index("## Clusters: Slurm and Kubernetes") :]


def _sh(line: str, variable: str, **env: str) -> str:
    """What ``variable`` holds after sh runs ``line``."""
    done = subprocess.run(
        ["sh", "-c", f'{line}\nprintf %s "${variable}"'],
        env={"PATH": os.environ.get("PATH", ""), **env},
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    return done.stdout


def test_the_guides_cluster_examples_hold() -> None:
    section = _guide_section()
    lines = [line.strip() for line in section.splitlines()]
    assert f"`{PORT_BASE_ENV}` (default {DEFAULT_PORT_BASE})" in section.replace("\n", " ")
    port_line = next(line for line in lines if line.startswith(f"export {PORT_BASE_ENV}="))
    for job_id in ("1", "19999", "987654321"):
        base = _sh(port_line, PORT_BASE_ENV, SLURM_JOB_ID=job_id)
        env = {
            "PATH": "",
            "SLURM_PROCID": "1",
            "SLURM_STEP_NUM_TASKS": "2",
            "SLURM_STEP_NODELIST": "node1",
            "SLURM_STEP_TASKS_PER_NODE": "2",
            PORT_BASE_ENV: base,
        }
        step = SlurmStep.from_env(env)
        assert step is not None and 20000 <= step.port_base < 40000
    assert "srun transferlab train --config run.toml --distribution multi_worker" in lines
    tf_config_line = next(line for line in lines if line.startswith("export TF_CONFIG="))
    for index in (0, 1):
        config = TFConfig.parse(_sh(tf_config_line, "TF_CONFIG", JOB_COMPLETION_INDEX=str(index)))
        assert (config.num_workers, config.own_address) == (2, f"train-{index}.train:12345")


# Two tasks of a faked step, for real ---------------------------------------------------------

WORKER = """
import json, sys
from transferlab.training.distribution import resolve_distribution
strategy = resolve_distribution("multi_worker", timeout=60)
import tensorflow as tf
from transferlab.training._cluster import task_identity
from transferlab.training.distribution_info import DistributionInfo

def replica_sum():
    return tf.distribute.get_replica_context().all_reduce("sum", tf.constant(1.0))

summed = strategy.experimental_local_results(tf.function(lambda: strategy.run(replica_sum))())
resolver = strategy.cluster_resolver
info = DistributionInfo.from_strategy(strategy)
print("RESULT " + json.dumps({
    "resolver": type(resolver).__name__,
    "cluster": resolver.cluster_spec().as_dict(),
    "identity": list(task_identity(strategy)),
    "info": [info.num_workers, info.num_replicas, info.task_index, info.is_chief],
    "sum": float(summed[0]),
}), flush=True)
"""


@pytest.mark.multiworker
def test_two_tasks_of_a_faked_step_join_one_strategy(tmp_path: Path) -> None:
    bin_dir = _fake_scontrol(tmp_path / "bin", ["127.0.0.1"])
    base = _free_port_pair()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLURM", "TF_CONFIG"))}
    env.update(
        PATH=f"{bin_dir}{os.pathsep}{env.get('PATH', '')}",
        PYTHONPATH=str(REPO),
        TF_CPP_MIN_LOG_LEVEL="3",
        TF_NUM_INTRAOP_THREADS="1",
        TF_NUM_INTEROP_THREADS="1",
        SLURM_JOB_ID="4242",
        SLURM_STEP_NUM_TASKS="2",
        SLURM_NTASKS="2",
        SLURM_STEP_NODELIST="127.0.0.1",
        SLURM_STEP_TASKS_PER_NODE="2",
        SLURMD_NODENAME="127.0.0.1",
        **{PORT_BASE_ENV: str(base)},
    )
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER],
            env={**env, "SLURM_PROCID": str(i), "SLURM_LOCALID": str(i)},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(2)
    ]
    outputs = []
    try:
        for proc in procs:
            out, err = proc.communicate(timeout=180)
            assert proc.returncode == 0, err[-3000:]
            outputs.append(json.loads(out.split("RESULT ", 1)[1]))
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    cluster = {"worker": [f"127.0.0.1:{base}", f"127.0.0.1:{base + 1}"]}
    assert outputs == [
        {
            "resolver": "SimpleClusterResolver",
            "cluster": cluster,
            "identity": [i == 0, f"worker{i}"],
            "info": [2, 2, i, i == 0],
            "sum": 2.0,
        }
        for i in range(2)
    ]
    assert (bin_dir / "calls").read_text() == "show hostnames 127.0.0.1\n" * 2
