"""`transferlab evaluate`: report, evaluation.json, plots, run-folder settings, one-line errors."""

from __future__ import annotations

import json

import pytest

from transferlab.cli.main import main


@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    """A tiny 3-class classifier saved as ``model.keras`` in a folder of its own."""
    import keras

    from transferlab.backbones import build_classifier

    keras.utils.set_random_seed(0)
    model = build_classifier("alexnet", 3, width=0.125)
    path = tmp_path_factory.mktemp("model") / "digits.keras"
    model.save(path)
    return path


def _one_line_error(capsys) -> str:
    """The error, as one line: the CLI lays a long message out on indented lines."""
    err = capsys.readouterr().err
    assert err.startswith("transferlab: error: ") and "Traceback" not in err
    assert all(line.startswith("  ") for line in err.splitlines()[1:])
    return err.rstrip("\n").replace("\n  ", " ") + "\n"


def test_model_file_with_flags_writes_json_and_plots_next_to_it(model_file, mnist_dir, capsys):
    from transferlab.data import load_mnist, select_classes
    from transferlab.evaluation import ClassificationReport
    from transferlab.serving import load_trained_model

    args = [
        "evaluate",
        str(model_file),
        "--dataset",
        "mnist",
        "--path",
        str(mnist_dir),
        "--classes",
        "5",
        "6",
        "7",
        "--plots",
    ]
    assert main(args) == 0
    out = capsys.readouterr().out
    record = json.loads((model_file.parent / "evaluation.json").read_text())
    assert record["classes"] == ["5", "6", "7"] and record["split"] == "test"
    data = select_classes(load_mnist(mnist_dir).test, [5, 6, 7])
    assert record["examples"] == len(data) == 892 + 958 + 1028
    # The same numbers as ClassificationReport.evaluate on the in-memory model.
    reference = ClassificationReport.evaluate(load_trained_model(model_file), data)
    assert record["accuracy"] == pytest.approx(reference.accuracy)
    assert record["confusion_matrix"] == reference.confusion_matrix.tolist()
    assert reference.to_text() in out
    for name in ("confusion_matrix.png", "top_losses.png"):
        assert (model_file.parent / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert f"wrote {model_file.parent / 'evaluation.json'}" in out


def test_run_folder_takes_data_settings_from_config_toml(model_file, mnist_dir, tmp_path, capsys):
    import shutil

    from transferlab.config import RunConfig
    from transferlab.config.data_config import DataConfig

    run = tmp_path / "run"
    run.mkdir()
    shutil.copy(model_file, run / "model.keras")
    RunConfig(data=DataConfig(path=str(mnist_dir), classes=(9, 8, 7))).save(run / "config.toml")
    assert main(["evaluate", str(run)]) == 0
    record = json.loads((run / "evaluation.json").read_text())
    assert record["classes"] == ["9", "8", "7"] and record["path"] == str(mnist_dir)
    assert record["examples"] == 1009 + 974 + 1028
    assert not (run / "confusion_matrix.png").exists()
    capsys.readouterr()
    # Flags override the config: the train split of classes 0 1 2.
    assert main(["evaluate", str(run), "--classes", "0", "1", "2", "--split", "train"]) == 0
    record = json.loads((run / "evaluation.json").read_text())
    assert record["classes"] == ["0", "1", "2"] and record["split"] == "train"
    assert record["examples"] == 5923 + 6742 + 5958


def test_saved_model_writes_beside_the_export(model_file, mnist_dir, tmp_path, capsys):
    from transferlab.serving import export_saved_model, load_trained_model

    folder = export_saved_model(load_trained_model(model_file), tmp_path / "served")
    assert main(["evaluate", str(folder), "--path", str(mnist_dir), "--classes", "5", "6", "7"]) == 0
    record = json.loads((tmp_path / "evaluation.json").read_text())
    first = json.loads((model_file.parent / "evaluation.json").read_text())
    assert record["confusion_matrix"] == first["confusion_matrix"]
    assert not (folder / "evaluation.json").exists()


def test_class_count_mismatch(model_file, mnist_dir, capsys):
    assert main(["evaluate", str(model_file), "--path", str(mnist_dir)]) == 2
    assert (
        "The model's outputs and the data's classes differ in number. Received: 3 outputs, "
        "10 classes ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'] in the test split. "
        "Fix: pass --classes with the 3 classes the model was trained on, in its label order "
        "(e.g. --classes 0 1 2).\n"
    ) in _one_line_error(capsys)


def test_unknown_class(model_file, mnist_dir, capsys):
    assert main(["evaluate", str(model_file), "--path", str(mnist_dir), "--classes", "5", "6", "12"]) == 2
    assert "Unknown class in `classes`. Received: 12." in _one_line_error(capsys)


def test_missing_model_and_missing_data(model_file, tmp_path, capsys):
    assert main(["evaluate", str(tmp_path / "none.keras"), "--classes", "1", "2", "3"]) == 2
    assert "the path does not exist" in _one_line_error(capsys)
    assert main(["evaluate", str(model_file), "--path", str(tmp_path), "--no-download"]) == 2
    assert "train-images-idx3-ubyte.gz" in _one_line_error(capsys)


def test_bad_config_toml_is_one_line(model_file, tmp_path, capsys):
    import shutil

    shutil.copy(model_file, tmp_path / "model.keras")
    (tmp_path / "config.toml").write_text("[data]\nclasses = [1, 1]\n")
    assert main(["evaluate", str(tmp_path)]) == 2
    assert "`data.classes` lists a class twice" in _one_line_error(capsys)


def test_plots_without_matplotlib(model_file, mnist_dir, monkeypatch, capsys):
    import sys

    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    monkeypatch.setitem(sys.modules, "matplotlib.backends.backend_agg", None)
    args = ["evaluate", str(model_file), "--path", str(mnist_dir), "--classes", "5", "6", "7", "--plots"]
    assert main(args) == 2
    assert "Plots need matplotlib, which is not installed" in _one_line_error(capsys)


def test_a_folder_data_set_is_read_in_batches_with_the_runs_settings(model_file, tmp_path, capsys):
    import shutil

    from tiny_folders import write_split_folders

    from transferlab.config import RunConfig
    from transferlab.config.data_config import DataConfig
    from transferlab.data.image_folder import load_image_folder
    from transferlab.evaluation import ClassificationReport
    from transferlab.serving import load_trained_model

    root = write_split_folders(tmp_path / "pets", [2, 2, 2, 2], [3, 4, 2, 5], size=(14, 14))
    run = tmp_path / "run"
    run.mkdir()
    shutil.copy(model_file, run / "model.keras")
    settings = DataConfig(dataset="folder", path=str(root), image_size=(28, 28), classes=(3, 1, 0))
    RunConfig(data=settings).save(run / "config.toml")
    assert main(["evaluate", str(run), "--plots"]) == 0
    record = json.loads((run / "evaluation.json").read_text())
    assert record["dataset"] == "folder" and record["classes"] == ["c3", "c1", "c0"]
    from transferlab.data.select_classes import select_classes

    test = select_classes(load_image_folder(root / "test", image_size=(28, 28)), [3, 1, 0])
    reference = ClassificationReport.evaluate(load_trained_model(model_file), test)
    assert (
        record["examples"] == 5 + 4 + 3 and record["confusion_matrix"] == reference.confusion_matrix.tolist()
    )
    assert record["accuracy"] == pytest.approx(reference.accuracy)
    assert (run / "top_losses.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    capsys.readouterr()
    # without the run's image_size the folder's 14x14 images do not fit the model: said so
    (run / "config.toml").unlink()
    assert (
        main(["evaluate", str(run), "--dataset", "folder", "--path", str(root), "--classes", "0", "1", "2"])
        == 2
    )
    assert "image_size=(28, 28)" in _one_line_error(capsys)


def test_tta_from_the_run_or_the_flag_reaches_the_report(model_file, tmp_path, monkeypatch, capsys):
    import shutil

    from tiny_folders import write_split_folders

    from transferlab.config import DataConfig, RunConfig, TrainingOptions
    from transferlab.data.image_folder_source import ImageFolderSource
    from transferlab.evaluation import ClassificationReport
    from transferlab.serving import load_trained_model

    evaluate = ClassificationReport.evaluate
    calls = []

    def spy(model, data, **kwargs):
        calls.append(kwargs)
        return evaluate(model, data, **kwargs)

    monkeypatch.setattr(ClassificationReport, "evaluate", staticmethod(spy))
    root = write_split_folders(tmp_path / "pets", [1, 1, 1], [2, 3, 2], size=(28, 28))
    run = tmp_path / "run"
    run.mkdir()
    shutil.copy(model_file, run / "model.keras")
    data = DataConfig(dataset="folder", path=str(root), augment="strong", tta=2)
    RunConfig(data=data, training=TrainingOptions(seed=3)).save(run / "config.toml")
    assert main(["evaluate", str(run), "--batch-size", "4"]) == 0  # the run's data.tta
    assert calls == [{"batch_size": 4, "tta": 2, "tta_preset": "strong", "seed": 3}]
    assert json.loads((run / "evaluation.json").read_text())["tta"] == 2
    assert main(["evaluate", str(run), "--tta", "1"]) == 0
    assert calls[1] == {"batch_size": 256, "tta": 1, "tta_preset": "strong", "seed": 3}
    record = json.loads((run / "evaluation.json").read_text())
    test = ImageFolderSource(root / "test")
    reference = evaluate(load_trained_model(run), test, tta=1, tta_preset="strong", seed=3)
    assert record["tta"] == 1 and record["confusion_matrix"] == reference.confusion_matrix.tolist()
    assert main(["evaluate", str(run), "--tta", "0"]) == 0  # the flag turns the run's tta off
    assert len(calls) == 2 and json.loads((run / "evaluation.json").read_text())["tta"] == 0
    capsys.readouterr()
    assert main(["evaluate", str(run), "--tta", "-1"]) == 2
    assert (
        "`data.tta` must be >= 0. Received: data.tta=-1. Fix: use 0 for no test-time augmentation, "
        "or e.g. 4 (--tta 4) for each test image and 4 augmented copies.\n"
    ) in _one_line_error(capsys)


def test_with_tta_images_of_another_size_are_refused_as_without(model_file, tmp_path, capsys):
    from tiny_folders import write_split_folders

    root = write_split_folders(tmp_path / "pets", [1, 1, 1], [1, 1, 1], size=(14, 14))
    args = ["evaluate", str(model_file), "--dataset", "folder", "--path", str(root), "--tta", "2"]
    assert main(args) == 2
    error = _one_line_error(capsys)
    assert "The images' size differs from the model's input size. Received: images 14x14" in error
    assert "image_size=(28, 28)" in error
