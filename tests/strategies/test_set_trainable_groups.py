from __future__ import annotations

from collections.abc import Callable

import pytest

from transferlab.errors import StrategyError
from transferlab.strategies import Phase, apply_phase, set_trainable_groups

HEAD = {"head_dense/kernel", "head_dense/bias"}


def trainable_paths(model) -> set[str]:  # type: ignore[no-untyped-def]
    return {v.path for v in model.trainable_variables}


def test_groups_select_exactly_their_variables(make_model: Callable) -> None:
    model = make_model()
    assert set_trainable_groups(model, ()) == ()
    assert trainable_paths(model) == HEAD
    assert set_trainable_groups(model, ["block2", "block1"], batchnorm="train") == ("block1", "block2")
    expected = HEAD | {
        f"{g}_{v}" for g in ("block1", "block2") for v in ("conv/kernel", "conv/bias", "bn/gamma", "bn/beta")
    }
    assert trainable_paths(model) == expected
    set_trainable_groups(model, "all")  # BN frozen by default: only the convs
    assert trainable_paths(model) == HEAD | {
        f"{g}_conv/{v}" for g in ("stem", "block1", "block2") for v in ("kernel", "bias")
    }
    assert not model.backbone.get_layer("stem_bn").trainable


def test_apply_phase_refreezes_what_a_previous_phase_unfroze(make_model: Callable) -> None:
    model = make_model()
    apply_phase(model, Phase("all", 1, ("stem", "block1", "block2"), batchnorm="train"))
    apply_phase(model, Phase("head", 1))
    assert trainable_paths(model) == HEAD


def test_unknown_group_is_named_with_a_suggestion(make_model: Callable) -> None:
    with pytest.raises(StrategyError, match=r"has no layer group 'blok1'.*did you mean 'block1'"):
        set_trainable_groups(make_model(), ["blok1"])


def test_a_model_without_backbone_is_refused() -> None:
    import keras

    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)], name="plain")
    with pytest.raises(StrategyError, match=r"lacks `backbone`.*Received: Sequential named 'plain'"):
        apply_phase(model, Phase("x", 1))
