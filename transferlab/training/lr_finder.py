"""Learning-rate range test: sweep the rate exponentially, watch the loss.

The model is trained for ``steps`` batches with the rate rising from
``min_rate`` to ``max_rate``; the loss of each batch is recorded, and the
model's weights and optimizer state (variables, rate) are restored afterwards,
so the finder can run inside a phase, on the phase's compiled model, under any
distribution strategy the model was compiled in.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
from typing import TYPE_CHECKING, cast

import keras
import numpy as np
import numpy.typing as npt
import tensorflow as tf

from transferlab.errors import ConfigError, describe

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure

__all__ = ["LRFinder", "find_learning_rate"]

logger = logging.getLogger(__name__)


class _Sweep(keras.callbacks.Callback):
    def __init__(
        self, rates: npt.NDArray[np.float64], rate_variable: keras.Variable, stop_factor: float, beta: float
    ) -> None:
        super().__init__()
        self.rates, self.var, self.stop_factor, self.beta = rates, rate_variable, stop_factor, beta
        self.losses: list[float] = []
        self._avg, self._best = 0.0, math.inf

    def on_train_batch_begin(self, batch: int, logs: dict[str, object] | None = None) -> None:
        self.model.reset_metrics()  # so the batch-end "loss" is this batch's, not the running mean
        self.var.assign(float(self.rates[len(self.losses)]))

    def on_train_batch_end(self, batch: int, logs: dict[str, object] | None = None) -> None:
        loss = float(cast("float", (logs or {}).get("loss", math.nan)))
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
        edge_points: How many points at either end of the sweep count as its
            edge (see ``at_edge``).

    After :meth:`run`: ``rates`` and ``losses`` (one per batch),
    ``smoothed_losses``, and ``at_edge``: whether the last suggestion (the
    default one after :meth:`run`, then each :meth:`suggestion` call) lies
    among the first or last ``edge_points`` points of the sweep, where the
    best rate may be outside the swept range; a WARNING is logged then, with
    the bound to move.

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
    edge_points: int = 3
    rates: list[float] = dataclasses.field(default_factory=list)
    losses: list[float] = dataclasses.field(default_factory=list)
    at_edge: bool = dataclasses.field(default=False, init=False)
    _warned: tuple[object, ...] = dataclasses.field(default=(), init=False, repr=False, compare=False)

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
        if not isinstance(self.edge_points, int) or self.edge_points < 0:
            raise ConfigError(
                describe(
                    "`edge_points` must be a whole number >= 0",
                    received=f"edge_points={self.edge_points!r}",
                )
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

    def run(
        self, model: keras.Model, x: object, y: object = None, *, batch_size: int | None = None
    ) -> LRFinder:
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
            data: object = x.repeat()
            fit_kwargs: dict[str, object] = {}
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
        self.at_edge = False
        if int(np.isfinite(self.smoothed_losses).sum()) >= 3:
            self.suggestion()  # sets `at_edge`, warns at the edge
        return self

    def suggestion(self, method: str = "steepest", skip: float = 0.1) -> float:
        """A suggested learning rate.

        Sets ``at_edge`` and logs a WARNING (once per distinct result) when
        the point chosen is among the ``edge_points`` first or last points
        considered.

        Args:
            method: ``"steepest"``: the rate where the smoothed loss falls
                fastest (per log-rate); ``"min/10"``: the rate of the lowest
                smoothed loss divided by 10.
            skip: Share of the first points ignored (noisy start).

        Example:
            >>> finder = LRFinder(min_rate=1e-3, max_rate=1.0, steps=7, smoothing=0.0)
            >>> finder.rates = [1e-3, 3e-3, 1e-2, 3e-2, 1e-1, 3e-1, 1.0]
            >>> finder.losses = [1.0, 0.9, 0.8, 0.7, 0.6, 0.5, 0.1]  # still falling at the top
            >>> finder.suggestion("min/10"), finder.at_edge
            (0.1, True)
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
            start = 0
            index = int(np.argmin(smooth))
            rate = float(rates[index] / 10)
        else:
            start = min(int(len(smooth) * skip), len(smooth) - 3)
            grads = np.gradient(smooth[start:], np.log(rates[start:]))
            index = start + int(np.argmin(grads))
            rate = float(rates[index])
        self._check_edge(method, index, start, rates, rate)
        return rate

    def _check_edge(
        self, method: str, index: int, start: int, rates: npt.NDArray[np.float64], rate: float
    ) -> None:
        bottom = index - start < self.edge_points
        top = index >= len(rates) - self.edge_points
        self.at_edge = bottom or top
        key = (method, index, start, len(rates))
        if not self.at_edge or key == self._warned:
            return
        self._warned = key
        side, bound, fix = (
            ("top", "max_rate", f"sweep again with a higher max_rate (above {self.max_rate:.1e})")
            if top
            else ("bottom", "min_rate", f"sweep again with a lower min_rate (below {self.min_rate:.1e})")
        )
        if top and len(rates) < self.steps:
            fix = (
                "the sweep stopped early (the loss diverged): sweep again with more steps or a lower max_rate"
            )
        logger.warning(
            describe(
                f"The suggested learning rate is at the {side} edge of the sweep (point {index + 1} of "
                f"{len(rates)}, method={method!r}): the best rate may lie beyond {bound}",
                received=f"suggestion {rate:.2e}, swept {rates[0]:.1e} to {rates[-1]:.1e}",
                fix=fix,
            )
        )

    def plot(self, path: str | os.PathLike[str] | None = None, *, title: str | None = None) -> Figure:
        """Plots loss against learning rate (log scale), with the suggestion; needs matplotlib.

        Args:
            path: Where to save it as PNG (atomically); ``None``: not saved.
            title: The run's name, shown above the plot.

        Returns:
            The matplotlib ``Figure``.

        Raises:
            MissingDependencyError: If matplotlib is not installed.

        Example:
            >>> finder = LRFinder(min_rate=1e-3, max_rate=1.0, steps=4, smoothing=0.0)
            >>> finder.rates, finder.losses = [1e-3, 1e-2, 1e-1, 1.0], [1.0, 0.5, 0.4, 2.0]
            >>> figure = finder.plot(title="run 1")
            >>> figure.get_suptitle(), figure.axes[0].get_xlabel()
            ('run 1', 'learning rate (log scale)')
        """
        from transferlab.evaluation.figure import finish_figure, new_figure

        fig = new_figure(6, 4)
        ax = fig.add_subplot()
        ax.plot(self.rates, self.losses, alpha=0.3, label="loss")
        ax.plot(self.rates, self.smoothed_losses, label="smoothed")
        if int(np.isfinite(self.smoothed_losses).sum()) >= 3:
            at_edge = self.at_edge
            suggested = self.suggestion()
            label = f"suggestion {suggested:.1e}" + (" (edge of the sweep)" if self.at_edge else "")
            self.at_edge = at_edge or self.at_edge
            ax.axvline(suggested, color="red", linestyle="--", label=label)
        ax.set_xscale("log")
        ax.set_xlabel("learning rate (log scale)")
        ax.set_ylabel("loss")
        ax.legend(fontsize=8)
        return finish_figure(fig, title=title, path=path)


def find_learning_rate(
    model: keras.Model,
    x: object,
    y: object = None,
    *,
    batch_size: int | None = None,
    plot_to: str | os.PathLike[str] | None = None,
    **options: object,
) -> LRFinder:
    """Runs an :class:`LRFinder` (``options`` are its fields) and optionally plots it.

    The finder's ``at_edge`` tells whether its suggestion lies at the edge of
    the sweep (a WARNING is logged then). ``plot_to``: a PNG path to save the
    plot to (:meth:`LRFinder.plot` returns the figure itself).

    Example:
        >>> import keras, numpy as np
        >>> m = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
        >>> m.compile(optimizer="sgd", loss="mse")
        >>> f = find_learning_rate(m, np.ones((8, 2)), np.zeros((8, 1)), batch_size=4, steps=4)
        >>> len(f.rates) == len(f.losses)
        True
    """
    finder = LRFinder(**options)  # type: ignore[arg-type]  # its fields, checked by LRFinder
    finder.run(model, x, y, batch_size=batch_size)
    if plot_to is not None:
        finder.plot(plot_to)
    return finder
