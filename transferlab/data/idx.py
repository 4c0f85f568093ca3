"""Reading and writing IDX files, the format of MNIST, Fashion-MNIST and KMNIST.

An IDX file is a 4-byte magic number ``0x00 0x00 <dtype code> <ndim>``, then
``ndim`` big-endian ``uint32`` dimensions, then the values, big-endian, in C
order. The files are often gzipped; :func:`read_idx` detects that from the
content (the gzip magic bytes), never from the file name.

Example:
    >>> import tempfile, numpy as np
    >>> from pathlib import Path
    >>> path = Path(tempfile.mkdtemp()) / "labels-idx1-ubyte.gz"
    >>> write_idx(path, np.array([3, 1, 4], dtype="uint8"))
    >>> read_idx(path).tolist()
    [3, 1, 4]
"""

from __future__ import annotations

import gzip as _gzip
import hashlib
import os
import zlib
from pathlib import Path

import numpy as np
import numpy.typing as npt

from transferlab._atomic import atomic_write_bytes
from transferlab.errors import ChecksumError, DataError, DataFileError, describe

__all__ = ["read_idx", "write_idx"]

# IDX dtype code -> numpy dtype (big-endian on disk).
_CODES: dict[int, np.dtype[np.generic[object]]] = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_NAMES = {code: dtype.newbyteorder("=").name for code, dtype in _CODES.items()}
_ACCEPTED_CODES = ", ".join(f"0x{code:02X} ({name})" for code, name in _NAMES.items())
_GZIP_MAGIC = b"\x1f\x8b"


def read_idx(path: str | os.PathLike[str], *, sha256: str | None = None) -> npt.NDArray[np.generic[object]]:
    """Reads an IDX file (gzipped or not) into a numpy array.

    The file is read once; the checksum (if given) is computed on the bytes as
    stored, then the values are parsed with ``numpy.frombuffer``.

    Args:
        path: The file. Gzip compression is detected from its first bytes.
        sha256: If given, the expected SHA-256 (hex) of the file as stored;
            a mismatch raises :class:`~transferlab.errors.ChecksumError`.

    Returns:
        A writable, native-endian array of the file's shape and dtype
        (``uint8``, ``int8``, ``int16``, ``int32``, ``float32`` or ``float64``).

    Raises:
        DataFileError: The file is missing, empty, not gzip-readable, has a
            wrong magic number, an unknown dtype code, fewer bytes than its
            dimensions say (truncated) or more (trailing garbage).
        ChecksumError: ``sha256`` was given and differs.

    Example:
        >>> import tempfile, numpy as np
        >>> from pathlib import Path
        >>> path = Path(tempfile.mkdtemp()) / "images-idx3-ubyte"
        >>> write_idx(path, np.arange(12, dtype="int16").reshape(2, 2, 3))
        >>> array = read_idx(path)
        >>> array.shape, array.dtype.name, int(array[1, 1, 2])
        ((2, 2, 3), 'int16', 11)
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise DataFileError(
            describe(
                f"IDX file {path} does not exist",
                fix="check the path, or download the file again",
            )
        ) from None
    except IsADirectoryError:
        raise DataFileError(
            describe(f"{path} is a folder, not an IDX file", fix="pass the path of a file")
        ) from None
    if sha256 is not None:
        actual = hashlib.sha256(raw).hexdigest()
        if actual != sha256.lower():
            raise ChecksumError(
                describe(
                    f"{path} is corrupt or not the published file: its sha256 differs",
                    received=f"sha256 {actual}",
                    accepted=f"sha256 {sha256.lower()}",
                    fix=f"delete {path} and download the file again from an official source",
                )
            )
    if not raw:
        raise DataFileError(
            describe(
                f"IDX file {path} is empty (0 bytes)",
                fix="delete it and download the file again; an interrupted copy leaves empty files",
            )
        )
    data = _decompress(raw, path) if raw[:2] == _GZIP_MAGIC else raw
    return _parse(data, path, gzipped=raw[:2] == _GZIP_MAGIC)


def _decompress(raw: bytes, path: Path) -> bytes:
    try:
        return _gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as err:
        raise DataFileError(
            describe(
                f"IDX file {path} starts like a gzip file but cannot be decompressed (truncated or corrupt)",
                received=f"{len(raw)} bytes; gzip said: {err}",
                fix="delete it and download the file again",
            )
        ) from None


def _parse(data: bytes, path: Path, *, gzipped: bool) -> npt.NDArray[np.generic[object]]:
    what = f"IDX file {path}" + (" (after gunzip)" if gzipped else "")
    if not data:
        raise DataFileError(
            describe(f"{what} is empty (0 bytes)", fix="delete it and download the file again")
        )
    if len(data) < 4:
        raise DataFileError(
            describe(
                f"{what} is truncated: shorter than the 4-byte magic number",
                received=f"{len(data)} bytes",
                fix="delete it and download the file again",
            )
        )
    zero, code, ndim = int.from_bytes(data[:2], "big"), data[2], data[3]
    if zero != 0:
        raise DataFileError(
            describe(
                f"{what} is not an IDX file: wrong magic number",
                received=f"magic 0x{data[:4].hex().upper()}",
                accepted="0x0000 followed by a dtype code and the number of dimensions, "
                "e.g. 0x00000803 for uint8 images",
                fix="pass an IDX file (e.g. train-images-idx3-ubyte[.gz]); "
                "a file saved by numpy or an image is not one",
            )
        )
    if code not in _CODES:
        raise DataFileError(
            describe(
                f"{what} has an unknown IDX dtype code",
                received=f"code 0x{code:02X} (magic 0x{data[:4].hex().upper()})",
                accepted=_ACCEPTED_CODES,
                fix="the file is corrupt or not an IDX file; download it again",
            )
        )
    if ndim == 0:
        raise DataFileError(
            describe(
                f"{what} declares 0 dimensions",
                received=f"magic 0x{data[:4].hex().upper()}",
                accepted="1 or more dimensions",
                fix="the file is corrupt; download it again",
            )
        )
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DataFileError(
            describe(
                f"{what} is truncated inside its header",
                received=f"{len(data)} bytes",
                accepted=f"at least {header} bytes for {ndim} dimensions",
                fix="delete it and download the file again",
            )
        )
    dims = tuple(int(d) for d in np.frombuffer(data, dtype=">u4", count=ndim, offset=4))
    dtype = _CODES[code]
    count = int(np.prod(dims, dtype=object))
    expected = header + count * dtype.itemsize
    if len(data) < expected:
        raise DataFileError(
            describe(
                f"{what} is truncated: it holds fewer bytes than its dimensions say",
                received=f"{len(data)} bytes",
                accepted=f"{expected} bytes for shape {dims} of {_NAMES[code]}",
                fix="delete it and download the file again",
            )
        )
    if len(data) > expected:
        raise DataFileError(
            describe(
                f"{what} has trailing garbage after the values its dimensions say",
                received=f"{len(data)} bytes ({len(data) - expected} extra)",
                accepted=f"{expected} bytes for shape {dims} of {_NAMES[code]}",
                fix="the file is corrupt or was concatenated with another; download it again",
            )
        )
    values = np.frombuffer(data, dtype=dtype, count=count, offset=header)
    return values.reshape(dims).astype(dtype.newbyteorder("="), copy=True)


def write_idx(path: str | os.PathLike[str], array: npt.ArrayLike, *, gzip: bool | None = None) -> None:
    """Writes an array as an IDX file, atomically (temporary file, then rename).

    Args:
        path: Where to write. The folder must exist.
        array: A ``uint8``, ``int8``, ``int16``, ``int32``, ``float32`` or
            ``float64`` array with at least one dimension.
        gzip: Compress with gzip (fixed timestamp, so the bytes are
            reproducible). ``None``: compress when the name ends in ``.gz``.

    Raises:
        DataError: The dtype or rank cannot be stored in IDX.

    Example:
        >>> import tempfile, numpy as np
        >>> from pathlib import Path
        >>> path = Path(tempfile.mkdtemp()) / "x-idx2-ubyte"
        >>> write_idx(path, np.ones((2, 3), "uint8"))
        >>> path.read_bytes()[:4].hex(), path.stat().st_size
        ('00000802', 18)
    """
    path = Path(path)
    arr = np.asarray(array)
    native = arr.dtype.newbyteorder("=")
    code = next((c for c, dt in _CODES.items() if dt.newbyteorder("=") == native), None)
    if code is None:
        raise DataError(
            describe(
                "IDX cannot store this dtype",
                received=f"dtype={arr.dtype}",
                accepted=", ".join(_NAMES.values()),
                fix="convert first, e.g. array.astype('int32') or array.astype('float32')",
            )
        )
    if not 1 <= arr.ndim <= 255 or any(d >= 2**32 for d in arr.shape):
        raise DataError(
            describe(
                "IDX stores arrays of 1 to 255 dimensions, each below 2**32",
                received=f"shape={arr.shape}",
                fix="reshape the array, e.g. a scalar to shape (1,)",
            )
        )
    header = bytes([0, 0, code, arr.ndim]) + np.asarray(arr.shape, dtype=">u4").tobytes()
    payload = header + np.ascontiguousarray(arr, dtype=_CODES[code]).tobytes()
    if gzip is None:
        gzip = path.name.endswith(".gz")
    if gzip:
        payload = _gzip.compress(payload, mtime=0)
    atomic_write_bytes(path, payload)
