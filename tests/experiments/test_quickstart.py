"""The quickstart: three runs, one shared pretraining, a table that says how transfer did."""

from __future__ import annotations

import re

import pytest

from transferlab.cli.main import main
from transferlab.experiments import quickstart_configs


def test_transfer_methods_share_the_source_and_scratch_starts_from_random():
    configs = quickstart_configs()
    assert set(configs) == {"feature_extraction", "fine_tune", "scratch"}
    assert configs["feature_extraction"].model == configs["fine_tune"].model
    assert configs["fine_tune"].model.pretrain_classes == (0, 1, 2, 3, 4)
    assert configs["scratch"].model.pretrain_classes == () and configs["scratch"].model.weights == ""
    for config in configs.values():
        assert config.data.classes == (5, 6, 7, 8, 9) and config.data.labels_per_class == 5


def test_imagenet_weights_replace_the_pretraining():
    configs = quickstart_configs(backbone="vgg16", weights="imagenet")
    assert configs["fine_tune"].model.pretrain_classes == ()
    assert configs["fine_tune"].model.weights == "imagenet"
    assert configs["scratch"].model.weights == ""


@pytest.mark.e2e
def test_quickstart_short_prints_the_table(mnist_dir, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("TRANSFERLAB_MNIST_DIR", str(mnist_dir))
    assert main(["quickstart", "--short", "--run-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    rows = re.findall(r"^\| (\w+) \| [^|]+ \| ([\d.]+)% \|", out, re.M)
    assert [method for method, _ in rows] == ["feature_extraction", "fine_tune", "scratch"]
    # Five classes: chance is 20 %. Every method must have learned something, even in this
    # CI-sized run (a quarter-width AlexNet pretrained for one epoch on 2,000 digits).
    assert all(float(accuracy) > 35 for _, accuracy in rows), rows
    assert f"Run folders are in {tmp_path}/" in out
    assert len([p for p in tmp_path.iterdir() if "-pretrain-" in p.name]) == 1
