"""RunConfig: TOML in, frozen validated dataclasses out, and back."""

from __future__ import annotations

import dataclasses

import pytest

from transferlab.config import RunConfig, StrategyConfig
from transferlab.errors import ConfigError


def test_defaults_round_trip_through_toml(tmp_path):
    config = RunConfig()
    path = config.save(tmp_path / "config.toml")
    assert RunConfig.load(path) == config
    assert "# Registered backbone name" in path.read_text()


def test_file_values_are_typed_and_lists_become_tuples():
    config = RunConfig.from_toml(
        "[data]\nclasses = [5, 6, 7]\nlabels_per_class = 10\n[strategy]\nlearning_rate = 1\n"
    )
    assert config.data.classes == (5, 6, 7)
    assert config.strategy.learning_rate == 1.0 and isinstance(config.strategy.learning_rate, float)


def test_config_is_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        RunConfig().training.seed = 3  # type: ignore[misc]


def test_unknown_key_names_it_and_suggests_the_closest():
    with pytest.raises(
        ConfigError, match=r"Unknown config key `training.batchsize`.*did you mean `training.batch_size`"
    ):
        RunConfig.from_toml("[training]\nbatchsize = 3\n")


def test_unknown_section_lists_the_sections():
    with pytest.raises(
        ConfigError,
        match=r"Unknown config section `\[trainig\]`.*Accepted: \[data\], \[model\], \[strategy\], \[training\].*did you mean `\[training\]`",
    ):
        RunConfig.from_toml("[trainig]\nseed = 3\n")


def test_wrong_type_names_key_value_and_type():
    with pytest.raises(
        ConfigError,
        match=r"Wrong type for config key `training.batch_size`. Received: training.batch_size='64' \(str\). Accepted: int",
    ):
        RunConfig.from_toml('[training]\nbatch_size = "64"\n')


def test_bool_is_not_accepted_as_int():
    with pytest.raises(ConfigError, match="Wrong type for config key `training.seed`"):
        RunConfig.from_toml("[training]\nseed = true\n")


def test_bad_choice_lists_the_accepted_values():
    with pytest.raises(
        ConfigError,
        match=r"Bad value for config key `strategy.kind`. Received: strategy.kind='finetune'. Accepted: 'feature_extraction', 'fine_tune', 'gradual', 'scratch'",
    ):
        RunConfig.from_toml('[strategy]\nkind = "finetune"\n')


def test_contradictory_options_are_refused():
    with pytest.raises(ConfigError, match="`strategy.top` and `strategy.from_group` contradict"):
        StrategyConfig(top=2, from_group="block4")


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ("[data]\nvalidation = 1.5\n", r"`data.validation` must be in \[0, 1\)"),
        ("[data]\nlabels_per_class = -1\n", "`data.labels_per_class` must be >= 0"),
        ("[data]\nclasses = [1, 1]\n", "`data.classes` lists a class twice"),
        ("[model]\ninput_size = [32]\n", r"`model.input_size` must be \[height, width\]"),
        ("[model]\ndropout = 1.0\n", r"`model.dropout` must be in \[0, 1\)"),
        ("[strategy]\nepochs = 0\n", "`strategy.epochs` must be >= 1"),
        ("[strategy]\nlr_decay = 2.0\n", r"`strategy.lr_decay` must be in \(0, 1\]"),
        ("[training]\nbatch_size = 0\n", "`training.batch_size` must be >= 1"),
        ("[training\n", "is not valid TOML"),
    ],
)
def test_bad_values(toml, message):
    with pytest.raises(ConfigError, match=message):
        RunConfig.from_toml(toml)


def test_overrides_replace_dotted_keys_and_skip_none():
    config = RunConfig().with_overrides({"training.seed": 7, "model.backbone": None})
    assert config.training.seed == 7
    assert config.model.backbone == "alexnet"


def test_override_of_unknown_key_is_refused():
    with pytest.raises(ConfigError, match="Unknown config key `training.sed`"):
        RunConfig().with_overrides({"training.sed": 1})


def test_missing_file_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="Config file not found"):
        RunConfig.load(tmp_path / "nope.toml")


def test_scratch_with_pretrained_weights_is_contradictory():
    with pytest.raises(
        ConfigError, match=r"strategy.kind='scratch' trains from random weights.*Fix: drop the weights"
    ):
        RunConfig.from_toml('[model]\npretrain_classes = [0, 1]\n[strategy]\nkind = "scratch"\n')


@pytest.mark.parametrize(
    ("pretrain", "classes", "shared"),
    [("[5, 0]", "[5, 6, 7]", r"\[5\]"), ("[0, 1]", "[]", r"\[0, 1\]")],
    ids=["overlap", "all-classes"],
)
def test_pretrain_classes_overlapping_the_target_are_refused(pretrain, classes, shared):
    with pytest.raises(
        ConfigError,
        match=r"(?s)`model\.pretrain_classes` overlap the target classes `data\.classes`.*"
        rf"both hold {shared}.*Fix: pretrain on other classes",
    ):
        RunConfig.from_toml(f"[model]\npretrain_classes = {pretrain}\n[data]\nclasses = {classes}\n")


def test_disjoint_pretrain_classes_are_accepted():
    config = RunConfig.from_toml("[model]\npretrain_classes = [0, 1]\n[data]\nclasses = [5, 6]\n")
    assert config.model.pretrain_classes == (0, 1)


def test_a_file_with_a_byte_order_mark_is_read(tmp_path):
    (tmp_path / "run.toml").write_bytes("[training]\nseed = 7\n".encode("utf-8-sig"))
    assert RunConfig.load(tmp_path / "run.toml").training.seed == 7


def test_a_file_that_is_not_utf8_is_a_config_error(tmp_path):
    (tmp_path / "run.toml").write_bytes(b"[training]\nrun_name = '\xff'\n")
    with pytest.raises(ConfigError, match=r"(?s)run\.toml is not UTF-8 text.*byte 0xff.*Fix: save"):
        RunConfig.load(tmp_path / "run.toml")


@pytest.mark.parametrize("value", ["inf", "-inf", "nan"])
def test_non_finite_floats_are_refused(value):
    with pytest.raises(ConfigError, match=r"(?s)`model\.width` must be a finite number.*inf and nan"):
        RunConfig.from_toml(f"[model]\nwidth = {value}\n")


def test_a_refused_seed_writes_nothing(tmp_path, capsys):
    from transferlab.cli.main import main

    with pytest.raises(ConfigError, match=r"`training\.seed` is too large"):
        RunConfig.from_toml(f"[training]\nseed = {2**64}\n")
    code = main(["train", "--seed", str(2**64), "--run-dir", str(tmp_path / "runs"), "--run-name", "r"])
    assert code == 2 and "`training.seed` is too large" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []
