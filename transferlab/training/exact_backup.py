"""Exact resume after a crash: the whole training state, backed up every few steps.

Keras' ``BackupAndRestore`` is exact at epoch ends only; with ``save_freq=N`` it
restores mid-epoch weights but restarts the epoch at batch 0, replaying batches.
:class:`ExactBackup` makes a mid-epoch restart exact:

- the data of epoch ``e`` must be a pure function of ``(seed, e)`` (the caller
  passes ``data_fn(epoch, skip_batches)``), so a restart can skip exactly the
  batches already consumed;
- every ``every_steps`` steps and at every epoch end it writes, in one atomic
  file, every model variable (weights, BatchNorm statistics, dropout seed
  state), every optimizer variable (iteration, learning rate, slots: see
  keras-team/keras#19389), the running metric accumulators, the state of
  ``EarlyStopping`` / ``ReduceLROnPlateau`` and the position
  ``(phase, epoch, step)``;
- on restart it restores all of it and trains the rest of the interrupted epoch
  as one ``fit`` call, the remaining epochs as another, with explicit
  ``initial_epoch`` (never the model's hidden ``_initial_epoch``, which leaks
  into later ``fit`` calls).

Each worker of a multi-worker job needs its own folder (a shared one crashes).
Workers are in lockstep only at collectives, so when one dies its peers' backups
may be a save or two ahead of its own: with ``keep=3`` each folder keeps its
last three backups (``state.npz``, ``state.1.npz``, ``state.2.npz``), every
worker lists them with :meth:`ExactBackup.positions`, and all resume from the
newest position they all have (:meth:`ExactBackup.use`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, cast

import keras
import numpy as np
import tensorflow as tf

from transferlab._atomic import atomic_write_bytes
from transferlab.errors import ConfigError, ResumeError, describe

__all__ = ["BackupPosition", "ExactBackup"]

_STATE_FILE = "state.npz"
_FORMAT = 1
# Attributes of Keras callbacks that carry state from epoch to epoch.
_CALLBACK_STATE = ("wait", "best", "best_epoch", "cooldown_counter", "stopped_epoch")

DataFn = Callable[[int, int], Any]


@dataclasses.dataclass(frozen=True)
class BackupPosition:
    """Where a backed-up run stands.

    Attributes:
        phase: Index of the phase in progress (or about to start).
        epoch: Index of the epoch in progress (0-based, counted over all phases).
        step: Batches of that epoch already trained.
    """

    phase: int
    epoch: int
    step: int


class ExactBackup:
    """Backs up and restores the complete training state of a ``fit``, exactly.

    Args:
        folder: This worker's own backup folder.
        every_steps: Back up every this many training steps (and at every
            epoch end). ``None``: at epoch ends only.
        write: Whether this process writes backups (all workers do, each to
            its own folder).
        keep: How many of the latest backups to keep (``state.npz``, then
            ``state.1.npz`` ...); a multi-worker job needs 3 so that every
            worker still has the position its peers resume from.

    Example:
        >>> import tempfile, numpy as np, keras, tensorflow as tf
        >>> model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
        >>> model.compile(optimizer="sgd", loss="mse")
        >>> x = np.ones((8, 2), "float32"); y = np.ones((8, 1), "float32")
        >>> data_fn = lambda epoch, skip: tf.data.Dataset.from_tensor_slices((x, y)).batch(2).skip(skip)
        >>> backup = ExactBackup(tempfile.mkdtemp(), every_steps=2)
        >>> logs = backup.fit_phase(model, data_fn, phase=0, initial_epoch=0, epochs=2,
        ...                         steps_per_epoch=4, verbose=0)
        >>> len(logs), backup.position()
        (2, BackupPosition(phase=0, epoch=2, step=0))
    """

    def __init__(
        self, folder: str | Path, *, every_steps: int | None = 50, write: bool = True, keep: int = 1
    ) -> None:
        if every_steps is not None and (not isinstance(every_steps, int) or every_steps < 1):
            raise ConfigError(
                describe(
                    "`every_steps` must be a whole number >= 1, or None (epoch ends only)",
                    received=f"every_steps={every_steps!r}",
                )
            )
        if isinstance(keep, bool) or not isinstance(keep, int) or keep < 1:
            raise ConfigError(
                describe("`keep` must be a whole number >= 1 (backups kept)", received=f"keep={keep!r}")
            )
        self.folder = Path(folder)
        self.every_steps = every_steps
        self.write = write
        self.keep = keep
        self._source: Path | None = None  # the file to resume from; None: the newest
        self._loaded: tuple[dict[str, Any], dict[str, np.ndarray]] | None = None
        self._loaded_done = False

    @property
    def state_path(self) -> Path:
        """The file holding the newest backup."""
        return self.folder / _STATE_FILE

    def _slot(self, index: int) -> Path:
        return self.state_path if index == 0 else self.folder / f"state.{index}.npz"

    def _files(self, slots: int | None = None) -> list[Path]:
        """This backup's files on disk, in slot order (newest written first)."""
        return [p for p in (self._slot(i) for i in range(slots or self.keep)) if p.is_file()]

    # Reading -----------------------------------------------------------------
    @staticmethod
    def _read(path: Path, *, meta_only: bool = False) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        try:
            with np.load(path, allow_pickle=False) as data:
                keys = ["__meta__"] if meta_only else list(data.files)
                arrays = {key: data[key] for key in keys}
            meta = json.loads(bytes(arrays.pop("__meta__")).decode("utf-8"))
        except Exception as exc:  # a file not written by us
            raise ResumeError(
                describe(
                    "The exact-resume backup cannot be read",
                    received=f"{path} ({type(exc).__name__}: {exc})",
                    fix="delete the file to start the run afresh, or pass resume=False",
                )
            ) from exc
        if meta.get("format") != _FORMAT:
            raise ResumeError(
                describe(
                    "The exact-resume backup has an unknown format",
                    received=f"format={meta.get('format')!r} in {path}",
                    accepted=f"format={_FORMAT}",
                    fix="delete the backup folder to start the run afresh",
                )
            )
        return meta, arrays

    def _load(self) -> tuple[dict[str, Any], dict[str, np.ndarray]] | None:
        if not self._loaded_done:
            self._loaded_done = True
            source = self._source
            if source is None:
                found = [
                    (BackupPosition(**self._read(p, meta_only=True)[0]["position"]), p) for p in self._files()
                ]
                source = max(found, key=lambda item: dataclasses.astuple(item[0]))[1] if found else None
            if source is not None:
                self._loaded = self._read(source)
        return self._loaded

    def position(self) -> BackupPosition | None:
        """The backed-up position, or ``None`` when there is no backup."""
        loaded = self._load()
        return None if loaded is None else BackupPosition(**loaded[0]["position"])

    def positions(self) -> list[BackupPosition]:
        """Every position this folder can resume from, newest first.

        Example:
            >>> import tempfile, keras
            >>> model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
            >>> backup = ExactBackup(tempfile.mkdtemp(), keep=3)
            >>> for step in (2, 4, 6, 8):
            ...     backup.save(model, BackupPosition(0, 0, step), optimizer=False)
            >>> [p.step for p in backup.positions()]
            [8, 6, 4]
        """
        found = {BackupPosition(**self._read(p, meta_only=True)[0]["position"]) for p in self._files()}
        return sorted(found, key=dataclasses.astuple, reverse=True)

    def use(self, position: BackupPosition | None) -> None:
        """Resumes from ``position`` (one of :meth:`positions`), or afresh with ``None``.

        ``None`` deletes this folder's backups, so a later restart cannot mix them in.

        Raises:
            ResumeError: No backup here holds ``position``.
        """
        if position is None:
            self.clear()
            return
        for path in self._files():
            meta, _ = self._read(path, meta_only=True)
            if BackupPosition(**meta["position"]) == position:
                self._source, self._loaded, self._loaded_done = path, None, False
                return
        raise ResumeError(
            describe(
                "No backup in this folder holds the position to resume from",
                received=f"{position} in {self.folder}; it holds {self.positions()}",
                fix="start every worker of the job again with the same command, or pass "
                "resume=False to start afresh",
            )
        )

    def extra(self) -> dict[str, Any]:
        """The caller's own JSON state saved with the backup (``{}`` when none)."""
        loaded = self._load()
        return {} if loaded is None else dict(loaded[0].get("extra", {}))

    # Writing -----------------------------------------------------------------
    def save(
        self,
        model: keras.Model,
        position: BackupPosition,
        *,
        optimizer: bool = True,
        metrics: bool = False,
        callback_states: Sequence[dict[str, Any]] = (),
        extra: dict[str, Any] | None = None,
        state_model: keras.Model | None = None,
    ) -> None:
        """Writes the complete state in one atomic file.

        Args:
            model: The model being trained.
            position: Where training stands after this state.
            optimizer: Whether to save the optimizer's variables (``False`` at
                a phase boundary: the next phase starts with a fresh optimizer).
            metrics: Whether to save the running metric accumulators (mid-epoch).
            callback_states: The state of stateful callbacks, in list order.
            extra: The caller's own JSON-able state.
            state_model: The model whose variables are saved, when ``model``
                (whose optimizer and metrics are saved) is only a part of it,
                e.g. the head trained on cached features.
        """
        if not self.write:
            return
        arrays: dict[str, np.ndarray] = {}
        meta: dict[str, Any] = {
            "format": _FORMAT,
            "position": dataclasses.asdict(position),
            "model": _store(arrays, "model", (state_model or model).variables),
            "optimizer": _store(arrays, "optimizer", _optimizer_variables(model)) if optimizer else None,
            "metrics": _store_local(arrays, "metrics", _metric_variables(model)) if metrics else None,
            "metrics_local": True,
            "callbacks": list(callback_states),
            "extra": extra or {},
        }
        arrays["__meta__"] = np.frombuffer(json.dumps(meta).encode("utf-8"), dtype=np.uint8)
        buffer = io.BytesIO()
        np.savez(buffer, **cast(dict[str, Any], arrays))
        for index in range(self.keep - 1, 0, -1):  # state.1 -> state.2, state -> state.1
            if self._slot(index - 1).is_file():
                os.replace(self._slot(index - 1), self._slot(index))
        atomic_write_bytes(self.state_path, buffer.getvalue())
        self._loaded = (meta, {k: v for k, v in arrays.items() if k != "__meta__"})
        self._loaded_done = True
        self._source = None

    def end_phase(
        self, model: keras.Model, phase: int, next_epoch: int, extra: dict[str, Any] | None = None
    ) -> None:
        """Backs up a finished phase: the next one starts at ``next_epoch`` with a fresh optimizer."""
        position = self.position()
        if position is None or position.phase <= phase:
            self.save(model, BackupPosition(phase + 1, next_epoch, 0), optimizer=False, extra=extra)

    def clear(self) -> None:
        """Deletes the backups (a finished run needs none)."""
        if self.write:
            for path in self._files(max(self.keep, 3)):
                path.unlink(missing_ok=True)
        self._loaded, self._loaded_done, self._source = None, True, None

    # Restoring -----------------------------------------------------------------
    def restore_model(
        self, model: keras.Model, *, optimizer: bool = True, state_model: keras.Model | None = None
    ) -> bool:
        """Assigns the backed-up model (and optimizer) variables; ``False`` if no backup.

        Call after ``compile``; the model's distribution scope is entered when
        none is active. The optimizer is built for the model's trainable
        variables first, as ``fit`` would.
        """
        loaded = self._load()
        if loaded is None:
            return False
        meta, arrays = loaded
        strategy = getattr(model, "distribute_strategy", None)
        scope: Any = contextlib.nullcontext()
        if strategy is not None and not tf.distribute.has_strategy():
            scope = strategy.scope()  # the optimizer's variables are created under it
        with scope:
            _assign(arrays, "model", meta["model"], (state_model or model).variables)
            if optimizer and meta.get("optimizer") is not None and model.optimizer is not None:
                if not model.optimizer.built:
                    model.optimizer.build(model.trainable_variables)
                _assign(arrays, "optimizer", meta["optimizer"], _optimizer_variables(model))
        return True

    # Training --------------------------------------------------------------------
    def fit_phase(
        self,
        model: keras.Model,
        data_fn: DataFn,
        *,
        phase: int,
        initial_epoch: int,
        epochs: int,
        steps_per_epoch: int,
        callbacks: Sequence[keras.callbacks.Callback] = (),
        validation_data: Any = None,
        verbose: int | str = "auto",
        extra: Callable[[], dict[str, Any]] | None = None,
        state_model: keras.Model | None = None,
    ) -> list[dict[str, float]]:
        """Trains one phase from where the backup stands, backing up as it goes.

        Args:
            model: A compiled model (the phase's fresh optimizer attached).
            data_fn: ``data_fn(epoch, skip_batches)`` -> a dataset of the
                batches of epoch ``epoch`` from batch ``skip_batches`` on; a pure
                function of its arguments (and the run's seed).
            phase: Index of this phase.
            initial_epoch: The phase's first epoch (0-based, over all phases).
            epochs: The epoch index to stop before (as in ``fit``).
            steps_per_epoch: Batches per epoch.
            callbacks: Further Keras callbacks (history, CSV, checkpoints ...).
            validation_data: Passed to ``fit``.
            verbose: Passed to ``fit``.
            extra: Returns the caller's JSON state to store with each backup.
            state_model: The model whose variables are backed up when
                ``model`` is a part of it (see :meth:`save`).

        Returns:
            The logs of each epoch trained by this call.
        """
        position = self.position()
        start_epoch, start_step, restore = initial_epoch, 0, False
        if position is not None and position.phase == phase:
            start_epoch, start_step, restore = position.epoch, position.step, True
        elif position is not None and position.phase > phase:
            return []
        if restore:
            self.restore_model(model, state_model=state_model)
        meta = self._loaded[0] if (restore and self._loaded) else None
        tracker = _BackupCallback(
            self,
            phase=phase,
            steps_per_epoch=steps_per_epoch,
            others=list(callbacks),
            callback_states=list(meta["callbacks"]) if meta else [],
            metrics=self._metric_arrays(meta) if (meta and start_step) else None,
            extra=extra,
            state_model=state_model,
        )
        all_callbacks = [*callbacks, tracker]
        if start_step >= steps_per_epoch:
            start_epoch, start_step = start_epoch + 1, 0
        if start_step > 0 and start_epoch < epochs:
            tracker.offset = start_step
            remaining = steps_per_epoch - start_step
            model.fit(
                data_fn(start_epoch, start_step).take(remaining),
                initial_epoch=start_epoch,
                epochs=start_epoch + 1,
                steps_per_epoch=remaining,
                callbacks=all_callbacks,
                validation_data=validation_data,
                verbose=verbose,
                shuffle=False,
            )
            start_epoch += 1
            tracker.offset = 0
            tracker.metrics = None
        if start_epoch < epochs and not tracker.stopped:
            dataset = data_fn(start_epoch, 0).take(steps_per_epoch)
            for epoch in range(start_epoch + 1, epochs):
                dataset = dataset.concatenate(data_fn(epoch, 0).take(steps_per_epoch))
            model.fit(
                dataset,
                initial_epoch=start_epoch,
                epochs=epochs,
                steps_per_epoch=steps_per_epoch,
                callbacks=all_callbacks,
                validation_data=validation_data,
                verbose=verbose,
                shuffle=False,
            )
        return tracker.epoch_logs

    def _metric_arrays(self, meta: dict[str, Any]) -> list[np.ndarray] | None:
        if not meta.get("metrics") or self._loaded is None:
            return None
        arrays = self._loaded[1]
        stacked = [arrays[f"metrics/{i}"] for i in range(len(meta["metrics"]))]
        return stacked if meta.get("metrics_local") else [v[None] for v in stacked]


class _BackupCallback(keras.callbacks.Callback):
    """Saves the state during ``fit``; restores metric and callback state on (re)start."""

    def __init__(
        self,
        backup: ExactBackup,
        *,
        phase: int,
        steps_per_epoch: int,
        others: list[keras.callbacks.Callback],
        callback_states: list[dict[str, Any]],
        metrics: list[np.ndarray] | None,
        extra: Callable[[], dict[str, Any]] | None,
        state_model: keras.Model | None = None,
    ) -> None:
        super().__init__()
        self.state_model = state_model
        self.backup = backup
        self.phase = phase
        self.steps_per_epoch = steps_per_epoch
        self.others = others
        self.callback_states = callback_states
        self.metrics = metrics
        self.extra = extra
        self.offset = 0
        self.epoch = 0
        self.stopped = False
        self.epoch_logs: list[dict[str, float]] = []

    def _states(self) -> list[dict[str, Any]]:
        states = []
        for callback in self.others:
            state = {}
            for name in _CALLBACK_STATE:
                value = getattr(callback, name, None)
                if isinstance(value, (int, float, np.floating, np.integer)):
                    state[name] = float(value) if isinstance(value, (float, np.floating)) else int(value)
            states.append(state)
        return states

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        # Runs after the other callbacks reset themselves: put their state back.
        for callback, state in zip(self.others, self.callback_states):
            for name, value in state.items():
                setattr(callback, name, value)

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self.epoch = epoch
        if self.metrics is not None:
            variables = _metric_variables(self.model)
            if len(variables) == len(self.metrics):
                for variable, value in zip(variables, self.metrics):
                    _assign_local(variable, value)
            self.metrics = None

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        step = self.offset + batch + 1
        every = self.backup.every_steps
        if every and step % every == 0 and step < self.steps_per_epoch:
            self.backup.save(
                self.model,
                BackupPosition(self.phase, self.epoch, step),
                metrics=True,
                callback_states=self.callback_states,
                extra=self.extra() if self.extra else None,
                state_model=self.state_model,
            )

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self.epoch_logs.append({k: float(v) for k, v in (logs or {}).items()})
        self.callback_states = self._states()
        self.stopped = bool(getattr(self.model, "stop_training", False))
        self.backup.save(
            self.model,
            BackupPosition(self.phase, epoch + 1, 0),
            callback_states=self.callback_states,
            extra=self.extra() if self.extra else None,
            state_model=self.state_model,
        )


def _optimizer_variables(model: keras.Model) -> list[Any]:
    optimizer = getattr(model, "optimizer", None)
    return list(optimizer.variables) if optimizer is not None and optimizer.built else []


def _metric_variables(model: keras.Model) -> list[Any]:
    return [v for metric in model.metrics for v in metric.variables]


def _local_parts(variable: Any) -> list[Any]:
    """This process's copies of a variable: one per local replica under a strategy.

    Metric accumulators are sync-on-read: each replica keeps its own share,
    and reading one in cross-replica context sums the replicas (a collective
    under a multi-worker strategy). Backing up each local share is exact
    everywhere and needs no collective.
    """
    value = getattr(variable, "value", variable)
    inner = getattr(variable, "_value", None)
    for candidate in (inner, value):
        parts = getattr(candidate, "values", None)
        if isinstance(parts, tuple) and parts and hasattr(parts[0], "assign"):
            return list(parts)
    return [variable]


def _numpy(part: Any) -> np.ndarray:
    if isinstance(part, keras.Variable):
        return np.asarray(keras.ops.convert_to_numpy(part.value))
    return np.asarray(part.numpy())  # a tf.Variable component of a distributed variable


def _store_local(arrays: dict[str, np.ndarray], prefix: str, variables: Sequence[Any]) -> list[str]:
    names = []
    for i, variable in enumerate(variables):
        parts = _local_parts(variable)
        arrays[f"{prefix}/{i}"] = np.stack([_numpy(p) for p in parts])
        names.append(str(getattr(variable, "path", getattr(variable, "name", i))))
    return names


def _assign_local(variable: Any, stacked: np.ndarray) -> None:
    parts = _local_parts(variable)
    if len(parts) == len(stacked):
        for part, value in zip(parts, stacked):
            part.assign(value)
    else:  # saved under another number of local replicas: spread the total evenly
        total = stacked.sum(axis=0)
        for part in parts:
            part.assign(total / len(parts) if np.issubdtype(total.dtype, np.floating) else total)


def _store(arrays: dict[str, np.ndarray], prefix: str, variables: Sequence[Any]) -> list[str]:
    names = []
    for i, variable in enumerate(variables):
        arrays[f"{prefix}/{i}"] = np.asarray(keras.ops.convert_to_numpy(variable.value))
        names.append(str(getattr(variable, "path", getattr(variable, "name", i))))
    return names


def _assign(arrays: dict[str, np.ndarray], prefix: str, names: list[str], variables: Sequence[Any]) -> None:
    current = [str(getattr(v, "path", getattr(v, "name", i))) for i, v in enumerate(variables)]
    if len(current) != len(names):
        raise ResumeError(
            describe(
                f"The backup's {prefix} state does not fit this {prefix}",
                received=f"{len(names)} saved variables, {len(current)} in the {prefix}",
                fix="resume with the same command and code that wrote the backup, or pass "
                "resume=False to start afresh",
            )
        )
    for i, variable in enumerate(variables):
        value = arrays[f"{prefix}/{i}"]
        if tuple(value.shape) != tuple(variable.shape):
            raise ResumeError(
                describe(
                    f"The backup's {prefix} variable {names[i]!r} has another shape",
                    received=f"saved {tuple(value.shape)}, model {tuple(variable.shape)} ({current[i]!r})",
                    fix="resume with the same command and code that wrote the backup, or pass "
                    "resume=False to start afresh",
                )
            )
        variable.assign(value)
