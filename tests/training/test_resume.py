"""SIGKILL a tiny 2-phase run mid-epoch, start it again with the same command: bit-identical."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from killable_run import final_weights, run_script  # tests/helpers (see the root conftest)

from transferlab.errors import ConfigError, ResumeError
from transferlab.training.exact_backup import BackupPosition, ExactBackup

HERE = Path(__file__).resolve().parent
TOTAL_STEPS = 4 * 6  # resume_plain_worker: 2 phases x 2 epochs x 6 steps


def _run(script: str, out: Path, *args: object) -> int:
    return run_script(HERE / script, out, *args)


_final = final_weights


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> list[np.ndarray]:
    out = tmp_path_factory.mktemp("uninterrupted")
    assert _run("resume_plain_worker.py", out, -1) == 0
    return _final(out)


_RANDOM_STEP = int(np.random.default_rng(2024).integers(1, TOTAL_STEPS))


@pytest.mark.parametrize(
    "kill_at",
    [_RANDOM_STEP, 12, 13],
    ids=[f"random-step-{_RANDOM_STEP}", "last-step-of-phase-1", "first-step-of-phase-2"],
)
def test_sigkill_then_same_command_is_bit_identical(
    tmp_path: Path, reference: list[np.ndarray], kill_at: int
) -> None:
    assert _run("resume_plain_worker.py", tmp_path, kill_at) == -9  # killed by SIGKILL
    assert not (tmp_path / "final.npz").exists()
    assert (tmp_path / "backup" / "state.npz").exists()
    assert _run("resume_plain_worker.py", tmp_path, kill_at) == 0  # same command again
    resumed = _final(tmp_path)
    # It resumed (did not start over), and replayed at most one backup interval (2 steps).
    steps = int((tmp_path / "steps_trained.txt").read_text())
    assert TOTAL_STEPS - kill_at <= steps <= TOTAL_STEPS - kill_at + 2
    assert len(resumed) == len(reference)
    for a, b in zip(resumed, reference):
        assert np.array_equal(a, b)


def test_every_steps_is_validated(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="`every_steps` must be a whole number >= 1"):
        ExactBackup(tmp_path, every_steps=0)


def test_unreadable_backup_is_a_resume_error(tmp_path: Path) -> None:
    (tmp_path / "state.npz").write_bytes(b"not a backup")
    with pytest.raises(ResumeError, match="The exact-resume backup cannot be read"):
        ExactBackup(tmp_path).position()


def test_backup_of_another_model_is_refused(tmp_path: Path) -> None:
    import keras

    small = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    big = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1), keras.layers.Dense(1)])
    ExactBackup(tmp_path).save(small, BackupPosition(0, 1, 0), optimizer=False)
    with pytest.raises(ResumeError, match="The backup's model state does not fit this model"):
        ExactBackup(tmp_path).restore_model(big)
    wide = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    with pytest.raises(ResumeError, match="has another shape"):
        ExactBackup(tmp_path).restore_model(wide)


def test_backup_file_is_written_atomically_and_cleared(tmp_path: Path) -> None:
    import keras

    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    backup = ExactBackup(tmp_path)
    backup.save(model, BackupPosition(1, 3, 2), optimizer=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state.npz"]  # no temp file left
    assert ExactBackup(tmp_path).position() == BackupPosition(1, 3, 2)
    backup.clear()
    assert ExactBackup(tmp_path).position() is None


_TRAINER_STEP = int(np.random.default_rng(7).integers(1, 24))


def test_trainer_sigkill_then_same_command_is_bit_identical(tmp_path: Path) -> None:
    ref, run = tmp_path / "ref", tmp_path / "run"
    ref.mkdir(), run.mkdir()
    assert _run("resume_trainer_worker.py", ref, -1) == 0
    assert _run("resume_trainer_worker.py", run, _TRAINER_STEP) == -9
    assert (run / "r" / "backup" / "chief" / "state.npz").exists()
    assert _run("resume_trainer_worker.py", run, _TRAINER_STEP) == 0
    steps = int((run / "steps_trained.txt").read_text())
    assert 24 - _TRAINER_STEP <= steps < 24  # resumed, replaying less than a backup interval
    for a, b in zip(_final(run), _final(ref)):
        assert np.array_equal(a, b)
    import json

    rows = json.loads((run / "r" / "metrics.json").read_text())
    assert [r["epoch"] for r in rows] == [1, 2, 3, 4]
    assert [r["phase"] for r in rows] == ["warmup", "warmup", "finetune", "finetune"]
    assert rows == json.loads((ref / "r" / "metrics.json").read_text()) or all(
        r1["loss"] == r2["loss"] for r1, r2 in zip(rows, json.loads((ref / "r" / "metrics.json").read_text()))
    )
