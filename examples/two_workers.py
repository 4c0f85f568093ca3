"""A two-worker data-parallel run on this machine, with MultiWorkerMirroredStrategy.

Started without ``TF_CONFIG``, the script is the launcher: ``launch_local`` starts it twice
more as workers, each with its own ``TF_CONFIG`` (the two workers on 127.0.0.1, free ports,
one thread each), and prints their output prefixed with ``[worker i]``. Started with
``TF_CONFIG`` (by the launcher, or by you on real machines), it is a worker: the ``Trainer``
creates the strategy first thing, waits for its peer, trains on its shard of every global
batch, and the chief (worker 0) writes the run folder and prints the accuracy.

On several real machines, run the same script on each with ``TF_CONFIG`` naming all of them
and that machine's own index (see docs/guide-distribution.md)::

    TF_CONFIG='{"cluster": {"worker": ["host1:12345", "host2:12345"]},
                "task": {"type": "worker", "index": 0}}' python examples/two_workers.py

Run::

    python examples/two_workers.py            # all digits, 2 epochs
    python examples/two_workers.py --short    # CI-sized run
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from pathlib import Path


def worker(args: argparse.Namespace) -> int:
    """One worker of the job (TF_CONFIG is set)."""
    import transferlab as tl

    task = json.loads(os.environ["TF_CONFIG"])["task"]
    mnist = tl.load_mnist()
    train, test = mnist.train, mnist.test
    if args.short:
        train = tl.sample_per_class(train, 20, seed=0)  # 200 images
        test = tl.sample_per_class(test, 10, seed=0)
    width = 0.25 if args.short else 1.0
    trainer = tl.Trainer(
        lambda: tl.build_classifier("alexnet", 10, width=width),
        strategy=tl.Scratch(1 if args.short else 2),
        distribution="multi_worker",
        worker_timeout=120,
        run_dir=args.run_dir or "runs",
        run_name="two-workers",
        batch_size=16,  # per replica: the global batch is 32
        seed=0,
        verbose=0 if args.short else 2,
    )
    result = trainer.fit(train)
    # Under the strategy, predict() is a collective op: every worker evaluates (their
    # weights are identical), the chief reports.
    report = tl.ClassificationReport.evaluate(result.model, test)
    if task["index"] == 0:
        replicas = trainer.distribute_strategy_.num_replicas_in_sync
        print(f"chief: {replicas} replicas in sync, {result.epochs} epoch(s), run folder {result.run_dir}")
        print(f"two-worker test accuracy ({len(test)} images): {report.accuracy:.4f}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--short", action="store_true", help="CI-sized run: 200 images, 1 epoch")
    parser.add_argument(
        "--run-dir",
        default=None,
        help="folder for the run folder (default: a new temporary folder; "
        "'runs' when started by `transferlab launch`)",
    )
    args = parser.parse_args(argv)
    if os.environ.get("TF_CONFIG"):
        return worker(args)

    from transferlab.training import launch_local

    run_dir = args.run_dir or tempfile.mkdtemp(prefix="transferlab-example-")
    worker_args = ["--run-dir", run_dir] + (["--short"] if args.short else [])
    result = launch_local(
        str(Path(__file__).resolve()), worker_args, num_workers=2, threads_per_worker=1, timeout=900
    )
    print(f"both workers finished: exit codes {result.exit_codes}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
