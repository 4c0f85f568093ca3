"""FeatureCache: when it is valid, how it is keyed, and that it trains the head like the full model."""

from __future__ import annotations

import sys
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

sys.path.insert(0, str(Path(__file__).resolve().parent))
import resume_tiny

from transferlab.backbones import (
    BackboneInfo,
    LayerGroup,
    build_classifier,
    register_backbone,
    unregister_backbone,
)
from transferlab.data import LabeledImages, make_pipeline
from transferlab.data.source import ArraySource, IndexedSource, StreamSource
from transferlab.errors import ConfigError, DataError, DataFileError, StorageError
from transferlab.strategies import FeatureExtraction, FineTune, Phase, apply_phase
from transferlab.training.feature_cache import MEMORY_LIMIT, FeatureCache
from transferlab.training.trainer import Trainer


def _head_weights(result) -> list[np.ndarray]:  # type: ignore[no-untyped-def]
    return [np.asarray(v.numpy()) for v in result.model.head.variables]


def test_cached_training_equals_uncached(tmp_path: Path) -> None:
    data = resume_tiny.data(48)
    results = {}
    for mode in ("auto", "off"):
        trainer = Trainer(
            resume_tiny.build,
            strategy=FeatureExtraction(epochs=2, learning_rate=1e-2),
            run_dir=tmp_path,
            run_name=f"fc-{mode}",
            batch_size=16,
            verbose=0,
            deterministic=True,
            feature_cache=mode,
        )
        results[mode] = trainer.fit(data, data.take(range(16)))
    assert results["auto"].feature_cache == {"feature_extraction": "on"}
    assert results["off"].feature_cache["feature_extraction"].startswith("off: feature_cache='off'")
    for cached, full in zip(_head_weights(results["auto"]), _head_weights(results["off"])):
        np.testing.assert_allclose(cached, full, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(results["auto"].history["loss"], results["off"].history["loss"], rtol=1e-4)
    decisions = (results["off"].run_dir / "decisions.json").read_text()
    assert "feature_cache='off'" in decisions


def test_reasons_off_name_augmentation_unfrozen_layers_and_training_batchnorm() -> None:
    model = resume_tiny.build()
    apply_phase(model, Phase("head", 1))
    assert FeatureCache.reasons_off(model, augment=None) == []
    assert FeatureCache.reasons_off(model, augment=keras.layers.RandomFlip()) == [
        "augmentation is on (features change every epoch)"
    ]
    apply_phase(model, Phase("all", 1, trainable_groups=("block1",), batchnorm="train"))
    reasons = FeatureCache.reasons_off(model, augment=None)
    assert any("variables outside the head train (unfrozen layers" in r for r in reasons)
    assert "BatchNorm layer 'bn1' (BatchNormalization) trains (runs in training mode)" in reasons
    assert any("(unfrozen layers: 'conv1' (Conv2D)" in r for r in reasons)


def test_key_changes_with_weights_and_data_and_disk_round_trip(tmp_path: Path) -> None:
    model = resume_tiny.build()
    data = resume_tiny.data(10)
    cache = FeatureCache(tmp_path, batch_size=4)
    key = cache.key(model, data)
    first = cache.features(model, data)
    assert first.shape == (10, 6) and first.element_shape == (6,) and cache.misses == 1
    assert np.array_equal(cache.features(model, data).numpy(), first.numpy()) and cache.hits == 1
    assert [p.name for p in tmp_path.iterdir()] == [key]
    fresh = FeatureCache(tmp_path)
    assert np.array_equal(fresh.features(model, data).numpy(), first.numpy()) and fresh.misses == 0  # disk
    assert cache.key(model, resume_tiny.data(10, seed=1)) != key
    expected = model.feature_extractor().predict(data.images[..., None].astype("float32"), verbose=0)
    np.testing.assert_allclose(first.numpy(), expected, rtol=1e-5, atol=1e-6)
    conv = model.backbone.get_layer("conv1")
    conv.kernel.assign(conv.kernel.numpy() + 1.0)
    assert cache.key(model, data) != key


def test_finetune_turns_cache_off_in_the_unfrozen_phase(tmp_path: Path) -> None:
    data = resume_tiny.data(32)
    result = Trainer(
        resume_tiny.build,
        strategy=FineTune(epochs=1, top=1, warmup_epochs=1),
        run_dir=tmp_path,
        batch_size=16,
        verbose=0,
    ).fit(data)
    assert result.feature_cache["warmup"] == "on"
    assert result.feature_cache["finetune"].startswith("off: ")
    assert [row["phase"] for row in result.rows] == ["warmup", "finetune"]


def test_bfloat16_run_caches_bfloat16_features(tmp_path: Path) -> None:
    data = resume_tiny.data(32)
    trainer = Trainer(
        resume_tiny.build,
        strategy=FeatureExtraction(epochs=1),
        run_dir=tmp_path,
        batch_size=16,
        verbose=0,
        precision="bfloat16",
    )
    result = trainer.fit(data)
    assert result.feature_cache == {"feature_extraction": "on"}
    assert result.model.head.get_layer("head_dense").dtype_policy.name == "float32"
    assert np.isfinite(result.history["loss"]).all()


# === Key: the whole feature path, stable across rebuilds ===

CUSTOM = "tl_fc_custom"


@pytest.fixture(scope="module", autouse=True)
def custom_backbone():  # type: ignore[no-untyped-def]
    """A tiny backbone with auto-named layers and an optional extra layer before its pool."""

    @register_backbone(
        BackboneInfo(
            name=CUSTOM,
            default_input_size=(12, 12),
            min_input_size=(8, 8),
            channels=1,
            preprocessing="unit",
            feature_layer="pool",
            groups=(LayerGroup("block1", "pool"),),
        )
    )
    def custom(
        *, input_shape: tuple[int, ...], name: str, extra: keras.layers.Layer | None = None
    ) -> keras.Model:
        x = keras.Input(input_shape)
        y = keras.layers.Conv2D(3, 3, padding="same")(x)  # auto-named: conv2d, conv2d_1 ...
        y = keras.layers.ReLU()(y)
        if extra is not None:
            y = extra(y)
        y = keras.layers.MaxPooling2D(name="pool")(y)
        return keras.Model(x, y, name=name)

    yield
    unregister_backbone(CUSTOM)


def _custom(extra: keras.layers.Layer | None = None, frozen: bool = True, **options: object) -> keras.Model:
    model = build_classifier(CUSTOM, 3, input_shape=(12, 12, 1), extra=extra, **options)
    if frozen:
        apply_phase(model, Phase("head", 1))
    return model


def _same_weights(source: keras.Model, target: keras.Model) -> keras.Model:
    target.backbone.set_weights(source.backbone.get_weights())
    target.head.set_weights(source.head.get_weights())
    return target


def test_same_model_built_twice_has_the_same_key() -> None:
    data = resume_tiny.data(6)
    first = _custom()
    second = _same_weights(first, _custom(frozen=False))  # other auto names, other trainable flags
    assert first.backbone.layers[1].name != second.backbone.layers[1].name
    assert FeatureCache().key(first, data) == FeatureCache().key(second, data)


def test_pooling_max_and_avg_with_the_same_weights_have_different_keys() -> None:
    data = resume_tiny.data(6)
    avg = _custom(pooling="avg")
    peak = _same_weights(avg, _custom(pooling="max"))
    cache = FeatureCache()
    assert cache.key(avg, data) != cache.key(peak, data)
    # A layer without variables between backbone and pooling counts too.
    scaled = _same_weights(avg, _custom(extra=keras.layers.Rescaling(2.0)))
    assert cache.key(avg, data) != cache.key(scaled, data)


def test_input_size_and_resize_change_the_key() -> None:
    data = resume_tiny.data(6)
    base = _custom()
    bigger = _same_weights(base, _custom(input_size=(16, 16)))
    nearest = _same_weights(base, _custom(input_size=(16, 16), resize="nearest"))
    keys = {FeatureCache().key(model, data) for model in (base, bigger, nearest)}
    assert len(keys) == 3
    assert FeatureCache().key(base, resume_tiny.data(6).take(range(5))) != FeatureCache().key(base, data)


def test_disk_cache_of_the_avg_model_is_not_read_by_the_max_model(tmp_path: Path) -> None:
    data = resume_tiny.data(8)
    avg = _custom(pooling="avg")
    peak = _same_weights(avg, _custom(pooling="max"))
    avg_features = FeatureCache(tmp_path).features(avg, data).numpy()
    later = FeatureCache(tmp_path)  # another run: only the disk is shared
    peak_features = later.features(peak, data).numpy()
    assert later.misses == 1 and later.hits == 0
    assert len(list(tmp_path.glob("*/manifest.json"))) == 2
    images = data.images[..., None].astype("float32")
    np.testing.assert_allclose(peak_features, peak.feature_extractor().predict(images, verbose=0), rtol=1e-6)
    assert not np.allclose(peak_features, avg_features)
    rebuilt = _same_weights(avg, _custom(pooling="avg"))
    again = FeatureCache(tmp_path)
    np.testing.assert_array_equal(again.features(rebuilt, data).numpy(), avg_features)
    assert again.hits == 1 and again.misses == 0  # the same model built again reads the avg file


# === Random layers: by type, by SeedGenerator, or declared ===


class MyDropout(keras.layers.Dropout):
    """A Dropout subclass: random like its base."""


class QuietDropout(keras.layers.Dropout):
    """Declares itself deterministic."""

    transferlab_random = False


class Jitter(keras.layers.Layer):
    """An identity that declares itself random."""

    transferlab_random = True

    def call(self, x: object) -> object:
        return x


class Sampler(keras.layers.Layer):
    """Holds a SeedGenerator (noise in training) without being a known Keras class."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)
        self.seed_generator = keras.random.SeedGenerator(0)

    def call(self, x: object, training: bool = False) -> object:
        if training:
            return x + keras.random.normal(keras.ops.shape(x), seed=self.seed_generator)
        return x


class Block(keras.layers.Layer):
    """A custom block with a dropout sublayer."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)
        self.inner = keras.layers.Dropout(0.5, name="inner_drop")

    def call(self, x: object, training: bool = False) -> object:
        return self.inner(x, training=training)


class QuietBlock(Block):
    """The same block, declared deterministic (its dropout included)."""

    transferlab_random = False


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        (
            lambda: MyDropout(0.3, name="drop"),
            "'drop' (MyDropout) in 'tl_fc_custom' is active in training (a keras Dropout)",
        ),
        (lambda: keras.layers.RandomFlip(name="flip"), "'flip' (RandomFlip) in 'tl_fc_custom'"),
        (lambda: keras.layers.SpatialDropout2D(0.2, name="sdrop"), "'sdrop' (SpatialDropout2D)"),
        (lambda: keras.layers.GaussianNoise(0.1, name="noise"), "'noise' (GaussianNoise)"),
        (
            lambda: Jitter(name="jitter"),
            "'jitter' (Jitter) in 'tl_fc_custom' is active in training (it declares transferlab_random = True)",
        ),
        (
            lambda: Sampler(name="sampler"),
            "'sampler' (Sampler) in 'tl_fc_custom' is active in training (it draws from a keras.random.SeedGenerator)",
        ),
        (lambda: Block(name="block"), "'inner_drop' (Dropout) in 'block'"),
    ],
    ids=[
        "dropout-subclass",
        "random-flip",
        "spatial-dropout",
        "gaussian-noise",
        "declared-true",
        "seed-generator",
        "nested",
    ],
)
def test_a_random_layer_in_a_custom_backbone_switches_the_cache_off(extra, expected) -> None:  # type: ignore[no-untyped-def]
    model = _custom(extra=extra())
    reasons = FeatureCache.reasons_off(model, augment=None)
    assert len(reasons) == 1, reasons
    assert reasons[0].startswith("random layer ") and expected in reasons[0]


@pytest.mark.parametrize(
    "extra",
    [
        lambda: QuietDropout(0.5),
        lambda: QuietBlock(),
        lambda: MyDropout(0.0),
        lambda: keras.layers.GaussianNoise(0.0),
    ],
    ids=["declared-false", "declared-false-block", "rate-0", "stddev-0"],
)
def test_deterministic_layers_keep_the_cache_on(extra) -> None:  # type: ignore[no-untyped-def]
    assert FeatureCache.reasons_off(_custom(extra=extra()), augment=None) == []


def test_a_non_bool_declaration_is_a_config_error() -> None:
    class Vague(Jitter):
        transferlab_random = "sometimes"  # type: ignore[assignment]

    with pytest.raises(ConfigError, match="`transferlab_random` must be True or False.*'vague' \\(Vague\\)"):
        FeatureCache.reasons_off(_custom(extra=Vague(name="vague")), augment=None)


# === Features as a source: in memory or in shards on disk ===


class Generated(IndexedSource):
    """Images computed from their index inside the graph: no image is ever held."""

    reads_elements = False

    def __init__(self, n: int, salt: int = 7) -> None:
        self._labels = np.arange(n, dtype=np.int64) % 3
        self.class_names = ("a", "b", "c")
        self.pixel_range = (0.0, 255.0)
        self.salt = salt

    @property
    def labels(self) -> np.ndarray:
        return self._labels

    @property
    def element_shape(self) -> tuple[int, ...]:
        return (12, 12, 1)

    @property
    def element_dtype(self) -> tf.DType:
        return tf.uint8

    def read_batch(self, indices: tf.Tensor) -> tf.Tensor:
        pixels = (indices[:, None] * self.salt + tf.range(144, dtype=tf.int64)[None]) % 256
        return tf.reshape(tf.cast(pixels, tf.uint8), (-1, 12, 12, 1))

    def images(self) -> np.ndarray:
        index = np.arange(len(self))[:, None]
        return ((index * self.salt + np.arange(144)[None]) % 256).reshape(-1, 12, 12, 1).astype("float32")

    def fingerprint(self) -> dict[str, object]:
        return {"generated": len(self), "salt": self.salt}


def _expected(model: keras.Model, images: np.ndarray) -> np.ndarray:
    return np.asarray(model.feature_extractor()(images.astype("float32"), training=False))


def _float_arrays(root: object) -> list[np.ndarray]:
    """Float NumPy arrays reachable from ``root`` through attributes and containers (transferlab objects)."""
    found: list[np.ndarray] = []
    seen: set[int] = set()
    stack = [root]
    while stack:
        obj = stack.pop()
        if id(obj) in seen:
            continue
        seen.add(id(obj))
        if isinstance(obj, np.ndarray):
            if obj.dtype.kind in "fV" or obj.dtype.name == "bfloat16":
                found.append(obj)
        elif isinstance(obj, dict):
            stack.extend(obj.values())
        elif isinstance(obj, (list, tuple)):
            stack.extend(obj)
        elif type(obj).__module__.startswith(("transferlab", "test_feature_cache")) and hasattr(
            obj, "__dict__"
        ):
            stack.extend(vars(obj).values())
    return found


@pytest.mark.parametrize("where", ["memory", "disk"])
def test_features_equal_the_extractor_output(tmp_path: Path, where: str) -> None:
    model = resume_tiny.build()
    data = resume_tiny.data(37)
    limit = 0 if where == "disk" else MEMORY_LIMIT
    cache = FeatureCache(scratch=tmp_path, batch_size=8, memory_limit=limit, shard_bytes=10 * 6 * 4)
    features = cache.features(model, data)
    assert features.in_memory == (where == "memory")
    assert (features.element_shape, features.element_dtype, features.pixel_range) == ((6,), tf.float32, None)
    assert features.labels.tolist() == data.labels.tolist() and features.class_names == data.class_names
    assert features.reads_elements is False
    if where == "disk":
        assert [s.rows for s in features.shards] == [10, 10, 10, 7]
        assert all(s.path.stat().st_size - s.offset <= 10 * 6 * 4 for s in features.shards)
        assert features.files([0, 36]) == [str(features.shards[0].path), str(features.shards[3].path)]
    else:
        assert list(tmp_path.iterdir()) == []  # small and no folder: nothing written
    np.testing.assert_allclose(
        features.numpy(), _expected(model, data.images[..., None]), rtol=1e-5, atol=1e-6
    )


@pytest.mark.parametrize("where", ["memory", "disk"])
def test_feature_pipeline_yields_the_rows_of_the_image_pipeline_in_order(tmp_path: Path, where: str) -> None:
    model = resume_tiny.build()
    data = resume_tiny.data(45)
    cache = FeatureCache(
        scratch=tmp_path, memory_limit=0 if where == "disk" else MEMORY_LIMIT, shard_bytes=96
    )
    features = cache.features(model, data)
    assert features.in_memory == (where == "memory") and len(features.shards) == (
        0 if where == "memory" else 12
    )
    extractor = model.feature_extractor()
    options = {"batch_size": 8, "shuffle": True, "seed": 11, "epoch": 3, "skip_batches": 2}
    image_batches = list(make_pipeline(data, **options))
    feature_batches = list(make_pipeline(features, **options))
    assert len(feature_batches) == len(image_batches) == 4
    for (images, labels), (rows, row_labels) in zip(image_batches, feature_batches, strict=True):
        np.testing.assert_array_equal(row_labels.numpy(), labels.numpy())
        expected = extractor(images, training=False).numpy()
        np.testing.assert_allclose(rows.numpy(), expected, rtol=1e-5, atol=1e-6)


def test_bfloat16_features_round_trip_through_shards(tmp_path: Path) -> None:
    model = resume_tiny.build(precision="bfloat16")
    apply_phase(model, Phase("head", 1))
    data = resume_tiny.data(20)
    in_memory = FeatureCache().features(model, data)
    on_disk = FeatureCache(tmp_path, memory_limit=0, shard_bytes=64).features(model, data)
    assert in_memory.element_dtype == on_disk.element_dtype == tf.bfloat16 and not on_disk.in_memory
    assert np.load(on_disk.shards[0].path).dtype == np.uint16  # bfloat16 stored as its bits
    np.testing.assert_array_equal(on_disk.numpy().view(np.uint16), in_memory.numpy().view(np.uint16))
    rows, _ = next(iter(make_pipeline(on_disk, batch_size=20, evaluation=True)))
    np.testing.assert_array_equal(rows.numpy(), in_memory.numpy().astype("float32"))


def test_a_generated_source_streams_and_its_key_follows_its_fingerprint(tmp_path: Path) -> None:
    model = resume_tiny.build()
    source = Generated(30)
    cache = FeatureCache(scratch=tmp_path, memory_limit=0, shard_bytes=256, batch_size=7)
    features = cache.features(model, source)
    np.testing.assert_allclose(features.numpy(), _expected(model, source.images()), rtol=1e-5, atol=1e-6)
    keys = {
        cache.key(model, source),
        cache.key(model, Generated(30, salt=5)),  # other pixels: another fingerprint
        cache.key(model, Generated(31)),
        cache.key(model, source.take(range(29))),
    }
    assert len(keys) == 4 and cache.key(model, Generated(30)) == cache.key(model, source)


def test_keys_follow_the_arrays_and_the_declared_pixel_range() -> None:
    model = resume_tiny.build()
    data = resume_tiny.data(6)
    as_float = LabeledImages(data.images.astype("float32"), data.labels, data.class_names)
    unit = LabeledImages(data.images / 255.0, data.labels, data.class_names, pixel_range=(0, 1))
    cache = FeatureCache()
    keys = [cache.key(model, d) for d in (data, as_float, unit, ArraySource(data))]
    assert len(set(keys[:3])) == 3 and keys[3] == keys[0]
    np.testing.assert_allclose(
        cache.features(model, unit).numpy(), cache.features(model, data).numpy(), atol=1e-4
    )


def test_entries_on_disk_are_found_again_by_key_in_folder_and_scratch(tmp_path: Path) -> None:
    model = resume_tiny.build()
    data = resume_tiny.data(25)
    for name, options in (("folder", {"folder": tmp_path / "f"}), ("scratch", {"scratch": tmp_path / "s"})):
        first = FeatureCache(memory_limit=0, shard_bytes=100, **options)  # type: ignore[arg-type]
        computed = first.features(model, data).numpy()
        again = FeatureCache(memory_limit=0, shard_bytes=100, **options)  # type: ignore[arg-type]
        found = again.features(model, data)
        assert (again.hits, again.misses, found.in_memory) == (1, 0, False), name
        np.testing.assert_array_equal(found.numpy(), computed)
    # Found on disk and small enough: read into memory.
    loaded = FeatureCache(tmp_path / "f").features(model, data)
    assert loaded.in_memory and not loaded.shards


def test_the_memory_limit_holds_for_all_entries_together(tmp_path: Path) -> None:
    model = resume_tiny.build()
    small, big = resume_tiny.data(20), resume_tiny.data(200, seed=1)
    limit = 20 * 6 * 4 + 100  # the small table fits, then the big one does not
    cache = FeatureCache(scratch=tmp_path, memory_limit=limit, shard_bytes=1024)
    assert cache.features(model, small).in_memory
    features = cache.features(model, big)
    assert not features.in_memory and len(features.shards) == 5  # 4800 bytes in shards of <= 1 KiB
    held = [a for a in _float_arrays(cache) if a.size]
    assert [a.shape for a in held] == [(20, 6)]  # the small table only: nothing of the big one
    assert _float_arrays(features) == []
    np.testing.assert_allclose(
        features.numpy(), _expected(model, big.images[..., None]), rtol=1e-5, atol=1e-6
    )


def test_features_beyond_the_limit_without_a_folder_are_refused_before_computing() -> None:
    model = resume_tiny.build()
    cache = FeatureCache(memory_limit=1000)
    with pytest.raises(ConfigError) as caught:
        cache.features(model, resume_tiny.data(50))
    assert str(caught.value) == (
        "The cached features do not fit in the feature cache's memory limit, and it has no folder to "
        "write them to. Received: 50 examples x 6 float32 features = 0.0 MiB, memory_limit=0.0 MiB "
        "(0.0 MiB already held). Fix: pass FeatureCache(folder=...) or FeatureCache(scratch=...) "
        "(feature_cache='disk' in a run), or a larger memory_limit."
    )
    assert cache.misses == 1 and cache.hits == 0


def test_bad_sizes_and_stream_sources_are_refused() -> None:
    with pytest.raises(
        ConfigError, match=r"^`memory_limit` must be an integer >= 0\. Received: memory_limit=-1\.$"
    ):
        FeatureCache(memory_limit=-1)
    with pytest.raises(
        ConfigError, match=r"^`shard_bytes` must be an integer >= 1\. Received: shard_bytes=0\.$"
    ):
        FeatureCache(shard_bytes=0)
    stream = tf.data.Dataset.from_tensor_slices((np.zeros((4, 12, 12), "uint8"), np.arange(4) % 3))
    with pytest.raises(DataError) as caught:
        FeatureCache().features(resume_tiny.build(), StreamSource(stream, num_classes=3))
    assert str(caught.value).startswith(
        "The feature cache reads indexed sources (every example by index, in a fixed order). "
        "Received: a source of type StreamSource."
    )
    assert "Fix: turn the feature cache off for this data (feature_cache='off')." in str(caught.value)


def test_a_shard_truncated_while_reading_is_a_named_error_then_recomputed(tmp_path: Path) -> None:
    model = resume_tiny.build()
    data = resume_tiny.data(30)
    cache = FeatureCache(tmp_path, memory_limit=0, shard_bytes=240)
    features = cache.features(model, data)
    expected = features.numpy()
    victim = features.shards[1].path
    with open(victim, "r+b") as handle:
        handle.truncate(features.shards[1].offset + 100)
    with pytest.raises(tf.errors.OpError) as caught:
        list(make_pipeline(features, batch_size=30, evaluation=True))
    assert f"The cached features file {victim} is damaged: ends at byte" in str(caught.value)
    error = features.diagnose()
    assert isinstance(error, DataFileError) and str(error).startswith(
        f"The cached features file {victim} is damaged: ends at byte {features.shards[1].offset + 100}, "
        "before the row data it should hold (truncated). Fix: ask the feature cache again"
    )
    assert not (tmp_path / features.key / "manifest.json").exists()  # the entry is dropped
    again = cache.features(model, data)
    assert again is not features and cache.misses == 2
    np.testing.assert_array_equal(again.numpy(), expected)
    assert FeatureCache(tmp_path, memory_limit=0).features(model, data).numpy().tolist() == expected.tolist()


@pytest.mark.parametrize("damage", ["truncated", "flipped", "deleted"])
def test_a_damaged_shard_found_on_disk_is_logged_and_recomputed(
    tmp_path: Path, damage: str, caplog: pytest.LogCaptureFixture
) -> None:
    model = resume_tiny.build()
    data = resume_tiny.data(30)
    features = FeatureCache(tmp_path, memory_limit=0, shard_bytes=240).features(model, data)
    expected, victim = features.numpy(), features.shards[2].path
    features.close()
    if damage == "truncated":
        victim.write_bytes(victim.read_bytes()[:-3])
        why = f"{victim} is damaged: {features.shards[2].offset + 240 - 3} bytes, expected"
    elif damage == "flipped":
        raw = bytearray(victim.read_bytes())
        raw[-1] ^= 0xFF
        victim.write_bytes(bytes(raw))
        why = f"{victim} is damaged: its rows do not match their checksum"
    else:
        victim.unlink()
        why = f"{victim} is damaged: cannot be read (No such file or directory)"
    later = FeatureCache(tmp_path, memory_limit=0, shard_bytes=240)
    with caplog.at_level("WARNING", logger="transferlab.training.feature_cache"):
        again = later.features(model, data)
    assert (later.hits, later.misses) == (0, 1)
    assert any(
        why in r.getMessage() and "computing the features again" in r.getMessage() for r in caplog.records
    )
    np.testing.assert_array_equal(again.numpy(), expected)
    assert FeatureCache(tmp_path, memory_limit=0).features(model, data).numpy().tolist() == expected.tolist()


def test_a_failing_disk_is_a_storage_error_naming_the_shard(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import errno

    import transferlab._atomic as atomic

    def full(src: str, dst: str) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(atomic, "_replace", full)
    cache = FeatureCache(tmp_path, memory_limit=0, shard_bytes=240)
    with pytest.raises(StorageError, match=r"^Cannot write .*/shard-00000\.npy: the disk is full\."):
        cache.features(resume_tiny.build(), resume_tiny.data(30))
    assert [p for p in tmp_path.rglob("*") if not p.is_dir()] == []  # no shard, no manifest, no partial file
