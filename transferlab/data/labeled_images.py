"""A validated set of images with integer labels: what every data function passes around."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from transferlab.errors import DataError, describe

__all__ = ["DEFAULT_PIXEL_RANGE", "LabeledImages", "check_pixel_range"]

#: The range of raw pixel values: what sources hold unless they declare another.
DEFAULT_PIXEL_RANGE: tuple[float, float] = (0.0, 255.0)


def check_pixel_range(value: object, name: str = "pixel_range") -> tuple[float, float]:
    """``value`` as a ``(low, high)`` pair of finite floats with ``low < high``.

    Example:
        >>> check_pixel_range((0, 1))
        (0.0, 1.0)
    """
    try:
        low, high = (float(v) for v in value)  # type: ignore[attr-defined]
    except (TypeError, ValueError):
        low = high = math.nan
    if not (math.isfinite(low) and math.isfinite(high) and low < high):
        raise DataError(
            describe(
                f"`{name}` must be (low, high), two finite numbers with low < high",
                received=f"{name}={value!r}",
                accepted="(0, 255) for raw pixels (the default), (0, 1), (-1, 1), ...",
                fix=f"pass e.g. {name}=(0, 1) for images scaled to [0, 1]",
            )
        )
    return (low, high)


@dataclasses.dataclass(frozen=True, eq=False)
class LabeledImages:
    """Images and their labels, checked once on creation.

    Attributes:
        images: ``uint8`` array ``(N, height, width)`` or
            ``(N, height, width, channels)`` with values in [0, 255], or a
            float array of the same ranks with finite values.
        labels: Integer array ``(N,)`` with values in ``[0, num_classes)``.
        class_names: One name per class; label ``i`` is ``class_names[i]``.
        pixel_range: ``(low, high)`` of the pixel values: ``(0, 255)`` (raw
            pixels, the default) or, for float images, another range such as
            ``(0, 1)``; pipelines scale them to raw pixels. Float images that
            all lie in ``[0, 1]`` without a declared range are refused (they
            would be divided by 255 twice).

    Example:
        >>> import numpy as np
        >>> data = LabeledImages(np.zeros((4, 28, 28), "uint8"), np.array([0, 1, 1, 0]),
        ...                      class_names=("zero", "one"))
        >>> len(data), data.num_classes, data.class_counts().tolist()
        (4, 2, [2, 2])
    """

    images: npt.NDArray[np.generic[object]]
    labels: npt.NDArray[np.generic[object]]
    class_names: tuple[str, ...]
    pixel_range: tuple[float, float] = DEFAULT_PIXEL_RANGE

    def __post_init__(self) -> None:
        images = np.asarray(self.images)
        labels = np.asarray(self.labels)
        names = tuple(str(n) for n in self.class_names)
        if images.ndim not in (3, 4):
            raise DataError(
                describe(
                    "`images` must have shape (N, height, width) or (N, height, width, channels)",
                    received=f"images.shape={images.shape}",
                    fix="stack the images into one array; add a channel axis with x[..., None]",
                )
            )
        if images.ndim == 4 and images.shape[-1] not in (1, 3):
            raise DataError(
                describe(
                    "`images` must have 1 or 3 channels (the last axis)",
                    received=f"images.shape={images.shape}",
                    fix="pass channels-last images: (N, height, width, channels)",
                )
            )
        if images.dtype != np.uint8:
            if not np.issubdtype(images.dtype, np.floating):
                raise DataError(
                    describe(
                        "`images` must be uint8 or floating point",
                        received=f"images.dtype={images.dtype}",
                        fix="convert with images.astype('uint8') for pixels in [0, 255]",
                    )
                )
            if images.size and not np.isfinite(images).all():
                bad = int(np.size(images) - np.isfinite(images).sum())
                raise DataError(
                    describe(
                        "`images` contains NaN or infinite values",
                        received=f"{bad} non-finite values",
                        fix="drop or repair those images before building the data set",
                    )
                )
        pixel_range = check_pixel_range(self.pixel_range)
        if images.dtype == np.uint8 and pixel_range != DEFAULT_PIXEL_RANGE:
            raise DataError(
                describe(
                    "`uint8` images hold raw pixels: their `pixel_range` is (0, 255)",
                    received=f"pixel_range={self.pixel_range!r} with images.dtype=uint8",
                    fix="leave pixel_range at its default, or pass float images",
                )
            )
        if (
            images.dtype != np.uint8
            and pixel_range == DEFAULT_PIXEL_RANGE
            and images.size
            and float(images.min()) >= 0.0
            and 0.0 < float(images.max()) <= 1.0
        ):
            raise DataError(
                describe(
                    "The float `images` all lie in [0, 1], but `pixel_range` says raw pixels in "
                    "[0, 255]: they would be divided by 255 twice",
                    received=f"images in [{float(images.min()):g}, {float(images.max()):g}], "
                    f"pixel_range={self.pixel_range!r}",
                    fix="declare the range: LabeledImages(images, labels, class_names, "
                    "pixel_range=(0, 1)), or pass images * 255",
                )
            )
        if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
            raise DataError(
                describe(
                    "`labels` must be a 1-D integer array",
                    received=f"labels.shape={labels.shape}, labels.dtype={labels.dtype}",
                    fix="pass class indices, not one-hot vectors: labels.argmax(-1)",
                )
            )
        if len(labels) != len(images):
            raise DataError(
                describe(
                    "`images` and `labels` must have the same length",
                    received=f"{len(images)} images, {len(labels)} labels",
                )
            )
        if not names:
            raise DataError(describe("`class_names` must name at least one class"))
        if labels.size and (labels.min() < 0 or labels.max() >= len(names)):
            raise DataError(
                describe(
                    f"`labels` must lie in [0, {len(names)}) for {len(names)} classes",
                    received=f"labels in [{labels.min()}, {labels.max()}]",
                    fix="re-index the labels (select_classes does it) or pass all class names",
                )
            )
        object.__setattr__(self, "images", images)
        object.__setattr__(self, "labels", labels.astype(np.int64, copy=False))
        object.__setattr__(self, "class_names", names)
        object.__setattr__(self, "pixel_range", pixel_range)

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    @property
    def num_classes(self) -> int:
        """How many classes there are (``len(class_names)``)."""
        return len(self.class_names)

    @property
    def image_shape(self) -> tuple[int, ...]:
        """The shape of one image, ``(height, width)`` or ``(height, width, channels)``."""
        return tuple(self.images.shape[1:])

    def class_counts(self) -> npt.NDArray[np.intp]:
        """How many examples each class has, as an array of ``num_classes`` ints."""
        return np.bincount(self.labels, minlength=self.num_classes)

    def take(self, indices: Sequence[int] | npt.NDArray[np.generic[object]]) -> LabeledImages:
        """Returns the examples at ``indices``, in that order.

        Example:
            >>> import numpy as np
            >>> data = LabeledImages(np.zeros((3, 2, 2), "uint8"), np.array([0, 1, 2]), ("a", "b", "c"))
            >>> data.take([2, 0]).labels.tolist()
            [2, 0]
        """
        idx = np.asarray(indices, dtype=np.int64)
        return LabeledImages(self.images[idx], self.labels[idx], self.class_names, self.pixel_range)
