"""TFRecord shards with an index: ``write_tfrecords`` and ``TFRecordSource`` (random access by offset).

:func:`write_tfrecords` writes any source (arrays, an image folder, another
TFRecord set, a ``tf.data.Dataset``) as ``tf.train.Example`` records into
``shard-00000-of-0000N.tfrecord`` files and, last, an ``index.json`` that holds
every record's shard, byte offset and label. :class:`TFRecordSource` opens
that index and reads any record by its index, so the shards are an
:class:`~transferlab.data.IndexedSource`: the order of epoch ``e`` is a pure
function of ``(seed, e)``, a run resumes mid-epoch exactly, and each worker
opens only the shards that hold its examples (:meth:`TFRecordSource.files`).

Each record's features: ``image`` (bytes), ``label`` (int64), ``shape``
(int64 list) and, for images, ``height``, ``width``, ``channels``. The
default encoding is lossless: ``uint8`` / ``uint16`` images as PNG, anything
else (float images, features) as the raw little-endian bytes of the source's
dtype, so reading back gives the source's values bit for bit.

TFRecord files written by other tools (no index) open with
:meth:`TFRecordSource.from_files`, which indexes them in one pass.

Example:
    >>> import tempfile, numpy as np
    >>> from transferlab.data import LabeledImages
    >>> images = np.arange(6 * 4 * 4, dtype="uint8").reshape(6, 4, 4)
    >>> data = LabeledImages(images, np.array([0, 1, 2, 0, 1, 2]), ("a", "b", "c"))
    >>> source = write_tfrecords(data, tempfile.mkdtemp() + "/shapes", shards=2)
    >>> len(source), source.labels.tolist(), source.element_shape, source.encoding
    (6, [0, 1, 2, 0, 1, 2], (4, 4, 1), 'png')
    >>> [f.rsplit("/", 1)[1] for f in source.files([0, 5])]
    ['shard-00000-of-00002.tfrecord', 'shard-00001-of-00002.tfrecord']
    >>> bool(np.array_equal(source.read_batch(tf.constant([4, 1], tf.int64))[..., 0], images[[4, 1]]))
    True
"""

from __future__ import annotations

import contextlib
import dataclasses
import glob
import hashlib
import json
import math
import os
import re
import shutil
import struct
import tempfile
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TypeVar

import numpy as np
import numpy.typing as npt
import tensorflow as tf

from transferlab._atomic import atomic_write_json, storage_error
from transferlab.data.labeled_images import DEFAULT_PIXEL_RANGE, check_pixel_range
from transferlab.data.source import ImageSource, IndexedSource, StreamSource, as_source
from transferlab.errors import ConfigError, DataError, DataFileError, TransferlabError, describe

__all__ = [
    "ENCODINGS",
    "INDEX_NAME",
    "TFRecordSource",
    "masked_crc32c",
    "shard_name",
    "write_tfrecords",
]

#: The index file of a TFRecord folder (written last).
INDEX_NAME = "index.json"
#: ``format`` and ``version`` of the index this module writes and reads.
INDEX_FORMAT = "transferlab.tfrecords"
INDEX_VERSION = 1
#: Accepted ``encoding`` values of :func:`write_tfrecords`.
ENCODINGS = ("png", "jpeg", "raw")
#: The JPEG quality of ``encoding="jpeg"`` (lossy).
JPEG_QUALITY = 95
#: The raw bytes of examples a shard holds by default (``shards=None``).
SHARD_BYTES = 128 * 2**20
#: Examples read and encoded together while writing.
WRITE_BATCH = 64
#: The feature keys of the records :func:`write_tfrecords` writes.
FEATURE_KEYS: Mapping[str, str] = {"image": "image", "label": "label"}
#: Bytes of TFRecord framing around a record: length (8), its CRC (4), the data's CRC (4).
FRAMING = 16

_SHARD = re.compile(r"shard-\d{5,}-of-\d{5,}\.tfrecord")
_STAGING = ".write_tfrecords.partial-"
_T = TypeVar("_T")


def shard_name(index: int, count: int) -> str:
    """The file name of shard ``index`` of ``count``.

    Example:
        >>> shard_name(0, 3)
        'shard-00000-of-00003.tfrecord'
    """
    return f"shard-{index:05d}-of-{count:05d}.tfrecord"


def _crc32c_table() -> tuple[int, ...]:
    table = []
    for n in range(256):
        c = n
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    return tuple(table)


_CRC_TABLE = _crc32c_table()


def masked_crc32c(data: bytes) -> int:
    """The masked CRC-32C TFRecord framing stores (pure Python: meant for short data).

    Example:
        >>> hex(masked_crc32c(b"123456789"))  # CRC-32C 0xe3069283, masked
        '0xc78ab0e5'
    """
    crc = 0xFFFFFFFF
    for byte in data:
        crc = _CRC_TABLE[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    crc ^= 0xFFFFFFFF
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


# Index ------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, eq=False)
class _Shard:
    """One shard as the index describes it."""

    file: str
    size: int
    offsets: npt.NDArray[np.int64]
    labels: npt.NDArray[np.int64]
    sha256: str | None


@dataclasses.dataclass(frozen=True, eq=False)
class _Index:
    """A parsed, checked index."""

    class_names: tuple[str, ...]
    pixel_range: tuple[float, float] | None
    element_shape: tuple[int, ...]
    element_dtype: tf.DType
    encoding: str
    keys: Mapping[str, str]
    shards: tuple[_Shard, ...]

    def to_json(self) -> dict[str, object]:
        return {
            "format": INDEX_FORMAT,
            "version": INDEX_VERSION,
            "examples": sum(len(s.labels) for s in self.shards),
            "class_names": list(self.class_names),
            "pixel_range": list(self.pixel_range) if self.pixel_range is not None else None,
            "element_shape": list(self.element_shape),
            "element_dtype": self.element_dtype.name,
            "encoding": self.encoding,
            "features": dict(self.keys),
            "shards": [
                {
                    "file": s.file,
                    "records": len(s.labels),
                    "bytes": s.size,
                    "sha256": s.sha256,
                    "offsets": s.offsets.tolist(),
                    "labels": s.labels.tolist(),
                }
                for s in self.shards
            ],
        }


def _index_error(path: Path, problem: str, received: object) -> DataFileError:
    return DataFileError(
        describe(
            f"The TFRecord index {path} is not a valid index: {problem}",
            received=received,
            accepted=f"an {INDEX_NAME} written by transferlab.data.write_tfrecords "
            f"(format {INDEX_FORMAT!r}, version {INDEX_VERSION})",
            fix="write the shards again with write_tfrecords(..., overwrite=True), or open your own "
            "TFRecord files with TFRecordSource.from_files(pattern, ...)",
        )
    )


def _int_array(path: Path, value: object, what: str) -> npt.NDArray[np.int64]:
    if not isinstance(value, list) or not all(isinstance(v, int) and not isinstance(v, bool) for v in value):
        raise _index_error(path, f"{what} must be a list of integers", f"{type(value).__name__}")
    return np.asarray(value, np.int64).reshape(-1)


def _parse_index(path: Path, raw: bytes) -> _Index:
    """Checks every part of an index: types, counts, offsets inside the shards, labels in range."""
    try:
        doc = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise _index_error(path, "it is not JSON", f"{err}") from None
    if not isinstance(doc, dict):
        raise _index_error(path, "it is not a JSON object", type(doc).__name__)
    if doc.get("format") != INDEX_FORMAT or doc.get("version") != INDEX_VERSION:
        raise _index_error(
            path, "unknown format or version", f"format={doc.get('format')!r}, version={doc.get('version')!r}"
        )
    try:
        names = tuple(str(n) for n in doc["class_names"])
        pr = doc["pixel_range"]
        pixel_range = None if pr is None else check_pixel_range(pr)
        shape = tuple(int(s) for s in doc["element_shape"])
        dtype = tf.as_dtype(str(doc["element_dtype"]))
        encoding = str(doc["encoding"])
        keys = {str(k): str(v) for k, v in dict(doc["features"]).items()}
        shard_docs = list(doc["shards"])
        shards = []
        for entry in shard_docs:
            file = str(entry["file"])
            if Path(file).name != file:
                raise _index_error(path, "a shard file name holds a folder", f"file={file!r}")
            size = int(entry["bytes"])
            sha = entry.get("sha256")
            offsets = _int_array(path, entry["offsets"], f"{file}'s offsets")
            labels = _int_array(path, entry["labels"], f"{file}'s labels")
            shards.append(_Shard(file, size, offsets, labels, None if sha is None else str(sha)))
            if int(entry["records"]) != len(offsets) or len(offsets) != len(labels):
                raise _index_error(
                    path,
                    f"{file}: the record count, offsets and labels disagree",
                    f"records={entry['records']}, {len(offsets)} offsets, {len(labels)} labels",
                )
    except TransferlabError:
        raise
    except (KeyError, TypeError, ValueError, AttributeError) as err:
        raise _index_error(
            path, "a field is missing or has the wrong type", f"{type(err).__name__}: {err}"
        ) from None
    if encoding not in (*ENCODINGS, "image") or {"image", "label"} - set(keys):
        raise _index_error(
            path, "unknown encoding or feature keys", f"encoding={encoding!r}, features={keys}"
        )
    if len(names) < 2 or not shape or min(shape) < 1:
        raise _index_error(path, "fewer than 2 classes or an empty element shape", f"{names}, {shape}")
    for shard in shards:
        steps = np.diff(np.append(shard.offsets, shard.size))
        if len(shard.offsets) and (shard.offsets[0] != 0 or steps.min() <= FRAMING):
            raise _index_error(
                path, f"{shard.file}: the offsets do not fit its {shard.size} bytes", "offsets"
            )
        if len(shard.labels) and (shard.labels.min() < 0 or shard.labels.max() >= len(names)):
            raise _index_error(
                path,
                f"{shard.file}: labels outside [0, {len(names)})",
                f"labels {int(shard.labels.min())} .. {int(shard.labels.max())}",
            )
    if not sum(len(s.labels) for s in shards):
        raise _index_error(path, "it lists no record", f"{len(shards)} shards")
    return _Index(names, pixel_range, shape, dtype, encoding, keys, tuple(shards))


# Reading ----------------------------------------------------------------------


class TFRecordSource(IndexedSource):
    """TFRecord shards written by :func:`write_tfrecords`, read record by record by offset.

    Opening reads only ``index.json`` (labels, offsets) and checks that every
    shard exists with the size the index records; no record is read. A batch
    is read by one ``tf.numpy_function`` that reads each record at its offset
    (``os.pread``, no seek: safe from parallel calls) and checks its framing
    (the stored length, its CRC-32C, and where the record ends); the records
    are then parsed (``tf.io.parse_example``) and decoded inside the
    ``tf.data`` graph. The data's own CRC is not checked on these random reads
    (a pure-Python CRC of every image would cost more than the decoding); a
    damaged image fails its PNG/JPEG decoding, and :meth:`verify` checks every
    record's CRC (TensorFlow's sequential reader) and the index's digests.

    Args:
        folder: The folder :func:`write_tfrecords` wrote (``index.json`` and
            the shards).

    Raises:
        DataFileError: No index, an index that is not valid (naming it), a
            shard missing or of another size than the index says (naming it).

    Example:
        >>> import tempfile, numpy as np
        >>> folder = tempfile.mkdtemp()
        >>> _ = write_tfrecords((np.zeros((5, 3, 3, 3), "uint8"), np.arange(5) % 2), folder)
        >>> source = TFRecordSource(folder)
        >>> source.summary()["shards"], source.class_counts().tolist(), source.element_dtype.name
        (1, [3, 2], 'uint8')
    """

    reads_elements = True

    def __init__(self, folder: str | os.PathLike[str]) -> None:
        root = Path(folder)
        index_path = root / INDEX_NAME
        try:
            raw = index_path.read_bytes()
        except FileNotFoundError:
            problem = "is not a folder" if not root.is_dir() else f"holds no {INDEX_NAME}"
            raise DataFileError(
                describe(
                    f"The TFRecord folder {root} {problem}",
                    received=f"folder={str(folder)!r}",
                    accepted=f"a folder written by transferlab.data.write_tfrecords ({INDEX_NAME} and "
                    "shard-*.tfrecord files; the index is written last, so a write that did not finish "
                    "has none)",
                    fix="write it with write_tfrecords(source, folder), or open your own TFRecord files "
                    "with TFRecordSource.from_files(pattern, ...)",
                )
            ) from None
        except OSError as err:
            raise DataFileError(
                describe(f"Cannot read the TFRecord index {index_path}", received=f"{err}")
            ) from None
        self._setup(root, _parse_index(index_path, raw), hashlib.sha256(raw).hexdigest(), f"{index_path}")

    def _setup(self, root: Path, index: _Index, digest: str, origin: str) -> None:
        self.folder = root
        self._origin = origin
        self._index = index
        self._digest = digest
        self.class_names = index.class_names
        self.pixel_range = index.pixel_range
        self._paths = tuple(str(root / s.file) for s in index.shards)
        counts = [len(s.labels) for s in index.shards]
        self._starts: npt.NDArray[np.int64] = np.cumsum([0, *counts]).astype(np.int64)
        self._labels: npt.NDArray[np.int64] = np.concatenate([s.labels for s in index.shards])
        self._offsets: npt.NDArray[np.int64] = np.concatenate([s.offsets for s in index.shards])
        ends = [np.append(s.offsets[1:], s.size) for s in index.shards]
        self._lengths: npt.NDArray[np.int64] = np.concatenate(ends) - self._offsets - FRAMING
        self._fds: dict[int, int] = {}
        self._lock = threading.Lock()
        self._failure: DataFileError | None = None
        found = self._check_files()
        if found is not None:
            raise found

    @classmethod
    def from_files(
        cls,
        pattern: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
        *,
        feature_keys: Mapping[str, str] | None = None,
        class_names: Sequence[str] | None = None,
        num_classes: int | None = None,
    ) -> TFRecordSource:
        """Opens TFRecord files without an index (your own), indexing them in one pass.

        Every file is scanned once: the framing (each record's offset, its
        length checked against its CRC) by reading 12 bytes per record, and
        the labels by TensorFlow's sequential reader (which reads the whole
        file). The index is kept in memory, not written: each call scans again
        (to scan once, convert them: ``write_tfrecords(TFRecordSource.from_files(...), folder)``).
        Images are decoded with ``tf.io.decode_image`` (JPEG, PNG, GIF, BMP) to
        ``uint8`` with the channels of the first record's image, and must all
        have that image's shape; for images of mixed sizes, resize them in a
        ``tf.data`` map and write them with ``write_tfrecords(StreamSource(...), folder)``.

        Args:
            pattern: A glob pattern (``"data/train-*.tfrecord"``), or a list of
                files. Files are read in sorted order.
            feature_keys: The ``tf.train.Example`` feature keys of the encoded
                image (bytes) and the integer label, e.g.
                ``{"image": "image/encoded", "label": "image/class/label"}``.
                Default: ``{"image": "image", "label": "label"}``.
            class_names: One name per class. Default: ``"0"`` .. ``str(num_classes - 1)``.
            num_classes: The number of classes when ``class_names`` is not
                given. Default: the largest label + 1.

        Raises:
            DataFileError: No file matches; a file is truncated or not
                TFRecord framing, or a record has no such image or label
                feature (naming the file); a label out of range.

        Example:
            >>> import tempfile, numpy as np
            >>> folder = tempfile.mkdtemp()
            >>> with tf.io.TFRecordWriter(folder + "/mine.tfrecord") as w:
            ...     for label in (0, 1, 1):
            ...         png = tf.io.encode_png(np.full((2, 3, 1), 40 * label, "uint8")).numpy()
            ...         w.write(tf.train.Example(features=tf.train.Features(feature={
            ...             "img": tf.train.Feature(bytes_list=tf.train.BytesList(value=[png])),
            ...             "y": tf.train.Feature(int64_list=tf.train.Int64List(value=[label]))})).SerializeToString())
            >>> source = TFRecordSource.from_files(folder + "/*.tfrecord", feature_keys={"image": "img", "label": "y"})
            >>> source.labels.tolist(), source.element_shape, int(source.read_element(tf.constant(2, tf.int64))[0, 0, 0])
            ([0, 1, 1], (2, 3, 1), 40)
        """
        files = _match(pattern)
        keys = dict(feature_keys) if isinstance(feature_keys, Mapping) else dict(FEATURE_KEYS)
        if not isinstance(feature_keys, (Mapping, type(None))) or set(keys) != {"image", "label"}:
            raise ConfigError(
                describe(
                    "`feature_keys` must map 'image' and 'label' to feature keys",
                    received=f"feature_keys={feature_keys!r}",
                    accepted="e.g. {'image': 'image/encoded', 'label': 'image/class/label'}",
                )
            )
        shards = [_scan(path, keys["label"]) for path in files]
        labels = np.concatenate([shard.labels for shard in shards])
        if not labels.size:
            raise DataFileError(describe("The TFRecord files hold no record", received=f"{len(files)} files"))
        if class_names is None:
            if num_classes is None:
                num_classes = max(2, int(labels.max()) + 1)
            class_names = [str(i) for i in range(int(num_classes))]
        names = tuple(str(n) for n in class_names)
        for shard in shards:
            if len(shard.labels) and (shard.labels.min() < 0 or shard.labels.max() >= len(names)):
                raise DataFileError(
                    describe(
                        f"The TFRecord file {shard.file} holds labels outside [0, {len(names)})",
                        received=f"labels {int(shard.labels.min())} .. {int(shard.labels.max())}",
                        fix="pass class_names (or num_classes) that cover every label; labels start at 0",
                    )
                )
        first = next(shard for shard in shards if len(shard.labels))
        shape = _first_shape(first, keys["image"])
        # Files relative to their common folder: the digest does not depend on where they are.
        root = os.path.commonpath([os.path.dirname(f) for f in files])
        relative = tuple(dataclasses.replace(s, file=os.path.relpath(s.file, root)) for s in shards)
        index = _Index(names, DEFAULT_PIXEL_RANGE, shape, tf.uint8, "image", keys, relative)
        digest = hashlib.sha256(json.dumps(index.to_json(), sort_keys=True).encode()).hexdigest()
        source = cls.__new__(cls)
        source._setup(Path(root), index, digest, "the scan when the files were opened")
        return source

    # Facts ------------------------------------------------------------------
    @property
    def labels(self) -> npt.NDArray[np.int64]:
        return self._labels

    @property
    def element_shape(self) -> tuple[int, ...]:
        return self._index.element_shape

    @property
    def element_dtype(self) -> tf.DType:
        return self._index.element_dtype

    @property
    def encoding(self) -> str:
        """How images are stored: ``"png"``, ``"jpeg"`` or ``"raw"`` (the dtype's bytes)."""
        return self._index.encoding

    @property
    def shard_files(self) -> tuple[str, ...]:
        """Every shard's path, in order."""
        return self._paths

    def fingerprint(self) -> dict[str, object]:
        return {
            "tfrecords": {
                "index_sha256": self._digest,
                "shard_bytes": [s.size for s in self._index.shards],
            }
        }

    def summary(self) -> dict[str, object]:
        return {
            **super().summary(),
            "folder": str(self.folder),
            "shards": len(self._paths),
            "encoding": self.encoding,
            "bytes": sum(s.size for s in self._index.shards),
        }

    def _shard_of(self, indices: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
        return np.searchsorted(self._starts, indices, side="right").astype(np.int64) - 1

    def files(self, indices: npt.ArrayLike) -> list[str]:
        idx = np.asarray(indices, np.int64).reshape(-1)
        if idx.size and (idx.min() < 0 or idx.max() >= len(self)):
            raise DataError(
                describe("`indices` out of range", received=f"{int(idx.min())} .. {int(idx.max())}",
                         accepted=f"0 .. {len(self) - 1}")
            )  # fmt: skip
        return [self._paths[k] for k in np.unique(self._shard_of(idx))]

    # Files ------------------------------------------------------------------
    def _check_files(self) -> DataFileError | None:
        """The first shard that is missing or of the wrong size, as an error; else ``None``."""
        for path, shard in zip(self._paths, self._index.shards):
            try:
                size = os.stat(path).st_size
            except OSError as err:
                return DataFileError(
                    describe(
                        f"The TFRecord shard {path} cannot be read",
                        received=f"{type(err).__name__}: {err.strerror or err}",
                        accepted=f"the {len(self._paths)} shards {INDEX_NAME} lists, next to it",
                        fix="copy the whole folder again, or write it again with write_tfrecords",
                    )
                )
            if size != shard.size:
                return DataFileError(
                    describe(
                        f"The TFRecord shard {path} has another size than its index says "
                        + ("(truncated)" if size < shard.size else "(changed)"),
                        received=f"{size} bytes",
                        accepted=f"{shard.size} bytes, as {self._origin} records",
                        fix="copy the whole folder again, or write it again with write_tfrecords",
                    )
                )
        return None

    def _fd(self, shard: int) -> int:
        fd = self._fds.get(shard)
        if fd is None:
            with self._lock:
                fd = self._fds.get(shard)
                if fd is None:
                    fd = os.open(self._paths[shard], os.O_RDONLY | getattr(os, "O_BINARY", 0))
                    self._fds[shard] = fd
        return fd

    def close(self) -> None:
        """Closes the shard files opened so far (reading again opens them again)."""
        with self._lock:
            fds, self._fds = self._fds, {}
        for fd in fds.values():
            with contextlib.suppress(OSError):
                os.close(fd)

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # at interpreter exit modules are gone; a failed __init__ set no _fds
            pass

    def _read_record(self, index: int, shard: int) -> bytes:
        offset, length = int(self._offsets[index]), int(self._lengths[index])
        path = self._paths[shard]
        try:
            blob = _pread(self._fd(shard), length + FRAMING, offset)
        except OSError as err:
            raise self._fail(
                path, f"record {index - int(self._starts[shard])} cannot be read", f"{err}"
            ) from None
        if len(blob) < length + FRAMING:
            raise self._fail(
                path, "the file ends inside a record (truncated)", f"{len(blob)} of {length + FRAMING} bytes"
            )
        (stored,) = struct.unpack("<Q", blob[:8])
        (crc,) = struct.unpack("<I", blob[8:12])
        if stored != length or crc != masked_crc32c(blob[:8]):
            raise self._fail(
                path,
                f"the record at byte {offset} is not where the index says (or its header is damaged)",
                f"a length of {stored} (CRC {'ok' if crc == masked_crc32c(blob[:8]) else 'wrong'}), "
                f"expected {length}",
            )
        return blob[12 : 12 + length]

    def _fail(self, path: str, problem: str, received: str) -> DataFileError:
        error = DataFileError(
            describe(
                f"The TFRecord shard {path} cannot be read: {problem}",
                received=received,
                fix="copy the whole folder again, or write it again with write_tfrecords",
            )
        )
        self._failure = error
        return error

    def _read_records(self, indices: npt.NDArray[np.int64]) -> npt.NDArray[np.object_]:
        idx = np.asarray(indices, np.int64).reshape(-1)
        out = np.empty(len(idx), dtype=object)
        for j, (index, shard) in enumerate(zip(idx.tolist(), self._shard_of(idx).tolist())):
            out[j] = self._read_record(index, shard)
        return out

    def diagnose(self) -> Exception | None:
        return self._failure if self._failure is not None else self._check_files()

    # Reading inside tf.data --------------------------------------------------
    def read_batch(self, indices: tf.Tensor) -> tf.Tensor:
        records = tf.numpy_function(
            self._read_records, [tf.cast(indices, tf.int64)], tf.string, stateful=False
        )
        records.set_shape([None])
        return self.decode(records)

    def read_element(self, index: tf.Tensor) -> tf.Tensor:
        return self.read_batch(tf.reshape(tf.cast(index, tf.int64), [1]))[0]

    def decode(self, records: tf.Tensor) -> tf.Tensor:
        """Serialized ``tf.train.Example`` records ``(b,)`` to examples ``(b, *element_shape)``."""
        key = self._index.keys["image"]
        images = tf.io.parse_example(records, {key: tf.io.FixedLenFeature([], tf.string)})[key]
        return _decode_images(images, self._index.encoding, self.element_shape, self.element_dtype)

    def verify(self) -> None:
        """Reads every shard front to back and checks each record's CRCs, count and the index's digests.

        Raises:
            DataFileError: Naming the first shard that is missing, truncated,
                damaged (a CRC that does not match) or differs from the index.
        """
        found = self._check_files()
        if found is not None:
            raise found
        for path, shard in zip(self._paths, self._index.shards):
            digest, count = hashlib.sha256(), 0
            try:
                for record in tf.data.TFRecordDataset(path, buffer_size=2**20):
                    digest.update(record.numpy())
                    count += 1
            except tf.errors.OpError as err:
                raise self._fail(path, "a record is damaged", err.message.splitlines()[0]) from None
            if count != len(shard.labels) or (
                shard.sha256 is not None and digest.hexdigest() != shard.sha256
            ):
                raise self._fail(
                    path,
                    "its records differ from those its index describes",
                    f"{count} records, SHA-256 {digest.hexdigest()[:16]}...",
                )


_SEEK_LOCK = threading.Lock()


def _pread(fd: int, size: int, offset: int) -> bytes:
    """``size`` bytes at ``offset`` (fewer at the end of the file), without moving a shared position."""
    if hasattr(os, "pread"):
        return os.pread(fd, size, offset)
    with _SEEK_LOCK:  # pragma: no cover - platforms without pread (Windows)
        os.lseek(fd, offset, os.SEEK_SET)
        return os.read(fd, size)


def _match(pattern: str | os.PathLike[str] | Sequence[str | os.PathLike[str]]) -> list[str]:
    """The files a pattern or list names, sorted, as absolute paths."""
    if isinstance(pattern, (str, os.PathLike)):
        files = sorted(glob.glob(os.fspath(pattern)))
        shown = f"pattern={os.fspath(pattern)!r}"
    else:
        files = sorted(os.fspath(p) for p in pattern)
        shown = f"{len(files)} files"
    files = [os.path.abspath(f) for f in files if os.path.isfile(f)]
    if not files:
        raise DataFileError(
            describe(
                "No TFRecord file found",
                received=shown,
                accepted="a glob pattern such as 'data/train-*.tfrecord', or a list of existing files",
            )
        )
    return files


def _scan(path: str, label_key: str) -> _Shard:
    """One file's record offsets (from its framing) and labels (from its records)."""

    def bad(problem: str, received: str) -> DataFileError:
        return DataFileError(
            describe(
                f"The TFRecord file {path} cannot be indexed: {problem}",
                received=received,
                accepted="TFRecord files of tf.train.Example records (uncompressed)",
            )
        )

    offsets: list[int] = []
    try:
        with open(path, "rb") as handle:
            fd, position, size = handle.fileno(), 0, os.fstat(handle.fileno()).st_size
            while position < size:
                header = _pread(fd, 12, position)
                if len(header) < 12 or struct.unpack("<I", header[8:])[0] != masked_crc32c(header[:8]):
                    raise bad(f"the record at byte {position} has no valid header", f"{size} bytes")
                (length,) = struct.unpack("<Q", header[:8])
                if position + length + FRAMING > size:
                    raise bad(
                        f"the record at byte {position} ends after the file (truncated)",
                        f"{size} bytes, record of {length}",
                    )
                offsets.append(position)
                position += length + FRAMING
    except OSError as err:
        if isinstance(err, DataFileError):
            raise
        raise bad("it cannot be read", f"{type(err).__name__}: {err.strerror or err}") from None
    spec = {label_key: tf.io.FixedLenFeature([], tf.int64)}
    parts = []
    try:
        for batch in tf.data.TFRecordDataset(path).batch(4096):
            parts.append(tf.io.parse_example(batch, spec)[label_key].numpy())
    except tf.errors.OpError as err:
        raise bad(
            f"a record has no integer label {label_key!r}, or is damaged", err.message.splitlines()[0]
        ) from None
    labels = np.concatenate(parts).astype(np.int64) if parts else np.zeros(0, np.int64)
    return _Shard(path, size, np.asarray(offsets, np.int64), labels, None)


def _first_shape(shard: _Shard, image_key: str) -> tuple[int, ...]:
    """The shape of the image in a file's first record (decoded)."""
    with open(shard.file, "rb") as handle:
        start, end = (int(v) for v in np.append(shard.offsets, shard.size)[:2])
        record = _pread(handle.fileno(), end - start - FRAMING, start + 12)
    try:
        encoded = tf.io.parse_single_example(record, {image_key: tf.io.FixedLenFeature([], tf.string)})[
            image_key
        ]
        image = tf.io.decode_image(encoded, expand_animations=False)
    except tf.errors.OpError as err:
        raise DataFileError(
            describe(
                f"The first record of the TFRecord file {shard.file} has no image under {image_key!r}",
                received=err.message.splitlines()[0],
                accepted="an encoded JPEG, PNG, GIF or BMP image (bytes)",
                fix="pass feature_keys={'image': ..., 'label': ...} naming your records' features",
            )
        ) from None
    return tuple(int(d) for d in image.shape)


def _decode_images(images: tf.Tensor, encoding: str, shape: tuple[int, ...], dtype: tf.DType) -> tf.Tensor:
    """Encoded images ``(b,)`` to ``(b, *shape)`` of ``dtype``, inside the graph."""
    if encoding == "raw":
        return tf.reshape(tf.io.decode_raw(images, dtype, little_endian=True), (-1, *shape))
    channels = shape[-1]

    def one(data: tf.Tensor) -> tf.Tensor:
        if encoding == "png":
            image = tf.io.decode_png(data, channels=channels, dtype=dtype)
        elif encoding == "jpeg":
            image = tf.io.decode_jpeg(data, channels=channels)
        else:
            image = tf.io.decode_image(data, channels=channels, dtype=dtype, expand_animations=False)
        return tf.ensure_shape(image, shape)

    # One image after another: the pipeline already decodes `parallel_calls` batches at once, and
    # map_fn's default of 10 parallel iterations on top oversubscribes the cores (3-4x slower here).
    return tf.map_fn(one, images, fn_output_signature=tf.TensorSpec(shape, dtype), parallel_iterations=1)


# Writing ----------------------------------------------------------------------


def _resolve_encoding(encoding: object, shape: tuple[int, ...], dtype: tf.DType) -> str:
    if encoding not in ENCODINGS:
        raise ConfigError(
            describe(
                "`encoding` must be one of the accepted values",
                received=f"encoding={encoding!r}",
                accepted=", ".join(repr(e) for e in ENCODINGS),
            )
        )
    image = len(shape) == 3 and 1 <= shape[-1] <= 4
    if encoding == "jpeg" and not (image and dtype == tf.uint8 and shape[-1] in (1, 3)):
        raise ConfigError(
            describe(
                "`encoding='jpeg'` stores uint8 images of 1 or 3 channels only",
                received=f"examples {dtype.name} of shape {shape}",
                fix="use encoding='png' (lossless; floats are stored raw) or 'raw'",
            )
        )
    if encoding == "png" and not (image and dtype in (tf.uint8, tf.uint16)):
        return "raw"  # PNG holds 8- and 16-bit pixels only: the rest is kept exactly as bytes
    return str(encoding)


def _default_shards(n: int, shape: tuple[int, ...], dtype: tf.DType) -> int:
    raw = n * math.prod(shape) * int(dtype.size)
    return max(1, min(n, math.ceil(raw / SHARD_BYTES)))


def _encoded_batches(
    source: ImageSource, encoding: str, batch_size: int
) -> Iterator[tuple[list[bytes], npt.NDArray[np.int64]]]:
    """The source's examples in order, encoded, a batch at a time: ``(payloads, labels)``."""
    shape = source.element_shape

    def encode(x: tf.Tensor) -> tf.Tensor:
        if encoding == "raw":
            return x
        if encoding == "png":
            return tf.map_fn(tf.io.encode_png, x, fn_output_signature=tf.TensorSpec([], tf.string))
        return tf.map_fn(
            lambda im: tf.io.encode_jpeg(im, quality=JPEG_QUALITY),
            x,
            fn_output_signature=tf.TensorSpec([], tf.string),
        )

    parallel = os.cpu_count() or 1
    if isinstance(source, IndexedSource):
        n = len(source)
        labels_all = source.labels
        starts = tf.data.Dataset.range(0, n, batch_size)

        def read(start: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
            indices = tf.range(start, tf.minimum(start + batch_size, n), dtype=tf.int64)
            return encode(source.read_batch(indices)), indices

        ds = starts.map(read, num_parallel_calls=parallel, deterministic=True)
    elif isinstance(source, StreamSource):
        labels_all = None
        ds = source.elements().batch(batch_size)
        ds = ds.map(
            lambda x, y: (encode(x), tf.cast(y, tf.int64)), num_parallel_calls=parallel, deterministic=True
        )
    else:
        raise DataError(
            describe(
                "write_tfrecords reads indexed sources and tf.data.Dataset sources",
                received=f"a source of type {type(source).__name__}",
            )
        )
    options = tf.data.Options()
    options.deterministic = True
    for encoded, second in ds.prefetch(2).with_options(options).as_numpy_iterator():
        labels = labels_all[second] if labels_all is not None else np.asarray(second, np.int64)
        if encoding == "raw":
            arr = np.asarray(encoded)
            arr = arr.astype(arr.dtype.newbyteorder("<"), copy=False).reshape(len(arr), *shape)
            payloads = [np.ascontiguousarray(a).tobytes() for a in arr]
        else:
            payloads = [bytes(b) for b in encoded]
        yield payloads, labels


def _example(payload: bytes, label: int, shape: tuple[int, ...]) -> bytes:
    def ints(*values: int) -> tf.train.Feature:
        return tf.train.Feature(int64_list=tf.train.Int64List(value=list(values)))

    feature = {
        FEATURE_KEYS["image"]: tf.train.Feature(bytes_list=tf.train.BytesList(value=[payload])),
        FEATURE_KEYS["label"]: ints(label),
        "shape": ints(*shape),
    }
    if len(shape) == 3:
        feature.update(height=ints(shape[0]), width=ints(shape[1]), channels=ints(shape[2]))
    example = tf.train.Example(features=tf.train.Features(feature=feature))
    return bytes(example.SerializeToString())


def _prepare_folder(root: Path, overwrite: bool) -> list[Path]:
    """Checks ``root`` may be written; returns the old shards and index to replace at the end."""
    if root.exists() and not root.is_dir():
        raise ConfigError(
            describe(
                "`folder` is a file, not a folder", received=f"folder={str(root)!r}", fix="pass a folder path"
            )
        )
    try:
        root.mkdir(parents=True, exist_ok=True)
        entries = list(root.iterdir())
    except OSError as err:
        raise storage_error(root, err, action="create") from None
    for leftover in entries:  # staging folders of writes that were killed
        if leftover.name.startswith(_STAGING) and leftover.is_dir():
            shutil.rmtree(leftover, ignore_errors=True)
    entries = [p for p in entries if not p.name.startswith(_STAGING)]
    if entries and not overwrite:
        shown = ", ".join(sorted(p.name for p in entries)[:5]) + (", ..." if len(entries) > 5 else "")
        raise ConfigError(
            describe(
                f"The folder {root} is not empty",
                received=f"{len(entries)} entries: {shown}",
                accepted="a new or empty folder",
                fix="pass another folder, or overwrite=True to replace the shards and index there "
                "(other files are kept)",
            )
        )
    return [p for p in entries if p.name == INDEX_NAME or _SHARD.fullmatch(p.name)]


def _check_positive(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ConfigError(describe(f"`{name}` must be an integer >= 1", received=f"{name}={value!r}"))
    return int(value)


def write_tfrecords(
    source: object,
    folder: str | os.PathLike[str],
    *,
    shards: int | None = None,
    encoding: str = "png",
    overwrite: bool = False,
    batch_size: int = WRITE_BATCH,
) -> TFRecordSource:
    """Writes a source as TFRecord shards plus an index, and opens them.

    The examples are read in the source's order (an indexed source by index,
    a ``tf.data.Dataset`` front to back), ``batch_size`` at a time, encoded in
    parallel inside ``tf.data``: memory holds a few batches, never the data
    set. Example ``i`` becomes record ``i``: shard ``k`` of ``S`` holds the
    examples ``k * n // S`` to ``(k + 1) * n // S - 1``.

    The write is atomic: the shards are written into a hidden staging folder
    inside ``folder`` and moved to their names once all are complete; the
    index is written last (atomically). A write that fails or is killed leaves
    no index (so nothing opens as complete) and, unless killed, no shard; a
    staging folder a killed write left is removed by the next write.

    Args:
        source: The examples: a :class:`~transferlab.data.LabeledImages`, any
            source, an ``(images, labels)`` pair of arrays or a
            ``tf.data.Dataset`` of ``(image, label)`` (see
            :func:`~transferlab.data.as_source`).
        folder: Where to write; created if missing; must be empty unless
            ``overwrite``.
        shards: The number of shard files (``1 <= shards <= examples``).
            Default: one per ~128 MB of raw pixels.
        encoding: ``"png"`` (the default: lossless; ``uint8`` / ``uint16``
            images as PNG, other dtypes as their raw bytes), ``"raw"`` (the
            dtype's bytes: largest, fastest to read) or ``"jpeg"`` (``uint8``
            images, quality 95: lossy, small).
        overwrite: Replace the shards and index already in ``folder`` (other
            files are kept). They are replaced only once the new shards are
            complete.
        batch_size: Examples read and encoded together.

    Returns:
        The written shards, opened as a :class:`TFRecordSource`.

    Raises:
        ConfigError: A bad argument; a non-empty ``folder`` without ``overwrite``.
        DataError: A source that cannot be written (a stream shorter or longer
            than its declared number of examples).
        StorageError: A shard or the index cannot be written (full disk,
            permissions), naming the file; nothing half-written is kept.

    Example:
        >>> import tempfile, numpy as np
        >>> from transferlab.data import LabeledImages
        >>> x = np.random.default_rng(0).random((4, 2, 2, 1)).astype("float32")
        >>> data = LabeledImages(x, np.array([0, 1, 1, 0]), ("a", "b"), pixel_range=(0, 1))
        >>> source = write_tfrecords(data, tempfile.mkdtemp())
        >>> source.encoding, source.pixel_range, bool((source.read_batch(tf.range(4, dtype=tf.int64)) == x).numpy().all())
        ('raw', (0.0, 1.0), True)
    """
    src = as_source(source, name="source")
    root = Path(folder)
    if not isinstance(overwrite, bool):
        raise ConfigError(describe("`overwrite` must be True or False", received=f"overwrite={overwrite!r}"))
    batch_size = _check_positive("batch_size", batch_size)
    shape, dtype = src.element_shape, src.element_dtype
    resolved = _resolve_encoding(encoding, shape, dtype)
    n = src.num_examples()
    if shards is None:
        shards = _default_shards(n, shape, dtype)
    count = _check_positive("shards", shards)
    if count > n:
        raise ConfigError(
            describe(
                "`shards` must not exceed the number of examples (no shard may be empty)",
                received=f"shards={count}, {n} examples",
                fix=f"pass shards <= {n}",
            )
        )
    old = _prepare_folder(root, overwrite)
    bounds = [k * n // count for k in range(count + 1)]
    names = [shard_name(k, count) for k in range(count)]
    try:
        staging = Path(tempfile.mkdtemp(prefix=_STAGING, dir=root))
    except OSError as err:
        raise storage_error(root, err, action="create a staging folder in") from None
    try:
        entries = _write_shards(src, staging, names, bounds, resolved, batch_size)
        index = _Index(src.class_names, src.pixel_range, shape, dtype, resolved, FEATURE_KEYS, tuple(entries))
        # Publish: no index while files move, then the new shards, then the index.
        for path in sorted(old, key=lambda p: p.name != INDEX_NAME):
            if path.name == INDEX_NAME or path.name not in names:
                _remove(path)
        for name in names:
            try:
                os.replace(staging / name, root / name)
            except OSError as err:
                raise storage_error(root / name, err) from None
        atomic_write_json(root / INDEX_NAME, index.to_json())
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return TFRecordSource(root)


def _remove(path: Path) -> None:
    try:
        path.unlink()
    except FileNotFoundError:
        pass
    except OSError as err:
        raise storage_error(path, err, action="remove") from None


class _ShardWriter:
    """Writes one shard's records, keeping their offsets, labels and digest."""

    def __init__(self, path: Path, name: str) -> None:
        self.path, self.name = path, name
        self.offsets: list[int] = []
        self.labels: list[int] = []
        self.position = 0
        self.digest = hashlib.sha256()
        self._writer = self._call(lambda: tf.io.TFRecordWriter(str(path)))

    def _call(self, action: Callable[[], _T]) -> _T:
        try:
            return action()
        except (OSError, tf.errors.OpError) as err:
            if isinstance(err, tf.errors.OpError):
                err = OSError(None, err.message.splitlines()[0] if err.message else type(err).__name__)
            raise storage_error(self.path.parent.parent / self.name, err) from None

    def write(self, record: bytes, label: int) -> None:
        self._call(lambda: self._writer.write(record))
        self.digest.update(record)
        self.offsets.append(self.position)
        self.labels.append(label)
        self.position += len(record) + FRAMING

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._writer.close()

    def finish(self) -> _Shard:
        """Closes the file, flushed to disk, and returns its index entry."""

        def sync() -> int:
            self._writer.close()
            with open(self.path, "rb") as handle:
                os.fsync(handle.fileno())
            return os.stat(self.path).st_size

        size = self._call(sync)
        offsets, labels = np.asarray(self.offsets, np.int64), np.asarray(self.labels, np.int64)
        return _Shard(self.name, size, offsets, labels, self.digest.hexdigest())


def _write_shards(
    source: ImageSource,
    staging: Path,
    names: Sequence[str],
    bounds: Sequence[int],
    encoding: str,
    batch_size: int,
) -> list[_Shard]:
    """Writes every record into ``staging``; returns the shards' index entries."""
    n, shape = bounds[-1], source.element_shape
    entries: list[_Shard] = []
    writer: _ShardWriter | None = None
    written = 0
    try:
        for payloads, labels in _read_errors(source, _encoded_batches(source, encoding, batch_size)):
            for payload, label in zip(payloads, labels.tolist()):
                if written >= n:
                    raise _count_error(n, "more")
                if writer is None or written == bounds[len(entries) + 1]:
                    if writer is not None:
                        entries.append(writer.finish())
                    name = names[len(entries)]
                    writer = _ShardWriter(staging / name, name)
                writer.write(_example(payload, int(label), shape), int(label))
                written += 1
        if writer is None or written < n:
            raise _count_error(n, f"only {written}")
        entries.append(writer.finish())
    finally:
        if writer is not None:
            writer.close()
    return entries


def _read_errors(
    source: ImageSource, batches: Iterator[tuple[list[bytes], npt.NDArray[np.int64]]]
) -> Iterator[tuple[list[bytes], npt.NDArray[np.int64]]]:
    """``batches``, with TensorFlow's error on an unreadable input replaced by the source's own."""
    try:
        yield from batches
    except tf.errors.OpError as err:
        found = source.diagnose()
        if found is not None:
            raise found from err
        raise


def _count_error(n: int, got: str) -> DataError:
    return DataError(
        describe(
            "The source yielded another number of examples than it declares",
            received=f"{got} examples",
            accepted=f"{n} examples (its num_examples())",
            fix="pass the right num_examples= to StreamSource, or leave it out to count the stream",
        )
    )
