"""``transferlab predict``: classify image files with a trained model."""

from __future__ import annotations

import argparse
import csv
import io
import json
from pathlib import Path
from typing import TypedDict

__all__ = ["register"]

HELP = "classify PNG/JPEG, IDX or NumPy files with a trained model (.keras, SavedModel or run folder)"
_OUTPUT_SUFFIXES = (".csv", ".json")


class _Row(TypedDict):
    """One image's prediction: where it came from (printable) and its top classes, most probable first."""

    source: str
    top: list[tuple[str, float]]


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Adds the ``predict`` command to the top-level parser."""
    parser = subparsers.add_parser("predict", help=HELP, description=HELP[0].upper() + HELP[1:] + ".")
    parser.add_argument(
        "model",
        metavar="MODEL_OR_RUN",
        help="a .keras file, a SavedModel folder, or a run folder holding model.keras",
    )
    parser.add_argument(
        "files",
        metavar="FILE",
        nargs="+",
        help="images (.png, .jpg), IDX files or NumPy .npy/.npz files; resized to the model's input size",
    )
    parser.add_argument(
        "--output",
        metavar="PATH",
        help="write the predictions to a .csv or .json file instead of printing them",
    )
    parser.add_argument(
        "--top-k", type=int, default=1, metavar="K", help="the K most probable classes per image (default: 1)"
    )
    parser.add_argument(
        "--batch-size", type=int, default=256, metavar="N", help="images per forward pass (default: 256)"
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Reads the files, predicts, and prints one line per image (or writes ``--output``)."""
    from transferlab.errors import ConfigError, describe
    from transferlab.serving import load_trained_model, predict, read_images
    from transferlab.serving.predictions import display_name

    output = Path(args.output) if args.output else None
    if output is not None and output.suffix.lower() not in _OUTPUT_SUFFIXES:
        raise ConfigError(
            describe(
                "`--output` must name a .csv or .json file",
                received=f"--output {args.output}",
                accepted="out.csv, out.json",
            )
        )
    if args.top_k < 1:
        raise ConfigError(describe("`--top-k` must be at least 1", received=f"--top-k {args.top_k}"))
    model = load_trained_model(args.model)
    shape = tuple(model.input_shape[1:])
    size = None if None in shape[:2] else (int(shape[0]), int(shape[1]))
    channels = int(shape[2]) if len(shape) == 3 and shape[2] is not None else 1
    sources: list[str] = []
    stacks = []
    for file in args.files:
        images = read_images(file, size=size, channels=channels)
        # an undecodable byte in a file name is written as \xNN, not a failure to write the output
        name = display_name(file)
        sources += [name] if _holds_one_image(file) else [f"{name}[{i}]" for i in range(len(images))]
        stacks.append(images)
    import numpy as np

    num_classes = int(model.output_shape[-1])
    predictions = predict(
        model,
        np.concatenate(stacks),
        batch_size=args.batch_size,
        class_names=_class_names(Path(args.model), num_classes),
    )
    indices, probs = predictions.top_k(args.top_k)
    rows: list[_Row] = [
        {"source": source, "top": [(predictions.class_names[c], float(p)) for c, p in zip(row_c, row_p)]}
        for source, row_c, row_p in zip(sources, indices, probs)
    ]
    if output is None:
        for row in rows:
            print("\t".join([row["source"]] + [f"{name}\t{p:.4f}" for name, p in row["top"]]))
        return 0
    from transferlab._atomic import atomic_write_text

    text = _to_json(rows) if output.suffix.lower() == ".json" else _to_csv(rows, args.top_k)
    atomic_write_text(output, text)
    print(f"wrote {len(rows)} predictions to {output}")
    return 0


def _holds_one_image(file: str) -> bool:
    return Path(file).suffix.lower() in (".png", ".jpg", ".jpeg")


def _class_names(source: Path, num_classes: int) -> list[str] | None:
    """Class names saved with the model: a run's ``config.json`` or an export's metadata."""
    folder = source if source.is_dir() else source.parent
    candidates: list[object] = []
    config = folder / "config.json"
    if config.is_file():
        try:
            candidates.append(json.loads(config.read_text(encoding="utf-8"))["train"]["classes"])
        except (ValueError, KeyError, TypeError):
            pass
    metadata = folder / "assets.extra" / "transferlab.json"
    if metadata.is_file():
        try:
            candidates.append(json.loads(metadata.read_text(encoding="utf-8"))["class_names"])
        except (ValueError, KeyError, TypeError):
            pass
    for names in candidates:
        if isinstance(names, list) and len(names) == num_classes:
            return [str(n) for n in names]
    return None


def _to_csv(rows: list[_Row], k: int) -> str:
    header = ["source", "class", "probability"]
    for rank in range(2, k + 1):
        header += [f"class_{rank}", f"probability_{rank}"]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow([row["source"]] + [v for name, p in row["top"] for v in (name, f"{p:.6f}")])
    return buffer.getvalue()


def _to_json(rows: list[_Row]) -> str:
    items = [
        {
            "source": row["source"],
            "class": row["top"][0][0],
            "probability": row["top"][0][1],
            "top_k": [{"class": name, "probability": p} for name, p in row["top"]],
        }
        for row in rows
    ]
    return json.dumps(items, indent=2) + "\n"
