from __future__ import annotations

import contextlib

import keras
import numpy as np
import pytest
import tensorflow as tf

from transferlab.data.augmentation import make_augmentation
from transferlab.data.labeled_images import LabeledImages
from transferlab.data.pipeline import _batch_sizes, make_pipeline
from transferlab.errors import ConfigError, DataError

N = 22


def _data(n: int = N, channels: int | None = None) -> LabeledImages:
    # Image i is filled with the value i, so batches tell which examples they hold.
    shape = (n, 8, 8) if channels is None else (n, 8, 8, channels)
    images = np.arange(n, dtype="uint8").reshape(-1, *([1] * (len(shape) - 1))) * np.ones(shape, "uint8")
    return LabeledImages(images, np.arange(n) % 3, ("a", "b", "c"))


def _ids(ds: tf.data.Dataset) -> list[list[int]]:
    return [x.numpy()[:, 0, 0, 0].astype(int).tolist() for x, _ in ds]


def _arrays(ds: tf.data.Dataset, count: int | None = None) -> list[np.ndarray]:
    out = []
    for i, (x, _) in enumerate(ds):
        if count is not None and i >= count:
            break
        out.append(x.numpy())
    return out


def test_shapes_dtypes_and_len() -> None:
    ds = make_pipeline(_data(), batch_size=8)
    assert len(ds) == 3
    batches = list(ds)
    assert [tuple(x.shape) for x, _ in batches] == [(8, 8, 8, 1), (8, 8, 8, 1), (6, 8, 8, 1)]
    x, y = batches[0]
    assert x.dtype == tf.float32 and y.dtype == tf.int32
    assert float(tf.reduce_max(batches[-1][0])) == 21.0
    assert _ids(ds) == [list(range(0, 8)), list(range(8, 16)), list(range(16, 22))]
    rgb = make_pipeline(_data(channels=3), batch_size=4, one_hot=True)
    x, y = next(iter(rgb))
    assert tuple(x.shape) == (4, 8, 8, 3) and y.dtype == tf.float32
    np.testing.assert_array_equal(y.numpy(), np.eye(3, dtype="float32")[[0, 1, 2, 0]])


def test_shuffle_is_a_pure_function_of_seed_and_epoch() -> None:
    a = _ids(make_pipeline(_data(), batch_size=8, shuffle=True, seed=1))
    b = _ids(make_pipeline(_data(), batch_size=8, shuffle=True, seed=1))
    other_epoch = _ids(make_pipeline(_data(), batch_size=8, shuffle=True, seed=1, epoch=1))
    other_seed = _ids(make_pipeline(_data(), batch_size=8, shuffle=True, seed=2))
    assert a == b
    assert a != other_epoch and a != other_seed
    for order in (a, other_epoch, other_seed):
        assert sorted(i for batch in order for i in batch) == list(range(N))


def test_throw_away_iteration_changes_nothing() -> None:
    ds = make_pipeline(_data(), batch_size=8, shuffle=True, seed=4, repeat=True)
    fresh = [ids for ids in _ids(ds.take(6))]
    next(iter(ds))  # what Keras does before fit() under a strategy scope
    next(iter(ds))
    assert _ids(ds.take(6)) == fresh


def test_repeat_runs_successive_epochs_each_in_its_own_order() -> None:
    stream = _ids(make_pipeline(_data(), batch_size=8, shuffle=True, seed=5, repeat=True).take(9))
    epochs = [_ids(make_pipeline(_data(), batch_size=8, shuffle=True, seed=5, epoch=e)) for e in (0, 1, 2)]
    assert stream == epochs[0] + epochs[1] + epochs[2]
    assert epochs[0] != epochs[1] != epochs[2]


def test_skip_batches_is_exact_with_augmentation() -> None:
    def build(**kw: object) -> tf.data.Dataset:
        # A new augmentation object each time, with another layer seed: the
        # pipeline's stateless seeds, not the layers' generators, decide.
        augment = make_augmentation("strong", seed=int(kw.pop("layer_seed")))  # type: ignore[call-overload]
        return make_pipeline(_data(), batch_size=4, shuffle=True, seed=9, augment=augment, repeat=True, **kw)

    full = _arrays(build(layer_seed=0), 14)
    resumed = _arrays(build(layer_seed=1, skip_batches=4), 10)
    resumed_epoch = _arrays(build(layer_seed=2, epoch=1, skip_batches=1), 7)
    for got, want in zip(resumed, full[4:]):
        np.testing.assert_array_equal(got, want)
    for got, want in zip(resumed_epoch, full[7:]):  # 6 batches per epoch: epoch 1, batch 1 is #7
        np.testing.assert_array_equal(got, want)
    assert len(resumed) == 10 and len(resumed_epoch) == 7


def test_augmentation_changes_images_per_batch_and_epoch_and_is_off_without_it() -> None:
    data = LabeledImages(np.tile(np.eye(8, dtype="uint8") * 255, (8, 1, 1)), np.zeros(8, int), ("x",))
    augment = make_augmentation("standard", seed=0)
    raw = _arrays(make_pipeline(data, batch_size=4, seed=1))
    aug0 = _arrays(make_pipeline(data, batch_size=4, seed=1, augment=augment))
    aug1 = _arrays(make_pipeline(data, batch_size=4, seed=1, augment=augment, epoch=1))
    np.testing.assert_array_equal(
        raw[0], np.eye(8, dtype="float32")[None, :, :, None] * 255 * np.ones((4, 1, 1, 1))
    )
    assert not np.array_equal(aug0[0], raw[0])
    assert not np.array_equal(aug0[0], aug0[1])  # batches differ
    assert not np.array_equal(aug0[0][0], aug0[0][1])  # images within a batch differ
    assert not np.array_equal(aug0[0], aug1[0])  # epochs differ


def test_cache_false_gives_the_same_batches() -> None:
    kw = dict(batch_size=5, shuffle=True, seed=3, augment=make_augmentation("light"))
    for a, b in zip(
        _arrays(make_pipeline(_data(), cache=True, **kw)), _arrays(make_pipeline(_data(), cache=False, **kw))
    ):  # type: ignore[arg-type]
        np.testing.assert_array_equal(a, b)


def test_remainders_and_replicas() -> None:
    assert [len(b) for b in _ids(make_pipeline(_data(), batch_size=8, drop_remainder=True))] == [8, 8]
    # 22 = 2*10 + 2: a last batch of 2 splits evenly over 2 replicas, so it stays.
    assert [len(b) for b in _ids(make_pipeline(_data(), batch_size=10, num_replicas=2))] == [10, 10, 2]
    # 22 = 4*5 + 2: the last 2 are cut to a multiple of 4 replicas: dropped.
    assert [len(b) for b in _ids(make_pipeline(_data(), batch_size=4, num_replicas=4))] == [4] * 5
    # 22 = 3*6 + 4: the last 4 are cut to a multiple of 3 replicas: 3.
    assert [len(b) for b in _ids(make_pipeline(_data(), batch_size=6, num_replicas=3))] == [6, 6, 6, 3]


def test_shards_are_disjoint_and_cover_each_epoch() -> None:
    parts = [
        [j for b in _ids(make_pipeline(_data(), batch_size=4, shuffle=True, seed=2, shard=(2, i))) for j in b]
        for i in (0, 1)
    ]
    assert len(parts[0]) == 11 and len(parts[1]) == 11
    assert sorted(parts[0] + parts[1]) == list(range(N))
    ds = make_pipeline(_data(), batch_size=4, shard=(2, 1))
    assert ds.options().experimental_distribute.auto_shard_policy == tf.data.experimental.AutoShardPolicy.OFF


def test_autotuning_is_off() -> None:
    options = make_pipeline(_data(), batch_size=4).options()
    assert options.autotune.enabled is False
    assert options.deterministic is True


def _train(strategy: tf.distribute.Strategy | None, num_replicas: int) -> list[np.ndarray]:
    # 22 examples in batches of 8: 8, 8, 6 per epoch (6 splits 3/3 over 2 replicas).
    ds = make_pipeline(
        _data(),
        batch_size=8,
        shuffle=True,
        seed=0,
        repeat=True,
        num_replicas=num_replicas,
        augment=make_augmentation("light"),
    )
    with strategy.scope() if strategy else contextlib.nullcontext():
        model = keras.Sequential(
            [
                keras.Input((8, 8, 1)),
                keras.layers.Rescaling(1 / 255),
                keras.layers.Conv2D(2, 3, kernel_initializer="ones"),
                keras.layers.Flatten(),
                keras.layers.Dense(3, kernel_initializer="glorot_uniform"),
            ]
        )
        model.layers[-1].kernel.assign(np.linspace(-1, 1, 36 * 2 * 3).reshape(72, 3))
        model.compile(keras.optimizers.SGD(0.1), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(ds, epochs=2, steps_per_epoch=3, shuffle=False, verbose=0)
    return [keras.ops.convert_to_numpy(w) for w in model.weights]


def test_mirrored_fit_sees_the_one_device_order(mirrored: tf.distribute.Strategy) -> None:
    # Keras takes one batch from a throw-away iterator before fit() under a
    # strategy; a stateful shuffle would then feed another order than on one
    # device (no strategy, no throw-away batch). Here both must end equal.
    one = _train(None, 1)
    two = _train(mirrored, 2)
    for a, b in zip(one, two):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    assert not np.allclose(one[-1], np.linspace(-1, 1, 216).reshape(72, 3))  # it trained


@pytest.mark.parametrize(
    ("kwargs", "error", "pattern"),
    [
        ({"batch_size": 0}, ConfigError, r"`batch_size` must be an integer >= 1\. Received: batch_size=0"),
        (
            {"batch_size": 4, "epoch": -1},
            ConfigError,
            r"`epoch` must be an integer >= 0\. Received: epoch=-1",
        ),
        (
            {"batch_size": 4, "skip_batches": 1.5},
            ConfigError,
            r"`skip_batches` must be an integer >= 0\. Received: skip_batches=1\.5",
        ),
        ({"batch_size": 4, "num_replicas": 0}, ConfigError, r"`num_replicas` must be an integer >= 1"),
        ({"batch_size": 4, "prefetch": -1}, ConfigError, r"`prefetch` must be an integer >= 0"),
        ({"batch_size": 4, "parallel_calls": 0}, ConfigError, r"`parallel_calls` must be an integer >= 1"),
        (
            {"batch_size": 4, "seed": "a"},
            ConfigError,
            r"`seed` must be an integer >= 0\. Received: seed='a'\. Fix: pass an integer seed",
        ),
        ({"batch_size": 4, "seed": 2**63}, ConfigError, r"`seed` must be below 2\*\*63"),
        (
            {"batch_size": 4, "shard": (2, 2)},
            ConfigError,
            r"`shard` must be \(num_workers, index\) with 0 <= index < num_workers\. Received: shard=\(2, 2\)",
        ),
        (
            {"batch_size": 1, "num_replicas": 2},
            ConfigError,
            r"`batch_size` must be a multiple of `num_replicas`.*Received: batch_size=1, num_replicas=2\. Fix: .*batch_size=2",
        ),
        (
            {"batch_size": 7, "num_replicas": 2},
            ConfigError,
            r"`batch_size` must be a multiple of `num_replicas`.*Fix: .*batch_size=6",
        ),
        (
            {"batch_size": 4, "augment": "standard"},
            ConfigError,
            r"`augment` must be a Keras layer or keras\.Sequential\. Received: augment of type str\. Fix: build one with",
        ),
        (
            {"batch_size": 60, "num_replicas": 30},
            DataError,
            r"Fewer examples than replicas.*Received: 22 examples, num_replicas=30",
        ),
        (
            {"batch_size": 30, "drop_remainder": True},
            DataError,
            r"would yield no batch.*Received: 22 examples, batch_size=30",
        ),
        (
            {"batch_size": 8, "skip_batches": 3},
            ConfigError,
            r"`skip_batches` skips the whole epoch\. Received: skip_batches=3, 3 batches per epoch",
        ),
    ],
)
def test_errors(kwargs: dict[str, object], error: type[Exception], pattern: str) -> None:
    with pytest.raises(error, match=pattern):
        make_pipeline(_data(), **kwargs)  # type: ignore[arg-type]


# --- evaluation=True: every example exactly once, whatever the replicas ---------------------------


class _NonEmpty(keras.layers.Layer):
    """Fails the step when its replica got an empty batch (what breaks Conv2D+BatchNorm on CPU)."""

    def call(self, x: tf.Tensor) -> tf.Tensor:
        tf.debugging.assert_positive(tf.shape(x)[0], message="a replica got an empty batch")
        return x


class _Count(keras.metrics.Metric):
    """How many examples evaluate() saw (summed over batches and replicas)."""

    def __init__(self, name: str = "count", **kwargs: object) -> None:
        super().__init__(name=name, **kwargs)  # type: ignore[arg-type]
        self.total = self.add_variable(shape=(), initializer="zeros", name="total")

    def update_state(self, y_true: tf.Tensor, y_pred: tf.Tensor, sample_weight: object = None) -> None:
        self.total.assign_add(tf.cast(tf.shape(y_true)[0], self.dtype))

    def result(self) -> tf.Tensor:
        return self.total


def _classifier(strategy: tf.distribute.Strategy | None) -> keras.Model:
    with strategy.scope() if strategy else contextlib.nullcontext():
        keras.utils.set_random_seed(0)
        model = keras.Sequential(
            [
                keras.Input((8, 8, 1)),
                _NonEmpty(),
                keras.layers.Rescaling(1 / 255),
                keras.layers.Conv2D(4, 3),
                keras.layers.BatchNormalization(),
                keras.layers.Flatten(),
                keras.layers.Dense(3, activation="softmax"),
            ]
        )
        model.compile(
            "sgd",
            keras.losses.SparseCategoricalCrossentropy(),
            metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy"), _Count()],
        )
    return model


def _random_data(n: int) -> LabeledImages:
    rng = np.random.default_rng(n)
    return LabeledImages(rng.integers(0, 256, (n, 8, 8), dtype=np.uint8), np.arange(n) % 3, ("a", "b", "c"))


@pytest.mark.parametrize("replicas", [1, 2, 3, 4, 8])
def test_evaluation_batch_sizes_cover_every_example_and_split_over_every_replica(replicas: int) -> None:
    for batch_size in range(replicas, 5 * replicas + 1, replicas):
        for n in range(replicas, 200):
            try:
                sizes = _batch_sizes(n, batch_size, replicas, drop_remainder=False, evaluation=True)
            except DataError as err:  # only when no split can give every replica some
                assert "Too few examples" in str(err) and n < replicas * replicas
                continue
            assert sum(sizes) == n and min(sizes) >= 1, (n, batch_size, sizes)
            for size in sizes:  # tf.distribute cuts a batch into pieces of ceil(size / replicas)
                piece = -(-size // replicas)
                assert (replicas - 1) * piece < size or size % replicas == 0, (n, batch_size, sizes)
            assert all(s == batch_size for s in sizes[:-2]), sizes
            assert all(s % replicas == 0 for s in sizes[:-1]), sizes
            assert max(sizes) <= batch_size or batch_size < replicas * replicas


def test_evaluation_sizes_examples_and_training_unchanged() -> None:
    def sizes(n: int, **kw: object) -> list[int]:
        return [len(b) for b in _ids(make_pipeline(_data(n), **kw))]  # type: ignore[arg-type]

    assert sizes(257, batch_size=256, num_replicas=2, evaluation=True) == [254, 3]
    assert sizes(101, batch_size=100, num_replicas=2, evaluation=True) == [98, 3]
    assert sizes(101, batch_size=256, num_replicas=2, evaluation=True) == [101]
    # 22 = 3*6 + 4, but 4 over 3 replicas is cut 2, 2, 0: the last batch takes 3 more (3, 3, 1).
    assert sizes(22, batch_size=6, num_replicas=3, evaluation=True) == [6, 6, 3, 7]
    assert sizes(22, batch_size=4, num_replicas=4, evaluation=True) == [4, 4, 4, 10]  # 10 -> 3, 3, 3, 1
    # Training pipelines keep the even split (and drop what does not split).
    assert sizes(257, batch_size=256, num_replicas=2) == [256]
    assert sizes(22, batch_size=6, num_replicas=3) == [6, 6, 6, 3]


def test_the_empty_replica_check_works(mirrored: tf.distribute.Strategy) -> None:
    # A batch of 1 over 2 replicas leaves one empty: the check (used below) catches it.
    data = _random_data(21)
    ds = tf.data.Dataset.from_tensor_slices((data.images[..., None].astype("float32"), data.labels)).batch(10)
    with pytest.raises(tf.errors.InvalidArgumentError, match="a replica got an empty batch"):
        _classifier(mirrored).predict(ds, verbose=0)


@pytest.mark.parametrize("n", [101, 21, 23])
def test_mirrored_evaluate_counts_every_example_like_one_device(
    mirrored: tf.distribute.Strategy, n: int
) -> None:
    data = _random_data(n)
    one = _classifier(None)
    two = _classifier(mirrored)
    two.set_weights(one.get_weights())
    ds = make_pipeline(data, batch_size=10, num_replicas=2, evaluation=True)
    got = two.evaluate(ds, return_dict=True, verbose=0)
    want = one.evaluate(make_pipeline(data, batch_size=n), return_dict=True, verbose=0)
    # And by hand: means over exactly the n examples.
    probs = one.predict(data.images[..., None].astype("float32"), verbose=0)
    loss = float(np.mean(-np.log(probs[np.arange(n), data.labels])))
    accuracy = float(np.mean(probs.argmax(1) == data.labels))
    assert got["count"] == want["count"] == n
    assert got["accuracy"] == pytest.approx(accuracy, abs=1e-7) and want["accuracy"] == pytest.approx(
        accuracy
    )
    assert got["loss"] == pytest.approx(want["loss"], rel=1e-5) and got["loss"] == pytest.approx(
        loss, rel=1e-5
    )
    np.testing.assert_allclose(two.predict(ds, verbose=0), probs, rtol=1e-5, atol=1e-6)


def test_evaluation_errors() -> None:
    with pytest.raises(
        ConfigError, match=r"`evaluation=True` yields every example once.*Received: shuffle=True"
    ):
        make_pipeline(_data(), batch_size=4, shuffle=True, seed=0, evaluation=True)
    with pytest.raises(ConfigError, match=r"Received: drop_remainder=True, augment of type"):
        make_pipeline(
            _data(), batch_size=4, drop_remainder=True, augment=make_augmentation("light"), evaluation=True
        )
    with pytest.raises(ConfigError, match=r"`evaluation` must be True or False"):
        make_pipeline(_data(), batch_size=4, evaluation=1)  # type: ignore[arg-type]
    with pytest.raises(
        DataError, match=r"Too few examples.*Received: 5 examples, num_replicas=4\. Fix: use at least 13"
    ):
        make_pipeline(_data(5), batch_size=4, num_replicas=4, evaluation=True)
