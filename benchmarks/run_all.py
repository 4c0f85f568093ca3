"""Runs every transferlab benchmark and writes one summary table.

Usage::

    python benchmarks/run_all.py [--short]

Each benchmark runs in its own subprocess (so each has its own peak memory,
read with ``os.wait4``'s ``ru_maxrss``), in short mode with ``--short``:

- ``backbone_throughput.py``: library vs hand-written Keras training img/s per
  backbone, and achieved GFLOP/s against a float32 matmul measured in the
  same process;
- ``backbone_throughput.py --part scaling``: VGG16 forward cost against input
  size (32, 48, 75, 224) and batch size (1, 8, 32, 64);
- ``pipeline_throughput.py``: the Trainer's input pipeline against the
  library's models consuming it;
- ``feature_cache.py``: 10 epochs of frozen-backbone training with and without
  feature caching, and bfloat16 against float32 (speed and accuracy);
- ``backup_cost.py``: the step time with an exact-resume backup every 50 steps
  against backups at epoch ends only;
- ``streaming.py``: a generated folder of 224x224 JPEGs read by
  ``ImageFolderSource`` + ``make_pipeline``: peak RSS and first batches of
  epochs 1 and 2 against the folder's size, img/s beside
  ``keras.utils.image_dataset_from_directory``, and frozen VGG16 at 224 with the
  disk feature cache (peak RSS beside the in-memory path's, extraction epoch vs
  head epochs).

A float32 matmul is also timed here, before and after, as an indicator of the
load on the (shared) machine. Every ratio is printed beside the baseline it
divides by, measured in the same run. Writes ``benchmarks/results/summary.md``
and ``benchmarks/results/summary.json`` and prints the Markdown.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"


def matmul_gflops(n: int = 1024, seconds: float = 1.0) -> float:
    """float32 matmul GFLOP/s of this process (TensorFlow's default threads)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf

    a, b = tf.random.normal((n, n)), tf.random.normal((n, n))
    tf.matmul(a, b).numpy()
    reps, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        tf.matmul(a, b).numpy()
        reps += 1
    return 2 * n**3 * reps / (time.perf_counter() - start) / 1e9


def run_benchmark(name: str, args: list[str], logs: Path) -> dict[str, Any]:
    """Runs ``benchmarks/<args[0]>`` with ``--json``; returns its JSON, seconds and peak RSS."""
    out = logs / f"{name}.json"
    log = logs / f"{name}.log"
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=str(HERE.parent))
    start = time.perf_counter()
    with open(log, "w") as handle:
        proc = subprocess.Popen(
            [sys.executable, str(HERE / args[0]), *args[1:], "--json", str(out)],
            stdout=handle,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=HERE.parent,
        )
        _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    seconds = time.perf_counter() - start
    print(
        f"{name}: exit {proc.returncode} in {seconds:.0f} s, peak RSS {usage.ru_maxrss / 1024:.0f} MB",
        file=sys.stderr,
    )
    if proc.returncode != 0 or not out.is_file():
        tail = log.read_text(errors="replace")[-2000:]
        raise SystemExit(f"benchmark {name} failed (exit {proc.returncode}); end of {log}:\n{tail}")
    return {
        "result": json.loads(out.read_text()),
        "seconds": seconds,
        "peak_rss_mb": usage.ru_maxrss / 1024,
        "command": " ".join(args),
    }


def _row(measure: str, value: str, baseline: str, ratio: str, goal: str, rss: float | None) -> dict[str, Any]:
    return {
        "measure": measure,
        "value": value,
        "baseline": baseline,
        "ratio": ratio,
        "goal": goal,
        "peak_rss_mb": None if rss is None else round(rss),
    }


def summarize(runs: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """The table rows: every ratio beside the baseline it divides by."""
    rows: list[dict[str, Any]] = []
    bt = runs["backbone_throughput"]
    res = bt["result"]
    mm = res["matmul_gflop_s"]
    for r in res["rows"]:
        rows.append(
            _row(
                f"train img/s, {r['case']}: transferlab vs hand-written Keras",
                f"{r['transferlab_img_s']:.0f}",
                f"{r['keras_img_s']:.0f}",
                f"{r['ratio']:.2f}x",
                ">= 1.0x",
                bt["peak_rss_mb"],
            )
        )
    for r in res["rows"]:
        rows.append(
            _row(
                f"achieved GFLOP/s, {r['case']} ({r['forward_mflop']:.0f} MFLOP fwd/img) vs fp32 matmul",
                f"{r['transferlab_gflop_s']:.0f}",
                f"{mm[0]:.0f} (end: {mm[1]:.0f})",
                f"{r['pct_of_matmul']:.0f} %",
                "-",
                bt["peak_rss_mb"],
            )
        )
    pt = runs["pipeline_throughput"]
    res = pt["result"]
    for label, c in res["consumers"].items():
        rows.append(
            _row(
                f"input pipeline img/s vs model training img/s ({label})",
                f"{res['pipeline_images_per_s']:.0f}",
                f"{c['training_images_per_s']:.0f}",
                f"{c['ratio']:.1f}x",
                ">= 10x",
                pt["peak_rss_mb"],
            )
        )
    for label, c in res["consumers"].items():
        rows.append(
            _row(
                f"pipeline + adaptation to 32x32x3 in tf.data vs model ({label})",
                f"{res['pipeline_with_adaptation_images_per_s']:.0f}",
                f"{c['training_images_per_s']:.0f}",
                f"{c['ratio_with_adaptation_in_pipeline']:.1f}x",
                "-",
                pt["peak_rss_mb"],
            )
        )
    idle = res["fit_calls_idle_past_2_5_s"]
    calls = len(res["fit_calls"]["library"])
    rows.append(
        _row(
            "fit() calls idling past 2.5 s: library pipeline vs plain tf.data",
            f"{idle['library']} of {calls}",
            f"{idle['plain']} of {calls}",
            "-",
            "0",
            pt["peak_rss_mb"],
        )
    )
    fc = runs["feature_cache"]
    res = fc["result"]
    off32, on32, on16, off16 = res["runs"]
    rows.append(
        _row(
            f"frozen VGG16@32 training, {res['epochs']} epochs, {res['images']} images: "
            "uncached s vs cached s (incl. one extraction)",
            f"{off32['training_seconds']:.1f} s",
            f"{on32['training_seconds']:.1f} s (extraction {on32['extraction_seconds']:.1f} s)",
            f"{res['ratio']:.1f}x",
            ">= 10x",
            fc["peak_rss_mb"],
        )
    )
    rows.append(
        _row(
            "same, whole fit() calls (fixed costs: build, compile, run folder, save)",
            f"{off32['fit_seconds']:.1f} s (fixed {off32['fixed_seconds']:.1f} s)",
            f"{on32['fit_seconds']:.1f} s (fixed {on32['fixed_seconds']:.1f} s)",
            f"{res['fit_ratio']:.2f}x",
            "-",
            fc["peak_rss_mb"],
        )
    )
    rows.append(
        _row(
            "frozen VGG16@32 epoch img/s: bfloat16 vs float32 (uncached)",
            f"{off16['images_per_second_epoch']:.0f}",
            f"{off32['images_per_second_epoch']:.0f}",
            f"{res['bf16_speedup']:.2f}x",
            "-",
            fc["peak_rss_mb"],
        )
    )
    rows.append(
        _row(
            f"test accuracy after {res['epochs']} cached epochs: bfloat16 vs float32",
            f"{on16['test_accuracy']:.4f}",
            f"{on32['test_accuracy']:.4f}",
            f"{on16['test_accuracy'] - on32['test_accuracy']:+.4f}",
            "-",
            fc["peak_rss_mb"],
        )
    )
    bc = runs["backup_cost"]
    res = bc["result"]
    rows.append(
        _row(
            f"AlexNet fine-tune ms/step: backups every 50 steps vs at epoch ends only ({res['images']} images)",
            f"{1000 * res['step_seconds']['every_50']:.1f}",
            f"{1000 * res['step_seconds']['epoch_ends']:.1f}",
            f"{res['ratio']:.3f}x",
            "<= 1.05x",
            bc["peak_rss_mb"],
        )
    )
    rows.append(
        _row(
            "one backup (weights + Adam slots) vs the 50 steps it covers",
            f"{1000 * res['seconds_per_backup']:.0f} ms",
            f"{50000 * res['step_seconds']['epoch_ends']:.0f} ms",
            f"{100 * res['backup_share_of_50_steps']:.1f} %",
            "<= 5 %",
            bc["peak_rss_mb"],
        )
    )
    rows.extend(_streaming_rows(runs["streaming"]))
    sc = runs["scaling"]
    res = sc["result"]
    by_size = [r for r in res["rows"] if r["axis"] == "input size"]
    by_batch = [r for r in res["rows"] if r["axis"] == "batch size"]
    base = by_size[0]
    for r in by_size:
        rows.append(
            _row(
                f"VGG16 forward, batch {r['batch']}, {r['size']}x{r['size']}x3 vs "
                f"{base['size']}x{base['size']}x3: ms/batch (FLOP ratio "
                f"{r['forward_gflop_per_image'] / base['forward_gflop_per_image']:.1f}x)",
                f"{r['ms_per_batch']:.0f} ms ({r['gflop_s']:.0f} GFLOP/s)",
                f"{base['ms_per_batch']:.0f} ms",
                f"{r['ms_per_batch'] / base['ms_per_batch']:.1f}x",
                "-",
                r["peak_rss_mb"],
            )
        )
    base = by_batch[0]
    for r in by_batch:
        rows.append(
            _row(
                f"VGG16 forward, 32x32x3, batch {r['batch']} vs batch {base['batch']}: img/s",
                f"{r['img_s']:.0f} ({r['ms_per_batch']:.0f} ms/batch)",
                f"{base['img_s']:.0f}",
                f"{r['img_s'] / base['img_s']:.2f}x",
                "-",
                r["peak_rss_mb"],
            )
        )
    return rows


def _streaming_rows(run: dict[str, Any]) -> list[dict[str, Any]]:
    res, rss = run["result"], run["peak_rss_mb"]
    rows: list[dict[str, Any]] = []
    first, last = res["rss"]["rows"][0], res["rss"]["rows"][-1]
    rows.append(
        _row(
            f"folder pipeline peak RSS MB (own process): {last['files']} vs {first['files']} JPEGs",
            f"{last['peak_rss_mb']:.0f}",
            f"{first['peak_rss_mb']:.0f}",
            f"{res['rss']['ratio']:.3f}x",
            "<= 1.15x",
            None,
        )
    )
    rows.append(
        _row(
            f"first batch of epoch 2 at {last['files']} JPEGs: repeating pipeline vs "
            "a fresh pipeline at epoch 1 (resume)",
            f"{last['first_batch_epoch2_repeat_s']:.3f} s",
            f"{last['first_batch_epoch2_fresh_pipeline_s']:.3f} s",
            "-",
            "< 1 s",
            None,
        )
    )
    tp = res["throughput"]
    rows.append(
        _row(
            f"img/s on {tp['files']} JPEGs: ImageFolderSource + make_pipeline vs image_dataset_from_directory",
            f"{tp['library_images_per_s']:.0f}",
            f"{tp['keras_images_per_s']:.0f}",
            f"{tp['ratio']:.2f}x",
            ">= 1.0x",
            tp["peak_rss_mb"],
        )
    )
    v, m = res["vgg"]["trainer"], res["vgg"]["in_memory"]
    rows.append(
        _row(
            f"frozen VGG16@224 on {v['images']} streamed JPEGs, disk feature cache: peak RSS MB vs "
            "the in-memory path up to its first batch (no model)",
            f"{v['peak_rss_mb']:.0f}",
            f"{m['peak_rss_mb']:.0f}",
            f"{v['peak_rss_mb'] / m['peak_rss_mb']:.2f}x",
            "< 1x",
            rss,
        )
    )
    rows.append(
        _row(
            "same: feature-computing first epoch vs head-only later epochs (median)",
            f"{v['first_epoch_with_extraction_s']:.1f} s",
            f"{v['later_epoch_median_s']:.2f} s",
            f"{v['first_vs_later_ratio']:.0f}x",
            "-",
            rss,
        )
    )
    return rows


def to_markdown(summary: dict[str, Any]) -> str:
    lines = [
        f"# transferlab benchmarks ({summary['mode']} mode)",
        "",
        f"- Machine: {summary['machine']}; TF {summary.get('tensorflow', '?')}",
        f"- Load indicator, fp32 matmul measured by run_all.py: {summary['matmul_gflop_s']['start']:.0f} GFLOP/s "
        f"at the start, {summary['matmul_gflop_s']['end']:.0f} at the end",
        f"- Total wall time: {summary['seconds_total']:.0f} s",
        "",
        "| measure | value | baseline (same run) | ratio | goal | peak RSS MB |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for r in summary["rows"]:
        lines.append(
            f"| {r['measure']} | {r['value']} | {r['baseline']} | {r['ratio']} | {r['goal']} "
            f"| {r['peak_rss_mb'] if r['peak_rss_mb'] is not None else '-'} |"
        )
    lines += ["", "| benchmark (subprocess) | command | seconds | peak RSS MB |", "|---|---|---:|---:|"]
    for name, run in summary["runs"].items():
        lines.append(f"| {name} | `{run['command']}` | {run['seconds']:.0f} | {run['peak_rss_mb']:.0f} |")
    lines += [
        "",
        "Peak RSS is per benchmark process (ru_maxrss); in the scaling rows it is the "
        "process's peak so far, after that step (steps run from small to large).",
        "",
    ]
    return "\n".join(lines)


def _atomic_write(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    os.replace(tmp, path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--short", action="store_true", help="short mode of every benchmark (< 10 min)")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    RESULTS.mkdir(exist_ok=True)
    logs = RESULTS / "logs"
    logs.mkdir(exist_ok=True)
    short = ["--short"] if args.short else []
    plan = {
        "backbone_throughput": ["backbone_throughput.py", *short],
        "scaling": ["backbone_throughput.py", "--part", "scaling", *short],
        "pipeline_throughput": ["pipeline_throughput.py", *short],
        "feature_cache": ["feature_cache.py", *(short or ["--full"])],
        "backup_cost": ["backup_cost.py", *([] if short else ["--full"])],
        "streaming": ["streaming.py", *(short or ["--full"])],
    }
    matmul_start = matmul_gflops()
    runs = {name: run_benchmark(name, cmd, logs) for name, cmd in plan.items()}
    matmul_end = matmul_gflops()
    import tensorflow as tf

    summary: dict[str, Any] = {
        "mode": "short" if args.short else "full",
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, load average "
        f"{' '.join(f'{x:.1f}' for x in os.getloadavg())} at the end",
        "tensorflow": tf.__version__,
        "matmul_gflop_s": {"start": matmul_start, "end": matmul_end},
        "runs": runs,
    }
    summary["rows"] = summarize(runs)
    summary["seconds_total"] = time.perf_counter() - started
    text = to_markdown(summary)
    _atomic_write(RESULTS / "summary.md", text)
    _atomic_write(RESULTS / "summary.json", json.dumps(summary, indent=2))
    print(text)
    print(f"wrote {RESULTS / 'summary.md'} and {RESULTS / 'summary.json'}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
