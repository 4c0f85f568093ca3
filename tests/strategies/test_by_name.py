"""strategy_by_name: the config's kinds, its defaults, and clear errors."""

from __future__ import annotations

import pytest

from transferlab.backbones import BackboneInfo, LayerGroup
from transferlab.errors import StrategyError
from transferlab.strategies import (
    STRATEGY_NAMES,
    Chain,
    FeatureExtraction,
    FineTune,
    GradualUnfreeze,
    Scratch,
    strategy_by_name,
)

INFO = BackboneInfo(
    name="t",
    default_input_size=(8, 8),
    min_input_size=(8, 8),
    channels=1,
    preprocessing="unit",
    feature_layer="c",
    groups=(LayerGroup("a", "a"), LayerGroup("b", "b"), LayerGroup("c", "c")),
)


def test_every_name_builds_its_strategy() -> None:
    assert STRATEGY_NAMES == (
        "feature_extraction",
        "fine_tune",
        "gradual",
        "scratch",
        "linear_probe",
        "lp_ft",
        "prototypes",
    )
    assert isinstance(strategy_by_name("feature_extraction", epochs=2), FeatureExtraction)
    assert isinstance(strategy_by_name("fine_tune"), FineTune)
    assert isinstance(strategy_by_name("gradual"), Chain)
    assert isinstance(strategy_by_name("gradual", warmup_epochs=0), GradualUnfreeze)
    assert isinstance(strategy_by_name("scratch", epochs=4), Scratch)
    assert isinstance(strategy_by_name(" Fine-Tune "), FineTune)


def test_fine_tune_warms_up_one_epoch_by_default_like_the_config() -> None:
    phases = strategy_by_name("fine_tune", epochs=2, top=1).phases(INFO)
    assert [(p.name, p.epochs, p.trainable_groups, p.lr_scale) for p in phases] == [
        ("warmup", 1, (), 1.0),
        ("finetune", 2, ("c",), 0.1),
    ]
    assert [p.name for p in strategy_by_name("fine_tune", warmup_epochs=0).phases(INFO)] == ["finetune"]
    # A config's "unset" values: top=0 (all groups), from_group="", finetune_learning_rate=0.
    unset = strategy_by_name(
        "fine_tune", top=0, from_group="", finetune_learning_rate=0.0, learning_rate=1e-3
    )
    assert unset.phases(INFO)[-1].trainable_groups == ("a", "b", "c")
    assert unset.phases(INFO)[-1].learning_rate == pytest.approx(1e-4)


def test_gradual_is_a_warmup_then_one_more_group_per_step() -> None:
    phases = strategy_by_name("gradual", epochs=2, steps=2, warmup_learning_rate=1e-3).phases(INFO)
    assert [(p.name, p.epochs, p.trainable_groups, p.learning_rate) for p in phases] == [
        ("warmup", 1, (), 1e-3),
        ("unfreeze_1", 2, ("c",), None),
        ("unfreeze_2", 2, ("b", "c"), None),
    ]
    assert strategy_by_name("gradual", epochs_per_step=3, warmup_epochs=0).phases(INFO)[0].epochs == 3


def test_unknown_name_lists_the_accepted_names_and_the_closest() -> None:
    with pytest.raises(
        StrategyError,
        match=r"^Unknown strategy. Received: name='fine_tuning'. Accepted: 'feature_extraction', "
        r"'fine_tune', 'gradual', 'scratch', 'linear_probe', 'lp_ft', 'prototypes'. "
        r"Fix: pass 'fine_tune', the closest match.$",
    ):
        strategy_by_name("fine_tuning")
    with pytest.raises(StrategyError, match=r"Received: name='zzz'.*Fix: pass one of the accepted names"):
        strategy_by_name("zzz")
    with pytest.raises(StrategyError, match=r"Unknown strategy. Received: name=3"):
        strategy_by_name(3)  # type: ignore[arg-type]


def test_unknown_option_and_bad_values() -> None:
    with pytest.raises(
        StrategyError,
        match=r"Strategy 'scratch' does not take the option\(s\) 'warmup_epochs'. Received: "
        r"warmup_epochs=1. Accepted: epochs, learning_rate. Fix: drop them",
    ):
        strategy_by_name("scratch", warmup_epochs=1)
    with pytest.raises(StrategyError, match=r"Received: tops=1.*Fix: pass 'top', the closest match"):
        strategy_by_name("fine_tune", tops=1)
    with pytest.raises(StrategyError, match=r"`top` must be a whole number >= 1. Received: top=-1"):
        strategy_by_name("fine_tune", top=-1)
    with pytest.raises(
        StrategyError, match=r"`warmup_epochs` must be a whole number >= 0. Received: warmup_epochs=-1"
    ):
        strategy_by_name("gradual", warmup_epochs=-1)
    with pytest.raises(StrategyError, match=r"'gradual' takes `epochs` or `epochs_per_step`"):
        strategy_by_name("gradual", epochs=1, epochs_per_step=2)


def test_auto_is_named_as_a_choice_made_from_the_data_with_where_to_make_it() -> None:
    with pytest.raises(
        StrategyError, match=r"'auto' is not a strategy but a choice among strategies.*choose_strategy"
    ):
        strategy_by_name("auto")
