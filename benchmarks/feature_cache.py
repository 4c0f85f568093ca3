"""Frozen-backbone training with and without feature caching; float32 vs bfloat16.

Usage::

    python benchmarks/feature_cache.py [--full] [--images N] [--epochs E] [--json PATH]

VGG16 (random weights: no download here) adapted to 32x32x3 on MNIST digits,
trained through the Trainer with ``FeatureExtraction`` (backbone frozen) for
``epochs`` epochs (default 10), once with ``feature_cache="off"`` (every batch
through the frozen backbone) and once with ``"auto"`` (the features are
computed once, then the head alone trains on them).

What is compared is **the training itself**: for the uncached run, the sum of
its epoch times; for the cached run, the time to extract the features once
plus the sum of its epoch times. Both include the first epoch's tracing. The
fixed costs both runs share (model building, compiling, writing the run folder,
saving the 58 MB model at the end) are reported separately, as ``fit()`` wall
time minus training time, and are not part of the ratio.

Then float32 vs bfloat16: the uncached frozen-epoch throughput of each (median
over the epochs after the first), and the test accuracy of the two cached
10-epoch runs (same seed, same data).

Short mode (default): 320 training and 320 test images; ``--full``: 10,000 and
2,000. Prints a Markdown table and writes JSON and Markdown to
``benchmarks/results/``.
"""

from __future__ import annotations

import argparse
import datetime as dt
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


def _run(train: Any, test: Any, *, epochs: int, cache: str, precision: str, root: str) -> dict[str, Any]:
    from transferlab.backbones import build_classifier
    from transferlab.strategies import FeatureExtraction
    from transferlab.training.feature_cache import FeatureCache
    from transferlab.training.trainer import Trainer

    def build(precision: str) -> Any:
        return build_classifier(
            "vgg16", 10, input_shape=(28, 28, 1), input_size=(32, 32), precision=precision
        )

    import keras

    keras.utils.set_random_seed(0)  # the same head initialisation in every run (accuracy comparison)
    extraction = [0.0]
    original = FeatureCache.features

    def timed_features(self: Any, model: Any, data: Any) -> Any:  # times the one extraction
        start = time.perf_counter()
        try:
            return original(self, model, data)
        finally:
            extraction[0] += time.perf_counter() - start

    FeatureCache.features = timed_features  # type: ignore[method-assign]
    try:
        trainer = Trainer(
            build,
            strategy=FeatureExtraction(epochs, learning_rate=1e-3),
            run_dir=root,
            run_name=f"{cache}-{precision}-{epochs}",
            batch_size=64,
            verbose=0,
            precision=precision,
            feature_cache=cache,
            resume=False,
            backup_every=0,  # backups at epoch ends only
        )
        start = time.perf_counter()
        result = trainer.fit(train)
        fit_seconds = time.perf_counter() - start
    finally:
        FeatureCache.features = original  # type: ignore[method-assign]
    epoch_seconds = [float(r["seconds"]) for r in result.rows]
    training = sum(epoch_seconds) + extraction[0]
    steady = epoch_seconds[1:] or epoch_seconds
    test_metrics = trainer.evaluate(test)
    return {
        "cache": cache,
        "precision": precision,
        "epochs": epochs,
        "feature_cache": result.feature_cache,
        "extraction_seconds": round(extraction[0], 3),
        "epoch_seconds": epoch_seconds,
        "training_seconds": round(training, 3),
        "fixed_seconds": round(fit_seconds - training, 3),
        "fit_seconds": round(fit_seconds, 3),
        "images_per_second_epoch": round(len(train) / statistics.median(steady), 1),
        "test_accuracy": round(float(test_metrics["accuracy"]), 4),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full", action="store_true", help="10,000 training images")
    parser.add_argument("--short", action="store_true", help="the default: 320 training images")
    parser.add_argument("--images", type=int, default=None)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--json", metavar="PATH", help="also write the result to PATH")
    args = parser.parse_args(argv)
    from transferlab.data.mnist import load_mnist

    started = time.perf_counter()
    splits = load_mnist(
        os.environ.get(
            "TRANSFERLAB_MNIST_DIR", Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist"
        ),
        download=False,
        progress=False,
    )
    n = args.images or (10_000 if args.full else 320)
    train, test = splits.train.take(range(n)), splits.test.take(range(min(n, 2_000)))
    root = tempfile.mkdtemp(prefix="tl-bench-")
    off32 = _run(train, test, epochs=args.epochs, cache="off", precision="float32", root=root)
    on32 = _run(train, test, epochs=args.epochs, cache="auto", precision="float32", root=root)
    on16 = _run(train, test, epochs=args.epochs, cache="auto", precision="bfloat16", root=root)
    off16 = _run(train, test, epochs=3, cache="off", precision="bfloat16", root=root)
    rows = [off32, on32, on16, off16]
    ratio = off32["training_seconds"] / on32["training_seconds"]
    fit_ratio = off32["fit_seconds"] / on32["fit_seconds"]
    bf16_speedup = off16["images_per_second_epoch"] / off32["images_per_second_epoch"]
    lines = [
        f"# Feature cache benchmark: VGG16 28x28x1 -> 32x32x3 (random weights), {n} MNIST images, batch 64",
        "",
        "| run | precision | epochs | extraction s | training s (epochs + extraction) | fixed s (build, save) "
        "| fit s | frozen-epoch img/s | test accuracy |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| cache {r['cache']} | {r['precision']} | {r['epochs']} | {r['extraction_seconds']} "
            f"| {r['training_seconds']} | {r['fixed_seconds']} | {r['fit_seconds']} "
            f"| {r['images_per_second_epoch']} | {r['test_accuracy']} |"
        )
    lines += [
        "",
        f"- Frozen-backbone training, {args.epochs} epochs, cached vs uncached (cached side includes "
        f"extracting the features once): **{ratio:.1f}x** ({off32['training_seconds']:.1f} s vs "
        f"{on32['training_seconds']:.1f} s; goal >= 10x)",
        f"- Whole fit() calls, fixed costs included: {fit_ratio:.2f}x",
        f"- bfloat16 vs float32 uncached frozen-epoch throughput: {bf16_speedup:.2f}x "
        f"({off16['images_per_second_epoch']} vs {off32['images_per_second_epoch']} img/s)",
        f"- Test accuracy after {args.epochs} cached epochs: float32 {on32['test_accuracy']}, "
        f"bfloat16 {on16['test_accuracy']}",
        "",
    ]
    text = "\n".join(lines)
    print(text)
    payload = {
        "images": n,
        "epochs": args.epochs,
        "ratio": ratio,
        "fit_ratio": fit_ratio,
        "bf16_speedup": bf16_speedup,
        "seconds": time.perf_counter() - started,
        "runs": rows,
    }
    out = Path(__file__).resolve().parent / "results"
    out.mkdir(exist_ok=True)
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    for path, content in (
        (out / f"feature_cache-{stamp}.md", text),
        (out / f"feature_cache-{stamp}.json", json.dumps(payload, indent=2)),
        *(((Path(args.json), json.dumps(payload, indent=2)),) if args.json else ()),
    ):
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(content)
        os.replace(tmp, path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
