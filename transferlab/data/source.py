"""Sources of labelled images: what training, evaluation and prediction read from.

A source says where examples come from and how to read them; it holds no
order and no batches (:func:`transferlab.data.make_pipeline` makes those).
Two kinds:

* :class:`IndexedSource`: examples ``0 .. n-1`` that can be read in any order
  (arrays, an image folder read lazily, TFRecord shards with an index). An
  epoch's order is then a pure function of ``(seed, epoch)``, a run resumes in
  the middle of an epoch exactly, and several workers each read only their
  share.
* :class:`StreamSource`: any ``tf.data.Dataset`` of ``(image, label)``. It is
  read front to back; a run resumes at epoch boundaries.

Every source declares the range of the pixel values it yields
(``pixel_range``, ``(0, 255)`` unless said otherwise); pipelines hand the
model raw pixels in ``[0, 255]``, so a source in ``[0, 1]`` is scaled up, never
divided by 255 twice.

Example:
    >>> import numpy as np
    >>> source = as_source((np.zeros((6, 4, 4), "uint8"), np.arange(6) % 3))
    >>> type(source).__name__, len(source), source.class_names, source.element_shape
    ('ArraySource', 6, ('0', '1', '2'), (4, 4, 1))
"""

from __future__ import annotations

import abc
import hashlib
import logging
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
import tensorflow as tf

from transferlab.data.fingerprint import arrays_digest
from transferlab.data.labeled_images import DEFAULT_PIXEL_RANGE, LabeledImages, check_pixel_range
from transferlab.errors import DataError, describe

__all__ = [
    "ArraySource",
    "ImageSource",
    "IndexedSource",
    "StreamSource",
    "SubsetSource",
    "as_source",
]

logger = logging.getLogger(__name__)

#: What ``as_source`` accepts, for messages.
ACCEPTED_DATA = (
    "a transferlab LabeledImages, a source (ArraySource, ImageFolderSource, TFRecordSource, "
    "StreamSource), a (images, labels) pair of NumPy arrays, or a tf.data.Dataset of (image, label)"
)
#: Examples a stream's fingerprint and pixel-range check look at.
PEEK_EXAMPLES = 64


class ImageSource(abc.ABC):
    """Where a data set's labelled images come from.

    Attributes:
        class_names: One name per class; label ``i`` is ``class_names[i]``.
        pixel_range: ``(low, high)`` of the pixel values read, or ``None``
            for values that are not pixels (cached features): not rescaled.
    """

    class_names: tuple[str, ...]
    pixel_range: tuple[float, float] | None

    @property
    def num_classes(self) -> int:
        """How many classes there are (``len(class_names)``)."""
        return len(self.class_names)

    @property
    @abc.abstractmethod
    def element_shape(self) -> tuple[int, ...]:
        """The shape of one example as read (``(height, width, channels)`` for images)."""

    @property
    @abc.abstractmethod
    def element_dtype(self) -> tf.DType:
        """The dtype examples are read in (the pipeline converts to ``float32``)."""

    @abc.abstractmethod
    def num_examples(self) -> int:
        """How many examples one epoch has."""

    @abc.abstractmethod
    def fingerprint(self) -> dict[str, object]:
        """A JSON description that changes when the examples change (for a run's identity)."""

    def summary(self) -> dict[str, object]:
        """What ``transferlab data`` prints about the source."""
        return {
            "kind": type(self).__name__,
            "examples": self.num_examples(),
            "classes": list(self.class_names),
            "element_shape": list(self.element_shape),
            "dtype": self.element_dtype.name,
            "pixel_range": list(self.pixel_range) if self.pixel_range is not None else None,
        }

    def diagnose(self) -> Exception | None:
        """After reading failed inside TensorFlow: an error naming the cause (a file), or ``None``."""
        return None


class IndexedSource(ImageSource):
    """Examples ``0 .. n-1``, each readable on its own: exact order, resume and sharding.

    A subclass implements :attr:`labels`, :attr:`element_shape`,
    :attr:`element_dtype`, :meth:`fingerprint`, and one of the readers:
    :meth:`read_batch` (vectorised, e.g. a gather from memory; set
    ``reads_elements = False``) or :meth:`read_element` (one example, e.g. one
    file decoded; ``reads_elements = True``, the default), both inside a
    ``tf.data`` graph.
    """

    #: Whether the pipeline reads example by example (in parallel) or a batch at once.
    reads_elements: bool = True

    @property
    @abc.abstractmethod
    def labels(self) -> npt.NDArray[np.int64]:
        """Every example's label, ``(n,)`` integers in ``[0, num_classes)``."""

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def num_examples(self) -> int:
        return len(self)

    def class_counts(self) -> npt.NDArray[np.intp]:
        """How many examples each class has."""
        return np.bincount(self.labels, minlength=self.num_classes)

    def read_element(self, index: tf.Tensor) -> tf.Tensor:
        """Example ``index`` (an int64 scalar tensor), shape :attr:`element_shape`."""
        raise NotImplementedError(f"{type(self).__name__} reads batches: call read_batch")

    def read_batch(self, indices: tf.Tensor) -> tf.Tensor:
        """Examples ``indices`` (int64 ``(b,)``), shape ``(b, *element_shape)``."""
        spec = tf.TensorSpec(self.element_shape, self.element_dtype)
        return tf.map_fn(self.read_element, indices, fn_output_signature=spec)

    def files(self, indices: npt.ArrayLike) -> list[str]:
        """The files examples ``indices`` are read from (none for in-memory sources)."""
        return []

    def take(self, indices: Sequence[int] | npt.NDArray[np.int64]) -> IndexedSource:
        """The examples at ``indices``, in that order, as a source (nothing is read)."""
        return SubsetSource(self, indices)


class SubsetSource(IndexedSource):
    """Some examples of another indexed source, by index, in a given order.

    Example:
        >>> import numpy as np
        >>> parent = as_source((np.arange(5, dtype="uint8").reshape(5, 1, 1), np.arange(5)))
        >>> sub = parent.take([4, 1])
        >>> len(sub), sub.labels.tolist(), int(sub.read_batch(tf.constant([0], tf.int64))[0, 0, 0, 0])
        (2, [4, 1], 4)
    """

    def __init__(self, parent: IndexedSource, indices: Sequence[int] | npt.NDArray[np.int64]) -> None:
        idx = np.asarray(indices)
        if idx.ndim != 1 or (idx.size and not np.issubdtype(idx.dtype, np.integer)):
            raise DataError(
                describe("`indices` must be a 1-D sequence of integers", received=f"shape {idx.shape}")
            )
        idx = idx.astype(np.int64)
        parent_source: IndexedSource = parent
        if idx.size and (idx.min() < 0 or idx.max() >= len(parent)):
            raise DataError(
                describe(
                    "`indices` out of range",
                    received=f"indices from {int(idx.min())} to {int(idx.max())}",
                    accepted=f"0 .. {len(parent) - 1}",
                )
            )
        if isinstance(parent, SubsetSource):
            idx, parent_source = parent.indices[idx], parent.parent
        self.parent: IndexedSource = parent_source
        self.indices: npt.NDArray[np.int64] = idx
        self.class_names = parent_source.class_names
        self.pixel_range = parent_source.pixel_range
        self.reads_elements = parent_source.reads_elements
        self._labels: npt.NDArray[np.int64] = parent_source.labels[idx]
        self._map: tf.Tensor | None = None

    @property
    def labels(self) -> npt.NDArray[np.int64]:
        return self._labels

    @property
    def element_shape(self) -> tuple[int, ...]:
        return self.parent.element_shape

    @property
    def element_dtype(self) -> tf.DType:
        return self.parent.element_dtype

    def _parent_index(self, index: tf.Tensor) -> tf.Tensor:
        if self._map is None:
            with tf.init_scope():  # an eager tensor, shared by every pipeline built from the subset
                self._map = tf.constant(self.indices, tf.int64)
        return tf.gather(self._map, index)

    def read_element(self, index: tf.Tensor) -> tf.Tensor:
        return self.parent.read_element(self._parent_index(index))

    def read_batch(self, indices: tf.Tensor) -> tf.Tensor:
        return self.parent.read_batch(self._parent_index(indices))

    def files(self, indices: npt.ArrayLike) -> list[str]:
        return self.parent.files(self.indices[np.asarray(indices, np.int64)])

    def fingerprint(self) -> dict[str, object]:
        return {"subset_of": self.parent.fingerprint(), "indices": arrays_digest(self.indices)}

    def diagnose(self) -> Exception | None:
        return self.parent.diagnose()


class ArraySource(IndexedSource):
    """Images in memory (a :class:`LabeledImages`), read by gathering from one tensor.

    The tensor is made once per source and shared by every pipeline built
    from it (no copy per epoch).

    Example:
        >>> import numpy as np
        >>> data = LabeledImages(np.ones((3, 2, 2), "float32"), np.array([0, 1, 0]), ("a", "b"),
        ...                      pixel_range=(0, 1))
        >>> source = ArraySource(data)
        >>> source.pixel_range, source.element_shape, source.element_dtype.name
        ((0.0, 1.0), (2, 2, 1), 'float32')
    """

    reads_elements = False

    def __init__(self, data: LabeledImages) -> None:
        if not isinstance(data, LabeledImages):
            raise DataError(
                describe(
                    "`data` must be a transferlab LabeledImages",
                    received=f"data of type {type(data).__name__}",
                    fix="wrap arrays as LabeledImages(images, labels, class_names)",
                )
            )
        self.data = data
        self.class_names = data.class_names
        self.pixel_range = data.pixel_range
        images = data.images
        self._images = images if images.ndim == 4 else images[..., None]
        self._labels: npt.NDArray[np.int64] = np.asarray(data.labels, np.int64)
        self._tensor: tf.Tensor | None = None

    @property
    def labels(self) -> npt.NDArray[np.int64]:
        return self._labels

    @property
    def images(self) -> npt.NDArray[np.generic[object]]:
        """The images, channels last (a channel axis added to ``(N, H, W)`` images)."""
        return self._images

    @property
    def element_shape(self) -> tuple[int, ...]:
        return tuple(int(s) for s in self._images.shape[1:])

    @property
    def element_dtype(self) -> tf.DType:
        return tf.as_dtype(self._images.dtype)

    def read_batch(self, indices: tf.Tensor) -> tf.Tensor:
        if self._tensor is None:
            with tf.init_scope():  # an eager tensor, captured by reference
                self._tensor = tf.constant(self._images)
        return tf.gather(self._tensor, indices)

    def read_numpy(self, indices: tf.Tensor) -> tf.Tensor:
        """Like :meth:`read_batch`, but from the NumPy array through ``tf.numpy_function`` (no copy)."""
        images = self._images
        x = tf.numpy_function(lambda i: images[i], [indices], self.element_dtype, stateful=False)
        x.set_shape((None, *self.element_shape))
        return x

    def take(self, indices: Sequence[int] | npt.NDArray[np.int64]) -> IndexedSource:
        return ArraySource(self.data.take(np.asarray(indices, np.int64)))

    def fingerprint(self) -> dict[str, object]:
        out: dict[str, object] = {
            "arrays": arrays_digest(self.data.images, self.data.labels),
            "class_names": list(self.class_names),
        }
        if self.pixel_range != DEFAULT_PIXEL_RANGE:
            out["pixel_range"] = list(self.pixel_range) if self.pixel_range is not None else None
        return out


def _label_rule() -> str:
    return (
        "integer labels: a scalar per example (unbatched) or (batch,) (batched); "
        "one-hot float labels: (classes,) or (batch, classes)"
    )


class StreamSource(ImageSource):
    """Any ``tf.data.Dataset`` of ``(image, label)``, batched or not, read front to back.

    The stream is read once per epoch, in its own order: with ``shuffle``, the
    pipeline adds a buffer shuffle keyed by ``(seed, epoch)`` (the same order
    again when the stream is deterministic). A run on a stream resumes at
    epoch boundaries only (``decisions.json`` says so); for exact mid-epoch
    resume, exact shuffles and per-worker reading, use an indexed source
    (arrays, :class:`~transferlab.data.ImageFolderSource`,
    :class:`~transferlab.data.TFRecordSource`).

    Args:
        dataset: Elements ``(image, label)``: images ``(H, W)`` or
            ``(H, W, C)`` (or batches of them), integer labels or one-hot
            float vectors.
        class_names: One name per class. Default: ``"0" .. str(num_classes - 1)``.
        num_classes: The number of classes when ``class_names`` is not given.
        pixel_range: ``(low, high)`` of the pixel values; ``(0, 255)`` by
            default. Float images whose first examples all lie in ``[0, 1]``
            without a declared range are refused.
        num_examples: Examples per epoch. Default: the dataset's cardinality
            when known, else counted once by reading the stream.
        shuffle_buffer: Examples the pipeline's shuffle buffer holds.

    Raises:
        DataError: Elements that are not ``(image, label)`` pairs of the
            accepted shapes, no class count, a range that does not fit.

    Example:
        >>> import numpy as np, tensorflow as tf
        >>> ds = tf.data.Dataset.from_tensor_slices((np.zeros((10, 5, 5, 3), "uint8"), np.arange(10) % 2))
        >>> source = StreamSource(ds.batch(4), num_classes=2)
        >>> source.batched, source.element_shape, source.num_examples()
        (True, (5, 5, 3), 10)
    """

    def __init__(
        self,
        dataset: tf.data.Dataset,
        *,
        class_names: Sequence[str] | None = None,
        num_classes: int | None = None,
        pixel_range: tuple[float, float] = DEFAULT_PIXEL_RANGE,
        num_examples: int | None = None,
        shuffle_buffer: int = 256,
    ) -> None:
        if not isinstance(dataset, tf.data.Dataset):
            raise DataError(
                describe(
                    "`dataset` must be a tf.data.Dataset",
                    received=f"dataset of type {type(dataset).__name__}",
                )
            )
        spec = dataset.element_spec
        if not (
            isinstance(spec, tuple) and len(spec) == 2 and all(isinstance(s, tf.TensorSpec) for s in spec)
        ):
            raise DataError(
                describe(
                    "A tf.data.Dataset source must yield (image, label) pairs of tensors",
                    received=f"element_spec={spec!r}",
                    fix="map it to pairs: dataset.map(lambda d: (d['image'], d['label']))",
                )
            )
        image_spec, label_spec = spec
        if label_spec.dtype.is_integer:
            batched = label_spec.shape.rank == 1
            one_hot = False
            ok = label_spec.shape.rank in (0, 1)
        elif label_spec.dtype.is_floating:
            batched = label_spec.shape.rank == 2
            one_hot = True
            ok = label_spec.shape.rank in (1, 2)
        else:
            ok, batched, one_hot = False, False, False
        if not ok:
            raise DataError(
                describe(
                    "The dataset's labels have a shape or dtype a source cannot read",
                    received=f"labels {label_spec.dtype.name} of shape {label_spec.shape}",
                    accepted=_label_rule(),
                )
            )
        image_rank = image_spec.shape.rank
        rank = None if image_rank is None else image_rank - int(batched)
        channels = image_spec.shape[-1] if rank == 3 else 1
        if rank not in (2, 3) or (rank == 3 and channels not in (1, 3)):
            raise DataError(
                describe(
                    "The dataset's images must be (height, width) or (height, width, 1 or 3 channels)"
                    + (", in batches" if batched else ""),
                    received=f"images {image_spec.dtype.name} of shape {image_spec.shape}",
                    fix="convert them in a map: tf.image.grayscale_to_rgb / rgba[..., :3], tf.image.resize",
                )
            )
        if not (image_spec.dtype.is_integer or image_spec.dtype.is_floating):
            raise DataError(
                describe(
                    "The dataset's images must be numbers",
                    received=f"images of dtype {image_spec.dtype.name}",
                    fix="decode them: dataset.map(lambda b, y: (tf.io.decode_image(b, 3), y))",
                )
            )
        if one_hot:
            width = label_spec.shape[-1]
            if num_classes is None and class_names is None and width is not None:
                num_classes = int(width)
        if class_names is None:
            if num_classes is None or isinstance(num_classes, bool) or int(num_classes) < 2:
                raise DataError(
                    describe(
                        "A tf.data.Dataset source needs its classes",
                        received=f"class_names=None, num_classes={num_classes!r}",
                        fix="pass class_names=[...] or num_classes=N (N >= 2)",
                    )
                )
            class_names = [str(i) for i in range(int(num_classes))]
        self.class_names = tuple(str(n) for n in class_names)
        if len(self.class_names) < 2:
            raise DataError(
                describe("A source needs at least 2 classes", received=f"class_names={self.class_names!r}")
            )
        self.pixel_range = check_pixel_range(pixel_range)
        self.dataset = dataset
        self.batched = batched
        self.one_hot = one_hot
        self.shuffle_buffer = int(shuffle_buffer)
        self._dtype = tf.as_dtype(image_spec.dtype)
        shape = image_spec.shape[int(batched) :]
        self._declared_shape = shape
        self._shape: tuple[int, ...] | None = (
            tuple(int(s) for s in shape) + ((1,) if rank == 2 else ()) if shape.is_fully_defined() else None
        )
        self._num_examples = None if num_examples is None else int(num_examples)
        self._peeked: tuple[npt.NDArray[np.generic[object]], npt.NDArray[np.int64]] | None = None
        self._check_values()

    # Reading -----------------------------------------------------------------
    def elements(self) -> tf.data.Dataset:
        """The examples one by one: ``(image (H, W, C), label int32)``, in the stream's order."""
        ds = self.dataset.unbatch() if self.batched else self.dataset
        shape = self.element_shape
        num_classes = self.num_classes

        def convert(x: tf.Tensor, y: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
            x = tf.ensure_shape(tf.reshape(x, shape) if len(shape) == 3 and x.shape.rank == 2 else x, shape)
            y = tf.cast(tf.argmax(y, axis=-1), tf.int32) if self.one_hot else tf.cast(y, tf.int32)
            tf.debugging.assert_less(y, num_classes, message="label out of range of the source's classes")
            return x, y

        return ds.map(convert)

    def _peek(self) -> tuple[npt.NDArray[np.generic[object]], npt.NDArray[np.int64]]:
        if self._peeked is None:
            ds = self.dataset.unbatch() if self.batched else self.dataset
            xs, ys = [], []
            for x, y in ds.take(PEEK_EXAMPLES):
                xs.append(np.asarray(x))
                y_np = np.asarray(y)
                ys.append(int(y_np.argmax()) if self.one_hot else int(y_np))
            if not xs:
                raise DataError(describe("The dataset source is empty", received="0 examples"))
            shapes = {x.shape for x in xs}
            if len(shapes) > 1:
                raise DataError(
                    describe(
                        "The dataset's images differ in size",
                        received=", ".join(str(s) for s in sorted(shapes)[:4]),
                        fix="resize them in a map (tf.image.resize), or use ImageFolderSource(image_size=...)",
                    )
                )
            self._peeked = (np.stack(xs), np.asarray(ys, np.int64))
        return self._peeked

    @property
    def element_shape(self) -> tuple[int, ...]:
        if self._shape is None:
            first = self._peek()[0][0]
            self._shape = tuple(int(s) for s in first.shape) + ((1,) if first.ndim == 2 else ())
        return self._shape

    @property
    def element_dtype(self) -> tf.DType:
        return self._dtype

    def num_examples(self) -> int:
        if self._num_examples is None:
            ds = self.dataset.unbatch() if self.batched else self.dataset
            n = int(ds.cardinality())
            if n < 0:
                logger.info(
                    "Counting the examples of a tf.data source (one pass; pass num_examples= to skip)"
                )
                n = int(ds.reduce(np.int64(0), lambda count, _: count + 1))
            self._num_examples = n
        return self._num_examples

    def _check_values(self) -> None:
        if not self._dtype.is_floating or self.pixel_range != DEFAULT_PIXEL_RANGE:
            return
        images = self._peek()[0]
        if images.size and float(images.min()) >= 0.0 and 0.0 < float(images.max()) <= 1.0:
            raise DataError(
                describe(
                    "The dataset's float images look like values in [0, 1], but the source "
                    "declares raw pixels in [0, 255]: they would be divided by 255 twice",
                    received=f"the first {len(images)} images span [{float(images.min()):g}, "
                    f"{float(images.max()):g}]",
                    fix="declare the range: StreamSource(dataset, ..., pixel_range=(0, 1)), "
                    "or multiply the images by 255",
                )
            )

    def fingerprint(self) -> dict[str, object]:
        images, labels = self._peek()
        head = hashlib.sha256(arrays_digest(images, labels).encode()).hexdigest()
        return {
            "stream": {
                "element_spec": repr(self.dataset.element_spec),
                "examples": self.num_examples(),
                f"first_{len(labels)}_examples": head,
            },
            "class_names": list(self.class_names),
            "pixel_range": list(self.pixel_range) if self.pixel_range is not None else None,
        }

    def summary(self) -> dict[str, object]:
        return {**super().summary(), "batched": self.batched}


def as_source(
    data: object,
    *,
    name: str = "data",
    class_names: Sequence[str] | None = None,
    num_classes: int | None = None,
) -> ImageSource:
    """Turns whatever a user passes as data into a source.

    Args:
        data: A :class:`LabeledImages`, a source (returned as is), an
            ``(images, labels)`` pair of arrays, or a ``tf.data.Dataset`` of
            ``(image, label)``.
        name: The argument's name, for messages.
        class_names: For arrays and datasets: the class names (default
            ``"0"``, ``"1"``, ...).
        num_classes: For arrays and datasets without ``class_names``: how many
            classes (default for arrays: ``max(label) + 1``).

    Returns:
        An :class:`ImageSource`.

    Raises:
        DataError: Anything else, naming ``name``, what it was and what is accepted.

    Example:
        >>> import numpy as np
        >>> images = np.zeros((4, 8, 8, 3), "uint8")
        >>> as_source((images, np.array([0, 1, 2, 1])), num_classes=4).class_names
        ('0', '1', '2', '3')
    """
    if isinstance(data, ImageSource):
        return data
    if isinstance(data, LabeledImages):
        return ArraySource(data)
    if isinstance(data, tf.data.Dataset):
        return StreamSource(data, class_names=class_names, num_classes=num_classes)
    if isinstance(data, tuple) and len(data) == 2 and all(isinstance(a, np.ndarray) for a in data):
        images, labels = data
        if class_names is None:
            if num_classes is None:
                labels_np = np.asarray(labels)
                top = int(labels_np.max()) + 1 if labels_np.size and labels_np.dtype.kind in "iu" else 2
                num_classes = max(2, top)
            class_names = [str(i) for i in range(int(num_classes))]
        return ArraySource(LabeledImages(images, labels, tuple(class_names)))
    raise DataError(
        describe(
            f"`{name}` is not a kind of data transferlab reads",
            received=f"{name} of type {type(data).__name__}",
            accepted=ACCEPTED_DATA,
            fix="see docs/guide-data.md, 'your own images'",
        )
    )


def scale_to_pixels(x: tf.Tensor, pixel_range: tuple[float, float] | None) -> tf.Tensor:
    """``float32`` raw pixels in ``[0, 255]`` from values in ``pixel_range`` (``None``: as they are)."""
    x = tf.cast(x, tf.float32)
    if pixel_range is None or pixel_range == DEFAULT_PIXEL_RANGE:
        return x
    low, high = pixel_range
    factor = 255.0 / (high - low)
    return (x - low) * factor if low else x * factor
