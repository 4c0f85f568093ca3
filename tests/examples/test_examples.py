"""The examples run: each script with ``--short``, the TOML configs through the CLI, the notebook.

Each script runs in its own process (as a user runs it), on the real MNIST files of the
``mnist_dir`` fixture; the assertions check the lines that carry each example's point.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def run_example(
    script: str, mnist_dir: Path, tmp_path: Path, *, timeout: float = 240, extra: list[str] | None = None
) -> str:
    """Runs ``examples/<script> [extra] --short --run-dir tmp_path``; returns its output (exit 0 asserted)."""
    env = dict(os.environ, TRANSFERLAB_MNIST_DIR=str(mnist_dir), TF_CPP_MIN_LOG_LEVEL="3")
    process = subprocess.run(
        [sys.executable, str(EXAMPLES / script), *(extra or []), "--short", "--run-dir", str(tmp_path)],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    output = process.stdout + process.stderr
    assert process.returncode == 0, output[-4000:]
    return process.stdout


def accuracy(pattern: str, output: str) -> float:
    """The accuracy printed on the line matching ``pattern`` (a number in [0, 1])."""
    match = re.search(pattern + r"\S*: ([01]\.\d{4})$", output, re.MULTILINE)
    assert match, f"no line matching {pattern!r} in:\n{output}"
    return float(match.group(1))


def test_alexnet_feature_extractor(mnist_dir: Path, tmp_path: Path) -> None:
    out = run_example("alexnet_feature_extractor.py", mnist_dir, tmp_path)
    assert "backbone weights unchanged by feature extraction: True" in out
    assert "feature cache: {'feature_extraction': 'on'}" in out
    assert 0 <= accuracy(r"transfer test accuracy \(digits 5-9, 200 images", out) <= 1
    assert (tmp_path / "alexnet-digits-0-4.weights.h5").is_file()
    assert (tmp_path / "transfer-digits-5-9" / "model.keras").is_file()


@pytest.mark.e2e
def test_vgg16_finetune_mnist32(mnist_dir: Path, tmp_path: Path) -> None:
    out = run_example("vgg16_finetune_mnist32.py", mnist_dir, tmp_path)
    assert "input adapter: (28, 28, 1) raw pixels -> (32, 32) x 3 channels, 'caffe'" in out
    assert "phase warmup: trains the head only at 0.001" in out
    assert "phase finetune: trains ['block4', 'block5'] at 0.0001" in out
    assert 0 <= accuracy(r"VGG16 test accuracy \(200 images, weights=none", out) <= 1


@pytest.mark.e2e
def test_few_shot_transfer_script(mnist_dir: Path, tmp_path: Path) -> None:
    out = run_example("few_shot_transfer.py", mnist_dir, tmp_path)
    assert re.search(r"^few_shot_transfer: test accuracy [01]\.\d{4} on 4861 test images", out, re.M)
    assert re.search(r"^scratch_baseline: test accuracy [01]\.\d{4} on 4861 test images", out, re.M)
    assert re.search(r"^transfer [01]\.\d{4} vs scratch [01]\.\d{4} \([+-]\d\.\d{4}\)", out, re.M)


def test_toml_configs_run_through_the_cli(
    mnist_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from transferlab.cli.main import main
    from transferlab.config import RunConfig
    from transferlab.config.recipes import FEW_SHOT

    transfer = RunConfig.load(EXAMPLES / "few_shot_transfer.toml")
    scratch = RunConfig.load(EXAMPLES / "scratch_baseline.toml")
    assert (transfer.data.labels_per_class, transfer.model.pretrain_classes) == (10, (0, 1, 2, 3, 4))
    # the example is the recommended recipe, key for key
    assert transfer.with_overrides(FEW_SHOT) == transfer
    assert (scratch.strategy.kind, scratch.data.classes, scratch.model.pretrain_classes) == (
        "scratch",
        (5, 6, 7, 8, 9),
        (),
    )
    # Equal budgets: scratch trains warmup_epochs + epochs, as many as LP-FT fine-tunes (its probe
    # is fitted in closed form), on the same labels in the same batches.
    assert scratch.strategy.warmup_epochs + scratch.strategy.epochs == transfer.strategy.epochs
    assert scratch.training.batch_size == transfer.training.batch_size

    monkeypatch.setenv("TRANSFERLAB_MNIST_DIR", str(mnist_dir))
    short = [
        "--max-train",
        "300",
        "--width",
        "0.25",
        "--pretrain-epochs",
        "1",
        "--warmup-epochs",
        "1",
        "--epochs",
        "1",
        "--distribution",
        "one_device",
        "--run-dir",
        str(tmp_path),
        "--quiet",
    ]
    assert main(["train", "--config", str(EXAMPLES / "few_shot_transfer.toml"), *short]) == 0
    out = capsys.readouterr().out
    assert re.search(r"^test accuracy [01]\.\d{4}; trained in", out, re.M), out
    (run,) = [p for p in tmp_path.iterdir() if "-lpft-" in p.name]
    assert (run / "evaluation.json").is_file()
    saved = RunConfig.load(run / "config.toml")
    assert saved.data.max_train == 300 and saved.model.pretrain_classes == (0, 1, 2, 3, 4)


@pytest.mark.e2e
@pytest.mark.multiworker
def test_two_workers(mnist_dir: Path, tmp_path: Path) -> None:
    out = run_example("two_workers.py", mnist_dir, tmp_path, timeout=300)
    assert "[worker 0] chief: 2 replicas in sync, 1 epoch(s)" in out
    assert 0 <= accuracy(r"\[worker 0\] two-worker test accuracy \(100 images", out) <= 1
    assert "both workers finished: exit codes (0, 0)" in out
    assert (tmp_path / "two-workers" / "model.keras").is_file()


@pytest.mark.e2e
def test_resume_after_kill(mnist_dir: Path, tmp_path: Path) -> None:
    out = run_example("resume_after_kill.py", mnist_dir, tmp_path, timeout=300)
    assert "run 1: killed with SIGKILL mid-run (exit code -9)" in out
    assert re.search(
        r"^run 2 \(same command, restarted\): resumed from phase \d+, epoch \d+, step \d+;", out, re.M
    ), out
    assert re.search(r"^run 3 \(uninterrupted\): resumed from no;", out, re.M), out
    sums = re.findall(r"final weights sha256 ([0-9a-f]{64})$", out, re.M)
    assert len(sums) == 2 and sums[0] == sums[1]
    assert "resumed run equals the uninterrupted run bit for bit: True" in out


def _python3_kernel() -> str:
    """The ``python3`` kernel name, registering this interpreter's kernel if none is found."""
    from jupyter_client.kernelspec import KernelSpecManager

    if "python3" not in KernelSpecManager().find_kernel_specs():
        subprocess.run(
            [sys.executable, "-m", "ipykernel", "install", "--sys-prefix", "--name", "python3"],
            check=True,
            capture_output=True,
        )
    return "python3"


@pytest.mark.e2e
def test_notebook_runs_headless(mnist_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    path = EXAMPLES / "few_shot_transfer.ipynb"
    notebook = nbformat.read(path, as_version=4)
    nbformat.validate(notebook)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    # Stored with its outputs (it reads on a code host); cleared here so the run below is checked.
    assert any(cell.outputs for cell in code), "store the notebook with its outputs"
    for cell in code:
        cell.outputs = []
        cell.execution_count = None

    # The kernel inherits this environment: short mode, the MNIST files, one device.
    monkeypatch.setenv("TRANSFERLAB_EXAMPLES_SHORT", "1")
    monkeypatch.setenv("TRANSFERLAB_MNIST_DIR", str(mnist_dir))
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "3")
    client = nbclient.NotebookClient(
        notebook, timeout=300, kernel_name=_python3_kernel(), resources={"metadata": {"path": str(EXAMPLES)}}
    )
    client.execute()

    texts = [out.get("text", "") for cell in code for out in cell.outputs if out.output_type == "stream"]
    assert any(re.search(r"transfer  test accuracy [01]\.\d{4}", t) for t in texts), texts
    assert any(re.search(r"scratch   test accuracy [01]\.\d{4}", t) for t in texts), texts
    images = [out for cell in code for out in cell.outputs if "image/png" in out.get("data", {})]
    assert len(images) == 4  # two training-curve plots, the confusion matrix, the top losses


@pytest.mark.e2e
def test_reproduce_results_short_writes_its_table(mnist_dir: Path, tmp_path: Path) -> None:
    # The script behind docs/results.md, on a CI-sized run: it checks the script, not the numbers.
    out = run_example("reproduce_results.py", mnist_dir, tmp_path, extra=["precision"])
    assert "| precision | test accuracy | training img/s | speed vs float32 |" in out
    assert re.search(r"\| bfloat16 \| [\d.]+ % \| \d+ \| [\d.]+x \|", out)
    table = (tmp_path / "results" / "precision.md").read_text()
    assert "| float32 |" in table and (tmp_path / "results" / "precision.json").is_file()


@pytest.mark.e2e
def test_reproduce_results_few_shot_short_compares_every_method(mnist_dir: Path, tmp_path: Path) -> None:
    # The few-shot table behind docs/results.md, CI-sized (k = 1 and 2, one seed, a tiny network).
    out = run_example("reproduce_results.py", mnist_dir, tmp_path, extra=["few-shot"], timeout=1200)
    raw = json.loads((tmp_path / "results" / "few-shot.json").read_text())
    assert len(raw["accuracy"]) == 11 and all(len(raw["accuracy"][m]["1"]) == 1 for m in raw["accuracy"])
    # auto: no cross-validation with one label per class (the first candidate); two with two
    assert raw["auto_chose"]["1"] == ["lp_ft"] and len(raw["auto_chose"]["2"]) == 1
    assert "| recommended's error / scratch's error |" in out


@pytest.mark.e2e
def test_reproduce_results_few_shot_on_another_target_and_methods(mnist_dir: Path, tmp_path: Path) -> None:
    # --target: every class of another IDX folder (here 3 classes of noise patterns);
    # --methods: a subset of the methods, by id.
    import numpy as np

    from transferlab.data.idx import write_idx

    rng = np.random.default_rng(0)
    target = tmp_path / "target"
    for split, n in (("train", 8), ("t10k", 5)):
        labels = np.repeat(np.arange(3, dtype=np.uint8), n)
        images = (rng.random((3 * n, 28, 28)) * 60 + 80 * labels[:, None, None]).astype(np.uint8)
        write_idx(target / f"{split}-images-idx3-ubyte", images)
        write_idx(target / f"{split}-labels-idx1-ubyte", labels)
    out = run_example(
        "reproduce_results.py", mnist_dir, tmp_path,
        extra=["few-shot", "--target", str(target), "--methods", "probe,scratch"], timeout=600,
    )  # fmt: skip
    raw = json.loads((tmp_path / "results" / "few-shot.json").read_text())
    assert sorted(raw["accuracy"]) == [
        "linear probe (L-BFGS, L2 by cross-validation)",
        "scratch (same labels, random weights, 40 epochs)",
    ]
    assert f"on all 15 test images of every class of {target}" in out
    assert "error / scratch's error" not in out  # the recommended recipe was not run
    # one seed: the mean alone, no standard deviation
    assert re.search(
        r"^\| linear probe \(L-BFGS, L2 by cross-validation\) \| \d+\.\d \| \d+\.\d \|$", out, re.M
    )
    assert (
        f"(`python examples/reproduce_results.py few-shot --target {target} --methods probe,scratch --short"
        in out
    )
    process = subprocess.run(
        [sys.executable, str(EXAMPLES / "reproduce_results.py"), "few-shot", "--methods", "probe,nope"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert process.returncode != 0
    assert "--methods: unknown id(s) nope; accepted: fe, fe-cosine, prototypes, probe," in process.stderr
