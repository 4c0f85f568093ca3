"""Storage faults: a full disk or a read-only folder at every write site is one StorageError.

Each row of the table makes the write of one file of a tiny Trainer run fail with ENOSPC
(the rename that publishes it raises, as a full disk would); the run must stop with a
:class:`~transferlab.errors.StorageError` naming that file and the fix, and leave no
temporary file and no half-written file behind: every file there is either absent or
complete. Real filesystems are used too where the machine allows it: a 1 MB tmpfs (a real
full disk under h5py and zipfile) and a read-only bind mount (root ignores permissions).
"""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

import transferlab._atomic as atomic
from transferlab.errors import StorageError

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "training"))

#: Write site -> what matches the file's name. Each is one kind of fault.
SITES = {
    "identity.json": lambda p: p.name == "identity.json",
    "config.json": lambda p: p.name == "config.json",
    "environment.json": lambda p: p.name == "environment.json",
    "decisions.json": lambda p: p.name == "decisions.json",
    "metrics.csv": lambda p: p.name == "metrics.csv",
    "metrics.json": lambda p: p.name == "metrics.json",
    "checkpoint-last": lambda p: p.name == "last.weights.h5",
    "checkpoint-best": lambda p: p.name == "best.weights.h5",
    "model.keras": lambda p: p.name == "model.keras",
    "summary.md": lambda p: p.name == "summary.md",
    "backup": lambda p: p.name == "state.npz",
    "feature-cache": lambda p: p.suffix == ".npy" and p.parent.parent.name == "feature_cache",
}


def _full_disk_at(site: Callable[[Path], bool]) -> Callable[[str, str | os.PathLike[str]], None]:
    real = os.replace

    def replace(src: str, dst: str | os.PathLike[str]) -> None:
        if site(Path(dst)):
            raise OSError(errno.ENOSPC, "No space left on device")
        real(src, dst)

    return replace


def _train(run_dir: Path, **options: object) -> object:
    import resume_tiny

    from transferlab.strategies import FeatureExtraction, FineTune
    from transferlab.training.trainer import Trainer

    strategy = FineTune(epochs=1, top=1, warmup_epochs=0, learning_rate=1e-2) + FeatureExtraction(
        1, learning_rate=1e-2
    )
    trainer = Trainer(
        resume_tiny.build,
        strategy=strategy,
        verbose=0,
        run_dir=str(run_dir),
        run_name="r",
        batch_size=8,
        backup_every=2,
        **options,  # type: ignore[arg-type]
    )
    return trainer.fit(resume_tiny.data(16), resume_tiny.data(8, seed=1))


def _no_partial_or_broken_files(root: Path) -> None:
    for path in root.rglob("*"):
        assert ".partial-" not in path.name, f"temporary file left: {path}"
        if path.suffix == ".json" and path.is_file():
            json.loads(path.read_text())  # complete, strict JSON
        if path.name.endswith(".h5") or path.suffix == ".keras":
            assert path.stat().st_size > 0


@pytest.mark.parametrize("site", list(SITES), ids=list(SITES))
def test_a_full_disk_at_each_write_site_is_one_storage_error(
    site: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(atomic, "_replace", _full_disk_at(SITES[site]))
    options = {"feature_cache": "disk"} if site == "feature-cache" else {}
    with pytest.raises(StorageError) as info:
        _train(tmp_path / "runs", **options)
    message = str(info.value)
    assert info.value.errno == errno.ENOSPC and isinstance(info.value, OSError)
    assert "Cannot write " in message and "the disk is full" in message
    assert "Fix: free space on the filesystem of" in message
    assert "Traceback" not in message
    target = message.split("Cannot write ", 1)[1].split(": the disk is full", 1)[0]
    assert SITES[site](Path(target)), f"{site}: the message names {target}"
    _no_partial_or_broken_files(tmp_path)


def test_a_failing_write_keeps_the_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "config.json"
    atomic.atomic_write_json(target, {"old": True})
    monkeypatch.setattr(atomic, "_replace", _full_disk_at(lambda p: True))
    with pytest.raises(StorageError, match=r"(?s)Cannot write .*config\.json: the disk is full"):
        atomic.atomic_write_json(target, {"new": True})
    assert json.loads(target.read_text()) == {"old": True}
    assert [p.name for p in tmp_path.iterdir()] == ["config.json"]


def test_the_cli_prints_a_full_disk_as_one_error_and_exits_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from transferlab.cli.main import main

    monkeypatch.setattr(atomic, "_replace", _full_disk_at(lambda p: p.suffix == ".csv"))
    arrays = tmp_path / "x.npy"
    np.save(arrays, np.zeros((1, 28, 28), np.uint8))
    from transferlab.backbones import build_classifier

    build_classifier("alexnet", 3, input_shape=(28, 28, 1), width=0.125).save(tmp_path / "m.keras")
    code = main(["predict", str(tmp_path / "m.keras"), str(arrays), "--output", str(tmp_path / "p.csv")])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("transferlab: error: Cannot write ") and err.count("error:") == 1, err
    assert "p.csv: the disk is full" in err and "Traceback" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.keras", "x.npy"]


# Real filesystems -----------------------------------------------------------------------------
def _mount(*args: str) -> bool:
    if os.geteuid() != 0:
        return False
    return subprocess.run(["mount", *args], capture_output=True).returncode == 0


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 1 MB tmpfs (a real full disk); skipped where mounting is not permitted."""
    folder = tmp_path / "small"
    folder.mkdir()
    if not _mount("-t", "tmpfs", "-o", "size=1M", "tmpfs", str(folder)):
        pytest.skip("cannot mount a tmpfs here (needs root and mount permission)")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


@pytest.fixture
def read_only(tmp_path: Path) -> Iterator[Path]:
    """A read-only bind mount of an empty folder (root is refused too)."""
    folder = tmp_path / "ro"
    folder.mkdir()
    if not _mount("--bind", str(folder), str(folder)):
        pytest.skip("cannot bind-mount here (needs root and mount permission)")
    try:
        if not _mount("-o", "remount,ro,bind", str(folder)):
            pytest.skip("cannot remount read-only here")
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def test_a_real_full_disk_under_h5py_and_zip(small_disk: Path) -> None:
    import keras

    from transferlab.training.run_record import save_model, save_weights

    model = keras.Sequential([keras.Input((100,)), keras.layers.Dense(2000)])  # 0.8 MB of weights
    (small_disk / "last.weights.h5").write_bytes(b"old")
    with pytest.raises(StorageError, match=r"(?s)last\.weights\.h5: the disk is full.*MB are free"):
        save_weights(model, small_disk / "last.weights.h5")
    with pytest.raises(StorageError, match=r"(?s)model\.keras: the disk is full"):
        save_model(model, small_disk / "model.keras")
    assert sorted(p.name for p in small_disk.iterdir()) == ["last.weights.h5"]
    assert (small_disk / "last.weights.h5").read_bytes() == b"old"


def test_a_real_full_disk_past_the_estimate(small_disk: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The free-space check bypassed (another process filled the disk): h5py's failure is caught."""
    import keras

    from transferlab.training import run_record

    monkeypatch.setattr(run_record, "_check_space", lambda path, needed: None)
    model = keras.Sequential([keras.Input((100,)), keras.layers.Dense(3000)])
    with pytest.raises(StorageError, match=r"(?s)model\.keras: the disk is full.*No space left on device"):
        run_record.save_model(model, small_disk / "model.keras")
    assert list(small_disk.iterdir()) == []


def test_a_real_full_disk_during_a_run(small_disk: Path) -> None:
    with pytest.raises(StorageError, match=r"(?s)Cannot write .*: the disk is full.*Fix: free space"):
        _train(small_disk / "runs", feature_cache="off")
    _no_partial_or_broken_files(small_disk)


def test_a_read_only_runs_folder_is_refused_before_anything(read_only: Path) -> None:
    with pytest.raises(
        StorageError,
        match=r"(?s)Cannot write .*ro/.locks: the filesystem is read-only.*Fix: make .*ro writable",
    ):
        _train(read_only)
    assert list(read_only.iterdir()) == []


def test_a_read_only_run_folder_is_refused_at_claim(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A run folder that refuses new files (simulated: root ignores permissions)."""
    from transferlab.training.identity import RunIdentity
    from transferlab.training.run_folder import RunFolder

    identity = RunIdentity.from_components({"seed": 0})
    with RunFolder(tmp_path, "r") as run:
        run.claim(identity)
    before = sorted(p.name for p in (tmp_path / "r").iterdir())

    def refuse(*args: object, **kwargs: object) -> tuple[int, str]:
        raise PermissionError(errno.EACCES, "Permission denied", str(tmp_path / "r"))

    monkeypatch.setattr("transferlab.training.run_folder.tempfile.mkstemp", refuse)
    with (
        RunFolder(tmp_path, "r") as run,
        pytest.raises(StorageError, match=r"(?s)Cannot write .*/r: permission denied.*Fix: make .* writable"),
    ):
        run.claim(identity)
    assert sorted(p.name for p in (tmp_path / "r").iterdir()) == before
