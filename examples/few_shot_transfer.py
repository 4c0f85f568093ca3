"""Few-shot transfer: digits 0-4 -> digits 5-9 with 10 labels per class, beside training from scratch.

The two runs are described by the TOML files next to this script, so the same experiment
runs from the command line::

    transferlab train --config examples/few_shot_transfer.toml
    transferlab train --config examples/scratch_baseline.toml

This script loads both configs, runs them with ``run_experiment`` and prints the two test
accuracies side by side. Each run folder holds ``config.toml`` (rerun it to reproduce),
``evaluation.json`` and the plots.

Run::

    python examples/few_shot_transfer.py            # full pretraining, about a minute per epoch
    python examples/few_shot_transfer.py --short    # CI-sized run
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent

# What --short changes (the same keys as `transferlab train` flags, dotted).
SHORT = {
    "data.max_train": 300,  # at most 300 source images for the pretraining
    "model.width": 0.25,  # a narrow AlexNet
    "model.pretrain_epochs": 1,
    "strategy.warmup_epochs": 2,
    "strategy.epochs": 2,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--short",
        action="store_true",
        help="CI-sized run: " + ", ".join(f"{key}={value}" for key, value in SHORT.items()),
    )
    parser.add_argument(
        "--run-dir", default=None, help="folder for the run folders (default: a new temporary folder)"
    )
    args = parser.parse_args(argv)

    import transferlab as tl

    run_dir = args.run_dir or tempfile.mkdtemp(prefix="transferlab-example-")
    results = {}
    for name in ("few_shot_transfer", "scratch_baseline"):
        config = tl.RunConfig.load(HERE / f"{name}.toml")
        overrides = {"training.run_dir": run_dir, **(SHORT if args.short else {})}
        config = config.with_overrides(overrides)
        result = tl.run_experiment(config, verbose=0 if args.short else 2)
        results[name] = result
        print(
            f"{name}: test accuracy {result.test_accuracy:.4f} on {len(result.report.labels)} "
            f"test images ({result.train_seconds:.1f} s); run folder {result.run_dir}"
        )

    transfer = results["few_shot_transfer"].test_accuracy
    scratch = results["scratch_baseline"].test_accuracy
    print(
        f"transfer {transfer:.4f} vs scratch {scratch:.4f} "
        f"({transfer - scratch:+.4f}) with 10 labels per class"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
