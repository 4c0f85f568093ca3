"""run_experiment: a config trained and evaluated end to end, and reproduced from its run folder."""

from __future__ import annotations

import json

import numpy as np
import pytest

from transferlab.cli.main import main
from transferlab.config import RunConfig
from transferlab.experiments import run_experiment

TINY = """
[data]
path = "{mnist}"
classes = [5, 6, 7, 8, 9]
labels_per_class = 4
max_train = 400
[model]
backbone = "alexnet"
width = 0.125
pretrain_classes = [0, 1, 2, 3, 4]
pretrain_epochs = 1
[strategy]
kind = "{kind}"
epochs = 2
warmup_epochs = 1
[training]
batch_size = 8
deterministic = true
run_dir = "{runs}"
"""


def _config(mnist_dir, tmp_path, kind="fine_tune") -> RunConfig:
    return RunConfig.from_toml(TINY.format(mnist=mnist_dir, runs=tmp_path / "runs", kind=kind))


@pytest.fixture(scope="module")
def first_run(mnist_dir, tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("experiment")
    config = _config(mnist_dir, tmp_path)
    return config, run_experiment(config, verbose=0), tmp_path


def test_run_folder_holds_config_evaluation_and_plots(first_run):
    config, result, _ = first_run
    files = {p.name for p in result.run_dir.iterdir()}
    assert {"config.toml", "evaluation.json", "model.keras", "metrics.csv", "summary.md"} <= files
    assert {"confusion_matrix.png", "top_losses.png", "training_curves.png"} <= files
    assert RunConfig.load(result.run_dir / "config.toml") == config
    evaluation = json.loads((result.run_dir / "evaluation.json").read_text())
    assert evaluation["accuracy"] == pytest.approx(result.test_accuracy)
    # every test digit 5-9 is evaluated, re-indexed as classes 0-4
    assert evaluation["examples"] == 892 + 958 + 1028 + 974 + 1009
    assert result.report.class_names == ("5", "6", "7", "8", "9")


def test_the_source_task_is_pretrained_once_and_shared(first_run, mnist_dir):
    _, result, tmp_path = first_run
    pretrain_runs = [p for p in (tmp_path / "runs").iterdir() if "-pretrain-" in p.name]
    assert len(pretrain_runs) == 1
    assert (pretrain_runs[0] / "pretrained_backbone.weights.h5").is_file()
    other = run_experiment(_config(mnist_dir, tmp_path, kind="feature_extraction"), verbose=0)
    assert [p for p in (tmp_path / "runs").iterdir() if "-pretrain-" in p.name] == pretrain_runs
    assert other.run_dir != result.run_dir


def test_train_config_from_the_run_folder_reproduces_the_run(first_run, tmp_path, capsys):
    config, result, _ = first_run
    # The same config, written out and run again through the CLI into another folder.
    again = config.with_overrides({"training.run_dir": str(tmp_path / "again")})
    path = again.save(tmp_path / "again.toml")
    assert main(["train", "--config", str(path), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert f"test accuracy {result.test_accuracy:.4f}" in out
    rerun = next(p for p in (tmp_path / "again").iterdir() if "-pretrain-" not in p.name)
    import keras

    first = keras.saving.load_model(result.run_dir / "model.keras")
    second = keras.saving.load_model(rerun / "model.keras")
    for a, b in zip(first.get_weights(), second.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_flags_override_the_config_file(first_run, tmp_path):
    from transferlab.cli.config_flags import config_overrides
    from transferlab.cli.main import build_parser

    config, _, _ = first_run
    path = config.save(tmp_path / "c.toml")
    args = build_parser().parse_args(
        ["train", "--config", str(path), "--learning-rate", "0.5", "--classes", "6", "7", "--deterministic"]
    )
    resolved = RunConfig.load(args.config).with_overrides(config_overrides(args))
    assert resolved.strategy.learning_rate == 0.5
    assert resolved.data.classes == (6, 7)  # not the source classes 0-4: those are refused
    assert resolved.model == config.model  # untouched sections stay as in the file


def test_a_bad_flag_value_is_one_line_and_exit_2(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["train", "--kind", "finetune"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "invalid choice: 'finetune'" in err


def test_a_bad_config_key_names_the_closest_and_exits_2(tmp_path, capsys):
    path = tmp_path / "bad.toml"
    path.write_text("[training]\nbatchsize = 3\n")
    assert main(["train", "--config", str(path)]) == 2
    err = capsys.readouterr().err
    # a long message: the problem on the first line, its parts indented below
    assert err.splitlines()[0] == "transferlab: error: Unknown config key `training.batchsize`."
    assert "Traceback" not in err
    assert "Unknown config key `training.batchsize`" in err and "did you mean `training.batch_size`" in err


class _Stop(Exception):
    """Raised where the first training (the source task's pretraining) would start."""


def _stop_before_training(monkeypatch):
    import importlib

    module = importlib.import_module("transferlab.experiments.run_experiment")

    def no_training(*args, **kwargs):
        raise _Stop

    monkeypatch.setattr(module, "source_weights", no_training)
    return module


def test_the_task_is_checked_with_its_source_and_target_classes_before_any_training(
    mnist_dir, tmp_path, monkeypatch
):
    module = _stop_before_training(monkeypatch)
    seen = []

    def check_task(train, **classes):
        seen.append((len(train), classes))
        return []

    monkeypatch.setattr(module, "check_task", check_task)
    with pytest.raises(_Stop):
        run_experiment(_config(mnist_dir, tmp_path), verbose=0)
    assert seen == [(5 * 4, {"source_classes": (0, 1, 2, 3, 4), "target_classes": (5, 6, 7, 8, 9)})]


def test_a_class_without_training_examples_is_warned_about_before_any_training(
    mnist_dir, tmp_path, monkeypatch, caplog
):
    import logging

    _stop_before_training(monkeypatch)
    # 2 training examples for 3 classes: one class has none
    config = _config(mnist_dir, tmp_path).with_overrides(
        {"data.classes": (5, 6, 7), "data.labels_per_class": 0, "data.max_train": 2}
    )
    with caplog.at_level(logging.WARNING, logger="transferlab.experiments"), pytest.raises(_Stop):
        run_experiment(config, verbose=0)
    warnings = [r for r in caplog.records if r.name == "transferlab.experiments"]
    assert [r.levelno for r in warnings] == [logging.WARNING]
    assert "has no training examples: the model can never learn to predict it" in warnings[0].getMessage()


def test_the_prototypes_strategy_gets_the_cosine_head_it_needs(first_run, mnist_dir):
    _, _, tmp_path = first_run
    result = run_experiment(_config(mnist_dir, tmp_path, kind="prototypes"), verbose=0)
    assert result.train_result.model.head_kind == "cosine"
    assert 0.2 < result.test_accuracy <= 1.0  # five classes: better than chance from 4 labels each
    dense = run_experiment(_config(mnist_dir, tmp_path, kind="linear_probe"), verbose=0)
    assert dense.train_result.model.head_kind == "dense"
