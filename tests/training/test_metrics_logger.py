"""MetricsLogger: canonical columns, and a resumed run writes the same files as an uninterrupted one."""

from __future__ import annotations

import math
import types
from pathlib import Path
from typing import Any

import pytest

from transferlab.training import metrics_logger as metrics_logger_module
from transferlab.training.metrics_logger import MetricsLogger
from transferlab.training.run_folder import RunFolder

# Keras' log order differs from epoch to epoch and from run to run; the files must not.
EPOCHS: list[tuple[str, dict[str, Any]]] = [
    ("warmup", {"loss": 1.0, "accuracy": 0.5, "val_loss": 1.2, "val_accuracy": 0.4, "learning_rate": 0.01}),
    ("warmup", {"val_accuracy": 0.5, "accuracy": 0.6, "learning_rate": 0.01, "val_loss": 1.1, "loss": 0.9}),
    (
        "finetune",
        {"accuracy": 0.7, "loss": math.nan, "val_accuracy": 0.6, "val_loss": 1.0, "learning_rate": 0.001},
    ),
    (
        "finetune",
        {"learning_rate": 0.001, "val_loss": 0.9, "val_accuracy": 0.7, "loss": 0.7, "accuracy": 0.8},
    ),
]


@pytest.fixture(autouse=True)
def fixed_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every epoch takes 2.5 s, so the `seconds` column is the same in every run."""
    ticks = iter(range(0, 10_000, 1))
    fake = types.SimpleNamespace(perf_counter=lambda: next(ticks) * 2.5)
    monkeypatch.setattr(metrics_logger_module, "time", fake)


def _train(logger: MetricsLogger, epochs: range, *, reorder: bool = False) -> None:
    for epoch in epochs:
        phase, logs = EPOCHS[epoch]
        logger.phase = phase
        logger.on_epoch_begin(epoch)
        logger.on_epoch_end(epoch, dict(reversed(list(logs.items()))) if reorder else dict(logs))


def test_columns_are_canonical_whatever_the_log_order(tmp_path: Path) -> None:
    run = RunFolder(tmp_path, "r")
    _train(MetricsLogger(run), range(2), reorder=True)
    assert (run.path / "metrics.csv").read_text().splitlines() == [
        "epoch,phase,loss,accuracy,val_loss,val_accuracy,learning_rate,seconds",
        "1,warmup,1.0,0.5,1.2,0.4,0.01,2.5",
        "2,warmup,0.9,0.6,1.1,0.5,0.01,2.5",
    ]


def test_a_resumed_run_writes_byte_identical_files(tmp_path: Path) -> None:
    whole = RunFolder(tmp_path, "whole")
    _train(MetricsLogger(whole), range(4))

    resumed = RunFolder(tmp_path, "resumed")
    _train(MetricsLogger(resumed), range(3), reorder=True)  # killed during epoch 4...
    # ... after a backup at the end of epoch 2: epoch 3 is trained again
    again = MetricsLogger(resumed, start_epoch=2)
    assert [row["epoch"] for row in again.rows] == [1, 2]
    assert list(again.rows[0]) == RunFolder.metric_columns(again.rows)
    _train(again, range(2, 4))

    for name in ("metrics.csv", "metrics.json"):
        assert (resumed.path / name).read_bytes() == (whole.path / name).read_bytes(), name
    csv_lines = (whole.path / "metrics.csv").read_text().splitlines()
    assert csv_lines[3] == "3,finetune,nan,0.7,1.0,0.6,0.001,2.5"
    assert [row["epoch"] for row in again.rows] == [1, 2, 3, 4]
    assert math.isnan(again.rows[2]["loss"])


def test_a_worker_logs_rows_but_writes_nothing(tmp_path: Path) -> None:
    run = RunFolder(tmp_path, "r", is_chief=False, worker="worker1")
    logger = MetricsLogger(run, phase="head")
    logger.on_epoch_end(0, {"loss": 0.5, "note": "text"})
    assert logger.rows == [{"epoch": 1, "phase": "head", "loss": 0.5, "seconds": 2.5}]
    assert not run.path.exists()
