"""Reproduces the learning results in docs/results.md, one table per experiment.

Every number in docs/results.md comes from one of these commands (real MNIST, CPU)::

    python examples/reproduce_results.py few-shot          # 1/5/10/50/100 labels, 11 methods, 3 seeds
    python examples/reproduce_results.py few-shot --target DIR   # the same, to another IDX data set
    python examples/reproduce_results.py alexnet-scratch   # AlexNet on all of MNIST, augmented
    python examples/reproduce_results.py seed-experiments  # the seed article's two experiments
    python examples/reproduce_results.py precision         # float32 vs bfloat16

Each prints a Markdown table and writes it, with the raw numbers as JSON, to
``--out`` (default ``runs/results``). ``--short`` runs a CI-sized version of each
(tiny network and data) that checks the script, not the numbers.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

SOURCE, TARGET = [0, 1, 2, 3, 4], [5, 6, 7, 8, 9]

# The seed article's first experiment the way Keras' mnist_transfer_cnn example does it: the
# convolutions frozen (BatchNorm too, in inference mode), the dense `fc` group and a new head
# retrained, no warm-up (the run adds light augmentation and a cosine decay of the rate).
KERAS_WAY_STRATEGY: dict[str, Any] = {
    "kind": "fine_tune",
    "from_group": "fc",
    "warmup_epochs": 0,
    "epochs": 5,
    "learning_rate": 1e-3,
    "batchnorm": "frozen",
}


def _config(
    data: dict[str, Any], model: dict[str, Any], strategy: dict[str, Any], training: dict[str, Any]
) -> Any:
    from transferlab.config import RunConfig

    return RunConfig.from_mapping({"data": data, "model": model, "strategy": strategy, "training": training})


# The few-shot methods compared: label -> (its id for --methods, the [strategy] section,
# [data]/[model] overrides). Every transfer method starts from the same source backbone
# (digits 0-4, the default pretraining recipe); scratch from random weights. "recommended"
# is transferlab.config.recipes.FEW_SHOT.
RECOMMENDED = "**recommended**: LP-FT + augmentation (recipes.FEW_SHOT)"
SCRATCH = "scratch (same labels, random weights, 40 epochs)"


def _few_shot_methods() -> dict[str, dict[str, Any]]:
    from transferlab.config.recipes import FEW_SHOT as RECIPE

    recipe_strategy = {k.split(".", 1)[1]: v for k, v in RECIPE.items() if k.startswith("strategy.")}
    recipe_data = {k.split(".", 1)[1]: v for k, v in RECIPE.items() if k.startswith("data.")}
    return {
        "feature extraction (dense head, 40 epochs)": {
            "id": "fe",
            "strategy": {"kind": "feature_extraction", "epochs": 40, "learning_rate": 3e-3},
        },
        "feature extraction, cosine head (Chen et al. 2019)": {
            "id": "fe-cosine",
            "strategy": {"kind": "feature_extraction", "epochs": 40, "learning_rate": 3e-3},
            "model": {"head": "cosine"},
        },
        "prototypes (nearest class mean, cosine)": {"id": "prototypes", "strategy": {"kind": "prototypes"}},
        "linear probe (L-BFGS, L2 by cross-validation)": {
            "id": "probe",
            "strategy": {"kind": "linear_probe"},
        },
        "fine-tune (20 warm-up + 20 epochs, all groups)": {
            "id": "fine-tune",
            "strategy": {
                "kind": "fine_tune",
                "warmup_epochs": 20,
                "epochs": 20,
                "learning_rate": 3e-3,
                "finetune_learning_rate": 1e-3,
                "batchnorm": "train",
            },
        },
        # the source weights as the only thing transferred: scratch's training from them
        "fine-tune from the start (all groups, 40 epochs at 1e-3)": {
            "id": "fine-tune-all",
            "strategy": {
                "kind": "fine_tune",
                "warmup_epochs": 0,
                "epochs": 40,
                "finetune_learning_rate": 1e-3,
                "batchnorm": "train",
            },
        },
        "LP-FT, no augmentation": {
            "id": "lp-ft-plain",
            "strategy": recipe_strategy,
            "data": {"augment": "none"},
        },
        RECOMMENDED: {
            "id": "recommended",
            "strategy": recipe_strategy,
            "data": recipe_data,
        },
        "recommended + test-time augmentation (8 copies)": {
            "id": "tta",
            "strategy": recipe_strategy,
            "data": {**recipe_data, "tta": 8},
        },
        # 3 folds x 4 candidates = 12 more trainings per run: measured up to 10 labels per class
        "auto (CV among LP-FT, probe, fine-tune, scratch)": {
            "id": "auto",
            "strategy": {**recipe_strategy, "kind": "auto"},
            "data": recipe_data,
            "max_k": 10,
        },
        SCRATCH: {
            "id": "scratch",
            "strategy": {"kind": "scratch", "warmup_epochs": 0, "epochs": 40, "learning_rate": 1e-3},
            "scratch": True,
        },
    }


def few_shot(args: argparse.Namespace) -> tuple[str, dict[str, Any]]:
    """Test accuracy on digits 5-9 (or ``--target``'s classes) by labels per class, method and seed."""
    from transferlab.experiments import run_experiment

    ks = [1, 2] if args.short else [int(k) for k in args.ks.split(",")]
    seeds = [0] if args.short else [int(s) for s in args.seeds.split(",")]
    methods = _few_shot_methods()
    if args.methods:
        wanted = args.methods.split(",")
        unknown = sorted(set(wanted) - {spec["id"] for spec in methods.values()})
        if unknown:
            raise SystemExit(
                f"--methods: unknown id(s) {', '.join(unknown)}; "
                f"accepted: {', '.join(spec['id'] for spec in methods.values())}"
            )
        methods = {label: spec for label, spec in methods.items() if spec["id"] in wanted}
    # The target: digits 5-9 of MNIST, or every class of an IDX folder (another domain).
    target: dict[str, Any] = (
        {"classes": TARGET} if args.target is None else {"dataset": "idx", "path": str(args.target)}
    )
    weights = _source_backbone(args)
    raw: dict[str, dict[int, list[float]]] = {m: {k: [] for k in ks} for m in methods}
    chosen: dict[int, list[str]] = {k: [] for k in ks}
    tested = 0
    for seed in seeds:
        for k in ks:
            for method, spec in methods.items():
                if k > spec.get("max_k", k):
                    continue
                scratch = spec.get("scratch", False)
                model = {
                    "backbone": "alexnet",
                    "weights": "" if scratch else weights,
                    **spec.get("model", {}),
                }
                data = {**target, "labels_per_class": k, **spec.get("data", {})}
                strategy = dict(spec["strategy"])
                if args.short:
                    model["width"] = 0.25
                    data["max_train"] = 500
                    strategy.update({key: 2 for key in ("epochs", "warmup_epochs") if strategy.get(key)})
                    data["tta"] = min(int(data.get("tta", 0)), 1)
                result = run_experiment(
                    _config(
                        data, model, strategy, {"batch_size": 16, "seed": seed, "run_dir": str(args.run_dir)}
                    ),
                    verbose=0,
                )
                raw[method][k].append(result.test_accuracy)
                tested = len(result.report.labels)
                if result.strategy_choice is not None:
                    chosen[k].append(result.strategy_choice.kind)
                print(f"  seed {seed}, k={k:<3} {method:<55} {result.test_accuracy:.4f}", flush=True)
    lines = ["| method | " + " | ".join(f"k={k}" for k in ks) + " |", "|---|" + "---|" * len(ks)]
    for method, by_k in raw.items():
        cells = []
        for k in ks:
            values = by_k[k]
            if len(values) > 1:
                cells.append(f"{100 * statistics.mean(values):.1f} ± {100 * statistics.stdev(values):.1f}")
            else:  # one seed: no spread to give
                cells.append(f"{100 * values[0]:.1f}" if values else "not run")
        lines.append(f"| {method} | " + " | ".join(cells) + " |")
    if RECOMMENDED in raw and SCRATCH in raw:
        best, scratch_row = raw[RECOMMENDED], raw[SCRATCH]
        ratio = [(1 - statistics.mean(best[k])) / max(1e-9, 1 - statistics.mean(scratch_row[k])) for k in ks]
        lines.append(
            "| recommended's error / scratch's error | " + " | ".join(f"{r:.2f}" for r in ratio) + " |"
        )
    what = "digits 5-9" if args.target is None else f"every class of {args.target}"
    note = (
        f"Test accuracy (%) on all {tested} test images of {what}, mean ± "
        f"sample standard deviation over seeds {seeds}; k labelled training images per class. "
        "auto chose: "
        + ("; ".join(f"k={k}: {', '.join(chosen[k])}" for k in ks if chosen[k]) or "not run")
        + "."
    )
    return note + "\n\n" + "\n".join(lines), {"seeds": seeds, "accuracy": raw, "auto_chose": chosen}


def _training_time(result: Any) -> str:
    """The run's training time; for a run that had finished before (reused, not trained
    again), the sum of its epochs' seconds as its metrics recorded them."""
    if result.train_result.reused:
        seconds = sum(float(str(row["seconds"])) for row in result.train_result.rows)
        return f"{seconds / 60:.1f} min ({seconds:.0f} s, its epochs: a reused run)"
    return f"{result.train_seconds / 60:.1f} min ({result.train_seconds:.0f} s)"


def alexnet_scratch(args: argparse.Namespace) -> tuple[str, dict[str, Any]]:
    """AlexNet (the library's small-input design, width 1) trained from scratch on all of MNIST."""
    from transferlab.experiments import run_experiment

    # All 60,000 training images (no validation split), batch 128 in bfloat16 (the fastest
    # setting measured on this CPU), Adam along a cosine, the "light" augmentation (5 epochs
    # leave no time for the "standard" one's harder images: 99.44 % with it).
    data: dict[str, Any] = {"augment": "light", "validation": 0.0}
    model: dict[str, Any] = {"backbone": "alexnet", "dropout": 0.3}
    strategy = {"kind": "scratch", "warmup_epochs": 0, "epochs": 5, "learning_rate": 3e-3}
    training: dict[str, Any] = {
        "batch_size": 128,
        "precision": "bfloat16",
        "schedule": "cosine",
        "run_dir": str(args.run_dir),
    }
    if args.short:
        data["max_train"], model["width"], strategy["epochs"] = 1000, 0.25, 1
    load_before = os.getloadavg()
    result = run_experiment(_config(data, model, strategy, training), verbose=0 if args.short else 2)
    load_after = os.getloadavg()
    seconds = [float(str(row["seconds"])) for row in result.train_result.rows]
    table = (
        "| model | data | training | epochs | test accuracy | training time | s per epoch |\n"
        "|---|---|---|---|---|---|---|\n"
        f"| AlexNet (28x28x1, width {model.get('width', 1.0):g}), dropout 0.3 | "
        f"{'1,000 of the' if args.short else 'all 60,000'} MNIST training images, {data['augment']} augmentation | "
        f"Adam {strategy['learning_rate']:g} with cosine decay, batch {training['batch_size']}, "
        f"{training['precision']} | {result.train_result.epochs} | "
        f"{100 * result.test_accuracy:.2f} % | {_training_time(result)} | "
        f"{', '.join(f'{s:.0f}' for s in seconds)} |\n\n"
        + (
            "(A reused run: its epochs' times as recorded; the load was not measured now.)"
            if result.train_result.reused
            else f"Load average (1, 5, 15 min) before training: {', '.join(f'{x:.1f}' for x in load_before)}; "
            f"after: {', '.join(f'{x:.1f}' for x in load_after)}."
        )
    )
    return table, {
        "accuracy": result.test_accuracy,
        "seconds": result.train_seconds,
        "epoch_seconds": seconds,
        "epochs": result.train_result.epochs,
        "load_before": load_before,
        "load_after": load_after,
        "run_dir": str(result.run_dir),
    }


def _source_backbone(args: argparse.Namespace) -> str:
    """The backbone pretrained on the SOURCE digits 0-4 that the transfer experiments start from.

    The library's default recipe (the ``model.pretrain_*`` defaults: 10 epochs, cosine
    decay, standard augmentation), batch 64, seed 0: the same run as ``transferlab pretrain
    --classes 0 1 2 3 4 --backbone alexnet --batch-size 64 --seed 0 --run-dir RUN_DIR``, so
    every experiment here (and that command) shares one pretraining: a finished run folder
    with the same digest is reused. ``--short``: width 0.25, 1 epoch, 500 images.
    """
    from transferlab.experiments.prepare_data import prepare_data
    from transferlab.experiments.pretrain import pretrain_backbone

    data: dict[str, Any] = {"classes": SOURCE}
    model: dict[str, Any] = {"backbone": "alexnet"}
    if args.short:
        data["max_train"] = 500
        model.update(width=0.25, pretrain_epochs=1)
    config = _config(data, model, {}, {"batch_size": 64, "seed": 0, "run_dir": str(args.run_dir)})
    _, source, _, _ = prepare_data(config)
    return str(pretrain_backbone(config, source, verbose=0 if args.short else 2))


def seed_experiments(args: argparse.Namespace) -> tuple[str, dict[str, Any]]:
    """The seed article's two experiments, done correctly."""
    from transferlab.experiments import run_experiment

    runs: dict[str, Any] = {}
    weights = _source_backbone(args)
    # 1. The AlexNet pretrained on digits 0-4 on all training images of 5-9 (5 % held out for
    #    validation), tested on all test images of 5-9.
    #    a. As the article does it: the whole backbone frozen, a new head.
    model: dict[str, Any] = {"backbone": "alexnet", "weights": weights}
    data: dict[str, Any] = {"classes": TARGET, "validation": 0.05}
    strategy: dict[str, Any] = {"kind": "feature_extraction", "epochs": 5, "learning_rate": 1e-3}
    if args.short:
        model["width"] = 0.25
        data["max_train"], strategy["epochs"] = 500, 1
    runs["AlexNet as a fixed feature extractor (pretrained on 0-4, new head on 5-9)"] = run_experiment(
        _config(data, model, strategy, {"run_dir": str(args.run_dir)}), verbose=0
    )
    #    b. As Keras' mnist_transfer_cnn does it: the convolutions (stem..block4) frozen, their
    #       BatchNorm in inference mode; the dense `fc` group and a new head retrained.
    strategy = KERAS_WAY_STRATEGY | ({"epochs": 1} if args.short else {})
    data = dict(data, augment="light")
    runs["AlexNet, convolutions frozen, fc + new head retrained (the Keras way)"] = run_experiment(
        _config(data, model, strategy, {"run_dir": str(args.run_dir), "schedule": "cosine"}), verbose=0
    )
    # 2. VGG16 on MNIST resized to 32x32x3 inside the model; random weights here (no ImageNet
    #    download on this machine), so every group trains, after a head warm-up.
    model = {"backbone": "vgg16", "input_size": [32, 32]}
    data = {"max_train": 300 if args.short else 6000, "validation": 0.05}
    strategy = {
        "kind": "fine_tune",
        "warmup_epochs": 1,
        "epochs": 1 if args.short else 2,
        "learning_rate": 1e-3,
        "finetune_learning_rate": 1e-4,
    }
    runs["VGG16 fine-tuned on MNIST at 32x32x3 (random weights)"] = run_experiment(
        _config(data, model, strategy, {"run_dir": str(args.run_dir)}), verbose=0
    )
    lines = ["| experiment | training images | test images | test accuracy | time |", "|---|---|---|---|---|"]
    for name, result in runs.items():
        train_images = result.config.data.max_train or "all"
        lines.append(
            f"| {name} | {train_images} | {len(result.report.labels)} | "
            f"{100 * result.test_accuracy:.2f} % | {_training_time(result)} |"
        )
    return "\n".join(lines), {
        name: {"accuracy": r.test_accuracy, "seconds": r.train_seconds, "run_dir": str(r.run_dir)}
        for name, r in runs.items()
    } | {"source_backbone": weights}


def precision(args: argparse.Namespace) -> tuple[str, dict[str, Any]]:
    """float32 vs bfloat16 (mixed precision, head in float32): accuracy and speed."""
    from transferlab.experiments import run_experiment

    rows = {}
    for name in ("float32", "bfloat16"):
        data: dict[str, Any] = {"max_train": 1000 if args.short else 20000, "validation": 0.05}
        model: dict[str, Any] = {"backbone": "alexnet", "width": 0.25 if args.short else 1.0}
        strategy = {"kind": "scratch", "warmup_epochs": 0, "epochs": 1 if args.short else 2}
        result = run_experiment(
            _config(
                data, model, strategy, {"precision": name, "batch_size": 64, "run_dir": str(args.run_dir)}
            ),
            verbose=0,
        )
        images = data["max_train"] * 0.95 * strategy["epochs"]
        rows[name] = {
            "accuracy": result.test_accuracy,
            "seconds": result.train_seconds,
            "images_per_second": images / result.train_seconds,
        }
    base = rows["float32"]["images_per_second"]
    lines = ["| precision | test accuracy | training img/s | speed vs float32 |", "|---|---|---|---|"]
    for name, row in rows.items():
        lines.append(
            f"| {name} | {100 * row['accuracy']:.2f} % | {row['images_per_second']:.0f} | "
            f"{row['images_per_second'] / base:.2f}x |"
        )
    return "\n".join(lines), rows


EXPERIMENTS: dict[str, Callable[[argparse.Namespace], tuple[str, dict[str, Any]]]] = {
    "few-shot": few_shot,
    "alexnet-scratch": alexnet_scratch,
    "seed-experiments": seed_experiments,
    "precision": precision,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("experiment", nargs="?", choices=[*EXPERIMENTS, "all"], default="all")
    parser.add_argument("--short", action="store_true", help="CI-sized: checks the script only")
    parser.add_argument("--seeds", default="0,1,2", help="few-shot: the seeds, comma-separated")
    parser.add_argument("--ks", default="1,5,10,50,100", help="few-shot: labels per class, comma-separated")
    parser.add_argument(
        "--methods",
        default="",
        help="few-shot: the ids of the methods to run, comma-separated (default: all)",
    )
    parser.add_argument(
        "--target",
        type=Path,
        default=None,
        help="few-shot: an IDX folder (train-/t10k- images and labels) whose classes to transfer to, "
        "instead of MNIST digits 5-9 (e.g. Fashion-MNIST: another domain)",
    )
    parser.add_argument("--run-dir", type=Path, default=Path("runs"), help="run folders go here")
    parser.add_argument(
        "--out", type=Path, default=None, help="where tables and JSON go (default: <run-dir>/results)"
    )
    args = parser.parse_args(argv)
    out = args.out or args.run_dir / "results"
    out.mkdir(parents=True, exist_ok=True)
    names = list(EXPERIMENTS) if args.experiment == "all" else [args.experiment]
    options = list(sys.argv[1:] if argv is None else argv)  # the command's flags, for each table's note
    if args.experiment in options:
        options.remove(args.experiment)
    for name in names:
        started = time.perf_counter()
        table, raw = EXPERIMENTS[name](args)
        elapsed = time.perf_counter() - started
        command = shlex.join(["python", "examples/reproduce_results.py", name, *options])
        text = f"### {name}\n\n{table}\n\n(`{command}`, {elapsed / 60:.1f} min)\n"
        print("\n" + text, flush=True)
        (out / f"{name}.md").write_text(text, encoding="utf-8")
        (out / f"{name}.json").write_text(json.dumps(raw, indent=2, default=str), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
