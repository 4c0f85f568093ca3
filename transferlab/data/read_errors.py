"""TensorFlow's error on an unreadable example, turned into the source's own error naming the file."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import tensorflow as tf

from transferlab.data.source import ImageSource

__all__ = ["READ_ERRORS", "naming_bad_files"]

#: TensorFlow errors that reading a source can raise (a damaged file, a file gone).
READ_ERRORS = (
    tf.errors.InvalidArgumentError,
    tf.errors.NotFoundError,
    tf.errors.DataLossError,
    tf.errors.UnknownError,
)


@contextlib.contextmanager
def naming_bad_files(*sources: ImageSource | None) -> Iterator[None]:
    """Inside: a read error of TensorFlow becomes the first source's diagnosis (a file named).

    When no source finds a cause (:meth:`~transferlab.data.source.ImageSource.diagnose`
    returns ``None``), TensorFlow's error goes on as it was.

    Example:
        >>> import numpy as np
        >>> from transferlab.data.source import as_source
        >>> from transferlab.errors import DataFileError
        >>> source = as_source((np.zeros((2, 2, 2), "uint8"), np.array([0, 1])))
        >>> source.diagnose = lambda: DataFileError("cat/3.png is damaged")
        >>> with naming_bad_files(source):
        ...     raise tf.errors.InvalidArgumentError(None, None, "Input is empty.")
        Traceback (most recent call last):
        ...
        transferlab.errors.DataFileError: cat/3.png is damaged
    """
    try:
        yield
    except READ_ERRORS:
        for source in sources:
            found = source.diagnose() if source is not None else None
            if found is not None:
                raise found from None
        raise
