"""`transferlab train`: every flag honoured (validation of few labels, early stopping), Ctrl-C resumable."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from transferlab.cli.config_flags import resolved_config
from transferlab.cli.main import INTERRUPTED, build_parser, main
from transferlab.config import RunConfig
from transferlab.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]


def _flags(mnist_dir: Path, runs: Path) -> list[str]:
    return [
        "--path", str(mnist_dir), "--classes", "5", "6", "7", "8", "9", "--labels-per-class", "10",
        "--max-train", "400", "--width", "0.125", "--kind", "feature_extraction", "--epochs", "4",
        "--batch-size", "8", "--deterministic", "--run-dir", str(runs),
    ]  # fmt: skip


def test_validation_early_stopping_and_the_saved_config(mnist_dir, tmp_path, capsys):
    argv = ["train", *_flags(mnist_dir, tmp_path), "--validation", "0.2", "--early-stopping", "2", "--quiet"]
    assert main(argv) == 0
    run_dir = next(p for p in tmp_path.iterdir() if p.is_dir())
    assert f"run folder: {run_dir}" in capsys.readouterr().out
    # the config saved is the config that ran: the flags over the defaults
    effective = resolved_config(build_parser().parse_args(argv))
    assert effective.data.validation == 0.2 and effective.training.early_stopping == 2
    assert RunConfig.load(run_dir / "config.toml") == effective
    # 20 % of the 10 labels of each class validate: 2 per class, 8 per class train
    record = json.loads((run_dir / "config.json").read_text())
    assert record["train"]["examples"] == 40 and record["validation"]["examples"] == 10
    with open(run_dir / "metrics.csv", newline="") as file:
        header = next(csv.reader(file))
    assert {"val_loss", "val_accuracy"} <= set(header)
    # early stopping and the best checkpoint monitor the validation loss
    assert "- Best val_loss: " in (run_dir / "summary.md").read_text()


def test_without_validation_no_validation_split_is_made(mnist_dir, tmp_path):
    config = resolved_config(build_parser().parse_args(["train", *_flags(mnist_dir, tmp_path)]))
    from transferlab.experiments.prepare_data import prepare_data

    _, train, validation, _ = prepare_data(config)
    assert validation is None and len(train) == 50


def test_validation_of_few_labels_is_per_class_and_seeded(mnist_dir, tmp_path):
    from transferlab.experiments.prepare_data import prepare_data

    argv = ["train", *_flags(mnist_dir, tmp_path), "--validation", "0.2"]
    config = resolved_config(build_parser().parse_args(argv))
    _, train, validation, _ = prepare_data(config)
    _, train_again, validation_again, _ = prepare_data(config)
    assert train.class_counts().tolist() == [8] * 5 and validation.class_counts().tolist() == [2] * 5
    assert (validation.images == validation_again.images).all() and (train.labels == train_again.labels).all()
    # the labelled examples are split, never added to: a few-shot run uses only its labels
    sample = prepare_data(config.with_overrides({"data.validation": 0.0}))[1]
    labelled = {image.tobytes() for image in sample.images}
    assert {image.tobytes() for image in (*train.images, *validation.images)} == labelled


def test_a_validation_that_leaves_no_training_label_is_refused(capsys):
    with pytest.raises(ConfigError, match=r"`data.validation` leaves no labelled training example per class"):
        RunConfig().with_overrides({"data.labels_per_class": 2, "data.validation": 0.9})
    assert main(["train", "--labels-per-class", "1", "--validation", "0.5"]) == 2
    assert capsys.readouterr().err == (
        "transferlab: error: `data.validation` leaves no labelled training example per class.\n"
        "  Received: data.labels_per_class=1, data.validation=0.5 (1 of the 1 labelled examples per "
        "class held out).\n"
        "  Fix: pass more labels per class, or validation=0 (--validation 0) for no validation split.\n"
    )


def test_ctrl_c_prints_one_line_and_exits_130(mnist_dir, tmp_path):
    runs = tmp_path / "runs"
    flags = _flags(mnist_dir, runs)
    flags[flags.index("--epochs") + 1] = "200"  # long enough to be interrupted while training
    env = dict(os.environ, TF_NUM_INTRAOP_THREADS="1", TF_NUM_INTEROP_THREADS="1", PYTHONPATH=str(REPO))
    proc = subprocess.Popen(
        [sys.executable, "-m", "transferlab", "train", *flags],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # a shell's background jobs ignore SIGINT; a terminal's do not
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        deadline = time.monotonic() + 240
        while not (runs.is_dir() and any((p / "metrics.csv").is_file() for p in runs.iterdir())):
            assert proc.poll() is None, proc.communicate()[1][-2000:]
            assert time.monotonic() < deadline, "training did not start"
            time.sleep(0.2)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err[-2000:]
    assert "Traceback" not in err
    assert err.splitlines()[-1] == INTERRUPTED == "transferlab: interrupted; resume with the same command"


@pytest.mark.parametrize("kind", ["folder", "tfrecord"])
def test_train_on_a_folder_or_its_tfrecords_reads_them_as_sources(tmp_path, kind, capsys):
    from tiny_folders import write_split_folders

    root = write_split_folders(tmp_path / "pets", [10, 9, 11], [4, 3, 5])
    if kind == "tfrecord":
        assert (
            main(["data", "--dataset", "folder", "--path", str(root), "--to-tfrecords", str(tmp_path / "tf")])
            == 0
        )
        root = tmp_path / "tf"
    argv = [
        "train", "--dataset", kind, "--path", str(root), "--classes", "2", "0", "--validation", "0.25",
        "--width", "0.125", "--kind", "feature_extraction", "--epochs", "1", "--batch-size", "8",
        "--run-dir", str(tmp_path / "runs"), "--quiet",
    ]  # fmt: skip
    capsys.readouterr()
    assert main(argv) == 0
    run_dir = Path(capsys.readouterr().out.rsplit("run folder: ", 1)[1].strip())
    record = json.loads((run_dir / "config.json").read_text())
    # classes 2 and 0 relabelled over the source (nothing loaded): 21 examples, 5 of them held out
    assert record["train"]["source"] == "RelabeledSource" and record["train"]["examples"] == 16
    assert record["train"]["classes"] == ["c2", "c0"] and record["train"]["image_shape"] == [8, 8, 1]
    assert record["validation"]["examples"] == 5
    evaluation = json.loads((run_dir / "evaluation.json").read_text())
    assert evaluation["examples"] == 5 + 4 and list(evaluation["per_class"]) == ["c2", "c0"]
    assert RunConfig.load(run_dir / "config.toml").data.dataset == kind
    assert (run_dir / "top_losses.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
