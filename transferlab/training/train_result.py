"""``TrainResult``: what ``Trainer.fit`` returns."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING

from transferlab.training.run_folder import MetricRow

if TYPE_CHECKING:  # pragma: no cover
    import keras

__all__ = ["TrainResult"]


@dataclasses.dataclass
class TrainResult:
    """The outcome of a training run.

    Attributes:
        history: ``{metric: [value per epoch]}`` over all phases (like
            ``keras.callbacks.History.history``), resumed epochs included.
        rows: The per-epoch rows of ``metrics.json`` (with ``epoch`` and ``phase``).
        model: The trained model.
        run_dir: The run folder.
        resumed_from: ``(phase, epoch, step)`` the run resumed from, or ``None``.
        feature_cache: Per phase name: ``"on"`` or why it was off.
        reused: ``True`` when the run had finished before and its stored
            result was returned without training.

    Example:
        >>> r = TrainResult(history={"loss": [1.0, 0.5]}, rows=[], model=None, run_dir=Path("."))
        >>> r.epochs
        2
    """

    history: dict[str, list[float]]
    rows: list[MetricRow]
    model: keras.Model
    run_dir: Path
    resumed_from: tuple[int, int, int] | None = None
    feature_cache: dict[str, str] = dataclasses.field(default_factory=dict)
    reused: bool = False

    @property
    def epochs(self) -> int:
        """How many epochs the run trained in all."""
        return max((len(v) for v in self.history.values()), default=0)
