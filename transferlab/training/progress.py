"""``RunProgress``: what a person sees while a run trains — the run folder, a header per phase, epochs over the run."""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TextIO

import keras

from transferlab.errors import ConfigError, describe

__all__ = ["RunProgress"]

_VERBOSE = ("auto", 0, 1, 2)


class RunProgress(keras.callbacks.Callback):
    """Prints a run's progress: its folder first, a header per phase, then each epoch.

    Epochs are numbered over the whole run (``epoch 3/4``), whichever phase they
    belong to. On a terminal (``stream.isatty()``) with ``verbose`` ``"auto"`` or
    1, each epoch gets a step bar (``keras.utils.Progbar``); elsewhere (a file, a
    pipe, CI) or with ``verbose=2``, each epoch is ONE line with its logs, with no
    carriage returns; ``verbose=0`` prints nothing. The Trainer calls
    :meth:`run_started`, :meth:`phase_started` and :meth:`run_finished`, and
    ``fit(..., verbose=0)`` with this callback.

    Args:
        total_epochs: The epochs of the whole run (every phase).
        verbose: ``"auto"``, 0, 1 or 2, as Keras' ``fit``.
        stream: Where to print (default: ``sys.stdout`` at the time of printing).

    Raises:
        ConfigError: For a ``total_epochs`` below 1 or an unknown ``verbose``.

    Example:
        >>> import io
        >>> out = io.StringIO()
        >>> progress = RunProgress(total_epochs=2, verbose=2, stream=out)
        >>> progress.run_started(Path("runs/demo"))
        >>> progress.phase_started(0, 1, "train", trainable_groups=(), epochs=2, first_epoch=0,
        ...                        rates={"head": {"rate": 0.001, "scale": 1.0}, "groups": {}},
        ...                        feature_cache="on")
        >>> progress.on_epoch_begin(0)
        >>> progress.on_epoch_end(0, {"loss": 0.5, "accuracy": 0.75})
        >>> print(out.getvalue(), end="")  # doctest: +ELLIPSIS
        run folder: runs/demo
        phase 1/1 'train': epochs 1-2 of 2; trains: head only; rates: head 0.001; feature cache: on
        epoch 1/2 - ...s - loss: 0.5000 - accuracy: 0.7500
    """

    def __init__(
        self, *, total_epochs: int, verbose: int | str = "auto", stream: TextIO | None = None
    ) -> None:
        super().__init__()
        if isinstance(total_epochs, bool) or not isinstance(total_epochs, int) or total_epochs < 1:
            raise ConfigError(
                describe(
                    "`total_epochs` must be a whole number >= 1 (the epochs of every phase together)",
                    received=f"total_epochs={total_epochs!r}",
                )
            )
        if isinstance(verbose, bool) or verbose not in _VERBOSE:
            raise ConfigError(
                describe(
                    "Unknown `verbose` value",
                    received=f"verbose={verbose!r}",
                    accepted="'auto', 0 (nothing), 1 (a step bar on a terminal), 2 (one line per epoch)",
                )
            )
        self.total_epochs = total_epochs
        self.verbose = verbose
        self.stream = stream
        self._bar: keras.utils.Progbar | None = None
        self._epoch_started = 0.0
        self._steps_seen = 0

    # What and where ----------------------------------------------------------
    @property
    def mode(self) -> str:
        """``"bar"`` (a step bar), ``"lines"`` (one line per epoch) or ``"off"``."""
        if self.verbose == 0:
            return "off"
        if self.verbose == 2 or not _isatty(self._out()):
            return "lines"
        return "bar"

    def _out(self) -> TextIO:
        return self.stream if self.stream is not None else sys.stdout

    def _write(self, text: str) -> None:
        if self.mode == "off":
            return
        out = self._out()
        out.write(text + "\n")
        out.flush()

    # Called by the Trainer ---------------------------------------------------
    def run_started(self, run_dir: Path, *, resumed_from: str | None = None) -> None:
        """Prints the run folder (first, before anything else), and where a resumed run goes on from."""
        line = f"run folder: {run_dir}"
        if resumed_from:
            line += f" (resuming from {resumed_from})"
        self._write(line)

    def phase_started(
        self,
        index: int,
        total: int,
        name: str,
        *,
        trainable_groups: Sequence[str],
        rates: Mapping[str, object],
        epochs: int,
        first_epoch: int,
        feature_cache: str,
    ) -> None:
        """Prints a phase's header: name, index/total, epochs, what trains, its rates, the feature cache.

        Args:
            index: The phase's index (from 0).
            total: How many phases the run has.
            name: The phase's name.
            trainable_groups: The backbone groups that train (none: the head only).
            rates: The phase's rates, as ``PhaseRates.as_dict()`` records them.
            epochs: The phase's epochs.
            first_epoch: The run's epoch the phase starts at (from 0).
            feature_cache: ``"on"``, or ``"off: <reason>"``.
        """
        first, last = first_epoch + 1, first_epoch + epochs
        span = f"epoch {first}" if first == last else f"epochs {first}-{last}"
        groups = ", ".join(trainable_groups) + " and the head" if trainable_groups else "head only"
        self._write(
            f"phase {index + 1}/{total} {name!r}: {span} of {self.total_epochs}; trains: {groups}; "
            f"rates: {_rates_text(rates)}; feature cache: {feature_cache}"
        )

    def run_finished(self, run_dir: Path, summary: Mapping[str, object]) -> None:
        """Prints the run's summary (``{name: value}``) and, last, its folder again."""
        if summary:
            self._write("run finished: " + ", ".join(f"{k} {_value_text(v)}" for k, v in summary.items()))
        self._write(f"run folder: {run_dir}")

    # Keras hooks ---------------------------------------------------------------
    def on_epoch_begin(self, epoch: int, logs: Mapping[str, object] | None = None) -> None:
        self._epoch_started = time.perf_counter()
        self._steps_seen = 0
        if self.mode != "bar":
            return
        self._write(f"epoch {epoch + 1}/{self.total_epochs}")
        out = self._out()
        with contextlib.redirect_stdout(out):
            self._bar = keras.utils.Progbar(target=(self.params or {}).get("steps"), verbose=1)

    def on_train_batch_end(self, batch: int, logs: Mapping[str, object] | None = None) -> None:
        self._steps_seen = batch + 1
        if self._bar is None:
            return
        with contextlib.redirect_stdout(self._out()):
            self._bar.update(batch + 1, values=_numbers(logs), finalize=False)

    def on_epoch_end(self, epoch: int, logs: Mapping[str, object] | None = None) -> None:
        if self.mode == "off":
            return
        if self._bar is not None:
            bar, self._bar = self._bar, None
            with contextlib.redirect_stdout(self._out()):
                bar.update(self._steps_seen, values=_numbers(logs), finalize=True)
            return
        seconds = time.perf_counter() - self._epoch_started
        parts = [f"epoch {epoch + 1}/{self.total_epochs}", f"{seconds:.1f}s"]
        parts += [f"{key}: {_value_text(value)}" for key, value in _numbers(logs)]
        self._write(" - ".join(parts))


def _isatty(stream: object) -> bool:
    try:
        return bool(stream.isatty())  # type: ignore[attr-defined]
    except (AttributeError, ValueError, OSError):
        return False


def _numbers(logs: Mapping[str, object] | None) -> list[tuple[str, float]]:
    out = []
    for key, value in (logs or {}).items():
        try:
            out.append((key, float(value)))  # type: ignore[arg-type]
        except (TypeError, ValueError):
            continue
    return out


def _value_text(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.4f}" if value == 0 or 1e-3 <= abs(value) < 1e4 else f"{value:.4e}"
    return str(value)


def _rate_text(entry: object) -> str:
    """``1e-04`` (absolute), or ``x0.1 of the optimizer's schedule`` when the base is a schedule."""
    if not isinstance(entry, Mapping):
        return str(entry)
    rate, scale = entry.get("rate"), entry.get("scale")
    if isinstance(rate, (int, float)):
        return f"{rate:g}"
    return f"x{scale:g} of the optimizer's schedule" if isinstance(scale, (int, float)) else "?"


def _rates_text(rates: Mapping[str, object]) -> str:
    parts = [f"head {_rate_text(rates.get('head'))}"]
    groups = rates.get("groups")
    if isinstance(groups, Mapping):
        parts += [f"{group} {_rate_text(entry)}" for group, entry in groups.items()]
    text = ", ".join(parts)
    if rates.get("schedule") == "cosine":
        text += " (cosine decay)"
    return text
