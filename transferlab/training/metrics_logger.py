"""``MetricsLogger``: one row per epoch, with the phase name, into the run folder (CSV + JSON)."""

from __future__ import annotations

import time
from typing import SupportsFloat

import keras

from transferlab.training.run_folder import MetricRow, RunFolder

__all__ = ["MetricsLogger"]


class MetricsLogger(keras.callbacks.Callback):
    """Writes ``metrics.csv`` and ``metrics.json`` after every epoch, continuous across phases.

    Unlike ``keras.callbacks.CSVLogger`` it adds the phase name and the
    learning rate, survives a resume (rows of epochs that are trained again
    are replaced, not duplicated) and writes each file atomically. The CSV's
    columns are in a canonical order (:meth:`RunFolder.metric_columns`), not
    in the order Keras gives the logs, so a resumed run writes the same
    ``metrics.csv`` as an uninterrupted one.

    Args:
        run: The run folder (only the chief writes).
        phase: The current phase's name (set it before each phase).
        start_epoch: Rows from this epoch on are dropped (they will be trained again).

    Example:
        >>> import tempfile
        >>> logger = MetricsLogger(RunFolder(tempfile.mkdtemp(), "r"), phase="head")
        >>> logger.on_epoch_end(0, {"loss": 0.5})
        >>> logger.rows[0]["phase"], logger.rows[0]["epoch"], logger.rows[0]["loss"]
        ('head', 1, 0.5)
    """

    def __init__(self, run: RunFolder, *, phase: str = "", start_epoch: int = 0) -> None:
        super().__init__()
        self.run = run
        self.phase = phase
        self.rows: list[MetricRow] = [
            row for row in run.read_metrics() if int(row.get("epoch", 0)) <= start_epoch
        ]
        self._started = time.perf_counter()

    def on_epoch_begin(self, epoch: int, logs: dict[str, object] | None = None) -> None:
        self._started = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs: dict[str, object] | None = None) -> None:
        row: MetricRow = {"epoch": epoch + 1, "phase": self.phase}
        for key, value in (logs or {}).items():
            if not isinstance(value, SupportsFloat):  # numbers, NumPy scalars, tensors
                continue
            try:
                row[key] = float(value)
            except (TypeError, ValueError):
                continue
        model = getattr(self, "_model", None)
        optimizer = getattr(model, "optimizer", None) if model is not None else None
        if optimizer is not None and "learning_rate" not in row:
            try:
                row["learning_rate"] = float(keras.ops.convert_to_numpy(optimizer.learning_rate))
            except Exception:  # a schedule: leave it out
                pass
        row["seconds"] = round(time.perf_counter() - self._started, 3)
        row = {key: row[key] for key in RunFolder.metric_columns([row])}
        self.rows = [r for r in self.rows if int(r["epoch"]) < epoch + 1] + [row]
        self.run.write_metrics(self.rows)
