"""``Trainer``: runs a strategy's phases with ``keras.Model.fit`` and leaves a readable run folder."""

from __future__ import annotations

import contextlib
import dataclasses
import inspect
import logging
import shutil
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Protocol, TypeAlias, TypedDict, cast

import keras
import numpy as np
import numpy.typing as npt
import tensorflow as tf

from transferlab.data.labeled_images import LabeledImages
from transferlab.data.pipeline import make_pipeline
from transferlab.data.read_errors import naming_bad_files
from transferlab.data.source import ACCEPTED_DATA, ImageSource, IndexedSource, StreamSource, as_source
from transferlab.data.task_checks import check_task
from transferlab.errors import ConfigError, DataError, ResumeError, describe
from transferlab.strategies import (
    check_closed_form_head,
    check_trainable_state,
    compile_phase,
    fit_closed_form_head,
    phase_learning_rates,
)
from transferlab.strategies.by_name import strategy_by_name
from transferlab.strategies.phase import Phase
from transferlab.strategies.strategy import Strategy
from transferlab.training._cluster import MAX_CANDIDATES, agree_on_position
from transferlab.training.distribution import resolve_distribution
from transferlab.training.distribution_info import DistributionInfo
from transferlab.training.divergence import DivergenceGuard
from transferlab.training.feature_cache import FeatureCache
from transferlab.training.identity import (
    RunIdentity,
    describe_object,
    model_description,
    weights_digest,
)
from transferlab.training.metrics_logger import MetricsLogger
from transferlab.training.multi_worker_patch import multi_worker_patch
from transferlab.training.options import TrainingOptions
from transferlab.training.precision import resolve_precision
from transferlab.training.progress import RunProgress
from transferlab.training.run_folder import RunFolder
from transferlab.training.run_record import (
    Checkpoints,
    history_from_rows,
    save_model,
    summary_text,
)
from transferlab.training.state import BackupCallback, BackupPosition, LoadedBackup, TrainingState
from transferlab.training.train_result import TrainResult

__all__ = ["Trainer"]

logger = logging.getLogger("transferlab.training")

#: A built ``keras.Model``, or a callable (optionally taking ``precision=``) that builds one.
ModelSpec: TypeAlias = "keras.Model | Callable[[], keras.Model] | Callable[[str], keras.Model]"
DistributionArg: TypeAlias = "str | Sequence[str] | tf.distribute.Strategy | None"
#: What ``fit`` and ``evaluate`` accept as data (see :func:`transferlab.data.as_source`).
DataArg: TypeAlias = "LabeledImages | ImageSource | tf.data.Dataset | tuple[npt.NDArray[np.generic[object]], npt.NDArray[np.generic[object]]]"


class _PrecisionBuilder(Protocol):
    """A model builder that takes the run's precision."""

    def __call__(self, *, precision: str) -> keras.Model: ...


class _Batching(TypedDict):
    """How a run batches its data: the same for every pipeline of the run."""

    batch_size: int
    seed: int
    num_replicas: int


def _stored_feature_cache(run: RunFolder) -> dict[str, str]:
    stored = run.read_json("decisions.json")
    cache = stored.get("feature_cache") if isinstance(stored, dict) else None
    return {str(k): str(v) for k, v in cache.items()} if isinstance(cache, dict) else {}


#: The run folder's scratch space for cached features too big for memory (deleted at the run's end).
_FEATURE_SCRATCH = "feature_scratch"

#: Fewer optimizer steps per epoch (and in the whole run) than these, and the run says so:
#: an "epoch" of one step of a batch larger than the data barely trains anything.
_FEW_STEPS = 5
_FEW_STEPS_IN_ALL = 50

#: Phase fields left out of a phase's record (config.json, the identity) at their default value:
#: a run planned before they existed keeps its identity, so it still resumes.
_OPTIONAL_PHASE_FIELDS = ("head_fit", "probe_l2", "probe_method")


def _stored_head_fits(run: RunFolder, names: Sequence[str]) -> dict[str, dict[str, object]]:
    """The closed-form head fits ``decisions.json`` recorded for the phases ``names`` (a resumed run's)."""
    stored = run.read_json("decisions.json")
    fits = stored.get("head_fit") if isinstance(stored, dict) else None
    if not isinstance(fits, dict):
        return {}
    return {
        str(name): {str(k): v for k, v in record.items()}
        for name, record in fits.items()
        if name in names and isinstance(record, dict)
    }


@dataclasses.dataclass
class _Decisions:
    """What the run decided and why: ``decisions.json``."""

    precision: str
    feature_cache: dict[str, str] = dataclasses.field(default_factory=dict)
    learning_rates: dict[str, object] = dataclasses.field(default_factory=dict)
    #: Per phase whose head is fitted in closed form: the fit's record (a probe's l2 and scores).
    head_fit: dict[str, dict[str, object]] = dataclasses.field(default_factory=dict)
    notes: list[str] = dataclasses.field(default_factory=list)
    resumed_from: dict[str, int] | None = None
    backup_fallback: str | None = None
    data_order: str = "a pure function of (seed, epoch): exact mid-epoch resume"
    input: str = "global batches, split over the replicas by tf.distribute"
    #: What the caller decided before training (``Trainer.fit(decided=...)``), at the top level.
    decided: dict[str, object] = dataclasses.field(default_factory=dict)

    def as_json(self) -> dict[str, object]:
        out = dataclasses.asdict(self)
        decided: dict[str, object] = out.pop("decided")
        return {k: v for k, v in out.items() if v is not None and not (k == "head_fit" and not v)} | decided


@dataclasses.dataclass(frozen=True)
class _Plan:
    """What a run is, decided before its folder is touched."""

    dist: tf.distribute.Strategy
    dinfo: DistributionInfo
    precision: str
    model: keras.Model
    phases: list[Phase]
    identity: RunIdentity
    train: ImageSource
    validation: ImageSource | None


class _TrainData:
    """The training batches of one data source over a run: one pipeline per ``fit``, never per epoch.

    Under several workers an indexed source is read per worker
    (``distribute_datasets_from_function``): each worker reads only its
    replicas' part of every global batch, and the global batches are the
    one-device run's. Other sources are read whole by every worker, as global
    batches that tf.distribute shards by DATA.
    """

    def __init__(
        self,
        source: ImageSource,
        *,
        pipe: _Batching,
        steps: int,
        augment: keras.layers.Layer | None,
        dist: tf.distribute.Strategy,
        workers: int,
    ) -> None:
        self.source, self.pipe, self.steps, self.augment = source, pipe, steps, augment
        self.dist, self.workers = dist, workers
        self.per_worker = workers > 1 and isinstance(source, IndexedSource)

    def _pipeline(
        self, epoch: int, skip: int, *, epochs: int, worker: tuple[int, int] | None = None
    ) -> tf.data.Dataset:
        return make_pipeline(
            self.source,
            shuffle=True,
            epoch=epoch,
            epochs=epochs,
            skip_batches=skip,
            augment=self.augment,
            steps_per_epoch=self.steps,
            worker=worker,
            **self.pipe,
        )

    def batches(
        self, epoch: int, skip: int, epochs: int
    ) -> tf.data.Dataset | tf.distribute.DistributedDataset:
        """``epochs`` epochs from batch ``skip`` of ``epoch``: ``steps * epochs - skip`` steps, no more read."""
        if not self.per_worker:
            return _for_workers(self._pipeline(epoch, skip, epochs=epochs), self.workers)

        def per_worker(context: tf.distribute.InputContext) -> tf.data.Dataset:
            worker = (context.num_input_pipelines, context.input_pipeline_id)
            return self._pipeline(epoch, skip, epochs=epochs, worker=worker)

        return self.dist.distribute_datasets_from_function(per_worker)

    def first_batch(self, epoch: int, skip: int) -> tuple[tf.Tensor, tf.Tensor]:
        """One local batch (its shapes and dtypes build Keras' metrics)."""
        batch: tuple[tf.Tensor, tf.Tensor] = next(iter(self._pipeline(epoch, skip, epochs=1)))
        return batch


class Trainer:
    """Trains a model through a strategy's phases, exactly resumable, into ``runs/<name>/``.

    A short loop over ``keras.Model.fit``. For each phase of ``strategy``: set
    the trainable flags and compile with a fresh optimizer inside the
    distribution scope (:func:`~transferlab.strategies.compile_phase`), check
    the flags, then ``fit(initial_epoch=...)`` with one continuous history,
    CSV/JSON metrics and TensorBoard log over all phases.

    **A run's identity.** Everything that shapes the result — the model's full
    config, its initial weights (so a weights file or random weights of a seed),
    the data, the strategy's phases, the options that change the numbers, the
    optimizer, loss, metrics and augmentation, the replica count — is hashed
    into a :class:`~transferlab.training.identity.RunIdentity`. The default run
    name is ``<model>-<strategy>-<hash>``. The run folder stores it:

    - the same identity again resumes an interrupted run exactly, or returns a
      finished run's stored result without training (``result.reused``);
    - another identity under the same name is refused with the differences
      named, and nothing in the folder changes (``overwrite=True`` replaces it);
    - a run folder is locked while a process trains in it.

    **Exact resume.** The training state (weights, optimizer, metric
    accumulators, callback state including early stopping's, position) is
    backed up every ``backup_every`` steps and at every epoch end, two
    generations kept; a run killed (even with SIGKILL) and started again
    continues at the right batch, restoring the state *before* anything derived
    from the model (cached features) is computed. The data order of epoch ``e``
    is a pure function of ``(seed, e)``.

    **Seeds.** ``seed`` always fixes the initial weights (it calls
    ``keras.utils.set_random_seed(seed)`` before building the model: Python's,
    NumPy's and TensorFlow's global generators, process-wide), the data order
    and the augmentation. ``deterministic=True`` also enables deterministic
    kernels (``tf.config.experimental.enable_op_determinism()``, process-wide,
    stays on), which bit-identical reruns need.

    **Feature caching** (``feature_cache="auto"``): in a phase where the backbone
    is frozen, without augmentation, BatchNorm training or random layers, the
    backbone's features are computed once and only the head trains on them. The
    reason it is off, where it is, goes to ``decisions.json``.

    **Heads fitted in closed form.** A phase with ``head_fit="probe"`` or
    ``"prototypes"`` (:class:`~transferlab.strategies.LinearProbe`,
    :class:`~transferlab.strategies.Prototypes`, the first phase of
    :class:`~transferlab.strategies.LPFT`) does not call ``fit``: the frozen
    backbone's features of the training examples are computed once (the
    feature cache), the head's last layer is fitted on them and set
    (:func:`~transferlab.strategies.fit_closed_form_head`), the fit's record
    (a probe's chosen ``l2`` and cross-validated scores) goes to
    ``decisions.json`` under ``head_fit`` and the phase's name, and one row of
    metrics (loss and metrics on the training and validation data, evaluated)
    counts as the phase's one epoch; a backup at its end lets a killed run
    resume after it. The training data must be indexed (not a
    ``tf.data.Dataset`` stream); augmentation does not apply to such a phase.

    Args:
        model: A builder callable (called inside the distribution scope, with
            ``precision=`` when it takes that keyword) or a built model
            (single device only).
        strategy: A transferlab :class:`~transferlab.strategies.Strategy`
            (``FineTune(...)`` ...), or its name with default options
            (one of :data:`~transferlab.strategies.STRATEGY_NAMES`: ``"fine_tune"``,
            ``"lp_ft"``, ...).
        options: The :class:`~transferlab.training.options.TrainingOptions`
            (batch size, seed, precision, ...). Any option can also be given
            as a keyword argument, e.g. ``Trainer(build, strategy=s, batch_size=32)``.
        optimizer: A Keras optimizer name or instance: its learning rate (or
            schedule) is the base rate the strategy's phases scale; every
            other setting reaches each phase's fresh copy.
        loss: Passed to ``compile``.
        metrics: Passed to ``compile``.
        callbacks: Your Keras callbacks; they run in every phase. A callback
            with ``get_state()``/``set_state(state)`` has its state backed up
            and restored on resume.
        distribution: A ``tf.distribute.Strategy`` or a list of device names;
            a name (``"mirrored"`` ...) sets the ``distribution`` option.
        verbose: Keras' progress output (``"auto"``, 0, 1, 2).
        **overrides: Options by name (see :class:`TrainingOptions`).

    Example:
        >>> Trainer(lambda: None, strategy=None, batch_size=0)
        Traceback (most recent call last):
        ...
        transferlab.errors.ConfigError: `training.batch_size` must be >= 1. Received: training.batch_size=0.
    """

    def __init__(
        self,
        model: ModelSpec,
        *,
        strategy: Strategy | str,
        options: TrainingOptions | Mapping[str, object] | None = None,
        optimizer: str | keras.optimizers.Optimizer = "adam",
        loss: object = "sparse_categorical_crossentropy",
        metrics: Sequence[object] = ("accuracy",),
        callbacks: Sequence[keras.callbacks.Callback] = (),
        distribution: DistributionArg = None,
        verbose: int | str = "auto",
        **overrides: object,
    ) -> None:
        if isinstance(distribution, str):
            overrides["distribution"] = distribution
            distribution = None
        self.options = TrainingOptions.coerce(options, overrides)
        if not callable(model):
            raise ConfigError(
                describe(
                    "`model` must be a keras.Model or a callable that builds one",
                    received=f"model of type {type(model).__name__}",
                    fix="pass e.g. lambda: build_classifier('alexnet', 10)",
                )
            )
        if isinstance(strategy, str):  # a config's kind: "fine_tune", "feature_extraction" ...
            strategy = strategy_by_name(strategy)
        if not callable(getattr(strategy, "phases", None)):
            raise ConfigError(
                describe(
                    "`strategy` must be a transferlab strategy (an object with .phases(info))",
                    received=f"strategy of type {type(strategy).__name__}",
                    fix="pass e.g. FeatureExtraction(3) or FineTune(2, top=2)",
                )
            )
        for callback in callbacks:
            if not isinstance(callback, keras.callbacks.Callback):
                raise ConfigError(
                    describe(
                        "Every entry of `callbacks` must be a keras.callbacks.Callback",
                        received=f"an entry of type {type(callback).__name__}",
                    )
                )
        self.model_spec = model
        self.strategy = strategy
        self.optimizer = optimizer
        self.loss = loss
        self.metrics = list(metrics)
        self.callbacks = list(callbacks)
        self.distribution = distribution
        self.verbose = verbose
        self.model_: keras.Model | None = None
        self.run_: RunFolder | None = None
        self.distribute_strategy_: tf.distribute.Strategy | None = None

    # Set-up ----------------------------------------------------------------
    @property
    def run_dir(self) -> Path:
        """The folder holding runs, with ``~`` and ``$VARS`` expanded."""
        return self.options.runs_path

    def _resolve_distribution(self) -> tf.distribute.Strategy:
        spec = self.distribution
        if isinstance(spec, tf.distribute.Strategy):
            return spec
        return resolve_distribution(
            self.options.distribution if spec is None else spec, timeout=self.options.worker_timeout
        )

    def _build_model(self, dist: tf.distribute.Strategy, precision: str) -> keras.Model:
        spec = self.model_spec
        if isinstance(spec, keras.Model):
            if dist is not tf.distribute.get_strategy() and dist.num_replicas_in_sync > 1:
                raise ConfigError(
                    describe(
                        "A model built outside the distribution scope cannot be trained under it "
                        "(Keras fails at the first update)",
                        received=f"a built model {spec.name!r} with {type(dist).__name__}",
                        fix="pass a builder instead, e.g. Trainer(lambda: build_classifier(...), ...)",
                    )
                )
            have = getattr(spec, "precision", "float32")
            if have != precision:
                raise ConfigError(
                    describe(
                        "The model was built with another precision than the Trainer's",
                        received=f"model precision={have!r}, Trainer precision={precision!r}",
                        fix="build it with build_classifier(..., precision=...) or pass a builder "
                        "that takes `precision=`",
                    )
                )
            return spec
        try:
            params: Mapping[str, inspect.Parameter] = inspect.signature(spec).parameters
        except (TypeError, ValueError):
            params = {}
        takes_precision = "precision" in params or any(p.kind is p.VAR_KEYWORD for p in params.values())
        if not takes_precision and precision != "float32":
            raise ConfigError(
                describe(
                    f"precision={precision!r} needs a model builder that takes `precision=`",
                    received=f"builder {getattr(spec, '__name__', spec)!r}",
                    fix="pass e.g. lambda precision: build_classifier(..., precision=precision)",
                )
            )
        with dist.scope():
            if takes_precision:  # checked above: the builder takes `precision=`
                model = cast("_PrecisionBuilder", spec)(precision=precision)
            else:
                model = cast("Callable[[], keras.Model]", spec)()
        if not isinstance(model, keras.Model):
            raise ConfigError(
                describe("The model builder must return a keras.Model", received=f"{type(model).__name__}")
            )
        return model

    def _identity(
        self,
        model: keras.Model,
        phases: Sequence[Phase],
        train: ImageSource,
        validation: ImageSource | None,
        augment: keras.layers.Layer | None,
        replicas: int,
        precision: str,
    ) -> RunIdentity:
        def data(source: ImageSource | None) -> dict[str, object] | None:
            return source.fingerprint() if source is not None else None

        return RunIdentity.from_components(
            {
                "model": model_description(model),
                "initial_weights": weights_digest(model),
                "data": {"train": data(train), "validation": data(validation)},
                "strategy": [_phase_dict(p) for p in phases],
                "options": {**self.options.identity_options(), "precision": precision},
                "optimizer": describe_object(self.optimizer),
                "loss": describe_object(self.loss),
                "metrics": [describe_object(m) for m in self.metrics],
                "augment": describe_object(augment) if augment is not None else None,
                "replicas": replicas,
            }
        )

    # Training --------------------------------------------------------------
    def fit(
        self,
        train: DataArg,
        validation: DataArg | None = None,
        *,
        augment: keras.layers.Layer | None = None,
        decided: Mapping[str, object] | None = None,
    ) -> TrainResult:
        """Trains every phase (resuming the run's backup if there is one).

        Args:
            train: Training examples (raw pixels; the model adapts them): a
                :class:`~transferlab.data.LabeledImages`, a source
                (:class:`~transferlab.data.ImageFolderSource`,
                :class:`~transferlab.data.TFRecordSource`, ...), an
                ``(images, labels)`` pair of NumPy arrays, or a
                ``tf.data.Dataset`` of ``(image, label)``, batched or not (class
                count from the model). Indexed sources resume mid-epoch
                exactly; a ``tf.data.Dataset`` resumes at epoch boundaries.
            validation: Validation examples (the same kinds), evaluated after every epoch.
            augment: An augmentation layer (``make_augmentation(...)``) applied
                on the fly to training batches.
            decided: What was decided before training, recorded in
                ``decisions.json`` beside the Trainer's own decisions (e.g.
                ``{"strategy_choice": ...}``, what ``strategy.kind = "auto"``
                chose and its scores). Not part of the run's identity.

        Returns:
            A :class:`TrainResult` (history over all phases, the model, the run
            folder). For a run that had already finished, its stored result
            (``reused=True``), without training.

        Raises:
            RunConflictError: The run folder holds another run (names what differs).
            RunLockedError: Another process trains in the run folder.
            ResumeError: The backup does not fit the run.
        """
        started = time.perf_counter()
        clash = sorted(set(decided or {}) & {f.name for f in dataclasses.fields(_Decisions)})
        if clash:
            raise ConfigError(
                describe(
                    "`decided` must not use the names of the Trainer's own decisions",
                    received=f"keys {clash}",
                    fix="record it under another key, e.g. 'strategy_choice'",
                )
            )
        plan = self._plan(train, validation, augment)
        options, dinfo = self.options, plan.dinfo
        worker = f"{dinfo.task_type}{dinfo.task_index}" if dinfo.task_type else "chief"
        name = options.run_name or _default_name(plan.model, self.strategy, plan.identity)
        run = RunFolder(self.run_dir, name, is_chief=dinfo.is_chief, worker=worker)
        status = run.claim(plan.identity, overwrite=options.overwrite)
        self.run_ = run
        try:
            if status == "finished":
                RunProgress(total_epochs=1, verbose=self.verbose if dinfo.is_chief else 0).run_started(
                    run.path
                )
                return self._stored_result(run, plan.dist)
            return self._train(run, plan, augment, started, dict(decided or {}))
        finally:
            run.release()

    def identity(
        self,
        train: DataArg,
        validation: DataArg | None = None,
        *,
        augment: keras.layers.Layer | None = None,
    ) -> RunIdentity:
        """The identity the run of :meth:`fit` with these arguments would have (nothing is trained).

        It builds the model (seeded) to read its config and initial weights.
        """
        return self._plan(train, validation, augment).identity

    def _plan(
        self,
        train_data: DataArg,
        validation_data: DataArg | None,
        augment: keras.layers.Layer | None,
    ) -> _Plan:
        """Distribution, seeded model, phases and identity: everything before the run folder."""
        _check_data("train", train_data, required=True)
        _check_data("validation", validation_data, required=False)
        if isinstance(train_data, (LabeledImages, IndexedSource)):
            for warning in check_task(train_data):
                logger.warning("%s", warning)
        options = self.options
        # First: a multi-worker strategy must exist before any other TensorFlow work.
        dist = self._resolve_distribution()
        self.distribute_strategy_ = dist
        dinfo = DistributionInfo.from_strategy(dist)
        has_gpu = bool(tf.config.list_physical_devices("GPU")) if options.precision == "mixed" else None
        precision = resolve_precision(options.precision, has_gpu=has_gpu)
        keras.utils.set_random_seed(options.seed)  # the initial weights, every time (documented)
        if options.deterministic:
            tf.config.experimental.enable_op_determinism()
        model = self._build_model(dist, precision)
        self.model_ = model
        phases = list(self.strategy.phases(getattr(model, "backbone_info", None)))
        for phase in phases:
            if not isinstance(phase, Phase):
                raise ConfigError(
                    describe(
                        "The strategy's phases must be transferlab Phase objects",
                        received=f"a phase of type {type(phase).__name__} from {self.strategy!r}",
                        fix="return transferlab.strategies.Phase(...) from the strategy's phases()",
                    )
                )
        replicas = int(dinfo.num_replicas)
        num_classes = _output_classes(model)
        train = as_source(train_data, name="train", num_classes=num_classes)
        validation = (
            as_source(validation_data, name="validation", num_classes=num_classes)
            if validation_data is not None
            else None
        )
        closed_form = [phase.name for phase in phases if phase.head_fit != "gradient"]
        if closed_form and not isinstance(train, IndexedSource):
            raise ConfigError(
                describe(
                    f"Phase {closed_form[0]!r} fits the head on the features of the training examples, "
                    "computed once, and a stream's examples cannot be read by index",
                    received=f"training data read as a {type(train).__name__} (from a tf.data.Dataset)",
                    accepted="arrays, LabeledImages, an image folder, TFRecords (indexed sources)",
                    fix="pass the training data as one of those, or train the head by gradient "
                    "(FeatureExtraction, FineTune)",
                )
            )
        identity = self._identity(model, phases, train, validation, augment, replicas, precision)
        # checked before the run folder is touched: nothing is written for a run that cannot start
        pipe = _Batching(batch_size=options.batch_size * replicas, seed=options.seed, num_replicas=replicas)
        _steps_per_epoch(train, pipe, options.steps_per_epoch)
        return _Plan(dist, dinfo, precision, model, phases, identity, train, validation)

    def _stored_result(self, run: RunFolder, dist: tf.distribute.Strategy) -> TrainResult:
        logger.warning(
            "Run %s has finished already: returning its stored result without training "
            "(pass overwrite=True, or --overwrite, to train it again)",
            run.path,
        )
        import transferlab.backbones
        import transferlab.strategies  # noqa: F401

        with dist.scope(), warnings.catch_warnings():
            # a model whose last phase trained its head on cached features was saved with
            # an unbuilt optimizer: Keras warns that it skips its (absent) variables
            warnings.filterwarnings("ignore", message="Skipping variable loading for optimizer")
            model = keras.saving.load_model(str(run.model_path))
        self.model_ = model
        rows = run.read_metrics()
        return TrainResult(
            history=history_from_rows(rows),
            rows=rows,
            model=model,
            run_dir=run.path,
            feature_cache=_stored_feature_cache(run),
            reused=True,
        )

    def _train(
        self,
        run: RunFolder,
        plan: _Plan,
        augment: keras.layers.Layer | None,
        started: float,
        decided: dict[str, object],
    ) -> TrainResult:
        options = self.options
        dist, dinfo, precision, model = plan.dist, plan.dinfo, plan.precision, plan.model
        phases, identity, train, validation = plan.phases, plan.identity, plan.train, plan.validation
        stream = isinstance(train, StreamSource)
        replicas, workers, is_chief = int(dinfo.num_replicas), dinfo.num_workers, dinfo.is_chief

        # Every worker builds the same pipeline of GLOBAL batches; tf.distribute splits
        # each one over all replicas and gives each worker its share (auto-shard DATA).
        batch = options.batch_size * replicas
        pipe = _Batching(batch_size=batch, seed=options.seed, num_replicas=replicas)
        steps = _steps_per_epoch(train, pipe, options.steps_per_epoch)
        bounds = _phase_bounds(phases)

        # The state is restored before anything derived from the model is computed.
        state = TrainingState(
            run.backup_dir,
            identity=identity.digest,
            every_steps=None if stream else options.backup_every or None,
            keep=MAX_CANDIDATES if workers > 1 else 2,
        )
        if not options.resume:
            state.clear()
        position = agree_on_position(dist, state.positions(), workers)
        loaded = state.load(position) if position is not None else None
        progress = RunProgress(
            total_epochs=max(1, bounds[-1][1] if bounds else 1), verbose=self.verbose if is_chief else 0
        )
        progress.run_started(run.path, resumed_from=str(loaded.position) if loaded is not None else None)
        decisions = _Decisions(precision=precision, decided=decided)
        if stream:
            decisions.data_order = (
                "a tf.data.Dataset stream, read front to back with a shuffle buffer keyed by (seed, epoch): "
                "backups at epoch ends only, a run resumes at epoch boundaries"
            )
        if workers > 1 and isinstance(train, IndexedSource):
            decisions.input = (
                "per worker (distribute_datasets_from_function): each worker reads only its replicas' part "
                "of every global batch; the global batches are the one-device run's, augmentation is drawn "
                "per replica's part"
            )
        total_steps = steps * (bounds[-1][1] if bounds else 0)
        if steps < _FEW_STEPS and total_steps < _FEW_STEPS_IN_ALL:
            note = (
                f"an epoch is only {steps} optimizer step(s) ({train.num_examples()} examples, global batch "
                f"{batch}), {total_steps} in the whole run: the model may barely train; "
                "lower batch_size or train more epochs"
            )
            logger.warning("%s", note)
            decisions.notes.append(note)
        if loaded is not None:
            _check_position(loaded.position, bounds, steps, run)
            loaded.restore_variables(model)
            logger.warning(
                "Resuming run %s from phase %d, epoch %d, step %d",
                run.name,
                loaded.position.phase,
                loaded.position.epoch,
                loaded.position.step,
            )
            decisions.resumed_from = dataclasses.asdict(loaded.position)
            decisions.backup_fallback = state.fallback
            # the fits of the phases done before the restart: read back, not fitted again
            decisions.head_fit = _stored_head_fits(run, [p.name for p in phases[: loaded.position.phase]])
        config = self._config(plan, augment)
        run.write_json("config.json", config)
        run.write_environment(_strategy_name(dist), {"replicas": replicas, "workers": workers})

        val_ds = (
            _for_workers(make_pipeline(validation, evaluation=True, **pipe), workers)
            if validation is not None
            else None
        )

        image_data = _TrainData(train, pipe=pipe, steps=steps, augment=augment, dist=dist, workers=workers)

        # Features too big for memory go to scratch shards inside the run folder, deleted at its end.
        cache = FeatureCache(
            run.path / "feature_cache" if options.feature_cache == "disk" else None,
            scratch=run.path / _FEATURE_SCRATCH / run.worker,
            batch_size=options.batch_size,  # the user's batch fits the backbone in memory; 256 at 224 px may not
        )
        resume_epoch = loaded.position.epoch if loaded is not None else 0
        metrics_logger = MetricsLogger(run, start_epoch=resume_epoch)
        monitor = "val_loss" if validation is not None else "loss"
        jit: bool | str = {"on": True, "off": False}.get(options.jit_compile, "auto")
        if jit == "auto" and not tf.config.list_logical_devices("GPU"):
            jit = False
        rate_scale = float(replicas) if options.scale_learning_rate == "linear" else 1.0

        for index, phase in enumerate(phases):
            first, end = bounds[index]
            here = loaded if loaded is not None and loaded.position.phase == index else None
            if loaded is not None and loaded.position.phase > index:
                continue
            decay_steps = max(1, phase.epochs * steps)
            with dist.scope():
                compile_phase(
                    model,
                    phase,
                    loss=self.loss,
                    metrics=list(self.metrics),
                    optimizer=self.optimizer,
                    jit_compile=jit,
                    steps_per_execution=1,
                    schedule=options.schedule,
                    decay_steps=decay_steps,
                    rate_scale=rate_scale,
                )
            check_trainable_state(model)
            if phase.head_fit != "gradient":  # fitted in closed form: no `fit`, one row of metrics
                self._closed_form_phase(
                    index, phase, model, plan=plan, cache=cache, pipe=pipe, val_ds=val_ds, first=first,
                    run=run, decisions=decisions, metrics_logger=metrics_logger, progress=progress,
                    monitor=monitor, jit=jit, augment=augment,
                )  # fmt: skip
                state.save(model, BackupPosition(index + 1, end, 0), optimizer=False, variables_model=model)
                continue
            rates = phase_learning_rates(
                getattr(model, "backbone_info", None),
                phase,
                self.optimizer,
                schedule=options.schedule,
                decay_steps=decay_steps,
                rate_scale=rate_scale,
            )
            decisions.learning_rates[phase.name] = rates.as_dict()
            decisions.notes.extend(rates.notes)  # build_optimizer logged them
            reasons = (
                ["feature_cache='off'"]
                if options.feature_cache == "off"
                else FeatureCache.reasons_off(model, augment=augment)
            )
            if stream:
                reasons.append("the data is a tf.data.Dataset stream (it may be random: not cached)")
            fit_model: keras.Model = model
            data_fn: _TrainData = image_data
            validation_data = val_ds
            if not reasons:
                decisions.feature_cache[phase.name] = "on"
                fit_model = self._compiled_head(model, dist, jit)
                with naming_bad_files(train, validation):
                    data_fn, validation_data = _feature_data(
                        cache, model, train, validation, pipe=pipe, steps=steps, dist=dist, workers=workers
                    )
            else:
                decisions.feature_cache[phase.name] = "off: " + "; ".join(reasons)
            logger.info("Phase %r: feature cache %s", phase.name, decisions.feature_cache[phase.name])
            progress.phase_started(
                index,
                len(phases),
                phase.name,
                trainable_groups=tuple(phase.trainable_groups),
                rates=rates.as_dict(),
                epochs=end - first,
                first_epoch=first,
                feature_cache=decisions.feature_cache[phase.name],
            )
            run.write_json("decisions.json", decisions.as_json())
            metrics_logger.phase = phase.name
            self._fit_phase(
                state, here, index, fit_model, model, data_fn, validation_data,
                first=first, end=end, steps=steps, run=run, metrics_logger=metrics_logger,
                monitor=monitor, is_chief=is_chief, dist=dist, progress=progress,
            )  # fmt: skip
            state.save(model, BackupPosition(index + 1, end, 0), optimizer=False, variables_model=model)
        cache.close()
        shutil.rmtree(run.path / _FEATURE_SCRATCH / run.worker, ignore_errors=True)
        with contextlib.suppress(OSError):
            (run.path / _FEATURE_SCRATCH).rmdir()  # once the last worker's is gone

        if is_chief:
            save_model(model, run.model_path)
        rows = metrics_logger.rows
        resumed = dataclasses.astuple(loaded.position) if loaded is not None else None
        run.write_text(
            "summary.md",
            summary_text(
                run.name,
                config,
                rows,
                decisions.as_json(),
                resumed=resumed,
                seconds=time.perf_counter() - started,
                monitor=monitor,
            ),
        )
        run.finish()
        last = rows[-1] if rows else {}
        progress.run_finished(
            run.path,
            {"epochs": len(rows), "seconds": round(time.perf_counter() - started, 1)}
            | {k: v for k, v in last.items() if k in ("loss", "accuracy") or k.startswith("val_")},
        )
        state.clear()
        run.clear_backup()
        try:
            run.backup_dir.parent.rmdir()  # "backup/" once the last worker's folder is gone
        except OSError:
            pass
        return TrainResult(
            history=history_from_rows(rows),
            rows=rows,
            model=model,
            run_dir=run.path,
            resumed_from=resumed,
            feature_cache=dict(decisions.feature_cache),
        )

    def _closed_form_phase(
        self,
        index: int,
        phase: Phase,
        model: keras.Model,
        *,
        plan: _Plan,
        cache: FeatureCache,
        pipe: _Batching,
        val_ds: tf.data.Dataset | None,
        first: int,
        run: RunFolder,
        decisions: _Decisions,
        metrics_logger: MetricsLogger,
        progress: RunProgress,
        monitor: str,
        jit: bool | str,
        augment: keras.layers.Layer | None,
    ) -> None:
        """A head fitted in closed form on the frozen backbone's features, then evaluated: one epoch's row."""
        train, validation, dist = plan.train, plan.validation, plan.dist
        workers, is_chief = plan.dinfo.num_workers, plan.dinfo.is_chief
        check_closed_form_head(model, phase)  # frozen backbone, fitting head: before any feature
        assert isinstance(train, IndexedSource)  # a stream was refused in _plan
        decisions.feature_cache[phase.name] = "on: the head is fitted on the features, computed once"
        if augment is not None:
            decisions.notes.append(
                f"phase {phase.name!r}: the head is fitted on the features of the training images as they "
                "are (augmentation applies to phases trained by gradient)"
            )
        progress.phase_started(
            index,
            len(plan.phases),
            phase.name,
            trainable_groups=(),
            rates={"head": f"fitted in closed form ({phase.head_fit})"},
            epochs=1,
            first_epoch=first,
            feature_cache=decisions.feature_cache[phase.name],
        )
        metrics_logger.phase = phase.name
        metrics_logger.on_epoch_begin(first)
        progress.on_epoch_begin(first)
        with naming_bad_files(train, validation):
            features = cache.features(model, train)
            record = fit_closed_form_head(model, phase, features.numpy(), features.labels)
        decisions.head_fit[phase.name] = record
        logger.info("Phase %r: head fitted in closed form: %s", phase.name, record)
        run.write_json("decisions.json", decisions.as_json())

        head = self._compiled_head(model, dist, jit)

        def evaluate(fitted: keras.Model, data: tf.data.Dataset) -> dict[str, float]:
            with multi_worker_patch(dist), naming_bad_files(train, validation):
                logs = fitted.evaluate(data, return_dict=True, verbose=0)
            return {str(k): float(v) for k, v in logs.items()}

        logs = evaluate(head, _for_workers(make_pipeline(features, evaluation=True, **pipe), workers))
        if validation is not None and isinstance(validation, IndexedSource):
            with naming_bad_files(validation):
                val_features = cache.features(model, validation)
            val_data = _for_workers(make_pipeline(val_features, evaluation=True, **pipe), workers)
            logs.update({f"val_{k}": v for k, v in evaluate(head, val_data).items()})
        elif val_ds is not None:  # a stream: through the whole model
            logs.update({f"val_{k}": v for k, v in evaluate(model, val_ds).items()})
        # The row's callbacks as fit would call them at the epoch's end; no optimizer stepped, so
        # the logger has no model to read a learning rate from.
        metrics_logger.set_model(None)
        chief: list[keras.callbacks.Callback] = (
            [metrics_logger, Checkpoints(run, model, monitor, metrics_logger)] if is_chief else []
        )
        for callback in [*chief, progress]:
            callback.on_epoch_end(first, logs)

    def _compiled_head(
        self, model: keras.Model, dist: tf.distribute.Strategy, jit: bool | str
    ) -> keras.Model:
        """The head alone, compiled with the phase's optimizer: it trains on cached features."""
        head: keras.Model = model.head
        with dist.scope():
            head.compile(
                optimizer=model.optimizer,
                loss=self.loss,
                metrics=list(self.metrics),
                jit_compile=jit,
                steps_per_execution=1,
            )
        return head

    def _fit_phase(
        self,
        state: TrainingState,
        loaded: LoadedBackup | None,
        index: int,
        fit_model: keras.Model,
        model: keras.Model,
        data_fn: _TrainData,
        validation_data: tf.data.Dataset | None,
        *,
        first: int,
        end: int,
        steps: int,
        run: RunFolder,
        metrics_logger: MetricsLogger,
        monitor: str,
        is_chief: bool,
        dist: tf.distribute.Strategy,
        progress: RunProgress,
    ) -> None:
        """One phase: the rest of an interrupted epoch as one ``fit``, the other epochs as another."""
        epoch, skip = first, 0
        if loaded is not None:
            if loaded.stopped:
                logger.info("Phase %r was ended by early stopping before the restart", fit_model.name)
                return
            epoch, skip = loaded.position.epoch, loaded.position.step
            loaded.restore_optimizer(fit_model)
        callbacks = self._callbacks(run, metrics_logger, model, monitor, is_chief)
        if loaded is not None:
            loaded.restore_callbacks(callbacks)

        def run_fit(
            dataset: tf.data.Dataset | tf.distribute.DistributedDataset,
            start: int,
            stop: int,
            per_epoch: int,
            offset: int,
        ) -> bool:
            backup = BackupCallback(
                state,
                phase=index,
                steps_per_epoch=steps,
                callbacks=callbacks,
                step_offset=offset,
                variables_model=model,
                restore=loaded if offset else None,
            )
            with multi_worker_patch(dist), naming_bad_files(data_fn.source):
                fit_model.fit(
                    dataset,
                    initial_epoch=start,
                    epochs=stop,
                    steps_per_epoch=per_epoch,
                    callbacks=[*callbacks, backup, progress],
                    validation_data=validation_data,
                    verbose=0,  # RunProgress prints: epochs numbered over the run, a header per phase
                    shuffle=False,
                )
            return backup.stopped

        if skip > 0 and epoch < end:
            assert loaded is not None  # skip > 0 only when resuming
            # Keras builds the compiled metrics lazily: build them (from one batch's shapes)
            # and put the interrupted epoch's accumulators back.
            loaded.restore_metrics(fit_model, data_fn.first_batch(epoch, skip))
            remaining = steps - skip
            stopped = run_fit(data_fn.batches(epoch, skip, 1), epoch, epoch + 1, remaining, skip)
            epoch += 1
            if stopped:
                return
        if epoch < end:
            run_fit(data_fn.batches(epoch, 0, end - epoch), epoch, end, steps, 0)

    def _callbacks(
        self,
        run: RunFolder,
        metrics_logger: MetricsLogger,
        model: keras.Model,
        monitor: str,
        is_chief: bool,
    ) -> list[keras.callbacks.Callback]:
        # First: a diverged step stops the phase with an error before any other callback
        # (logger, checkpoints, backup) can record or save the diverged state.
        callbacks: list[keras.callbacks.Callback] = [DivergenceGuard(phase=metrics_logger.phase)]
        if is_chief:
            callbacks.append(metrics_logger)
            callbacks.append(Checkpoints(run, model, monitor, metrics_logger))
            if _has_tensorboard():
                callbacks.append(keras.callbacks.TensorBoard(str(run.tensorboard_dir), write_graph=False))
        if self.options.early_stopping:
            callbacks.append(
                keras.callbacks.EarlyStopping(monitor=monitor, patience=self.options.early_stopping)
            )
        if self.options.reduce_lr_on_plateau:
            callbacks.append(
                keras.callbacks.ReduceLROnPlateau(
                    monitor=monitor, patience=self.options.reduce_lr_on_plateau, factor=0.1
                )
            )
        callbacks.extend(self.callbacks)
        return callbacks

    def _config(self, plan: _Plan, augment: keras.layers.Layer | None) -> dict[str, object]:
        """``config.json``: the resolved configuration a person reads (the identity is hashed apart)."""
        model, replicas = plan.model, int(plan.dinfo.num_replicas)
        train, validation = plan.train, plan.validation
        return {
            "identity": plan.identity.digest,
            "model": model.name,
            "backbone": getattr(model, "backbone_name", None),
            "num_params": int(model.count_params()),
            "strategy": repr(self.strategy),
            "phases": [_phase_dict(p) for p in plan.phases],
            "distribution": _strategy_name(plan.dist),
            "replicas": replicas,
            "precision": plan.precision,
            "global_batch_size": self.options.batch_size * replicas,
            "options": self.options.to_mapping(),
            "loss": describe_object(self.loss),
            "metrics": [describe_object(m) for m in self.metrics],
            "optimizer": describe_object(self.optimizer),
            "callbacks": [type(c).__name__ for c in self.callbacks],
            "augment": describe_object(augment) if augment is not None else None,
            "train": {
                "source": type(train).__name__,
                "examples": train.num_examples(),
                "image_shape": list(train.element_shape),
                "classes": list(train.class_names),
            },
            "validation": (
                {"source": type(validation).__name__, "examples": validation.num_examples()}
                if validation is not None
                else None
            ),
        }

    def evaluate(self, test: DataArg) -> dict[str, float]:
        """Evaluates the trained model on every example of ``test`` (raw pixels; any data ``fit`` takes).

        Every example counts once, under any number of replicas. The result is
        also written to the run folder (``test_metrics.json``).
        """
        if self.model_ is None or self.distribute_strategy_ is None:
            raise ConfigError(describe("`evaluate` needs a trained model", fix="call fit() first"))
        _check_data("test", test, required=True)
        source = as_source(test, name="test", num_classes=_output_classes(self.model_))
        dist = self.distribute_strategy_
        dinfo = DistributionInfo.from_strategy(dist)
        replicas = dinfo.num_replicas
        ds = _for_workers(
            make_pipeline(
                source, batch_size=self.options.batch_size * replicas, num_replicas=replicas, evaluation=True
            ),
            dinfo.num_workers,
        )
        with multi_worker_patch(dist), naming_bad_files(source):
            logs = self.model_.evaluate(ds, return_dict=True, verbose=0)
        result = {k: float(v) for k, v in logs.items()}
        if self.run_ is not None:
            self.run_.write_json("test_metrics.json", result)
        return result


def _steps_per_epoch(train: ImageSource, pipe: _Batching, steps_per_epoch: int) -> int:
    """The batches of one epoch: ``steps_per_epoch`` if set (and possible), else the whole set."""
    natural = len(make_pipeline(train, **pipe))
    steps = steps_per_epoch or natural
    if steps > natural:
        raise ConfigError(
            describe(
                "`training.steps_per_epoch` is larger than the batches of one epoch",
                received=f"steps_per_epoch={steps}, {natural} batches of {pipe['batch_size']}",
                fix=f"pass at most {natural}, or 0 (the whole set)",
            )
        )
    return steps


def _check_data(name: str, data: object, *, required: bool) -> None:
    """Refuses, before any TensorFlow work, what no source can be made of."""
    if data is None and not required:
        return
    pair = isinstance(data, tuple) and len(data) == 2 and all(isinstance(a, np.ndarray) for a in data)
    if not (pair or isinstance(data, (LabeledImages, ImageSource, tf.data.Dataset))):
        raise DataError(
            describe(
                f"`{name}` is not a kind of data transferlab reads",
                received=f"{name} of type {type(data).__name__}",
                accepted=ACCEPTED_DATA + ("" if required else ", or None"),
                fix="wrap arrays as LabeledImages(images, labels, class_names); see docs/guide-data.md",
            )
        )


def _output_classes(model: keras.Model) -> int | None:
    """The number of classes a classifier predicts (its last axis), if it says."""
    try:
        units = model.output_shape[-1]
    except (AttributeError, ValueError, IndexError, TypeError):
        return None
    return int(units) if isinstance(units, int) and units >= 2 else None


def _phase_bounds(phases: Sequence[Phase]) -> list[tuple[int, int]]:
    """``(first epoch, end epoch)`` of each phase, counted over the whole run."""
    bounds, epoch = [], 0
    for phase in phases:
        bounds.append((epoch, epoch + int(phase.epochs)))
        epoch += int(phase.epochs)
    return bounds


def _check_position(
    position: BackupPosition, bounds: Sequence[tuple[int, int]], steps: int, run: RunFolder
) -> None:
    """A backup's position must lie inside this run's plan of phases, epochs and steps."""
    total = bounds[-1][1] if bounds else 0
    if position.phase == len(bounds):
        fits = position.epoch == total and position.step == 0
    elif 0 <= position.phase < len(bounds):
        first, end = bounds[position.phase]
        fits = first <= position.epoch <= end and 0 <= position.step < steps
        fits = fits and not (position.epoch == end and position.step > 0)
    else:
        fits = False
    if not fits:
        plan = ", ".join(f"phase {i}: epochs {a}-{b - 1}" for i, (a, b) in enumerate(bounds))
        raise ResumeError(
            describe(
                "The run's backup stands at a position outside this run's plan",
                received=f"phase {position.phase}, epoch {position.epoch}, step {position.step} "
                f"in {run.backup_dir}",
                accepted=f"{plan}; {steps} steps per epoch",
                fix="start the run afresh with resume=False (--no-resume), or overwrite=True (--overwrite)",
            )
        )


def _feature_data(
    cache: FeatureCache,
    model: keras.Model,
    train: ImageSource,
    validation: ImageSource | None,
    *,
    pipe: _Batching,
    steps: int,
    dist: tf.distribute.Strategy,
    workers: int,
) -> tuple[_TrainData, tf.data.Dataset | None]:
    """Pipelines over cached features, in exactly the order of the image pipeline."""
    if not isinstance(train, IndexedSource):  # pragma: no cover - the Trainer caches indexed sources only
        raise ConfigError(
            describe("Only indexed sources have cached features", received=type(train).__name__)
        )
    features = cache.features(model, train)
    data = _TrainData(features, pipe=pipe, steps=steps, augment=None, dist=dist, workers=workers)
    val = None
    if validation is not None and isinstance(validation, IndexedSource):
        val_features = cache.features(model, validation)
        val = _for_workers(make_pipeline(val_features, evaluation=True, **pipe), workers)
    return data, val


def _has_tensorboard() -> bool:
    import importlib.util

    found = importlib.util.find_spec("tensorboard") is not None
    if not found:
        logger.info("TensorBoard logs off: the `tensorboard` package is not installed")
    return found


def _strategy_name(dist: object) -> str:
    """The public name (TF's multi-worker class is ``CollectiveAllReduceStrategy``)."""
    if isinstance(dist, tf.distribute.MultiWorkerMirroredStrategy):
        return "MultiWorkerMirroredStrategy"
    return type(dist).__name__


def _for_workers(ds: tf.data.Dataset, workers: int) -> tf.data.Dataset:
    """Under several workers: each takes its share of every global batch (auto-shard DATA).

    ``tf.distribute`` treats a dataset's batches as global under a multi-worker
    strategy and rebatches them per replica whatever the sharding, so sharding
    by DATA after that rebatch gives each worker exactly its replicas' part of
    the one-device run's batch.
    """
    if workers <= 1:
        return ds
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return ds.with_options(options)


def _phase_dict(phase: Phase) -> dict[str, object]:
    if dataclasses.is_dataclass(phase) and not isinstance(phase, type):
        out = {f.name: getattr(phase, f.name) for f in dataclasses.fields(phase)}
        out["group_learning_rates"] = dict(out.get("group_learning_rates") or {})
        out["batchnorm"] = getattr(out.get("batchnorm"), "value", str(out.get("batchnorm")))
        out["trainable_groups"] = list(out.get("trainable_groups") or ())
        for f in dataclasses.fields(phase):
            if f.name in _OPTIONAL_PHASE_FIELDS and out.get(f.name) == f.default:
                del out[f.name]
        if out.get("probe_l2") is not None:
            out["probe_l2"] = list(cast("Sequence[float]", out["probe_l2"]))
        return out
    return {"repr": repr(phase)}


def _default_name(model: keras.Model, strategy: object, identity: RunIdentity) -> str:
    kind = type(strategy).__name__.lower()
    stem = "".join(c if c.isalnum() or c in "._-" else "_" for c in model.name)
    return f"{stem}-{kind}-{identity.short(10)}"
