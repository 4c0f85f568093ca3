"""FeatureCache: when it is valid, how it is keyed, and that it trains the head like the full model."""

from __future__ import annotations

import sys
from pathlib import Path

import keras
import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
import resume_tiny

from transferlab.backbones import (
    BackboneInfo,
    LayerGroup,
    build_classifier,
    register_backbone,
    unregister_backbone,
)
from transferlab.errors import ConfigError
from transferlab.strategies import FeatureExtraction, FineTune, Phase, apply_phase
from transferlab.training.feature_cache import FeatureCache
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
    assert first.shape == (10, 6) and cache.misses == 1
    assert np.array_equal(cache.features(model, data), first) and cache.hits == 1
    assert len(list(tmp_path.glob("*.npz"))) == 1
    fresh = FeatureCache(tmp_path)
    assert np.array_equal(fresh.features(model, data), first) and fresh.misses == 0  # from disk
    assert cache.key(model, resume_tiny.data(10, seed=1)) != key
    expected = model.feature_extractor().predict(data.images[..., None].astype("float32"), verbose=0)
    np.testing.assert_allclose(first, expected, rtol=1e-5, atol=1e-6)
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
    avg_features = FeatureCache(tmp_path).features(avg, data)
    later = FeatureCache(tmp_path)  # another run: only the disk is shared
    peak_features = later.features(peak, data)
    assert later.misses == 1 and later.hits == 0
    assert len(list(tmp_path.glob("*.npz"))) == 2
    images = data.images[..., None].astype("float32")
    np.testing.assert_allclose(peak_features, peak.feature_extractor().predict(images, verbose=0), rtol=1e-6)
    assert not np.allclose(peak_features, avg_features)
    rebuilt = _same_weights(avg, _custom(pooling="avg"))
    again = FeatureCache(tmp_path)
    np.testing.assert_array_equal(again.features(rebuilt, data), avg_features)
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
