"""The train and test splits of a data set, as loaded."""

from __future__ import annotations

import dataclasses

from transferlab.data.labeled_images import LabeledImages

__all__ = ["DatasetSplits"]


@dataclasses.dataclass(frozen=True)
class DatasetSplits:
    """A data set's splits: ``train`` and ``test``, plus where it came from.

    Attributes:
        name: The data set's name (``"mnist"``).
        train: The training split.
        test: The test split.
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
    train: LabeledImages
    test: LabeledImages
    source: str = ""

    def summary(self) -> str:
        """A small table: examples, image shape and per-class counts per split."""
        lines = [f"{self.name} (from {self.source})" if self.source else self.name]
        lines.append(f"{'split':<8}{'examples':<10}{'image':<10}per class")
        for split_name, split in (("train", self.train), ("test", self.test)):
            shape = split.image_shape if len(split.image_shape) == 3 else (*split.image_shape, 1)
            image = "x".join(str(d) for d in shape)
            counts = " ".join(
                f"{name}:{count}" for name, count in zip(split.class_names, split.class_counts())
            )
            lines.append(f"{split_name:<8}{len(split):<10}{image:<10}{counts}")
        return "\n".join(lines)
