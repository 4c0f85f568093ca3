"""``DivergenceGuard``: stops training with a named error on a non-finite loss or non-finite weights."""

from __future__ import annotations

import math
from collections.abc import Mapping

import keras
import numpy as np

from transferlab.errors import ConfigError, DivergenceError, describe

__all__ = ["DivergenceGuard"]


class DivergenceGuard(keras.callbacks.Callback):
    """Raises :class:`~transferlab.errors.DivergenceError` out of ``fit`` when training diverges.

    After every training batch it looks at the loss Keras logs (cheap: no
    extra computation); at every epoch end it also checks every weight of the
    model. A NaN or infinite value stops training with an error naming the
    phase, epoch and step, the loss, the learning rate and the fix. So does a
    loss that *explodes*: more than ``explode_factor`` times the first loss of
    the ``fit`` call (a learning rate far too high makes the loss jump from
    ~1 to ~1e30 within a few steps, long before it overflows to inf). Unlike
    ``keras.callbacks.TerminateOnNaN`` (which only stops), the error leaves
    ``fit``: callbacks placed after the guard (checkpoints, backups) never see
    the diverged state, so it is never saved.

    Args:
        phase: The phase's name, shown in the message (may be set later:
            ``guard.phase = "finetune"``).
        explode_factor: How many times the first loss of ``fit`` a logged
            loss may reach (``math.inf``: only non-finite values stop).

    Raises:
        DivergenceError: Out of ``fit``, as described.

    Example:
        >>> import keras, numpy as np
        >>> model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
        >>> model.compile(optimizer=keras.optimizers.SGD(1e30), loss="mse")
        >>> x = np.full((8, 2), 1e10, "float32")
        >>> model.fit(x, x[:, :1], epochs=2, batch_size=4, verbose=0,
        ...           callbacks=[DivergenceGuard(phase="head")])
        Traceback (most recent call last):
        ...
        transferlab.errors.DivergenceError: Training diverged in phase 'head', epoch 1, step 2: non-finite values. Received: loss=inf; learning rate 1e+30. Fix: lower the learning rate ...
    """

    def __init__(self, phase: str | None = None, *, explode_factor: float = 1e6) -> None:
        super().__init__()
        if not explode_factor > 1:
            raise ConfigError(
                describe(
                    "`explode_factor` must be > 1 (math.inf: only non-finite losses stop training)",
                    received=f"explode_factor={explode_factor!r}",
                )
            )
        self.phase = phase
        self.explode_factor = float(explode_factor)
        self._epoch = 0
        self._first: float | None = None

    def on_train_begin(self, logs: Mapping[str, object] | None = None) -> None:
        self._first = None

    def on_epoch_begin(self, epoch: int, logs: Mapping[str, object] | None = None) -> None:
        self._epoch = int(epoch)

    def on_train_batch_end(self, batch: int, logs: Mapping[str, object] | None = None) -> None:
        loss = _number((logs or {}).get("loss"))
        if loss is None:
            return
        where = f"step {int(batch) + 1}"
        if not math.isfinite(loss):
            raise DivergenceError(self._message(where, f"loss={loss}"))
        if self._first is None:
            self._first = abs(loss)
        elif abs(loss) > self.explode_factor * max(self._first, 1e-3):
            raise DivergenceError(
                self._message(
                    where,
                    f"loss={loss:.3g}, more than {self.explode_factor:g}x the first loss "
                    f"of this fit ({self._first:.3g})",
                    problem="the loss exploded",
                )
            )

    def on_epoch_end(self, epoch: int, logs: Mapping[str, object] | None = None) -> None:
        self._epoch = int(epoch)
        loss = _number((logs or {}).get("loss"))
        if loss is not None and not math.isfinite(loss):
            raise DivergenceError(self._message("its end", f"loss={loss}"))
        for variable in self.model.weights:
            values = np.asarray(keras.ops.convert_to_numpy(variable.value))
            if values.dtype.kind == "f" and not np.isfinite(values).all():
                bad = int(values.size - np.isfinite(values).sum())
                raise DivergenceError(
                    self._message(
                        "its end",
                        f"weights {variable.path!r} hold {bad} NaN or infinite value(s) (loss={loss})",
                    )
                )

    def _message(self, where: str, received: str, problem: str = "non-finite values") -> str:
        phase = f"phase {self.phase!r}, " if self.phase else ""
        rate = _learning_rate(self.model)
        return describe(
            f"Training diverged in {phase}epoch {self._epoch + 1}, {where}: {problem}",
            received=f"{received}; learning rate {rate}",
            fix="lower the learning rate (e.g. 10x lower), then train again; "
            "nothing of the diverged state was saved",
        )


def _number(value: object) -> float | None:
    if value is None:
        return None
    try:
        return float(np.asarray(value))
    except (TypeError, ValueError):
        return None


def _learning_rate(model: object) -> str:
    """The optimizer's current learning rate as text (``"unknown"`` when it cannot be read)."""
    optimizer = getattr(model, "optimizer", None)
    try:
        rate = float(np.asarray(keras.ops.convert_to_numpy(optimizer.learning_rate)))  # type: ignore[union-attr]
    except Exception:  # a schedule or optimizer that does not expose one rate
        return "unknown"
    return f"{rate:g}"
