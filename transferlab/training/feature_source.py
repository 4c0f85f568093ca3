"""``FeatureSource``: cached features read as an indexed source, from memory or from shard files.

A :class:`~transferlab.training.feature_cache.FeatureCache` entry is an
``(N, D)`` table of pooled features, one row per example of the source it was
computed from. :class:`FeatureSource` reads it like any
:class:`~transferlab.data.IndexedSource` (same labels and class names), so
``make_pipeline(features, shuffle=True, seed=s, epoch=e)`` yields exactly the
rows of the examples ``make_pipeline(images, ...)`` yields, in the same order.

The rows live either in one NumPy array (small tables) or in **shards** on
disk: ``.npy`` files of consecutive rows (``bfloat16`` stored as its ``uint16``
bits), each written atomically as it is produced, with a ``manifest.json``
(row counts and a SHA-256 per shard) written last. Shards are read row by row
with ``os.preadv`` inside ``tf.numpy_function``: the operating system's page
cache holds what was read, not the process (a memory map would count every
touched page in the process's resident memory).

This module is the one place that knows the shard format: :class:`ShardWriter`
writes it, :func:`open_shards` checks it, :class:`FeatureSource` reads it.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import itertools
import json
import os
import threading
import types
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeAlias

import numpy as np
import numpy.typing as npt
import tensorflow as tf

from transferlab._atomic import atomic_path, atomic_write_json, storage_error
from transferlab.data.source import IndexedSource
from transferlab.errors import DataError, DataFileError, describe

__all__ = [
    "FEATURE_DTYPES",
    "MANIFEST",
    "FeatureShard",
    "FeatureSource",
    "ShardWriter",
    "open_shards",
    "read_rows",
]

#: The dtypes cached features come in, and the ``.npy`` type each is stored as.
FEATURE_DTYPES = {"float32": "<f4", "float16": "<f2", "bfloat16": "<u2"}
#: The file, in an entry's folder, that lists its shards; written after them.
MANIFEST = "manifest.json"
_FORMAT = "transferlab-feature-shards/1"
_HASH_CHUNK = 8 * 2**20

# ``(N, D)`` features: float32, float16 or ml_dtypes' bfloat16 (which NumPy's types cannot name,
# hence ``generic[object]``); quoted: ``np.generic`` is not subscriptable at runtime.
Features: TypeAlias = "np.ndarray[tuple[int, ...], np.dtype[np.generic[object]]]"


@dataclass(frozen=True)
class FeatureShard:
    """One shard file: rows ``start .. start + rows - 1`` of the table.

    Attributes:
        path: The ``.npy`` file.
        start: The index of its first row in the whole table.
        rows: How many rows it holds.
        offset: The byte offset of its first row (the size of the ``.npy`` header).
    """

    path: Path
    start: int
    rows: int
    offset: int


def _storage(dtype: str) -> np.dtype[np.generic[object]]:
    if dtype not in FEATURE_DTYPES:
        raise DataError(
            describe(
                "Cached features must be float32, float16 or bfloat16",
                received=f"dtype={dtype!r}",
                accepted=", ".join(FEATURE_DTYPES),
            )
        )
    return np.dtype(FEATURE_DTYPES[dtype])


def _numpy_dtype(dtype: str) -> np.dtype[np.generic[object]]:
    found: np.dtype[np.generic[object]] = np.dtype(tf.as_dtype(dtype).as_numpy_dtype)
    return found


def _damaged(path: Path, why: str) -> DataFileError:
    return DataFileError(
        describe(
            f"The cached features file {path} is damaged: {why}",
            fix="ask the feature cache again (e.g. run the same command again): the entry has been "
            "dropped and is recomputed; if it happens again, check the disk",
        )
    )


class ShardWriter:
    """Writes an ``(N, D)`` table into ``directory`` as shards, rows in order, as they come.

    Each shard is written through a temporary file and renamed when full
    (never a half-written shard under its name); the manifest is written last
    by :meth:`finish`. At most one batch of rows is held. Use it as a context
    manager: an exception inside removes the shard being written.

    Args:
        directory: The entry's folder (created).
        examples: ``N``, the rows to come.
        width: ``D``, the features per row.
        dtype: ``"float32"``, ``"float16"`` or ``"bfloat16"``.
        shard_bytes: The largest shard's data size (at least one row).

    Example:
        >>> import tempfile, numpy as np
        >>> folder = Path(tempfile.mkdtemp())
        >>> with ShardWriter(folder, examples=5, width=2, dtype="float32", shard_bytes=16) as writer:
        ...     writer.write(np.arange(10, dtype="float32").reshape(5, 2))
        ...     shards = writer.finish()
        >>> [(s.path.name, s.start, s.rows) for s in shards]
        [('shard-00000.npy', 0, 2), ('shard-00001.npy', 2, 2), ('shard-00002.npy', 4, 1)]
        >>> np.load(shards[1].path).tolist()
        [[4.0, 5.0], [6.0, 7.0]]
    """

    def __init__(self, directory: Path, *, examples: int, width: int, dtype: str, shard_bytes: int) -> None:
        self.directory = Path(directory)
        self.examples = int(examples)
        self.width = int(width)
        self.dtype = dtype
        self._storage = _storage(dtype)
        self.row_bytes = self.width * self._storage.itemsize
        self.rows_per_shard = max(1, int(shard_bytes) // max(1, self.row_bytes))
        self._written = 0
        self._shards: list[FeatureShard] = []
        self._hashes: list[str] = []
        self._stack: contextlib.ExitStack | None = None
        self._file: io.BufferedWriter | None = None
        self._path = self.directory
        self._hash = hashlib.sha256()
        self._left = 0

    def __enter__(self) -> ShardWriter:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: types.TracebackType | None,
    ) -> None:
        if kind is not None:
            self._abort(kind, error, trace)

    def write(self, rows: npt.ArrayLike) -> None:
        """Appends ``rows`` (``(b, D)``, any float type: converted to the table's dtype)."""
        array = np.ascontiguousarray(np.asarray(rows, _numpy_dtype(self.dtype))).view(self._storage)
        if array.ndim != 2 or array.shape[1] != self.width:
            raise DataError(
                describe(
                    "Feature rows must be (batch, width)",
                    received=f"shape {array.shape}",
                    accepted=f"(batch, {self.width})",
                )
            )
        if self._written + len(array) > self.examples:
            raise DataError(
                describe(
                    "More feature rows than examples",
                    received=f"{self._written + len(array)} rows",
                    accepted=f"{self.examples}",
                )
            )
        done = 0
        while done < len(array):
            if self._file is None:
                self._open_shard()
            take = min(self._left, len(array) - done)
            chunk = array[done : done + take].tobytes()
            self._put(chunk)
            self._hash.update(chunk)
            self._left -= take
            self._written += take
            done += take
            if self._left == 0:
                self._close_shard()

    def finish(self) -> list[FeatureShard]:
        """Writes the manifest once every row is written; returns the shards.

        Raises:
            DataError: Fewer rows were written than ``examples``.
            StorageError: The manifest cannot be written.
        """
        if self._written != self.examples:
            raise DataError(
                describe(
                    "Fewer feature rows than examples",
                    received=f"{self._written} rows",
                    accepted=f"{self.examples}",
                )
            )
        manifest = {
            "format": _FORMAT,
            "examples": self.examples,
            "width": self.width,
            "dtype": self.dtype,
            "shards": [
                {"file": s.path.name, "rows": s.rows, "sha256": h}
                for s, h in zip(self._shards, self._hashes, strict=True)
            ],
        }
        self.directory.mkdir(parents=True, exist_ok=True)
        atomic_write_json(self.directory / MANIFEST, manifest)
        return list(self._shards)

    def _open_shard(self) -> None:
        index = len(self._shards)
        rows = min(self.rows_per_shard, self.examples - self._written)
        self._path = self.directory / f"shard-{index:05d}.npy"
        self._stack = contextlib.ExitStack()
        tmp = self._stack.enter_context(atomic_path(self._path))
        try:
            self._file = open(tmp, "wb")  # noqa: SIM115  # closed by _close_shard or _abort
        except OSError as error:
            self._stack.close()
            raise storage_error(self._path, error) from error
        header = {
            "descr": np.lib.format.dtype_to_descr(self._storage),
            "fortran_order": False,
            "shape": (rows, self.width),
        }
        try:
            np.lib.format.write_array_header_1_0(self._file, header)
        except OSError as error:
            raise storage_error(self._path, error) from error
        offset = self._file.tell()
        self._shards.append(FeatureShard(self._path, self._written, rows, offset))
        self._hash = hashlib.sha256()
        self._left = rows

    def _put(self, data: bytes) -> None:
        assert self._file is not None
        try:
            self._file.write(data)
        except OSError as error:
            raise storage_error(self._path, error) from error

    def _close_shard(self) -> None:
        assert self._file is not None and self._stack is not None
        try:
            self._file.flush()
            os.fsync(self._file.fileno())
        except OSError as error:
            raise storage_error(self._path, error) from error
        finally:
            self._file.close()
            self._file = None
        self._hashes.append(self._hash.hexdigest())
        stack, self._stack = self._stack, None
        stack.close()  # renames the temporary file to the shard's name

    def _abort(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: types.TracebackType | None,
    ) -> None:
        if self._file is not None:
            with contextlib.suppress(OSError):
                self._file.close()
            self._file = None
        if self._stack is not None:
            stack, self._stack = self._stack, None
            with contextlib.suppress(Exception):
                stack.__exit__(kind, error, trace)  # removes the temporary file


def open_shards(directory: Path, *, examples: int, width: int, dtype: str) -> list[FeatureShard]:
    """The shards of a complete entry in ``directory``, every file checked against the manifest.

    Checks the manifest, each shard's ``.npy`` header (shape, type), its size
    and the SHA-256 of its rows (read in chunks: nothing is held).

    Args:
        directory: The entry's folder.
        examples: The rows the table must have.
        width: The features per row.
        dtype: The features' dtype.

    Returns:
        The shards, in row order.

    Raises:
        FileNotFoundError: No manifest (no complete entry).
        DataFileError: A damaged or mismatched file, named.

    Example:
        >>> import tempfile, numpy as np
        >>> folder = Path(tempfile.mkdtemp())
        >>> with ShardWriter(folder, examples=3, width=2, dtype="float16", shard_bytes=8) as writer:
        ...     writer.write(np.ones((3, 2)))
        ...     _ = writer.finish()
        >>> [s.rows for s in open_shards(folder, examples=3, width=2, dtype="float16")]
        [2, 1]
        >>> open_shards(folder, examples=4, width=2, dtype="float16")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        transferlab.errors.DataFileError: The cached features file .../manifest.json is damaged: it describes 3 rows of 2 float16 features, not 4 rows of 2 float16 features...
    """
    directory = Path(directory)
    manifest_path = directory / MANIFEST
    text = manifest_path.read_text(encoding="utf-8")  # FileNotFoundError: no entry
    try:
        manifest = json.loads(text)
        if not isinstance(manifest, dict) or manifest.get("format") != _FORMAT:
            raise ValueError("not a manifest of this format")
        entries = manifest["shards"]
        stored = (int(manifest["examples"]), int(manifest["width"]), str(manifest["dtype"]))
        listed = [(str(e["file"]), int(e["rows"]), str(e["sha256"])) for e in entries]
    except (ValueError, KeyError, TypeError) as error:
        raise _damaged(manifest_path, f"unreadable manifest ({error})") from None
    if stored != (examples, width, dtype):
        raise _damaged(
            manifest_path,
            f"it describes {stored[0]} rows of {stored[1]} {stored[2]} features, "
            f"not {examples} rows of {width} {dtype} features",
        )
    storage = _storage(dtype)
    shards: list[FeatureShard] = []
    start = 0
    for name, rows, digest in listed:
        path = directory / Path(name).name
        shards.append(_check_shard(path, start, rows, width, storage, digest))
        start += rows
    if start != examples:
        raise _damaged(manifest_path, f"its shards hold {start} rows, not {examples}")
    return shards


def _check_shard(
    path: Path, start: int, rows: int, width: int, storage: np.dtype[np.generic[object]], digest: str
) -> FeatureShard:
    try:
        with open(path, "rb") as handle:
            try:
                version = np.lib.format.read_magic(handle)
                if version != (1, 0):
                    raise ValueError(f"npy version {version}")
                shape, fortran, descr = np.lib.format.read_array_header_1_0(handle)
            except ValueError as error:
                raise _damaged(path, f"no valid .npy header ({error})") from None
            if shape != (rows, width) or fortran or descr != storage:
                raise _damaged(path, f"holds {shape} {descr}, expected ({rows}, {width}) {storage}")
            offset = handle.tell()
            expected = offset + rows * width * storage.itemsize
            size = os.fstat(handle.fileno()).st_size
            if size != expected:
                raise _damaged(path, f"{size} bytes, expected {expected} (truncated or appended to)")
            hashed = hashlib.sha256()
            while chunk := handle.read(_HASH_CHUNK):
                hashed.update(chunk)
    except OSError as error:
        if isinstance(error, DataFileError):
            raise
        raise _damaged(path, f"cannot be read ({error.strerror or error})") from None
    if hashed.hexdigest() != digest:
        raise _damaged(path, "its rows do not match their checksum")
    return FeatureShard(path, start, rows, offset)


def read_rows(
    shards: Sequence[FeatureShard],
    indices: npt.ArrayLike,
    *,
    width: int,
    dtype: str,
    descriptor: Callable[[int], int] | None = None,
) -> Features:
    """Rows ``indices`` of a sharded table, in that order (consecutive rows read at once).

    Args:
        shards: The table's shards, in row order.
        indices: Row indices.
        width: Features per row.
        dtype: The features' dtype.
        descriptor: Gives an open file descriptor of shard ``i`` (kept open by
            the caller); default: each shard is opened and closed here.

    Returns:
        ``(len(indices), width)`` in ``dtype``.

    Raises:
        DataFileError: A shard missing, or shorter than the manifest says (named).

    Example:
        >>> import tempfile, numpy as np
        >>> folder = Path(tempfile.mkdtemp())
        >>> with ShardWriter(folder, examples=4, width=1, dtype="float32", shard_bytes=8) as writer:
        ...     writer.write(np.arange(4).reshape(4, 1))
        ...     shards = writer.finish()
        >>> read_rows(shards, [3, 0, 1], width=1, dtype="float32").ravel().tolist()
        [3.0, 0.0, 1.0]
    """
    storage = _storage(dtype)
    idx = np.asarray(indices, np.int64).reshape(-1)
    out = np.empty((len(idx), width), storage)
    if len(idx):
        starts = np.array([s.start for s in shards], np.int64)
        which = np.searchsorted(starts, idx, side="right") - 1
        row_bytes = width * storage.itemsize
        # Runs of consecutive rows in one shard: one read each.
        cut = np.flatnonzero((np.diff(idx) != 1) | (np.diff(which) != 0)) + 1
        bounds = [0, *cut.tolist(), len(idx)]
        buffer = out.data.cast("B")
        opened: dict[int, int] = {}
        try:
            for a, b in itertools.pairwise(bounds):
                shard_index = int(which[a])
                shard = shards[shard_index]
                if descriptor is not None:
                    fd = descriptor(shard_index)
                elif shard_index in opened:
                    fd = opened[shard_index]
                else:
                    fd = opened[shard_index] = _open(shard.path)
                offset = shard.offset + (int(idx[a]) - shard.start) * row_bytes
                _read_exact(fd, shard.path, buffer[a * row_bytes : b * row_bytes], offset)
        finally:
            for fd in opened.values():
                os.close(fd)
    return out.view(_numpy_dtype(dtype))


def _open(path: Path) -> int:
    try:
        return os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    except OSError as error:
        raise _damaged(path, f"cannot be opened ({error.strerror or error})") from None


def _read_exact(fd: int, path: Path, target: memoryview, offset: int) -> None:
    done = 0
    while done < len(target):
        try:
            got = os.preadv(fd, [target[done:]], offset + done)
        except OSError as error:
            raise _damaged(path, f"cannot be read ({error.strerror or error})") from None
        if got == 0:
            raise _damaged(
                path, f"ends at byte {offset + done}, before the row data it should hold (truncated)"
            )
        done += got


def _close_all(descriptors: dict[int, int]) -> None:
    for fd in descriptors.values():
        with contextlib.suppress(OSError):
            os.close(fd)
    descriptors.clear()


class FeatureSource(IndexedSource):
    """Cached features as an indexed source: row ``i`` is example ``i``'s ``(D,)`` feature vector.

    The same labels and class names as the images' source; ``pixel_range`` is
    ``None`` (features are not pixels: the pipeline does not rescale them);
    read a batch at a time (a gather from memory, or reads from the shards).
    It also reads like an ``(N, D)`` array: ``np.asarray(source)`` (reads
    every row), ``source.shape``, ``source.dtype``.

    A shard found damaged while reading (truncated, deleted) raises a
    :class:`~transferlab.errors.DataFileError` naming the file (inside a
    ``tf.data`` pipeline: TensorFlow's error carries that message, and
    :meth:`diagnose` returns the error itself); ``on_damage`` is called once,
    so the cache drops the entry and computes it again when asked again.

    Args:
        labels: Every example's label.
        class_names: One name per class.
        key: The feature cache's key of the table (its fingerprint).
        array: The table in memory, ``(N, D)``; or else
        shards: The table on disk (see :func:`open_shards`), with ``width``
            and ``dtype`` given.
        width: ``D``, for ``shards``.
        dtype: The features' dtype for ``shards``: ``"float32"``,
            ``"float16"`` or ``"bfloat16"``.
        on_damage: Called (once) when a shard is found damaged.

    Example:
        >>> import numpy as np
        >>> rows = np.arange(6, dtype="float32").reshape(3, 2)
        >>> source = FeatureSource(np.array([0, 1, 0]), ("a", "b"), key="k", array=rows)
        >>> source.element_shape, source.element_dtype.name, source.pixel_range, source.in_memory
        ((2,), 'float32', None, True)
        >>> source.read_batch(tf.constant([2, 0], tf.int64)).numpy().tolist()
        [[4.0, 5.0], [0.0, 1.0]]
    """

    reads_elements = False

    def __init__(
        self,
        labels: npt.ArrayLike,
        class_names: Sequence[str],
        *,
        key: str,
        array: Features | None = None,
        shards: Sequence[FeatureShard] = (),
        width: int | None = None,
        dtype: str | None = None,
        on_damage: Callable[[], None] | None = None,
    ) -> None:
        self._labels: npt.NDArray[np.int64] = np.asarray(labels, np.int64).reshape(-1)
        self.class_names = tuple(str(name) for name in class_names)
        self.pixel_range = None
        self.key = key
        n = len(self._labels)
        if (array is None) == (not shards):
            raise DataError(describe("A FeatureSource takes either `array` or `shards`, not both or neither"))
        if array is not None:
            if array.ndim != 2 or array.shape[0] != n:
                raise DataError(
                    describe(
                        "Cached features must be (examples, width), one row per label",
                        received=f"shape {array.shape} for {n} labels",
                    )
                )
            width, dtype = int(array.shape[1]), np.dtype(array.dtype).name
        if width is None or dtype is None:
            raise DataError(describe("A FeatureSource on shards needs `width` and `dtype`"))
        _storage(dtype)
        if shards and sum(s.rows for s in shards) != n:
            raise DataError(
                describe(
                    "The shards hold another number of rows than there are labels",
                    received=f"{sum(s.rows for s in shards)} rows, {n} labels",
                )
            )
        self._array = array
        self._shards = tuple(shards)
        self._width = width
        self._dtype = dtype
        self._on_damage = on_damage
        self._error: DataFileError | None = None
        self._lock = threading.Lock()
        self._descriptors: dict[int, int] = {}
        self._closer = weakref.finalize(self, _close_all, self._descriptors)

    @property
    def labels(self) -> npt.NDArray[np.int64]:
        return self._labels

    @property
    def element_shape(self) -> tuple[int, ...]:
        return (self._width,)

    @property
    def element_dtype(self) -> tf.DType:
        return tf.as_dtype(self._dtype)

    @property
    def in_memory(self) -> bool:
        """Whether the rows are held in memory (else read from the shards)."""
        return self._array is not None

    @property
    def shards(self) -> tuple[FeatureShard, ...]:
        """The shard files (none in memory)."""
        return self._shards

    @property
    def damage(self) -> DataFileError | None:
        """The error of the damaged shard met while reading, or ``None``."""
        return self._error

    @property
    def shape(self) -> tuple[int, int]:
        """``(N, D)``, as the table's array would have."""
        return (len(self), self._width)

    @property
    def dtype(self) -> np.dtype[np.generic[object]]:
        """The NumPy dtype of the rows."""
        return _numpy_dtype(self._dtype)

    def numpy(self) -> Features:
        """Every row, ``(N, D)`` (read from the shards when on disk: that holds them all)."""
        if self._array is not None:
            return self._array
        return self._rows(np.arange(len(self), dtype=np.int64))

    def __array__(
        self, dtype: npt.DTypeLike | None = None, copy: bool | None = None
    ) -> np.ndarray[tuple[int, ...], np.dtype[np.generic[object]]]:
        rows = self.numpy()
        return np.array(rows, dtype=dtype, copy=True) if copy else np.asarray(rows, dtype=dtype)

    def read_batch(self, indices: tf.Tensor) -> tf.Tensor:
        if self._array is not None:
            array = self._array
            rows = tf.numpy_function(lambda i: array[i], [indices], self.element_dtype, stateful=False)
        else:
            rows = tf.numpy_function(self._rows, [indices], self.element_dtype, stateful=False)
        rows.set_shape((None, self._width))
        return rows

    def relabeled(self, labels: npt.ArrayLike, class_names: Sequence[str]) -> FeatureSource:
        """The same rows with other labels (nothing copied)."""
        return FeatureSource(
            labels,
            class_names,
            key=self.key,
            array=self._array,
            shards=self._shards,
            width=self._width,
            dtype=self._dtype,
            on_damage=self._on_damage,
        )

    def files(self, indices: npt.ArrayLike) -> list[str]:
        if not self._shards:
            return []
        starts = np.array([s.start for s in self._shards], np.int64)
        which = np.searchsorted(starts, np.asarray(indices, np.int64).reshape(-1), side="right") - 1
        return [str(self._shards[int(i)].path) for i in which]

    def fingerprint(self) -> dict[str, object]:
        from transferlab.data.fingerprint import arrays_digest

        return {"feature_cache_key": self.key, "labels": arrays_digest(self._labels)}

    def diagnose(self) -> Exception | None:
        return self._error

    def close(self) -> None:
        """Closes the shard files it keeps open (reading opens them again)."""
        with self._lock:
            _close_all(self._descriptors)

    def _descriptor(self, index: int) -> int:
        with self._lock:
            fd = self._descriptors.get(index)
            if fd is None:
                fd = self._descriptors[index] = _open(self._shards[index].path)
            return fd

    def _rows(self, indices: npt.ArrayLike) -> Features:
        try:
            return read_rows(
                self._shards, indices, width=self._width, dtype=self._dtype, descriptor=self._descriptor
            )
        except DataFileError as error:
            with self._lock:
                first = self._error is None
                if first:
                    self._error = error
            if first and self._on_damage is not None:
                self._on_damage()
            raise
