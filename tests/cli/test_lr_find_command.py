"""`transferlab lr-find`: a sweep on the run a config describes."""

from __future__ import annotations

import re

from transferlab.cli.main import main


def test_lr_find_sweeps_suggests_and_plots(mnist_dir, tmp_path, capsys):
    plot = tmp_path / "lr.png"
    code = main(
        [
            "lr-find",
            "--path",
            str(mnist_dir),
            "--classes",
            "5",
            "6",
            "7",
            "--max-train",
            "200",
            "--width",
            "0.125",
            "--strategy",
            "feature_extraction",
            "--steps",
            "12",
            "--min-lr",
            "1e-5",
            "--max-lr",
            "1",
            "--plot",
            str(plot),
        ]
    )
    assert code == 0
    out = capsys.readouterr().out
    assert "swept 12 rates from 1.00e-05 to 1.00e+00" in out
    rate = float(re.search(r"suggested learning rate: (\S+)", out).group(1))
    assert 1e-5 <= rate <= 1
    assert plot.read_bytes()[:4] == b"\x89PNG"


def test_lr_find_rejects_a_bad_config_in_one_line(tmp_path, capsys):
    bad = tmp_path / "bad.toml"
    bad.write_text("[strategy]\nkind = 'finetune'\n")
    assert main(["lr-find", "--config", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Bad value for config key `strategy.kind`" in err
