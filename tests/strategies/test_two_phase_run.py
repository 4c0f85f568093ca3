"""Must-show: feature extraction, then fine-tune the top 2 groups at a lower rate, on a real
Classifier (AlexNet, width 0.125), on one device and under MirroredStrategy on 2 logical CPUs."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from transferlab.backbones.classifier import build_classifier
from transferlab.strategies import FineTune

STRATEGY = FineTune(epochs=1, top=2, warmup_epochs=1, learning_rate=0.01, lr_decay=0.5)


def build(strategy: tf.distribute.Strategy | None) -> keras.Model:
    keras.utils.set_random_seed(7)
    if strategy is None:
        return build_classifier("alexnet", 3, width=0.125)
    with strategy.scope():
        return build_classifier("alexnet", 3, width=0.125)


@pytest.mark.parametrize("distributed", [False, True], ids=["one_device", "mirrored"])
def test_two_phases_move_only_their_variables(
    distributed: bool, h: type, request: pytest.FixtureRequest
) -> None:
    rng = np.random.default_rng(0)
    x, y = rng.uniform(0, 255, (8, 28, 28, 1)).astype("float32"), rng.integers(0, 3, 8)
    model = build(request.getfixturevalue("mirrored") if distributed else None)
    info = model.backbone_info
    assert info.group_names[-2:] == ("block4", "fc")
    backbone_paths = {v.path for v in model.backbone.variables}
    top2 = {p for p in backbone_paths if p.startswith(("block4_", "fc_"))}
    top2_train = {p for p in top2 if not p.endswith(("moving_mean", "moving_variance", "gamma", "beta"))}
    head = {v.path for v in model.head.variables}
    seen: dict[str, set[str]] = {}
    h.run_phases(
        model,
        STRATEGY.phases(info),
        x,
        y,
        optimizer="adam",
        on_phase=lambda phase, m, moved: seen.__setitem__(phase.name, moved),
    )
    assert seen["warmup"] == head
    assert seen["finetune"] == head | top2_train  # BN of block4 frozen: no stats, no gamma/beta
    assert top2_train == {"block4_conv/kernel", "fc_dense/kernel", "fc_dense/bias"}
    assert type(model.optimizer).__name__ == "LayerwiseAdam"  # fc at lr/20, block4 at lr/40
    if distributed:
        assert model.distribute_strategy.num_replicas_in_sync == 2
