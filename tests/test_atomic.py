"""Atomic writes: marked temporary files, none left after an error, leftovers of a kill cleaned."""

from __future__ import annotations

import errno
import os
import re
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
    storage_error,
)
from transferlab.errors import StorageError


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


@pytest.mark.parametrize(
    ("code", "problem", "fix"),
    [
        (errno.ENOSPC, "the disk is full", r"free space on the filesystem of .*MB free"),
        (errno.EACCES, "permission denied", r"make .* writable"),
        (errno.EROFS, "the filesystem is read-only", r"make .* writable"),
        (errno.ENOENT, "a folder on its path is missing", r"create .* \(or fix the path\)"),
        (errno.EIO, "the operating system refused", r"check that .* exists, is writable"),
    ],
)
def test_storage_errors_name_the_path_the_reason_and_the_fix(
    tmp_path: Path, code: int, problem: str, fix: str
) -> None:
    error = storage_error(tmp_path / "a.json", OSError(code, os.strerror(code)))
    assert isinstance(error, StorageError) and isinstance(error, OSError) and error.errno == code
    message = str(error)
    assert f"Cannot write {tmp_path / 'a.json'}: {problem}" in message
    assert f"{errno.errorcode[code]} ({os.strerror(code)})" in message
    assert re.search(r"Fix: " + fix, message, flags=re.S), message


def test_a_transferlab_error_passes_through_unchanged() -> None:
    original = StorageError("already explained")
    assert storage_error("x", original) is original


def test_a_missing_folder_that_cannot_be_created_is_a_storage_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("not a folder")
    with pytest.raises(StorageError, match=r"(?s)Cannot write .*file/sub/a\.json: .*Fix: "):
        atomic_write_text(tmp_path / "file" / "sub" / "a.json", "x")
    assert [p.name for p in tmp_path.iterdir()] == ["file"]


def test_an_oserror_inside_the_write_is_a_storage_error_and_nothing_is_left(tmp_path: Path) -> None:
    atomic_write_text(tmp_path / "m.h5", "old")
    with pytest.raises(StorageError, match=r"(?s)m\.h5: the disk is full"), atomic_path(tmp_path / "m.h5"):
        raise OSError(errno.ENOSPC, "No space left on device")
    assert [p.name for p in tmp_path.iterdir()] == ["m.h5"] and (tmp_path / "m.h5").read_text() == "old"
