"""The guard: plain Keras silently trains a backbone frozen after compile; transferlab refuses."""

from __future__ import annotations

from collections.abc import Callable

import keras
import pytest

from transferlab.errors import TrainableStateError
from transferlab.strategies import Phase, check_trainable_state, compile_phase, freeze


def test_plain_keras_trains_a_backbone_frozen_after_compile_and_the_guard_refuses(
    make_model: Callable, data: tuple, h: type
) -> None:
    model = make_model()
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    model.fit(*data, batch_size=8, epochs=1, verbose=0)
    freeze(model.backbone)  # too late: Keras keeps training what it compiled
    before = h.snapshot(model)
    model.fit(*data, batch_size=8, epochs=1, verbose=0)
    assert "stem_conv/kernel" in h.changed(before, h.snapshot(model))  # plain Keras: it moved
    with pytest.raises(
        TrainableStateError,
        match=r"changed since the model was compiled.*Received: now frozen: groups stem, block1, "
        r"block2; layers stem_conv, stem_bn, stem_relu, block1_conv, block1_bn, block1_relu and 5 more. Fix: re-apply the phase and "
        r"compile with a fresh optimizer: transferlab\.strategies\.compile_phase",
    ):
        check_trainable_state(model)
    # the fix the message names: flags applied and compiled together
    compile_phase(model, Phase("head", 1), loss="sparse_categorical_crossentropy", optimizer="sgd")
    check_trainable_state(model)
    before = h.snapshot(model)
    model.fit(*data, batch_size=8, epochs=1, verbose=0)
    assert h.changed(before, h.snapshot(model)) == {"head_dense/kernel", "head_dense/bias"}


def test_unfreezing_after_compile_is_reported_too(make_model: Callable) -> None:
    model = make_model()
    compile_phase(model, Phase("head", 1), loss="sparse_categorical_crossentropy")
    model.backbone.get_layer("block2_conv").trainable = True
    with pytest.raises(
        TrainableStateError, match=r"Received: now trainable: groups block2; layers block2_conv. Fix"
    ):
        check_trainable_state(model)


def test_uncompiled_model_is_refused(make_model: Callable) -> None:
    with pytest.raises(TrainableStateError, match=r"Model '.*' is not compiled. Fix: re-apply"):
        check_trainable_state(make_model())


def test_optimizer_built_for_other_variables_is_refused(make_model: Callable, data: tuple) -> None:
    model = make_model()
    opt = keras.optimizers.SGD(0.1)
    model.compile(optimizer=opt, loss="sparse_categorical_crossentropy")
    model.fit(*data, batch_size=8, epochs=1, verbose=0)  # opt now built for every variable
    freeze(model.backbone)
    model.compile(optimizer=opt, loss="sparse_categorical_crossentropy")  # reused instance
    with pytest.raises(
        TrainableStateError,
        match=r"optimizer was built for other variables.*"
        r"Received: 14 variables compiled for, 2 trainable now",
    ):
        check_trainable_state(model)
