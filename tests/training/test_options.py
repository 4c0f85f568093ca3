"""TrainingOptions: one definition of the training options for the API, TOML configs and the CLI."""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

import pytest

from transferlab.cli.config_flags import add_config_flags
from transferlab.config import RunConfig
from transferlab.errors import ConfigError
from transferlab.strategies.build_optimizer import SCHEDULES
from transferlab.training.distribution import ACCEPTED_SPECS
from transferlab.training.distribution_info import LR_SCALINGS
from transferlab.training.feature_cache import FEATURE_CACHE_MODES
from transferlab.training.options import JIT_MODES, TrainingOptions
from transferlab.training.precision import PRECISIONS

sys.path.insert(0, str(Path(__file__).resolve().parent))
import resume_tiny

from transferlab.strategies import FeatureExtraction
from transferlab.training.trainer import Trainer

OWNERS = {
    "distribution": ACCEPTED_SPECS,
    "precision": PRECISIONS,
    "feature_cache": FEATURE_CACHE_MODES,
    "schedule": SCHEDULES,
    "scale_learning_rate": LR_SCALINGS,
    "jit_compile": JIT_MODES,
}


def _choices(field_name: str) -> object:
    (field,) = [f for f in dataclasses.fields(TrainingOptions) if f.name == field_name]
    return field.metadata["choices"]


def test_accepted_values_come_from_the_module_that_owns_them() -> None:
    with_choices = {f.name for f in dataclasses.fields(TrainingOptions) if f.metadata.get("choices")}
    assert with_choices == set(OWNERS)
    for name, owned in OWNERS.items():
        assert _choices(name) is owned, name  # the very object, not a copy


def test_the_cli_flags_offer_exactly_those_values() -> None:
    parser = argparse.ArgumentParser()
    add_config_flags(parser)
    by_dest = {action.dest: action for action in parser._actions}
    for name, owned in OWNERS.items():
        assert tuple(by_dest[f"training.{name}"].choices) == owned, name


def test_the_config_section_and_the_api_are_the_same_class() -> None:
    assert type(RunConfig().training) is TrainingOptions
    trainer = Trainer(resume_tiny.build, strategy=FeatureExtraction(1), options=RunConfig().training, seed=3)
    assert trainer.options == TrainingOptions(seed=3)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"batch_size": 0}, "`training.batch_size` must be >= 1. Received: training.batch_size=0"),
        ({"feature_cache": "yes"}, "Bad value for config key `training.feature_cache`. Received: "),
        ({"steps_per_epoch": -1}, "`training.steps_per_epoch` must be >= 0"),
        ({"early_stopping": "soon"}, "Wrong type for config key `training.early_stopping`"),
        ({"precision": "int8"}, "Accepted: 'float32', 'bfloat16', 'float16', 'mixed'"),
        ({"seed": 2**64}, "`training.seed` is too large"),
        ({"worker_timeout": float("inf")}, "`training.worker_timeout` must be a finite number"),
        ({"schedule": "step"}, "Accepted: 'constant', 'cosine'"),
        ({"batchsize": 3}, "Unknown config key `training.batchsize`.*did you mean `training.batch_size`"),
    ],
)
def test_bad_options_are_refused_by_the_api(changes: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        Trainer(resume_tiny.build, strategy=FeatureExtraction(1), **changes)


def test_run_dir_expands_the_home_folder_and_variables(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("TL_RUNS", "experiments")
    assert TrainingOptions(run_dir="~/$TL_RUNS").runs_path == tmp_path / "experiments"


def test_identity_options_leave_out_what_does_not_change_the_numbers() -> None:
    options = TrainingOptions(run_dir="a", run_name="b", backup_every=3, resume=False, overwrite=True)
    assert options.identity_options() == TrainingOptions().identity_options()
    assert TrainingOptions(seed=1).identity_options() != TrainingOptions().identity_options()


def test_the_cli_can_start_a_run_afresh_or_overwrite_it() -> None:
    from transferlab.cli.config_flags import config_overrides

    parser = argparse.ArgumentParser()
    add_config_flags(parser)
    overrides = config_overrides(parser.parse_args(["--no-resume", "--overwrite"]))
    assert overrides["training.resume"] is False and overrides["training.overwrite"] is True
