from __future__ import annotations

import keras
import pytest

from transferlab.errors import StrategyError
from transferlab.strategies import freeze, unfreeze


def test_freeze_and_unfreeze_a_model_and_a_list() -> None:
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2), keras.layers.Dense(1)])
    freeze(model)
    assert model.trainable_weights == []
    unfreeze(model.layers)  # the model itself stays frozen: nothing trains
    assert model.trainable_weights == []
    unfreeze(model)
    assert len(model.trainable_weights) == 4
    freeze([model.layers[0]])
    assert [w.path for w in model.trainable_weights] == [w.path for w in model.layers[1].weights]


@pytest.mark.parametrize("bad", ["dense", 3, [keras.layers.Dense(1), "x"]])
def test_freeze_rejects_non_layers(bad: object) -> None:
    with pytest.raises(StrategyError, match=r"take a Keras layer or model, or an iterable of them"):
        freeze(bad)  # type: ignore[arg-type]
    with pytest.raises(StrategyError, match=r"Fix: pass e\.g\. model\.backbone"):
        unfreeze(bad)  # type: ignore[arg-type]


def test_unfreeze_reaches_layers_frozen_one_by_one():
    # Keras' own `model.trainable = True` leaves individually frozen layers frozen.
    import keras

    from transferlab.strategies import unfreeze

    inputs = keras.Input((4,))
    hidden = keras.layers.Dense(3, name="hidden")
    model = keras.Model(inputs, keras.layers.Dense(2)(hidden(inputs)))
    hidden.trainable = False
    model.trainable = True
    assert not hidden.trainable  # the Keras behaviour this guards against
    unfreeze(model)
    assert hidden.trainable and len(model.trainable_weights) == 4
