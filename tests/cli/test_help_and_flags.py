"""Every command's --help, no abbreviations, flags named after the config keys, long errors laid out."""

from __future__ import annotations

import dataclasses

import pytest

from transferlab.cli.config_flags import ALIASES, flag_name
from transferlab.cli.main import build_parser, error_text, main
from transferlab.config import RunConfig
from transferlab.errors import ConfigError, describe

COMMANDS = sorted(build_parser()._subparsers._group_actions[0].choices)


def _parsers():
    parser = build_parser()
    return [parser, *parser._subparsers._group_actions[0].choices.values()]


def test_the_commands_are_all_there():
    assert (
        sorted(
            [
                "quickstart",
                "train",
                "pretrain",
                "evaluate",
                "predict",
                "data",
                "backbones",
                "lr-find",
                "launch",
            ]
        )
        == COMMANDS
    )


@pytest.mark.parametrize("command", [[], *([c] for c in COMMANDS)], ids=["transferlab", *COMMANDS])
def test_help_works_for_every_command(command, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([*command, "--help"])
    assert exit_info.value.code == 0
    captured = capsys.readouterr()
    assert captured.out.startswith("usage: transferlab") and captured.err == ""
    assert "Traceback" not in captured.out


def test_no_parser_takes_abbreviations():
    assert all(parser.allow_abbrev is False for parser in _parsers())


def test_an_abbreviated_flag_is_refused_naming_it(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["train", "--labels-per-clas", "5"])
    assert exit_info.value.code == 2
    assert capsys.readouterr().err == (
        "transferlab train: error: unrecognized arguments: --labels-per-clas 5; "
        "did you mean --labels-per-class? (see `transferlab train --help`)\n"
    )


def test_every_config_key_is_a_flag_of_train_and_lr_find_with_its_default():
    config = RunConfig()
    for command in ("train", "lr-find"):
        parser = build_parser()._subparsers._group_actions[0].choices[command]
        actions = {action.dest: action for action in parser._actions}
        for section in ("data", "model", "strategy", "training"):
            for field in dataclasses.fields(getattr(config, section)):
                key = f"{section}.{field.name}"
                action = actions[key]
                expected = [flag_name(key), *ALIASES.get(key, ())]
                if isinstance(field.default, bool):  # --deterministic / --no-deterministic
                    expected.append("--no-" + flag_name(key)[2:])
                assert action.option_strings == expected
                assert "(default: " in action.help, key


def test_flags_are_the_config_keys():
    parser = build_parser()
    args = parser.parse_args(
        ["train", "--learning-rate", "0.01", "--finetune-learning-rate", "0.001", "--kind", "gradual"]
    )
    assert vars(args)["strategy.learning_rate"] == 0.01
    assert vars(args)["strategy.finetune_learning_rate"] == 0.001
    assert vars(args)["strategy.kind"] == "gradual"
    assert vars(parser.parse_args(["train", "--strategy", "scratch"]))["strategy.kind"] == "scratch"


@pytest.mark.parametrize("old", ["--lr", "--finetune-lr"])
def test_the_old_short_rate_flags_are_gone(old, capsys):
    with pytest.raises(SystemExit):
        main(["train", old, "0.1"])
    assert f"unrecognized arguments: {old} 0.1" in capsys.readouterr().err


def test_a_short_error_is_one_line():
    error = ConfigError(describe("`k` must be positive", received="k=0"))
    assert error_text(error) == "transferlab: error: `k` must be positive. Received: k=0."


def test_a_long_error_is_laid_out_problem_first_then_its_parts_indented():
    error = ConfigError(
        describe("The run folder holds another run", received="r" * 120, accepted="a" * 40, fix="rename it")
    )
    assert error_text(error).splitlines() == [
        "transferlab: error: The run folder holds another run.",
        f"  Received: {'r' * 120}.",
        f"  Accepted: {'a' * 40}.",
        "  Fix: rename it.",
    ]


def test_a_message_laid_out_by_describe_keeps_its_layout():
    error = ConfigError(describe("Not found", received=["folder a", "folder b"], fix="set X"))
    assert error_text(error) == (
        "transferlab: error: Not found.\n  Received:\n    - folder a\n    - folder b\n  Fix: set X."
    )


def test_the_cli_prints_a_long_error_on_several_lines_without_traceback(tmp_path, capsys):
    assert main(["data", "--path", str(tmp_path), "--no-download"]) == 2
    lines = capsys.readouterr().err.splitlines()
    assert lines[0] == f"transferlab: error: MNIST files are missing from path='{tmp_path}'."
    assert [line.split(":")[0] for line in lines[1:]] == ["  Received", "  Accepted", "  Fix"]
