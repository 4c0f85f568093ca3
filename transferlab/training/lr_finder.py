"""Learning-rate range test: sweep the rate exponentially, watch the loss.

The model is trained for ``steps`` batches with the rate rising from
``min_rate`` to ``max_rate``; the loss of each batch is recorded, and the
model's weights and optimizer state (variables, rate) are restored afterwards,
so the finder can run inside a phase, on the phase's compiled model, under any
distribution strategy the model was compiled in.
"""

from __future__ import annotations

import dataclasses
import math
import os
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from transferlab._atomic import atomic_path
from transferlab.errors import ConfigError, describe

__all__ = ["LRFinder", "find_learning_rate"]


class _Sweep(keras.callbacks.Callback):
    def __init__(self, rates: np.ndarray, rate_variable: Any, stop_factor: float, beta: float) -> None:
        super().__init__()
        self.rates, self.var, self.stop_factor, self.beta = rates, rate_variable, stop_factor, beta
        self.losses: list[float] = []
        self._avg, self._best = 0.0, math.inf

    def on_train_batch_begin(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        self.model.reset_metrics()  # so the batch-end "loss" is this batch's, not the running mean
        self.var.assign(float(self.rates[len(self.losses)]))

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        loss = float((logs or {}).get("loss", math.nan))
        self.losses.append(loss)
        self._avg = self.beta * self._avg + (1 - self.beta) * loss
        smooth = self._avg / (1 - self.beta ** len(self.losses))
        self._best = min(self._best, smooth)
        if (
            not math.isfinite(loss)
            or smooth > self.stop_factor * self._best
            or len(self.losses) >= len(self.rates)
        ):
            self.model.stop_training = True


@dataclasses.dataclass
class LRFinder:
    """An exponential learning-rate sweep and its suggestion.

    Args (fields):
        min_rate: First rate of the sweep.
        max_rate: Last rate of the sweep.
        steps: Batches of the sweep (it stops early when the loss diverges).
        smoothing: Exponential smoothing factor of the loss (0 = none).
        stop_factor: Stop when the smoothed loss exceeds this x its minimum.

    After :meth:`run`: ``rates`` and ``losses`` (one per batch) and
    ``smoothed_losses``.

    Example:
        >>> import keras, numpy as np
        >>> model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
        >>> model.compile(optimizer=keras.optimizers.SGD(0.01), loss="mse")
        >>> x = np.ones((32, 2), "float32"); y = np.zeros((32, 1), "float32")
        >>> finder = LRFinder(min_rate=1e-4, max_rate=1.0, steps=8).run(model, x, y, batch_size=4)
        >>> len(finder.losses) <= 8 and round(float(model.optimizer.learning_rate), 6) == 0.01
        True
    """

    min_rate: float = 1e-7
    max_rate: float = 10.0
    steps: int = 100
    smoothing: float = 0.98
    stop_factor: float = 4.0
    rates: list[float] = dataclasses.field(default_factory=list)
    losses: list[float] = dataclasses.field(default_factory=list)

    def __post_init__(self) -> None:
        if not 0 < self.min_rate < self.max_rate:
            raise ConfigError(
                describe(
                    "the sweep needs 0 < `min_rate` < `max_rate`",
                    received=f"min_rate={self.min_rate!r}, max_rate={self.max_rate!r}",
                )
            )
        if not isinstance(self.steps, int) or self.steps < 2:
            raise ConfigError(
                describe("`steps` must be a whole number >= 2", received=f"steps={self.steps!r}")
            )
        if not 0 <= self.smoothing < 1:
            raise ConfigError(
                describe("`smoothing` must be in [0, 1)", received=f"smoothing={self.smoothing!r}")
            )

    @property
    def smoothed_losses(self) -> list[float]:
        """Bias-corrected exponential moving average of the losses."""
        out, avg = [], 0.0
        for i, loss in enumerate(self.losses, start=1):
            avg = self.smoothing * avg + (1 - self.smoothing) * loss
            out.append(avg / (1 - self.smoothing**i))
        return out

    def run(self, model: keras.Model, x: Any, y: Any = None, *, batch_size: int | None = None) -> LRFinder:
        """Sweeps on a compiled model and restores its weights and optimizer.

        Args:
            model: A compiled, built model with a float learning rate.
            x: A batched ``tf.data.Dataset`` of ``(inputs, labels)`` (repeated as
                needed), or input arrays.
            y: Labels when ``x`` is arrays.
            batch_size: Batch size when ``x`` is arrays.

        Returns:
            ``self``, with ``rates`` and ``losses`` filled.

        Raises:
            ConfigError: An uncompiled or unbuilt model, or a rate schedule
                (the sweep needs a settable rate).
        """
        optimizer = getattr(model, "optimizer", None)
        if optimizer is None or not model.compiled:
            raise ConfigError(
                describe("the LR finder needs a compiled model", fix="call model.compile(...) first")
            )
        rate_variable = optimizer.learning_rate
        if not isinstance(rate_variable, keras.Variable):
            raise ConfigError(
                describe(
                    "the LR finder needs an optimizer with a float learning rate, not a schedule",
                    received=f"learning_rate={type(rate_variable).__name__}",
                    fix="compile with e.g. Adam(1e-3) for the sweep, then use the schedule for training",
                )
            )
        if not model.built:
            raise ConfigError(
                describe("the LR finder needs a built model", fix="give the model an Input or call it once")
            )
        weights = model.get_weights()
        before = {id(v): v.numpy() for v in optimizer.variables}
        rates = np.geomspace(self.min_rate, self.max_rate, self.steps)
        sweep = _Sweep(rates, rate_variable, self.stop_factor, self.smoothing)
        if isinstance(x, tf.data.Dataset):
            data: Any = x.repeat()
            fit_kwargs: dict[str, Any] = {}
        else:
            data = x
            fit_kwargs = {"y": y, "batch_size": batch_size}
            n = len(next(iter(tf.nest.flatten(x))))
            if self.steps * (batch_size or 32) > n:
                data = np.concatenate([x] * math.ceil(self.steps * (batch_size or 32) / n))
                fit_kwargs["y"] = np.concatenate([y] * math.ceil(self.steps * (batch_size or 32) / n))
        try:
            model.fit(
                data,
                epochs=1,
                steps_per_epoch=self.steps,
                callbacks=[sweep],
                verbose=0,
                shuffle=False,
                **fit_kwargs,
            )
        finally:
            model.set_weights(weights)
            for v in optimizer.variables:
                old = before.get(id(v))
                v.assign(old if old is not None else np.zeros(v.shape, v.dtype))
        self.losses = sweep.losses
        self.rates = [float(r) for r in rates[: len(self.losses)]]
        return self

    def suggestion(self, method: str = "steepest", skip: float = 0.1) -> float:
        """A suggested learning rate.

        Args:
            method: ``"steepest"``: the rate where the smoothed loss falls
                fastest (per log-rate); ``"min/10"``: the rate of the lowest
                smoothed loss divided by 10.
            skip: Share of the first points ignored (noisy start).
        """
        if method not in ("steepest", "min/10"):
            raise ConfigError(
                describe(
                    "unknown suggestion `method`",
                    received=f"method={method!r}",
                    accepted="'steepest', 'min/10'",
                )
            )
        smooth = np.asarray(self.smoothed_losses)
        finite = np.isfinite(smooth)
        if finite.sum() < 3:
            raise ConfigError(
                describe(
                    "too few finite losses to suggest a rate",
                    received=f"{int(finite.sum())} finite of {len(smooth)}",
                    fix="call run() first, with more `steps` or a lower `min_rate`",
                )
            )
        rates = np.asarray(self.rates)[finite]
        smooth = smooth[finite]
        if method == "min/10":
            return float(rates[int(np.argmin(smooth))] / 10)
        start = min(int(len(smooth) * skip), len(smooth) - 3)
        grads = np.gradient(smooth[start:], np.log(rates[start:]))
        return float(rates[start + int(np.argmin(grads))])

    def plot(self, path: str | os.PathLike[str]) -> Path:
        """Writes loss against learning rate (log scale) to a PNG; needs matplotlib."""
        try:
            from matplotlib.figure import Figure
        except ImportError:
            raise ConfigError(
                describe("plotting needs matplotlib", fix="pip install 'transferlab[plot]'")
            ) from None
        path = Path(path)
        fig = Figure(figsize=(6, 4))
        ax = fig.subplots()
        ax.plot(self.rates, self.losses, alpha=0.3, label="loss")
        ax.plot(self.rates, self.smoothed_losses, label="smoothed")
        if len(self.losses) >= 3:
            ax.axvline(self.suggestion(), color="red", linestyle="--", label="suggestion")
        ax.set_xscale("log")
        ax.set_xlabel("learning rate")
        ax.set_ylabel("loss")
        ax.legend()
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format="png")
        return path


def find_learning_rate(
    model: keras.Model,
    x: Any,
    y: Any = None,
    *,
    batch_size: int | None = None,
    plot_to: str | os.PathLike[str] | None = None,
    **options: Any,
) -> LRFinder:
    """Runs an :class:`LRFinder` (``options`` are its fields) and optionally plots it.

    Example:
        >>> import keras, numpy as np
        >>> m = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
        >>> m.compile(optimizer="sgd", loss="mse")
        >>> f = find_learning_rate(m, np.ones((8, 2)), np.zeros((8, 1)), batch_size=4, steps=4)
        >>> len(f.rates) == len(f.losses)
        True
    """
    finder = LRFinder(**options).run(model, x, y, batch_size=batch_size)
    if plot_to is not None:
        finder.plot(plot_to)
    return finder
