"""Faults: SIGKILLs at random points of a multi-phase Trainer run; a download cut halfway.

The run is tests/training/trainer_worker.py's (a tiny 2-phase FineTune with warm-up,
``deterministic=True``, 4 epochs of 6 steps, a backup every 4 steps), started through
run_tiny_trainer.py, one thread per process.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

HERE = Path(__file__).resolve().parent


def _load(name: str, path: Path) -> ModuleType:
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


runner = _load("transferlab_tests_reliability_run", HERE / "_subprocess_run.py")
import http_mirror  # noqa: E402  (tests/helpers, on sys.path through the root conftest)

# Three kill points, each counted in steps of the start it ends (seeded, so reruns agree).
KILLS = [int(k) for k in np.random.default_rng(20240607).integers(2, 10, size=3)]


def test_three_sigkills_then_the_same_command_is_bit_identical(tmp_path: Path) -> None:
    ref, run = tmp_path / "ref", tmp_path / "run"
    ref.mkdir(), run.mkdir()
    assert runner.run_tiny_trainer(ref) == 0
    command = ("--kill-after", ",".join(map(str, KILLS)))
    for _ in KILLS:
        assert runner.run_tiny_trainer(run, *command) == -9  # killed by SIGKILL
        assert not (run / "final.npz").exists()
    assert runner.run_tiny_trainer(run, *command) == 0  # the same command, once more
    assert (run / "starts.txt").read_text() == str(len(KILLS) + 1)
    # The last start resumed from a backup instead of starting over.
    assert int((run / "steps_trained.txt").read_text()) < int((ref / "steps_trained.txt").read_text())
    resumed, reference = runner.final_weights(run), runner.final_weights(ref)
    assert len(resumed) == len(reference) > 0
    for a, b in zip(resumed, reference):
        assert np.array_equal(a, b)
    rows = json.loads((run / "r" / "metrics.json").read_text())
    assert [(r["epoch"], r["phase"]) for r in rows] == [
        (1, "warmup"),
        (2, "warmup"),
        (3, "finetune"),
        (4, "finetune"),
    ]
    leftovers = [p.name for p in (run / "r").rglob("*") if ".partial-" in p.name or p.name.endswith(".tmp")]
    assert leftovers == []


BODY = bytes(range(256)) * 256  # 64 KiB
DIGEST = hashlib.sha256(BODY).hexdigest()


def _fetch(cache: Path, mirrors: list[str]) -> Path:
    from transferlab.data import fetch_file

    return fetch_file(
        "f.bin", sha256=DIGEST, mirrors=mirrors, cache_dir=cache, retries=0, progress=False, timeout=1.0
    )


@pytest.mark.parametrize("fault", ["drop", "stall", "corrupt", "error"])
def test_a_failed_download_caches_nothing_and_the_next_mirror_is_used(tmp_path: Path, fault: str) -> None:
    with (
        http_mirror.HttpMirror({"f.bin": BODY}, mode=fault) as bad,
        http_mirror.HttpMirror({"f.bin": BODY}) as good,
    ):
        path = _fetch(tmp_path, [bad.url, good.url])
    assert bad.requests == ["/f.bin"] and good.requests == ["/f.bin"]
    assert path.read_bytes() == BODY
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.bin"]  # no partial file beside it


def test_a_download_cut_on_every_mirror_leaves_the_cache_empty(tmp_path: Path) -> None:
    from transferlab.errors import DownloadError

    with (
        http_mirror.HttpMirror({"f.bin": BODY}, mode="drop") as first,
        http_mirror.HttpMirror({"f.bin": BODY}, mode="drop") as second,
        pytest.raises(
            DownloadError,
            match=r"Could not download f\.bin from any of the 2 mirrors"
            r".*connection closed after 32768 of 65536 bytes",
        ),
    ):
        _fetch(tmp_path, [first.url, second.url])
    assert list(tmp_path.iterdir()) == []
