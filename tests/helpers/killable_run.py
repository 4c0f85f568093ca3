"""Runs a training script in a fresh process (one thread, no TF chatter) that may kill itself.

The resume and fault tests start a script that trains, SIGKILLs itself at a chosen step,
and is started again with the same command; its final variables are in ``<out>/final.npz``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]


def run_script(script: Path, out: Path, *args: object, timeout: float = 240) -> int:
    """Runs ``script out args...``; returns its exit code (-9 when it killed itself).

    Raises:
        AssertionError: With the end of its stderr, for any other failure.
    """
    env = dict(
        os.environ,
        TF_NUM_INTRAOP_THREADS="1",
        TF_NUM_INTEROP_THREADS="1",
        TF_CPP_MIN_LOG_LEVEL="3",
        PYTHONPATH=str(REPO),
    )
    proc = subprocess.run(
        [sys.executable, str(script), str(out), *map(str, args)],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if proc.returncode not in (0, -9):
        raise AssertionError(proc.stderr[-3000:])
    return proc.returncode


def final_weights(out: Path) -> list[np.ndarray]:
    """The model variables the run saved at its end, in model order."""
    with np.load(out / "final.npz") as data:
        return [data[k] for k in sorted(data.files, key=lambda k: int(k.split("_")[1]))]
