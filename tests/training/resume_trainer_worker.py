"""A tiny 2-phase Trainer run (FineTune with warm-up), killed and resumed by test_resume.py.

Usage: ``python resume_trainer_worker.py RUN_DIR KILL_AT_STEP``; the first start of the run
SIGKILLs itself after global step ``KILL_AT_STEP``; the final weights go to ``RUN_DIR/final.npz``.
"""

from __future__ import annotations

import os
import signal
import sys


def main(run_dir: str, kill_at: int) -> None:
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import keras
    import numpy as np
    import resume_tiny

    from transferlab.strategies import FineTune
    from transferlab.training import exact_backup
    from transferlab.training.trainer import Trainer

    fresh = not os.path.exists(os.path.join(run_dir, "r", "backup", "chief", "state.npz"))
    steps = [0]
    original = exact_backup._BackupCallback.on_train_batch_end

    def on_train_batch_end(self, batch, logs=None):  # type: ignore[no-untyped-def]
        steps[0] += 1
        if fresh and steps[0] == kill_at:
            os.kill(os.getpid(), signal.SIGKILL)  # before this step's backup
        original(self, batch, logs)

    exact_backup._BackupCallback.on_train_batch_end = on_train_batch_end
    data = resume_tiny.data(48)
    trainer = Trainer(
        lambda precision: resume_tiny.build(precision, dropout=0.2),
        strategy=FineTune(epochs=2, top=1, warmup_epochs=2, learning_rate=1e-2),
        run_dir=run_dir,
        run_name="r",
        batch_size=8,
        verbose=0,
        deterministic=True,
        backup_every=4,
        feature_cache="off",
    )
    result = trainer.fit(data, data.take(range(8)))
    np.savez(os.path.join(run_dir, "final.npz"), *[v.numpy() for v in result.model.variables])
    with open(os.path.join(run_dir, "steps_trained.txt"), "w") as handle:
        handle.write(str(steps[0]))
    assert keras is not None


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
