"""`import transferlab` registers the classes saved models name, quietly, and does nothing else."""

from __future__ import annotations

import json
import os
import subprocess
import sys

CODE = """
import json, sys
import transferlab
import keras
from transferlab.backbones import registry

names = ["transferlab>" + n for n in (
    "Classifier", "InputAdapter", "FrozenStatsBatchNormalization", "ScaledSchedule", "OneCycle",
    "LayerwiseAdam", "LayerwiseSGD",
)]
print(json.dumps({
    "registered": [n for n in names if keras.saving.get_registered_object(n) is not None],
    "policy": keras.config.dtype_policy().name,
    "backbones_registered": len(registry._REGISTRY),
    "lazy": [m for m in ("transferlab.experiments", "transferlab.serving", "transferlab.cli.main")
             if m in sys.modules],
}))
"""


def test_import_registers_saved_classes_quietly_and_changes_nothing_else() -> None:
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    result = subprocess.run(
        [sys.executable, "-c", CODE], capture_output=True, text=True, timeout=300, env=env
    )
    assert result.returncode == 0, result.stderr[-2000:]
    seen = json.loads(result.stdout.strip().splitlines()[-1])
    assert len(seen["registered"]) == 7, seen["registered"]
    assert seen["policy"] == "float32"
    assert seen["backbones_registered"] == 0  # no backbone module imported, nothing built
    assert seen["lazy"] == []  # the rest is still imported on first use
    # TensorFlow's C++ start-up lines (oneDNN, CUDA probing) are silenced.
    assert "oneDNN" not in result.stderr and "cuda" not in result.stderr.lower(), result.stderr
