"""``TrainingOptions``: the one definition of how a run trains, for the API, TOML files and the CLI."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from pathlib import Path
from typing import ClassVar

from transferlab.config_section import ConfigSection, field
from transferlab.errors import ConfigError, describe
from transferlab.strategies.build_optimizer import SCHEDULES
from transferlab.training.distribution import ACCEPTED_SPECS
from transferlab.training.distribution_info import LR_SCALINGS
from transferlab.training.feature_cache import FEATURE_CACHE_MODES
from transferlab.training.precision import PRECISIONS

__all__ = ["JIT_MODES", "TrainingOptions"]

#: Accepted values of ``jit_compile``: ``auto`` compiles with XLA on GPUs only (slower on CPUs).
JIT_MODES = ("auto", "on", "off")
#: Keras' EarlyStopping / ReduceLROnPlateau need a seed below 2**32 (``keras.utils.set_random_seed``).
_MAX_SEED = 2**32 - 1


@dataclasses.dataclass(frozen=True)
class TrainingOptions(ConfigSection):
    """How a run trains: batch, devices, precision, seed, schedule, caching, where results go.

    The same object is the ``[training]`` table of a TOML config, the
    ``transferlab train`` flags (``--batch-size`` ...) and the keyword arguments
    of :class:`~transferlab.training.Trainer`; every option is validated here
    once, and its accepted values come from the module that owns them.

    Options that change the numbers a run produces are part of the run's
    identity (:data:`TrainingOptions.IDENTITY_EXCLUDED` lists those that do not:
    where results go, whether to resume, how often to back up...).

    Example:
        >>> options = TrainingOptions(batch_size=32, seed=3)
        >>> options.replace(precision="bfloat16").precision
        'bfloat16'
        >>> options.identity_options()["batch_size"], "run_dir" in options.identity_options()
        (32, False)
        >>> TrainingOptions(precision="half")
        Traceback (most recent call last):
        ...
        transferlab.errors.ConfigError: Bad value for config key `training.precision`. Received: training.precision='half'. Accepted: 'float32', 'bfloat16', 'float16', 'mixed'.
    """

    SECTION: ClassVar[str] = "training"
    #: Options that do not change the numbers of a run (left out of its identity).
    IDENTITY_EXCLUDED: ClassVar[frozenset[str]] = frozenset(
        {
            "distribution",  # the replica count is part of the identity instead
            "run_dir",
            "run_name",
            "overwrite",
            "resume",
            "backup_every",
            "jit_compile",
            "worker_timeout",
            "feature_cache",
        }
    )

    batch_size: int = field(
        64, "Examples per replica per step (the global batch is this times the replicas)."
    )
    distribution: str = field(
        "auto",
        "Devices to train on: auto (several GPUs or a TF_CONFIG cluster if present), one_device, "
        "mirrored (every local GPU) or multi_worker (TF_CONFIG / Slurm).",
        choices=ACCEPTED_SPECS,
    )
    precision: str = field(
        "float32",
        "float32, bfloat16 (CPU), float16 (GPU) or mixed (whichever fits the device).",
        choices=PRECISIONS,
    )
    seed: int = field(
        0, "Seed of the initial weights (head and random backbones), the data order and the augmentation."
    )
    deterministic: bool = field(
        False, "Also use deterministic kernels, so reruns are bit-identical (slower; process-global)."
    )
    feature_cache: str = field(
        "auto",
        "Train the head on cached backbone features where that is exact; off: never; "
        "disk: also keep them in the run folder.",
        choices=FEATURE_CACHE_MODES,
    )
    run_dir: str = field("runs", "Folder that holds the run folders ('~' and $VARS are expanded).")
    run_name: str = field(
        "", "Name of this run's folder; empty: model, strategy and a hash of the run's identity."
    )
    overwrite: bool = field(
        False, "Replace an existing run folder of the same name (a finished or a different run)."
    )
    resume: bool = field(True, "Continue an interrupted run from its backup; off: start it afresh.")
    early_stopping: int = field(
        0, "End a phase after N epochs without improvement of the monitored loss; 0: off."
    )
    reduce_lr_on_plateau: int = field(
        0, "Divide the rate by 10 after N epochs without improvement of the monitored loss; 0: off."
    )
    steps_per_epoch: int = field(0, "Batches per epoch; 0: the whole training set.")
    backup_every: int = field(
        50, "Back up the exact training state every N steps (and at epoch ends); 0: epoch ends only."
    )
    schedule: str = field(
        "constant",
        "constant: each phase at its rates; cosine: within each phase the rates decay along a cosine to 1 %.",
        choices=SCHEDULES,
    )
    scale_learning_rate: str = field(
        "none",
        "none: rates as given; linear: rates times the number of replicas (rates tuned for one replica's batch).",
        choices=LR_SCALINGS,
    )
    jit_compile: str = field("auto", "XLA compilation: auto (on GPUs only), on or off.", choices=JIT_MODES)
    worker_timeout: float = field(
        120.0, "Seconds a multi-worker job waits for all of its workers at start-up."
    )

    def validate(self) -> None:
        for name, low in (
            ("batch_size", 1),
            ("seed", 0),
            ("early_stopping", 0),
            ("reduce_lr_on_plateau", 0),
            ("steps_per_epoch", 0),
            ("backup_every", 0),
        ):
            value = getattr(self, name)
            if value < low:
                raise ConfigError(
                    describe(
                        f"`training.{name}` must be >= {low}",
                        received=f"training.{name}={value}",
                    )
                )
        if self.seed > _MAX_SEED:
            raise ConfigError(
                describe(
                    "`training.seed` is too large",
                    received=f"training.seed={self.seed}",
                    accepted=f"0 to {_MAX_SEED} (2**32 - 1)",
                )
            )
        if not self.worker_timeout > 0:
            raise ConfigError(
                describe(
                    "`training.worker_timeout` must be a number of seconds > 0",
                    received=f"training.worker_timeout={self.worker_timeout!r}",
                )
            )

    @property
    def runs_path(self) -> Path:
        """``run_dir`` as a path, with ``~`` and environment variables expanded.

        Example:
            >>> import os
            >>> os.environ["TL_DEMO"] = "/data"
            >>> str(TrainingOptions(run_dir="$TL_DEMO/runs").runs_path)
            '/data/runs'
        """
        return Path(os.path.expandvars(os.path.expanduser(self.run_dir)))

    def replace(self, **changes: object) -> TrainingOptions:
        """A copy with ``changes`` (option names as keys), validated like the original.

        Raises:
            ConfigError: For an unknown option (with the closest name) or a bad value.
        """
        merged = {**self.to_mapping(), **changes}
        return type(self).from_mapping(merged)

    def identity_options(self) -> dict[str, object]:
        """The options that change a run's numbers (the part of its identity they make)."""
        return {k: v for k, v in self.to_mapping().items() if k not in self.IDENTITY_EXCLUDED}

    @classmethod
    def coerce(
        cls, options: TrainingOptions | Mapping[str, object] | None, overrides: Mapping[str, object]
    ) -> TrainingOptions:
        """``options`` (an instance, a mapping or ``None`` for the defaults) with ``overrides`` applied."""
        if options is None:
            base = cls()
        elif isinstance(options, TrainingOptions):
            base = options
        elif isinstance(options, Mapping):
            base = cls.from_mapping(options)
        else:
            raise ConfigError(
                describe(
                    "`options` must be a TrainingOptions, a mapping of option names, or None",
                    received=f"options of type {type(options).__name__}",
                    fix="pass e.g. TrainingOptions(batch_size=32), or the options as keyword arguments",
                )
            )
        return base.replace(**overrides) if overrides else base
