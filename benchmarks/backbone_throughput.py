"""Training throughput: a transferlab Classifier beside the hand-written Keras equivalent.

Usage::

    python benchmarks/backbone_throughput.py [--short] [--part throughput|scaling] [--json PATH]

For each case, both models have the same layers (input adaptation, backbone,
global average pooling, dense head), see the same batch of 64 images, run in
the same process, and are timed in alternating runs of ``train_on_batch``
(median of the runs). Achieved GFLOP/s uses forward FLOPs counted
analytically from the conv/dense layers, times 3 for a trained backbone
(forward + two backward products) and times 1 for a frozen one, against a
float32 matmul measured in the same run. Prints a Markdown table and writes
JSON to ``benchmarks/results/``.

``--part scaling`` measures instead how the cost of a VGG16 forward pass (the
library's classifier, inference mode) grows with the input size (32, 48, 75,
224 at batch 8) and with the batch size (1, 8, 32, 64 at 32x32): time per
batch, img/s, GFLOP/s, and the process's peak RSS after each step (the sizes
go up, so each step's growth is its own extra peak).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras
import numpy as np
import tensorflow as tf

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from transferlab._keras_compat import flatten_layers
from transferlab.backbones import build_classifier
from transferlab.backbones.alexnet import alexnet

BATCH = 64
CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)


def forward_flops(model: keras.Model) -> int:
    """Multiply-adds x2 of every Conv2D, DepthwiseConv2D and Dense layer, per image."""
    total = 0
    for layer in flatten_layers(model, include_self=False):
        kind = type(layer).__name__
        if kind in ("Conv2D", "DepthwiseConv2D"):  # kernel (kh, kw, cin, cout or multiplier)
            _, h, w, _ = layer.output.shape
            total += 2 * h * w * int(np.prod(layer.kernel.shape))
        elif kind == "Dense":
            total += 2 * int(np.prod(layer.kernel.shape))
    return total


def hand_written(case: dict[str, Any]) -> keras.Model:
    """The same network written directly with Keras layers."""
    h, w = case["size"]
    inputs = keras.Input((h, w, 1))
    x = keras.layers.Identity()(inputs)
    if case["backbone"] == "alexnet":
        x = keras.layers.Rescaling(1 / 255.0)(x)
        x = alexnet(input_shape=(h, w, 1), name="alexnet_hw")(x)
    else:
        x = keras.layers.Concatenate()([x, x, x])
        if case["backbone"] == "vgg16":
            x = keras.layers.Rescaling(1.0, offset=-sum(CAFFE_MEAN_BGR) / 3)(x)
            net = keras.applications.VGG16(include_top=False, weights=None, input_shape=(h, w, 3))
        else:
            x = keras.layers.Rescaling(1 / 127.5, offset=-1.0)(x)
            net = keras.applications.InceptionV3(include_top=False, weights=None, input_shape=(h, w, 3))
        x = keras.layers.GlobalAveragePooling2D()(net(x))
    outputs = keras.layers.Dense(10, activation="softmax")(x)
    model = keras.Model(inputs, outputs)
    model.backbone = model.layers[-2] if case["backbone"] == "alexnet" else net  # type: ignore[attr-defined]
    return model


def transferlab_model(case: dict[str, Any]) -> keras.Model:
    h, w = case["size"]
    return build_classifier(case["backbone"], 10, input_shape=(h, w, 1))


def compile_for(model: keras.Model, frozen: bool) -> None:
    model.backbone.trainable = not frozen  # type: ignore[attr-defined]
    model.compile(optimizer=keras.optimizers.SGD(0.001), loss="sparse_categorical_crossentropy")


def time_steps(model: keras.Model, x: np.ndarray, y: np.ndarray, steps: int) -> float:
    start = time.perf_counter()
    for _ in range(steps):
        model.train_on_batch(x, y)
    return steps * BATCH / (time.perf_counter() - start)


def matmul_gflops(n: int = 2048, reps: int = 10) -> float:
    a = tf.random.normal((n, n))
    b = tf.random.normal((n, n))
    tf.matmul(a, b).numpy()
    start = time.perf_counter()
    for _ in range(reps):
        c = tf.matmul(a, b)
    c.numpy()
    return 2 * n**3 * reps / (time.perf_counter() - start) / 1e9


def peak_rss_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def forward_seconds(model: keras.Model, x: tf.Tensor, min_seconds: float, min_reps: int = 2) -> float:
    """Median wall time of one compiled inference-mode forward pass on ``x``."""
    forward = tf.function(lambda t: model(t, training=False))
    forward(x).numpy()  # trace and warm up
    times: list[float] = []
    while len(times) < min_reps or sum(times) < min_seconds:
        start = time.perf_counter()
        forward(x).numpy()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def scaling(short: bool) -> list[dict[str, Any]]:
    """VGG16 forward cost against input size (batch 8) and batch size (32x32)."""
    budget = 1.0 if short else 5.0
    steps = [("input size", s, 8) for s in (32, 48, 75, 224)]
    steps += [("batch size", 32, b) for b in (1, 8, 32, 64)]
    rows = []
    models: dict[int, keras.Model] = {}
    rng = np.random.default_rng(0)
    for axis, size, batch in steps:
        if size not in models:
            models[size] = build_classifier("vgg16", 10, input_shape=(size, size, 3))
        model = models[size]
        flops = forward_flops(model.backbone) + forward_flops(model.head)
        x = tf.constant(rng.integers(0, 256, (batch, size, size, 3)).astype("float32"))
        seconds = forward_seconds(model, x, budget)
        rows.append(
            {
                "axis": axis,
                "size": size,
                "batch": batch,
                "forward_gflop_per_image": flops / 1e9,
                "ms_per_batch": 1000 * seconds,
                "img_s": batch / seconds,
                "gflop_s": batch * flops / seconds / 1e9,
                "peak_rss_mb": peak_rss_mb(),
            }
        )
        print(f"done: {axis} {size}x{size} batch {batch}", file=sys.stderr)
    return rows


def run_case(case: dict[str, Any], steps: int, runs: int) -> dict[str, Any]:
    h, w = case["size"]
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (BATCH, h, w, 1)).astype("float32")
    y = rng.integers(0, 10, BATCH)
    models = {"keras": hand_written(case), "transferlab": transferlab_model(case)}
    flops = forward_flops(models["transferlab"].backbone) + forward_flops(models["transferlab"].head)
    rates: dict[str, list[float]] = {k: [] for k in models}
    for model in models.values():
        compile_for(model, case["frozen"])
        time_steps(model, x, y, 2)  # trace and warm up
    for _ in range(runs):  # alternate, so both see the same load on the shared CPU
        for key, model in models.items():
            rates[key].append(time_steps(model, x, y, steps))
    result = {key: statistics.median(values) for key, values in rates.items()}
    factor = 1 if case["frozen"] else 3
    return {
        "case": case["label"],
        "forward_mflop": flops / 1e6,
        "keras_img_s": result["keras"],
        "transferlab_img_s": result["transferlab"],
        "ratio": result["transferlab"] / result["keras"],
        "transferlab_gflop_s": result["transferlab"] * flops * factor / 1e9,
        "runs": rates,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--short", action="store_true", help="fewer steps and runs (under 3 minutes)")
    parser.add_argument("--part", choices=("throughput", "scaling"), default="throughput")
    parser.add_argument("--json", metavar="PATH", help="also write the result to PATH")
    args = parser.parse_args(argv)
    if args.part == "scaling":
        return main_scaling(args)
    steps, runs = (5, 3) if args.short else (20, 5)
    cases = [
        {
            "label": "AlexNet 28x28 (trained)",
            "backbone": "alexnet",
            "size": (28, 28),
            "frozen": False,
            "steps": steps * 4,
        },
        {
            "label": "VGG16 32x32 frozen",
            "backbone": "vgg16",
            "size": (32, 32),
            "frozen": True,
            "steps": steps * 2,
        },
        {
            "label": "VGG16 32x32 fine-tune",
            "backbone": "vgg16",
            "size": (32, 32),
            "frozen": False,
            "steps": max(2, steps // 2),
        },
        {
            "label": "InceptionV3 75x75 frozen",
            "backbone": "inception_v3",
            "size": (75, 75),
            "frozen": True,
            "steps": steps * 2,
        },
    ]
    started = time.time()
    matmul = matmul_gflops()
    rows = []
    for case in cases:
        row = run_case(case, case["steps"], runs)
        row["pct_of_matmul"] = 100 * row["transferlab_gflop_s"] / matmul
        rows.append(row)
        print(f"done: {row['case']} ({time.time() - started:.0f} s)", file=sys.stderr)
    matmul_after = matmul_gflops()

    print(
        f"\nbatch {BATCH}, {'short' if args.short else 'full'} mode, "
        f"matmul fp32 {matmul:.0f} GFLOP/s (again at the end: {matmul_after:.0f})\n"
    )
    print(
        "| case | fwd MFLOP/img | Keras img/s | transferlab img/s | ratio | transferlab GFLOP/s | % of matmul |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(
            f"| {r['case']} | {r['forward_mflop']:.1f} | {r['keras_img_s']:.0f} | "
            f"{r['transferlab_img_s']:.0f} | {r['ratio']:.2f} | {r['transferlab_gflop_s']:.0f} | "
            f"{r['pct_of_matmul']:.0f} |"
        )
    out_dir = Path(__file__).resolve().parent / "results"
    out_dir.mkdir(exist_ok=True)
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    out = out_dir / f"backbone_throughput-{stamp}.json"
    payload = {
        "mode": "short" if args.short else "full",
        "batch": BATCH,
        "matmul_gflop_s": [matmul, matmul_after],
        "seconds": time.time() - started,
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "rows": rows,
    }
    _write(out, payload, args.json)
    print(f"\nwritten: {out} ({time.time() - started:.0f} s)")
    return 0


def _write(out: Path, payload: dict[str, Any], extra: str | None) -> None:
    for path in (out, *((Path(extra),) if extra else ())):
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(payload, indent=2))
        os.replace(tmp, path)


def main_scaling(args: argparse.Namespace) -> int:
    started = time.time()
    matmul = matmul_gflops()
    rows = scaling(args.short)
    matmul_after = matmul_gflops()
    print(
        f"\nVGG16 forward (inference), {'short' if args.short else 'full'} mode, "
        f"matmul fp32 {matmul:.0f} GFLOP/s (again at the end: {matmul_after:.0f})\n"
    )
    print("| varies | input | batch | GFLOP/img | ms/batch | img/s | GFLOP/s | peak RSS MB |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(
            f"| {r['axis']} | {r['size']}x{r['size']}x3 | {r['batch']} | {r['forward_gflop_per_image']:.3f} "
            f"| {r['ms_per_batch']:.1f} | {r['img_s']:.1f} | {r['gflop_s']:.0f} | {r['peak_rss_mb']:.0f} |"
        )
    out_dir = Path(__file__).resolve().parent / "results"
    out_dir.mkdir(exist_ok=True)
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    payload = {
        "mode": "short" if args.short else "full",
        "matmul_gflop_s": [matmul, matmul_after],
        "seconds": time.time() - started,
        "rows": rows,
    }
    _write(out_dir / f"backbone_scaling-{stamp}.json", payload, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
