"""Determinism: the same seed gives bit-identical weights on one device; another seed does not.

Each run is a fresh process (tests/reliability/run_tiny_trainer.py: the tiny 2-phase Trainer
run of tests/training/trainer_worker.py with ``deterministic=True``).
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
_NAME = "transferlab_tests_reliability_run"
if _NAME not in sys.modules:
    _spec = importlib.util.spec_from_file_location(_NAME, HERE / "_subprocess_run.py")
    assert _spec is not None and _spec.loader is not None
    sys.modules[_NAME] = importlib.util.module_from_spec(_spec)
    _spec.loader.exec_module(sys.modules[_NAME])
runner = sys.modules[_NAME]


def test_same_seed_same_weights_other_seed_other_weights(tmp_path: Path) -> None:
    runs = {name: tmp_path / name for name in ("seed3-a", "seed3-b", "seed4")}
    for name, folder in runs.items():
        folder.mkdir()
        assert runner.run_tiny_trainer(folder, "--seed", name[4]) == 0
    a, b, other = (runner.final_weights(folder) for folder in runs.values())
    assert len(a) == len(b) == len(other) > 0
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    # Another seed: other initial weights and data order, so every variable differs except
    # those that never left their constant initial value (the frozen BatchNorm's 0s and 1s).
    same = [i for i, (x, y) in enumerate(zip(a, other)) if np.array_equal(x, y)]
    assert all(np.all(a[i] == a[i].flat[0]) for i in same), f"variables {same} did not change"
    assert len(a) - len(same) >= 3  # the kernels, the trained biases, the head
    # The config each run saved names its seed.
    assert '"seed": 3' in (runs["seed3-a"] / "r" / "config.json").read_text()
    assert '"seed": 4' in (runs["seed4"] / "r" / "config.json").read_text()
