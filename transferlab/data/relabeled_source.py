"""An indexed source read as another, with new labels and class names (what select_classes makes)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
import tensorflow as tf

from transferlab.data.fingerprint import arrays_digest
from transferlab.data.source import IndexedSource
from transferlab.errors import DataError, describe

__all__ = ["RelabeledSource"]


class RelabeledSource(IndexedSource):
    """The examples of ``parent``, in its order, read from it, under new labels.

    Nothing is read or copied: images come from ``parent`` (its files, its
    per-example reader, its errors naming a file); only the labels and class
    names are this source's. A relabelled source of a relabelled source reads
    from the first parent.

    Args:
        parent: The source the examples are read from.
        labels: One new label per example of ``parent``, in ``[0, len(class_names))``.
        class_names: The new classes, in label order.

    Raises:
        DataError: Labels that are not one integer per example of ``parent``,
            or out of range of ``class_names``.

    Example:
        >>> import numpy as np
        >>> from transferlab.data.source import as_source
        >>> parent = as_source((np.arange(4, dtype="uint8").reshape(4, 1, 1), np.array([0, 1, 2, 1])))
        >>> source = RelabeledSource(parent, [1, 0, 1, 0], ("odd", "even"))
        >>> source.labels.tolist(), source.class_names, source.take([3]).labels.tolist()
        ([1, 0, 1, 0], ('odd', 'even'), [0])
    """

    def __init__(
        self,
        parent: IndexedSource,
        labels: Sequence[int] | npt.NDArray[np.generic[object]],
        class_names: Sequence[str],
    ) -> None:
        names = tuple(str(n) for n in class_names)
        new = np.asarray(labels)
        if new.ndim != 1 or len(new) != len(parent) or (new.size and new.dtype.kind not in "iu"):
            raise DataError(
                describe(
                    "`labels` must hold one integer label per example of the source",
                    received=f"labels of shape {new.shape} and dtype {new.dtype} for {len(parent)} examples",
                )
            )
        if new.size and (new.min() < 0 or new.max() >= len(names)):
            raise DataError(
                describe(
                    f"`labels` must lie in [0, {len(names)}) for {len(names)} class names",
                    received=f"labels from {int(new.min())} to {int(new.max())}",
                )
            )
        if isinstance(parent, RelabeledSource):
            parent = parent.parent
        self.parent: IndexedSource = parent
        self.class_names = names
        self.pixel_range = parent.pixel_range
        self.reads_elements = parent.reads_elements
        self._labels: npt.NDArray[np.int64] = new.astype(np.int64)

    @property
    def labels(self) -> npt.NDArray[np.int64]:
        return self._labels

    @property
    def element_shape(self) -> tuple[int, ...]:
        return self.parent.element_shape

    @property
    def element_dtype(self) -> tf.DType:
        return self.parent.element_dtype

    def read_element(self, index: tf.Tensor) -> tf.Tensor:
        return self.parent.read_element(index)

    def read_batch(self, indices: tf.Tensor) -> tf.Tensor:
        return self.parent.read_batch(indices)

    def files(self, indices: npt.ArrayLike) -> list[str]:
        return self.parent.files(indices)

    def take(self, indices: Sequence[int] | npt.NDArray[np.int64]) -> IndexedSource:
        idx = np.asarray(indices, np.int64)
        subset = self.parent.take(idx)  # checks the indices first
        return RelabeledSource(subset, self._labels[idx], self.class_names)

    def fingerprint(self) -> dict[str, object]:
        return {
            "relabeled": self.parent.fingerprint(),
            "labels": arrays_digest(self._labels),
            "class_names": list(self.class_names),
        }

    def summary(self) -> dict[str, object]:
        return {**super().summary(), "read_from": type(self.parent).__name__}

    def diagnose(self) -> Exception | None:
        return self.parent.diagnose()
