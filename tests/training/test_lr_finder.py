"""Tests of the learning-rate range test."""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

from transferlab.errors import ConfigError
from transferlab.training.lr_finder import LRFinder, find_learning_rate
from transferlab.training.one_cycle import OneCycle


def _data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 4)).astype("float32")
    y = (x @ np.array([[1.0], [-2.0], [0.5], [3.0]], "float32")).astype("float32")
    return x, y


def _model(optimizer: keras.optimizers.Optimizer) -> keras.Model:
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1, kernel_initializer="zeros")])
    model.compile(optimizer=optimizer, loss="mse")
    return model


def test_sweep_restores_weights_and_optimizer_and_suggests_a_rate() -> None:
    x, y = _data()
    model = _model(keras.optimizers.Adam(0.003))
    model.fit(x, y, batch_size=16, epochs=1, verbose=0, shuffle=False)  # optimizer has state
    weights = model.get_weights()
    opt_state = [v.numpy().copy() for v in model.optimizer.variables]
    finder = LRFinder(min_rate=1e-4, max_rate=10.0, steps=30, smoothing=0.5).run(
        model, tf.data.Dataset.from_tensor_slices((x, y)).batch(16)
    )
    for a, b in zip(weights, model.get_weights()):
        np.testing.assert_array_equal(a, b)
    for a, v in zip(opt_state, model.optimizer.variables):
        np.testing.assert_array_equal(a, v.numpy())
    assert float(model.optimizer.learning_rate) == pytest.approx(0.003)
    assert 3 <= len(finder.losses) == len(finder.rates) <= 30
    assert finder.rates == sorted(finder.rates) and finder.rates[0] == pytest.approx(1e-4)
    assert finder.losses[0] > min(finder.losses)  # the loss fell during the sweep
    assert 1e-4 <= finder.suggestion() <= 10.0
    assert 1e-5 <= finder.suggestion("min/10") <= 1.0


def test_losses_are_per_batch_not_the_running_mean() -> None:
    x = np.ones((8, 4), "float32")
    y = np.concatenate([np.ones((4, 1)), np.full((4, 1), 3.0)]).astype("float32")
    model = _model(keras.optimizers.SGD(0.1))
    finder = LRFinder(min_rate=1e-9, max_rate=1e-8, steps=4, smoothing=0.0, stop_factor=100.0).run(
        model, x, y, batch_size=4
    )
    np.testing.assert_allclose(finder.losses, [1.0, 9.0, 1.0, 9.0], atol=1e-3)  # running mean: 1, 5, 3.7, 5


def test_suggestion_methods_on_a_known_curve() -> None:
    finder = LRFinder(min_rate=1e-3, max_rate=1.0, steps=7, smoothing=0.0)
    finder.rates = [1e-3, 3e-3, 1e-2, 3e-2, 1e-1, 3e-1, 1.0]
    finder.losses = [1.0, 1.0, 0.9, 0.3, 0.2, 0.5, 5.0]
    assert finder.suggestion("steepest", skip=0.0) == pytest.approx(1e-2)
    assert finder.suggestion("min/10") == pytest.approx(1e-2)
    with pytest.raises(ConfigError, match=r"unknown suggestion `method`. Received: method='max'"):
        finder.suggestion("max")
    with pytest.raises(ConfigError, match="too few finite losses to suggest a rate"):
        LRFinder().suggestion()


def test_plot_writes_a_png(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    x, y = _data()
    finder = find_learning_rate(
        _model(keras.optimizers.SGD(0.01)),
        x,
        y,
        batch_size=8,
        steps=6,
        min_rate=1e-4,
        max_rate=0.1,
        plot_to=tmp_path / "lr.png",
    )
    assert (tmp_path / "lr.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(finder.losses) == 6
    assert [p.name for p in tmp_path.iterdir()] == ["lr.png"]  # no temp file left


def test_under_mirrored_strategy(mirrored: tf.distribute.Strategy) -> None:
    x, y = _data()
    strategy = mirrored
    with strategy.scope():
        model = _model(keras.optimizers.SGD(0.01))
    before = model.get_weights()
    ds = tf.data.Dataset.from_tensor_slices((x, y)).batch(16, drop_remainder=True)
    finder = LRFinder(min_rate=1e-4, max_rate=0.5, steps=8).run(model, ds)
    assert len(finder.losses) == 8 and all(np.isfinite(finder.losses))
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_errors() -> None:
    with pytest.raises(
        ConfigError,
        match=r"the sweep needs 0 < `min_rate` < `max_rate`. Received: min_rate=1.0, max_rate=0.1",
    ):
        LRFinder(min_rate=1.0, max_rate=0.1)
    with pytest.raises(ConfigError, match=r"`steps` must be a whole number >= 2. Received: steps=1"):
        LRFinder(steps=1)
    with pytest.raises(ConfigError, match=r"`smoothing` must be in \[0, 1\)"):
        LRFinder(smoothing=1.0)
    x, y = _data()
    with pytest.raises(ConfigError, match="the LR finder needs a compiled model"):
        LRFinder().run(keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)]), x, y)
    scheduled = _model(keras.optimizers.SGD(OneCycle(0.1, total_steps=10)))
    with pytest.raises(
        ConfigError,
        match="the LR finder needs an optimizer with a float learning rate, not a schedule. Received: learning_rate=",
    ):
        LRFinder().run(scheduled, x, y)


def _finder(losses: list[float]) -> LRFinder:
    finder = LRFinder(min_rate=1e-4, max_rate=1.0, steps=len(losses), smoothing=0.0)
    finder.rates = list(np.geomspace(1e-4, 1.0, len(losses)))
    finder.losses = losses
    return finder


def test_a_suggestion_at_the_edge_of_the_sweep_warns_and_is_flagged(caplog: pytest.LogCaptureFixture) -> None:
    falling = _finder([1.0 - 0.05 * i for i in range(12)] + [0.2])  # steepest at the very top
    with caplog.at_level("WARNING", logger="transferlab.training.lr_finder"):
        assert falling.suggestion() == pytest.approx(1.0)
        falling.suggestion()  # the same result: warned once
    assert falling.at_edge is True
    (record,) = caplog.records
    assert record.levelname == "WARNING"
    assert record.getMessage().startswith(
        "The suggested learning rate is at the top edge of the sweep (point 13 of 13, method='steepest'): "
        "the best rate may lie beyond max_rate. Received: suggestion 1.00e+00, swept 1.0e-04 to 1.0e+00. "
        "Fix: sweep again with a higher max_rate (above 1.0e+00)."
    )
    caplog.clear()
    bottom = _finder([1.0, 0.95, 0.5, 0.45, 0.44, 0.43, 0.42, 0.42, 0.42, 0.5, 0.8, 2.0])
    with caplog.at_level("WARNING", logger="transferlab.training.lr_finder"):
        bottom.suggestion(skip=0.0)
    assert bottom.at_edge is True
    assert (
        "at the bottom edge" in caplog.text
        and "sweep again with a lower min_rate (below 1.0e-04)" in caplog.text
    )
    caplog.clear()
    middle = _finder([1.0, 1.0, 0.99, 0.98, 0.9, 0.5, 0.3, 0.25, 0.24, 0.3, 0.8, 2.0, 3.0])
    with caplog.at_level("WARNING", logger="transferlab.training.lr_finder"):
        middle.suggestion()
    assert middle.at_edge is False and caplog.records == []


def test_a_sweep_stopped_early_at_its_top_says_so(caplog: pytest.LogCaptureFixture) -> None:
    finder = _finder([1.0, 0.9, 0.8, 0.7, 0.6, 0.3])
    finder.steps = 20  # the sweep was planned longer and stopped (diverged)
    with caplog.at_level("WARNING", logger="transferlab.training.lr_finder"):
        finder.suggestion()
    assert "the sweep stopped early (the loss diverged)" in caplog.text


def test_run_sets_the_edge_flag(caplog: pytest.LogCaptureFixture) -> None:
    x, y = _data()
    with caplog.at_level("WARNING", logger="transferlab.training.lr_finder"):
        finder = find_learning_rate(
            _model(keras.optimizers.SGD(0.01)), x, y, batch_size=8, steps=6, min_rate=1e-6, max_rate=1e-5
        )
    assert finder.at_edge is True  # far too low a range: the loss falls fastest at its top
    assert "at the top edge of the sweep" in caplog.text
    with pytest.raises(
        ConfigError, match=r"`edge_points` must be a whole number >= 0. Received: edge_points=-1"
    ):
        LRFinder(edge_points=-1)


def test_plot_returns_a_titled_figure_with_nothing_cut_off(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("matplotlib")
    from matplotlib.figure import Figure

    monkeypatch.chdir(tmp_path)
    finder = _finder([1.0, 1.0, 0.99, 0.98, 0.9, 0.5, 0.3, 0.25, 0.24, 0.3, 0.8, 2.0, 3.0])
    figure = finder.plot(title="mnist-fine_tune-3")
    assert isinstance(figure, Figure) and list(tmp_path.iterdir()) == []
    assert figure.get_suptitle() == "mnist-fine_tune-3"
    (axes,) = figure.axes
    assert axes.get_xlabel() == "learning rate (log scale)" and axes.get_xscale() == "log"
    assert [t.get_text() for t in axes.get_legend().get_texts()][-1].startswith("suggestion ")
    figure.canvas.draw()
    renderer = figure.canvas.get_renderer()
    for text in (axes.xaxis.label, axes.yaxis.label, figure._suptitle):
        box = text.get_window_extent(renderer)
        assert box.x0 >= 0 and box.y0 >= 0, text.get_text()
        assert box.x1 <= figure.bbox.width and box.y1 <= figure.bbox.height, text.get_text()
    finder.plot(tmp_path / "lr.png")
    assert (tmp_path / "lr.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
