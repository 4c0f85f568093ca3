"""Streaming an image folder: memory and start-up against the folder's size, img/s against Keras.

Usage::

    python benchmarks/streaming.py [--short|--full] [--sizes 2000,10000,40000] [--workdir DIR]
        [--steps K] [--vgg-images N] [--in-memory-sizes 10000] [--parts rss,throughput,vgg]
        [--json PATH]

224x224 JPEG files (smooth random content plus fine noise, about 10-20 KB each,
5 classes, the same bytes in every run) are generated into a temporary folder:
the largest size once, the smaller ones as hard links to its first files (each
class keeps its share). Every measurement runs in a fresh subprocess whose
peak RSS is its own ``VmHWM`` (``/proc/self/status``).

1. **Memory and start-up** (per size N): ``ImageFolderSource(folder,
   image_size=(224, 224), color_mode="rgb")`` and ``make_pipeline(source,
   batch_size=32, shuffle=True, seed=0, repeat=True)``: the process's peak RSS;
   the time from constructing the source to the first batch of epoch 1; the
   latency from the last batch of epoch 1 to the first of epoch 2 in that one
   repeating pipeline (beside the median gap between batches inside epoch 1);
   and the time to build a pipeline afresh at ``epoch=1`` and get its first
   batch, as a resumed run does (checked equal to the repeating pipeline's).
   ``--full`` reads whole epochs; the short mode cuts each epoch to ``--steps``
   batches with ``steps_per_epoch`` (the epoch's order is still computed over
   all N examples). Sizes: 2,000, 10,000 and 40,000 with ``--full``, 500, 2,000
   and 8,000 in the short mode (10 batches an epoch). Goals: peak RSS within
   +15 % from the smallest to the largest size; first batch of epoch 2 under
   1 s at the largest.
2. **Images/s**: the library's folder pipeline beside
   ``keras.utils.image_dataset_from_directory(folder, image_size=(224, 224),
   batch_size=32, shuffle=True, seed=0).prefetch(AUTOTUNE)`` on the same files
   (the 10,000-file folder, or the largest below it), in one process, runs
   alternating A B A B, each a fresh iterator: 5 warm-up batches, then 300
   batches timed (7 rounds; the short mode: 50 batches, 3 rounds); the median
   img/s of each and their ratio (goal >= 1.0x).
3. **Frozen VGG16 at 224 with the disk feature cache** on N streamed images
   (``--vgg-images``; 10,000 with ``--full``, 96 in the short mode):
   ``Trainer(lambda: build_classifier("vgg16", classes, weights=None,
   input_shape=(224, 224, 3)), strategy=FeatureExtraction(epochs=3),
   feature_cache="disk", batch_size=32)`` fitted on the ``ImageFolderSource``:
   its peak RSS beside the in-memory path's (``load_image_folder`` +
   ``make_pipeline`` up to the first batch, in its own process, without VGG16,
   so a lower bound of what training in memory needs); and the
   feature-computing first epoch (the extraction, timed around
   ``FeatureCache.features``, plus epoch 1 of ``metrics.csv``) against the
   head-only later epochs (``metrics.csv``'s ``seconds``). ``--in-memory-sizes``
   (10,000 with ``--full``) also measures the in-memory path at other sizes.

Prints a Markdown table; writes JSON and Markdown to ``benchmarks/results/``
(and the JSON to ``--json PATH``). The generated folder is deleted at the end
unless it is ``--workdir``'s (kept and reused by the next run).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

SIZE = 224
BATCH = 32
CLASSES = 5
SEED = 0
#: Bump when the generated images change: a ``--workdir`` of another version is generated again.
GENERATOR_VERSION = 1
MARKER = "generated.json"
RESULT_PREFIX = "STREAMING-RESULT "


# Memory -------------------------------------------------------------------------------------
def _status_kb(field: str) -> int | None:
    try:
        with open("/proc/self/status") as handle:
            for line in handle:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def peak_rss_mb() -> float:
    """This process's peak resident memory so far (VmHWM; ru_maxrss where /proc is missing)."""
    kb = _status_kb("VmHWM")
    if kb is None:
        import resource

        kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return kb / 1024


def rss_mb() -> float:
    """This process's resident memory now (VmRSS), or the peak where /proc is missing."""
    kb = _status_kb("VmRSS")
    return kb / 1024 if kb is not None else peak_rss_mb()


# The files ----------------------------------------------------------------------------------
def _file_name(index: int) -> str:
    return f"c{index % CLASSES}/img{index:06d}.jpg"


def generate(root: Path, count: int) -> float:
    """Writes ``count`` 224x224 JPEGs into ``root/c<k>/`` (in parallel inside tf.data); seconds."""
    import tensorflow as tf

    for k in range(CLASSES):
        (root / f"c{k}").mkdir(parents=True, exist_ok=True)
    names = tf.constant([str(root / _file_name(i)) for i in range(count)])

    def write(index: tf.Tensor) -> tf.Tensor:
        seed = tf.stack([tf.constant(7919, tf.int64), index])
        coarse = tf.random.stateless_uniform((8, 8, 3), seed=seed, maxval=255.0)
        middle = tf.random.stateless_uniform((28, 28, 3), seed=seed + 1, minval=-40.0, maxval=40.0)
        noise = tf.random.stateless_uniform((), seed=seed + 2, minval=2.0, maxval=7.0)
        image = (
            tf.image.resize(coarse[None], (SIZE, SIZE), method="bicubic")[0]
            + tf.image.resize(middle[None], (SIZE, SIZE), method="bilinear")[0]
            + tf.random.stateless_normal((SIZE, SIZE, 3), seed=seed + 3, stddev=noise)
        )
        jpeg = tf.io.encode_jpeg(tf.cast(tf.clip_by_value(tf.round(image), 0.0, 255.0), tf.uint8), quality=90)
        tf.io.write_file(tf.gather(names, index), jpeg)
        return tf.strings.length(jpeg)

    start = time.perf_counter()
    ds = tf.data.Dataset.range(count).map(write, num_parallel_calls=os.cpu_count() or 1).batch(1024)
    for _ in ds:
        pass
    return time.perf_counter() - start


def prepare(workdir: Path, sizes: Sequence[int]) -> tuple[dict[int, Path], dict[str, Any]]:
    """One folder per size: the largest generated (or reused), the others hard links to its first files."""
    largest = max(sizes)
    pool = workdir / "pool"
    marker = workdir / MARKER
    info: dict[str, Any] = {}
    if marker.is_file():
        info = json.loads(marker.read_text())
    if info.get("version") != GENERATOR_VERSION or int(info.get("count", 0)) < largest:
        shutil.rmtree(pool, ignore_errors=True)
        marker.unlink(missing_ok=True)
        seconds = generate(pool, largest)
        files = [pool / _file_name(i) for i in range(largest)]
        sizes_kb = [f.stat().st_size / 1024 for f in files]
        info = {
            "version": GENERATOR_VERSION,
            "count": largest,
            "seconds": round(seconds, 1),
            "files_per_second": round(largest / seconds, 1),
            "mean_kb": round(statistics.fmean(sizes_kb), 1),
            "min_kb": round(min(sizes_kb), 1),
            "max_kb": round(max(sizes_kb), 1),
        }
        marker.write_text(json.dumps(info))
        print(
            f"generated {largest} JPEGs in {seconds:.0f} s ({info['files_per_second']:.0f}/s), "
            f"{info['mean_kb']:.1f} KB each on average ({info['min_kb']}-{info['max_kb']} KB)",
            file=sys.stderr,
        )
    folders: dict[int, Path] = {}
    for n in sorted(set(sizes)):
        folder = workdir / f"n{n}"
        done = workdir / f"n{n}.json"
        if not done.is_file():
            shutil.rmtree(folder, ignore_errors=True)
            for k in range(CLASSES):
                (folder / f"c{k}").mkdir(parents=True)
            for i in range(n):
                os.link(pool / _file_name(i), folder / _file_name(i))
            done.write_text(json.dumps({"count": n}))
        folders[n] = folder
    return folders, info


# Children (each in a fresh process) ----------------------------------------------------------
def child_pipeline(folder: str, steps: int | None) -> dict[str, Any]:
    """Part 1: the library's folder pipeline at one size."""
    import numpy as np

    from transferlab.data import ImageFolderSource, make_pipeline

    rss_imports = rss_mb()
    start = time.perf_counter()
    source = ImageFolderSource(folder, image_size=(SIZE, SIZE), color_mode="rgb")
    listed = time.perf_counter() - start
    per_epoch = math.ceil(len(source) / BATCH)
    steps = min(steps, per_epoch) if steps else per_epoch
    ds = make_pipeline(source, batch_size=BATCH, shuffle=True, seed=SEED, repeat=True, steps_per_epoch=steps)
    built = time.perf_counter() - start
    it = iter(ds)
    next(it)
    first_epoch1 = time.perf_counter() - start
    gaps: list[float] = []
    for _ in range(steps - 1):
        t = time.perf_counter()
        next(it)
        gaps.append(time.perf_counter() - t)
    epoch1 = time.perf_counter() - start - first_epoch1
    t = time.perf_counter()
    _, labels2 = next(it)
    epoch2_gap = time.perf_counter() - t
    rss_one_pipeline = peak_rss_mb()
    t = time.perf_counter()
    fresh = make_pipeline(
        source, batch_size=BATCH, shuffle=True, seed=SEED, epoch=1, repeat=True, steps_per_epoch=steps
    )
    _, fresh_labels = next(iter(fresh))
    epoch2_fresh = time.perf_counter() - t
    return {
        "files": len(source),
        "batches_per_epoch": per_epoch,
        "steps_read": steps,
        "epoch_cut": steps < per_epoch,
        "rss_after_imports_mb": round(rss_imports, 1),
        "listing_s": round(listed, 3),
        "build_s": round(built - listed, 3),
        "first_batch_epoch1_s": round(first_epoch1, 3),
        "epoch1_s": round(epoch1, 2),
        "epoch1_images_per_s": round(BATCH * (steps - 1) / epoch1, 1) if steps > 1 else None,
        "median_gap_in_epoch1_s": round(statistics.median(gaps), 4) if gaps else None,
        "max_gap_in_epoch1_s": round(max(gaps), 4) if gaps else None,
        "first_batch_epoch2_repeat_s": round(epoch2_gap, 4),
        "first_batch_epoch2_fresh_pipeline_s": round(epoch2_fresh, 3),
        "epoch2_batches_equal": bool(np.array_equal(labels2.numpy(), fresh_labels.numpy())),
        "peak_rss_one_pipeline_mb": round(rss_one_pipeline, 1),
        "peak_rss_mb": round(peak_rss_mb(), 1),
    }


def child_throughput(folder: str, batches: int, warmup: int, rounds: int) -> dict[str, Any]:
    """Part 2: img/s of the library's pipeline and of image_dataset_from_directory, A B A B."""
    import keras
    import tensorflow as tf

    from transferlab.data import ImageFolderSource, make_pipeline

    t = time.perf_counter()
    source = ImageFolderSource(folder, image_size=(SIZE, SIZE), color_mode="rgb")
    library = make_pipeline(source, batch_size=BATCH, shuffle=True, seed=SEED, repeat=True)
    library_build = time.perf_counter() - t
    t = time.perf_counter()
    plain = keras.utils.image_dataset_from_directory(
        folder, image_size=(SIZE, SIZE), batch_size=BATCH, shuffle=True, seed=SEED, verbose=False
    )
    # .repeat() so a small folder still gives every timed batch (a no-op when it has enough).
    plain = plain.repeat().prefetch(tf.data.AUTOTUNE)
    keras_build = time.perf_counter() - t

    def run(ds: tf.data.Dataset) -> float:
        it = iter(ds)
        for _ in range(warmup):
            next(it)
        images = 0
        start = time.perf_counter()
        for _ in range(batches):
            x, y = next(it)
            assert tuple(x.shape[1:]) == (SIZE, SIZE, 3), x.shape
            images += int(y.shape[0])
        return images / (time.perf_counter() - start)

    runs: dict[str, list[float]] = {"library": [], "keras": []}
    for _ in range(rounds):
        runs["library"].append(run(library))
        runs["keras"].append(run(plain))
    lib, ker = statistics.median(runs["library"]), statistics.median(runs["keras"])
    return {
        "files": len(source),
        "batches": batches,
        "warmup": warmup,
        "rounds": rounds,
        "library_images_per_s": round(lib, 1),
        "keras_images_per_s": round(ker, 1),
        "ratio": lib / ker,
        "runs": {k: [round(v, 1) for v in vs] for k, vs in runs.items()},
        "library_build_s": round(library_build, 3),
        "keras_build_s": round(keras_build, 3),
        "peak_rss_mb": round(peak_rss_mb(), 1),
    }


def child_vgg(folder: str, epochs: int) -> dict[str, Any]:
    """Part 3: frozen VGG16 at 224 on the streamed folder, disk feature cache."""
    import csv

    from transferlab import Trainer
    from transferlab.backbones import build_classifier
    from transferlab.data import ImageFolderSource
    from transferlab.strategies import FeatureExtraction
    from transferlab.training.feature_cache import FeatureCache

    rss_imports = rss_mb()
    source = ImageFolderSource(folder, image_size=(SIZE, SIZE), color_mode="rgb")
    classes = len(source.class_names)
    extraction = [0.0]
    extraction_batch: list[int] = []
    original = FeatureCache.features

    def timed_features(self: Any, model: Any, data: Any) -> Any:
        extraction_batch.append(int(self.batch_size))
        t = time.perf_counter()
        try:
            return original(self, model, data)
        finally:
            extraction[0] += time.perf_counter() - t

    FeatureCache.features = timed_features  # type: ignore[method-assign]
    run_dir = tempfile.mkdtemp(prefix="tl-streaming-vgg-")
    try:
        trainer = Trainer(
            lambda: build_classifier("vgg16", classes, weights=None, input_shape=(SIZE, SIZE, 3)),
            strategy=FeatureExtraction(epochs=epochs),
            run_dir=run_dir,
            batch_size=BATCH,
            feature_cache="disk",
            verbose=0,
        )
        start = time.perf_counter()
        result = trainer.fit(source)
        fit_seconds = time.perf_counter() - start
        with open(Path(result.run_dir) / "metrics.csv", newline="") as handle:
            epoch_seconds = [float(row["seconds"]) for row in csv.DictReader(handle)]
        cache_dir = Path(result.run_dir) / "feature_cache"
        cache_files = [p for p in cache_dir.rglob("*") if p.is_file()] if cache_dir.is_dir() else []
        cache_mb = sum(p.stat().st_size for p in cache_files) / 2**20
        accuracy = [float(r["accuracy"]) for r in result.rows if "accuracy" in r]
    finally:
        FeatureCache.features = original  # type: ignore[method-assign]
        shutil.rmtree(run_dir, ignore_errors=True)
    first = extraction[0] + epoch_seconds[0]
    later = epoch_seconds[1:]
    return {
        "images": len(source),
        "epochs": epochs,
        "feature_cache": result.feature_cache,
        "cache_files": len(cache_files),
        "cache_npy_files": sum(p.suffix == ".npy" for p in cache_files),
        "cache_mb": round(cache_mb, 2),
        "extraction_s": round(extraction[0], 2),
        "extraction_batch": extraction_batch[0] if extraction_batch else None,
        "extraction_images_per_s": round(len(source) / extraction[0], 2) if extraction[0] else None,
        "epoch_seconds": epoch_seconds,
        "first_epoch_with_extraction_s": round(first, 2),
        "later_epoch_median_s": round(statistics.median(later), 3) if later else None,
        "first_vs_later_ratio": first / statistics.median(later) if later else None,
        "fit_s": round(fit_seconds, 1),
        "train_accuracy": accuracy,
        "rss_after_imports_mb": round(rss_imports, 1),
        "peak_rss_mb": round(peak_rss_mb(), 1),
    }


def child_in_memory(folder: str) -> dict[str, Any]:
    """Part 3's comparison: the in-memory path up to its first batch (no model)."""
    from transferlab.data import load_image_folder, make_pipeline

    rss_imports = rss_mb()
    start = time.perf_counter()
    data = load_image_folder(folder, image_size=(SIZE, SIZE), color_mode="rgb")
    loaded = time.perf_counter() - start
    ds = make_pipeline(data, batch_size=BATCH, shuffle=True, seed=SEED, repeat=True)
    next(iter(ds))
    return {
        "images": len(data),
        "array_mb": round(data.images.nbytes / 2**20, 1),
        "load_s": round(loaded, 2),
        "first_batch_s": round(time.perf_counter() - start, 2),
        "rss_after_imports_mb": round(rss_imports, 1),
        "peak_rss_mb": round(peak_rss_mb(), 1),
    }


def run_child(args: list[str]) -> dict[str, Any]:
    """Runs this script's ``--child`` mode in a fresh process; returns its result."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=str(HERE.parent))
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), *args],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
        cwd=HERE.parent,
        check=False,
    )
    lines = [line for line in proc.stdout.splitlines() if line.startswith(RESULT_PREFIX)]
    if proc.returncode != 0 or not lines:
        raise SystemExit(f"child {' '.join(args)} failed (exit {proc.returncode}):\n{proc.stdout[-2000:]}")
    result: dict[str, Any] = json.loads(lines[-1][len(RESULT_PREFIX) :])
    result["process_s"] = round(time.perf_counter() - start, 1)
    print(f"  {' '.join(args[:2])}: {result['process_s']:.0f} s", file=sys.stderr)
    return result


# The report ---------------------------------------------------------------------------------
def to_markdown(payload: dict[str, Any]) -> str:
    lines = [
        f"# Streaming benchmark ({payload['mode']} mode): 224x224 JPEG folders, batch {BATCH}, "
        f"{CLASSES} classes",
        "",
        f"- Machine: {payload['machine']}",
        f"- Files: {payload['files']}",
        f"- Command: `{payload['command']}`",
    ]
    rss = payload.get("rss")
    if rss:
        rows = rss["rows"]
        cut = any(r["epoch_cut"] for r in rows)
        lines += [
            "",
            "## 1. ImageFolderSource + make_pipeline(batch 32, shuffle, repeat): memory and start-up",
            "",
            "Each size in a fresh process. "
            + (
                f"Epochs cut to {rows[0]['steps_read']} batches with steps_per_epoch (the order of "
                "each epoch is still computed over all N examples)."
                if cut
                else "Whole epochs read."
            ),
            "",
            "| files | peak RSS MB | RSS after imports MB | listing s | first batch of epoch 1 s "
            "| epoch 1 s (img/s) | median gap in epoch 1 s | first batch of epoch 2, repeating pipeline s "
            "| first batch of epoch 2, fresh pipeline s (same batch) |",
            "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for r in rows:
            lines.append(
                f"| {r['files']} | {r['peak_rss_mb']:.0f} | {r['rss_after_imports_mb']:.0f} "
                f"| {r['listing_s']:.2f} | {r['first_batch_epoch1_s']:.2f} "
                f"| {r['epoch1_s']:.1f} ({r['epoch1_images_per_s']}) | {r['median_gap_in_epoch1_s']} "
                f"| {r['first_batch_epoch2_repeat_s']} | {r['first_batch_epoch2_fresh_pipeline_s']} "
                f"({'yes' if r['epoch2_batches_equal'] else 'NO'}) |"
            )
        lines += [
            "",
            f"- Peak RSS {rows[-1]['files']} vs {rows[0]['files']} files: **{rss['ratio']:.3f}x** "
            f"({rows[-1]['peak_rss_mb']:.0f} vs {rows[0]['peak_rss_mb']:.0f} MB; goal <= 1.15x: "
            f"{'met' if rss['ratio'] <= 1.15 else 'NOT met'}); above the RSS after imports: "
            f"{rows[-1]['peak_rss_mb'] - rows[-1]['rss_after_imports_mb']:.0f} vs "
            f"{rows[0]['peak_rss_mb'] - rows[0]['rss_after_imports_mb']:.0f} MB",
            f"- First batch of epoch 2 at {rows[-1]['files']} files: "
            f"{rows[-1]['first_batch_epoch2_repeat_s']:.3f} s in the repeating pipeline, "
            f"{rows[-1]['first_batch_epoch2_fresh_pipeline_s']:.3f} s from a fresh pipeline "
            f"(goal < 1 s: {'met' if rss['epoch2_max_s'] < 1.0 else 'NOT met'})",
        ]
    tp = payload.get("throughput")
    if tp:
        lines += [
            "",
            f"## 2. Images/s on the {tp['files']}-file folder: library vs keras.utils.image_dataset_from_directory",
            "",
            f"{tp['rounds']} rounds A B, each a fresh iterator: {tp['warmup']} warm-up batches, "
            f"then {tp['batches']} timed.",
            "",
            "| pipeline | median img/s | runs | construction s |",
            "|---|---:|---|---:|",
            f"| transferlab ImageFolderSource + make_pipeline | {tp['library_images_per_s']:.0f} "
            f"| {', '.join(f'{v:.0f}' for v in tp['runs']['library'])} | {tp['library_build_s']:.2f} |",
            f"| image_dataset_from_directory(...).prefetch(AUTOTUNE) | {tp['keras_images_per_s']:.0f} "
            f"| {', '.join(f'{v:.0f}' for v in tp['runs']['keras'])} | {tp['keras_build_s']:.2f} |",
            "",
            f"- Ratio: **{tp['ratio']:.2f}x** (goal >= 1.0x: {'met' if tp['ratio'] >= 1.0 else 'NOT met'})",
        ]
    vgg = payload.get("vgg")
    if vgg:
        v, m = vgg["trainer"], vgg["in_memory"]
        lines += [
            "",
            f"## 3. Frozen VGG16 at 224 (random weights), feature_cache='disk', {v['images']} streamed images, "
            f"{v['epochs']} epochs",
            "",
            "| measure | value | baseline | ratio |",
            "|---|---:|---:|---:|",
            f"| peak RSS MB: Trainer on ImageFolderSource (VGG16 included) vs in-memory path up to its "
            f"first batch (load_image_folder + make_pipeline, no model) | {v['peak_rss_mb']:.0f} "
            f"| {m['peak_rss_mb']:.0f} | {v['peak_rss_mb'] / m['peak_rss_mb']:.2f}x |",
            f"| feature-computing first epoch (extraction {v['extraction_s']:.1f} s + epoch 1) vs head-only "
            f"later epochs (median) | {v['first_epoch_with_extraction_s']:.1f} s "
            f"| {v['later_epoch_median_s']:.2f} s | {v['first_vs_later_ratio']:.0f}x |",
            "",
            f"- In-memory path at {m['images']} images: uint8 array {m['array_mb']:.0f} MB, loaded in "
            f"{m['load_s']:.1f} s; its process's RSS after imports {m['rss_after_imports_mb']:.0f} MB.",
            f"- Trainer: feature cache {v['feature_cache']}; {v['cache_files']} files "
            f"({v['cache_npy_files']} .npy shards), {v['cache_mb']} MB in the run folder; epochs "
            f"{', '.join(f'{s:.2f}' for s in v['epoch_seconds'])} s (metrics.csv); extraction "
            f"{v['extraction_images_per_s']} img/s in batches of {v['extraction_batch']} (the feature "
            f"cache's own batch size); fit() {v['fit_s']:.0f} s; its process's RSS after imports "
            f"{v['rss_after_imports_mb']:.0f} MB.",
        ]
        for o in vgg.get("in_memory_other", []):
            lines.append(
                f"- In-memory path at {o['images']} images (no model, own process): peak RSS "
                f"{o['peak_rss_mb']:.0f} MB (uint8 array {o['array_mb']:.0f} MB, loaded in {o['load_s']:.0f} s); "
                f"the streamed Trainer's {v['peak_rss_mb']:.0f} MB above was measured at {v['images']} "
                "images (its features take 2 KB an image; the images are never all held): "
                f"{v['peak_rss_mb'] / o['peak_rss_mb']:.2f}x of it."
            )
        if v["images"] < 10_000:
            lines.append(
                f"- {v['images']} images, not the issue's 10,000 (time): the Trainer's peak RSS is "
                "dominated by VGG16's activations at 224, which do not grow with N."
            )
    lines.append("")
    return "\n".join(lines)


def _write(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def _int_list(text: str) -> list[int]:
    return [int(v.replace("_", "")) for v in text.split(",") if v.strip()]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--short", action="store_true", help="the default: small folders, cut epochs")
    mode.add_argument("--full", action="store_true", help="2,000/10,000/40,000 files, whole epochs")
    parser.add_argument("--sizes", type=_int_list, help="folder sizes, e.g. 2000,10000,40000")
    parser.add_argument("--workdir", type=Path, help="where the files go (kept, reused next time)")
    parser.add_argument("--steps", type=int, help="batches read per epoch in part 1 (0: whole epochs)")
    parser.add_argument("--vgg-images", type=int, help="images of part 3")
    parser.add_argument(
        "--in-memory-sizes",
        type=_int_list,
        help="part 3: also measure the in-memory path at these sizes (default: 10000 with --full)",
    )
    parser.add_argument("--parts", default="rss,throughput,vgg", help="parts to run (comma-separated)")
    parser.add_argument("--json", metavar="PATH", help="also write the result to PATH")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--folder", help=argparse.SUPPRESS)
    parser.add_argument("--batches", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--rounds", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    # A terminated run still cleans up (its temporary folders are removed in `finally` blocks).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))

    if args.child:
        result: dict[str, Any]
        if args.child == "pipeline":
            result = child_pipeline(args.folder, args.steps or None)
        elif args.child == "throughput":
            result = child_throughput(args.folder, args.batches, 5, args.rounds)
        elif args.child == "vgg":
            result = child_vgg(args.folder, 3)
        elif args.child == "in_memory":
            result = child_in_memory(args.folder)
        else:
            raise SystemExit(f"unknown child {args.child!r}")
        print(RESULT_PREFIX + json.dumps(result), flush=True)
        return 0

    full = args.full
    sizes = sorted(set(args.sizes or ([2_000, 10_000, 40_000] if full else [500, 2_000, 8_000])))
    steps = args.steps if args.steps is not None else (0 if full else 10)
    vgg_images = args.vgg_images or (10_000 if full else 96)
    in_memory_sizes = sorted(
        {vgg_images, *(args.in_memory_sizes or ([10_000] if full else []))} - {vgg_images}
    )
    batches, rounds = (300, 7) if full else (50, 3)
    parts = {p.strip() for p in args.parts.split(",") if p.strip()}
    unknown = parts - {"rss", "throughput", "vgg"}
    if unknown:
        parser.error(f"unknown parts {sorted(unknown)}: accepted rss, throughput, vgg")
    throughput_n = max([n for n in sizes if n <= 10_000] or [min(sizes)])
    needed = sorted({*sizes, *([vgg_images, *in_memory_sizes] if "vgg" in parts else [])})

    started = time.perf_counter()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="tl-streaming-"))
    workdir.mkdir(parents=True, exist_ok=True)
    payload: dict[str, Any] = {
        "mode": "full" if full else "short",
        "command": "python benchmarks/streaming.py " + " ".join(sys.argv[1:] if argv is None else argv),
        "machine": f"{os.cpu_count()} CPUs, load average {' '.join(f'{x:.1f}' for x in os.getloadavg())} "
        "at the start",
    }
    try:
        folders, info = prepare(workdir, needed)
        payload["generation"] = info
        payload["files"] = (
            f"{info['count']} generated 224x224 JPEGs (quality 90, {info['mean_kb']} KB on average, "
            f"{info['min_kb']}-{info['max_kb']} KB), {CLASSES} classes"
        )
        if "rss" in parts:
            print("part 1: memory and start-up", file=sys.stderr)
            rows = [
                run_child(["--child", "pipeline", "--folder", str(folders[n]), "--steps", str(steps)])
                for n in sizes
            ]
            payload["rss"] = {
                "rows": rows,
                "ratio": rows[-1]["peak_rss_mb"] / rows[0]["peak_rss_mb"],
                "epoch2_max_s": max(
                    rows[-1]["first_batch_epoch2_repeat_s"], rows[-1]["first_batch_epoch2_fresh_pipeline_s"]
                ),
            }
        if "throughput" in parts:
            print("part 2: images/s", file=sys.stderr)
            payload["throughput"] = run_child(
                ["--child", "throughput", "--folder", str(folders[throughput_n]),
                 "--batches", str(batches), "--rounds", str(rounds)]
            )  # fmt: skip
        if "vgg" in parts:
            print("part 3: frozen VGG16 with the disk feature cache", file=sys.stderr)
            folder = str(folders[vgg_images])
            payload["vgg"] = {
                "in_memory": run_child(["--child", "in_memory", "--folder", folder]),
                "in_memory_other": [
                    run_child(["--child", "in_memory", "--folder", str(folders[n])]) for n in in_memory_sizes
                ],
                "trainer": run_child(["--child", "vgg", "--folder", folder]),
            }
    finally:
        if args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)
    payload["seconds"] = round(time.perf_counter() - started, 1)
    text = to_markdown(payload)
    print(text)
    out = HERE / "results"
    out.mkdir(exist_ok=True)
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    data = json.dumps(payload, indent=2)
    _write(out / f"streaming-{stamp}.md", text)
    _write(out / f"streaming-{stamp}.json", data)
    if args.json:
        _write(Path(args.json), data)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
