"""Atomic file writes: a reader sees the old file or the new one, never half of one.

Everything transferlab writes (configs, metrics, checkpoints, models, plots, caches)
goes through here: a temporary file in the same folder, then ``os.replace``, and the
temporary file removed if anything fails. A process killed in the middle of a write
cannot remove its temporary file; such leftovers carry a marker in their name
(``.<name>.partial-XXXXXXXX<suffix>``) so :func:`clean_partial_writes` can find them,
and nothing else, later.
"""

from __future__ import annotations

import contextlib
import errno
import json
import math
import os
import re
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

from transferlab.errors import StorageError, TransferlabError, describe

__all__ = [
    "atomic_path",
    "atomic_write_bytes",
    "atomic_write_json",
    "atomic_write_text",
    "clean_partial_writes",
    "is_partial_write",
    "storage_error",
]

#: The rename that publishes a write (tests replace it to simulate a failing disk at a write site).
_replace = os.replace

_FULL = (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC), errno.EFBIG)
_DENIED = (errno.EACCES, errno.EPERM, errno.EROFS)
_MISSING = (errno.ENOENT, errno.ENOTDIR)


def _free_text(folder: Path) -> str:
    """``"1.2 MB free"`` on ``folder``'s filesystem (of its nearest existing parent)."""
    for candidate in (folder, *folder.parents):
        try:
            return f"{shutil.disk_usage(candidate).free / 1e6:.1f} MB free"
        except OSError:
            continue
    return "free space unknown"


def storage_error(path: str | os.PathLike[str], error: OSError, *, action: str = "write") -> StorageError:
    """The :class:`~transferlab.errors.StorageError` for an ``OSError`` met writing ``path``.

    The message names the path, the operating system's reason and the fix for
    that reason (free space, permissions, a missing folder). A transferlab
    error that already is an ``OSError`` is returned as it is.

    Args:
        path: The file or folder that could not be written.
        error: The ``OSError`` the write raised.
        action: What was done to ``path`` (``"write"``, ``"create"``, ``"lock"`` ...).

    Example:
        >>> import errno
        >>> err = storage_error("/runs/r/config.json", OSError(errno.ENOSPC, "No space left on device"))
        >>> isinstance(err, OSError), err.errno == errno.ENOSPC
        (True, True)
        >>> print(str(err).split(". Fix")[0])
        Cannot write /runs/r/config.json: the disk is full. Received: ENOSPC (No space left on device)
        >>> print(storage_error("/ro/x", PermissionError(errno.EACCES, "Permission denied")))
        ... # doctest: +ELLIPSIS
        Cannot write /ro/x: permission denied. Received: EACCES (Permission denied). Fix: make /ro writable ...
    """
    if isinstance(error, TransferlabError):
        return error  # type: ignore[return-value]  # a transferlab OSError: already explained
    target = Path(path)
    folder = target.parent
    code = error.errno
    name = errno.errorcode.get(code, "error") if code is not None else type(error).__name__
    reason = error.strerror or str(error) or type(error).__name__
    if len(reason) > 200 or "\n" in reason:  # h5py's reason is a paragraph: the OS's words suffice
        reason = os.strerror(code) if code is not None else " ".join(reason.split())[:200]
    if code in _FULL:
        problem = "the disk is full"
        fix = (
            f"free space on the filesystem of {folder} ({_free_text(folder)}), or write elsewhere "
            "(e.g. training.run_dir / --run-dir on another disk); nothing half-written was kept"
        )
    elif code in _DENIED:
        problem = "permission denied" if code != errno.EROFS else "the filesystem is read-only"
        fix = (
            f"make {folder} writable (e.g. `chmod u+w {folder}`), or choose another folder "
            "(e.g. training.run_dir / --run-dir)"
        )
    elif code in _MISSING:
        problem = "a folder on its path is missing or is a file"
        fix = f"create {folder} (or fix the path), or choose another folder"
    else:
        problem = "the operating system refused"
        fix = f"check that {folder} exists, is writable and has free space ({_free_text(folder)})"
    result = StorageError(
        describe(f"Cannot {action} {target}: {problem}", received=f"{name} ({reason})", fix=fix)
    )
    result.errno = code  # OSError's attribute, for `err.errno == errno.ENOSPC`
    return result


_MARKER = ".partial-"
# mkstemp's random part: 8 characters of this alphabet (CPython's tempfile._RandomNameSequence).
_PARTIAL = re.compile(r"\.(?P<name>.+)\.partial-[a-z0-9_]{8}(?P<suffix>.*)")


def _suffix(name: str) -> str:
    """The suffixes a temporary file of ``name`` keeps: ``.weights.h5`` of ``a.weights.h5``."""
    return name[name.index(".", 1) :] if "." in name[1:] else ".tmp"


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yields a temporary path to write to; on success it replaces ``path``.

    The temporary file is in the same folder (so the rename is atomic), keeps
    ``path``'s suffixes (Keras wants ``.keras`` / ``.weights.h5`` names) and is
    named ``.<name>.partial-XXXXXXXX<suffix>``: a leftover of a killed process
    is recognised by :func:`clean_partial_writes`.

    Any ``OSError`` of the write (a full disk, a read-only or missing folder,
    raised by the ``with`` body or by the rename) becomes one
    :class:`~transferlab.errors.StorageError` naming ``path`` and the fix; the
    temporary file is removed and ``path`` keeps its old content.

    Example:
        >>> import tempfile, pathlib
        >>> target = pathlib.Path(tempfile.mkdtemp()) / "a.weights.h5"
        >>> with atomic_path(target) as tmp:
        ...     _ = tmp.write_bytes(b"data")
        ...     tmp.name.endswith(".weights.h5") and tmp.parent == target.parent
        True
        >>> tmp.name.startswith(".a.weights.h5.partial-"), is_partial_write(tmp)
        (True, True)
        >>> target.read_bytes(), [p.name for p in target.parent.iterdir()]
        (b'data', ['a.weights.h5'])
        >>> oct(target.stat().st_mode & 0o777) == oct(0o666 & ~_umask())
        True
    """
    target = Path(path)
    name = target.name
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{name}{_MARKER}", suffix=_suffix(name), dir=target.parent)
        os.close(fd)
    except OSError as error:
        raise storage_error(target, error) from None
    try:
        yield Path(tmp)
        # mkstemp creates 0600 files; give the result the mode any new file would get.
        os.chmod(tmp, 0o666 & ~_umask())
        _replace(tmp, target)
    except TransferlabError:
        raise
    except OSError as error:
        raise storage_error(target, error) from error
    finally:
        with contextlib.suppress(OSError):
            if os.path.exists(tmp):
                os.unlink(tmp)


def is_partial_write(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is named like a temporary file of :func:`atomic_path`.

    Only the name is looked at: ``.<name>.partial-`` + 8 random characters +
    the suffixes of ``<name>``.

    Example:
        >>> is_partial_write("runs/r/.model.keras.partial-k2j4x_9a.keras")
        True
        >>> is_partial_write("runs/r/.model.keras.partial-k2j4x_9a.h5")  # not model.keras' suffix
        False
        >>> is_partial_write(".bashrc"), is_partial_write("model.keras")
        (False, False)
    """
    match = _PARTIAL.fullmatch(Path(path).name)
    return match is not None and match["suffix"] == _suffix(match["name"])


def clean_partial_writes(
    folder: str | os.PathLike[str], *, exclude: Sequence[str | os.PathLike[str]] = ()
) -> list[Path]:
    """Deletes leftovers of interrupted atomic writes below ``folder``; returns what it removed.

    A process killed inside :func:`atomic_path` (SIGKILL, power loss) leaves its
    temporary file behind. This removes the files recognised by
    :func:`is_partial_write` and nothing else: a user's file that merely starts
    with a dot is kept. Symbolic links to folders are not followed. Call it only
    while no other process writes below ``folder`` (outside ``exclude``): a
    write in progress has a temporary file too.

    Args:
        folder: The folder to search (recursively). A missing folder removes nothing.
        exclude: Folders below ``folder`` left alone (e.g. other workers' backups).

    Returns:
        The removed files, sorted.

    Example:
        >>> import tempfile, pathlib
        >>> folder = pathlib.Path(tempfile.mkdtemp())
        >>> _ = (folder / ".config.json.partial-abcd1234.json").write_text("{")
        >>> _ = (folder / ".hidden").write_text("mine")
        >>> [p.name for p in clean_partial_writes(folder)]
        ['.config.json.partial-abcd1234.json']
        >>> sorted(p.name for p in folder.iterdir())
        ['.hidden']
    """
    root = Path(folder)
    if not root.is_dir():
        return []
    skipped = {os.path.realpath(p) for p in exclude}
    removed: list[Path] = []
    for parent, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if os.path.realpath(os.path.join(parent, d)) not in skipped]
        for name in files:
            path = Path(parent) / name
            if is_partial_write(path):
                try:
                    path.unlink()
                except FileNotFoundError:
                    continue
                removed.append(path)
    return sorted(removed)


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

    Raises:
        StorageError: The file cannot be written (full disk, permissions, ...);
            ``path`` keeps its old content and no temporary file is left.

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


def atomic_write_json(path: str | os.PathLike[str], obj: object) -> Path:
    """Writes ``obj`` as indented, strict JSON atomically.

    Strict: NaN and infinities (which ``json.dumps`` would write as bare
    ``NaN`` / ``Infinity``, refused by strict parsers) become ``null``; NumPy
    scalars become numbers; other values JSON cannot hold become strings.

    Example:
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "m.json"
        >>> print(atomic_write_json(p, {"loss": float("nan"), "epoch": 1}).read_text(), end="")
        {
          "epoch": 1,
          "loss": null
        }
    """
    text = json.dumps(_strict(obj), indent=2, sort_keys=True, default=str, allow_nan=False)
    return atomic_write_text(path, text + "\n")


def _strict(obj: object) -> object:
    """``obj`` with non-finite floats as ``None`` and NumPy scalars as Python numbers."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {key: _strict(value) for key, value in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_strict(value) for value in obj]
    item = getattr(obj, "item", None)
    if callable(item) and type(obj).__module__ == "numpy" and getattr(obj, "ndim", None) == 0:
        return _strict(item())
    return obj
