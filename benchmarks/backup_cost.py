"""What exact-resume backups cost: training with a backup every 50 steps vs at epoch ends only.

Usage::

    python benchmarks/backup_cost.py [--full] [--json PATH]

AlexNet (the library's 28x28 design, full width) fine-tuned end to end on MNIST digits
through the Trainer (every variable trains, so each backup holds the whole model and
Adam's two slots per variable: the most a backup can hold). The same run, same seed and
data, twice per round, alternating: ``backup_every=50`` (a backup every 50 steps and at
every epoch end) and ``backup_every=0`` (epoch ends only, the baseline). Reported: the
median training time per step of each, their ratio, and the time spent inside the
backups themselves (each ``TrainingState.save`` call timed) as a share of the step time.
Goal: the every-50-steps run costs at most 5 % more per step.

Short mode (default): 6,400 images (100 steps per epoch), 2 epochs, 2 rounds; ``--full``: 12,800
images, 2 epochs, 3 rounds.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def _train(train: Any, *, backup_every: int, root: str, name: str) -> dict[str, float]:
    import keras

    from transferlab.backbones import build_classifier
    from transferlab.strategies import FineTune
    from transferlab.training import state as state_module
    from transferlab.training.trainer import Trainer

    saves: list[float] = []
    original = state_module.TrainingState.save

    def timed_save(self: Any, *args: Any, **kwargs: Any) -> None:
        start = time.perf_counter()
        original(self, *args, **kwargs)
        saves.append(time.perf_counter() - start)

    epoch_seconds: list[float] = []

    class EpochTimer(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch: int, logs: Any = None) -> None:
            self.start = time.perf_counter()

        def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
            epoch_seconds.append(time.perf_counter() - self.start)

    state_module.TrainingState.save = timed_save  # type: ignore[method-assign]
    try:
        trainer = Trainer(
            lambda: build_classifier("alexnet", 10),
            strategy=FineTune(epochs=2, warmup_epochs=0, batchnorm="train"),
            callbacks=[EpochTimer()],
            run_dir=root,
            run_name=name,
            batch_size=64,
            backup_every=backup_every,
            feature_cache="off",
            verbose=0,
        )
        trainer.fit(train)
    finally:
        state_module.TrainingState.save = original  # type: ignore[method-assign]
    steps = len(train) // 64 + (1 if len(train) % 64 else 0)
    # the first epoch includes tracing: the second one is the steady state
    return {
        "step_seconds": epoch_seconds[-1] / steps,
        "saves": len(saves),
        "save_seconds_total": sum(saves),
        "epoch_seconds": epoch_seconds[-1],
        "steps_per_epoch": steps,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--full", action="store_true")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    from transferlab.data import load_mnist

    images, rounds = (12_800, 3) if args.full else (6_400, 2)
    train = load_mnist().train.take(range(images))
    results: dict[str, list[dict[str, float]]] = {"every_50": [], "epoch_ends": []}
    with tempfile.TemporaryDirectory() as root:
        for r in range(rounds):
            for label, every in (("every_50", 50), ("epoch_ends", 0)):
                results[label].append(_train(train, backup_every=every, root=root, name=f"{label}-{r}"))
    step = {k: statistics.median(x["step_seconds"] for x in v) for k, v in results.items()}
    per_save = statistics.median(x["save_seconds_total"] / max(1, x["saves"]) for x in results["every_50"])
    ratio = step["every_50"] / step["epoch_ends"]
    share = per_save / (50 * step["epoch_ends"])
    summary = {
        "images": images,
        "rounds": rounds,
        "step_seconds": step,
        "ratio": ratio,
        "seconds_per_backup": per_save,
        "backup_share_of_50_steps": share,
        "runs": results,
    }
    print("| measure | every 50 steps | epoch ends only (baseline) | ratio | goal |")
    print("|---|---|---|---|---|")
    print(
        f"| AlexNet fine-tune, ms per step | {1000 * step['every_50']:.1f} | "
        f"{1000 * step['epoch_ends']:.1f} | {ratio:.3f}x | <= 1.05x |"
    )
    print(
        f"| one backup (weights + Adam slots) vs 50 steps | {1000 * per_save:.0f} ms | "
        f"{50000 * step['epoch_ends']:.0f} ms | {100 * share:.1f} % | <= 5 % |"
    )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
