"""Atomic writes: marked temporary files, none left after an error, leftovers of a kill cleaned."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from transferlab._atomic import (
    atomic_path,
    atomic_write_json,
    atomic_write_text,
    clean_partial_writes,
    is_partial_write,
)


def _killed_during_write(target: Path) -> None:
    """A process that dies (os._exit: no cleanup runs) in the middle of an atomic write."""
    code = textwrap.dedent(
        f"""
        import os
        from transferlab._atomic import atomic_path
        with atomic_path({str(target)!r}) as tmp:
            tmp.write_bytes(b"half a model")
            os._exit(3)
        """
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 3, result.stderr[-2000:]


def test_temporary_files_are_marked_and_replaced(tmp_path: Path) -> None:
    target = tmp_path / "model.keras"
    with atomic_path(target) as tmp:
        assert tmp.parent == tmp_path and tmp.name.startswith(".model.keras.partial-")
        assert tmp.name.endswith(".keras") and is_partial_write(tmp)
        tmp.write_bytes(b"model")
    assert [p.name for p in tmp_path.iterdir()] == ["model.keras"]
    assert target.read_bytes() == b"model"


def test_an_error_inside_the_write_leaves_the_old_file_and_no_temporary(tmp_path: Path) -> None:
    atomic_write_text(tmp_path / "a.json", "old")
    with pytest.raises(RuntimeError, match="boom"), atomic_path(tmp_path / "a.json") as tmp:
        tmp.write_text("new, half")
        raise RuntimeError("boom")
    assert [p.name for p in tmp_path.iterdir()] == ["a.json"]
    assert (tmp_path / "a.json").read_text() == "old"


def test_a_killed_write_leaves_a_partial_file_that_clean_removes(tmp_path: Path) -> None:
    run = tmp_path / "run"
    atomic_write_text(run / "model.keras", "the good model")
    _killed_during_write(run / "model.keras")
    _killed_during_write(run / "checkpoints" / "last.weights.h5")
    leftovers = sorted(p for p in run.rglob("*") if p.is_file() and is_partial_write(p))
    assert [p.relative_to(run).as_posix().split(".partial-")[0] for p in leftovers] == [
        ".model.keras",
        "checkpoints/.last.weights.h5",
    ]
    keep = [
        run / ".hidden",  # a user's file that merely starts with a dot
        run / ".model.keras.backup",
        run / ".model.keras.partial-abcd1234.h5",  # not model.keras' suffix
        run / ".model.keras.partial-abc.keras",  # not mkstemp's 8 characters
        run / "notes.partial-abcd1234.txt",  # not hidden
    ]
    for path in keep:
        path.write_text("mine")
    removed = clean_partial_writes(run)
    assert removed == leftovers
    assert (run / "model.keras").read_text() == "the good model"
    assert all(path.exists() for path in keep)
    assert clean_partial_writes(run) == []
    assert clean_partial_writes(tmp_path / "missing") == []


def test_clean_leaves_excluded_folders_alone(tmp_path: Path) -> None:
    mine = tmp_path / "backup" / "chief" / ".state.npz.partial-abcd1234.npz"
    theirs = tmp_path / "backup" / "worker1" / ".state.npz.partial-abcd1234.npz"
    for path in (mine, theirs):
        path.parent.mkdir(parents=True)
        path.write_bytes(b"x")
    assert clean_partial_writes(tmp_path, exclude=[tmp_path / "backup" / "worker1"]) == [mine]
    assert theirs.exists()


def test_json_is_strict(tmp_path: Path) -> None:
    import json

    import numpy as np

    path = atomic_write_json(
        tmp_path / "m.json",
        {"nan": float("nan"), "inf": [float("-inf")], "np": np.float32(0.5), "n": np.int64(2)},
    )
    assert json.loads(path.read_text(), parse_constant=lambda c: 1 / 0) == {
        "inf": [None],
        "n": 2,
        "nan": None,
        "np": 0.5,
    }
