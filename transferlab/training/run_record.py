"""What a run leaves for a person to read: checkpoints, the summary, the history of its epochs."""

from __future__ import annotations

import errno
import math
import shutil
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import keras
import numpy as np

from transferlab._atomic import atomic_path, storage_error
from transferlab.errors import DivergenceError, TransferlabError, describe
from transferlab.training.metrics_logger import MetricsLogger
from transferlab.training.run_folder import RunFolder

__all__ = [
    "Checkpoints",
    "estimated_bytes",
    "history_from_rows",
    "save_model",
    "save_weights",
    "summary_text",
]


class Checkpoints(keras.callbacks.Callback):
    """``checkpoints/last.weights.h5`` every epoch, ``best.weights.h5`` on improvement, atomically.

    ``model`` is the whole classifier, also when ``fit`` trains only its head
    on cached features. "Best" compares ``monitor`` with every earlier row of
    the run (all phases), so it survives a resume.

    Args:
        run: The run folder.
        model: The model whose weights are saved.
        monitor: The logged value to minimise (``"val_loss"`` or ``"loss"``).
        history: The run's metrics logger (its rows are the earlier epochs).
    """

    def __init__(self, run: RunFolder, model: keras.Model, monitor: str, history: MetricsLogger) -> None:
        super().__init__()
        self.run, self.target, self.monitor, self.history = run, model, monitor, history

    def on_epoch_end(self, epoch: int, logs: Mapping[str, float] | None = None) -> None:
        logs = logs or {}
        value = logs.get(self.monitor)
        if value is None or not math.isfinite(float(value)):
            return  # a diverged epoch is never saved as last or best
        save_weights(self.target, self.run.checkpoints_dir / "last.weights.h5")
        earlier = [
            float(r[self.monitor])
            for r in self.history.rows
            if int(r["epoch"]) < epoch + 1 and r.get(self.monitor) is not None
        ]
        if not earlier or float(value) < min(earlier):
            save_weights(self.target, self.run.checkpoints_dir / "best.weights.h5")


#: Bytes added to a file's estimated size: HDF5/zip metadata per variable, and for the whole file.
_PER_VARIABLE = 4096
_MARGIN = 1 << 20


def estimated_bytes(model: keras.Model, *, optimizer: bool = False) -> int:
    """A generous estimate of the bytes ``model.save_weights`` (or ``model.save``) writes.

    The variables' bytes, 10% more, 4 KiB per variable and 1 MiB of margin.

    Args:
        model: The model.
        optimizer: Count the optimizer's variables too (``model.save`` keeps them).

    Example:
        >>> import keras
        >>> model = keras.Sequential([keras.Input((10,)), keras.layers.Dense(100)])
        >>> estimated_bytes(model) > 1100 * 4
        True
    """
    variables = list(model.weights)
    opt = getattr(model, "optimizer", None)
    if optimizer and opt is not None:
        variables += list(getattr(opt, "variables", []))
    raw = sum(
        int(np.prod(v.shape)) * np.dtype(keras.backend.standardize_dtype(v.dtype)).itemsize for v in variables
    )
    return int(raw * 1.1) + _PER_VARIABLE * len(variables) + _MARGIN


def _check_space(path: Path, needed: int) -> None:
    folder = path.parent
    probe = next((p for p in (folder, *folder.parents) if p.exists()), folder)
    try:
        free = shutil.disk_usage(probe).free
    except OSError:
        return  # unknown: the write itself will tell
    if free < needed:
        raise storage_error(
            path,
            OSError(
                errno.ENOSPC,
                f"writing it needs about {needed / 1e6:.1f} MB, {free / 1e6:.1f} MB are free; "
                "nothing was written",
            ),
        )


def _check_finite(model: keras.Model, path: Path) -> None:
    for variable in model.weights:
        values = keras.ops.convert_to_numpy(variable.value)
        if values.dtype.kind == "f" and not np.isfinite(values).all():
            raise DivergenceError(
                describe(
                    f"Refusing to save non-finite weights to {path}: the training diverged",
                    received=f"variable {variable.path!r} holds NaN or infinite values",
                    fix="lower the learning rate (e.g. by 10x) and train again; "
                    f"{path.name} keeps its previous content",
                )
            )


def _save(model: keras.Model, path: Path, write: Callable[[str], None], *, optimizer: bool) -> None:
    path = Path(path)
    _check_finite(model, path)
    _check_space(path, estimated_bytes(model, optimizer=optimizer))
    with atomic_path(path) as tmp:
        try:
            write(str(tmp))
        except TransferlabError:
            raise
        except OSError as error:  # h5py and zipfile report a full disk as OSError
            raise storage_error(path, error) from None


def save_weights(model: keras.Model, path: Path) -> None:
    """``model.save_weights`` through a temporary file, then an atomic rename.

    Raises:
        DivergenceError: The model's weights are not finite (nothing is written).
        StorageError: Too little free space for the estimated size (checked
            first), or the write failed; ``path`` keeps its old content and no
            temporary file is left.
    """
    _save(model, path, model.save_weights, optimizer=False)


def save_model(model: keras.Model, path: Path) -> None:
    """``model.save`` (``.keras``) through a temporary file, then an atomic rename.

    Raises:
        DivergenceError: The model's weights are not finite (nothing is written).
        StorageError: Too little free space for the estimated size (checked
            first), or the write failed; ``path`` keeps its old content and no
            temporary file is left.
    """
    _save(model, path, model.save, optimizer=True)


def history_from_rows(rows: Sequence[Mapping[str, object]]) -> dict[str, list[float]]:
    """``{metric: [value per epoch]}`` from the run's metric rows (like ``History.history``).

    Example:
        >>> history_from_rows([{"epoch": 1, "phase": "a", "loss": 0.5, "seconds": 1.0}])
        {'loss': [0.5]}
    """
    history: dict[str, list[float]] = {}
    for row in rows:
        for key, value in row.items():
            if key not in ("epoch", "phase", "seconds") and isinstance(value, (int, float)):
                history.setdefault(key, []).append(float(value))
    return history


def _record(value: object) -> Mapping[str, object]:
    """``value`` when it is a JSON object (a mapping), else an empty one: the summary reads
    the Trainer's ``config.json``/``decisions.json`` records, untyped JSON."""
    return value if isinstance(value, Mapping) else {}


def _rates_text(record: Mapping[str, object]) -> str:
    """``head 0.001, block2 0.0005`` from a phase's learning-rate record (``PhaseRates.as_dict()``)."""
    if not record:
        return "-"

    def one(value: object) -> str:
        entry = _record(value)
        rate = entry.get("rate")
        return f"{rate:.3g}" if isinstance(rate, float) else f"{entry.get('scale', 1.0):.3g} x schedule"

    parts = [f"head {one(record.get('head', {}))}"]
    parts += [f"{name} {one(entry)}" for name, entry in _record(record.get("groups", {})).items()]
    return ", ".join(parts)


def summary_text(
    name: str,
    config: Mapping[str, object],
    rows: Sequence[Mapping[str, int | float | str]],
    decisions: Mapping[str, object],
    *,
    resumed: tuple[int, int, int] | None,
    seconds: float,
    monitor: str,
) -> str:
    """The run's ``summary.md``: what ran, how, and its result, in a few lines.

    ``config`` and ``decisions`` are the run's ``config.json`` and ``decisions.json`` records.
    """
    lines = [f"# Run `{name}`", ""]
    lines.append(
        f"- Model: `{config['model']}` (backbone `{config['backbone']}`, {config['num_params']:,} parameters)"
    )
    lines.append(f"- Strategy: `{config['strategy']}`")
    lines.append(
        f"- Distribution: {config['distribution']} with {config['replicas']} replica(s); "
        f"global batch {config['global_batch_size']}"
    )
    options = _record(config["options"])
    lines.append(
        f"- Precision: {config['precision']}; seed {options['seed']}; deterministic: {options['deterministic']}"
    )
    lines.append(
        f"- Examples: {_record(config['train'])['examples']} train"
        + (f", {_record(config['validation'])['examples']} validation" if config["validation"] else "")
    )
    lines.append(f"- Identity: `{config['identity']}`")
    if resumed:
        lines.append(f"- Resumed from phase {resumed[0]}, epoch {resumed[1]}, step {resumed[2]}")
    lines.append(f"- Wall time of this process: {seconds:.1f} s")
    lines += [
        "",
        "## Phases",
        "",
        "| phase | epochs | trainable groups | learning rates | feature cache |",
        "|---|---|---|---|---|",
    ]
    rates = _record(decisions.get("learning_rates", {}))
    feature_cache = _record(decisions.get("feature_cache", {}))
    phases = config["phases"]
    for phase in map(_record, phases if isinstance(phases, (list, tuple)) else []):
        trainable = phase.get("trainable_groups", [])
        groups = ", ".join(map(str, trainable if isinstance(trainable, (list, tuple)) else [])) or "head only"
        phase_name = phase.get("name")
        if isinstance(phase_name, str):
            cache, rate_text = (
                feature_cache.get(phase_name, "-"),
                _rates_text(_record(rates.get(phase_name, {}))),
            )
        else:
            cache, rate_text = "-", "-"
        lines.append(f"| {phase_name} | {phase.get('epochs')} | {groups} | {rate_text} | {cache} |")
    if rows:
        last = rows[-1]
        scored = [r for r in rows if r.get(monitor) is not None]
        lines += ["", "## Result", ""]
        metrics = ", ".join(
            f"{k} {v:.4f}"
            for k, v in last.items()
            if isinstance(v, float) and k not in ("seconds", "learning_rate")
        )
        lines.append(f"- Last epoch ({last['epoch']}, phase {last['phase']}): {metrics}")
        if scored:
            best = min(scored, key=lambda r: float(r[monitor]))
            lines.append(
                f"- Best {monitor}: {float(best[monitor]):.4f} at epoch {best['epoch']} ({best['phase']})"
            )
    lines += [
        "",
        "Files: identity.json, config.json, environment.json, decisions.json, metrics.csv, metrics.json, "
        "tensorboard/, checkpoints/, model.keras",
        "",
    ]
    return "\n".join(lines)
