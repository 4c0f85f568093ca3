from __future__ import annotations

from collections.abc import Callable

import keras
import pytest

from transferlab.errors import StrategyError
from transferlab.strategies import Phase, apply_phase, build_optimizer, group_learning_rates


def test_equal_rates_give_a_plain_fresh_optimizer(make_model: Callable) -> None:
    model = make_model()
    phase = Phase("ft", 1, ("block2",), learning_rate=0.01)
    apply_phase(model, phase)
    template = keras.optimizers.Adam(learning_rate=0.5, beta_1=0.8)
    opt = build_optimizer(model, phase, template)
    assert type(opt) is keras.optimizers.Adam and opt is not template
    assert opt.beta_1 == 0.8 and float(opt.learning_rate) == pytest.approx(0.01)  # phase rate, template rest


def test_a_schedule_in_the_template_is_kept(make_model: Callable) -> None:
    model = make_model()
    phase = Phase("ft", 1, ("block2",), learning_rate=0.01, lr_decay=0.5)
    apply_phase(model, phase)
    schedule = keras.optimizers.schedules.ExponentialDecay(0.2, decay_steps=10, decay_rate=0.9)
    opt = build_optimizer(model, phase, keras.optimizers.SGD(learning_rate=schedule))
    assert isinstance(opt._learning_rate, keras.optimizers.schedules.ExponentialDecay)
    assert set(opt.rate_factors.values()) == {1.0, 0.5}


def test_unknown_optimizer_and_bad_group_rates(make_model: Callable, tiny_backbone) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(StrategyError, match=r"Unknown optimizer. Received: optimizer='adamm'"):
        build_optimizer(make_model(), Phase("x", 1), "adamm")
    frozen_rate = Phase("x", 1, ("block2",), group_learning_rates={"block1": 0.1})
    with pytest.raises(StrategyError, match=r"rates to groups that do not train in it.*\['block1'\]"):
        group_learning_rates(tiny_backbone, frozen_rate)
    with pytest.raises(StrategyError, match=r"group learning rates must be > 0"):
        group_learning_rates(tiny_backbone, Phase("x", 1, ("block2",), group_learning_rates={"block2": 0}))
