"""Throughput of transferlab's training pipeline on real MNIST, and fit()'s autotune idling.

Run: ``python benchmarks/pipeline_throughput.py [--short]`` (``--short`` takes
under two minutes). It measures, in one process:

1. images/s of the training input pipeline as the Trainer builds it
   (``make_pipeline`` with shuffling and the "standard" augmentation, batches
   of 64, raw 28x28x1 pixels: the adaptation runs inside the model) beside
   images/s of training the library's own models on such batches: AlexNet
   adapted to 32x32 (``build_classifier("alexnet", input_size=(32, 32))``,
   trained) and VGG16 adapted to 32x32x3 with its backbone frozen; the ratio
   pipeline / model for each (goal: the pipeline at least 10x faster). The
   pipeline with the adaptation to 32x32x3 mapped into it is reported too;
2. the wall time of several short ``fit()`` calls fed by the library's
   pipeline (tf.data autotuning off, fixed prefetch) and by a plain
   ``from_tensor_slices().shuffle().batch().prefetch(AUTOTUNE)`` pipeline,
   interleaved, and how many calls idled past 2.5 s.

It prints a Markdown table and writes JSON to ``benchmarks/results/``.
MNIST is read from ``TRANSFERLAB_MNIST_DIR`` or ``../shared/data/mnist``.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras
import numpy as np
import tensorflow as tf

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from transferlab.backbones import build_classifier  # noqa: E402
from transferlab.data.augmentation import make_augmentation  # noqa: E402
from transferlab.data.input_adapter import InputAdapter  # noqa: E402
from transferlab.data.labeled_images import LabeledImages  # noqa: E402
from transferlab.data.pipeline import make_pipeline  # noqa: E402

BATCH = 64
IDLE_THRESHOLD_S = 2.5


def _read_idx(path: Path) -> np.ndarray:
    with gzip.open(path, "rb") as f:
        raw = f.read()
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def load_mnist_train() -> LabeledImages:
    env = os.environ.get("TRANSFERLAB_MNIST_DIR")
    folder = Path(env) if env else REPO.parent / "shared" / "data" / "mnist"
    images = _read_idx(folder / "train-images-idx3-ubyte.gz")
    labels = _read_idx(folder / "train-labels-idx1-ubyte.gz").astype(np.int64)
    return LabeledImages(images, labels, tuple(str(d) for d in range(10)))


CONSUMERS = {
    # label: (backbone, frozen backbone)
    "AlexNet 28x28x1 -> 32x32x1, trained": ("alexnet", False),
    "VGG16 28x28x1 -> 32x32x3, frozen": ("vgg16", True),
}


def library_model(backbone: str, frozen: bool) -> keras.Model:
    """The library's classifier on raw 28x28x1 MNIST batches, adapted to 32x32 inside."""
    model = build_classifier(backbone, 10, input_shape=(28, 28, 1), input_size=(32, 32))
    model.backbone.trainable = not frozen
    model.compile("adam", "sparse_categorical_crossentropy")
    return model


def pipeline_images_per_s(data: LabeledImages, batches: int, adapt: bool = True) -> float:
    adapter = InputAdapter(size=(32, 32), channels=3, preprocessing="unit")
    ds = make_pipeline(
        data,
        batch_size=BATCH,
        shuffle=True,
        seed=0,
        augment=make_augmentation("standard"),
        repeat=True,
        parallel_calls=2,
    )
    if adapt:
        ds = ds.map(lambda x, y: (adapter(x), y))
    it = iter(ds)
    for _ in range(5):  # warm-up: tracing, first batches
        next(it)
    start = time.perf_counter()
    for _ in range(batches):
        x, _ = next(it)
    _ = x.numpy()
    return batches * BATCH / (time.perf_counter() - start)


def training_images_per_s(model: keras.Model, steps: int) -> float:
    """img/s of ``train_on_batch`` on one fixed batch of raw pixels (the model alone)."""
    rng = np.random.default_rng(0)
    x = tf.constant(rng.integers(0, 256, (BATCH, 28, 28, 1)).astype(np.float32))
    y = tf.constant(rng.integers(0, 10, BATCH))
    for _ in range(3):
        model.train_on_batch(x, y)
    start = time.perf_counter()
    for _ in range(steps):
        model.train_on_batch(x, y)
    return steps * BATCH / (time.perf_counter() - start)


def idle_comparison(data: LabeledImages, calls: int, examples: int) -> dict[str, list[float]]:
    subset = data.take(np.arange(examples))
    x = subset.images[..., None].astype(np.float32)
    y = subset.labels.astype(np.int32)

    def library() -> tf.data.Dataset:
        return make_pipeline(subset, batch_size=BATCH, shuffle=True, seed=0)

    def plain() -> tf.data.Dataset:
        return (
            tf.data.Dataset.from_tensor_slices((x, y))
            .shuffle(len(y), seed=0)
            .batch(BATCH)
            .prefetch(tf.data.AUTOTUNE)
        )

    model = keras.Sequential(
        [
            keras.Input((28, 28, 1)),
            InputAdapter(size=None, channels=1, preprocessing="unit"),
            keras.layers.Conv2D(8, 3, strides=2, activation="relu"),
            keras.layers.Flatten(),
            keras.layers.Dense(10),
        ]
    )
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(library(), epochs=1, shuffle=False, verbose=0)  # warm-up: tracing
    times: dict[str, list[float]] = {"library": [], "plain": []}
    for _ in range(calls):
        for name, make in (("library", library), ("plain", plain)):
            start = time.perf_counter()
            model.fit(make(), epochs=1, shuffle=False, verbose=0)
            times[name].append(time.perf_counter() - start)
    return times


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--short", action="store_true", help="a quick run (under 2 minutes)")
    parser.add_argument("--json", metavar="PATH", help="also write the result to PATH")
    args = parser.parse_args(argv)
    pipe_batches, train_steps, calls, examples = (100, 16, 3, 1280) if args.short else (600, 80, 12, 1280)

    t0 = time.perf_counter()
    data = load_mnist_train()
    pipe_raw = pipeline_images_per_s(data, pipe_batches, adapt=False)
    pipe = pipeline_images_per_s(data, pipe_batches)
    consumers = {}
    for label, (backbone, frozen) in CONSUMERS.items():
        steps = train_steps if backbone == "alexnet" else max(4, train_steps // 2)
        consumers[label] = training_images_per_s(library_model(backbone, frozen), steps)
    pipe_raw_again = pipeline_images_per_s(data, pipe_batches, adapt=False)  # load drift check
    times = idle_comparison(data, calls, examples)
    idle = {k: sum(t > IDLE_THRESHOLD_S for t in v) for k, v in times.items()}

    pipeline = (pipe_raw + pipe_raw_again) / 2
    result: dict[str, Any] = {
        "mode": "short" if args.short else "full",
        "batch_size": BATCH,
        "pipeline_images_per_s": round(pipeline, 1),
        "pipeline_images_per_s_runs": [round(pipe_raw, 1), round(pipe_raw_again, 1)],
        "pipeline_with_adaptation_images_per_s": round(pipe, 1),
        "consumers": {
            label: {
                "training_images_per_s": round(rate, 1),
                "ratio": round(pipeline / rate, 2),
                "ratio_with_adaptation_in_pipeline": round(pipe / rate, 2),
            }
            for label, rate in consumers.items()
        },
        "fit_calls": {k: [round(t, 3) for t in v] for k, v in times.items()},
        "fit_calls_idle_past_2_5_s": idle,
        "fit_examples_per_call": examples,
        "seconds_total": round(time.perf_counter() - t0, 1),
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
    }
    print("| measure | value |")
    print("|---|---|")
    print(
        f"| pipeline as the Trainer feeds it (shuffle + standard augmentation, raw 28x28x1), img/s "
        f"| {pipeline:,.0f} (runs: {pipe_raw:,.0f}, {pipe_raw_again:,.0f}) |"
    )
    print(f"| same pipeline + adaptation to 32x32x3 mapped into it, img/s | {pipe:,.0f} |")
    for label, rate in consumers.items():
        print(f"| model training: {label}, img/s | {rate:,.0f} |")
        print(f"| ratio pipeline / {label} (goal >= 10) | {pipeline / rate:.1f}x |")
    for name in ("library", "plain"):
        ts = times[name]
        print(
            f"| fit() calls, {name} pipeline: idled past {IDLE_THRESHOLD_S} s | "
            f"{idle[name]} of {len(ts)} (median {np.median(ts):.2f} s, max {max(ts):.2f} s) |"
        )
    out_dir = REPO / "benchmarks" / "results"
    out_dir.mkdir(parents=True, exist_ok=True)
    out = out_dir / f"pipeline_throughput{'_short' if args.short else ''}.json"
    fd, tmp = tempfile.mkstemp(dir=out_dir, suffix=".tmp")
    with os.fdopen(fd, "w") as f:
        json.dump(result, f, indent=2)
    os.replace(tmp, out)
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))
    print(f"\nwrote {out.relative_to(REPO)} in {result['seconds_total']} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
