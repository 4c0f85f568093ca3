"""The [model] section: the source-task recipe's keys are checked, naming the key and the fix."""

from __future__ import annotations

import pytest

from transferlab.config import ModelConfig, RunConfig
from transferlab.data.augmentation import AUGMENTATION_PRESETS
from transferlab.errors import ConfigError
from transferlab.strategies.build_optimizer import SCHEDULES


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        (
            "pretrain_epochs = 0",
            r"`model\.pretrain_epochs` must be >= 1\. Received: model\.pretrain_epochs=0\.",
        ),
        (
            "pretrain_learning_rate = 0",
            r"`model\.pretrain_learning_rate` must be > 0\. Received: model\.pretrain_learning_rate=0\.0\.",
        ),
        (
            "pretrain_label_smoothing = 1",
            r"`model\.pretrain_label_smoothing` must be in \[0, 1\)\. Received: "
            r"model\.pretrain_label_smoothing=1\.0\. Fix: pass e\.g\. 0\.1, or 0 for plain cross-entropy\.",
        ),
        (
            "pretrain_label_smoothing = -0.1",
            r"`model\.pretrain_label_smoothing` must be in \[0, 1\)\. Received: model\.pretrain_label_smoothing=-0\.1\.",
        ),
    ],
)
def test_a_bad_recipe_value_is_refused(toml, message):
    with pytest.raises(ConfigError, match=message):
        RunConfig.from_toml(f"[model]\n{toml}\n")


@pytest.mark.parametrize(
    ("key", "accepted"), [("pretrain_augment", AUGMENTATION_PRESETS), ("pretrain_schedule", SCHEDULES)]
)
def test_the_recipe_s_choices_are_those_of_the_modules_that_own_them(key, accepted):
    for value in accepted:
        assert getattr(RunConfig.from_toml(f'[model]\n{key} = "{value}"\n').model, key) == value
    listed = ", ".join(map(repr, accepted))
    with pytest.raises(ConfigError, match=rf"Bad value for config key `model\.{key}`.*Accepted: {listed}\."):
        RunConfig.from_toml(f'[model]\n{key} = "extreme"\n')


def test_a_negative_pretrain_batch_size_is_refused_with_the_fix() -> None:
    with pytest.raises(
        ConfigError,
        match=r"`model.pretrain_batch_size` must be >= 0. Received: "
        r"model.pretrain_batch_size=-1. Fix: use 0 for training.batch_size",
    ):
        ModelConfig(pretrain_batch_size=-1)
