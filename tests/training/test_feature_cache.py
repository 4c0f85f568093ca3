"""FeatureCache: when it is valid, how it is keyed, and that it trains the head like the full model."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import resume_tiny

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
    import keras

    model = resume_tiny.build()
    apply_phase(model, Phase("head", 1))
    assert FeatureCache.reasons_off(model, augment=None) == []
    assert FeatureCache.reasons_off(model, augment=keras.layers.RandomFlip()) == [
        "augmentation is on (features change every epoch)"
    ]
    apply_phase(model, Phase("all", 1, trainable_groups=("block1",), batchnorm="train"))
    reasons = FeatureCache.reasons_off(model, augment=None)
    assert any("variables outside the head train (unfrozen layers" in r for r in reasons)
    assert "BatchNorm layer 'bn1' trains (runs in training mode)" in reasons


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
