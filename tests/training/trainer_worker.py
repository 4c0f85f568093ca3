"""A tiny Trainer run that may SIGKILL itself; started (and started again) by the resume tests.

Usage: ``python trainer_worker.py OUT_DIR SPEC_JSON``. The spec names a scenario and
its settings::

    {"scenario": "finetune", "kill_at": 13, "run_name": "r", ...}

The first start of a run SIGKILLs itself right after global training step ``kill_at``
(before that step's backup), or, with ``"kill_at": "after_stop"``, at the end of the
phase that early stopping ended (after the epoch's backup, before the phase's end).
A marker file ``OUT_DIR/killed`` keeps later starts alive. The final variables go to
``OUT_DIR/final.npz``, the steps this start trained to ``OUT_DIR/steps_trained.txt``,
and ``OUT_DIR/result.json`` says whether the run was reused. With ``"folder": DIR``
the training data is ``ImageFolderSource(DIR)`` read lazily (12x12 gray; the
folder's images may have any size and mode) instead of arrays.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from typing import Any


def strategy(name: str) -> Any:
    from transferlab.strategies import LPFT, FeatureExtraction, FineTune

    return {
        # warm-up (head) then the top group at a tenth: exact resume across a recompile
        "finetune": lambda: FineTune(epochs=2, top=1, warmup_epochs=2, learning_rate=1e-2),
        # a trainable phase (BatchNorm training changes the backbone), then a feature-cached one
        "cached": lambda: (
            FineTune(epochs=1, top=2, warmup_epochs=0, learning_rate=1e-2, batchnorm="train")
            + FeatureExtraction(2, learning_rate=1e-2)
        ),
        # a frozen random backbone: the features of the restarted run must be those of its weights
        "random_fe": lambda: FeatureExtraction(3, learning_rate=1e-2),
        "fe_long": lambda: FeatureExtraction(8, learning_rate=0.5),
        # a linear probe fitted in closed form (no fit), then fine-tuning from it
        "lp_ft": lambda: LPFT(epochs=2, top=1, learning_rate=1e-2),
    }[name]()


def main(out_dir: str, spec: dict[str, Any]) -> None:
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import keras
    import numpy as np
    import resume_tiny

    from transferlab.training.trainer import Trainer

    marker = os.path.join(out_dir, "killed")
    fresh = not os.path.exists(marker)
    kill_at = spec.get("kill_at", -1)

    def die() -> None:
        with open(marker, "w") as handle:
            handle.write("1")
        os.kill(os.getpid(), signal.SIGKILL)

    class Killer(keras.callbacks.Callback):
        steps = 0

        def on_train_batch_end(self, batch: int, logs: object = None) -> None:
            Killer.steps += 1
            time.sleep(spec.get("sleep", 0.0))
            if fresh and Killer.steps == kill_at:
                die()

        def on_train_end(self, logs: object = None) -> None:
            if fresh and kill_at == "after_stop" and self.model.stop_training:
                die()

    data: Any = resume_tiny.data(spec.get("n", 48), seed=spec.get("data_seed", 0))
    if "folder" in spec:
        from transferlab.data import ImageFolderSource

        data = ImageFolderSource(spec["folder"], image_size=(12, 12), color_mode="grayscale")
    validation = resume_tiny.data(16, seed=99) if spec.get("validation", True) else None
    options = {
        "run_dir": out_dir,
        "run_name": spec.get("run_name", "r"),
        "batch_size": spec.get("batch_size", 8),
        "deterministic": spec.get("deterministic", True),
        "backup_every": spec.get("backup_every", 4),
        "feature_cache": spec.get("feature_cache", "auto"),
        "early_stopping": spec.get("early_stopping", 0),
        "seed": spec.get("seed", 0),
        "overwrite": spec.get("overwrite", False),
        "resume": spec.get("resume", True),
    }
    trainer = Trainer(
        lambda precision: resume_tiny.build(precision, dropout=spec.get("dropout", 0.0)),
        strategy=strategy(spec.get("scenario", "finetune")),
        callbacks=[Killer()],
        verbose=0,
        **options,
    )
    result = trainer.fit(data, validation)
    np.savez(os.path.join(out_dir, "final.npz"), *[np.asarray(v.numpy()) for v in result.model.variables])
    with open(os.path.join(out_dir, "steps_trained.txt"), "w") as handle:
        handle.write(str(Killer.steps))
    with open(os.path.join(out_dir, "result.json"), "w") as handle:
        json.dump({"reused": result.reused, "epochs": result.epochs, "run_dir": str(result.run_dir)}, handle)


if __name__ == "__main__":
    main(sys.argv[1], json.loads(sys.argv[2]))
