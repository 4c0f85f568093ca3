"""`transferlab predict`: lines per image, CSV/JSON output, class names, one-line errors."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import tensorflow as tf

from transferlab.cli.main import main


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """A tiny 3-class classifier saved as a run folder, and its expected outputs on some digits."""
    import keras

    from transferlab.backbones import build_classifier

    keras.utils.set_random_seed(0)
    model = build_classifier("alexnet", 3, width=0.125)
    dense = model.head.get_layer("head_dense")
    kernel, bias = dense.get_weights()
    dense.set_weights([np.random.default_rng(1).normal(0, 10, kernel.shape).astype("float32"), bias])
    run = tmp_path_factory.mktemp("run")
    model.save(run / "model.keras")
    (run / "config.json").write_text(json.dumps({"train": {"classes": ["five", "six", "seven"]}}))
    rng = np.random.default_rng(0)
    digits = rng.integers(0, 256, (4, 28, 28), dtype=np.uint8)
    files = tmp_path_factory.mktemp("images")
    for i in range(2):
        (files / f"d{i}.png").write_bytes(tf.io.encode_png(digits[i][..., None]).numpy())
    np.save(files / "rest.npy", digits[2:])
    probs = np.asarray(model(digits[..., None], training=False))
    return run, files, probs


def _lines(capsys):
    return capsys.readouterr().out.strip().splitlines()


def test_prints_a_line_per_image_with_class_names_from_the_run(saved, capsys):
    run, files, probs = saved
    args = ["predict", str(run), str(files / "d0.png"), str(files / "d1.png"), str(files / "rest.npy")]
    assert main(args) == 0
    lines = _lines(capsys)
    names = ("five", "six", "seven")
    sources = [
        str(files / "d0.png"),
        str(files / "d1.png"),
        f"{files / 'rest.npy'}[0]",
        f"{files / 'rest.npy'}[1]",
    ]
    assert lines == [f"{s}\t{names[p.argmax()]}\t{p.max():.4f}" for s, p in zip(sources, probs)]


def test_writes_csv_with_top_k(saved, tmp_path, capsys):
    run, files, probs = saved
    out = tmp_path / "out.csv"
    assert (
        main(
            [
                "predict",
                str(run / "model.keras"),
                str(files / "rest.npy"),
                "--output",
                str(out),
                "--top-k",
                "2",
            ]
        )
        == 0
    )
    assert _lines(capsys) == [f"wrote 2 predictions to {out}"]
    rows = list(csv.DictReader(out.open()))
    assert list(rows[0]) == ["source", "class", "probability", "class_2", "probability_2"]
    order = np.argsort(-probs[2:], axis=1)
    for row, p, o in zip(rows, probs[2:], order):
        assert row["class"] == ("five", "six", "seven")[o[0]]
        assert row["class_2"] == ("five", "six", "seven")[o[1]]
        assert float(row["probability"]) == pytest.approx(p[o[0]], abs=1e-5)
    assert [p.name for p in tmp_path.iterdir()] == ["out.csv"]  # written atomically, no temp left


def test_writes_json_from_a_saved_model_with_its_class_names(saved, tmp_path, capsys):
    from transferlab.serving import export_saved_model, load_trained_model

    run, files, probs = saved
    folder = export_saved_model(load_trained_model(run), tmp_path / "served", class_names=["x", "y", "z"])
    out = tmp_path / "out.json"
    assert main(["predict", str(folder), str(files / "d0.png"), "--output", str(out), "--top-k", "3"]) == 0
    (item,) = json.loads(out.read_text())
    assert item["source"] == str(files / "d0.png") and item["class"] == "xyz"[probs[0].argmax()]
    assert item["probability"] == pytest.approx(probs[0].max(), abs=1e-5)
    assert [t["class"] for t in item["top_k"]] == ["xyz"[i] for i in np.argsort(-probs[0])]


def test_model_file_without_class_names_uses_indices(saved, tmp_path, capsys):
    import shutil

    run, files, probs = saved
    shutil.copy(run / "model.keras", tmp_path / "m.keras")
    assert main(["predict", str(tmp_path / "m.keras"), str(files / "d0.png")]) == 0
    assert _lines(capsys) == [f"{files / 'd0.png'}\t{probs[0].argmax()}\t{probs[0].max():.4f}"]


def _one_line_error(capsys) -> str:
    """The error, as one line: the CLI lays a long message out on indented lines."""
    err = capsys.readouterr().err
    assert err.startswith("transferlab: error: ") and "Traceback" not in err
    assert all(line.startswith("  ") for line in err.splitlines()[1:])
    return err.rstrip("\n").replace("\n  ", " ") + "\n"


def test_bad_output_extension(saved, capsys):
    run, files, _ = saved
    assert main(["predict", str(run), str(files / "d0.png"), "--output", "out.txt"]) == 2
    assert (
        "`--output` must name a .csv or .json file. Received: --output out.txt. "
        "Accepted: out.csv, out.json." in _one_line_error(capsys)
    )


def test_bad_top_k(saved, capsys):
    run, files, _ = saved
    assert main(["predict", str(run), str(files / "d0.png"), "--top-k", "0"]) == 2
    assert "`--top-k` must be at least 1. Received: --top-k 0." in _one_line_error(capsys)
    assert main(["predict", str(run), str(files / "d0.png"), "--top-k", "4"]) == 2
    assert "`k` must be between 1 and the number of classes. Received: k=4" in _one_line_error(capsys)


def test_missing_image_and_missing_model(saved, tmp_path, capsys):
    run, files, _ = saved
    assert main(["predict", str(run), str(tmp_path / "nope.png")]) == 2
    assert f"Image file {tmp_path / 'nope.png'} does not exist" in _one_line_error(capsys)
    assert main(["predict", str(tmp_path), str(files / "d0.png")]) == 2
    assert "holds no model. Received: neither saved_model.pb nor model.keras" in _one_line_error(capsys)


def test_resizes_images_to_the_model_input(saved, tmp_path, capsys):
    run, _, _ = saved
    big = tmp_path / "big.png"
    big.write_bytes(tf.io.encode_png(np.full((56, 40, 3), 200, np.uint8)).numpy())
    assert main(["predict", str(run), str(big)]) == 0
    (line,) = _lines(capsys)
    assert line.startswith(f"{big}\t")


def test_an_undecodable_file_name_is_escaped_in_the_output(saved, tmp_path, capsys):
    import os

    run, files, probs = saved
    name = ("five", "six", "seven")[probs[0].argmax()]
    image = tmp_path / os.fsdecode(b"img\xff.png")  # not UTF-8: a surrogate escape in the str
    image.write_bytes((files / "d0.png").read_bytes())
    out = tmp_path / "p.csv"
    assert main(["predict", str(run), str(image), "--output", str(out)]) == 0
    (row,) = csv.DictReader(out.open(encoding="utf-8"))
    assert row["source"] == f"{tmp_path}/img\\xff.png"
    assert row["class"] == name
    capsys.readouterr()
    assert main(["predict", str(run), str(image)]) == 0
    assert _lines(capsys) == [f"{tmp_path}/img\\xff.png\t{name}\t{probs[0].max():.4f}"]
