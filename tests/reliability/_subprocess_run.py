"""Starts tests/reliability/run_tiny_trainer.py in a fresh process, one thread, no TF chatter."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent


def run_tiny_trainer(run_dir: Path, *args: str) -> int:
    """Runs the script on ``run_dir``; returns its exit code (-9 when it killed itself)."""
    env = dict(os.environ, TF_NUM_INTRAOP_THREADS="1", TF_NUM_INTEROP_THREADS="1",
               TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=str(REPO))
    proc = subprocess.run([sys.executable, str(HERE / "run_tiny_trainer.py"), str(run_dir), *args],
                          env=env, capture_output=True, text=True, timeout=240)
    if proc.returncode not in (0, -9):
        raise AssertionError(proc.stderr[-3000:])
    return proc.returncode


def final_weights(run_dir: Path) -> list[np.ndarray]:
    """The model variables the run saved at its end, in model order."""
    with np.load(run_dir / "final.npz") as data:
        return [data[k] for k in sorted(data.files, key=lambda k: int(k.split("_")[1]))]
