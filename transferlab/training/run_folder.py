"""The folder a training run leaves behind: ``runs/<name>/``, readable by a person."""

from __future__ import annotations

import csv
import io
import json
import platform
import re
import shutil
from pathlib import Path
from typing import Any

from transferlab._atomic import atomic_write_json, atomic_write_text
from transferlab.errors import ConfigError, describe

__all__ = ["RunFolder"]

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


class RunFolder:
    """Paths and atomic writers for one run's folder.

    Layout::

        runs/<name>/
            config.json        resolved configuration of the run
            environment.json   versions, devices, distribution
            decisions.json     what "auto" options became, and why (feature cache, precision)
            metrics.csv        one row per epoch, with the phase name
            metrics.json       the same rows as a JSON list
            tensorboard/       TensorBoard event files
            checkpoints/       best.weights.h5, last.weights.h5
            model.keras        the final model, input adaptation inside
            summary.md         a short human-readable summary
            backup/<worker>/   exact-resume state, one folder per worker

    Only the chief writes the reports and the model (``is_chief``); every
    worker has its own backup folder. Every file is written atomically (temp
    file in the same folder, then ``os.replace``).

    Args:
        root: The folder holding runs (``"runs"``).
        name: The run's name: letters, digits, ``.``, ``_``, ``-``.
        is_chief: Whether this process writes the reports.
        worker: This process's name, used for its backup folder.

    Example:
        >>> import tempfile
        >>> run = RunFolder(tempfile.mkdtemp(), "demo")
        >>> _ = run.write_json("config.json", {"seed": 0})
        >>> run.read_json("config.json")
        {'seed': 0}
        >>> run.backup_dir.name
        'chief'
    """

    def __init__(self, root: str | Path, name: str, *, is_chief: bool = True, worker: str = "chief") -> None:
        if not isinstance(name, str) or not _NAME.fullmatch(name):
            raise ConfigError(
                describe(
                    "`run_name` must be letters, digits, '.', '_' or '-', starting with a letter or digit",
                    received=f"run_name={name!r}",
                    fix="pass e.g. run_name='mnist-finetune-1'",
                )
            )
        self.root = Path(root)
        self.name = name
        self.path = self.root / name
        self.is_chief = is_chief
        self.worker = worker
        self.path.mkdir(parents=True, exist_ok=True)

    # Paths ---------------------------------------------------------------
    @property
    def backup_dir(self) -> Path:
        """This worker's own exact-resume folder (``backup/<worker>``)."""
        return self.path / "backup" / self.worker

    @property
    def tensorboard_dir(self) -> Path:
        """Where TensorBoard event files go (chief only)."""
        return self.path / "tensorboard"

    @property
    def checkpoints_dir(self) -> Path:
        """Where ``best.weights.h5`` and ``last.weights.h5`` go."""
        return self.path / "checkpoints"

    @property
    def model_path(self) -> Path:
        """The final ``.keras`` model."""
        return self.path / "model.keras"

    # Writers ---------------------------------------------------------------
    def write_json(self, name: str, obj: Any) -> Path | None:
        """Writes ``obj`` to ``<run>/<name>`` as JSON (chief only; ``None`` elsewhere)."""
        if not self.is_chief:
            return None
        return atomic_write_json(self.path / name, obj)

    def write_text(self, name: str, text: str) -> Path | None:
        """Writes ``text`` to ``<run>/<name>`` (chief only; ``None`` elsewhere)."""
        if not self.is_chief:
            return None
        return atomic_write_text(self.path / name, text)

    def read_json(self, name: str) -> Any:
        """Reads ``<run>/<name>``, or returns ``None`` when it does not exist."""
        path = self.path / name
        if not path.is_file():
            return None
        return json.loads(path.read_text(encoding="utf-8"))

    def write_metrics(self, rows: list[dict[str, Any]]) -> None:
        """Writes the per-epoch rows as ``metrics.csv`` and ``metrics.json`` (chief only).

        Example:
            >>> import tempfile
            >>> run = RunFolder(tempfile.mkdtemp(), "m")
            >>> run.write_metrics([{"epoch": 1, "phase": "head", "loss": 0.5}])
            >>> (run.path / "metrics.csv").read_text().splitlines()[0]
            'epoch,phase,loss'
        """
        if not self.is_chief:
            return
        columns: list[str] = []
        for row in rows:
            columns.extend(key for key in row if key not in columns)
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        atomic_write_text(self.path / "metrics.csv", buffer.getvalue())
        atomic_write_json(self.path / "metrics.json", rows)

    def read_metrics(self) -> list[dict[str, Any]]:
        """The rows of ``metrics.json``, or ``[]``."""
        rows = self.read_json("metrics.json")
        return list(rows) if rows else []

    def write_environment(self, distribution: str, extra: dict[str, Any] | None = None) -> None:
        """Writes ``environment.json``: Python, TensorFlow, Keras, NumPy, devices, distribution."""
        if not self.is_chief:
            return
        import keras
        import numpy as np
        import tensorflow as tf

        from transferlab import __version__

        env: dict[str, Any] = {
            "python": platform.python_version(),
            "platform": platform.platform(),
            "transferlab": __version__,
            "tensorflow": tf.__version__,
            "keras": keras.__version__,
            "numpy": np.__version__,
            "devices": [d.name for d in tf.config.list_logical_devices()],
            "distribution": distribution,
        }
        env.update(extra or {})
        self.write_json("environment.json", env)

    def clear_backup(self) -> None:
        """Deletes this worker's backup folder (after a finished run, or to start afresh)."""
        shutil.rmtree(self.backup_dir, ignore_errors=True)

    def __repr__(self) -> str:
        return f"RunFolder({str(self.path)!r})"
