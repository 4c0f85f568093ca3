"""``make_pipeline``: a ``tf.data`` pipeline whose order and augmentation are pure functions."""

from __future__ import annotations

import os
from collections.abc import Sequence

import keras
import numpy as np
import tensorflow as tf

from transferlab.data.labeled_images import LabeledImages
from transferlab.data.source import (
    ArraySource,
    ImageSource,
    IndexedSource,
    StreamSource,
    as_source,
    scale_to_pixels,
)
from transferlab.errors import ConfigError, DataError, describe

__all__ = ["make_pipeline"]

_SHUFFLE_SALT = 0x5EED
_AUGMENT_SALT = 0xA06
_EPOCH_LIMIT = 2**62
_ALG = "philox"  # named, not "auto_select": the same numbers on every device and platform


def _fold(key: tf.Tensor, *data: int | tf.Tensor) -> tf.Tensor:
    """Folds ``data`` into a ``[2]`` int64 stateless seed, one value after another.

    Each step returns ``[philox(key), d]``: a 64-bit hash of the whole 128-bit
    key so far, next to the value folded in (exact, so distinct values give
    distinct keys).
    """
    for d in data:
        key = tf.random.experimental.stateless_fold_in(key, tf.cast(d, tf.int64), alg=_ALG)
    return key


def _epoch_order(n: int, seed: int | tf.Tensor, epoch: int | tf.Tensor) -> tf.Tensor:
    """The shuffled order of ``range(n)`` in ``epoch``: int64 ``(n,)``, a pure function of its arguments.

    The key is ``[h, epoch]``, 128 bits into Philox, where ``h`` is a 64-bit
    Philox hash of ``(seed, salt)``: distinct epochs always give distinct keys,
    distinct seeds do but with probability ~2**-64 a pair. Each example draws
    a 64-bit Philox number and the order sorts them (``top_k``: largest first,
    ties, about n**2 / 2**65 likely, by index), so every permutation is equally
    likely.

    ``tf.random.experimental.index_shuffle`` is not used: its Simon cipher keeps
    only ``W`` bits of each of its three key words, ``W`` = half the block of
    ``max(16, ceil(log2 n))`` bits, so for ``n <= 65536`` it has at most 2**24
    orders whatever the key (more ``rounds`` derive more round keys from the
    same three words, no more key bits).
    """
    key = _fold(tf.stack([tf.cast(seed, tf.int64), tf.constant(_SHUFFLE_SALT, tf.int64)]), epoch)
    draws = tf.random.stateless_uniform([n], seed=key, minval=None, maxval=None, dtype=tf.int64, alg=_ALG)
    return tf.cast(tf.math.top_k(draws, k=n, sorted=True).indices, tf.int64)


def _splits_over(size: int, replicas: int) -> bool:
    """Whether tf.distribute splits a batch of ``size`` with no replica left empty.

    It cuts a batch whose size it cannot know statically (as here: the
    batching happens inside ``flat_map``) into pieces of ``ceil(size / replicas)``.
    """
    return size % replicas == 0 or (replicas - 1) * -(-size // replicas) < size


def _batch_sizes(n: int, batch_size: int, replicas: int, drop_remainder: bool, evaluation: bool) -> list[int]:
    """The sizes of one epoch's batches of ``n`` examples."""
    full, tail = divmod(n, batch_size)
    if drop_remainder:
        tail = 0
    elif not evaluation:
        tail -= tail % replicas
    if not evaluation or _splits_over(tail, replicas):
        return [batch_size] * full + ([tail] if tail else [])
    # Every example once, and no replica empty: the last batch takes examples from
    # the ones before until it splits (size q * R + r with q >= R - r), and those
    # keep sizes that are multiples of R.
    r = tail % replicas
    last = (replicas - r) * replicas + r
    if last > n:
        raise DataError(
            describe(
                "Too few examples to evaluate each exactly once over the replicas: "
                "some replica would get an empty batch",
                received=f"{n} examples, num_replicas={replicas}",
                fix=f"use at least {last} examples, or fewer replicas",
            )
        )
    head_full, head_tail = divmod(n - last, batch_size)
    return [batch_size] * head_full + ([head_tail] if head_tail else []) + [last]


class _SeedStream(keras.random.SeedGenerator):
    """A stand-in for a layer's SeedGenerator that holds no state.

    Keras' random ops accept a ``SeedGenerator`` as ``seed`` and call its
    ``next()``; they reject seed tensors. This one answers ``next()`` with
    ``_fold(key, 0)``, ``_fold(key, 1)``, ... where ``key`` is the batch's
    seed tensor, so the draws are a pure function of the key (the counter
    advances while the map function is traced, once per draw site).
    """

    def __init__(self, key: tf.Tensor) -> None:  # no super().__init__: it makes a variable
        self._key = key
        self._count = 0
        self.name = "transferlab_seed_stream"

    def next(self, ordered: bool = True) -> tf.Tensor:
        seed = _fold(self._key, self._count)
        self._count += 1
        return seed


def _flat_layers(augment: keras.layers.Layer) -> list[keras.layers.Layer]:
    if isinstance(augment, keras.Sequential):
        out: list[keras.layers.Layer] = []
        for layer in augment.layers:
            out.extend(_flat_layers(layer))
        return out
    return [augment]


def _augment_batch(layers: Sequence[keras.layers.Layer], images: tf.Tensor, key: tf.Tensor) -> tf.Tensor:
    """Applies the layers in training mode, drawing every random number from ``key``."""
    for i, layer in enumerate(layers):
        if hasattr(layer, "get_random_transformation") and hasattr(layer, "transform_images"):
            stream = _SeedStream(_fold(key, i))
            transformation = layer.get_random_transformation(images, training=True, seed=stream)
            images = layer.transform_images(images, transformation, training=True)
        else:
            # Not a Keras image preprocessing layer: its randomness (if any) is its own.
            images = layer(images, training=True)
        images = tf.cast(images, tf.float32)
    return images


def _check_int(name: str, value: object, low: int, fix: str | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise ConfigError(
            describe(
                f"`{name}` must be an integer >= {low}",
                received=f"{name}={value!r}",
                fix=fix,
            )
        )
    return int(value)


def make_pipeline(
    data: LabeledImages | ImageSource,
    *,
    batch_size: int,
    shuffle: bool = False,
    seed: int | None = None,
    epoch: int = 0,
    augment: keras.layers.Layer | None = None,
    cache: bool = True,
    drop_remainder: bool = False,
    repeat: bool = False,
    epochs: int = 1,
    skip_batches: int = 0,
    num_replicas: int = 1,
    evaluation: bool = False,
    shard: tuple[int, int] | None = None,
    worker: tuple[int, int] | None = None,
    one_hot: bool = False,
    prefetch: int = 2,
    parallel_calls: int | None = None,
    steps_per_epoch: int | None = None,
) -> tf.data.Dataset:
    """Builds a ``tf.data`` pipeline of ``(images, labels)`` batches, exactly resumable.

    Images come out as **raw pixel values**: ``float32`` in ``[0, 255]`` of shape
    ``(batch, height, width, channels)`` (a channel axis is added to grayscale
    images); the model's ``InputAdapter`` scales, resizes and converts them.
    Labels are ``int32`` class indices, or ``float32`` one-hot vectors.

    Everything random is a pure function, never a stateful generator:

    * the order of epoch ``e`` sorts one 64-bit Philox number per example,
      keyed by ``(seed, e)`` with full entropy (distinct seeds or epochs give
      distinct orders, never a cycle), the same on every platform;
    * batch ``b`` of epoch ``e`` is augmented with random numbers keyed by
      ``(seed, shard index, e, b)``: the pipeline calls each Keras image
      preprocessing layer's ``get_random_transformation(..., seed=...)`` with a
      stateless seed stream instead of the layer's own generator.

    For **evaluation and prediction** pass ``evaluation=True`` (with the
    strategy's ``num_replicas``): every example comes out exactly once, in
    order, whatever the number of replicas, so ``model.evaluate`` and
    ``model.predict`` under a strategy give the one-device results over all
    examples (see ``evaluation`` below).

    So a new iterator always starts at ``epoch`` (a throw-away iteration, such
    as the batch Keras takes before ``fit`` under a strategy scope, shifts
    nothing), and ``make_pipeline(..., epoch=e, skip_batches=k)`` yields exactly
    what an uninterrupted run yields from batch ``k`` of epoch ``e``, augmented
    images included. (Layers that are not Keras image preprocessing layers are
    called as they are, with their own randomness, which is not replayed.)

    Because each iterator restarts at ``epoch``, ``fit(dataset, epochs=3)`` on a
    non-repeating pipeline sees the same order in every epoch. For several
    epochs pass ``repeat=True`` (epochs ``epoch``, ``epoch + 1``, ... each in its
    own order) with ``fit(..., steps_per_epoch=batches_per_epoch)``, where
    ``batches_per_epoch`` is ``len()`` of the same pipeline built with
    ``repeat=False``.

    tf.data autotuning is off and prefetching and parallelism are fixed: with
    autotuning on, ``fit()`` here often idled until 10 ms * (2^n - 1) after its
    start (2.55 s, 5.11 s, ...) before returning.

    Args:
        data: The examples: :class:`LabeledImages` or any source
            (:func:`transferlab.data.as_source` converts other data). An
            indexed source (arrays, image folders, TFRecords) gets everything
            below; a ``tf.data.Dataset`` source (:class:`StreamSource`) is read
            front to back each epoch, shuffled by a buffer keyed by
            ``(seed, epoch)``, and takes no ``shard``, ``worker`` or ``cache``.
        batch_size: Examples per batch (per worker when ``shard`` is given).
        shuffle: Shuffle each epoch (keyed by ``(seed, epoch)``).
        seed: Seed of shuffling and augmentation (an ``int >= 0``). ``None``
            draws a fresh one from the OS: not reproducible.
        epoch: The epoch the first batch belongs to (for resuming).
        augment: A layer or ``keras.Sequential`` (see
            :func:`transferlab.data.make_augmentation`) applied in training
            mode to the float32 raw-pixel batches. Pass it for training only.
        cache: Hold a copy of the images as a TensorFlow tensor (fast). With
            ``False`` batches are read from the NumPy array through
            ``tf.numpy_function`` (no copy, slower, not serializable).
        drop_remainder: Drop the last, smaller batch of each epoch.
        repeat: Run epochs ``epoch, epoch + 1, ...`` forever.
        epochs: Without ``repeat``: run this many epochs, ``epoch`` to
            ``epoch + epochs - 1``, each in its own order (the pipeline ends
            there, reading nothing beyond: prefer it to ``repeat`` plus
            ``take``, whose prefetching reads ahead).
        skip_batches: Skip this many batches from the start (mid-epoch resume).
        num_replicas: Replicas each batch is split over. ``batch_size`` must
            be a multiple of it. Without ``evaluation`` the last batch of an
            epoch is cut down to a multiple of it (so no replica gets 0
            examples, which breaks Conv2D and BatchNormalization on CPU, and
            every batch splits evenly, which Keras needs for the first batch
            it sees under a strategy): up to ``num_replicas - 1`` examples
            are left out of each epoch.
        evaluation: An evaluation or prediction pipeline: every example is
            yielded exactly once, in order (``shuffle``, ``augment``,
            ``repeat`` and ``drop_remainder`` must stay off). No batch leaves
            a replica empty: tf.distribute cuts a batch of ``b`` into pieces
            of ``ceil(b / num_replicas)``, and when the last batch of
            ``len(data) % batch_size`` would leave one empty, it takes
            examples from the batch before (``257`` examples in batches of
            ``256`` over 2 replicas: ``254, 3``). Keras' metrics, loss
            included, then average over exactly the real examples (uneven
            splits are weighted by each replica's batch size); no padding,
            no sample weights. With a ``batch_size`` below
            ``num_replicas**2`` the last batch can exceed it by less than
            ``num_replicas**2``.
        shard: ``(num_workers, index)``: this worker's share of each epoch's
            order (every ``num_workers``-th example from ``index``); the
            dataset's auto-sharding is then turned off. For custom loops and
            per-worker input functions only: ``Model.fit`` under
            ``MultiWorkerMirroredStrategy`` treats each batch as *global* and
            splits it across all replicas itself, so there every worker should
            build the same unsharded pipeline of global batches (the Trainer
            does, and lets tf.distribute's DATA sharding pick each worker's part).
        worker: ``(num_workers, index)``: for
            ``strategy.distribute_datasets_from_function`` under a
            multi-worker strategy. ``batch_size`` and ``num_replicas`` stay
            global; the pipeline yields, for each global batch of the
            one-device run, the per-replica pieces of this worker's replicas
            (``num_replicas / num_workers`` batches of
            ``batch_size / num_replicas``), reading only those examples. The
            global batches are exactly the one-device run's; augmentation is
            drawn per piece, keyed by ``(seed, epoch, batch, replica)`` (so the
            random transformations differ from a one-device run's). Training
            only.
        one_hot: Labels as one-hot ``float32`` vectors.
        prefetch: Batches to prefetch (0 for none); a fixed buffer.
        parallel_calls: Batches prepared in parallel (fixed, not autotuned).
            Default: 1 for sources read a batch at once (arrays), the number
            of CPUs for sources read example by example (files).
        steps_per_epoch: Yield only the first this many batches of each
            epoch (each epoch keeps its own order).

    Returns:
        The dataset. Without ``repeat`` its ``len()`` is the number of batches
        (``epochs`` times an epoch's, less ``skip_batches``).

    Raises:
        ConfigError: an option out of range.
        DataError: fewer examples than replicas, no batch at all, or (with
            ``evaluation``) too few examples to give every replica some in
            every batch (e.g. 5 examples over 4 replicas).

    Example:
        >>> import numpy as np
        >>> data = LabeledImages(np.zeros((10, 28, 28), "uint8"), np.arange(10) % 2, ("a", "b"))
        >>> ds = make_pipeline(data, batch_size=4, shuffle=True, seed=0)
        >>> images, labels = next(iter(ds))
        >>> len(ds), tuple(images.shape), images.dtype.name, labels.dtype.name
        (3, (4, 28, 28, 1), 'float32', 'int32')

        Evaluation over 2 replicas keeps all 10 examples; training drops one:

        >>> data = LabeledImages(np.zeros((11, 28, 28), "uint8"), np.arange(11) % 2, ("a", "b"))
        >>> [len(y) for _, y in make_pipeline(data, batch_size=4, num_replicas=2, evaluation=True)]
        [4, 4, 3]
        >>> [len(y) for _, y in make_pipeline(data, batch_size=4, num_replicas=2)]
        [4, 4, 2]
    """
    batch_size = _check_int("batch_size", batch_size, 1)
    epoch = _check_int("epoch", epoch, 0)
    skip_batches = _check_int("skip_batches", skip_batches, 0)
    epochs = _check_int("epochs", epochs, 1)
    num_replicas = _check_int("num_replicas", num_replicas, 1)
    prefetch = _check_int("prefetch", prefetch, 0)
    if seed is None:
        seed = int(np.random.SeedSequence().generate_state(1, np.uint64)[0] >> np.uint64(2))
    seed = _check_int("seed", seed, 0, fix="pass an integer seed such as 0, or None")
    if seed >= 2**63:
        raise ConfigError(describe("`seed` must be below 2**63", received=f"seed={seed}"))
    if shard is None:
        workers, index = 1, 0
    else:
        ok = (
            isinstance(shard, (tuple, list))
            and len(shard) == 2
            and all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in shard)
            and shard[0] >= 1
            and 0 <= shard[1] < shard[0]
        )
        if not ok:
            raise ConfigError(
                describe(
                    "`shard` must be (num_workers, index) with 0 <= index < num_workers",
                    received=f"shard={shard!r}",
                    fix="pass e.g. shard=(2, 0) on the first of two workers",
                )
            )
        workers, index = int(shard[0]), int(shard[1])
    if batch_size % num_replicas:
        raise ConfigError(
            describe(
                "`batch_size` must be a multiple of `num_replicas`: Keras splits each batch "
                "over the replicas and, before fit() under a strategy, adds up the replicas' "
                "shares of the first batch, which fails when they differ",
                received=f"batch_size={batch_size}, num_replicas={num_replicas}",
                fix=f"pass a multiple of {num_replicas}, e.g. batch_size="
                f"{max(num_replicas, batch_size - batch_size % num_replicas)}",
            )
        )
    if not isinstance(evaluation, bool):
        raise ConfigError(
            describe("`evaluation` must be True or False", received=f"evaluation={evaluation!r}")
        )
    if evaluation and (shuffle or augment is not None or repeat or drop_remainder):
        on = [f"{name}=True" for name, v in (("shuffle", shuffle), ("repeat", repeat)) if v]
        on += ["drop_remainder=True"] if drop_remainder else []
        on += [f"augment of type {type(augment).__name__}"] if augment is not None else []
        raise ConfigError(
            describe(
                "`evaluation=True` yields every example once, in order: it takes no shuffle, "
                "augment, repeat or drop_remainder",
                received=", ".join(on),
                fix="leave those off for evaluation, or pass evaluation=False for training",
            )
        )
    if augment is not None and not isinstance(augment, keras.layers.Layer):
        raise ConfigError(
            describe(
                "`augment` must be a Keras layer or keras.Sequential",
                received=f"augment of type {type(augment).__name__}",
                fix="build one with transferlab.data.make_augmentation(...)",
            )
        )

    source = as_source(data, name="data")
    if parallel_calls is None:
        parallel_calls = (os.cpu_count() or 1) if getattr(source, "reads_elements", False) else 1
    parallel_calls = _check_int("parallel_calls", parallel_calls, 1)
    if isinstance(source, StreamSource):
        if shard is not None or worker is not None:
            raise ConfigError(
                describe(
                    "A tf.data.Dataset source cannot be split by index (`shard`, `worker`)",
                    received=f"shard={shard!r}, worker={worker!r}",
                    fix="shard the dataset yourself, or use an indexed source (arrays, ImageFolderSource, "
                    "TFRecordSource)",
                )
            )
        return _stream_pipeline(
            source, batch_size=batch_size, shuffle=shuffle, seed=seed, epoch=epoch, augment=augment,
            drop_remainder=drop_remainder, repeat=repeat, epochs=epochs, skip_batches=skip_batches,
            num_replicas=num_replicas, evaluation=evaluation, one_hot=one_hot, prefetch=prefetch,
            parallel_calls=parallel_calls, steps_per_epoch=steps_per_epoch,
        )  # fmt: skip
    if not isinstance(source, IndexedSource):
        raise DataError(
            describe(
                "make_pipeline reads indexed sources and tf.data.Dataset sources",
                received=f"a source of type {type(source).__name__}",
                fix="subclass transferlab.data.IndexedSource",
            )
        )
    pieces = 1
    if worker is not None:
        ok = (
            isinstance(worker, (tuple, list))
            and len(worker) == 2
            and all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in worker)
            and worker[0] >= 1
            and 0 <= worker[1] < worker[0]
            and num_replicas % int(worker[0]) == 0
        )
        if not ok or shard is not None or evaluation:
            raise ConfigError(
                describe(
                    "`worker` must be (num_workers, index) with 0 <= index < num_workers, "
                    "num_replicas a multiple of num_workers, for training (no shard, no evaluation)",
                    received=f"worker={worker!r}, num_replicas={num_replicas}, shard={shard!r}, "
                    f"evaluation={evaluation}",
                    fix="pass e.g. worker=(2, 0) with num_replicas=2 on the first of two workers",
                )
            )
        pieces = num_replicas // int(worker[0])

    n = len(source)
    n_shard = len(range(index, n, workers))
    sizes = _epoch_sizes(
        n_shard, f" in shard {index} of {workers}" if shard else "", batch_size=batch_size,
        num_replicas=num_replicas, drop_remainder=drop_remainder, evaluation=evaluation,
        steps_per_epoch=steps_per_epoch, repeat=repeat, skip_batches=skip_batches, epochs=epochs,
    )  # fmt: skip
    batches_per_epoch = len(sizes)

    element_shape = source.element_shape
    pixel_range = source.pixel_range
    labels_t = tf.constant(source.labels.astype(np.int32))
    num_classes = source.num_classes
    layers = _flat_layers(augment) if augment is not None else []
    seed_t = tf.constant(seed, tf.int64)
    augment_key = _fold(tf.stack([seed_t, tf.constant(_AUGMENT_SALT, tf.int64)]), index)
    starts = tf.constant(np.cumsum([0, *sizes[:-1]]), tf.int64)
    lengths = tf.constant(sizes, tf.int64)

    def epoch_batches(e: tf.Tensor) -> tf.data.Dataset:
        order = _epoch_order(n, seed_t, e) if shuffle else tf.range(n, dtype=tf.int64)
        order = order[index::workers]
        batches = tf.data.Dataset.from_tensor_slices((starts, lengths)).map(
            lambda start, length: order[start : start + length]
        )
        return batches.enumerate().map(lambda b, idx: (e, b, tf.constant(0, tf.int64), idx))

    if isinstance(source, ArraySource) and not cache:
        read = source.read_numpy
    else:
        read = source.read_batch
    by_element = source.reads_elements

    def read_elements(e: tf.Tensor, b: tf.Tensor, piece: tf.Tensor, idx: tf.Tensor) -> tf.data.Dataset:
        # One batch's examples read in parallel (files decoded side by side), in order.
        images = (
            tf.data.Dataset.from_tensor_slices(idx)
            .map(source.read_element, num_parallel_calls=parallel_calls, deterministic=True)
            .batch(batch_size)
        )
        return images.map(lambda x: (e, b, piece, idx, x))

    def load(
        e: tf.Tensor, b: tf.Tensor, piece: tf.Tensor, idx: tf.Tensor, x: tf.Tensor | None = None
    ) -> tuple[tf.Tensor, tf.Tensor]:
        x = scale_to_pixels(read(idx) if x is None else x, pixel_range)
        y = tf.gather(labels_t, idx)
        if layers:
            key = _fold(augment_key, e, b, piece) if worker is not None else _fold(augment_key, e, b)
            x = _augment_batch(layers, x, key)
        x.set_shape((None, *element_shape))
        if one_hot:
            y = tf.one_hot(y, num_classes, dtype=tf.float32)
        return x, y

    ds = tf.data.Dataset.range(epoch, _EPOCH_LIMIT if repeat else epoch + epochs).flat_map(epoch_batches)
    if skip_batches:
        ds = ds.skip(skip_batches)
    if worker is not None:
        first_piece = int(worker[1]) * pieces

        def worker_pieces(e: tf.Tensor, b: tf.Tensor, _: tf.Tensor, idx: tf.Tensor) -> tf.data.Dataset:
            # tf.distribute cuts a global batch into num_replicas equal pieces, in replica
            # order; this worker's replicas take pieces first_piece .. first_piece + pieces - 1.
            rows = tf.reshape(idx, (num_replicas, -1))[first_piece : first_piece + pieces]
            ids = tf.range(first_piece, first_piece + pieces, dtype=tf.int64)
            return tf.data.Dataset.from_tensor_slices((ids, rows)).map(lambda r, row: (e, b, r, row))

        ds = ds.flat_map(worker_pieces)
    if by_element:
        ds = ds.flat_map(read_elements).map(load)
    else:
        ds = ds.map(load, num_parallel_calls=parallel_calls, deterministic=True)
    if not repeat:
        ds = ds.apply(
            tf.data.experimental.assert_cardinality((batches_per_epoch * epochs - skip_batches) * pieces)
        )
    if prefetch:
        ds = ds.prefetch(prefetch)
    return _fixed_options(ds, auto_shard=shard is None and worker is None)


def _epoch_sizes(
    n: int,
    where: str,
    *,
    batch_size: int,
    num_replicas: int,
    drop_remainder: bool,
    evaluation: bool,
    steps_per_epoch: int | None,
    repeat: bool,
    skip_batches: int,
    epochs: int,
) -> list[int]:
    """The sizes of one epoch's batches of ``n`` examples (``where``: for messages), checked."""
    if n < num_replicas:
        raise DataError(
            describe(
                "Fewer examples than replicas: some replica would get none",
                received=f"{n} examples{where}, num_replicas={num_replicas}",
                fix="use more examples or fewer replicas",
            )
        )
    sizes = _batch_sizes(n, batch_size, num_replicas, drop_remainder, evaluation)
    if steps_per_epoch is not None:
        sizes = sizes[: _check_int("steps_per_epoch", steps_per_epoch, 1)]
    if not sizes:
        raise DataError(
            describe(
                "The pipeline would yield no batch: fewer examples than `batch_size` with "
                "drop_remainder=True",
                received=f"{n} examples, batch_size={batch_size}",
                fix="lower batch_size or pass drop_remainder=False",
            )
        )
    if not repeat and skip_batches >= len(sizes) * epochs:
        raise ConfigError(
            describe(
                "`skip_batches` skips the whole epoch",
                received=f"skip_batches={skip_batches}, {len(sizes)} batches per epoch",
                fix="pass the next epoch with epoch=..., or repeat=True",
            )
        )
    return sizes


def _fixed_options(ds: tf.data.Dataset, *, auto_shard: bool) -> tf.data.Dataset:
    """Deterministic, no autotuning and no injected parallelism or prefetching (see make_pipeline)."""
    options = tf.data.Options()
    options.deterministic = True
    options.autotune.enabled = False
    options.experimental_optimization.map_parallelization = False
    options.experimental_optimization.inject_prefetch = False
    if not auto_shard:  # the pipeline picks this worker's examples itself
        options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.OFF
    return ds.with_options(options)


def _seeded_shuffle(ds: tf.data.Dataset, seed: tf.Tensor, seed2: tf.Tensor, buffer: int) -> tf.data.Dataset:
    """``ds.shuffle(buffer)`` with seeds that may be tensors (``Dataset.shuffle`` takes Python ints only).

    The same seeds give the same order; ``seed2`` must not be 0 (with both 0
    TensorFlow draws fresh seeds).
    """
    spec = ds.element_spec
    flat = tf.nest.flatten(spec)
    variant = tf.raw_ops.ShuffleDataset(
        input_dataset=tf.data.experimental.to_variant(ds),
        buffer_size=tf.constant(buffer, tf.int64),
        seed=tf.cast(seed, tf.int64),
        seed2=tf.cast(seed2, tf.int64),
        output_types=[s.dtype for s in flat],
        output_shapes=[s.shape for s in flat],
        reshuffle_each_iteration=False,
    )
    return tf.data.experimental.from_variant(variant, spec)


def _stream_pipeline(
    source: StreamSource,
    *,
    batch_size: int,
    shuffle: bool,
    seed: int,
    epoch: int,
    augment: keras.layers.Layer | None,
    drop_remainder: bool,
    repeat: bool,
    epochs: int,
    skip_batches: int,
    num_replicas: int,
    evaluation: bool,
    one_hot: bool,
    prefetch: int,
    parallel_calls: int,
    steps_per_epoch: int | None,
) -> tf.data.Dataset:
    """``make_pipeline`` for a ``tf.data.Dataset`` source: the stream re-batched, epoch after epoch."""
    n = source.num_examples()
    sizes = _epoch_sizes(
        n, "", batch_size=batch_size, num_replicas=num_replicas, drop_remainder=drop_remainder,
        evaluation=evaluation, steps_per_epoch=steps_per_epoch, repeat=repeat,
        skip_batches=skip_batches, epochs=epochs,
    )  # fmt: skip
    element_shape = source.element_shape
    pixel_range = source.pixel_range
    num_classes = source.num_classes
    layers = _flat_layers(augment) if augment is not None else []
    seed_t = tf.constant(seed, tf.int64)
    augment_key = _fold(tf.stack([seed_t, tf.constant(_AUGMENT_SALT, tf.int64)]), 0)
    shuffle_key = tf.stack([seed_t, tf.constant(_SHUFFLE_SALT, tf.int64)])
    buffer = max(1, min(source.shuffle_buffer, n))
    sizes_t = tf.constant(sizes, tf.int64)

    def epoch_batches(e: tf.Tensor) -> tf.data.Dataset:
        elements = source.elements()
        if shuffle:
            elements = _seeded_shuffle(elements, _fold(shuffle_key, e)[0], e + 1, buffer)
        # One pass over the stream: batches of the epoch's exact sizes, in order.
        out = elements.batch(batch_size).rebatch(sizes_t).take(len(sizes))
        return out.enumerate().map(lambda b, xy: (e, b, xy[0], xy[1]))

    def load(e: tf.Tensor, b: tf.Tensor, x: tf.Tensor, y: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        x = scale_to_pixels(x, pixel_range)
        if layers:
            x = _augment_batch(layers, x, _fold(augment_key, e, b))
        x.set_shape((None, *element_shape))
        if one_hot:
            y = tf.one_hot(y, num_classes, dtype=tf.float32)
        return x, y

    ds = tf.data.Dataset.range(epoch, _EPOCH_LIMIT if repeat else epoch + epochs).flat_map(epoch_batches)
    if skip_batches:
        ds = ds.skip(skip_batches)
    ds = ds.map(load, num_parallel_calls=parallel_calls, deterministic=True)
    if not repeat:
        ds = ds.apply(tf.data.experimental.assert_cardinality(len(sizes) * epochs - skip_batches))
    if prefetch:
        ds = ds.prefetch(prefetch)
    return _fixed_options(ds, auto_shard=True)
