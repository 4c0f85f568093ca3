"""Recipes: valid config overrides, applied by the API and by `transferlab train --recipe`."""

from __future__ import annotations

import pytest

from transferlab.cli.config_flags import resolved_config
from transferlab.cli.main import build_parser
from transferlab.config import RunConfig
from transferlab.config.recipes import FEW_SHOT, RECIPES


@pytest.mark.parametrize("name", list(RECIPES))
def test_every_recipe_is_a_valid_set_of_overrides(name: str) -> None:
    config = RunConfig().with_overrides(RECIPES[name])
    for key, value in RECIPES[name].items():
        section, field = key.split(".")
        assert getattr(getattr(config, section), field) == value


def test_the_few_shot_recipe_is_lp_ft_with_augmentation() -> None:
    config = RunConfig().with_overrides(FEW_SHOT)
    assert (config.strategy.kind, config.data.augment, config.strategy.batchnorm) == (
        "lp_ft",
        "standard",
        "frozen",
    )
    assert config.strategy.finetune_learning_rate < config.strategy.learning_rate


def test_train_takes_a_recipe_over_the_file_and_flags_over_the_recipe(tmp_path) -> None:
    path = tmp_path / "run.toml"
    path.write_text('[data]\nclasses = [5, 6]\n[strategy]\nkind = "scratch"\nepochs = 9\n')
    args = build_parser().parse_args(
        ["train", "--config", str(path), "--recipe", "few_shot", "--epochs", "3"]
    )
    config = resolved_config(args)
    assert config.data.classes == (5, 6)  # the file's, not named by the recipe
    assert config.strategy.kind == "lp_ft" and config.data.augment == "standard"  # the recipe's
    assert config.strategy.epochs == 3  # the flag's


def test_an_unknown_recipe_is_refused_naming_the_known_ones(capsys) -> None:
    with pytest.raises(SystemExit) as info:
        build_parser().parse_args(["train", "--recipe", "fewshot"])
    assert info.value.code == 2
    assert "invalid choice: 'fewshot' (choose from 'few_shot')" in capsys.readouterr().err
