"""Each BN policy, read from the variables before and after one training step."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import keras
import numpy as np
import pytest

from transferlab.errors import StrategyError
from transferlab.strategies import (
    BatchNormPolicy,
    FrozenStatsBatchNormalization,
    Phase,
    apply_batchnorm_policy,
)

BN = "block2_bn/"


@pytest.mark.parametrize(
    ("policy", "affine_moves", "stats_move"),
    [("frozen", False, False), ("affine", True, False), ("train", True, True)],
)
def test_policy_controls_gamma_beta_and_moving_statistics(
    make_model: Callable, data: tuple, h: type, policy: str, affine_moves: bool, stats_move: bool
) -> None:
    model = make_model()
    before = h.snapshot(model)
    h.run_phases(model, [Phase("ft", 1, ("block2",), 0.1, batchnorm=policy)], *data)
    moved = h.changed(before, h.snapshot(model))
    assert {BN + "gamma", BN + "beta"} <= moved if affine_moves else not {BN + "gamma", BN + "beta"} & moved
    stats = {BN + "moving_mean", BN + "moving_variance"}
    assert stats <= moved if stats_move else not stats & moved
    assert "block2_conv/kernel" in moved
    # frozen groups: nothing moves, BN statistics included
    assert not {p for p in moved if p.startswith(("stem_", "block1_"))}


def test_affine_normalises_with_the_moving_statistics(make_model: Callable, data: tuple) -> None:
    model = make_model()
    bn = model.backbone.get_layer("block2_bn")
    apply_batchnorm_policy([bn], BatchNormPolicy.AFFINE)
    x = np.random.default_rng(1).normal(3.0, 2.0, (4, 8, 8, 3)).astype("float32")
    # moving mean 0, variance 1: inference output == gamma * x / sqrt(1 + eps) + beta
    np.testing.assert_allclose(bn(x, training=True), x / np.sqrt(1 + bn.epsilon), rtol=1e-5)
    apply_batchnorm_policy([bn], "train")
    assert type(bn) is keras.layers.BatchNormalization
    assert abs(float(np.mean(bn(x, training=True)))) < 1e-3  # batch statistics again


def test_affine_survives_save_and_load(make_model: Callable, data: tuple, h: type, tmp_path: Path) -> None:
    model = make_model()
    h.run_phases(model, [Phase("ft", 1, ("block2",), 0.1, batchnorm="affine")], *data)
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras")
    bn = loaded.backbone.get_layer("block2_bn")
    assert isinstance(bn, FrozenStatsBatchNormalization) and bn.trainable
    before = h.snapshot(loaded)
    loaded.fit(*data, batch_size=8, epochs=1, verbose=0)  # compiled state came back with it
    moved = h.changed(before, h.snapshot(loaded))
    assert BN + "gamma" in moved and BN + "moving_mean" not in moved


def test_unknown_policy_and_unswitchable_subclass_are_refused() -> None:
    bn = keras.layers.BatchNormalization()
    with pytest.raises(StrategyError, match=r"Unknown BatchNorm policy. Received: policy='fixed'"):
        apply_batchnorm_policy([bn], "fixed")

    class MyBN(keras.layers.BatchNormalization):
        pass

    with pytest.raises(StrategyError, match=r"can only switch plain .* is a MyBN"):
        apply_batchnorm_policy([MyBN(name="mine")], "affine")
