"""LinearProbe and Prototypes: their phase, the closed-form head fit, and the heads it refuses."""

from __future__ import annotations

import types
from collections.abc import Callable

import keras
import numpy as np
import pytest

from transferlab.backbones import BackboneInfo, build_classifier
from transferlab.backbones.classifier import Classifier
from transferlab.config.strategy_config import StrategyConfig
from transferlab.errors import StrategyError
from transferlab.experiments.strategy_from_config import strategy_from_config
from transferlab.strategies import (
    HEAD_FITS,
    PROBE_METHODS,
    LinearProbe,
    Phase,
    Prototypes,
    apply_phase,
    check_closed_form_head,
    class_prototypes,
    fit_closed_form_head,
    fit_linear_probe,
    strategy_by_name,
)


def _features(model: keras.Model, n: int = 18, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Random pooled features of the model's width, 3 well-mixed classes."""
    width = int(model.feature_extractor().output_shape[-1])
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 3
    return rng.normal(size=(n, width)) + labels[:, None], labels


def test_linear_probe_is_one_closed_form_phase() -> None:
    (phase,) = LinearProbe(l2=0.1, method="ridge", name="probe").phases(None)
    assert (phase.name, phase.epochs, phase.trainable_groups) == ("probe", 1, ())
    assert (phase.head_fit, phase.probe_l2, phase.probe_method) == ("probe", (0.1,), "ridge")
    (default,) = LinearProbe().phases(None)
    assert default.probe_l2 is None and default.probe_method == PROBE_METHODS[0]
    (proto,) = Prototypes().phases(None)
    assert (proto.name, proto.epochs, proto.head_fit, proto.probe_l2) == ("prototypes", 1, "prototypes", None)
    assert set(HEAD_FITS) == {"gradient", "probe", "prototypes"} and Phase("p", 1).head_fit == HEAD_FITS[0]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"epochs": 1, "trainable_groups": ("block2",), "head_fit": "probe"},
            "Phase 'p': head_fit='probe' fits the head on a frozen backbone's features, and this phase "
            "unfreezes backbone groups. Received: trainable_groups=('block2',). Fix: drop `trainable_groups`",
        ),
        (
            {"epochs": 3, "head_fit": "prototypes"},
            "Phase 'p': head_fit='prototypes' fits the head once, in closed form: the phase is one epoch. "
            "Received: epochs=3. Fix: pass epochs=1.",
        ),
        (
            {"epochs": 1, "head_fit": "closed"},
            "Phase 'p': unknown `head_fit`. Received: head_fit='closed'. Accepted: 'gradient', 'probe', "
            "'prototypes'.",
        ),
        (
            {"epochs": 1, "probe_l2": 0.1},
            "Phase 'p': `probe_l2` and `probe_method` are options of a linear probe, and this phase fits "
            "its head by 'gradient'.",
        ),
        (
            {"epochs": 1, "head_fit": "probe", "probe_method": "svm"},
            "Phase 'p': unknown `probe_method`. Received: probe_method='svm'. Accepted: 'logistic', 'ridge'.",
        ),
        (
            {"epochs": 1, "head_fit": "probe", "probe_l2": [0.1, 0.0]},
            "Phase 'p': `probe_l2` must be a finite number > 0. Received: probe_l2=0.0.",
        ),
        (
            {"epochs": 1, "head_fit": "probe", "probe_l2": "0.1"},
            "Phase 'p': `probe_l2` must be None, a number > 0 or a non-empty sequence of them. "
            "Received: probe_l2='0.1'.",
        ),
    ],
    ids=["unfrozen", "epochs", "unknown-fit", "probe-option-on-gradient", "method", "l2-zero", "l2-str"],
)
def test_a_closed_form_phase_refuses_what_contradicts_it(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(StrategyError) as info:
        Phase("p", **kwargs)  # type: ignore[arg-type]
    assert str(info.value).startswith(message)


def test_by_name_and_config_build_the_probe_strategies() -> None:
    probe = strategy_by_name("linear_probe", l2=0, method="ridge")
    assert isinstance(probe, LinearProbe) and probe.l2 is None and probe.method == "ridge"
    assert isinstance(strategy_by_name("Linear-Probe"), LinearProbe)
    assert isinstance(strategy_by_name("prototypes"), Prototypes)
    configured = strategy_from_config(StrategyConfig(kind="linear_probe", probe_l2=0.03))
    assert isinstance(configured, LinearProbe) and configured.l2 == 0.03
    assert isinstance(strategy_from_config(StrategyConfig(kind="prototypes")), Prototypes)
    with pytest.raises(
        StrategyError, match=r"Strategy 'linear_probe' does not take the option\(s\) 'epochs'"
    ):
        strategy_by_name("linear_probe", epochs=2)


@pytest.mark.parametrize("method", PROBE_METHODS)
def test_the_probe_sets_exactly_the_fit_of_the_features(
    make_model: Callable[..., Classifier], method: str
) -> None:
    model = make_model()
    (phase,) = LinearProbe(method=method).phases(model.backbone_info)
    apply_phase(model, phase)
    features, labels = _features(model)
    record = fit_closed_form_head(model, phase, features, labels)
    reference = fit_linear_probe(features, labels, 3, method=method)
    dense = check_closed_form_head(model, phase)
    assert np.array_equal(dense.kernel.numpy(), reference.kernel)
    assert np.array_equal(dense.bias.numpy(), reference.bias)
    assert record == {"head_fit": "probe", **reference.as_json()}
    # The head's predictions are the probe's (softmax of its logits).
    probabilities = model.head.predict(features.astype("float32"), verbose=0)
    np.testing.assert_array_equal(probabilities.argmax(1), reference.logits(features).argmax(1))


def test_prototypes_set_the_cosine_head_to_the_class_means(tiny_backbone: BackboneInfo) -> None:
    model = build_classifier(tiny_backbone.name, 3, input_shape=(8, 8, 1), head="cosine", dropout=0.3)
    (phase,) = Prototypes().phases(model.backbone_info)
    apply_phase(model, phase)
    features, labels = _features(model, n=7, seed=3)
    scale = float(model.head.get_layer("head_cosine").scale.numpy())
    record = fit_closed_form_head(model, phase, features, labels)
    layer = check_closed_form_head(model, phase)
    expected = class_prototypes(features, labels, 3)
    np.testing.assert_allclose(layer.kernel.numpy().T, expected, rtol=1e-6, atol=1e-7)
    assert float(layer.scale.numpy()) == scale  # the scale is left alone
    assert record == {
        "head_fit": "prototypes",
        "num_classes": 3,
        "examples_per_class": np.bincount(labels, minlength=3).tolist(),
    }


def test_a_probe_needs_a_frozen_backbone(make_model: Callable[..., Classifier]) -> None:
    model = make_model()  # every layer trainable: no phase applied
    (phase,) = LinearProbe().phases(model.backbone_info)
    with pytest.raises(StrategyError) as info:
        check_closed_form_head(model, phase)
    text = str(info.value)
    assert text.startswith(
        "Phase 'linear_probe': head_fit='probe' fits the head on a frozen backbone's features, "
        "and variables outside the head train. Received: 'stem_conv/kernel'"
    )
    assert "Fix: freeze the backbone (apply_phase(model, phase) does" in text
    apply_phase(model, phase)
    assert check_closed_form_head(model, phase).name == "head_dense"


def test_each_fit_refuses_the_other_head(tiny_backbone: BackboneInfo) -> None:
    dense = build_classifier(tiny_backbone.name, 3, input_shape=(8, 8, 1))
    cosine = build_classifier(tiny_backbone.name, 3, input_shape=(8, 8, 1), head="cosine")
    (probe,) = LinearProbe().phases(None)
    (proto,) = Prototypes().phases(None)
    for model in (dense, cosine):
        apply_phase(model, probe)
    with pytest.raises(StrategyError) as info:
        check_closed_form_head(dense, proto)
    assert str(info.value) == (
        "Phase 'prototypes': head_fit='prototypes' needs a CosineClassifier on the pooled features "
        "(build_classifier(..., head='cosine')). Received: a head of 'features' (InputLayer), "
        "'head_dense' (Dense), 'head_softmax' (Activation). Fix: build the model with "
        "build_classifier(..., head='cosine')."
    )
    with pytest.raises(StrategyError) as info:
        check_closed_form_head(cosine, probe)
    assert str(info.value).startswith(
        "Phase 'linear_probe': head_fit='probe' needs a Dense layer with a bias on the pooled features "
        "(build_classifier's default head). Received: a head of 'features' (InputLayer), "
        "'head_cosine' (CosineClassifier)"
    )


def _with_head(model: Classifier, head: keras.Model) -> types.SimpleNamespace:
    """The model's frozen backbone under another head (what a Classifier's parts look like)."""
    return types.SimpleNamespace(
        backbone=model.backbone,
        backbone_info=model.backbone_info,
        head=head,
        head_layers=[layer for layer in head.layers if layer.weights],
        trainable_variables=head.trainable_variables,
    )


def test_a_head_with_a_hidden_layer_or_a_nonlinear_dense_is_refused(
    make_model: Callable[..., Classifier],
) -> None:
    (phase,) = LinearProbe().phases(None)
    model = make_model()
    apply_phase(model, phase)
    features = keras.Input(model.head.input_shape[1:], name="pooled")
    hidden = keras.layers.Dense(4, activation="relu", name="hidden")(features)
    two_layers = keras.Model(features, keras.layers.Dense(3, name="out")(hidden))
    with pytest.raises(StrategyError) as info:
        check_closed_form_head(_with_head(model, two_layers), phase)
    assert "Received: a head of 'pooled' (InputLayer), 'hidden' (Dense), 'out' (Dense)." in str(info.value)
    # One Dense layer, but not a linear map of the features.
    relu = keras.Model(features, keras.layers.Dense(3, activation="relu", name="relu_out")(features))
    with pytest.raises(StrategyError) as info:
        check_closed_form_head(_with_head(model, relu), phase)
    assert (
        "Received: 'relu_out' (Dense) with use_bias=True, activation='relu'. "
        "Accepted: use_bias=True, activation 'linear' or 'softmax'."
    ) in str(info.value)
    with pytest.raises(StrategyError, match="the head is fitted by 'gradient', not in closed form"):
        check_closed_form_head(model, Phase("warmup", 1))
