"""Runs tests/training/resume_trainer_worker.py's tiny 2-phase Trainer run, with a seed and kills.

Usage: ``python run_tiny_trainer.py RUN_DIR [--seed S] [--kill-after A,B,C]``.

The run is the one of ``resume_trainer_worker.main`` (same model, data, strategy, backup
interval; final weights in ``RUN_DIR/final.npz``); this script only adds:

- ``--seed S``: the Trainer's ``seed`` (default: the Trainer's default, 0);
- ``--kill-after A,B,C``: the n-th start of the command in ``RUN_DIR`` (counted in
  ``RUN_DIR/starts.txt``) SIGKILLs itself after its own n-th number of training steps,
  before that step's backup; starts past the list run to the end. Running the same command
  again after each kill resumes the run from its backup.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
WORKER_DIR = HERE.parent / "training"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("run_dir")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--kill-after", default="")
    args = parser.parse_args(argv)
    run_dir = Path(args.run_dir)
    counter = run_dir / "starts.txt"
    start = int(counter.read_text()) if counter.exists() else 0
    counter.write_text(str(start + 1))
    kills = [int(k) for k in args.kill_after.split(",") if k]
    kill_after = kills[start] if start < len(kills) else None

    sys.path.insert(0, str(WORKER_DIR))
    import resume_trainer_worker

    import transferlab.training.trainer as trainer_module
    from transferlab.training import exact_backup

    if kill_after is not None:
        steps = [0]
        original = exact_backup._BackupCallback.on_train_batch_end

        def on_train_batch_end(self, batch, logs=None):  # type: ignore[no-untyped-def]
            steps[0] += 1
            if steps[0] == kill_after:
                os.kill(os.getpid(), signal.SIGKILL)  # before this step's backup
            original(self, batch, logs)

        exact_backup._BackupCallback.on_train_batch_end = on_train_batch_end

    if args.seed is not None:
        base = trainer_module.Trainer
        seed = args.seed

        class SeededTrainer(base):  # type: ignore[misc, valid-type]
            def __init__(self, *a, **kw):  # type: ignore[no-untyped-def]
                kw.setdefault("seed", seed)
                super().__init__(*a, **kw)

        trainer_module.Trainer = SeededTrainer  # the worker imports it from this module at call time

    resume_trainer_worker.main(str(run_dir), -1)  # -1: the worker itself never kills


if __name__ == "__main__":
    main()
