"""The Trainer under MultiWorkerMirroredStrategy for real: 2 local workers through the launcher.

Proves: both workers end bit-identical and equal to a one-device run with the same global
batch; only the chief writes the reports and the model; each worker backs up into its own
folder; a worker SIGKILLed mid-run (after its peer backed up one step more than it did),
restarted with the same command, resumes on both workers from the same position, continues
the optimizer's iterations (keras-team/keras#19389) and ends bit-identical to the
uninterrupted run; a peer that never arrives fails with a clear timeout error;
``transferlab launch`` runs a script as N workers. Also the pieces in-process: backup
rotation, the common-position rule, learning-rate scaling, option errors.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(HERE))
import resume_tiny  # noqa: E402

from transferlab.errors import ConfigError  # noqa: E402
from transferlab.strategies import FeatureExtraction, FineTune  # noqa: E402
from transferlab.training._cluster import common_position  # noqa: E402
from transferlab.training.state import BackupPosition, TrainingState  # noqa: E402

IDENTITY = hashlib.sha256(b"a run").hexdigest()
from transferlab.training.launcher import launch_local  # noqa: E402
from transferlab.training.trainer import Trainer  # noqa: E402

WORKER = str(HERE / "mw_trainer_worker.py")
ENV = {"PYTHONPATH": str(REPO), "TF_CPP_MIN_LOG_LEVEL": "3"}
REPORTS = (
    "config.json",
    "environment.json",
    "decisions.json",
    "metrics.csv",
    "metrics.json",
    "summary.md",
    "model.keras",
    "test_metrics.json",
)
P = BackupPosition


def _result(out: Path, worker: int) -> tuple[list[np.ndarray], dict[str, np.ndarray]]:
    with np.load(out / f"result-worker{worker}.npz") as data:
        weights = [
            data[k] for k in sorted((k for k in data.files if k.startswith("arr_")), key=lambda k: int(k[4:]))
        ]
        info = {k: data[k] for k in data.files if not k.startswith("arr_")}
    return weights, info


# In-process pieces -------------------------------------------------------------------------


def test_backup_keeps_the_last_three_and_resumes_from_a_chosen_one(tmp_path: Path) -> None:
    import keras

    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    state = TrainingState(tmp_path, identity=IDENTITY, keep=3)
    for step in (2, 4, 6, 8):
        model.layers[0].bias.assign([float(step)])
        state.save(model, P(1, 2, step), optimizer=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state.1.npz", "state.2.npz", "state.npz"]
    fresh = TrainingState(tmp_path, identity=IDENTITY, keep=3)
    assert fresh.positions() == [P(1, 2, 8), P(1, 2, 6), P(1, 2, 4)]
    chosen = fresh.load(P(1, 2, 4))
    assert chosen is not None and chosen.position == P(1, 2, 4)
    chosen.restore_variables(model)
    assert float(model.layers[0].bias.numpy()[0]) == 4.0
    (tmp_path / "state.npz").unlink()  # killed between the rotation and the write
    newest = TrainingState(tmp_path, identity=IDENTITY, keep=3).load()
    assert newest is not None and newest.position == P(1, 2, 6)


def test_workers_resume_from_the_newest_position_they_all_hold() -> None:
    # One worker died before backing up step 4 its peer backed up: both go to step 2.
    assert common_position([[P(1, 2, 4), P(1, 2, 2), P(1, 2, 0)], [P(1, 2, 2), P(1, 2, 0), P(0, 2, 0)]]) == P(
        1, 2, 2
    )
    # Two saves without a collective between them (epoch end, then phase end):
    # the peer that died before its epoch-end save still shares the mid-epoch one.
    assert common_position([[P(1, 2, 0), P(0, 2, 0), P(0, 1, 4)], [P(0, 1, 4), P(0, 1, 2), P(0, 1, 0)]]) == P(
        0, 1, 4
    )
    assert common_position([[P(0, 1, 2)], []]) is None  # a worker without backup: all start afresh
    assert common_position([[P(0, 1, 2), P(0, 1, 0)]]) == P(0, 1, 2)


def test_linear_learning_rate_scaling_under_mirrored(tmp_path: Path, mirrored: Any) -> None:

    data = resume_tiny.data(32)
    rates = {}
    for mode in ("none", "linear"):
        trainer = Trainer(
            resume_tiny.build,
            strategy=FeatureExtraction(1, learning_rate=1e-3),
            distribution=mirrored,
            run_dir=tmp_path,
            run_name=mode,
            batch_size=8,
            verbose=0,
            scale_learning_rate=mode,
            feature_cache="off",
        )
        result = trainer.fit(data)
        rates[mode] = float(result.model.optimizer.learning_rate.numpy())
        config = json.loads((result.run_dir / "config.json").read_text())
        assert config["options"]["scale_learning_rate"] == mode and config["global_batch_size"] == 16
        decisions = json.loads((result.run_dir / "decisions.json").read_text())
        assert decisions["learning_rates"]["feature_extraction"]["head"]["rate"] == pytest.approx(rates[mode])
    assert rates == {"none": pytest.approx(1e-3), "linear": pytest.approx(2e-3)}  # x 2 replicas


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"scale_learning_rate": "sqrt"},
            r"Bad value for config key `training.scale_learning_rate`. Received: "
            r"training.scale_learning_rate='sqrt'. Accepted: 'none', 'linear'",
        ),
        (
            {"worker_timeout": 0},
            r"`training.worker_timeout` must be a number of seconds > 0. Received: training.worker_timeout=0",
        ),
    ],
)
def test_bad_distribution_options_are_refused(kwargs: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        Trainer(resume_tiny.build, strategy=FeatureExtraction(1), **kwargs)


def test_unknown_distribution_is_refused_before_training(tmp_path: Path) -> None:
    with pytest.raises(
        ConfigError,
        match=r"Bad value for config key `training.distribution`. Received: training.distribution='tpu'",
    ):
        Trainer(resume_tiny.build, strategy=FeatureExtraction(1), distribution="tpu", run_dir=tmp_path).fit(
            resume_tiny.data(16)
        )


def test_a_strategy_whose_phases_are_not_phases_is_refused(tmp_path: Path, mirrored: Any) -> None:

    class Odd:
        def phases(self, info: object) -> list[object]:
            return [object()]

    with pytest.raises(ConfigError, match="The strategy's phases must be transferlab Phase objects"):
        Trainer(
            resume_tiny.build,
            strategy=Odd(),
            scale_learning_rate="linear",
            run_dir=tmp_path,
            distribution=mirrored,
        ).fit(resume_tiny.data(16))


# Real multi-worker runs ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """2 workers, each with its own run folder (as on two machines)."""
    out = tmp_path_factory.mktemp("uninterrupted")
    result = launch_local(
        WORKER, [str(out), "--per-worker-dirs"], num_workers=2, timeout=240, env=ENV, stream=None
    )
    assert result.ok, result.tails
    return out


@pytest.mark.multiworker
def test_two_workers_are_identical_and_equal_one_device(uninterrupted: Path, tmp_path: Path) -> None:
    w0, info0 = _result(uninterrupted, 0)
    w1, info1 = _result(uninterrupted, 1)
    assert all(np.array_equal(a, b) for a, b in zip(w0, w1))  # bit-identical workers
    assert int(info0["steps"]) == int(info1["steps"]) == 12 and int(info0["iterations"]) == 6
    assert float(info0["test_loss"]) == float(info1["test_loss"])  # evaluate() under the strategy
    # One device, same seed and data, global batch 8 = 4 per replica x 2 workers.
    one = Trainer(
        resume_tiny.build,
        strategy=FineTune(epochs=1, top=1, warmup_epochs=1, learning_rate=1e-2),
        distribution="one_device",
        run_dir=tmp_path,
        run_name="r",
        batch_size=8,
        verbose=0,
        deterministic=True,
        backup_every=2,
    )
    data = resume_tiny.data(48)
    reference = [v.numpy() for v in one.fit(data, data.take(range(8))).model.variables]
    assert float(info0["test_loss"]) == pytest.approx(one.evaluate(data.take(range(8)))["loss"], rel=1e-5)
    initial = [v.numpy() for v in resume_tiny.build().variables]
    assert not all(np.allclose(a, b) for a, b in zip(reference, initial))  # training moved them
    assert len(reference) == len(w0)
    for a, b in zip(w0, reference):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    # The chief's reports equal the one-device run's, epoch by epoch.
    chief_rows = json.loads((uninterrupted / "w0" / "r" / "metrics.json").read_text())
    one_rows = json.loads((tmp_path / "r" / "metrics.json").read_text())
    assert [r["phase"] for r in chief_rows] == ["warmup", "finetune"]
    for a, b in zip(chief_rows, one_rows):
        assert a["loss"] == pytest.approx(b["loss"], rel=1e-5) and a["val_loss"] == pytest.approx(
            b["val_loss"], rel=1e-5
        )


@pytest.mark.multiworker
def test_only_the_chief_writes_reports_and_model(uninterrupted: Path) -> None:
    chief, other = uninterrupted / "w0" / "r", uninterrupted / "w1" / "r"
    for name in REPORTS:
        assert (chief / name).is_file(), name
        assert not (other / name).exists(), name
    assert not (other / "checkpoints").exists() and not (other / "tensorboard").exists()
    assert not (chief / "backup").exists() and not (other / "backup").exists()  # finished: no backup
    env = json.loads((chief / "environment.json").read_text())
    assert (
        env["distribution"] == "MultiWorkerMirroredStrategy" and env["workers"] == 2 and env["replicas"] == 2
    )
    config = json.loads((chief / "config.json").read_text())
    assert config["global_batch_size"] == 8 and config["options"]["batch_size"] == 4
    assert (
        "Distribution: MultiWorkerMirroredStrategy with 2 replica(s); global batch 8"
        in (chief / "summary.md").read_text()
    )


@pytest.mark.multiworker
def test_worker_killed_mid_run_resumes_both_from_the_same_position(
    uninterrupted: Path, tmp_path: Path
) -> None:
    # Worker 1 dies at global step 10 (phase 2, epoch 2, step 4) after worker 0 backed that step up.
    args = [str(tmp_path), "--kill-worker", "1", "--kill-at", "10"]
    first = launch_local(WORKER, args, num_workers=2, timeout=240, env=ENV, stream=None, check=False)
    assert first.failed_worker == 1 and first.exit_codes[1] == -9  # SIGKILL; worker 0 was stopped
    assert first.exit_codes[0] != 0
    backups = tmp_path / "r" / "backup"
    assert sorted(p.name for p in backups.iterdir()) == ["worker0", "worker1"]  # one folder per worker
    identity = json.loads((tmp_path / "r" / "identity.json").read_text())["digest"]
    assert TrainingState(backups / "worker0", identity=identity, keep=3).positions()[0] == P(1, 1, 4)
    assert TrainingState(backups / "worker1", identity=identity, keep=3).positions()[0] == P(1, 1, 2)
    assert not (tmp_path / "r" / "model.keras").exists()

    again = launch_local(WORKER, args, num_workers=2, timeout=240, env=ENV, stream=None)  # same command
    assert again.ok
    w0, info0 = _result(tmp_path, 0)
    w1, info1 = _result(tmp_path, 1)
    for info in (info0, info1):
        assert tuple(info["resumed_from"]) == (1, 1, 2)  # the position both hold
        assert int(info["first_iterations"]) == 2  # optimizer state restored (keras#19389) ...
        assert int(info["iterations"]) == 6  # ... and its iterations continue
        assert int(info["steps"]) == 12 - 8  # trained only the rest
    reference, _ = _result(uninterrupted, 0)
    for a, b, r in zip(w0, w1, reference):
        assert np.array_equal(a, b) and np.array_equal(a, r)  # bit-identical to the uninterrupted run
    assert (tmp_path / "r" / "model.keras").is_file() and not backups.exists()
    rows = json.loads((tmp_path / "r" / "metrics.json").read_text())
    assert [r["epoch"] for r in rows] == [1, 2]


@pytest.mark.multiworker
def test_a_peer_that_never_arrives_fails_with_a_clear_timeout(tmp_path: Path) -> None:
    ports = []
    for _ in range(2):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            ports.append(s.getsockname()[1])
    tf_config = {
        "cluster": {"worker": [f"127.0.0.1:{p}" for p in ports]},
        "task": {"type": "worker", "index": 0},
    }
    env = dict(
        os.environ,
        **ENV,
        TF_CONFIG=json.dumps(tf_config),
        TF_NUM_INTRAOP_THREADS="1",
        TF_NUM_INTEROP_THREADS="1",
    )
    proc = subprocess.run(
        [sys.executable, WORKER, str(tmp_path), "--timeout", "2"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode != 0
    assert (
        f"WorkerTimeoutError: 1 of 1 peer worker(s) did not join within 2 s: 127.0.0.1:{ports[1]}"
        in proc.stderr
    )


@pytest.mark.multiworker
def test_transferlab_launch_runs_a_script_as_n_workers(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from transferlab.cli.main import main

    script = tmp_path / "show.py"
    script.write_text(
        "import json, os, sys\nc = json.loads(os.environ['TF_CONFIG'])\n"
        "print('task', c['task']['index'], 'of', len(c['cluster']['worker']), sys.argv[1:])\n"
        "sys.exit(int(os.environ.get('FAIL_AT', '-1') == str(c['task']['index'])) * 3)\n"
    )
    assert (
        main(
            [
                "launch",
                "-n",
                "2",
                "--threads-per-worker",
                "1",
                "--timeout",
                "60",
                "--",
                str(script),
                "a",
                "--b",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "[worker 0] task 0 of 2 ['a', '--b']" in out and "[worker 1] task 1 of 2 ['a', '--b']" in out
    os.environ["FAIL_AT"] = "1"
    try:
        assert main(["launch", "-n", "2", str(script)]) == 1
    finally:
        del os.environ["FAIL_AT"]
    err = capsys.readouterr().err
    assert err == (
        "transferlab launch: error: worker 1 of 2 failed with exit code 3; "
        "the other workers were stopped (worker logs above)\n"
    )
    assert main(["launch", "-n", "1", "-m", "json.tool", "--", "--help"]) == 0
    assert main(["launch", "-n", "2"]) == 2
    assert capsys.readouterr().err == (
        "transferlab: error: `transferlab launch` needs the script to run. "
        "Received: no script and no -m MODULE. Fix: pass e.g. "
        "`transferlab launch -n 2 -- train.py --epochs 3`.\n"
    )
    assert main(["launch", "--", str(tmp_path / "nope.py")]) == 2
    assert "transferlab: error: the script to launch does not exist" in capsys.readouterr().err
    assert main(["launch", "-n", "0", str(script)]) == 2
    assert "`num_workers` must be a whole number >= 1" in capsys.readouterr().err
    slow = tmp_path / "slow.py"
    slow.write_text("import time; time.sleep(30)\n")
    assert main(["launch", "-n", "2", "--timeout", "1", str(slow)]) == 124
    assert capsys.readouterr().err.startswith(
        "transferlab launch: error: the local job ran past its timeout of 1 s"
    )


@pytest.mark.multiworker
def test_two_workers_on_a_folder_each_read_half_the_files_and_equal_one_device(tmp_path: Path) -> None:
    sys.path.insert(0, str(HERE.parent / "helpers"))
    from tiny_folders import write_class_folder

    from transferlab.data import ImageFolderSource

    folder = write_class_folder(tmp_path / "images", [16, 16, 16], size=(12, 12))
    out = tmp_path / "mw"
    result = launch_local(
        WORKER,
        [str(out), "--per-worker-dirs", "--folder", str(folder)],
        num_workers=2,
        timeout=240,
        env=ENV,
        stream=None,
    )
    assert result.ok, result.tails
    w0, info0 = _result(out, 0)
    w1, info1 = _result(out, 1)
    assert all(np.array_equal(a, b) for a, b in zip(w0, w1))
    # Two phases of one epoch each, one fit per phase. Within each fit a worker reads its
    # half of every global batch: 24 of the 48 files, the other worker the other 24. Before
    # each fit Keras iterates the distributed dataset once and drops that iterator, which
    # reads ahead at most prefetch (2) + parallel_calls (the CPU count) batches of 4.
    ahead = (2 + (os.cpu_count() or 1)) * 4
    segments = []
    for info in (info0, info1):
        reads, ends = info["read_indices"].tolist(), info["fit_ends"].tolist()
        assert len(ends) == 2 and int(info["reads"]) == len(reads) == ends[-1]
        segments.append([reads[a:b] for a, b in zip([0, *ends[:-1]], ends)])
    for fit in range(2):
        first, second = (set(segments[w][fit]) for w in (0, 1))
        assert len(first) == len(second) == 24 and not first & second and first | second == set(range(48))
        assert all(24 <= len(segments[w][fit]) <= 24 + ahead for w in (0, 1))
    one = Trainer(
        resume_tiny.build,
        strategy=FineTune(epochs=1, top=1, warmup_epochs=1, learning_rate=1e-2),
        distribution="one_device",
        run_dir=tmp_path / "one",
        run_name="r",
        batch_size=8,
        verbose=0,
        deterministic=True,
        backup_every=2,
        feature_cache="off",
    )
    source = ImageFolderSource(folder, image_size=(12, 12), color_mode="grayscale")
    reference = [v.numpy() for v in one.fit(source).model.variables]
    assert len(reference) == len(w0)
    for a, b in zip(w0, reference):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    decisions = json.loads((out / "w0" / "r" / "decisions.json").read_text())
    assert decisions["input"].startswith("per worker")
