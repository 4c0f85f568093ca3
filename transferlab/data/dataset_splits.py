"""The train and test splits of a data set, as loaded (in memory or as sources)."""

from __future__ import annotations

import dataclasses
from typing import Generic

from typing_extensions import TypeVar

from transferlab.data.labeled_images import LabeledImages
from transferlab.data.source import ImageSource, IndexedSource, as_source

__all__ = ["DatasetSplits"]

#: What a split is: in-memory images (MNIST, IDX) or a source (an image folder, TFRecords).
Split = TypeVar("Split", bound="LabeledImages | ImageSource", default=LabeledImages, covariant=True)


@dataclasses.dataclass(frozen=True)
class DatasetSplits(Generic[Split]):
    """A data set's splits: ``train`` and ``test``, plus where it came from.

    Attributes:
        name: The data set's name (``"mnist"``).
        train: The training split: ``LabeledImages`` or a source.
        test: The test split, of the same kind.
        source: Where the files were read from (a folder or cache path).

    Example:
        >>> import numpy as np
        >>> split = LabeledImages(np.zeros((2, 28, 28), "uint8"), np.array([0, 1]), ("0", "1"))
        >>> print(DatasetSplits("toy", split, split, source="memory").summary())
        toy (from memory)
        split   examples  image     per class
        train   2         28x28x1   0:1 1:1
        test    2         28x28x1   0:1 1:1
    """

    name: str
    train: Split
    test: Split
    source: str = ""

    def summary(self) -> str:
        """A small table: examples, image shape and per-class counts per split.

        A stream (a ``tf.data.Dataset`` source) has no per-class counts before
        it is read: ``?``.
        """
        lines = [f"{self.name} (from {self.source})" if self.source else self.name]
        lines.append(f"{'split':<8}{'examples':<10}{'image':<10}per class")
        for split_name, split in (("train", self.train), ("test", self.test)):
            source = as_source(split, name=split_name)
            image = "x".join(str(d) for d in source.element_shape)
            counts = (
                " ".join(f"{name}:{count}" for name, count in zip(source.class_names, source.class_counts()))
                if isinstance(source, IndexedSource)
                else "?"
            )
            lines.append(f"{split_name:<8}{source.num_examples():<10}{image:<10}{counts}")
        return "\n".join(lines)
