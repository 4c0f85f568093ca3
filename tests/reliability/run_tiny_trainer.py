"""Runs tests/training/trainer_worker.py's tiny 2-phase Trainer run, with a seed and kills.

Usage: ``python run_tiny_trainer.py RUN_DIR [--seed S] [--kill-after A,B,C]``.

The run is the ``finetune`` scenario of ``trainer_worker.main`` (same model, data, strategy, backup
interval; final weights in ``RUN_DIR/final.npz``); this script only adds:

- ``--seed S``: the Trainer's ``seed`` (default: the Trainer's default, 0);
- ``--kill-after A,B,C``: the n-th start of the command in ``RUN_DIR`` (counted in
  ``RUN_DIR/starts.txt``) SIGKILLs itself after its own n-th number of training steps,
  before that step's backup; starts past the list run to the end. Running the same command
  again after each kill resumes the run from its backup.
"""

from __future__ import annotations

import argparse
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
    import trainer_worker

    (run_dir / "killed").unlink(missing_ok=True)  # the worker kills only where this marker is absent
    spec: dict[str, object] = {"scenario": "finetune", "kill_at": -1 if kill_after is None else kill_after}
    if args.seed is not None:
        spec["seed"] = args.seed
    trainer_worker.main(str(run_dir), spec)


if __name__ == "__main__":
    main()
