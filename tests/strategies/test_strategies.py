"""Each strategy on a tiny backbone: its phases, what moves in each, the optimizer's slots."""

from __future__ import annotations

from collections.abc import Callable

import keras
import numpy as np
import pytest

from transferlab.errors import StrategyError
from transferlab.strategies import (
    Chain,
    FeatureExtraction,
    FineTune,
    GradualUnfreeze,
    Phase,
    Strategy,
    apply_phase,
    build_optimizer,
)

HEAD = {"head_dense/kernel", "head_dense/bias"}


def conv(*groups: str) -> set[str]:
    return {f"{g}_conv/{v}" for g in groups for v in ("kernel", "bias")}


def moves_per_phase(strategy: Strategy, make_model: Callable, data: tuple, h: type) -> dict:
    model = make_model()
    seen: dict[str, tuple[set[str], set[str]]] = {}

    def record(phase: Phase, model: keras.Model, moved: set[str]) -> None:
        slots = {v.path.split("/")[-1] for v in model.optimizer.variables}
        seen[phase.name] = (moved, slots)

    h.run_phases(model, strategy.phases(model.backbone_info), *data, optimizer="adam", on_phase=record)
    return seen


def adam_slots(paths: set[str]) -> set[str]:
    flat = {p.replace("/", "_") for p in paths}
    return {f"{p}_{s}" for p in flat for s in ("momentum", "velocity")} | {"iteration", "learning_rate"}


@pytest.mark.parametrize(
    ("strategy", "expected"),
    [
        (FeatureExtraction(epochs=1, learning_rate=0.01), {"feature_extraction": HEAD}),
        (
            FineTune(epochs=1, top=1, warmup_epochs=1, learning_rate=0.01),
            {"warmup": HEAD, "finetune": HEAD | conv("block2")},
        ),
        (
            FineTune(epochs=1, from_group="block1", lr_decay=0.5, warmup_epochs=0),
            {"finetune": HEAD | conv("block1", "block2")},
        ),
        (
            GradualUnfreeze(epochs_per_step=1, steps=2, learning_rate=0.01),
            {"unfreeze_1": HEAD | conv("block2"), "unfreeze_2": HEAD | conv("block1", "block2")},
        ),
    ],
    ids=["feature_extraction", "fine_tune_top1_warmup", "fine_tune_from_group", "gradual"],
)
def test_only_the_phase_variables_move_and_have_slots(
    strategy: Strategy, expected: dict, make_model: Callable, data: tuple, h: type
) -> None:
    seen = moves_per_phase(strategy, make_model, data, h)
    assert list(seen) == list(expected)
    for name, paths in expected.items():
        moved, slots = seen[name]
        assert moved == paths, name  # BN frozen by default: no gamma/beta/moving statistics
        assert slots == adam_slots(paths), name


def test_fine_tune_rates_and_defaults(tiny_backbone) -> None:  # type: ignore[no-untyped-def]
    warm, fine = FineTune(epochs=2, top=2, warmup_epochs=1, learning_rate=1e-3, lr_decay=0.5).phases(
        tiny_backbone
    )
    assert (warm.trainable_groups, warm.learning_rate) == ((), 1e-3)
    assert (fine.trainable_groups, fine.learning_rate, fine.lr_decay) == (("block1", "block2"), 1e-4, 0.5)
    default_warm, _ = FineTune(epochs=1).phases(tiny_backbone)  # a warm-up epoch by default
    assert (default_warm.name, default_warm.epochs) == ("warmup", 1)
    (only,) = FineTune(epochs=1, learning_rate=1e-3, warmup_epochs=0).phases(tiny_backbone)  # same rate
    assert (only.trainable_groups, only.learning_rate) == (("stem", "block1", "block2"), 1e-3)
    (explicit,) = FineTune(finetune_learning_rate=5e-5, warmup_epochs=0).phases(tiny_backbone)
    assert explicit.learning_rate == 5e-5


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: FineTune(top=1, from_group="block1"), r"takes `top` or `from_group`, not both"),
        (lambda: FineTune(top=0), r"`top` must be a whole number >= 1. Received: top=0"),
        (lambda: FineTune(warmup_epochs=-1), r"`warmup_epochs` must be a whole number >= 0"),
        (lambda: FineTune(lr_decay=2.0), r"`lr_decay` must be in \(0, 1\]"),
        (lambda: GradualUnfreeze(steps=0), r"`steps` must be a whole number >= 1"),
        (lambda: FeatureExtraction(epochs=0), r"`epochs` must be a whole number >= 1"),
        (lambda: Chain(FeatureExtraction(), "finetune"), r"Chain\(\) takes strategies. Received: str"),
    ],
)
def test_bad_options_are_refused_at_construction(make: Callable, message: str) -> None:
    with pytest.raises(StrategyError, match=message):
        make()


def test_options_that_do_not_fit_the_backbone_are_refused(tiny_backbone) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(StrategyError, match=r"FineTune\(top=4\) asks for more groups.*Accepted: 1 to 3"):
        FineTune(top=4).phases(tiny_backbone)
    with pytest.raises(StrategyError, match=r"has no layer group 'block9'"):
        FineTune(from_group="block9").phases(tiny_backbone)
    with pytest.raises(StrategyError, match=r"GradualUnfreeze\(steps=5\) asks for more groups"):
        GradualUnfreeze(steps=5).phases(tiny_backbone)


def test_a_chain_equals_running_its_parts_by_hand(make_model: Callable, data: tuple, h: type) -> None:
    warmup, gradual = (
        FeatureExtraction(epochs=1, learning_rate=0.05),
        GradualUnfreeze(steps=2, learning_rate=0.02, lr_decay=0.5),
    )
    chained = make_model(seed=3)
    info = chained.backbone_info
    phases = (warmup + gradual).phases(info)
    assert [p.name for p in phases] == ["feature_extraction", "unfreeze_1", "unfreeze_2"]
    assert (warmup + gradual).total_epochs(info) == 3
    h.run_phases(chained, phases, *data, optimizer="adam")

    by_hand = make_model(seed=3)
    epoch = 0
    for part in (warmup, gradual):
        for phase in part.phases(info):
            apply_phase(by_hand, phase)
            by_hand.compile(
                optimizer=build_optimizer(by_hand, phase, "adam"), loss="sparse_categorical_crossentropy"
            )
            by_hand.fit(
                *data,
                batch_size=8,
                epochs=epoch + phase.epochs,
                initial_epoch=epoch,
                shuffle=False,
                verbose=0,
            )
            epoch += phase.epochs
    for a, b in zip(chained.variables, by_hand.variables):
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=a.path)
    assert not np.array_equal(
        chained.get_layer("head").get_weights()[0], make_model(seed=3).get_layer("head").get_weights()[0]
    )
