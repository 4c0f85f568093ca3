"""The optimizer you pass is the optimizer that trains: its rate is the base, a phase scales it."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

from transferlab.errors import StrategyError
from transferlab.strategies import (
    SCHEDULES,
    FeatureExtraction,
    FineTune,
    GradualUnfreeze,
    Phase,
    ScaledSchedule,
    Scratch,
    apply_phase,
    build_optimizer,
    compile_phase,
    group_learning_rates,
    layerwise_optimizer,
    phase_learning_rates,
)


def one_cycle(peak: float = 0.1, steps: int = 100) -> keras.optimizers.schedules.LearningRateSchedule:
    """A one-cycle-like Keras schedule: linear warm-up to ``peak``, cosine down."""
    return keras.optimizers.schedules.CosineDecay(
        peak / 10, decay_steps=steps - steps // 10, warmup_target=peak, warmup_steps=steps // 10
    )


LOSS = "sparse_categorical_crossentropy"
HEAD = ("head_dense/kernel", "head_dense/bias")


def gradients(model: keras.Model, x: np.ndarray, y: np.ndarray) -> dict[str, np.ndarray]:
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(keras.losses.sparse_categorical_crossentropy(y, model(x, training=True)))
    grads = tape.gradient(loss, model.trainable_variables)
    return {v.path: g.numpy() for v, g in zip(model.trainable_variables, grads)}


def comparable(optimizer: keras.optimizers.Optimizer) -> dict:
    config = optimizer.get_config()
    return {k: v for k, v in config.items() if k not in ("learning_rate", "rate_factors")}


# --- the base rate: the optimizer's own ------------------------------------------------------


def test_adadelta_at_1_trains_the_head_at_1_like_plain_keras(make_model: Callable, data: tuple) -> None:
    model = make_model()
    (phase,) = FeatureExtraction(1).phases(model.backbone_info)
    opt = compile_phase(model, phase, loss=LOSS, optimizer=keras.optimizers.Adadelta(learning_rate=1.0))
    assert type(opt) is keras.optimizers.Adadelta and float(opt.learning_rate) == 1.0
    grads = gradients(model, *data)
    before = {v.path: v.numpy().copy() for v in model.trainable_variables}
    assert set(before) == set(HEAD)
    model.train_on_batch(*data)

    reference = keras.optimizers.Adadelta(learning_rate=1.0)  # plain Keras, the same gradient
    copies = [keras.Variable(before[p], name=p.replace("/", "_")) for p in HEAD]
    reference.apply_gradients(zip([grads[p] for p in HEAD], copies))
    for path, copy in zip(HEAD, copies):
        moved = model.get_layer("head").get_layer("head_dense").weights[HEAD.index(path)].numpy()
        np.testing.assert_allclose(moved - before[path], copy.numpy() - before[path], rtol=1e-5, atol=1e-9)
    # At 1e-3 (today's silent default) the step would be a thousand times smaller.
    assert np.abs(copies[0].numpy() - before[HEAD[0]]).max() > 1e-4


@pytest.mark.parametrize(
    "make",
    [
        lambda: keras.optimizers.SGD(learning_rate=0.05, momentum=0.9, nesterov=True, clipnorm=1.0),
        lambda: keras.optimizers.AdamW(
            learning_rate=3e-3,
            weight_decay=1e-4,
            beta_1=0.8,
            epsilon=1e-6,
            amsgrad=True,
            global_clipnorm=2.0,
            use_ema=True,
            ema_momentum=0.9,
            loss_scale_factor=4.0,
            gradient_accumulation_steps=2,
            name="my_adamw",
        ),
        lambda: keras.optimizers.RMSprop(learning_rate=1e-2, rho=0.8, momentum=0.5, clipvalue=0.5),
    ],
    ids=["sgd_nesterov_clipnorm", "adamw_everything", "rmsprop_clipvalue"],
)
def test_every_setting_but_the_rate_reaches_each_phase(make: Callable, make_model: Callable) -> None:
    user = make()
    base = float(user.learning_rate)
    model = make_model()
    warmup, finetune = FineTune(1, top=2, warmup_epochs=1, lr_decay=0.5).phases(model.backbone_info)
    seen = []
    for phase, scale in ((warmup, 1.0), (finetune, 0.1)):
        opt = compile_phase(model, phase, loss=LOSS, optimizer=user)
        assert opt is not user and comparable(opt) == comparable(user), phase.name
        assert float(opt.learning_rate) == pytest.approx(base * scale, rel=1e-6), phase.name
        seen.append(type(opt).__name__)
    assert seen == [type(user).__name__, f"Layerwise{type(user).__name__}"]
    assert model.optimizer.rate_factors["block2_conv/kernel"] == 0.5
    assert model.optimizer.rate_factors["block1_conv/kernel"] == 0.25
    assert float(user.learning_rate) == base  # the template is never changed


def test_a_name_has_keras_default_rate_as_base(make_model: Callable) -> None:
    model = make_model()
    (phase,) = FeatureExtraction(1).phases(model.backbone_info)
    assert float(build_optimizer(model, phase, "adam").learning_rate) == pytest.approx(1e-3)
    assert float(build_optimizer(model, phase, "sgd").learning_rate) == pytest.approx(0.01)
    warm, fine = FineTune(1, warmup_epochs=1).phases(model.backbone_info)
    assert phase_learning_rates(model.backbone_info, warm, "adam").head_rate == 1e-3
    assert phase_learning_rates(model.backbone_info, fine, "adam").head_rate == pytest.approx(1e-4)


def test_group_rates_scale_with_the_head(make_model: Callable, tiny_backbone) -> None:  # type: ignore[no-untyped-def]
    phase = Phase("ft", 1, ("block1", "block2"), lr_scale=0.5, lr_decay=0.5)
    rates = phase_learning_rates(tiny_backbone, phase, keras.optimizers.SGD(0.2))
    assert (rates.head_rate, rates.head_scale) == (0.1, 0.5)
    assert rates.group_rates == {"block1": 0.025, "block2": 0.05}
    assert group_learning_rates(tiny_backbone, phase, head_rate=0.1) == rates.group_rates
    with pytest.raises(
        StrategyError, match=r"Phase 'ft' takes its learning rate from the optimizer.*head_rate"
    ):
        group_learning_rates(tiny_backbone, phase)


# --- explicit strategy rates: they win, never silently ------------------------------------------


def test_an_explicit_rate_replaces_an_instance_rate_with_a_note(
    make_model: Callable, caplog: pytest.LogCaptureFixture
) -> None:
    model = make_model()
    (phase,) = FeatureExtraction(1, learning_rate=1e-3, name="warmup").phases(model.backbone_info)
    with caplog.at_level(logging.WARNING, logger="transferlab.strategies"):
        opt = build_optimizer(model, phase, keras.optimizers.Adadelta(learning_rate=1.0))
    assert float(opt.learning_rate) == pytest.approx(1e-3)
    note = (
        "phase 'warmup': learning_rate=0.001 from the strategy replaces the optimizer's 1.0 (Adadelta); "
        "leave the strategy's learning_rate unset to train at the optimizer's rate"
    )
    assert [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING] == [note]
    rates = phase_learning_rates(model.backbone_info, phase, keras.optimizers.Adadelta(learning_rate=1.0))
    assert rates.notes == (note,)
    assert rates.as_dict()["notes"] == [note]
    # A name has no rate of its own to replace; an equal rate replaces nothing: no note.
    assert phase_learning_rates(model.backbone_info, phase, "adadelta").notes == ()
    assert phase_learning_rates(model.backbone_info, phase, keras.optimizers.Adam(1e-3)).notes == ()


def test_an_explicit_group_rate_with_an_instance_is_noted(tiny_backbone) -> None:  # type: ignore[no-untyped-def]
    phase = Phase("ft", 1, ("block2",), group_learning_rates={"block2": 0.3})
    rates = phase_learning_rates(tiny_backbone, phase, keras.optimizers.SGD(0.1))
    assert rates.group_rates == {"block2": pytest.approx(0.3)}
    assert rates.notes == (
        "phase 'ft': group 'block2' trains at learning_rate=0.3 from the strategy's group_learning_rates, "
        "not at a factor of the optimizer's 0.1 (SGD)",
    )


# --- a schedule as the optimizer's rate ------------------------------------------------------------


def test_a_schedule_is_scaled_per_phase_and_per_group(make_model: Callable) -> None:
    schedule = one_cycle(0.1, 100)
    user = keras.optimizers.Adam(learning_rate=schedule)
    model = make_model()
    warmup, finetune = FineTune(1, top=2, warmup_epochs=1, lr_decay=0.5).phases(model.backbone_info)

    warm_opt = compile_phase(model, warmup, loss=LOSS, optimizer=user)
    assert type(warm_opt) is keras.optimizers.Adam and warm_opt._learning_rate is schedule
    fine_opt = compile_phase(model, finetune, loss=LOSS, optimizer=user)
    scaled = fine_opt._learning_rate
    assert isinstance(scaled, ScaledSchedule) and scaled.schedule is schedule and scaled.factor == 0.1
    for step in (0, 10, 30, 99):
        expected = keras.ops.multiply(schedule(step), keras.ops.cast(0.1, "float32"))
        assert float(scaled(step)) == float(expected), step  # exactly 0.1 x schedule(step)
    factors = fine_opt.rate_factors
    assert {p: factors[p] for p in ("head_dense/kernel", "block2_conv/kernel", "block1_conv/kernel")} == {
        "head_dense/kernel": 1.0,
        "block2_conv/kernel": 0.5,
        "block1_conv/kernel": 0.25,
    }
    assert comparable(fine_opt) == comparable(user)


def test_a_scaled_schedule_trains_each_group_at_its_factor(make_model: Callable, data: tuple) -> None:
    schedule = keras.optimizers.schedules.ExponentialDecay(0.2, decay_steps=1, decay_rate=0.5)
    model = make_model()
    phase = GradualUnfreeze(steps=2, lr_decay=0.5).phases(model.backbone_info)[1]  # lr_scale 0.1
    compile_phase(model, phase, loss=LOSS, optimizer=keras.optimizers.SGD(learning_rate=schedule))
    grads = gradients(model, *data)
    before = {v.path: v.numpy().copy() for v in model.trainable_variables}
    model.train_on_batch(*data)  # step 0: schedule 0.2, head 0.02, block2 0.01, block1 0.005
    rate = {"head_": 0.02, "block2_": 0.01, "block1_": 0.005}
    for v in model.trainable_variables:
        expected = -next(r for k, r in rate.items() if v.path.startswith(k)) * grads[v.path]
        np.testing.assert_allclose(v.numpy() - before[v.path], expected, rtol=1e-3, atol=1e-7, err_msg=v.path)


def test_absolute_rates_with_a_schedule_are_refused(make_model: Callable) -> None:
    model = make_model()
    user = keras.optimizers.Adam(learning_rate=one_cycle(0.1, 10))
    (phase,) = FeatureExtraction(1, learning_rate=1e-3).phases(model.backbone_info)
    with pytest.raises(
        StrategyError,
        match=r"Phase 'feature_extraction' gives an absolute learning rate, but the optimizer's rate is a "
        r"schedule \(CosineDecay\).*Received: learning_rate=0.001\. Fix: give rates relative to the "
        r"schedule: leave the strategy's learning_rate",
    ):
        build_optimizer(model, phase, user)
    group = Phase("ft", 1, ("block2",), group_learning_rates={"block2": 1e-3})
    apply_phase(model, group)
    with pytest.raises(StrategyError, match=r"Received: group_learning_rates=\{'block2': 0.001\}"):
        build_optimizer(model, group, user)


def test_cosine_with_a_schedule_is_refused_naming_both(make_model: Callable) -> None:
    model = make_model()
    (phase,) = FeatureExtraction(1).phases(model.backbone_info)
    user = keras.optimizers.SGD(learning_rate=one_cycle(0.1, 10))
    with pytest.raises(
        StrategyError,
        match=r"schedule='cosine' and an optimizer whose learning rate is a schedule \(CosineDecay\) both set "
        r"how the rate changes\. Received: schedule='cosine', optimizer=SGD\(learning_rate=CosineDecay",
    ):
        build_optimizer(model, phase, user, schedule="cosine", decay_steps=10)


def test_cosine_decays_the_phase_rate_to_one_percent(make_model: Callable) -> None:
    model = make_model()
    _, finetune = FineTune(1, top=1, warmup_epochs=1).phases(model.backbone_info)
    apply_phase(model, finetune)
    opt = build_optimizer(model, finetune, keras.optimizers.SGD(0.5), schedule="cosine", decay_steps=20)
    cosine = opt._learning_rate
    assert isinstance(cosine, keras.optimizers.schedules.CosineDecay)
    assert float(cosine(0)) == pytest.approx(0.05) and float(cosine(20)) == pytest.approx(0.0005)
    assert SCHEDULES == ("constant", "cosine")
    with pytest.raises(StrategyError, match=r"Unknown learning-rate `schedule`. Received: schedule='step'"):
        build_optimizer(model, finetune, "sgd", schedule="step")
    with pytest.raises(StrategyError, match=r"schedule='cosine' needs `decay_steps`.*decay_steps=None"):
        build_optimizer(model, finetune, "sgd", schedule="cosine")


def test_rate_scale_multiplies_every_rate(tiny_backbone) -> None:  # type: ignore[no-untyped-def]
    phase = Phase("ft", 1, ("block2",), lr_decay=0.5, group_learning_rates={})
    rates = phase_learning_rates(tiny_backbone, phase, keras.optimizers.SGD(0.1), rate_scale=2.0)
    assert (rates.head_rate, rates.group_rates) == (0.2, {"block2": 0.1})
    explicit = Phase("ft", 1, ("block1", "block2"), 0.05, group_learning_rates={"block1": 0.01})
    rates = phase_learning_rates(tiny_backbone, explicit, "sgd", rate_scale=4.0)
    assert rates.head_rate == pytest.approx(0.2)
    assert rates.group_rates == {"block1": pytest.approx(0.04), "block2": pytest.approx(0.2)}
    schedule = one_cycle(0.1, 10)
    on_schedule = phase_learning_rates(tiny_backbone, phase, keras.optimizers.SGD(schedule), rate_scale=2.0)
    assert isinstance(on_schedule.learning_rate, ScaledSchedule) and on_schedule.learning_rate.factor == 2.0
    assert on_schedule.head_rate is None and on_schedule.group_rates is None
    record = on_schedule.as_dict()
    assert record["head"] == {"rate": None, "scale": 2.0} and record["groups"]["block2"]["scale"] == 1.0
    assert record["base"]["class"] == "CosineDecay"
    json.dumps(record)
    json.dumps(phase_learning_rates(tiny_backbone, phase, "sgd").as_dict())


# --- rates refused wherever they enter ----------------------------------------------------------


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: Phase("p", 1, learning_rate=float("inf")), r"Phase 'p': `learning_rate` must be a finite"),
        (lambda: Phase("p", 1, learning_rate=float("nan")), r"Received: learning_rate=nan"),
        (lambda: Phase("p", 1, learning_rate=0.0), r"Received: learning_rate=0.0"),
        (lambda: Phase("p", 1, lr_scale=-1.0), r"`lr_scale` must be a finite number > 0"),
        (lambda: Phase("p", 1, lr_decay=float("nan")), r"`lr_decay` must be in \(0, 1\]"),
        (
            lambda: Phase("p", 1, ("b",), group_learning_rates={"b": float("inf")}),
            r"`group_learning_rates\['b'\]` must be a finite number > 0. Received: .*=inf",
        ),
        (lambda: FeatureExtraction(learning_rate=float("nan")), r"`learning_rate` must be a finite"),
        (lambda: FineTune(learning_rate=float("inf")), r"FineTune: `learning_rate` must be a finite"),
        (lambda: FineTune(finetune_learning_rate=-1e-3), r"FineTune: `finetune_learning_rate` must be"),
        (lambda: FineTune(finetune_lr_scale=0), r"FineTune: `finetune_lr_scale` must be a finite"),
        (lambda: GradualUnfreeze(learning_rate=float("inf")), r"GradualUnfreeze: `learning_rate` must be"),
        (lambda: GradualUnfreeze(lr_scale=float("nan")), r"GradualUnfreeze: `lr_scale` must be a finite"),
        (lambda: Scratch(learning_rate=-1.0), r"Phase 'scratch': `learning_rate` must be a finite"),
        (lambda: ScaledSchedule(one_cycle(0.1, 10), float("inf")), r"ScaledSchedule: `factor` must be"),
        (lambda: ScaledSchedule(0.1, 2.0), r"scales a keras.optimizers.schedules.LearningRateSchedule"),
        (
            lambda: phase_learning_rates(None, Phase("p", 1), "sgd", rate_scale=float("inf")),
            r"`rate_scale` must be a finite number > 0. Received: rate_scale=inf",
        ),
        (
            lambda: phase_learning_rates(None, Phase("p", 1), keras.optimizers.SGD(float("inf"))),
            r"The optimizer SGD: `learning_rate` must be a finite number > 0. Received: learning_rate=inf",
        ),
        (
            lambda: layerwise_optimizer(keras.optimizers.SGD(), [("a", float("nan"))]),
            r"factors must be finite numbers > 0",
        ),
        (
            lambda: FineTune(finetune_learning_rate=1e-4, finetune_lr_scale=0.1),
            r"FineTune takes `finetune_learning_rate` or `finetune_lr_scale`, not both",
        ),
        (
            lambda: GradualUnfreeze(learning_rate=1e-4, lr_scale=0.1),
            r"GradualUnfreeze takes `learning_rate` or `lr_scale`, not both",
        ),
    ],
)
def test_bad_rates_are_refused_where_they_enter(make: Callable, message: str) -> None:
    with pytest.raises(StrategyError, match=message):
        make()


# --- strategies' defaults, templates, save/load -------------------------------------------------


def test_strategies_leave_the_rate_to_the_optimizer_by_default(tiny_backbone) -> None:  # type: ignore[no-untyped-def]
    warm, fine = FineTune(1, top=1, warmup_epochs=1).phases(tiny_backbone)
    assert (warm.learning_rate, warm.lr_scale, fine.learning_rate, fine.lr_scale) == (None, 1.0, None, 0.1)
    (alone,) = FineTune(1, top=1, warmup_epochs=0).phases(tiny_backbone)
    assert (alone.learning_rate, alone.lr_scale) == (None, 1.0)
    (scaled,) = FineTune(1, top=1, warmup_epochs=0, finetune_lr_scale=0.5).phases(tiny_backbone)
    assert scaled.lr_scale == 0.5
    _, explicit = FineTune(1, top=1, warmup_epochs=1, learning_rate=0.02, finetune_lr_scale=0.5).phases(
        tiny_backbone
    )
    assert (explicit.learning_rate, explicit.lr_scale) == (0.01, 1.0)
    assert [p.lr_scale for p in GradualUnfreeze(steps=2).phases(tiny_backbone)] == [0.1, 0.1]
    assert [p.learning_rate for p in GradualUnfreeze(steps=1, learning_rate=3e-4).phases(tiny_backbone)] == [
        3e-4
    ]


def test_scratch_trains_everything_with_batchnorm(make_model: Callable, data: tuple, h: type) -> None:
    model = make_model()
    (phase,) = Scratch(2).phases(model.backbone_info)
    assert (phase.name, phase.epochs, phase.trainable_groups) == ("scratch", 2, ("stem", "block1", "block2"))
    seen: dict[str, set[str]] = {}
    h.run_phases(model, [phase], *data, on_phase=lambda p, m, moved: seen.__setitem__(p.name, moved))
    expected = {v.path for v in model.variables if "seed_generator" not in v.path}
    assert seen["scratch"] == expected  # kernels, biases, gamma, beta and moving statistics
    assert repr(Scratch(2)) == "Scratch(epochs=2, learning_rate=None)"


def test_a_layerwise_or_loss_scale_template(make_model: Callable) -> None:
    model = make_model()
    (phase,) = FeatureExtraction(1).phases(model.backbone_info)
    template = layerwise_optimizer(keras.optimizers.Adam(0.2), [("x", 0.5)])
    opt = build_optimizer(model, phase, template)
    assert type(opt) is keras.optimizers.Adam and float(opt.learning_rate) == pytest.approx(0.2)
    wrapped = keras.optimizers.LossScaleOptimizer(keras.optimizers.SGD(0.1))
    with pytest.raises(
        StrategyError,
        match=r"Pass the optimizer inside the LossScaleOptimizer, not the wrapper. Received: "
        r"LossScaleOptimizer\(SGD\). Fix: pass optimizer.inner_optimizer",
    ):
        build_optimizer(model, phase, wrapped)
    with pytest.raises(StrategyError, match=r"Unknown optimizer. Received: optimizer='adamm'"):
        build_optimizer(model, phase, "adamm")


def test_a_model_with_a_scaled_schedule_saves_and_loads(
    make_model: Callable, data: tuple, tmp_path: Path
) -> None:
    model = make_model()
    _, finetune = FineTune(1, top=2, warmup_epochs=1, lr_decay=0.5).phases(model.backbone_info)
    compile_phase(model, finetune, loss=LOSS, optimizer=keras.optimizers.Adam(one_cycle(0.1, 10)))
    model.train_on_batch(*data)
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras")
    schedule = loaded.optimizer._learning_rate
    assert type(loaded.optimizer).__name__ == "LayerwiseAdam"
    assert isinstance(schedule, ScaledSchedule) and isinstance(
        schedule.schedule, keras.optimizers.schedules.CosineDecay
    )
    assert schedule.factor == 0.1 and schedule.get_config() == model.optimizer._learning_rate.get_config()
    model.train_on_batch(*data)
    loaded.train_on_batch(*data)
    for a, b in zip(model.trainable_variables, loaded.trainable_variables):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-5, atol=1e-7, err_msg=a.path)


def test_unknown_groups_and_group_rates(make_model: Callable, tiny_backbone) -> None:  # type: ignore[no-untyped-def]
    frozen_rate = Phase("x", 1, ("block2",), group_learning_rates={"block1": 0.1})
    with pytest.raises(StrategyError, match=r"rates to groups that do not train in it.*\['block1'\]"):
        group_learning_rates(tiny_backbone, frozen_rate)
    with pytest.raises(StrategyError, match=r"trains backbone groups, which needs the backbone's info"):
        phase_learning_rates(None, Phase("x", 1, ("block2",)), "sgd")


def test_adam_with_the_librarys_one_cycle_fine_tunes_the_backbone_at_a_tenth(
    make_model: Callable, data: tuple
) -> None:
    # Adam's first step moves every variable by about its rate (m/sqrt(v) = sign(grad)), so the
    # measured backbone step of the fine-tuning phase is a tenth of the head's warm-up step.
    from transferlab.training import OneCycle

    schedule = OneCycle(1e-2, total_steps=20)
    steps = {}
    for name in ("warmup", "finetune"):
        model = make_model()
        warmup, finetune = FineTune(1, top=2, warmup_epochs=1).phases(model.backbone_info)
        phase = warmup if name == "warmup" else finetune
        compile_phase(model, phase, loss=LOSS, optimizer=keras.optimizers.Adam(schedule))
        before = {v.path: v.numpy().copy() for v in model.trainable_variables}
        model.train_on_batch(*data)
        steps[name] = {
            p: np.abs(v.numpy() - before[p]).max() for v in model.trainable_variables for p in [v.path]
        }
    first_rate = float(schedule(0))
    assert steps["warmup"]["head_dense/kernel"] == pytest.approx(first_rate, rel=1e-2)
    assert steps["finetune"]["head_dense/kernel"] == pytest.approx(first_rate / 10, rel=1e-2)
    assert steps["finetune"]["block2_conv/kernel"] == pytest.approx(first_rate / 10, rel=1e-2)
