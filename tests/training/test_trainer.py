"""Trainer: the run folder it leaves, continuous history over phases, distribution, its errors."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
import resume_tiny

from transferlab.errors import ConfigError, DataError
from transferlab.strategies import FeatureExtraction, FineTune
from transferlab.training.trainer import Trainer


def test_two_phase_run_leaves_a_readable_run_folder(tmp_path: Path) -> None:
    import keras

    data = resume_tiny.data(32)
    trainer = Trainer(
        resume_tiny.build,
        strategy=FineTune(epochs=1, top=1, warmup_epochs=1),
        run_dir=tmp_path,
        batch_size=16,
        verbose=0,
        early_stopping=3,
        reduce_lr_on_plateau=2,
    )
    result = trainer.fit(data, data.take(range(16)))
    run = result.run_dir
    assert run.parent == tmp_path and "featureextraction" not in run.name and "finetune" in run.name
    for name in (
        "config.json",
        "environment.json",
        "decisions.json",
        "metrics.csv",
        "metrics.json",
        "summary.md",
        "model.keras",
    ):
        assert (run / name).is_file(), name
    assert (run / "checkpoints" / "last.weights.h5").is_file()
    assert (run / "checkpoints" / "best.weights.h5").is_file()
    # TensorBoard event files, one continuous log over both phases.
    events = list((run / "tensorboard").rglob("events.out.tfevents.*"))
    assert events and all(e.stat().st_size > 0 for e in events)
    assert not (run / "backup" / "chief").exists()  # a finished run keeps no backup
    assert [r["phase"] for r in result.rows] == ["warmup", "finetune"]
    assert [r["epoch"] for r in result.rows] == [1, 2]
    assert len(result.history["loss"]) == len(result.history["val_loss"]) == 2
    config = json.loads((run / "config.json").read_text())
    assert config["global_batch_size"] == 16 and [p["name"] for p in config["phases"]] == [
        "warmup",
        "finetune",
    ]
    summary = (run / "summary.md").read_text()
    assert "| warmup | 1 | head only |" in summary and "Best val_loss" in summary
    loaded = keras.saving.load_model(run / "model.keras")
    x = data.images[:4]
    np.testing.assert_allclose(loaded.predict(x, verbose=0), result.model.predict(x, verbose=0), rtol=1e-5)
    assert set(trainer.evaluate(data)) == {"loss", "accuracy"}
    assert (run / "test_metrics.json").is_file()


def test_same_command_finds_the_same_run_name(tmp_path: Path) -> None:
    data = resume_tiny.data(16)
    names = [
        Trainer(resume_tiny.build, strategy=FeatureExtraction(1), run_dir=tmp_path, batch_size=16, verbose=0)
        .fit(data)
        .run_dir.name
        for _ in range(2)
    ]
    assert names[0] == names[1]


def test_mirrored_run_uses_global_batch_and_matches_one_device(tmp_path: Path, mirrored: object) -> None:

    data = resume_tiny.data(32)
    results = []
    for name, dist in (("one", "auto"), ("two", mirrored)):
        trainer = Trainer(
            resume_tiny.build,
            strategy=FeatureExtraction(1),
            distribution=dist,
            run_dir=tmp_path,
            run_name=name,
            batch_size=8 if name == "two" else 16,
            verbose=0,
            deterministic=True,
        )
        results.append(trainer.fit(data))
    assert json.loads((results[1].run_dir / "config.json").read_text())["global_batch_size"] == 16
    for a, b in zip(results[0].model.head.variables, results[1].model.head.variables):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-4, atol=1e-5)


def test_bad_model_and_data_are_refused(tmp_path: Path) -> None:
    data = resume_tiny.data(16)
    with pytest.raises(ConfigError, match="`model` must be a keras.Model or a callable"):
        Trainer(42, strategy=FeatureExtraction(1))
    with pytest.raises(ConfigError, match="needs a model builder that takes `precision=`"):
        Trainer(
            lambda: resume_tiny.build(), strategy=FeatureExtraction(1), precision="bfloat16", run_dir=tmp_path
        ).fit(data)
    with pytest.raises(ConfigError, match="built with another precision than the Trainer's"):
        Trainer(resume_tiny.build("bfloat16"), strategy=FeatureExtraction(1), run_dir=tmp_path).fit(data)
    with pytest.raises(
        ConfigError, match="`training.steps_per_epoch` is larger than the batches of one epoch"
    ):
        Trainer(
            resume_tiny.build,
            strategy=FeatureExtraction(1),
            steps_per_epoch=5,
            batch_size=16,
            run_dir=tmp_path,
        ).fit(data)
    with pytest.raises(
        DataError, match=r"`train` is not a kind of data transferlab reads.*ndarray.*Accepted:"
    ):
        Trainer(resume_tiny.build, strategy=FeatureExtraction(1), run_dir=tmp_path).fit(data.images)
    with pytest.raises(ConfigError, match="`evaluate` needs a trained model"):
        Trainer(resume_tiny.build, strategy=FeatureExtraction(1)).evaluate(data)


def test_cosine_schedule_decays_within_each_phase(tmp_path: Path) -> None:
    data = resume_tiny.data(32)
    trainer = Trainer(
        resume_tiny.build,
        strategy=FineTune(epochs=2, top=1, warmup_epochs=1),
        run_dir=tmp_path,
        batch_size=8,
        verbose=0,
        schedule="cosine",
    )
    result = trainer.fit(data)
    rates = [row["learning_rate"] for row in result.rows]
    # warm-up (1 epoch) at 1e-3, then fine-tuning (2 epochs) from 1e-4: each phase decays
    # from its own rate towards 1 % of it.
    assert rates[0] < 1e-3 and rates[2] < rates[1] < 1e-4
    assert rates[2] == pytest.approx(1e-6, rel=0.05)


def test_a_schedule_option_with_a_schedule_as_the_optimizer_is_refused(tmp_path: Path) -> None:
    import keras

    from transferlab.errors import StrategyError
    from transferlab.training import OneCycle

    trainer = Trainer(
        resume_tiny.build,
        strategy=FeatureExtraction(1),
        optimizer=keras.optimizers.Adam(OneCycle(1e-2, total_steps=10)),
        schedule="cosine",
        run_dir=tmp_path,
        verbose=0,
    )
    with pytest.raises(StrategyError, match="cosine"):
        trainer.fit(resume_tiny.data(16))


def test_a_schedule_as_the_optimizer_gets_each_phases_factor(tmp_path: Path) -> None:
    import keras

    from transferlab.training import OneCycle

    result = Trainer(
        resume_tiny.build,
        strategy=FineTune(epochs=1, top=1, warmup_epochs=1),
        optimizer=keras.optimizers.Adam(OneCycle(1e-2, total_steps=10)),
        run_dir=tmp_path,
        batch_size=16,
        verbose=0,
    ).fit(resume_tiny.data(32))
    rates = json.loads((result.run_dir / "decisions.json").read_text())["learning_rates"]
    assert rates["warmup"]["head"]["scale"] == 1.0
    assert rates["finetune"]["head"]["scale"] == pytest.approx(0.1)


def test_a_user_csv_logger_writes_its_file_across_phases(tmp_path: Path) -> None:
    import csv

    import keras

    log = tmp_path / "user.csv"
    Trainer(
        resume_tiny.build,
        strategy=FineTune(epochs=2, top=1, warmup_epochs=1),
        callbacks=[keras.callbacks.CSVLogger(str(log), append=True)],
        run_dir=tmp_path,
        batch_size=16,
        verbose=0,
    ).fit(resume_tiny.data(32))
    with open(log, newline="") as handle:
        epochs = [int(row["epoch"]) for row in csv.DictReader(handle)]
    assert epochs == [0, 1, 2]  # both phases, epochs numbered over the run


def test_a_three_phase_run_shows_the_run_folder_first_then_a_header_per_phase(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    strategy = (
        FeatureExtraction(1) + FineTune(1, top=1, warmup_epochs=0) + FineTune(1, top=2, warmup_epochs=0)
    )
    result = Trainer(resume_tiny.build, strategy=strategy, run_dir=tmp_path, batch_size=16).fit(
        resume_tiny.data(32)
    )
    out = capsys.readouterr().out
    lines = [line for line in out.splitlines() if line.strip()]
    assert lines[0].startswith("run folder:") and str(result.run_dir) in lines[0]
    headers = [line for line in lines if line.startswith("phase ")]
    assert [h.split()[1] for h in headers] == ["1/3", "2/3", "3/3"]
    assert [line.split()[1] for line in lines if line.startswith("epoch ")] == ["1/3", "2/3", "3/3"]
    assert "\r" not in out  # captured output is not a terminal: one line per epoch, no bars


def test_the_optimizer_you_pass_trains_at_its_own_rate(tmp_path: Path) -> None:
    import keras

    result = Trainer(
        resume_tiny.build,
        strategy=FeatureExtraction(1),
        optimizer=keras.optimizers.Adadelta(learning_rate=1.0),
        run_dir=tmp_path,
        batch_size=16,
        verbose=0,
    ).fit(resume_tiny.data(32))
    assert float(result.model.optimizer.learning_rate.numpy()) == 1.0
    rates = json.loads((result.run_dir / "decisions.json").read_text())["learning_rates"]
    assert rates["feature_extraction"]["head"]["rate"] == 1.0


def test_a_strategy_can_be_given_by_name(tmp_path: Path) -> None:
    trainer = Trainer(resume_tiny.build, strategy="fine_tune", run_dir=tmp_path, batch_size=16, verbose=0)
    assert type(trainer.strategy).__name__ == "FineTune"
    result = trainer.fit(resume_tiny.data(32))
    assert [row["phase"] for row in result.rows] == ["warmup", "finetune"]
    from transferlab.errors import StrategyError

    with pytest.raises(StrategyError, match="fine_tune"):
        Trainer(resume_tiny.build, strategy="finetune")


def test_a_run_of_a_handful_of_steps_says_so(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    import logging

    with caplog.at_level(logging.WARNING, logger="transferlab.training"):
        result = Trainer(
            resume_tiny.build, strategy=FeatureExtraction(2), run_dir=tmp_path, batch_size=64, verbose=0
        ).fit(resume_tiny.data(16))
    expected = "an epoch is only 1 optimizer step(s) (16 examples, global batch 64), 2 in the whole run"
    assert any(expected in r.getMessage() for r in caplog.records)
    notes = json.loads((result.run_dir / "decisions.json").read_text())["notes"]
    assert any(expected in note for note in notes)


def test_decisions_made_before_training_go_to_decisions_json(tmp_path: Path) -> None:
    trainer = Trainer(
        resume_tiny.build, strategy=FeatureExtraction(1), run_dir=tmp_path, batch_size=16, verbose=0
    )
    choice = {"chosen": "linear_probe", "scores": {"linear_probe": 0.9, "scratch": 0.5}}
    result = trainer.fit(resume_tiny.data(32), decided={"strategy_choice": choice})
    decisions = json.loads((Path(result.run_dir) / "decisions.json").read_text())
    assert decisions["strategy_choice"] == choice and decisions["precision"] == "float32"
    # what was decided is not the run's identity: the same run, with another record, is reused
    again = trainer.fit(resume_tiny.data(32), decided={"strategy_choice": {"chosen": "scratch"}})
    assert again.reused and again.run_dir == result.run_dir
    with pytest.raises(ConfigError, match=r"must not use the names of the Trainer's own decisions.*'notes'"):
        trainer.fit(resume_tiny.data(32), decided={"notes": []})
