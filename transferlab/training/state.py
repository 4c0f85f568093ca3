"""The complete training state, backed up and restored for an exact mid-epoch resume.

Keras' ``BackupAndRestore`` is exact at epoch ends only. :class:`TrainingState`
backs up, in one atomic file per generation, everything a ``fit`` carries from
step to step, so that a restarted run continues bit for bit where it stood:

- every model variable (weights, BatchNorm statistics, dropout seed state);
- every optimizer variable (iteration, learning rate, slots);
- mid-epoch, the running metric accumulators (each local replica's share
  under ``tf.distribute``: exact, and no collective under multi-worker);
- the state of ``EarlyStopping``, ``ReduceLROnPlateau`` and of any callback
  that follows the ``get_state()`` / ``set_state(dict)`` protocol (below);
- the position ``(phase, epoch, step)``, whether the phase was stopped early,
  the run's identity digest and the caller's own JSON state (``extra``).

The data of epoch ``e`` must be a pure function of ``(seed, e)``, so that a
restart can skip exactly the batches already trained.

**Restoring by path.** Variables are matched by their Keras path, made
independent of the names Keras makes unique per process: the model's own name
is dropped from the front (``"sequential_3/dense/kernel"`` ->
``"dense/kernel"``), dropout seed generators (``seed_generator_7``) count in
model order, the optimizer's name is replaced by its role
(``"adam_1/iteration"`` -> ``"optimizer/iteration"``). A path met again in the
same model gets an occurrence index (``"dense/kernel#1"``). A variable
missing, extra or of another shape is a
:class:`~transferlab.errors.ResumeError` naming it.

**Generations.** The newest backup is ``state.npz``, the previous ones
``state.1.npz``, ``state.2.npz`` ... (``keep`` in all). A damaged newest file
falls back to the previous generation; a multi-worker job keeps 3 so that
every worker still holds the position its peers resume from
(:meth:`TrainingState.positions`).

**Metrics and callbacks inside ``fit``.** Keras zeroes the metrics at the
start of every epoch, and callbacks reset themselves in ``on_train_begin``,
both inside ``fit``. So what :meth:`LoadedBackup.restore_metrics` and
:meth:`LoadedBackup.restore_callbacks` assign is assigned again by the
:class:`BackupCallback` of the next ``fit`` of that model (it must be the last
callback): the callbacks' state in its ``on_train_begin`` (after theirs), the
metrics in its first ``on_epoch_begin`` (after Keras' reset). For the same
reason a :class:`BackupCallback` hands the callbacks' state at the end of its
``fit`` to the next ``fit`` of the same phase: a phase trained as several
``fit`` calls (the rest of an interrupted epoch, then the other epochs) keeps
``EarlyStopping``'s patience as one ``fit`` would.

**The callback state protocol.** A callback that carries state from epoch to
epoch defines ``get_state() -> dict`` (JSON-able values) and
``set_state(state: dict) -> None``. Its state is saved with every backup and
matched on restore by class name and position in the callback list.
``EarlyStopping`` (``wait``, ``best``, ``best_epoch``, ``stopped_epoch``,
``baseline``) and ``ReduceLROnPlateau`` (``wait``, ``best``,
``cooldown_counter``) are handled without it; ``EarlyStopping``'s
``best_weights`` are not saved (``restore_best_weights`` after a restart
applies to the epochs trained since).

Example:
    >>> import tempfile, numpy as np, keras
    >>> def build():
    ...     model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1, name="d")])
    ...     model.compile(optimizer="adam", loss="mse")
    ...     return model
    >>> model = build()
    >>> state = TrainingState(tempfile.mkdtemp(), identity="abc123", every_steps=2)
    >>> x, y = np.ones((8, 2), "float32"), np.ones((8, 1), "float32")
    >>> _ = model.fit(x, y, batch_size=2, epochs=1, verbose=0, shuffle=False,
    ...               callbacks=[BackupCallback(state, phase=0, steps_per_epoch=4, callbacks=[])])
    >>> state.positions()
    [BackupPosition(phase=0, epoch=1, step=0), BackupPosition(phase=0, epoch=0, step=2)]
    >>> restarted = build()
    >>> loaded = state.load()
    >>> loaded.restore_variables(restarted); loaded.restore_optimizer(restarted)
    >>> bool(np.array_equal(restarted.get_weights()[0], model.get_weights()[0]))
    True
    >>> int(restarted.optimizer.iterations)
    4
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import logging
import os
import re
import weakref
import zipfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, TypeAlias, TypedDict, cast

import keras
import numpy as np
import numpy.typing as npt
import tensorflow as tf

from transferlab._atomic import atomic_write_bytes, storage_error
from transferlab._keras_compat import build_compiled_metrics, replica_components
from transferlab.errors import ConfigError, ResumeError, describe

__all__ = ["BackupCallback", "BackupPosition", "LoadedBackup", "TrainingState"]

logger = logging.getLogger("transferlab.training")

#: Version of the backup file's layout (1 was the format of transferlab's earlier ``ExactBackup``).
FORMAT = 2
_SLOT = re.compile(r"^state(?:\.(\d+))?\.npz$")
_META = "__meta__"
_SEED = re.compile(r"(?:(?<=/)|^)seed_generator_\d+(?=/)")
_FIX = "resume with the same command and code that wrote the backup, or pass resume=False to start afresh"
_SHOWN = 5  # names listed in a message

if TYPE_CHECKING:  # NumPy's scalar types are generic to type checkers only
    Array: TypeAlias = npt.NDArray[np.generic[object]]

# Attributes of the Keras callbacks that carry state from epoch to epoch.
_KERAS_CALLBACK_STATE: tuple[tuple[type, tuple[str, ...]], ...] = (
    (keras.callbacks.EarlyStopping, ("wait", "best", "best_epoch", "stopped_epoch", "baseline")),
    (keras.callbacks.ReduceLROnPlateau, ("wait", "best", "cooldown_counter")),
)


class _CallbackEntry(TypedDict):
    index: int
    cls: str
    state: dict[str, object]


class _Meta(TypedDict):
    format: int
    identity: str
    position: dict[str, int]
    stopped: bool
    model: list[str]
    optimizer: list[str] | None
    metrics: list[str] | None
    callbacks: list[_CallbackEntry]
    extra: dict[str, object]
    keras: str


_MetricAssigner = Callable[[keras.Model], None]
# Assigned by restore_* and again inside the next fit (see the module docstring).
_PENDING_METRICS: weakref.WeakKeyDictionary[keras.Model, _MetricAssigner] = weakref.WeakKeyDictionary()
# callback -> (phase, the TrainingState whose fit handed it over or None for restore_callbacks, state)
_PENDING_CALLBACKS: weakref.WeakKeyDictionary[
    keras.callbacks.Callback, tuple[int, TrainingState | None, dict[str, object]]
] = weakref.WeakKeyDictionary()


@dataclasses.dataclass(frozen=True, order=True)
class BackupPosition:
    """Where a backed-up run stands (ordered as ``(phase, epoch, step)``).

    Attributes:
        phase: Index of the phase in progress (or about to start).
        epoch: Index of the epoch in progress (0-based, counted over all phases).
        step: Batches of that epoch already trained.

    Example:
        >>> BackupPosition(phase=1, epoch=3, step=0) > BackupPosition(1, 2, 50)
        True
        >>> str(BackupPosition(1, 2, 50))
        'phase 1, epoch 2, step 50'
    """

    phase: int
    epoch: int
    step: int

    def __str__(self) -> str:
        return f"phase {self.phase}, epoch {self.epoch}, step {self.step}"


@dataclasses.dataclass
class _Scanned:
    """One generation file: its meta entry, or why it cannot be read."""

    path: Path
    slot: int
    meta: _Meta | None
    problem: str = ""

    @property
    def position(self) -> BackupPosition:
        assert self.meta is not None
        return BackupPosition(**self.meta["position"])


class _DamagedError(Exception):
    """A backup file that cannot be read."""


class TrainingState:
    """The backups of one worker's training state: written, listed, loaded, cleared.

    Args:
        folder: This worker's own backup folder (each worker of a multi-worker
            job needs its own).
        identity: The run's identity digest (hex); every backup records it and
            a backup of another identity is refused.
        every_steps: :class:`BackupCallback` backs up every this many steps of
            an epoch (and at every epoch end); ``None``: at epoch ends only.
        keep: Generations kept: 2 (the newest and the previous) by default; a
            multi-worker job passes 3.
        write: Whether this process writes backups (``False``: :meth:`save`
            and :meth:`clear` do nothing).

    Attributes:
        fallback: Set by :meth:`load` when a newer backup than the one loaded
            was damaged: the sentence logged (for the run's records); else ``None``.

    Raises:
        ConfigError: A bad ``identity``, ``every_steps`` or ``keep``.

    Example:
        >>> import tempfile, keras
        >>> model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
        >>> state = TrainingState(tempfile.mkdtemp(), identity="abc123", keep=3)
        >>> for step in (2, 4, 6, 8):
        ...     state.save(model, BackupPosition(0, 0, step), optimizer=False)
        >>> [p.step for p in state.positions()]
        [8, 6, 4]
        >>> state.clear(); state.positions(), state.load()
        ([], None)
    """

    def __init__(
        self,
        folder: str | Path,
        *,
        identity: str,
        every_steps: int | None = 50,
        keep: int = 2,
        write: bool = True,
    ) -> None:
        if not isinstance(identity, str) or not identity:
            raise ConfigError(
                describe(
                    "`identity` must be the run's identity digest, a non-empty string",
                    received=f"identity={identity!r}",
                )
            )
        if every_steps is not None and (
            isinstance(every_steps, bool) or not isinstance(every_steps, int) or every_steps < 1
        ):
            raise ConfigError(
                describe(
                    "`every_steps` must be a whole number >= 1, or None (epoch ends only)",
                    received=f"every_steps={every_steps!r}",
                )
            )
        if isinstance(keep, bool) or not isinstance(keep, int) or keep < 1:
            raise ConfigError(
                describe(
                    "`keep` must be a whole number >= 1 (backup generations kept)",
                    received=f"keep={keep!r}",
                    accepted="2 (the newest and the previous), 3 for a multi-worker job",
                )
            )
        self.folder = Path(folder)
        self.identity = identity
        self.every_steps = every_steps
        self.keep = keep
        self.write = write
        self.fallback: str | None = None
        self._cache: dict[Path, tuple[tuple[int, int, int], _Scanned]] = {}

    def _slot(self, index: int) -> Path:
        return self.folder / ("state.npz" if index == 0 else f"state.{index}.npz")

    def _files(self) -> list[tuple[int, Path]]:
        """The generation files here, newest written first."""
        if not self.folder.is_dir():
            return []
        found = []
        for path in self.folder.iterdir():
            match = _SLOT.match(path.name)
            if match and path.is_file():
                found.append((int(match.group(1) or 0), path))
        return sorted(found)

    # Reading ---------------------------------------------------------------------
    def _scan_one(self, slot: int, path: Path) -> _Scanned:
        try:
            stat = path.stat()
        except OSError as exc:
            return _Scanned(path, slot, None, f"{type(exc).__name__}: {exc}")
        signature = (stat.st_mtime_ns, stat.st_size, stat.st_ino)
        cached = self._cache.get(path)
        if cached is not None and cached[0] == signature:
            return cached[1]
        try:
            scanned = _Scanned(path, slot, _read_meta(path))
        except _DamagedError as exc:
            scanned = _Scanned(path, slot, None, str(exc))
        if scanned.meta is not None:
            self._check(path, scanned.meta)
        self._cache[path] = (signature, scanned)
        return scanned

    def _check(self, path: Path, meta: _Meta) -> None:
        if meta["format"] != FORMAT:
            raise ResumeError(
                describe(
                    "The backup was written in another format than this transferlab reads",
                    received=f"format={meta['format']!r} in {path}",
                    accepted=f"format={FORMAT}",
                    fix="finish the run with the transferlab version that started it, or pass "
                    "resume=False to start afresh (the backups are deleted)",
                )
            )
        if meta["identity"] != self.identity:
            raise ResumeError(
                describe(
                    "The backup belongs to another run than the one being resumed",
                    received=f"identity {meta['identity']!r} in {path}; this run's identity is "
                    f"{self.identity!r}",
                    fix="resume with the same command, config and data as the run that wrote it, give "
                    "the new run another run folder (run name), or pass resume=False to start afresh "
                    "(the backups are deleted)",
                )
            )

    def _scan(self) -> list[_Scanned]:
        scanned = [self._scan_one(slot, path) for slot, path in self._files()]
        live = {s.path for s in scanned}
        for path in [p for p in self._cache if p not in live]:
            del self._cache[path]
        return scanned

    def positions(self) -> list[BackupPosition]:
        """The positions of the readable backups here, newest first (damaged files are skipped).

        Raises:
            ResumeError: A backup of another run (identity) or format.

        Example:
            >>> import tempfile
            >>> TrainingState(tempfile.mkdtemp(), identity="abc123").positions()
            []
        """
        found = {s.position for s in self._scan() if s.meta is not None}
        return sorted(found, reverse=True)

    def load(self, position: BackupPosition | None = None) -> LoadedBackup | None:
        """Reads a backup: the newest readable one, or the one at ``position``.

        A damaged newer file (truncated, zeroed, failing its checksums) falls
        back to the previous generation: a WARNING on the
        ``"transferlab.training"`` logger names the damaged file and the
        position used, and :attr:`fallback` holds that sentence (``None``
        otherwise) for the run's records.

        Args:
            position: One of :meth:`positions` (e.g. the position all workers
                of a job agreed on), or ``None`` for the newest.

        Returns:
            The backup, or ``None`` when there is no readable one (training
            starts afresh).

        Raises:
            ResumeError: A backup of another run (identity) or format; no
                readable backup holds ``position``.

        Example:
            >>> import tempfile, keras
            >>> model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
            >>> state = TrainingState(tempfile.mkdtemp(), identity="abc123")
            >>> state.save(model, BackupPosition(0, 1, 0), stopped=True, extra={"best": 0.5})
            >>> loaded = state.load()
            >>> loaded.position, loaded.stopped, loaded.extra, state.fallback
            (BackupPosition(phase=0, epoch=1, step=0), True, {'best': 0.5}, None)
        """
        self.fallback = None
        scanned = self._scan()
        damaged = [s for s in scanned if s.meta is None]
        readable = [s for s in scanned if s.meta is not None]
        if position is None:
            candidates = sorted(readable, key=lambda s: (s.position, -s.slot), reverse=True)
        else:
            candidates = [s for s in readable if s.position == position]
            if not candidates:
                raise ResumeError(
                    describe(
                        "No readable backup in this folder holds the position to resume from",
                        received=f"{position} in {self.folder}; it holds "
                        f"{', '.join(map(str, self.positions())) or 'none'}",
                        fix="start every worker of the job again with the same command, or pass "
                        "resume=False to start afresh",
                    )
                )
        loaded: LoadedBackup | None = None
        for candidate in candidates:
            assert candidate.meta is not None
            try:
                loaded = LoadedBackup(candidate.path, candidate.meta, _read_arrays(candidate.path))
            except _DamagedError as exc:
                self._cache.pop(candidate.path, None)
                damaged.append(_Scanned(candidate.path, candidate.slot, None, str(exc)))
                continue
            break
        used_slot = _slot_of(loaded.path) if loaded is not None else len(scanned) + 1
        newer = sorted((d for d in damaged if d.slot < used_slot), key=lambda d: d.slot)
        for older in (d for d in damaged if d.slot >= used_slot):
            logger.warning("The backup %s cannot be read and is ignored (%s)", older.path, older.problem)
        if newer:
            names = "; ".join(f"{d.path} ({d.problem})" for d in newer)
            if loaded is None:
                self.fallback = f"The backup {names} cannot be read and no readable backup is left: training starts afresh"
            else:
                self.fallback = (
                    f"The newest backup {names} cannot be read: resumed from the previous one, "
                    f"{loaded.path.name} at {loaded.position}"
                )
            logger.warning("%s", self.fallback)
        return loaded

    # Writing ---------------------------------------------------------------------
    def save(
        self,
        model: keras.Model,
        position: BackupPosition,
        *,
        optimizer: bool = True,
        metrics: bool = False,
        callbacks: Sequence[keras.callbacks.Callback] = (),
        stopped: bool = False,
        extra: Mapping[str, object] | None = None,
        variables_model: keras.Model | None = None,
    ) -> None:
        """Writes the state as the newest generation (one atomic file), shifting the older ones.

        Args:
            model: The compiled model being fit (its optimizer and metrics are saved).
            position: Where training stands with this state.
            optimizer: Whether to save the optimizer's variables (``False`` at
                a phase boundary: the next phase starts with a fresh optimizer).
                Nothing is saved for an optimizer not built yet.
            metrics: Whether to save the running metric accumulators (mid-epoch).
            callbacks: The ``fit`` callbacks; the state of the stateful ones is
                saved (see the module docstring).
            stopped: Training of the current phase was stopped (``EarlyStopping``)
                at this position.
            extra: The caller's own JSON-able state.
            variables_model: The model whose variables are saved when ``model``
                is only a part of it (the head trained on cached features: pass
                the full classifier).

        Raises:
            ConfigError: ``extra`` or a callback's state is not JSON-able.
        """
        if not self.write:
            return
        arrays: dict[str, Array] = {}
        owner = variables_model if variables_model is not None else model
        for i, variable in enumerate(owner.variables):
            arrays[f"model/{i}"] = _numpy(variable)
        opt_keys: list[str] | None = None
        opt = getattr(model, "optimizer", None)
        if optimizer and opt is not None and opt.built:
            opt_keys = _optimizer_keys(model)
            for i, variable in enumerate(opt.variables):
                arrays[f"optimizer/{i}"] = _numpy(variable)
        metric_keys: list[str] | None = None
        if metrics:
            metric_keys = []
            for i, (key, variable) in enumerate(_metric_items(model)):
                metric_keys.append(key)
                arrays[f"metrics/{i}"] = np.stack([_numpy(part) for part in replica_components(variable)])
        meta: _Meta = {
            "format": FORMAT,
            "identity": self.identity,
            "position": dataclasses.asdict(position),
            "stopped": bool(stopped),
            "model": _model_keys(owner),
            "optimizer": opt_keys,
            "metrics": metric_keys,
            "callbacks": _callback_states(callbacks),
            "extra": dict(extra or {}),
            "keras": str(keras.__version__),
        }
        try:
            text = json.dumps(meta)
        except (TypeError, ValueError) as exc:
            raise ConfigError(
                describe(
                    "The state to back up must be JSON-able",
                    received=f"{type(exc).__name__}: {exc} (in `extra` or a callback's get_state())",
                    fix="keep only numbers, strings, booleans, None, lists and dicts in them",
                )
            ) from exc
        arrays[_META] = np.frombuffer(text.encode("utf-8"), dtype=np.uint8)
        buffer = io.BytesIO()
        np.savez(buffer, allow_pickle=False, **arrays)
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise storage_error(self.folder, error) from None
        for index in range(self.keep - 1, 0, -1):  # state.1 -> state.2, state -> state.1
            if self._slot(index - 1).is_file():
                try:
                    os.replace(self._slot(index - 1), self._slot(index))
                except OSError as error:
                    raise storage_error(self._slot(index), error) from None
        atomic_write_bytes(self._slot(0), buffer.getvalue())

    def clear(self) -> None:
        """Deletes every generation here, and the leftovers of interrupted writes.

        Example:
            >>> import tempfile, keras
            >>> state = TrainingState(tempfile.mkdtemp(), identity="abc123")
            >>> state.save(keras.Sequential([keras.Input((1,))]), BackupPosition(0, 1, 0))
            >>> state.clear(); sorted(state.folder.iterdir())
            []
        """
        self._cache.clear()
        if not self.write or not self.folder.is_dir():
            return
        for path in self.folder.iterdir():
            name = path.name
            if path.is_file() and (_SLOT.match(name) or (name.startswith(".state") and ".npz." in name)):
                path.unlink(missing_ok=True)


class LoadedBackup:
    """One backup read into memory, restored piece by piece into the model being resumed.

    Made by :meth:`TrainingState.load`. Restore in ``fit``'s order: the
    variables right after building and compiling the model (before anything
    is derived from it), then, in the phase being resumed, the optimizer, the
    callbacks and (mid-epoch) the metrics.

    Attributes:
        position: Where the backed-up run stands.
        stopped: Training of the position's phase was stopped early there.
        extra: The caller's own JSON state saved with the backup.
        path: The file read.
    """

    def __init__(self, path: Path, meta: _Meta, arrays: Mapping[str, Array]) -> None:
        self.path = path
        self.position = BackupPosition(**meta["position"])
        self.stopped = bool(meta["stopped"])
        self.extra: dict[str, object] = dict(meta["extra"])
        self._meta = meta
        self._arrays = arrays

    def __repr__(self) -> str:
        return f"LoadedBackup({self.position}, stopped={self.stopped}, path={str(self.path)!r})"

    def _saved(self, part: str, keys: Sequence[str] | None) -> dict[str, Array]:
        return {key: self._arrays[f"{part}/{i}"] for i, key in enumerate(keys or [])}

    def restore_variables(self, model: keras.Model) -> None:
        """Assigns every saved model variable to ``model``'s variable of the same path.

        Enters ``model.distribute_strategy.scope()`` when no strategy is active.

        Args:
            model: The model whose variables were saved (``variables_model`` of
                :meth:`TrainingState.save`, else its ``model``), built.

        Raises:
            ResumeError: A variable missing, extra or of another shape.
        """
        saved = self._saved("model", self._meta["model"])
        pairs = _match("model variables", _model_keys(model), list(model.variables), saved, self.path)
        with _scope(model):
            for variable, value in pairs:
                variable.assign(value)

    def restore_optimizer(self, model: keras.Model) -> None:
        """Assigns the saved optimizer variables to ``model.optimizer``'s, by path.

        The optimizer is built for ``model.trainable_variables`` first if it is
        not built (as ``fit`` would), under the model's distribution scope
        when no strategy is active. A backup without optimizer state (written
        at a phase boundary) leaves the fresh optimizer as it is.

        Raises:
            ResumeError: The model has no optimizer (not compiled); a variable
                missing, extra or of another shape.
        """
        keys = self._meta["optimizer"]
        if keys is None:
            return
        opt = getattr(model, "optimizer", None)
        if opt is None:
            raise ResumeError(
                describe(
                    "The backup holds optimizer state but the model has no optimizer",
                    received=f"model {model.name!r} not compiled ({self.path})",
                    fix="compile the model before restoring its optimizer",
                )
            )
        with _scope(model):
            if not opt.built:
                opt.build(model.trainable_variables)
            saved = self._saved("optimizer", keys)
            pairs = _match(
                "optimizer variables", _optimizer_keys(model), list(opt.variables), saved, self.path
            )
            for variable, value in pairs:
                variable.assign(value)

    def restore_metrics(self, model: keras.Model, batch: object) -> None:
        """Puts back the running metric accumulators of the interrupted epoch, by name and path.

        Builds the compiled metrics first (Keras creates them lazily, from the
        first batch ``fit`` sees) from ``batch``'s shapes and dtypes. Each local
        replica's share goes back to the same replica; saved under another
        number of local replicas, a summed accumulator's total goes to the
        first replica (the others get zero) and any other gets the mean. The
        values are assigned now, and again by the :class:`BackupCallback` of
        the next ``fit`` of ``model`` after Keras has zeroed the metrics at the
        start of the epoch. A backup written at an epoch end holds no metrics
        and leaves them as they are.

        Args:
            model: The compiled model about to be fit.
            batch: One batch ``(x, y)`` of the training data.

        Raises:
            ResumeError: A metric variable missing, extra or of another shape;
                a mid-epoch backup without metrics.
        """
        assign = self._metric_assigner(_FIX)
        if assign is None:
            return
        build_compiled_metrics(model, batch)
        with _scope(model):
            assign(model)
        _PENDING_METRICS[model] = assign

    def _metric_assigner(self, fix: str) -> _MetricAssigner | None:
        keys = self._meta["metrics"]
        if keys is None:
            if self.position.step > 0:
                raise ResumeError(
                    describe(
                        "The mid-epoch backup holds no metric state",
                        received=f"{self.position} in {self.path}",
                        fix="back up mid-epoch positions with metrics=True (BackupCallback does), or "
                        "pass resume=False to start afresh",
                    )
                )
            return None
        saved = self._saved("metrics", keys)
        path = self.path

        def assign(target: keras.Model) -> None:
            items = _metric_items(target)
            variables = [v for _, v in items]
            pairs = _match(
                "metric variables", [k for k, _ in items], variables, saved, path, fix, stacked=True
            )
            for variable, stacked in pairs:
                _assign_parts(variable, stacked)

        return assign

    def restore_callbacks(self, callbacks: Sequence[keras.callbacks.Callback]) -> None:
        """Puts back the state of the stateful callbacks, matched by class name and list position.

        Assigned now, and again by the :class:`BackupCallback` of the next
        ``fit`` of this phase given these callbacks, after their own
        ``on_train_begin`` reset. A stateful callback without saved state
        keeps its fresh state (a phase's first epoch has none saved).

        Raises:
            ResumeError: A saved state has no callback of the same class at
                the same position.
        """
        current = dict(enumerate(callbacks))
        unmatched = []
        for entry in self._meta["callbacks"]:
            callback = current.get(entry["index"])
            if callback is None or type(callback).__name__ != entry["cls"]:
                unmatched.append(f"{entry['cls']} at index {entry['index']}")
                continue
            _set_callback_state(callback, entry["state"])
            _PENDING_CALLBACKS[callback] = (self.position.phase, None, entry["state"])
        if unmatched:
            have = [f"{type(c).__name__} at index {i}" for i, c in current.items()]
            raise ResumeError(
                describe(
                    "The backup holds the state of callbacks this fit does not have",
                    received=f"saved: {', '.join(unmatched)}; callbacks now: {', '.join(have) or 'none'} "
                    f"({self.path})",
                    fix=f"pass the same callbacks in the same order; or {_FIX}",
                )
            )


class BackupCallback(keras.callbacks.Callback):
    """Backs the training state up during ``fit``; must be ``fit``'s LAST callback.

    Saves every ``state.every_steps`` steps mid-epoch (with the metrics) at
    position ``(phase, epoch, step_offset + batch + 1)``, and at every epoch
    end at ``(phase, epoch + 1, 0)`` with ``stopped = model.stop_training``;
    every backup holds the callbacks' state. ``step_offset`` counts in the
    first epoch of this ``fit`` only. It also assigns again what
    :meth:`LoadedBackup.restore_callbacks` and
    :meth:`LoadedBackup.restore_metrics` restored (or what the previous
    ``fit`` of the same phase left in the callbacks), after ``fit`` has reset it.

    Args:
        state: Where to back up.
        phase: Index of the phase being fit.
        steps_per_epoch: Batches of a whole epoch (not of this ``fit``'s first one).
        callbacks: The other callbacks of ``fit`` (their state is saved).
        step_offset: Batches of the first epoch already trained before this ``fit``.
        variables_model: The model whose variables are saved when the fit
            model is only a part of it (see :meth:`TrainingState.save`).
        extra: Returns the caller's JSON state to store with each backup.
        restore: The backup this ``fit`` resumes from, if any. Optional: its
            callbacks' state is put back in ``on_train_begin``, and, mid-epoch,
            its metrics in the first ``on_epoch_begin`` when
            :meth:`LoadedBackup.restore_metrics` was not called for this model
            (which works only if ``fit`` has built the metrics by then, as it
            does under a distribution strategy; else a ResumeError says to
            call it).

    Attributes:
        stopped: Whether the last epoch ended with ``model.stop_training``.

    Example:
        >>> import tempfile, numpy as np, keras
        >>> model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
        >>> model.compile(optimizer="sgd", loss="mse")
        >>> state = TrainingState(tempfile.mkdtemp(), identity="abc123", every_steps=None)
        >>> stop = keras.callbacks.EarlyStopping(monitor="loss", patience=0, min_delta=1e9)
        >>> backup = BackupCallback(state, phase=0, steps_per_epoch=2, callbacks=[stop])
        >>> history = model.fit(np.ones((4, 2)), np.ones((4, 1)), batch_size=2, epochs=5,
        ...                     verbose=0, callbacks=[stop, backup])
        >>> len(history.epoch), backup.stopped, state.load().stopped
        (2, True, True)
    """

    def __init__(
        self,
        state: TrainingState,
        *,
        phase: int,
        steps_per_epoch: int,
        callbacks: Sequence[keras.callbacks.Callback],
        step_offset: int = 0,
        variables_model: keras.Model | None = None,
        extra: Callable[[], Mapping[str, object]] | None = None,
        restore: LoadedBackup | None = None,
    ) -> None:
        super().__init__()
        self.state = state
        self.phase = phase
        self.steps_per_epoch = steps_per_epoch
        self.callbacks = list(callbacks)
        self.step_offset = step_offset
        self.variables_model = variables_model
        self.extra = extra
        self.restore = restore
        self.stopped = False
        self._epoch = 0
        self._offset = step_offset
        self._first_epoch: int | None = None

    def on_train_begin(self, logs: Mapping[str, object] | None = None) -> None:
        self._first_epoch, self._offset = None, self.step_offset
        if self.restore is not None:
            self.restore.restore_callbacks(self.callbacks)
        # After the other callbacks' on_train_begin reset: put their state back.
        for callback in self.callbacks:
            pending = _PENDING_CALLBACKS.pop(callback, None)
            if pending is not None and pending[0] == self.phase and pending[1] in (None, self.state):
                _set_callback_state(callback, pending[2])

    def on_epoch_begin(self, epoch: int, logs: Mapping[str, object] | None = None) -> None:
        self._epoch = epoch
        if self._first_epoch is not None:
            self._offset = 0
            return
        self._first_epoch = epoch
        assign = _PENDING_METRICS.pop(self.model, None)
        if assign is None and self.restore is not None and self.restore.position.step > 0:
            assign = self.restore._metric_assigner(
                "call LoadedBackup.restore_metrics(model, first_batch) before fit: without a "
                "distribution strategy Keras builds the metrics only at the first step"
            )
        if assign is not None:  # after Keras zeroed the metrics for this epoch
            with _scope(self.model):
                assign(self.model)

    def _save(self, position: BackupPosition, *, metrics: bool = False, stopped: bool = False) -> None:
        self.state.save(
            self.model,
            position,
            metrics=metrics,
            callbacks=self.callbacks,
            stopped=stopped,
            extra=self.extra() if self.extra else None,
            variables_model=self.variables_model,
        )

    def on_train_batch_end(self, batch: int, logs: Mapping[str, object] | None = None) -> None:
        step = self._offset + batch + 1
        every = self.state.every_steps
        if every and step % every == 0 and step < self.steps_per_epoch:
            self._save(BackupPosition(self.phase, self._epoch, step), metrics=True)

    def on_epoch_end(self, epoch: int, logs: Mapping[str, object] | None = None) -> None:
        self.stopped = bool(getattr(self.model, "stop_training", False))
        self._save(BackupPosition(self.phase, epoch + 1, 0), stopped=self.stopped)

    def on_train_end(self, logs: Mapping[str, object] | None = None) -> None:
        # The next fit of this phase resets the callbacks in on_train_begin: hand their state over.
        for entry in _callback_states(self.callbacks):
            _PENDING_CALLBACKS[self.callbacks[entry["index"]]] = (self.phase, self.state, entry["state"])


# Helpers -------------------------------------------------------------------------------------
def _slot_of(path: Path) -> int:
    match = _SLOT.match(path.name)
    return int(match.group(1) or 0) if match else 0


def _read_meta(path: Path) -> _Meta:
    """The meta entry of a backup file, after checking every member's checksum."""
    try:
        with zipfile.ZipFile(path) as archive:
            bad = archive.testzip()
            if bad is not None:
                raise _DamagedError(f"{bad} fails its checksum")
        with np.load(path, allow_pickle=False) as data:
            meta = json.loads(bytes(data[_META]).decode("utf-8"))
        if not isinstance(meta, dict):
            raise ValueError("the meta entry is not a JSON object")
        if meta.get("format") == FORMAT:
            position = meta["position"]
            BackupPosition(**position)
            if not all(type(position[k]) is int for k in ("phase", "epoch", "step")):
                raise ValueError(f"position {position!r}")
            missing = [key for key in _Meta.__annotations__ if key not in meta]
            if missing:
                raise ValueError(f"no {', '.join(missing)} in the meta entry")
        else:
            meta.setdefault("identity", None)  # another format: reported as such by _check
    except _DamagedError:
        raise
    except Exception as exc:  # anything unreadable is damage, never a crash
        raise _DamagedError(f"{type(exc).__name__}: {exc}") from exc
    return cast(_Meta, meta)


def _read_arrays(path: Path) -> dict[str, Array]:
    try:
        with np.load(path, allow_pickle=False) as data:
            return {key: data[key] for key in data.files if key != _META}
    except Exception as exc:
        raise _DamagedError(f"{type(exc).__name__}: {exc}") from exc


def _numpy(variable: keras.Variable | tf.Variable) -> Array:
    if isinstance(variable, keras.Variable):
        return np.asarray(keras.ops.convert_to_numpy(variable.value))
    return np.asarray(variable.numpy())  # a tf.Variable replica copy of a distributed variable


def _with_occurrence(paths: Sequence[str]) -> list[str]:
    seen: dict[str, int] = {}
    keys = []
    for path in paths:
        count = seen.get(path, 0)
        seen[path] = count + 1
        keys.append(path if count == 0 else f"{path}#{count}")
    return keys


def _model_keys(model: keras.Model) -> list[str]:
    """The paths of ``model.variables`` without the names Keras makes unique per process."""
    prefix = f"{model.name}/"
    paths = []
    for variable in model.variables:
        path = str(variable.path)
        if path.startswith(prefix):
            path = path[len(prefix) :]
        paths.append(_SEED.sub("seed_generator", path))
    return _with_occurrence(paths)


def _optimizer_keys(model: keras.Model) -> list[str]:
    """The paths of the optimizer's variables, its (unique per process) name replaced by its role."""
    opt = model.optimizer
    roles = {str(opt.name): "optimizer"}
    inner = getattr(opt, "inner_optimizer", None)
    if inner is not None:
        roles[str(inner.name)] = "inner_optimizer"
    flat_model = str(model.name).replace("/", "_") + "_"
    paths = []
    for variable in opt.variables:
        head, _, rest = str(variable.path).partition("/")
        if rest.startswith(flat_model):  # a slot named after "<model>/<layer>/<variable>"
            rest = rest[len(flat_model) :]
        paths.append(f"{roles.get(head, head)}/{rest}")
    return _with_occurrence(paths)


def _metric_items(model: keras.Model) -> list[tuple[str, keras.Variable]]:
    """``("<metric name>:<variable path>", variable)`` for every metric variable of ``model``."""
    names, variables = [], []
    for metric in model.metrics:
        for variable in metric.variables:
            names.append(f"{metric.name}:{variable.path}")
            variables.append(variable)
    return list(zip(_with_occurrence(names), variables))


def _match(
    what: str,
    keys: Sequence[str],
    variables: Sequence[keras.Variable],
    saved: Mapping[str, Array],
    path: Path,
    fix: str = _FIX,
    *,
    stacked: bool = False,
) -> list[tuple[keras.Variable, Array]]:
    """Pairs each variable with its saved value by key; any difference is a ResumeError."""
    current = dict(zip(keys, variables))
    missing = [k for k in keys if k not in saved]
    extra = [k for k in saved if k not in current]
    reshaped = []
    for key, variable in current.items():
        if key in saved:
            shape = tuple(saved[key].shape[1:] if stacked else saved[key].shape)
            if shape != tuple(variable.shape):
                reshaped.append(f"{key} (saved {shape}, now {tuple(variable.shape)})")
    problems = []
    for label, names in (
        ("not in the backup", missing),
        ("only in the backup", extra),
        ("of another shape", reshaped),
    ):
        if names:
            more = f" and {len(names) - _SHOWN} more" if len(names) > _SHOWN else ""
            problems.append(f"{len(names)} {label}: {', '.join(names[:_SHOWN])}{more}")
    if problems:
        raise ResumeError(
            describe(
                f"The backup's {what} do not fit this model",
                received=f"{'; '.join(problems)} ({path})",
                fix=fix,
            )
        )
    return [(current[k], saved[k]) for k in keys]


def _assign_parts(variable: keras.Variable, stacked: Array) -> None:
    """Assigns each saved local-replica share to the same replica's copy."""
    parts = replica_components(variable)
    if len(parts) == len(stacked):
        values = list(stacked)
    elif str(getattr(variable, "aggregation", "sum")) == "sum":  # the total on one replica: exact
        values = [stacked.sum(axis=0).astype(stacked.dtype)] + [np.zeros_like(stacked[0])] * (len(parts) - 1)
    else:
        values = [stacked.mean(axis=0).astype(stacked.dtype)] * len(parts)
    for part, value in zip(parts, values):
        part.assign(value)


def _jsonable(value: object) -> object:
    """A number (NumPy or tensor scalars included) as a plain Python one; anything else as is."""
    if value is None or isinstance(value, (str, bool)):
        return value
    try:
        array = np.asarray(value)
    except Exception:
        return value
    return array.item() if array.shape == () and array.dtype.kind in "biuf" else value


def _callback_states(callbacks: Sequence[keras.callbacks.Callback]) -> list[_CallbackEntry]:
    """The state of each stateful callback, with its class name and index."""
    states: list[_CallbackEntry] = []
    for index, callback in enumerate(callbacks):
        state: dict[str, object] | None = None
        if _has_protocol(callback):
            state = dict(callback.get_state())
        else:
            for cls, names in _KERAS_CALLBACK_STATE:
                if isinstance(callback, cls):
                    state = {name: _jsonable(getattr(callback, name, None)) for name in names}
                    break
        if state is not None:
            states.append({"index": index, "cls": type(callback).__name__, "state": state})
    return states


def _has_protocol(callback: keras.callbacks.Callback) -> bool:
    return callable(getattr(callback, "get_state", None)) and callable(getattr(callback, "set_state", None))


def _set_callback_state(callback: keras.callbacks.Callback, state: Mapping[str, object]) -> None:
    if _has_protocol(callback):
        callback.set_state(dict(state))
        return
    for name, value in state.items():
        setattr(callback, name, value)


def _scope(model: keras.Model) -> contextlib.AbstractContextManager[object]:
    """The model's distribution scope unless a strategy is active already."""
    strategy = getattr(model, "distribute_strategy", None)
    if strategy is None or tf.distribute.has_strategy():
        return contextlib.nullcontext()
    return cast(contextlib.AbstractContextManager[object], strategy.scope())
