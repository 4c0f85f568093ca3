"""LPFT: a probe phase, then fine-tuning from the probe's head at a low rate."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import keras
import numpy as np
import pytest

from transferlab.backbones import BackboneInfo, LayerGroup
from transferlab.config.strategy_config import StrategyConfig
from transferlab.errors import ConfigError, StrategyError
from transferlab.experiments.strategy_from_config import strategy_from_config
from transferlab.strategies import (
    DEFAULT_LP_FT_LR_SCALE,
    LPFT,
    FineTune,
    LinearProbe,
    Prototypes,
    fit_linear_probe,
    strategy_by_name,
)
from transferlab.training.trainer import Trainer

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "training"))
import resume_tiny

INFO = BackboneInfo(
    name="t",
    default_input_size=(8, 8),
    min_input_size=(8, 8),
    channels=1,
    preprocessing="unit",
    feature_layer="c",
    groups=(LayerGroup("a", "a"), LayerGroup("b", "b"), LayerGroup("c", "c")),
)


def _plan(strategy: LPFT) -> list[tuple[object, ...]]:
    return [
        (p.name, p.epochs, p.head_fit, p.trainable_groups, p.learning_rate, p.lr_scale)
        for p in strategy.phases(INFO)
    ]


def test_the_probe_replaces_the_warmup_and_fine_tuning_runs_at_a_tenth() -> None:
    assert _plan(LPFT(epochs=3, top=2)) == [
        ("linear_probe", 1, "probe", (), None, 1.0),
        ("finetune", 3, "gradient", ("b", "c"), None, DEFAULT_LP_FT_LR_SCALE),
    ]
    # The same fine-tuning phase FineTune without a warm-up gives at that scale.
    same = FineTune(3, top=2, warmup_epochs=0, finetune_lr_scale=DEFAULT_LP_FT_LR_SCALE).phases(INFO)
    assert LPFT(epochs=3, top=2).phases(INFO)[1] == same[0]
    assert _plan(LPFT(from_group="b", lr_scale=0.01))[1][3:] == (("b", "c"), None, 0.01)
    assert _plan(LPFT(learning_rate=1e-2))[1][3:] == (("a", "b", "c"), pytest.approx(1e-3), 1.0)
    assert _plan(LPFT(finetune_learning_rate=3e-5))[1][4:] == (3e-5, 1.0)
    phases = LPFT(probe=LinearProbe(l2=0.1, method="ridge"), batchnorm="affine").phases(INFO)
    assert (phases[0].probe_l2, phases[0].probe_method, phases[1].batchnorm.value) == (
        (0.1,),
        "ridge",
        "affine",
    )
    assert [p.head_fit for p in LPFT(probe=Prototypes()).phases(INFO)] == ["prototypes", "gradient"]
    # A probe named like the fine-tuning phase: names stay unique.
    assert [p.name for p in LPFT(probe=LinearProbe(name="finetune")).phases(INFO)] == [
        "finetune",
        "finetune_2",
    ]


def test_lp_ft_refuses_contradictions_clearly() -> None:
    with pytest.raises(StrategyError) as info:
        LPFT(finetune_learning_rate=1e-4, lr_scale=0.1)
    assert str(info.value) == (
        "LPFT takes `finetune_learning_rate` or `lr_scale`, not both. "
        "Received: finetune_learning_rate=0.0001, lr_scale=0.1. Fix: keep the absolute rate or the factor."
    )
    with pytest.raises(StrategyError) as info:
        LPFT(probe=FineTune(1))  # type: ignore[arg-type]
    assert str(info.value) == (
        "LPFT's `probe` must fit the head in closed form. Received: probe of type FineTune. "
        "Accepted: LinearProbe(...), Prototypes(). Fix: pass e.g. probe=LinearProbe(l2=0.01), "
        "or chain other strategies with `+`."
    )
    with pytest.raises(
        StrategyError, match=r"^LPFT: `lr_scale` must be a finite number > 0. Received: lr_scale=0.0"
    ):
        LPFT(lr_scale=0.0)
    with pytest.raises(StrategyError, match=r"^LPFT needs the backbone's layer groups"):
        LPFT().phases(None)
    with pytest.raises(StrategyError, match=r"asks for more groups than backbone 't' has"):
        LPFT(top=4).phases(INFO)


def test_by_name_config_and_trainer_accept_lp_ft() -> None:
    built = strategy_by_name("lp_ft", epochs=2, top=0, from_group="", l2=0, method="ridge", lr_scale=0)
    assert isinstance(built, LPFT) and built.finetune.top is None and built.finetune.from_group is None
    assert (
        built.probe.l2 is None and built.probe.method == "ridge" and built.lr_scale == DEFAULT_LP_FT_LR_SCALE
    )
    assert isinstance(Trainer(resume_tiny.build, strategy="lp_ft").strategy, LPFT)
    config = StrategyConfig(kind="lp_ft", epochs=2, top=1, learning_rate=1e-2, probe_l2=0.1)
    phases = strategy_from_config(config).phases(INFO)
    assert [(p.name, p.probe_l2, p.learning_rate) for p in phases] == [
        ("linear_probe", (0.1,), None),
        ("finetune", None, pytest.approx(1e-3)),  # config: a tenth of learning_rate, as fine_tune
    ]
    explicit = strategy_from_config(StrategyConfig(kind="lp_ft", finetune_learning_rate=2e-5))
    assert explicit.phases(INFO)[1].learning_rate == 2e-5
    with pytest.raises(ConfigError, match=r"Bad value for config key `strategy.probe_method`"):
        StrategyConfig(kind="lp_ft", probe_method="svm")


class HeadAtFineTuneStart(keras.callbacks.Callback):
    """The head's kernel and bias when each fit begins (the Trainer calls fit per gradient phase)."""

    def __init__(self) -> None:
        super().__init__()
        self.starts: list[list[np.ndarray]] = []

    def on_train_begin(self, logs: object = None) -> None:
        dense = self.model.get_layer("head").get_layer("head_dense")
        self.starts.append([np.array(dense.kernel.numpy()), np.array(dense.bias.numpy())])


def test_fine_tuning_starts_from_the_probe_and_then_moves(tmp_path: Path) -> None:
    data, validation = resume_tiny.data(36), resume_tiny.data(12, seed=99)
    seen = HeadAtFineTuneStart()
    result = Trainer(
        resume_tiny.build,
        strategy=LPFT(epochs=2, top=1, learning_rate=1e-2),
        callbacks=[seen],
        run_dir=tmp_path,
        batch_size=12,
        verbose=0,
        deterministic=True,
    ).fit(data, validation)
    assert len(seen.starts) == 1  # one fit: the probe phase has none
    # The probe, fitted here on features computed apart from the run, is where fine-tuning starts.
    keras.utils.set_random_seed(0)  # the run's seed: the model as the run built it, before any phase
    initial = resume_tiny.build()
    features = initial.feature_extractor().predict(data.images[..., None], verbose=0)
    reference = fit_linear_probe(features, data.labels, 3)
    kernel, bias = seen.starts[0]
    np.testing.assert_array_equal(kernel, reference.kernel)  # the same features: the same fit, bit for bit
    np.testing.assert_array_equal(bias, reference.bias)
    dense = result.model.head.get_layer("head_dense")
    assert not np.array_equal(dense.kernel.numpy(), kernel)  # ...and then it moves
    assert [(r["epoch"], r["phase"]) for r in result.rows] == [
        (1, "linear_probe"),
        (2, "finetune"),
        (3, "finetune"),
    ]
    decisions = json.loads((result.run_dir / "decisions.json").read_text())
    # The probe's choice of l2 and its cross-validated scores, as fit_linear_probe reports them.
    assert decisions["head_fit"]["linear_probe"] == {"head_fit": "probe", **reference.as_json()}
    assert decisions["learning_rates"]["finetune"]["head"]["rate"] == pytest.approx(1e-3)
    assert "linear_probe" not in decisions["learning_rates"]
