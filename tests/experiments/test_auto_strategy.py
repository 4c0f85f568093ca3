"""strategy.kind = "auto": cross-validated choice among candidates, recorded in decisions.json."""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest
import tensorflow as tf

from transferlab.config import RunConfig, StrategyConfig
from transferlab.data import LabeledImages
from transferlab.errors import ConfigError, StrategyError
from transferlab.evaluation import ClassificationReport
from transferlab.experiments import run_experiment, strategy_from_config
from transferlab.experiments.auto_strategy import AUTO_RUNS, choose_strategy, stratified_folds
from transferlab.experiments.prepare_data import prepare_data

AUTO_TINY = """
[data]
path = "{mnist}"
classes = [5, 6, 7]
labels_per_class = {k}
max_train = 300
[model]
backbone = "alexnet"
width = 0.125
pretrain_classes = [0, 1, 2]
pretrain_epochs = 1
[strategy]
kind = "auto"
auto_candidates = ["linear_probe", "scratch"]
auto_folds = 2
epochs = 2
warmup_epochs = 0
[training]
batch_size = 4
deterministic = true
run_dir = "{runs}"
"""


def _config(mnist_dir, tmp_path, k=4) -> RunConfig:
    return RunConfig.from_toml(AUTO_TINY.format(mnist=mnist_dir, runs=tmp_path / "runs", k=k))


@pytest.fixture(scope="module")
def auto_run(mnist_dir, tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("auto")
    config = _config(mnist_dir, tmp_path)
    return config, run_experiment(config, verbose=0), tmp_path


def test_folds_cover_every_example_once_each_class_spread_and_seeded():
    labels = np.repeat(np.arange(4), [5, 6, 7, 3])
    parts = stratified_folds(labels, 3, seed=1)
    joined = np.concatenate(parts)
    assert sorted(joined.tolist()) == list(range(len(labels)))
    for part in parts:  # every class in every fold, sizes per class within one
        counts = np.bincount(labels[part], minlength=4)
        assert (counts >= 1).all()
    per_class = np.array([np.bincount(labels[p], minlength=4) for p in parts])
    assert (per_class.max(axis=0) - per_class.min(axis=0) <= 1).all()
    again = stratified_folds(labels, 3, seed=1)
    assert all(np.array_equal(a, b) for a, b in zip(parts, again, strict=True))
    other = stratified_folds(labels, 3, seed=2)
    assert not all(np.array_equal(a, b) for a, b in zip(parts, other, strict=True))


def test_auto_records_its_choice_and_the_scores_it_chose_by(auto_run):
    config, result, _ = auto_run
    choice = result.strategy_choice
    assert choice is not None and choice.folds == 2
    assert set(choice.scores) == {"linear_probe", "scratch"}
    for kind, folds in choice.fold_scores.items():
        assert len(folds) == 2
        assert choice.scores[kind] == pytest.approx(sum(folds) / 2)
    assert choice.kind == max(choice.scores, key=lambda k: (choice.scores[k], k == "linear_probe"))
    decisions = json.loads((result.run_dir / "decisions.json").read_text())
    assert decisions["strategy_choice"] == json.loads(json.dumps(choice.as_json()))
    # the final run trained the chosen strategy, and its config still says auto (rerun: same choice)
    planned = json.loads((result.run_dir / "config.json").read_text())
    assert planned["strategy"] == repr(strategy_from_config(choice.config))
    assert config.strategy.kind == "auto"


def test_a_recorded_fold_score_is_the_cv_model_accuracy_on_its_held_out_fold(auto_run, mnist_dir):
    config, result, _ = auto_run
    choice = result.strategy_choice
    assert choice is not None
    _, train, _, _ = prepare_data(config)
    held_out = stratified_folds(train.labels, 2, seed=config.training.seed)[1]
    run_dir = choice.runs["scratch"][1]
    model = keras.models.load_model(f"{run_dir}/model.keras")
    again = ClassificationReport.evaluate(model, train.take(held_out)).accuracy
    assert again == pytest.approx(choice.fold_scores["scratch"][1])


def test_running_auto_again_reuses_the_cross_validation_runs(auto_run):
    config, result, tmp_path = auto_run
    cv_runs = sorted(p.name for p in (tmp_path / "runs" / AUTO_RUNS).iterdir() if not p.name.startswith("."))
    assert len(cv_runs) == 4  # 2 candidates x 2 folds
    again = run_experiment(config, verbose=0)
    assert again.strategy_choice is not None and again.strategy_choice.scores == result.strategy_choice.scores
    assert (
        sorted(p.name for p in (tmp_path / "runs" / AUTO_RUNS).iterdir() if not p.name.startswith("."))
        == cv_runs
    )
    assert again.train_result.reused and again.run_dir == result.run_dir


def test_one_label_per_class_takes_the_first_candidate_and_says_why():
    data = LabeledImages(np.zeros((3, 8, 8, 1), np.uint8), np.array([0, 1, 2]), ("a", "b", "c"))
    choice = choose_strategy(RunConfig(), data, weights=None)
    assert choice.kind == StrategyConfig().auto_candidates[0] and choice.folds == 0 and not choice.scores
    assert "rarest class has 1 labelled example" in choice.reason


def test_auto_refuses_a_stream_it_cannot_split():
    stream = tf.data.Dataset.from_tensor_slices((np.zeros((4, 8, 8, 1), np.uint8), np.arange(4) % 2))
    with pytest.raises(
        ConfigError, match=r"needs labelled examples it can split into folds.*Fix: pass an in-memory"
    ):
        choose_strategy(RunConfig(), stream, weights=None)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            {"auto_candidates": ("linear_probe", "auto")},
            r"`strategy.auto_candidates` must name distinct strategies",
        ),
        (
            {"auto_candidates": ("probe",)},
            r"Received: strategy.auto_candidates=\['probe'\]. Accepted: feature_extraction",
        ),
        ({"auto_candidates": ()}, r"must name distinct strategies"),
        ({"auto_candidates": ("scratch", "scratch")}, r"must name distinct strategies"),
        ({"auto_folds": 1}, r"`strategy.auto_folds` must be >= 2. Received: strategy.auto_folds=1"),
    ],
)
def test_bad_auto_options_are_refused_with_the_fix(overrides, message):
    with pytest.raises(ConfigError, match=message):
        StrategyConfig(kind="auto", **overrides)


def test_auto_is_not_built_directly():
    with pytest.raises(
        StrategyError, match=r"'auto' is not a strategy but a choice among strategies.*choose_strategy"
    ):
        strategy_from_config(StrategyConfig(kind="auto"))
