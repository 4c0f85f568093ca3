"""``Trainer``: runs a strategy's phases with ``keras.Model.fit`` and leaves a readable run folder."""

from __future__ import annotations

import dataclasses
import hashlib
import inspect
import json
import logging
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from transferlab._atomic import atomic_path
from transferlab.data.labeled_images import LabeledImages
from transferlab.data.pipeline import make_pipeline
from transferlab.errors import ConfigError, DataError, describe
from transferlab.strategies import check_trainable_state, compile_phase
from transferlab.training._cluster import MAX_CANDIDATES, agree_on_position
from transferlab.training.distribution import resolve_distribution
from transferlab.training.distribution_info import DistributionInfo
from transferlab.training.exact_backup import ExactBackup
from transferlab.training.feature_cache import FeatureCache
from transferlab.training.metrics_logger import MetricsLogger
from transferlab.training.multi_worker_patch import multi_worker_patch
from transferlab.training.precision import resolve_precision
from transferlab.training.run_folder import RunFolder
from transferlab.training.train_result import TrainResult

__all__ = ["Trainer"]

logger = logging.getLogger("transferlab.training")

ModelSpec = Any  # a built keras.Model, or a callable returning one


class Trainer:
    """Trains a model through a strategy's phases, exactly resumable, into ``runs/<name>/``.

    A thin layer over ``keras.Model.fit``. For each phase of ``strategy``:
    set the trainable flags, compile with a fresh optimizer inside the
    distribution scope, check the flags (:func:`check_trainable_state`), then
    ``fit(initial_epoch=...)`` — with one continuous history, CSV/JSON metrics
    and TensorBoard log over all phases.

    What it fixes in plain Keras:

    - **Exact resume**: the state is backed up every ``backup_every`` steps
      (weights, optimizer, metrics, callbacks, phase, position) into the run
      folder; a run killed (even with SIGKILL) and started again with the
      same arguments continues in the right phase, at the right batch, and
      with ``deterministic=True`` ends bit-identical to an uninterrupted run.
      The data order of epoch ``e`` is a pure function of ``(seed, e)``.
    - **Feature caching** (``feature_cache="auto"``): in a phase where the
      backbone is frozen, without augmentation, BN training or random layers
      in the backbone, the backbone's features are computed once and only
      the head is trained on them. Where it is off, the reason is logged and
      written to ``decisions.json``.
    - **Mixed precision per run** (``precision="mixed"``: bfloat16 on CPU,
      float16 on GPU) through the model builder; no global dtype policy is set.
    - **Multi-worker** (``distribution="multi_worker"``, or ``"auto"`` with a
      ``TF_CONFIG`` naming several workers; start the job with
      ``transferlab launch``): ``fit`` runs inside
      :func:`multi_worker_patch` (keras-team/keras#20585), each worker trains
      on its share of every global batch of the same order (so the global
      batches equal a one-device run's), only the chief writes the reports and the model,
      each worker backs up into ``backup/<worker>/``, and after a crash all
      workers resume from the newest backup position they all hold.
    - ``steps_per_execution`` stays 1 (keras-team/keras#19246) and
      ``jit_compile`` is off on CPU (slower there) unless asked for.

    ``deterministic=True`` calls ``keras.utils.set_random_seed(seed)`` and
    ``tf.config.experimental.enable_op_determinism()``: both are
    **process-global** and stay on after the call; they are only set when asked.

    Args:
        model: A builder callable (called with no argument, or with
            ``precision=`` when it takes that keyword, inside the distribution
            scope) or an already built model (single device only).
        strategy: A transferlab strategy (``FineTune(...)`` ...), with ``.phases(info)``.
        distribution: ``"auto"``, ``"one_device"``, ``"mirrored"``,
            ``"multi_worker"``, a list of device names (see
            :func:`~transferlab.training.distribution.resolve_distribution`),
            or a ``tf.distribute.Strategy``. It is created at the start of
            :meth:`fit`, before any other TensorFlow work of the Trainer
            (multi-worker needs that: create nothing with TensorFlow before).
        run_dir: The folder holding runs.
        run_name: The run's name; default: model name, strategy and a hash of
            the configuration (so the same command finds its run again).
        seed: Seed of the data order and augmentation (and of everything,
            with ``deterministic=True``).
        deterministic: Seed everything and enable op determinism (process-global).
        precision: ``"float32"``, ``"bfloat16"``, ``"float16"`` or ``"mixed"``.
        batch_size: Examples per replica; the global batch is this times the replicas.
        scale_learning_rate: ``"none"`` (default): the phases' rates as
            given; ``"linear"``: every phase's rates times the replicas
            (the rates were tuned for one replica's batch; Goyal et al. 2017).
        worker_timeout: Seconds a multi-worker job waits for all its workers
            at start-up before failing with ``WorkerTimeoutError``.
        loss: Passed to ``compile``.
        metrics: Passed to ``compile``.
        optimizer: Optimizer name or template (a fresh copy per phase).
        feature_cache: ``"auto"``, ``"off"`` or ``"disk"`` (also store the
            features in the run folder).
        early_stopping: ``None``, a patience (int) or ``EarlyStopping`` kwargs;
            it ends the current phase (the next phase still runs).
        reduce_lr_on_plateau: ``None``, a patience (int) or ``ReduceLROnPlateau`` kwargs.
        steps_per_epoch: Batches per epoch; ``None``: the whole training set.
        resume: Continue from the run folder's backup when there is one.
        backup_every: Back up every this many steps (and at every epoch end).
        jit_compile: ``"auto"`` (off on CPU), ``True`` or ``False``.
        schedule: ``"constant"`` (each phase at its rates) or ``"cosine"``: within each
            phase the rates decay along a cosine from the phase's rates to 1 % of them
            (per-group factors kept; resumed runs continue the curve).
        verbose: Keras' progress output (``"auto"``, 0, 1, 2).

    Example:
        >>> Trainer(lambda: None, strategy=None, batch_size=0)
        Traceback (most recent call last):
        ...
        transferlab.errors.ConfigError: `batch_size` must be a whole number >= 1 (per replica). Received: batch_size=0.
    """

    def __init__(
        self,
        model: ModelSpec,
        *,
        strategy: Any,
        distribution: Any = "auto",
        run_dir: str | Path = "runs",
        run_name: str | None = None,
        seed: int = 0,
        deterministic: bool = False,
        precision: str = "float32",
        batch_size: int = 64,
        scale_learning_rate: str = "none",
        worker_timeout: float = 120.0,
        loss: Any = "sparse_categorical_crossentropy",
        metrics: Sequence[Any] = ("accuracy",),
        optimizer: Any = "adam",
        feature_cache: str = "auto",
        early_stopping: int | dict[str, Any] | None = None,
        reduce_lr_on_plateau: int | dict[str, Any] | None = None,
        steps_per_epoch: int | None = None,
        resume: bool = True,
        backup_every: int | None = 50,
        jit_compile: bool | str = "auto",
        schedule: str = "constant",
        verbose: int | str = "auto",
    ) -> None:
        if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
            raise ConfigError(
                describe(
                    "`batch_size` must be a whole number >= 1 (per replica)",
                    received=f"batch_size={batch_size!r}",
                )
            )
        if scale_learning_rate not in ("none", "linear"):
            raise ConfigError(
                describe(
                    "Unknown `scale_learning_rate` mode",
                    received=f"scale_learning_rate={scale_learning_rate!r}",
                    accepted="'none', 'linear'",
                )
            )
        if (
            isinstance(worker_timeout, bool)
            or not isinstance(worker_timeout, (int, float))
            or not worker_timeout > 0
        ):
            raise ConfigError(
                describe(
                    "`worker_timeout` must be a number of seconds > 0",
                    received=f"worker_timeout={worker_timeout!r}",
                )
            )
        if feature_cache not in ("auto", "off", "disk"):
            raise ConfigError(
                describe(
                    "Unknown `feature_cache` mode",
                    received=f"feature_cache={feature_cache!r}",
                    accepted="'auto', 'off', 'disk'",
                )
            )
        if steps_per_epoch is not None and (not isinstance(steps_per_epoch, int) or steps_per_epoch < 1):
            raise ConfigError(
                describe(
                    "`steps_per_epoch` must be a whole number >= 1, or None (the whole set)",
                    received=f"steps_per_epoch={steps_per_epoch!r}",
                )
            )
        if not callable(model):
            raise ConfigError(
                describe(
                    "`model` must be a keras.Model or a callable that builds one",
                    received=f"model of type {type(model).__name__}",
                    fix="pass e.g. lambda: build_classifier('alexnet', 10)",
                )
            )
        for name, value in (
            ("early_stopping", early_stopping),
            ("reduce_lr_on_plateau", reduce_lr_on_plateau),
        ):
            if value is not None and not isinstance(value, (int, dict)):
                raise ConfigError(
                    describe(
                        f"`{name}` must be None, a patience (int) or a dict of Keras callback options",
                        received=f"{name}={value!r}",
                    )
                )
        self.model_spec = model
        self.strategy = strategy
        self.distribution = distribution
        self.run_dir = Path(run_dir)
        self.run_name = run_name
        self.seed = int(seed)
        self.deterministic = bool(deterministic)
        # physical devices only: listing logical ones would start TensorFlow too early
        has_gpu = bool(tf.config.list_physical_devices("GPU")) if precision == "mixed" else None
        self.precision = resolve_precision(precision, has_gpu=has_gpu)
        self.batch_size = batch_size
        self.scale_learning_rate = scale_learning_rate
        self.worker_timeout = float(worker_timeout)
        self.loss = loss
        self.metrics = list(metrics)
        self.optimizer = optimizer
        self.feature_cache = feature_cache
        self.early_stopping = early_stopping
        self.reduce_lr_on_plateau = reduce_lr_on_plateau
        self.steps_per_epoch = steps_per_epoch
        self.resume = resume
        self.backup_every = backup_every
        if schedule not in ("constant", "cosine"):
            raise ConfigError(
                describe(
                    "Unknown learning-rate `schedule`",
                    received=f"schedule={schedule!r}",
                    accepted="'constant', 'cosine'",
                )
            )
        self.schedule = schedule
        self.jit_compile = jit_compile
        self.verbose = verbose
        self.model_: keras.Model | None = None
        self.run_: RunFolder | None = None
        self.distribute_strategy_: tf.distribute.Strategy | None = None

    # Set-up ----------------------------------------------------------------
    def _resolve_distribution(self) -> tf.distribute.Strategy:
        spec = self.distribution
        if isinstance(spec, tf.distribute.Strategy):
            return spec
        return resolve_distribution("auto" if spec is None else spec, timeout=self.worker_timeout)

    def _scaled_phases(self, phases: list[Any], replicas: int) -> list[Any]:
        """The phases with their rates scaled for the global batch (``scale_learning_rate``)."""
        if self.scale_learning_rate == "none" or replicas == 1:
            return phases
        factor = DistributionInfo(num_replicas=replicas).scaled_learning_rate(1.0, self.scale_learning_rate)
        scaled = []
        for phase in phases:
            if not dataclasses.is_dataclass(phase) or isinstance(phase, type):
                raise ConfigError(
                    describe(
                        "scale_learning_rate='linear' needs the strategy's phases to be "
                        "transferlab Phase objects",
                        received=f"a phase of type {type(phase).__name__}",
                        fix="pass scale_learning_rate='none' and scale the rates yourself",
                    )
                )
            rates: Any = phase  # a Phase
            scaled.append(
                dataclasses.replace(
                    phase,
                    learning_rate=rates.learning_rate * factor,  # type: ignore[call-arg]
                    group_learning_rates={k: v * factor for k, v in rates.group_learning_rates.items()},
                )
            )
        return scaled

    def _build_model(self, scope_strategy: tf.distribute.Strategy) -> keras.Model:
        spec = self.model_spec
        if isinstance(spec, keras.Model):
            if scope_strategy is not tf.distribute.get_strategy() and scope_strategy.num_replicas_in_sync > 1:
                raise ConfigError(
                    describe(
                        "A model built outside the distribution scope cannot be trained under it "
                        "(Keras fails at the first update)",
                        received=f"a built model {spec.name!r} with {type(scope_strategy).__name__}",
                        fix="pass a builder instead, e.g. Trainer(lambda: build_classifier(...), ...)",
                    )
                )
            have = getattr(spec, "precision", "float32")
            if have != self.precision:
                raise ConfigError(
                    describe(
                        "The model was built with another precision than the Trainer's",
                        received=f"model precision={have!r}, Trainer precision={self.precision!r}",
                        fix="build it with build_classifier(..., precision=...) or pass a builder "
                        "that takes `precision=`",
                    )
                )
            return spec
        kwargs: dict[str, Any] = {}
        params: Any
        try:
            params = inspect.signature(spec).parameters
        except (TypeError, ValueError):
            params = {}
        if "precision" in params or any(p.kind is p.VAR_KEYWORD for p in params.values()):
            kwargs["precision"] = self.precision
        elif self.precision != "float32":
            raise ConfigError(
                describe(
                    f"precision={self.precision!r} needs a model builder that takes `precision=`",
                    received=f"builder {getattr(spec, '__name__', spec)!r}",
                    fix="pass e.g. lambda precision: build_classifier(..., precision=precision)",
                )
            )
        with scope_strategy.scope():
            model = spec(**kwargs)
        if not isinstance(model, keras.Model):
            raise ConfigError(
                describe(
                    "The model builder must return a keras.Model",
                    received=f"{type(model).__name__}",
                )
            )
        return model

    def _config(
        self,
        model: keras.Model,
        phases: list[Any],
        train: LabeledImages,
        validation: LabeledImages | None,
        augment: Any,
        replicas: int,
    ) -> dict[str, Any]:
        return {
            "model": model.name,
            "backbone": getattr(model, "backbone_name", None),
            "num_params": int(model.count_params()),
            "strategy": repr(self.strategy),
            "phases": [_phase_dict(p) for p in phases],
            "distribution": _strategy_name(self.distribute_strategy_),
            "replicas": replicas,
            "seed": self.seed,
            "deterministic": self.deterministic,
            "precision": self.precision,
            "batch_size_per_replica": self.batch_size,
            "global_batch_size": self.batch_size * replicas,
            "scale_learning_rate": self.scale_learning_rate,
            "loss": _describe_obj(self.loss),
            "metrics": [_describe_obj(m) for m in self.metrics],
            "optimizer": _describe_obj(self.optimizer),
            "feature_cache": self.feature_cache,
            "early_stopping": self.early_stopping,
            "reduce_lr_on_plateau": self.reduce_lr_on_plateau,
            "steps_per_epoch": self.steps_per_epoch,
            "schedule": self.schedule,
            "backup_every": self.backup_every,
            "augment": _describe_obj(augment) if augment is not None else None,
            "train": {
                "examples": len(train),
                "image_shape": list(train.image_shape),
                "classes": list(train.class_names),
            },
            "validation": {"examples": len(validation)} if validation is not None else None,
        }

    # Training --------------------------------------------------------------
    def fit(
        self,
        train: LabeledImages,
        validation: LabeledImages | None = None,
        *,
        augment: keras.layers.Layer | None = None,
    ) -> TrainResult:
        """Trains every phase (resuming from the run folder's backup if there is one).

        Args:
            train: Training examples (raw pixels; the model adapts them).
            validation: Validation examples, evaluated after every epoch.
            augment: An augmentation layer (``make_augmentation(...)``) applied
                on the fly to training batches.

        Returns:
            A :class:`TrainResult` (history over all phases, the model, the run folder).
        """
        if not isinstance(train, LabeledImages):
            raise DataError(
                describe(
                    "`train` must be a transferlab LabeledImages",
                    received=f"train of type {type(train).__name__}",
                    fix="wrap arrays as LabeledImages(images, labels, class_names)",
                )
            )
        if validation is not None and not isinstance(validation, LabeledImages):
            raise DataError(
                describe(
                    "`validation` must be a transferlab LabeledImages or None",
                    received=f"validation of type {type(validation).__name__}",
                )
            )
        started = time.perf_counter()
        # First: a multi-worker strategy must exist before any other TensorFlow work.
        dist = self._resolve_distribution()
        self.distribute_strategy_ = dist
        if self.deterministic:
            # Process-global, on request only (documented in the class docstring).
            keras.utils.set_random_seed(self.seed)
            tf.config.experimental.enable_op_determinism()
        dinfo = DistributionInfo.from_strategy(dist)
        model = self._build_model(dist)
        self.model_ = model
        info = getattr(model, "backbone_info", None)
        replicas = int(dinfo.num_replicas)
        phases = self._scaled_phases(list(self.strategy.phases(info)), replicas)
        workers = dinfo.num_workers
        is_chief = dinfo.is_chief
        worker = f"{dinfo.task_type}{dinfo.task_index}" if dinfo.task_type else "chief"
        config = self._config(model, phases, train, validation, augment, replicas)
        name = self.run_name or _default_name(model, self.strategy, config)
        run = RunFolder(self.run_dir, name, is_chief=is_chief, worker=worker)
        self.run_ = run
        backup = ExactBackup(
            run.backup_dir, every_steps=self.backup_every, keep=MAX_CANDIDATES if workers > 1 else 1
        )
        if not self.resume:
            backup.clear()
        # Every worker offers its backed-up positions; all resume from the newest common one.
        position = agree_on_position(dist, backup.positions(), workers)
        backup.use(position)
        if position is not None:
            logger.info(
                "Resuming run %s from phase %d, epoch %d, step %d",
                name,
                position.phase,
                position.epoch,
                position.step,
            )
        run.write_json("config.json", config)
        run.write_environment(_strategy_name(dist), {"replicas": replicas, "workers": workers})

        # Every worker builds the same pipeline of GLOBAL batches; tf.distribute splits
        # each one over all replicas and gives each worker its share (auto-shard DATA).
        # So the global batches are exactly a one-device run's (augmentation included).
        batch = self.batch_size * replicas
        pipe: dict[str, Any] = dict(batch_size=batch, seed=self.seed, num_replicas=replicas)
        natural = len(make_pipeline(train, **pipe))
        steps = self.steps_per_epoch or natural
        if steps > natural:
            raise ConfigError(
                describe(
                    "`steps_per_epoch` is larger than the batches of one epoch",
                    received=f"steps_per_epoch={steps}, {natural} batches of {batch}",
                    fix=f"pass at most {natural}, or None",
                )
            )
        val_ds = _for_workers(make_pipeline(validation, **pipe), workers) if validation is not None else None

        def image_data(epoch: int, skip: int) -> tf.data.Dataset:
            return _for_workers(
                make_pipeline(train, shuffle=True, epoch=epoch, skip_batches=skip, augment=augment, **pipe),
                workers,
            )

        cache = FeatureCache(run.path / "feature_cache" if self.feature_cache == "disk" else None)
        metrics_logger = MetricsLogger(run, start_epoch=position.epoch if position else 0)
        decisions: dict[str, Any] = {"precision": self.precision, "feature_cache": {}}
        monitor = "val_loss" if validation is not None else "loss"
        jit = self.jit_compile
        if jit == "auto":
            jit = False if not tf.config.list_logical_devices("GPU") else "auto"

        epoch = 0
        for index, phase in enumerate(phases):
            end = epoch + phase.epochs
            if position is not None and position.phase > index:
                epoch = end
                continue
            with dist.scope():
                compile_phase(
                    model,
                    phase,
                    loss=self.loss,
                    metrics=list(self.metrics),
                    optimizer=self._phase_optimizer(phase, steps),
                    jit_compile=jit,
                    steps_per_execution=1,
                )
            check_trainable_state(model)
            reasons = (
                ["feature_cache='off'"]
                if self.feature_cache == "off"
                else FeatureCache.reasons_off(model, augment=augment)
            )
            fit_model: keras.Model = model
            data_fn: Callable[[int, int], tf.data.Dataset] = image_data
            validation_data: tf.data.Dataset | None = val_ds
            if not reasons:
                decisions["feature_cache"][phase.name] = "on"
                logger.info("Phase %r: feature cache on (backbone frozen, no augmentation)", phase.name)
                fit_model = model.head
                with dist.scope():
                    fit_model.compile(
                        optimizer=model.optimizer,
                        loss=self.loss,
                        metrics=list(self.metrics),
                        jit_compile=jit,
                        steps_per_execution=1,
                    )
                data_fn, validation_data = self._feature_data(cache, model, train, validation, pipe, workers)
            else:
                decisions["feature_cache"][phase.name] = "off: " + "; ".join(reasons)
                logger.info("Phase %r: feature cache off: %s", phase.name, "; ".join(reasons))
            run.write_json("decisions.json", decisions)
            metrics_logger.phase = phase.name
            callbacks = self._callbacks(run, metrics_logger, model, monitor, is_chief)
            with multi_worker_patch(dist):
                backup.fit_phase(
                    fit_model,
                    data_fn,
                    phase=index,
                    initial_epoch=epoch,
                    epochs=end,
                    steps_per_epoch=steps,
                    callbacks=callbacks,
                    validation_data=validation_data,
                    verbose=self.verbose,
                    state_model=model,
                )
            backup.end_phase(model, index, end)
            epoch = end

        if is_chief:
            _save_model_atomically(model, run.model_path)
        rows = metrics_logger.rows
        history: dict[str, list[float]] = {}
        for row in rows:
            for key, value in row.items():
                if key not in ("epoch", "phase", "seconds") and isinstance(value, (int, float)):
                    history.setdefault(key, []).append(float(value))
        resumed = (position.phase, position.epoch, position.step) if position else None
        run.write_text(
            "summary.md",
            _summary(name, config, rows, decisions, resumed, time.perf_counter() - started, monitor),
        )
        backup.clear()
        run.clear_backup()
        try:
            run.backup_dir.parent.rmdir()  # "backup/" once the last worker's folder is gone
        except OSError:
            pass
        return TrainResult(
            history=history,
            rows=rows,
            model=model,
            run_dir=run.path,
            resumed_from=resumed,
            feature_cache=dict(decisions["feature_cache"]),
        )

    def _feature_data(
        self,
        cache: FeatureCache,
        model: Any,
        train: LabeledImages,
        validation: LabeledImages | None,
        pipe: dict[str, Any],
        workers: int = 1,
    ) -> tuple[Callable[[int, int], tf.data.Dataset], tf.data.Dataset | None]:
        """Pipelines over cached features, in exactly the order of the image pipeline."""
        feats = cache.features(model, train)
        dtype = feats.dtype

        def as_images(features: np.ndarray, labels: np.ndarray, names: tuple[str, ...]) -> LabeledImages:
            # (N, D) features as (N, 1, D) "images": make_pipeline then orders them
            # exactly as it orders the images (same seed, epoch, batch, replicas).
            return LabeledImages(features.astype("float32")[:, None, :], labels, names)

        def flatten(x: tf.Tensor, y: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
            return tf.cast(tf.reshape(x, (-1, feats.shape[-1])), dtype), y

        train_f = as_images(feats, train.labels, train.class_names)

        def data_fn(epoch: int, skip: int) -> tf.data.Dataset:
            ds = make_pipeline(train_f, shuffle=True, epoch=epoch, skip_batches=skip, **pipe).map(flatten)
            return _for_workers(ds, workers)

        val = None
        if validation is not None:
            val_f = as_images(cache.features(model, validation), validation.labels, validation.class_names)
            val = _for_workers(make_pipeline(val_f, **pipe).map(flatten), workers)
        return data_fn, val

    def _callbacks(
        self, run: RunFolder, metrics_logger: MetricsLogger, model: keras.Model, monitor: str, is_chief: bool
    ) -> list[keras.callbacks.Callback]:
        callbacks: list[keras.callbacks.Callback] = []
        if is_chief:
            callbacks.append(metrics_logger)
            callbacks.append(_Checkpoints(run, model, monitor, metrics_logger))
            if _has_tensorboard():
                callbacks.append(keras.callbacks.TensorBoard(str(run.tensorboard_dir), write_graph=False))
        for value, cls in (
            (self.early_stopping, keras.callbacks.EarlyStopping),
            (self.reduce_lr_on_plateau, keras.callbacks.ReduceLROnPlateau),
        ):
            if value is not None:
                kwargs: dict[str, Any] = {"patience": value} if isinstance(value, int) else dict(value)
                kwargs.setdefault("monitor", monitor)
                callbacks.append(cls(**kwargs))
        return callbacks

    def _phase_optimizer(self, phase: Any, steps_per_epoch: int) -> Any:
        """The optimizer template of a phase: ``self.optimizer``, with a cosine schedule if asked."""
        if self.schedule == "constant":
            return self.optimizer
        template = keras.optimizers.get(self.optimizer)
        config = template.get_config()
        config["learning_rate"] = keras.optimizers.schedules.CosineDecay(
            phase.learning_rate, decay_steps=max(1, phase.epochs * steps_per_epoch), alpha=0.01
        )
        return type(template).from_config(config)

    def evaluate(self, test: LabeledImages) -> dict[str, float]:
        """Evaluates the trained model on ``test`` (raw pixels); also written to the run folder."""
        if self.model_ is None or self.distribute_strategy_ is None:
            raise ConfigError(describe("`evaluate` needs a trained model", fix="call fit() first"))
        dist = self.distribute_strategy_
        dinfo = DistributionInfo.from_strategy(dist)
        replicas = dinfo.num_replicas
        ds = _for_workers(
            make_pipeline(test, batch_size=self.batch_size * replicas, num_replicas=replicas),
            dinfo.num_workers,
        )
        with multi_worker_patch(dist):
            logs = self.model_.evaluate(ds, return_dict=True, verbose=0)
        result = {k: float(v) for k, v in logs.items()}
        if self.run_ is not None:
            self.run_.write_json("test_metrics.json", result)
        return result


class _Checkpoints(keras.callbacks.Callback):
    """``checkpoints/last.weights.h5`` every epoch and ``best.weights.h5`` on improvement, atomically."""

    def __init__(self, run: RunFolder, model: keras.Model, monitor: str, history: MetricsLogger) -> None:
        super().__init__()
        self.run, self.target, self.monitor, self.history = run, model, monitor, history

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        logs = logs or {}
        _save_weights_atomically(self.target, self.run.checkpoints_dir / "last.weights.h5")
        if self.monitor not in logs:
            return
        earlier = [
            r[self.monitor] for r in self.history.rows if int(r["epoch"]) < epoch + 1 and self.monitor in r
        ]
        if not earlier or float(logs[self.monitor]) < min(earlier):
            _save_weights_atomically(self.target, self.run.checkpoints_dir / "best.weights.h5")


def _save_weights_atomically(model: keras.Model, path: Path) -> None:
    with atomic_path(path) as tmp:
        model.save_weights(str(tmp))


def _save_model_atomically(model: keras.Model, path: Path) -> None:
    with atomic_path(path) as tmp:
        model.save(str(tmp))


def _has_tensorboard() -> bool:
    import importlib.util

    found = importlib.util.find_spec("tensorboard") is not None
    if not found:
        logger.info("TensorBoard logs off: the `tensorboard` package is not installed")
    return found


def _strategy_name(dist: Any) -> str:
    """The public name (TF's multi-worker class is ``CollectiveAllReduceStrategy``)."""
    if isinstance(dist, tf.distribute.MultiWorkerMirroredStrategy):
        return "MultiWorkerMirroredStrategy"
    return type(dist).__name__


def _for_workers(ds: tf.data.Dataset, workers: int) -> tf.data.Dataset:
    """Under several workers: each takes its share of every global batch (auto-shard DATA).

    ``tf.distribute`` treats a dataset's batches as global under a multi-worker
    strategy and rebatches them per replica whatever the sharding, so
    per-worker batches (``make_pipeline(shard=...)``) would make the global
    batch too small; sharding by DATA after that rebatch gives each worker
    exactly its replicas' part of the one-device run's batch.
    """
    if workers <= 1:
        return ds
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return ds.with_options(options)


def _phase_dict(phase: Any) -> dict[str, Any]:
    if dataclasses.is_dataclass(phase) and not isinstance(phase, type):
        d = {f.name: getattr(phase, f.name) for f in dataclasses.fields(phase)}
        p: Any = phase
        d["group_learning_rates"] = dict(p.group_learning_rates)
        d["batchnorm"] = getattr(p.batchnorm, "value", str(p.batchnorm))
        d["trainable_groups"] = list(p.trainable_groups)
        return d
    return {"repr": repr(phase)}


def _describe_obj(obj: Any) -> Any:
    if isinstance(obj, (str, int, float, bool)) or obj is None:
        return obj
    get_config = getattr(obj, "get_config", None)
    if callable(get_config):
        try:
            return {"class": type(obj).__name__, "config": json.loads(json.dumps(get_config(), default=str))}
        except Exception:
            pass
    return repr(obj)


def _default_name(model: keras.Model, strategy: Any, config: dict[str, Any]) -> str:
    digest = hashlib.sha256(json.dumps(config, sort_keys=True, default=str).encode()).hexdigest()[:8]
    kind = type(strategy).__name__.lower() if strategy is not None else "run"
    stem = "".join(c if c.isalnum() or c in "._-" else "_" for c in model.name)
    return f"{stem}-{kind}-{digest}"


def _summary(
    name: str,
    config: dict[str, Any],
    rows: list[dict[str, Any]],
    decisions: dict[str, Any],
    resumed: tuple[int, int, int] | None,
    seconds: float,
    monitor: str,
) -> str:
    lines = [f"# Run `{name}`", ""]
    lines.append(
        f"- Model: `{config['model']}` (backbone `{config['backbone']}`, {config['num_params']:,} parameters)"
    )
    lines.append(f"- Strategy: `{config['strategy']}`")
    lines.append(
        f"- Distribution: {config['distribution']} with {config['replicas']} replica(s); "
        f"global batch {config['global_batch_size']}"
    )
    lines.append(
        f"- Precision: {config['precision']}; seed {config['seed']}; deterministic: {config['deterministic']}"
    )
    lines.append(
        f"- Examples: {config['train']['examples']} train"
        + (f", {config['validation']['examples']} validation" if config["validation"] else "")
    )
    if resumed:
        lines.append(f"- Resumed from phase {resumed[0]}, epoch {resumed[1]}, step {resumed[2]}")
    lines.append(f"- Wall time of this process: {seconds:.1f} s")
    lines += [
        "",
        "## Phases",
        "",
        "| phase | epochs | trainable groups | learning rate | feature cache |",
        "|---|---|---|---|---|",
    ]
    for p in config["phases"]:
        groups = ", ".join(p.get("trainable_groups", [])) or "head only"
        cache = decisions["feature_cache"].get(p.get("name"), "-")
        lines.append(
            f"| {p.get('name')} | {p.get('epochs')} | {groups} | {p.get('learning_rate')} | {cache} |"
        )
    if rows:
        last = rows[-1]
        scored = [r for r in rows if monitor in r]
        lines += ["", "## Result", ""]
        metrics = ", ".join(
            f"{k} {v:.4f}"
            for k, v in last.items()
            if isinstance(v, float) and k not in ("seconds", "learning_rate")
        )
        lines.append(f"- Last epoch ({last['epoch']}, phase {last['phase']}): {metrics}")
        if scored:
            best = min(scored, key=lambda r: r[monitor])
            lines.append(f"- Best {monitor}: {best[monitor]:.4f} at epoch {best['epoch']} ({best['phase']})")
    lines += [
        "",
        "Files: config.json, environment.json, decisions.json, metrics.csv, metrics.json, "
        "tensorboard/, checkpoints/, model.keras",
        "",
    ]
    return "\n".join(lines)
