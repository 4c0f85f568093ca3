"""Exact resume: a training run killed with SIGKILL mid-run, started again, ends bit-identical.

The script runs the same two-phase training (a frozen warm-up, then the top two AlexNet groups
fine-tuned) three times, each in its own process:

1. started, then killed with SIGKILL as soon as its first backup exists (mid-epoch);
2. started again with the same arguments: the ``Trainer`` finds the backup in the run folder
   and continues in the same phase, at the same batch;
3. an uninterrupted run in another folder, for comparison.

With ``deterministic=True`` the final weights of run 2 equal those of run 3 bit for bit:
the data order of every epoch is a pure function of ``(seed, epoch)``, and the backup holds
the weights, the optimizer, the metrics and the position.

Run::

    python examples/resume_after_kill.py            # 2,000 images, 2 epochs per phase
    python examples/resume_after_kill.py --short    # CI-sized run
"""

from __future__ import annotations

import argparse
import hashlib
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RUN_NAME = "resume-demo"


def train(args: argparse.Namespace) -> int:
    """The training run (what you would run yourself); prints where it resumed and a checksum."""
    import numpy as np

    import transferlab as tl

    train_set = tl.select_classes(tl.load_mnist().train, [5, 6, 7, 8, 9])
    train_set = tl.sample_per_class(train_set, 100 if args.short else 400, seed=0)
    epochs = 1 if args.short else 2
    trainer = tl.Trainer(
        lambda: tl.build_classifier("alexnet", 5, width=0.25 if args.short else 1.0),
        strategy=tl.FineTune(epochs, top=2, warmup_epochs=epochs, learning_rate=1e-3),
        run_dir=args.run_dir,
        run_name=RUN_NAME,
        batch_size=16,
        seed=0,
        deterministic=True,  # bit-identical results (process-global op determinism)
        backup_every=5,  # back up every 5 steps, and at every epoch end
        feature_cache="off",  # train through the backbone in every phase
        verbose=0,
    )
    result = trainer.fit(train_set)
    weights = b"".join(np.ascontiguousarray(w).tobytes() for w in result.model.get_weights())
    resumed = (
        "no" if result.resumed_from is None else "phase {}, epoch {}, step {}".format(*result.resumed_from)
    )
    print(f"resumed from: {resumed}")
    print(f"epochs trained: {result.epochs}")
    print(f"final weights sha256: {hashlib.sha256(weights).hexdigest()}")
    return 0


def _start(run_dir: Path, short: bool) -> subprocess.Popen[str]:
    command = [sys.executable, str(Path(__file__).resolve()), "--train", "--run-dir", str(run_dir)]
    return subprocess.Popen(
        command + (["--short"] if short else []), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )


def _finish(process: subprocess.Popen[str], label: str) -> dict[str, str]:
    output, _ = process.communicate(timeout=900)
    lines = {
        line.split(":", 1)[0]: line.split(":", 1)[1].strip()
        for line in output.splitlines()
        if line.startswith(("resumed from:", "epochs trained:", "final weights sha256:"))
    }
    if process.returncode != 0 or len(lines) != 3:
        print(output[-3000:], file=sys.stderr)
        raise SystemExit(f"{label} failed with exit code {process.returncode}")
    print(
        f"{label}: resumed from {lines['resumed from']}; {lines['epochs trained']} epochs; "
        f"final weights sha256 {lines['final weights sha256']}"
    )
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--short", action="store_true", help="CI-sized run: 500 images, 1 epoch per phase")
    parser.add_argument(
        "--run-dir", default=None, help="folder for the run folders (default: a new temporary folder)"
    )
    parser.add_argument("--train", action="store_true", help=argparse.SUPPRESS)  # a child run
    args = parser.parse_args(argv)
    if args.train:
        return train(args)

    root = Path(args.run_dir or tempfile.mkdtemp(prefix="transferlab-example-"))
    killed_dir, clean_dir = root / "killed", root / "uninterrupted"

    # 1. Start a run and SIGKILL it once its first backup exists (no clean shutdown).
    process = _start(killed_dir, args.short)
    backup = killed_dir / RUN_NAME / "backup"
    deadline = time.monotonic() + 600
    # A backup counts once it is committed as state.npz (state.1.npz ...): while it is being
    # written it is a hidden ".state.npz.partial-*" file, which a restart ignores.
    while not (backup.is_dir() and any(backup.rglob("state*.npz"))):
        if process.poll() is not None:
            print(process.communicate()[0][-3000:], file=sys.stderr)
            raise SystemExit("the run ended before it could be killed")
        if time.monotonic() > deadline:
            process.kill()
            raise SystemExit("no backup appeared within 600 s")
        time.sleep(0.01)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    print(f"run 1: killed with SIGKILL mid-run (exit code {process.returncode})")

    # 2. The same command again resumes from the backup; 3. an uninterrupted run.
    resumed = _finish(_start(killed_dir, args.short), "run 2 (same command, restarted)")
    clean = _finish(_start(clean_dir, args.short), "run 3 (uninterrupted)")
    same = resumed["final weights sha256"] == clean["final weights sha256"]
    print(f"resumed run equals the uninterrupted run bit for bit: {same}")
    return 0 if same and resumed["resumed from"] != "no" else 1


if __name__ == "__main__":
    raise SystemExit(main())
