"""`transferlab pretrain`: a backbone file from MNIST classes or an image folder that `train` loads."""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
import pytest

from transferlab.backbones import create_backbone
from transferlab.cli.main import build_parser, main
from transferlab.config import RunConfig

TINY = ["--width", "0.125", "--pretrain-epochs", "1", "--batch-size", "16", "--quiet"]


def _source_flags(kind: str, tmp_path: Path, mnist_dir: Path) -> list[str]:
    if kind == "mnist":  # digits 0-4, a few hundred of them
        return ["--path", str(mnist_dir), "--classes", "0", "1", "2", "3", "4", "--max-train", "300"]
    from tiny_folders import write_split_folders

    # another data set: 8x8 PNGs of 3 classes, read at MNIST's 28x28 so the backbone fits the target
    root = write_split_folders(tmp_path / "shapes", [20, 20, 20], [2, 2, 2])
    return ["--dataset", "folder", "--path", str(root), "--image-size", "28", "28"]


@pytest.mark.parametrize("kind", ["mnist", "folder"])
def test_pretrain_writes_a_backbone_that_train_loads(kind, mnist_dir, tmp_path, capsys):
    out = tmp_path / "source.weights.h5"
    runs = tmp_path / "runs"
    argv = ["pretrain", *_source_flags(kind, tmp_path, mnist_dir), *TINY, "--run-dir", str(runs)]
    assert main([*argv, "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert f"pretrained backbone: {out}\n" in printed
    assert f"transfer it: transferlab train --backbone alexnet --width 0.125 --weights {out} ..." in printed
    (run,) = runs.glob("alexnet-pretrain-*")
    assert (run / "pretrained_backbone.weights.h5").is_file()

    # train on digits 5-9 from that file: a frozen backbone ends as it started, with the file's weights
    train = [
        "train", "--path", str(mnist_dir), "--classes", "5", "6", "7", "8", "9", "--labels-per-class", "4",
        "--width", "0.125", "--weights", str(out), "--kind", "feature_extraction", "--epochs", "1",
        "--batch-size", "8", "--run-dir", str(tmp_path / "target"), "--quiet",
    ]  # fmt: skip
    assert main(train) == 0
    target = Path(capsys.readouterr().out.rsplit("run folder: ", 1)[1].strip())
    assert RunConfig.load(target / "config.toml").model.weights == str(out)
    trained = keras.saving.load_model(target / "model.keras", compile=False)
    expected = create_backbone("alexnet", width=0.125, weights=out).get_weights()
    for found, wanted in zip(trained.backbone.get_weights(), expected, strict=True):
        np.testing.assert_array_equal(found, wanted)
    assert (target / "evaluation.json").is_file()

    # the same command again reuses the run; --overwrite replaces the file
    out.write_bytes(b"old")
    assert main([*argv, "--out", str(out), "--overwrite"]) == 0
    assert list(runs.glob("alexnet-pretrain-*")) == [run]
    np.testing.assert_array_equal(
        create_backbone("alexnet", width=0.125, weights=out).get_weights()[0], expected[0]
    )


def test_without_out_the_backbone_stays_in_the_run_folder(mnist_dir, tmp_path, capsys, monkeypatch):
    from transferlab.experiments import pretrain

    written = []
    monkeypatch.setattr(
        pretrain, "_train", lambda config, source, name, target, verbose: written.append(target)
    )
    argv = [
        "pretrain",
        *_source_flags("mnist", tmp_path, mnist_dir),
        *TINY,
        "--run-dir",
        str(tmp_path / "runs"),
    ]
    assert main(argv) == 0
    (target,) = written
    assert target.parent.parent == tmp_path / "runs" and target.name == "pretrained_backbone.weights.h5"
    assert f"pretrained backbone: {target}\n" in capsys.readouterr().out


def test_an_existing_out_is_refused_before_anything_is_read(tmp_path, capsys):
    out = tmp_path / "source.weights.h5"
    out.write_bytes(b"keep me")
    argv = [
        "pretrain",
        "--path",
        str(tmp_path / "no-data"),
        "--out",
        str(out),
        "--run-dir",
        str(tmp_path / "runs"),
    ]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("transferlab: error: ") and "Traceback" not in err
    assert " ".join(err.split()) == (  # one line or laid out on several, by its length
        f"transferlab: error: The backbone file exists already. Received: out='{out}'. "
        "Fix: pass another file, or --overwrite (overwrite=True) to replace it."
    )
    assert out.read_bytes() == b"keep me" and not (tmp_path / "runs").exists()


@pytest.mark.parametrize(
    ("toml", "received"),
    [
        ("[data]\nlabels_per_class = 10\n", "data.labels_per_class=10"),
        ("[data]\nvalidation = 0.2\n", "data.validation=0.2"),
        ("[model]\npretrain_classes = [0, 1]\n[data]\nclasses = [5, 6]\n", "model.pretrain_classes=[0, 1]"),
    ],
)
def test_a_config_that_cuts_a_target_is_refused(toml, received, tmp_path, capsys):
    config = tmp_path / "source.toml"
    config.write_text(toml)
    assert main(["pretrain", "--config", str(config), "--run-dir", str(tmp_path / "runs")]) == 2
    key = received.split("=")[0]
    err = capsys.readouterr().err
    assert " ".join(err.split()) == (
        f"transferlab: error: `{key}` does not apply to `transferlab pretrain`. Received: {received}. "
        "Fix: remove it from the config file: the pretraining trains on all the training examples of "
        "the classes `data.classes` (--classes; at most `data.max_train`), so a run's source classes are "
        "passed as `data.classes`."
    )
    assert not (tmp_path / "runs").exists()


def test_the_flags_are_the_source_and_the_recipe_not_the_target():
    parser = build_parser()._subparsers._group_actions[0].choices["pretrain"]
    flags = {option for action in parser._actions for option in action.option_strings}
    assert {"--classes", "--dataset", "--max-train", "--pretrain-epochs", "--pretrain-augment"} <= flags
    assert {"--pretrain-schedule", "--pretrain-label-smoothing", "--out", "--overwrite", "--seed"} <= flags
    assert not flags & {"--labels-per-class", "--validation", "--augment", "--pretrain-classes", "--kind"}
    assert not flags & {"--epochs", "--schedule"}  # the target's: the recipe has its own


def test_two_batch_sizes_for_one_pretraining_are_refused(tmp_path, capsys):
    config = tmp_path / "source.toml"
    config.write_text("[model]\npretrain_batch_size = 64\n")
    argv = ["pretrain", "--config", str(config), "--batch-size", "16", "--run-dir", str(tmp_path / "runs")]
    assert main(argv) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert err == (
        "transferlab: error: Two batch sizes for one pretraining. Received: training.batch_size=16 "
        "(--batch-size), model.pretrain_batch_size=64. Fix: keep one: --batch-size sets the "
        "pretraining's batch size here."
    )
    assert not (tmp_path / "runs").exists()
