"""A run's identity and exact resume, end to end: runs SIGKILLed and started again.

Each test starts ``trainer_worker.py`` in fresh processes (one thread each): once to
be killed at a chosen point, once more with the same command (or a changed one).
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from killable_run import REPO, final_weights

HERE = Path(__file__).resolve().parent
STEPS = 6  # 48 examples, batch 8


def _env() -> dict[str, str]:
    return dict(
        os.environ,
        TF_NUM_INTRAOP_THREADS="1",
        TF_NUM_INTEROP_THREADS="1",
        TF_CPP_MIN_LOG_LEVEL="3",
        PYTHONPATH=str(REPO),
    )


def start(out: Path, **spec: Any) -> subprocess.CompletedProcess[str]:
    """Runs the worker once; returns the finished process (return code -9 when killed)."""
    return subprocess.run(
        [sys.executable, str(HERE / "trainer_worker.py"), str(out), json.dumps(spec)],
        env=_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )


def ok(out: Path, **spec: Any) -> subprocess.CompletedProcess[str]:
    proc = start(out, **spec)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def killed(out: Path, **spec: Any) -> None:
    proc = start(out, **spec)
    assert proc.returncode == -9, proc.stderr[-3000:]


def folder_hashes(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def metrics_without_time(run: Path) -> tuple[list[str], list[dict[str, str]]]:
    with open(run / "metrics.csv", newline="") as handle:
        reader = csv.DictReader(handle)
        rows = [{k: v for k, v in row.items() if k != "seconds"} for row in reader]
        return list(reader.fieldnames or []), rows


def assert_same_weights(a: Path, b: Path) -> None:
    first, second = final_weights(a), final_weights(b)
    assert len(first) == len(second)
    for x, y in zip(first, second):
        assert np.array_equal(x, y)


@pytest.fixture(scope="module")
def finetune_reference(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("finetune-ref")
    ok(out, scenario="finetune")
    return out


_KILL = int(np.random.default_rng(2026).integers(1, 4 * STEPS))


@pytest.mark.parametrize("kill_at", [_KILL, 13], ids=[f"random-step-{_KILL}", "first-step-of-phase-2"])
def test_sigkill_mid_epoch_resumes_bit_identical_weights_and_metrics(
    tmp_path: Path, finetune_reference: Path, kill_at: int
) -> None:
    killed(tmp_path, scenario="finetune", kill_at=kill_at)
    assert not (tmp_path / "final.npz").exists()
    ok(tmp_path, scenario="finetune", kill_at=kill_at)
    steps = int((tmp_path / "steps_trained.txt").read_text())
    assert 4 * STEPS - kill_at <= steps < 4 * STEPS - kill_at + 4  # resumed, not started over
    assert_same_weights(tmp_path, finetune_reference)
    columns, rows = metrics_without_time(tmp_path / "r")
    ref_columns, ref_rows = metrics_without_time(finetune_reference / "r")
    assert columns == ref_columns  # the same column order, not alphabetical after a resume
    assert rows == ref_rows  # the same values, the resumed epoch's included
    assert "val_loss" in columns


def test_sigkill_in_a_feature_cached_phase_after_a_trainable_one(tmp_path: Path) -> None:
    ref, run = tmp_path / "ref", tmp_path / "run"
    ref.mkdir(), run.mkdir()
    ok(ref, scenario="cached")
    decisions = json.loads((ref / "r" / "decisions.json").read_text())
    assert decisions["feature_cache"]["feature_extraction"] == "on"
    killed(run, scenario="cached", kill_at=STEPS + 3)  # inside the cached phase
    ok(run, scenario="cached")
    assert_same_weights(run, ref)


def _mixed_folder(root: Path) -> Path:
    """48 images of 3 classes: PNG and JPEG, gray, RGB and RGBA, of several sizes."""
    import tensorflow as tf

    rng = np.random.default_rng(5)
    for i in range(48):
        label, channels = i % 3, (1, 3, 4)[i % 3 if i % 2 else (i // 2) % 3]
        size = ((12, 12), (10, 15), (17, 9))[(i // 3) % 3]
        pixels = rng.integers(0, 150, (*size, channels), dtype=np.uint8)
        pixels[label * 3 : label * 3 + 2] = 255
        folder = root / f"class{label}"
        folder.mkdir(parents=True, exist_ok=True)
        if channels != 4 and i % 4 == 1:
            (folder / f"{i:02d}.jpg").write_bytes(tf.io.encode_jpeg(pixels, quality=95).numpy())
        else:
            (folder / f"{i:02d}.png").write_bytes(tf.io.encode_png(pixels).numpy())
    return root


@pytest.mark.parametrize(("scenario", "kill_at"), [("finetune", 9), ("cached", STEPS + 3)])
def test_sigkill_mid_epoch_on_a_lazily_read_folder_resumes_bit_identical(
    tmp_path: Path, scenario: str, kill_at: int
) -> None:
    folder = str(_mixed_folder(tmp_path / "images"))
    ref, run = tmp_path / "ref", tmp_path / "run"
    ref.mkdir(), run.mkdir()
    ok(ref, scenario=scenario, folder=folder)
    killed(run, scenario=scenario, folder=folder, kill_at=kill_at)
    ok(run, scenario=scenario, folder=folder)
    assert_same_weights(run, ref)
    assert metrics_without_time(run / "r") == metrics_without_time(ref / "r")
    config = json.loads((run / "r" / "config.json").read_text())
    assert config["train"]["source"] == "ImageFolderSource" and config["train"]["examples"] == 48


def test_sigkill_in_feature_extraction_on_random_weights_without_deterministic(tmp_path: Path) -> None:
    ref, run = tmp_path / "ref", tmp_path / "run"
    ref.mkdir(), run.mkdir()
    ok(ref, scenario="random_fe", deterministic=False)
    killed(run, scenario="random_fe", deterministic=False, kill_at=STEPS + 2)
    ok(run, scenario="random_fe", deterministic=False)
    assert_same_weights(run, ref)


def test_early_stopping_survives_a_kill_after_the_stopping_epoch(tmp_path: Path) -> None:
    ref, run = tmp_path / "ref", tmp_path / "run"
    ref.mkdir(), run.mkdir()
    spec = dict(scenario="fe_long", early_stopping=1, dropout=0.0)
    ok(ref, **spec)
    ref_epochs = json.loads((ref / "result.json").read_text())["epochs"]
    assert ref_epochs < 8, "the reference run must stop early for this test to mean anything"
    killed(run, kill_at="after_stop", **spec)
    ok(run, kill_at="after_stop", **spec)
    assert int((run / "steps_trained.txt").read_text()) == 0  # no further epoch
    assert json.loads((run / "result.json").read_text())["epochs"] == ref_epochs
    assert_same_weights(run, ref)


def test_a_finished_run_started_again_returns_its_result_without_training(tmp_path: Path) -> None:
    ok(tmp_path, scenario="random_fe")
    before = folder_hashes(tmp_path / "r")
    assert json.loads((tmp_path / "result.json").read_text())["reused"] is False
    first = final_weights(tmp_path)
    proc = ok(tmp_path, scenario="random_fe")
    assert json.loads((tmp_path / "result.json").read_text())["reused"] is True
    assert int((tmp_path / "steps_trained.txt").read_text()) == 0
    assert "has finished already" in proc.stderr
    assert folder_hashes(tmp_path / "r") == before
    for a, b in zip(final_weights(tmp_path), first):
        assert np.array_equal(a, b)


@pytest.mark.parametrize(
    "change, named",
    [
        ({"scenario": "random_fe"}, "strategy"),
        ({"n": 40}, "data.train"),
        ({"batch_size": 4}, "options.batch_size"),
        ({"data_seed": 5}, "data.train"),
    ],
    ids=["other-strategy", "fewer-examples", "other-batch-size", "other-data"],
)
def test_a_killed_run_started_with_another_config_is_refused_and_untouched(
    tmp_path: Path, change: dict[str, Any], named: str
) -> None:
    killed(tmp_path, scenario="finetune", kill_at=5)
    before = folder_hashes(tmp_path / "r")
    proc = start(tmp_path, **{"scenario": "finetune", **change})
    assert proc.returncode != 0
    assert "RunConflictError" in proc.stderr
    assert named in proc.stderr
    assert "overwrite" in proc.stderr  # the fix is named
    assert folder_hashes(tmp_path / "r") == before
    assert not (tmp_path / "final.npz").exists()


def test_overwrite_starts_a_different_run_afresh_in_the_same_folder(tmp_path: Path) -> None:
    killed(tmp_path, scenario="finetune", kill_at=5)
    ok(tmp_path, scenario="random_fe", overwrite=True)
    assert json.loads((tmp_path / "r" / "config.json").read_text())["strategy"].startswith(
        "FeatureExtraction"
    )


def test_no_resume_starts_afresh(tmp_path: Path, finetune_reference: Path) -> None:
    killed(tmp_path, scenario="finetune", kill_at=10)
    ok(tmp_path, scenario="finetune", resume=False)
    assert int((tmp_path / "steps_trained.txt").read_text()) == 4 * STEPS
    assert_same_weights(tmp_path, finetune_reference)


def test_a_truncated_newest_backup_falls_back_to_the_previous_one(
    tmp_path: Path, finetune_reference: Path
) -> None:
    killed(tmp_path, scenario="finetune", kill_at=10)
    backups = sorted((tmp_path / "r" / "backup" / "chief").glob("*.npz"), key=lambda p: p.stat().st_mtime)
    assert len(backups) == 2
    newest = backups[-1]
    newest.write_bytes(newest.read_bytes()[:100])
    proc = ok(tmp_path, scenario="finetune", kill_at=10)
    assert newest.name in proc.stderr  # says which backup was damaged
    steps = int((tmp_path / "steps_trained.txt").read_text())
    assert steps > 4 * STEPS - 10  # resumed from an older position than the newest
    decisions = json.loads((tmp_path / "r" / "decisions.json").read_text())
    assert newest.name in decisions["backup_fallback"]
    assert_same_weights(tmp_path, finetune_reference)


def test_a_second_process_on_the_same_run_folder_is_refused(tmp_path: Path, finetune_reference: Path) -> None:
    first = subprocess.Popen(
        [
            sys.executable,
            str(HERE / "trainer_worker.py"),
            str(tmp_path),
            json.dumps({"scenario": "finetune", "sleep": 1.0}),
        ],
        env=_env(),
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.time() + 120
        while not (tmp_path / "r" / "identity.json").exists() and time.time() < deadline:
            time.sleep(0.2)
        second = start(tmp_path, scenario="finetune")
        assert second.returncode != 0
        assert "RunLockedError" in second.stderr
        assert str(first.pid) in second.stderr
    finally:
        _, err = first.communicate(timeout=300)
    assert first.returncode == 0, err[-3000:]
    assert_same_weights(tmp_path, finetune_reference)


@pytest.mark.parametrize("kill_at", [1, STEPS + 3], ids=["first-step-after-the-probe", "mid-finetune"])
def test_sigkill_after_the_probe_phase_resumes_after_it_bit_identical(tmp_path: Path, kill_at: int) -> None:
    ref, run = tmp_path / "ref", tmp_path / "run"
    ref.mkdir(), run.mkdir()
    ok(ref, scenario="lp_ft")
    killed(run, scenario="lp_ft", kill_at=kill_at)
    ok(run, scenario="lp_ft", kill_at=kill_at)
    assert int((run / "steps_trained.txt").read_text()) < 2 * STEPS + 1  # fine-tuning only, resumed
    assert_same_weights(run, ref)
    assert metrics_without_time(run / "r") == metrics_without_time(ref / "r")  # the probe's row kept
    decisions = json.loads((run / "r" / "decisions.json").read_text())
    assert decisions["resumed_from"]["phase"] == 1  # after the probe: not fitted again
    reference = json.loads((ref / "r" / "decisions.json").read_text())
    assert decisions["head_fit"] == reference["head_fit"] and "l2" in decisions["head_fit"]["linear_probe"]
