"""The quickstart: three runs, one shared pretraining, a table that says how transfer did."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from transferlab.cli.main import main
from transferlab.config.recipes import FEW_SHOT
from transferlab.experiments import quickstart_configs

REPO = Path(__file__).resolve().parents[2]
FULL = os.environ.get("TRANSFERLAB_FULL") == "1"


def _quickstart(cwd: Path, mnist_dir: Path, *args: str) -> str:
    """`transferlab quickstart ARGS` in a fresh process in ``cwd``; its stdout."""
    cwd.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, TRANSFERLAB_MNIST_DIR=str(mnist_dir), PYTHONPATH=str(REPO))
    proc = subprocess.run(
        [sys.executable, "-m", "transferlab", "quickstart", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout


def _result(text: str) -> list[str]:
    """The table and the sentence under it: what the seed fixes (no times)."""
    return [
        line for line in text.splitlines() if line.startswith("|") or " beats training from scratch " in line
    ]


def test_transfer_methods_share_the_source_and_scratch_starts_from_random():
    configs = quickstart_configs()
    assert set(configs) == {"lp_ft", "fine_tune", "scratch"}
    assert configs["lp_ft"].model == configs["fine_tune"].model
    # the recommended recipe, as a config applying it would have it
    assert configs["lp_ft"].with_overrides(FEW_SHOT) == configs["lp_ft"]
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
    assert [method for method, _ in rows] == ["lp_ft", "fine_tune", "scratch"]
    # Five classes: chance is 20 %. Every method must have learned something, even in this
    # CI-sized run (a quarter-width AlexNet pretrained for one epoch on 2,000 digits).
    assert all(float(accuracy) > 35 for _, accuracy in rows), rows
    assert f"Run folders are in {tmp_path}/" in out
    assert len([p for p in tmp_path.iterdir() if "-pretrain-" in p.name]) == 1


@pytest.mark.e2e
def test_quickstart_prints_the_same_table_in_two_fresh_processes(mnist_dir, tmp_path):
    """Deterministic by default: the same seed, the same table (short form; the full one with TRANSFERLAB_FULL=1)."""
    args = () if FULL else ("--short",)
    first = _quickstart(tmp_path / "a", mnist_dir, *args)
    second = _quickstart(tmp_path / "b", mnist_dir, *args)
    assert len(_result(first)) == 6, first
    assert _result(first) == _result(second)
    # a line per method, and a line per epoch
    assert re.findall(r"^\[\d/3 (\w+)\] test accuracy", first, re.M) == [
        "lp_ft",
        "fine_tune",
        "scratch",
    ]
    assert len(re.findall(r"^epoch \d+/\d+", first, re.M | re.I)) >= 3 * (20 if args else 40)


@pytest.mark.e2e
def test_the_readme_shows_what_its_command_prints(mnist_dir, tmp_path):
    """The full quickstart, as the README runs it (about 2 minutes on a quiet 2-core machine)."""
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert "pip install . && transferlab quickstart\n" in readme
    printed = _quickstart(tmp_path, mnist_dir)  # the README's command, run folders in runs/
    assert _result(printed) == _result(readme)
