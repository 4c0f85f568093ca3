"""Starts tests/reliability/run_tiny_trainer.py through the shared killable-run helper."""

from __future__ import annotations

from pathlib import Path

from killable_run import final_weights, run_script  # tests/helpers (see the root conftest)

HERE = Path(__file__).resolve().parent

__all__ = ["final_weights", "run_tiny_trainer"]


def run_tiny_trainer(run_dir: Path, *args: str) -> int:
    """Runs the script on ``run_dir``; returns its exit code (-9 when it killed itself)."""
    return run_script(HERE / "run_tiny_trainer.py", run_dir, *args)
