"""Tests of the local multi-worker launcher (no TensorFlow in the workers)."""

from __future__ import annotations

import io
import json
import sys
import time
from pathlib import Path

import pytest

from transferlab.errors import ConfigError, DistributionError, WorkerTimeoutError
from transferlab.training.launcher import launch_local, main

pytestmark = pytest.mark.multiworker  # starts local worker processes (without TensorFlow)

WORKER = str(Path(__file__).with_name("mw_worker.py"))
ENV_SCRIPT = "import json, os; print(json.dumps({k: os.environ[k] for k in ['TF_CONFIG', 'TF_NUM_INTRAOP_THREADS', 'TF_NUM_INTEROP_THREADS', 'OMP_NUM_THREADS', 'EXTRA']}))"


def test_workers_get_tf_config_threads_and_prefixed_logs(tmp_path: Path) -> None:
    script = tmp_path / "show_env.py"
    script.write_text(ENV_SCRIPT)
    out = io.StringIO()
    result = launch_local(str(script), num_workers=2, threads_per_worker=1, env={"EXTRA": "x"}, stream=out)
    assert result.ok and result.exit_codes == (0, 0) and result.failed_worker is None
    lines = out.getvalue().splitlines()
    seen = {}
    for i in (0, 1):
        (line,) = [ln for ln in lines if ln.startswith(f"[worker {i}] ")]
        seen[i] = json.loads(line.split("] ", 1)[1])
    configs = [json.loads(seen[i]["TF_CONFIG"]) for i in (0, 1)]
    assert configs[0]["cluster"] == configs[1]["cluster"]
    addresses = configs[0]["cluster"]["worker"]
    assert len(set(addresses)) == 2 and all(a.startswith("127.0.0.1:") for a in addresses)
    assert [c["task"] for c in configs] == [{"type": "worker", "index": 0}, {"type": "worker", "index": 1}]
    assert all(seen[i]["TF_NUM_INTRAOP_THREADS"] == seen[i]["OMP_NUM_THREADS"] == "1" for i in (0, 1))
    assert seen[0]["EXTRA"] == "x"


def test_failing_worker_stops_the_others(tmp_path: Path) -> None:
    start = time.monotonic()
    with pytest.raises(
        DistributionError,
        match=r"worker 1 of 2 failed with exit code 3; the other workers were stopped.*last lines of worker 1:\nworker failing on purpose",
    ):
        launch_local(WORKER, [str(tmp_path), "--fail-worker", "1"], stream=None)
    assert time.monotonic() - start < 30  # the other worker sleeps 120 s
    result = launch_local(WORKER, [str(tmp_path), "--fail-worker", "0"], stream=None, check=False)
    assert result.failed_worker == 0 and result.exit_codes[0] == 3
    assert result.exit_codes[1] != 0  # terminated, not finished
    assert result.tails[0] == ("worker failing on purpose",)


def test_job_timeout_stops_all(tmp_path: Path) -> None:
    start = time.monotonic()
    with pytest.raises(
        WorkerTimeoutError, match=r"ran past its timeout of 1 s; worker\(s\) \[0, 1\] were still running"
    ):
        launch_local(WORKER, [str(tmp_path), "--sleep", "60"], timeout=1, stream=None)
    assert time.monotonic() - start < 15


def test_bad_arguments(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="the script to launch does not exist"):
        launch_local(str(tmp_path / "nope.py"))
    with pytest.raises(
        ConfigError, match=r"`num_workers` must be a whole number >= 1. Received: num_workers=0"
    ):
        launch_local(WORKER, num_workers=0)
    with pytest.raises(ConfigError, match="`threads_per_worker` must be a whole number >= 1"):
        launch_local(WORKER, threads_per_worker=0)
    with pytest.raises(ConfigError, match="`timeout` must be > 0 seconds or None"):
        launch_local(WORKER, timeout=0)


def test_main_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["-n", "2", "--", WORKER, str(tmp_path), "--sleep", "0"]) == 0
    assert main(["-n", "2", "--", WORKER, str(tmp_path), "--fail-worker", "0"]) == 1
    assert "worker 0 of 2 failed" in capsys.readouterr().err
    assert main(["-n", "2", "--timeout", "1", "--", WORKER, str(tmp_path), "--sleep", "30"]) == 124
    assert main(["-n", "2"]) == 2
    assert "give the script to run after --" in capsys.readouterr().err
    assert main(["--", str(tmp_path / "nope.py")]) == 2


def test_module_form_runs_with_python_dash_m() -> None:
    result = launch_local("this", num_workers=1, stream=None)
    assert result.exit_codes == (0,) and result.tails[0][-1].startswith(
        "Namespaces are one honking great idea"
    )
    assert sys.executable  # the workers use this interpreter
