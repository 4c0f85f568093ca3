"""Throughput of transferlab's training pipeline on real MNIST, and fit()'s autotune idling.

Run: ``python benchmarks/pipeline_throughput.py [--short]`` (``--short`` takes
under two minutes). It measures, in one process:

1. images/s of the full training input pipeline (``make_pipeline`` with
   shuffling and the "standard" augmentation, then ``InputAdapter`` to
   32x32x3, batches of 64) beside images/s of training a small CNN on such
   batches, and their ratio (goal: the pipeline at least 10x faster);
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

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

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


def small_cnn() -> keras.Model:
    """A small CNN on adapted 32x32x3 input (about 6 MFLOP per image)."""
    model = keras.Sequential(
        [
            keras.Input((32, 32, 3)),
            keras.layers.Conv2D(32, 3, strides=2, padding="same", activation="relu"),
            keras.layers.Conv2D(64, 3, strides=2, padding="same", activation="relu"),
            keras.layers.Conv2D(64, 3, strides=2, padding="same", activation="relu"),
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dense(10),
        ]
    )
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
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


def training_images_per_s(steps: int) -> float:
    model = small_cnn()
    rng = np.random.default_rng(0)
    x = tf.constant(rng.random((BATCH, 32, 32, 3), dtype=np.float32))
    y = tf.constant(rng.integers(0, 10, BATCH))
    for _ in range(5):
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
    args = parser.parse_args(argv)
    pipe_batches, train_steps, calls, examples = (150, 40, 5, 1280) if args.short else (600, 150, 12, 1280)

    t0 = time.perf_counter()
    data = load_mnist_train()
    pipe = pipeline_images_per_s(data, pipe_batches)
    pipe_raw = pipeline_images_per_s(data, pipe_batches, adapt=False)
    train = training_images_per_s(train_steps)
    times = idle_comparison(data, calls, examples)
    idle = {k: sum(t > IDLE_THRESHOLD_S for t in v) for k, v in times.items()}

    result: dict[str, Any] = {
        "mode": "short" if args.short else "full",
        "batch_size": BATCH,
        "pipeline_images_per_s": round(pipe, 1),
        "small_cnn_training_images_per_s": round(train, 1),
        "ratio": round(pipe / train, 2),
        "pipeline_without_adaptation_images_per_s": round(pipe_raw, 1),
        "ratio_without_adaptation": round(pipe_raw / train, 2),
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
    print(f"| pipeline (shuffle + standard augmentation + adapt to 32x32x3), img/s | {pipe:,.0f} |")
    print(f"| small CNN training on 32x32x3, img/s | {train:,.0f} |")
    print(f"| ratio pipeline / training (goal >= 10) | {pipe / train:.1f}x |")
    print(f"| pipeline without adaptation (InputAdapter in the model), img/s | {pipe_raw:,.0f} |")
    print(f"| ratio without adaptation / training | {pipe_raw / train:.1f}x |")
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
    print(f"\nwrote {out.relative_to(REPO)} in {result['seconds_total']} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
