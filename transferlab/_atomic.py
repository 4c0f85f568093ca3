"""Atomic file writes: a reader sees the old file or the new one, never half of one.

Everything transferlab writes (configs, metrics, checkpoints, models, plots, caches)
goes through here: a temporary file in the same folder, then ``os.replace``, and the
temporary file removed if anything fails.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

__all__ = ["atomic_path", "atomic_write_bytes", "atomic_write_json", "atomic_write_text"]


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yields a temporary path to write to; on success it replaces ``path``.

    The temporary file is in the same folder (so the rename is atomic) and keeps
    ``path``'s suffixes (Keras wants ``.keras`` / ``.weights.h5`` names).

    Example:
        >>> import tempfile, pathlib
        >>> target = pathlib.Path(tempfile.mkdtemp()) / "a.weights.h5"
        >>> with atomic_path(target) as tmp:
        ...     _ = tmp.write_bytes(b"data")
        ...     tmp.name.endswith(".weights.h5") and tmp.parent == target.parent
        True
        >>> target.read_bytes(), [p.name for p in target.parent.iterdir()]
        (b'data', ['a.weights.h5'])
        >>> oct(target.stat().st_mode & 0o777) == oct(0o666 & ~_umask())
        True
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    name = target.name
    suffix = name[name.index(".", 1) :] if "." in name[1:] else ".tmp"
    fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=suffix, dir=target.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        # mkstemp creates 0600 files; give the result the mode any new file would get.
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _umask() -> int:
    """The process umask: from /proc on Linux, else by setting it and putting it back."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    """Writes ``data`` to ``path`` atomically, flushed to disk before the rename.

    Example:
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "a.txt"
        >>> atomic_write_bytes(p, b"hi").read_bytes()
        b'hi'
    """
    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    return Path(path)


def atomic_write_text(path: str | os.PathLike[str], text: str) -> Path:
    """Writes UTF-8 ``text`` atomically (see :func:`atomic_write_bytes`)."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | os.PathLike[str], obj: Any) -> Path:
    """Writes ``obj`` as indented JSON atomically; values JSON cannot hold become strings."""
    return atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")
