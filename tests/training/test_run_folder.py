"""RunFolder: layout, atomic writes, chief-only reports, one backup folder per worker."""

from __future__ import annotations

from pathlib import Path

import pytest

from transferlab.errors import ConfigError
from transferlab.training.run_folder import RunFolder


def test_layout_and_atomic_writes(tmp_path: Path) -> None:
    run = RunFolder(tmp_path, "exp-1")
    run.write_json("config.json", {"a": 1})
    run.write_text("summary.md", "# hi\n")
    run.write_metrics(
        [
            {"epoch": 1, "phase": "warmup", "loss": 1.0},
            {"epoch": 2, "phase": "finetune", "loss": 0.5, "val_loss": 0.7},
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


def test_only_the_chief_writes_reports_and_each_worker_has_its_backup(tmp_path: Path) -> None:
    worker = RunFolder(tmp_path, "job", is_chief=False, worker="worker1")
    assert worker.write_json("config.json", {}) is None
    worker.write_metrics([{"epoch": 1}])
    assert not (worker.path / "config.json").exists() and not (worker.path / "metrics.csv").exists()
    chief = RunFolder(tmp_path, "job", worker="worker0")
    assert chief.backup_dir != worker.backup_dir
    assert worker.backup_dir == tmp_path / "job" / "backup" / "worker1"


def test_bad_name_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="`run_name` must be letters, digits"):
        RunFolder(tmp_path, "../escape")
