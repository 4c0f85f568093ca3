"""RunFolder: layout, atomic strict-JSON writes, chief-only reports, identity claims and the lock."""

from __future__ import annotations

import hashlib
import json
import math
import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from transferlab.errors import ConfigError, ResumeError, RunConflictError, RunLockedError
from transferlab.training.identity import RunIdentity
from transferlab.training.run_folder import RunFolder

A = RunIdentity.from_components({"model": {"pooling": "avg"}, "seed": 0})
B = RunIdentity.from_components({"model": {"pooling": "max"}, "seed": 0})


def folder_hashes(folder: Path) -> dict[str, str]:
    """Every file's and folder's relative path with the file's content hash."""
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir"
        for p in sorted(folder.rglob("*"))
    }


def _strict_loads(text: str) -> Any:
    def refuse(constant: str) -> Any:
        raise ValueError(f"not strict JSON: {constant}")

    return json.loads(text, parse_constant=refuse)


def _finished_run(root: Path, identity: RunIdentity = A, name: str = "r") -> RunFolder:
    with RunFolder(root, name) as run:
        assert run.claim(identity) == "new"
        run.write_json("config.json", {"a": 1})
        run.write_metrics([{"epoch": 1, "phase": "head", "loss": 0.5}])
        (run.backup_dir / "state.npz").parent.mkdir(parents=True)
        (run.backup_dir / "state.npz").write_bytes(b"state")
        run.finish()
    return run


# Layout and writers ---------------------------------------------------------------
def test_layout_and_atomic_writes(tmp_path: Path) -> None:
    run = RunFolder(tmp_path, "exp-1")
    assert not tmp_path.joinpath("exp-1").exists() and list(tmp_path.iterdir()) == []  # creates nothing
    run.write_json("config.json", {"a": 1})
    run.write_text("summary.md", "# hi\n")
    run.write_metrics(
        [
            {"epoch": 1, "phase": "warmup", "loss": 1.0},
            {"epoch": 2, "phase": "finetune", "val_loss": 0.7, "loss": 0.5},
        ]
    )
    run.write_environment("MirroredStrategy")
    names = sorted(p.name for p in run.path.iterdir())
    assert names == ["config.json", "environment.json", "metrics.csv", "metrics.json", "summary.md"]
    assert (run.path / "metrics.csv").read_text().splitlines() == [
        "epoch,phase,loss,val_loss",
        "1,warmup,1.0,",
        "2,finetune,0.5,0.7",
    ]
    assert run.read_metrics()[1]["phase"] == "finetune"
    assert run.read_json("environment.json")["distribution"] == "MirroredStrategy"
    assert run.read_json("missing.json") is None
    assert run.status is None
    assert run.lock_path == tmp_path / ".locks" / "exp-1.chief.lock"


def test_every_json_file_is_strict_json(tmp_path: Path) -> None:
    run = RunFolder(tmp_path, "r")
    run.write_json("test_metrics.json", {"loss": math.nan, "big": math.inf, "ok": 1.5})
    run.write_metrics([{"epoch": 1, "phase": "p", "loss": math.nan, "val_loss": -math.inf}])
    assert _strict_loads((run.path / "test_metrics.json").read_text()) == {
        "big": None,
        "loss": None,
        "ok": 1.5,
    }
    assert _strict_loads((run.path / "metrics.json").read_text()) == [
        {"epoch": 1, "phase": "p", "loss": None, "val_loss": None}
    ]
    with pytest.raises(ValueError, match="not strict JSON: NaN"):
        _strict_loads('{"loss": NaN}')  # the check itself
    row = run.read_metrics()[0]
    assert math.isnan(row["loss"]) and math.isnan(row["val_loss"]) and row["phase"] == "p"
    assert (run.path / "metrics.csv").read_text().splitlines()[1] == "1,p,nan,-inf"


def test_metric_columns_are_canonical() -> None:
    rows: list[dict[str, Any]] = [
        {"seconds": 1, "val_top5": 1, "val_accuracy": 1, "epoch": 1, "learning_rate": 1, "loss": 1},
        {"top5": 1, "phase": "p", "accuracy": 1, "val_loss": 1, "zeta": 2},
    ]
    assert RunFolder.metric_columns(rows) == [
        "epoch",
        "phase",
        "loss",
        "accuracy",
        "top5",
        "zeta",
        "val_loss",
        "val_accuracy",
        "val_top5",
        "learning_rate",
        "seconds",
    ]


def test_only_the_chief_writes_reports_and_each_worker_has_its_backup(tmp_path: Path) -> None:
    worker = RunFolder(tmp_path, "job", is_chief=False, worker="worker1")
    assert worker.write_json("config.json", {}) is None
    assert worker.write_text("summary.md", "x") is None
    worker.write_metrics([{"epoch": 1}])
    assert not (worker.path / "config.json").exists() and not (worker.path / "metrics.csv").exists()
    chief = RunFolder(tmp_path, "job", worker="worker0")
    assert chief.backup_dir != worker.backup_dir
    assert worker.backup_dir == tmp_path / "job" / "backup" / "worker1"


def test_bad_names_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        RunFolder(tmp_path, "../escape")
    assert str(caught.value) == (
        "`run_name` must be letters, digits, '.', '_' or '-', starting with a letter or digit. "
        "Received: run_name='../escape'. Fix: pass e.g. run_name='mnist-finetune-1'."
    )
    with pytest.raises(ConfigError, match=r"`worker` must be letters.*Received: worker='a/b'"):
        RunFolder(tmp_path, "ok", worker="a/b")
    with pytest.raises(
        ConfigError, match="`claim` needs the run's RunIdentity. Received: identity of type dict"
    ):
        RunFolder(tmp_path, "ok").claim({"seed": 0})  # type: ignore[arg-type]
    assert list(tmp_path.iterdir()) == []


# Claims -----------------------------------------------------------------------------
def test_claim_new_then_resume_then_finished(tmp_path: Path) -> None:
    run = RunFolder(tmp_path, "r")
    assert run.claim(A) == "new"
    record = _strict_loads(run.identity_path.read_text())
    assert record["digest"] == A.digest and record["status"] == "running"
    assert RunIdentity.from_json({"components": record["identity"], "digest": record["digest"]}) == A
    assert run.status == "running"
    run.write_json("config.json", {"a": 1})
    run.release()

    again = RunFolder(tmp_path, "r")
    assert again.claim(A) == "resume"
    again.finish()
    again.release()
    assert again.status == "finished"
    assert _strict_loads(again.identity_path.read_text())["finished"]

    before = folder_hashes(tmp_path / "r")
    mtimes = {p: p.stat().st_mtime_ns for p in (tmp_path / "r").rglob("*")}
    with RunFolder(tmp_path, "r") as third:
        assert third.claim(A) == "finished"
    assert folder_hashes(tmp_path / "r") == before  # writes nothing
    assert {p: p.stat().st_mtime_ns for p in (tmp_path / "r").rglob("*")} == mtimes


def test_an_empty_folder_is_new(tmp_path: Path) -> None:
    (tmp_path / "r").mkdir()
    (tmp_path / "r" / ".identity.json.partial-abcd1234.json").write_text("{")  # killed first write
    with RunFolder(tmp_path, "r") as run:
        assert run.claim(A) == "new"
    assert sorted(p.name for p in run.path.iterdir()) == ["identity.json"]


def test_another_identity_is_refused_and_the_folder_is_unchanged(tmp_path: Path) -> None:
    _finished_run(tmp_path)
    leftover = tmp_path / "r" / ".config.json.partial-zzzz9999.json"
    leftover.write_text("{")
    before = folder_hashes(tmp_path / "r")
    run = RunFolder(tmp_path, "r")
    with pytest.raises(RunConflictError) as caught:
        run.claim(B)
    assert str(caught.value) == (
        f"The run folder {tmp_path / 'r'} holds another (finished) run than the one being started. "
        "Received: what differs (that run ≠ this run): model.pooling: 'avg' ≠ 'max'. "
        "Fix: pass another run_name (e.g. run_name='r-2'), or overwrite=True (`--overwrite` on the "
        "command line) to delete that run and start afresh; nothing in the folder was changed."
    )
    assert folder_hashes(tmp_path / "r") == before and leftover.exists()
    assert run.claim(A) == "finished"  # the failed claim released the lock
    run.release()


def test_a_folder_without_identity_is_refused_unchanged(tmp_path: Path) -> None:
    old = tmp_path / "r"
    (old / "checkpoints").mkdir(parents=True)
    (old / "metrics.json").write_text("[]")
    (old / "checkpoints" / "last.weights.h5").write_bytes(b"w")
    before = folder_hashes(old)
    with pytest.raises(RunConflictError) as caught:
        RunFolder(tmp_path, "r").claim(A)
    assert str(caught.value).startswith(
        f"The run folder {old} holds files but no identity.json: it was not written by this version of "
        "transferlab (or deleting it was interrupted). Received: 2 entries: checkpoints, metrics.json. "
        "Fix: pass another run_name"
    )
    assert folder_hashes(old) == before
    (old / "identity.json").write_text("{not json")
    before = folder_hashes(old)
    with pytest.raises(
        RunConflictError, match=r"has a identity.json that cannot be read. Received: Expecting"
    ):
        RunFolder(tmp_path, "r").claim(A)
    assert folder_hashes(old) == before


def test_overwrite_removes_the_old_run(tmp_path: Path) -> None:
    _finished_run(tmp_path)
    with RunFolder(tmp_path, "r") as run:
        assert run.claim(B, overwrite=True) == "new"
        assert sorted(p.name for p in run.path.iterdir()) == ["identity.json"]
        assert _strict_loads(run.identity_path.read_text())["digest"] == B.digest
        assert run.status == "running"
    _finished_run(tmp_path, name="s")
    with RunFolder(tmp_path, "s") as same:  # the same identity, finished: started afresh too
        assert same.claim(A, overwrite=True) == "new"
        assert same.status == "running" and not same.backup_dir.exists()
    with RunFolder(tmp_path, "fresh") as fresh:  # nothing to overwrite
        assert fresh.claim(A, overwrite=True) == "new"


def test_resume_cleans_partial_writes_but_not_other_workers_backups(tmp_path: Path) -> None:
    with RunFolder(tmp_path, "r") as run:
        run.claim(A)
    mine = tmp_path / "r" / ".model.keras.partial-abcd1234.keras"
    in_my_backup = tmp_path / "r" / "backup" / "chief" / ".state.npz.partial-abcd1234.npz"
    theirs = tmp_path / "r" / "backup" / "worker1" / ".state.npz.partial-abcd1234.npz"
    dotfile = tmp_path / "r" / ".notes"
    for path in (mine, in_my_backup, theirs, dotfile):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x")
    with RunFolder(tmp_path, "r") as run:
        assert run.claim(A) == "resume"
    assert not mine.exists() and not in_my_backup.exists()
    assert theirs.exists() and dotfile.exists()
    with RunFolder(tmp_path, "r", is_chief=False, worker="worker1") as worker:
        assert worker.claim(A) == "resume"
    assert not theirs.exists()


def test_workers_check_the_identity_but_never_write_it(tmp_path: Path) -> None:
    with RunFolder(tmp_path, "job", is_chief=False, worker="worker1") as worker:
        assert worker.claim(A) == "new"  # the chief has not written identity.json yet
        assert not worker.path.exists()
    with RunFolder(tmp_path, "job", worker="chief") as chief:
        assert chief.claim(A) == "new"
        # both hold their own lock at once
        with RunFolder(tmp_path, "job", is_chief=False, worker="worker1") as worker:
            assert worker.claim(A) == "resume"
            worker.finish()  # a worker does not mark the run
        assert chief.status == "running"
        chief.finish()
    (tmp_path / "job" / "backup" / "worker1").mkdir(parents=True)
    before = folder_hashes(tmp_path / "job")
    worker = RunFolder(tmp_path, "job", is_chief=False, worker="worker1")
    assert worker.claim(A) == "finished"
    worker.release()
    with pytest.raises(RunConflictError, match=r"model.pooling: 'avg' ≠ 'max'"):
        worker.claim(B)
    assert folder_hashes(tmp_path / "job") == before
    assert worker.claim(B, overwrite=True) == "new"  # clears only its own backup
    worker.release()
    assert not (tmp_path / "job" / "backup" / "worker1").exists()
    assert _strict_loads((tmp_path / "job" / "identity.json").read_text())["digest"] == A.digest


def test_finish_needs_a_claim(tmp_path: Path) -> None:
    with pytest.raises(ResumeError) as caught:
        RunFolder(tmp_path, "r").finish()
    assert str(caught.value) == (
        "`finish` needs the run claimed by this RunFolder, with its identity.json in place. "
        f"Received: run folder {tmp_path / 'r'}, not claimed. "
        "Fix: call claim(identity) first, and do not delete or replace identity.json while training."
    )
    with RunFolder(tmp_path, "r") as run:
        run.claim(A)
        run.identity_path.unlink()
        with pytest.raises(ResumeError, match="identity.json missing or another run's"):
            run.finish()


# The lock -------------------------------------------------------------------------------
def test_a_second_process_is_refused_with_the_holder(tmp_path: Path) -> None:
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(
                f"""
                import sys
                from transferlab.training.identity import RunIdentity
                from transferlab.training.run_folder import RunFolder
                run = RunFolder({str(tmp_path)!r}, "r")
                run.claim(RunIdentity.from_components({{"model": {{"pooling": "avg"}}, "seed": 0}}))
                print("claimed", flush=True)
                sys.stdin.read()  # hold the lock until the parent closes stdin
                """
            ),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "claimed"
        before = folder_hashes(tmp_path / "r")
        run = RunFolder(tmp_path, "r")
        with pytest.raises(RunLockedError) as caught:
            run.claim(A)
        message = str(caught.value)
        assert message.startswith(
            f"The run folder {tmp_path / 'r'} is in use by another process (worker 'chief'). "
            f"Received: held by pid {holder.pid} on host {socket.gethostname()} since "
        )
        assert message.endswith(
            f"Fix: wait for that run to end, or stop it (`kill {holder.pid}` on {socket.gethostname()}); "
            "to train another run at the same time, pass another run_name."
        )
        assert folder_hashes(tmp_path / "r") == before
    finally:
        holder.kill()  # process death releases the lock, without release()
        holder.wait(timeout=60)
    with RunFolder(tmp_path, "r") as run:
        assert run.claim(A) == "resume"
        assert json.loads(run.lock_path.read_text())["pid"] == os.getpid()
    assert run.lock_path.read_text() == ""  # released: no holder


def test_the_same_process_twice_is_refused_until_released(tmp_path: Path) -> None:
    first = RunFolder(tmp_path, "r")
    first.claim(A)
    assert first.claim(A) == "resume"  # the same object claims again: it already holds the lock
    with pytest.raises(
        RunLockedError, match="this very process: an earlier RunFolder of this run was not released"
    ):
        RunFolder(tmp_path, "r").claim(A)
    first.release()
    first.release()  # idempotent
    with RunFolder(tmp_path, "r") as second:
        assert second.claim(A) == "resume"
    with RunFolder(tmp_path, "r") as third:  # the context manager released it
        assert third.claim(A) == "resume"


def test_a_refused_second_claim_keeps_the_lock_of_the_first(tmp_path: Path) -> None:
    with RunFolder(tmp_path, "r") as run:
        assert run.claim(A) == "new"
        with pytest.raises(RunConflictError, match="model.pooling: 'avg' ≠ 'max'"):
            run.claim(B)
        with pytest.raises(RunLockedError, match=f"held by pid {os.getpid()}"):
            RunFolder(tmp_path, "r").claim(A)
        run.finish()
    assert run.status == "finished"
