"""The folder a training run leaves behind: ``runs/<name>/``, readable by a person, owned by one run."""

from __future__ import annotations

import contextlib
import csv
import datetime
import io
import json
import math
import os
import platform
import re
import shutil
import socket
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, Literal, TypeAlias

from transferlab._atomic import (
    atomic_write_json,
    atomic_write_text,
    clean_partial_writes,
    is_partial_write,
    storage_error,
)
from transferlab.errors import (
    ConfigError,
    ResumeError,
    RunConflictError,
    RunLockedError,
    TransferlabError,
    describe,
)
from transferlab.training.identity import RunIdentity

try:  # POSIX; elsewhere runs are not locked
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

__all__ = ["ClaimState", "MetricRow", "RunFolder"]

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_IDENTITY_FILE = "identity.json"
_FORMAT = 1
_FIRST_COLUMNS = ("epoch", "phase")
_LAST_COLUMNS = ("learning_rate", "seconds")

ClaimState: TypeAlias = Literal["new", "resume", "finished"]
#: One row of the metrics: ``epoch`` (int), ``phase`` (str), metrics, ``learning_rate``, ``seconds`` (floats).
MetricRow: TypeAlias = dict[str, int | float | str]


def _check_name(what: str, value: object, example: str) -> None:
    if not isinstance(value, str) or not _NAME.fullmatch(value):
        raise ConfigError(
            describe(
                f"`{what}` must be letters, digits, '.', '_' or '-', starting with a letter or digit",
                received=f"{what}={value!r}",
                fix=f"pass e.g. {what}={example!r}",
            )
        )


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).astimezone().isoformat(timespec="seconds")


class RunFolder:
    """Paths, atomic writers, identity and lock of one run's folder.

    Layout::

        runs/<name>/
            identity.json      the run's identity (digest, components) and status
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
        runs/.locks/<name>.<worker>.lock   held while a process trains the run

    Creating a ``RunFolder`` touches nothing on disk. :meth:`claim` makes the
    folder this run's: it takes the worker's lock, then creates the folder
    (a new run), accepts it (the same run: resume, or finished already) or
    refuses it (another run: :class:`~transferlab.errors.RunConflictError`,
    the folder left exactly as it was). Only the chief writes the reports,
    the model and ``identity.json``; every worker has its own backup folder.
    Every file is written atomically, as strict JSON where it is JSON (NaN
    and infinities as ``null``).

    Args:
        root: The folder holding runs (``"runs"``).
        name: The run's name: letters, digits, ``.``, ``_``, ``-``.
        is_chief: Whether this process writes the reports.
        worker: This process's name, used for its backup folder and lock.

    Example:
        >>> import tempfile
        >>> from transferlab.training.identity import RunIdentity
        >>> run = RunFolder(tempfile.mkdtemp(), "demo")
        >>> run.path.exists()
        False
        >>> identity = RunIdentity.from_components({"seed": 0})
        >>> with run:
        ...     run.claim(identity)
        ...     _ = run.write_json("config.json", {"seed": 0})
        ...     run.finish()
        'new'
        >>> run.read_json("config.json"), run.status
        ({'seed': 0}, 'finished')
        >>> with run:
        ...     run.claim(identity)
        'finished'
        >>> run.backup_dir.name
        'chief'
    """

    def __init__(self, root: str | Path, name: str, *, is_chief: bool = True, worker: str = "chief") -> None:
        _check_name("run_name", name, "mnist-finetune-1")
        _check_name("worker", worker, "worker1")
        self.root = Path(root)
        self.name = name
        self.path = self.root / name
        self.is_chief = is_chief
        self.worker = worker
        self._lock_handle: IO[str] | None = None
        self._claimed: RunIdentity | None = None

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

    @property
    def identity_path(self) -> Path:
        """``<run>/identity.json``: the run's identity and status."""
        return self.path / _IDENTITY_FILE

    @property
    def lock_path(self) -> Path:
        """This worker's lock file, outside the run folder: ``<root>/.locks/<name>.<worker>.lock``."""
        return self.root / ".locks" / f"{self.name}.{self.worker}.lock"

    # Identity and lock -----------------------------------------------------
    @property
    def status(self) -> str | None:
        """``"running"`` or ``"finished"`` from ``identity.json``; ``None`` without a readable one."""
        record = self._read_record()
        if not isinstance(record, dict):
            return None
        return "finished" if record.get("status") == "finished" else "running"

    def claim(self, identity: RunIdentity, *, overwrite: bool = False) -> ClaimState:
        """Takes this worker's lock and makes the folder ``identity``'s run.

        1. Takes the lock ``<root>/.locks/<name>.<worker>.lock`` (``flock``,
           without waiting); it holds this process's pid, host and start
           time, and is held until :meth:`release` or the process ends.
        2. Compares ``identity`` with the folder's ``identity.json``:

           - no folder, or an empty one: ``"new"`` (the chief creates it and
             writes ``identity.json``, status running);
           - the same identity, running: ``"resume"``;
           - the same identity, finished: ``"finished"`` (nothing is written);
           - another identity, or files without ``identity.json``:
             :class:`~transferlab.errors.RunConflictError` listing what
             differs; nothing in the folder changes;
           - ``overwrite=True`` and an existing run (any identity or status):
             the chief deletes the folder's contents (a non-chief worker its
             own backup), then ``"new"``.

        3. For ``"new"`` and ``"resume"``, deletes leftovers of interrupted
           atomic writes in the folder (a non-chief worker: in its own backup
           folder; the chief leaves other workers' backups alone).

        Non-chief workers never write ``identity.json``; they check it when
        the chief has written it (without it, ``"new"``). The position every
        worker resumes from is agreed on separately, from their backups.

        Args:
            identity: The run's identity (see :class:`RunIdentity`).
            overwrite: Delete an existing run under this name and start afresh.

        Returns:
            ``"new"``, ``"resume"`` or ``"finished"``.

        Raises:
            RunLockedError: Another process holds this worker's lock (the
                message names its pid, host and start time).
            RunConflictError: The folder holds another run.
            StorageError: The runs folder, the lock or the run folder cannot
                be written (read-only, missing permissions, a full disk); the
                message names the path and the fix.

        Example:
            >>> import tempfile
            >>> from transferlab.training.identity import RunIdentity
            >>> root = tempfile.mkdtemp()
            >>> avg = RunIdentity.from_components({"pooling": "avg"})
            >>> with RunFolder(root, "r") as run:
            ...     run.claim(avg)
            'new'
            >>> with RunFolder(root, "r") as run:
            ...     run.claim(RunIdentity.from_components({"pooling": "max"}))
            Traceback (most recent call last):
            ...
            transferlab.errors.RunConflictError: The run folder ... holds another (unfinished) run than the one being started. Received: what differs (that run ≠ this run): pooling: 'avg' ≠ 'max'. Fix: pass another run_name (e.g. run_name='r-2'), or overwrite=True (`--overwrite` on the command line) to delete that run and start afresh; nothing in the folder was changed.
            >>> with RunFolder(root, "r") as run, RunFolder(root, "r") as other:
            ...     run.claim(avg)
            ...     other.claim(avg)
            Traceback (most recent call last):
            ...
            transferlab.errors.RunLockedError: The run folder ... is in use by another process (worker 'chief'). Received: held by pid ...
        """
        if not isinstance(identity, RunIdentity):
            raise ConfigError(
                describe(
                    "`claim` needs the run's RunIdentity",
                    received=f"identity of type {type(identity).__name__}",
                    fix="pass RunIdentity.from_components({...})",
                )
            )
        held = self._lock_handle is not None
        try:
            self._lock()
        except TransferlabError:
            raise
        except OSError as error:
            raise storage_error(error.filename or self.lock_path, error) from None
        try:
            try:
                state = self._settle(identity, overwrite=bool(overwrite))
            except TransferlabError:
                raise
            except OSError as error:
                raise storage_error(error.filename or self.path, error) from None
        except BaseException:
            if not held:  # a lock taken by an earlier claim stays held
                self.release()
            raise
        self._claimed = identity
        return state

    def finish(self) -> None:
        """Marks ``identity.json`` finished (atomically; chief only, after :meth:`claim`).

        Raises:
            ResumeError: The run was not claimed by this object, or its
                ``identity.json`` is gone or holds another run.
        """
        if not self.is_chief:
            return
        record = self._read_record()
        if (
            self._claimed is None
            or not isinstance(record, dict)
            or record.get("digest") != self._claimed.digest
        ):
            raise ResumeError(
                describe(
                    "`finish` needs the run claimed by this RunFolder, with its identity.json in place",
                    received=f"run folder {self.path}, "
                    + ("not claimed" if self._claimed is None else "identity.json missing or another run's"),
                    fix="call claim(identity) first, and do not delete or replace identity.json while training",
                )
            )
        record.update(status="finished", finished=_now())
        atomic_write_json(self.identity_path, record)

    def release(self) -> None:
        """Releases this worker's lock (idempotent; the process ending releases it too)."""
        handle, self._lock_handle = self._lock_handle, None
        if handle is None:
            return
        try:
            handle.seek(0)
            handle.truncate()
        except OSError:
            pass
        finally:
            if fcntl is not None:
                with contextlib.suppress(OSError):
                    fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
            handle.close()

    def __enter__(self) -> RunFolder:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.release()

    def _lock(self) -> None:
        if self._lock_handle is not None or fcntl is None:
            return
        path = self.lock_path
        path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(path, "a+", encoding="utf-8")  # noqa: SIM115 - held until release()
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.seek(0)
            holder_text = handle.read()
            handle.close()
            raise RunLockedError(self._locked_message(holder_text)) from None
        holder = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "since": _now(),
            "folder": str(self.path),
            "worker": self.worker,
        }
        handle.seek(0)
        handle.truncate()
        handle.write(json.dumps(holder) + "\n")
        handle.flush()
        os.fsync(handle.fileno())
        self._lock_handle = handle

    def _locked_message(self, holder_text: str) -> str:
        try:
            holder = json.loads(holder_text)
            pid, host, since = holder["pid"], holder["host"], holder["since"]
        except (ValueError, KeyError, TypeError):
            received = "held by another process (it has not written its pid yet)"
            fix = "wait for that run to end, or stop it"
        else:
            received = f"held by pid {pid} on host {host} since {since}"
            if pid == os.getpid() and host == socket.gethostname():
                received += " (this very process: an earlier RunFolder of this run was not released)"
            fix = f"wait for that run to end, or stop it (`kill {pid}` on {host})"
        return describe(
            f"The run folder {self.path} is in use by another process (worker {self.worker!r})",
            received=received,
            fix=f"{fix}; to train another run at the same time, pass another run_name",
        )

    def _read_record(self) -> object:
        try:
            return json.loads(self.identity_path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as err:
            return err

    def _contents(self) -> list[Path]:
        """The folder's entries, without leftovers of interrupted writes; ``[]`` if it is absent."""
        if not self.path.is_dir():
            return []
        return sorted(p for p in self.path.iterdir() if not is_partial_write(p))

    def _settle(self, identity: RunIdentity, *, overwrite: bool) -> ClaimState:
        record = self._read_record()
        contents = self._contents()
        if overwrite and (contents or record is not None):
            if self.is_chief:
                self._remove_contents()
            else:
                shutil.rmtree(self.backup_dir, ignore_errors=True)
                return "new"
            record, contents = None, []
        if record is None and not contents:
            if self.is_chief:
                self.path.mkdir(parents=True, exist_ok=True)
                atomic_write_json(
                    self.identity_path,
                    {
                        "format": _FORMAT,
                        "digest": identity.digest,
                        "status": "running",
                        "started": _now(),
                        "finished": None,
                        "identity": dict(identity.components),
                    },
                )
            self._clean()
            return "new"
        if not isinstance(record, dict) or record.get("digest") != identity.digest:
            raise RunConflictError(self._conflict_message(identity, record, contents))
        if record.get("status") == "finished":
            return "finished"
        self._probe()
        self._clean()
        return "resume"

    def _probe(self) -> None:
        """Creates and deletes a file in the run folder: a run that cannot write fails here, untouched."""
        if not self.is_chief:
            return
        fd, probe = tempfile.mkstemp(prefix=".write-probe.partial-", suffix=".tmp", dir=self.path)
        os.close(fd)
        os.unlink(probe)

    def _clean(self) -> None:
        if not self.is_chief:
            clean_partial_writes(self.backup_dir)
            return
        backups = self.path / "backup"
        others = [p for p in backups.iterdir() if p.name != self.worker] if backups.is_dir() else []
        clean_partial_writes(self.path, exclude=others)

    def _remove_contents(self) -> None:
        # identity.json first: a folder half deleted no longer claims to be the old run
        self.identity_path.unlink(missing_ok=True)
        if not self.path.is_dir():
            return
        for entry in sorted(self.path.iterdir()):
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()

    def _conflict_message(self, identity: RunIdentity, record: object, contents: Sequence[Path]) -> str:
        fix = (
            f"pass another run_name (e.g. run_name={self.name + '-2'!r}), or overwrite=True "
            "(`--overwrite` on the command line) to delete that run and start afresh; "
            "nothing in the folder was changed"
        )
        if record is None:
            listed = ", ".join(p.name for p in contents[:5]) + (", …" if len(contents) > 5 else "")
            return describe(
                f"The run folder {self.path} holds files but no {_IDENTITY_FILE}: it was not written "
                "by this version of transferlab (or deleting it was interrupted)",
                received=f"{len(contents)} entries: {listed}",
                fix=fix,
            )
        if not isinstance(record, dict) or not isinstance(record.get("digest"), str):
            reason = str(record) if isinstance(record, Exception) else f"a {type(record).__name__}"
            return describe(
                f"The run folder {self.path} has a {_IDENTITY_FILE} that cannot be read",
                received=reason,
                fix=fix,
            )
        try:
            stored = RunIdentity.from_json({"components": record.get("identity"), "digest": record["digest"]})
            lines = stored.differences(identity)
        except (ResumeError, ConfigError) as err:
            lines = [f"(the stored identity cannot be compared: {err})"]
        status = "finished" if record.get("status") == "finished" else "unfinished"
        return describe(
            f"The run folder {self.path} holds another ({status}) run than the one being started",
            received="what differs (that run ≠ this run): " + "; ".join(lines),
            fix=fix,
        )

    # Writers ---------------------------------------------------------------
    def write_json(self, name: str, obj: object) -> Path | None:
        """Writes ``obj`` to ``<run>/<name>`` as strict JSON (chief only; ``None`` elsewhere).

        NaN and infinities are written as ``null``, so strict parsers read every file.
        """
        if not self.is_chief:
            return None
        return atomic_write_json(self.path / name, obj)

    def write_text(self, name: str, text: str) -> Path | None:
        """Writes ``text`` to ``<run>/<name>`` (chief only; ``None`` elsewhere)."""
        if not self.is_chief:
            return None
        return atomic_write_text(self.path / name, text)

    def read_json(self, name: str) -> object:
        """Reads ``<run>/<name>``, or returns ``None`` when it does not exist."""
        path = self.path / name
        if not path.is_file():
            return None
        return json.loads(path.read_text(encoding="utf-8"))

    @staticmethod
    def metric_columns(rows: Sequence[Mapping[str, object]]) -> list[str]:
        """The canonical column order of the metrics, whatever the rows' key order.

        ``epoch``, ``phase``, ``loss``, the other training metrics sorted,
        ``val_loss``, the other validation metrics sorted (so in the same
        order), then ``learning_rate`` and ``seconds``.

        Example:
            >>> RunFolder.metric_columns([{"val_acc": 1, "seconds": 2, "acc": 3, "loss": 4,
            ...                            "phase": "p", "epoch": 1, "val_loss": 5, "learning_rate": 6}])
            ['epoch', 'phase', 'loss', 'acc', 'val_loss', 'val_acc', 'learning_rate', 'seconds']
        """
        keys: set[str] = set()
        for row in rows:
            keys.update(row)
        first = [k for k in _FIRST_COLUMNS if k in keys]
        last = [k for k in _LAST_COLUMNS if k in keys]
        rest = keys.difference(first, last)

        def ordered(names: set[str], prefix: str) -> list[str]:
            loss = prefix + "loss"
            return ([loss] if loss in names else []) + sorted(names - {loss})

        train = {k for k in rest if not k.startswith("val_")}
        return first + ordered(train, "") + ordered(rest - train, "val_") + last

    def write_metrics(self, rows: Sequence[Mapping[str, object]]) -> None:
        """Writes the per-epoch rows as ``metrics.csv`` and ``metrics.json`` (chief only).

        The CSV's columns are in :meth:`metric_columns` order; NaN is ``nan``
        in the CSV and ``null`` in the JSON.

        Example:
            >>> import tempfile
            >>> run = RunFolder(tempfile.mkdtemp(), "m")
            >>> run.write_metrics([{"epoch": 1, "phase": "head", "val_loss": 0.7, "loss": 0.5}])
            >>> (run.path / "metrics.csv").read_text().splitlines()
            ['epoch,phase,loss,val_loss', '1,head,0.5,0.7']
        """
        if not self.is_chief:
            return
        columns = self.metric_columns(rows)
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        atomic_write_text(self.path / "metrics.csv", buffer.getvalue())
        atomic_write_json(
            self.path / "metrics.json", [{k: row[k] for k in columns if k in row} for row in rows]
        )

    def read_metrics(self) -> list[MetricRow]:
        """The rows of ``metrics.json`` (``null`` metrics back as NaN, keys in canonical order), or ``[]``.

        Example:
            >>> import tempfile
            >>> run = RunFolder(tempfile.mkdtemp(), "m")
            >>> run.write_metrics([{"epoch": 1, "phase": "head", "loss": float("nan")}])
            >>> run.read_metrics()
            [{'epoch': 1, 'phase': 'head', 'loss': nan}]
        """
        rows = self.read_json("metrics.json")
        if not isinstance(rows, list):
            return []
        dicts = [row for row in rows if isinstance(row, dict)]
        columns = self.metric_columns(dicts)
        result: list[MetricRow] = []
        for row in dicts:
            out: MetricRow = {}
            for key in columns:
                value = row.get(key)
                if isinstance(value, (int, float, str)):
                    out[key] = value
                elif key in row and key not in _FIRST_COLUMNS:  # null: a NaN or infinity was written
                    out[key] = math.nan
            result.append(out)
        return result

    def write_environment(self, distribution: str, extra: dict[str, object] | None = None) -> None:
        """Writes ``environment.json``: Python, TensorFlow, Keras, NumPy, devices, distribution."""
        if not self.is_chief:
            return
        import keras
        import numpy as np
        import tensorflow as tf

        from transferlab import __version__

        env: dict[str, object] = {
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
