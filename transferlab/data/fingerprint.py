"""Digests of data: what a run's identity records instead of the data itself."""

from __future__ import annotations

import hashlib

import numpy as np
import numpy.typing as npt

from transferlab.errors import DataError, describe

__all__ = ["arrays_digest"]


def arrays_digest(*arrays: npt.ArrayLike) -> str:
    """SHA-256 (hex) over the dtype, shape and bytes of each array, in order.

    Raises:
        DataError: An array of Python objects (its bytes are pointers).

    Example:
        >>> import numpy as np
        >>> x = np.arange(6, dtype="uint8").reshape(2, 3)
        >>> arrays_digest(x) == arrays_digest(x.copy()), arrays_digest(x) == arrays_digest(x.reshape(3, 2))
        (True, False)
        >>> arrays_digest(x) == arrays_digest(x.astype("int64"))
        False
    """
    h = hashlib.sha256(f"transferlab.arrays_digest/1 {len(arrays)}\n".encode())
    for index, array in enumerate(arrays):
        arr = np.asarray(array)
        if arr.dtype.hasobject:
            raise DataError(
                describe(
                    "Arrays of Python objects cannot be hashed",
                    received=f"array {index} of dtype {arr.dtype}",
                    fix="pass numeric arrays (e.g. np.asarray(images, 'uint8'))",
                )
            )
        arr = np.ascontiguousarray(arr)
        h.update(f"{arr.dtype.str} {list(arr.shape)} {arr.nbytes}\n".encode())
        h.update(arr.reshape(-1).view(np.uint8).data)
    return h.hexdigest()
