"""The learning-rate finder on the model, data and first phase a run config describes."""

from __future__ import annotations

import os
from typing import TypedDict, Unpack

from transferlab.config.run_config import RunConfig
from transferlab.data.pipeline import make_pipeline
from transferlab.experiments.prepare_data import prepare_data
from transferlab.experiments.run_experiment import builder_for, source_weights
from transferlab.experiments.strategy_from_config import strategy_from_config
from transferlab.strategies import compile_phase
from transferlab.training.lr_finder import LRFinder, find_learning_rate

__all__ = ["lr_find_for_config"]


class _SweepOptions(TypedDict, total=False):
    """The :class:`LRFinder` fields that set up its sweep."""

    min_rate: float
    max_rate: float
    steps: int
    smoothing: float
    stop_factor: float


def lr_find_for_config(
    config: RunConfig,
    *,
    phase: int = 0,
    plot_to: str | os.PathLike[str] | None = None,
    **options: Unpack[_SweepOptions],
) -> LRFinder:
    """Sweeps the learning rate for one phase of the run ``config`` describes.

    The model is built (from the source-task backbone when the config pretrains
    one), the phase's trainable groups are set and it is compiled as the
    Trainer would, then an exponential sweep runs on the training data.

    Args:
        config: The run config.
        phase: Which phase of the strategy (0: the first).
        plot_to: Where to save the loss curve as PNG (needs matplotlib).
        **options: :class:`LRFinder` fields (``min_rate``, ``max_rate``, ``steps`` ...).

    Returns:
        The finder, with ``rates``, ``losses`` and ``suggestion()``.
    """
    splits, train, _, _ = prepare_data(config)
    model = builder_for(config, train, source_weights(config, splits.train))()
    phases = strategy_from_config(config.strategy).phases(model.backbone_info)
    compile_phase(
        model,
        phases[min(phase, len(phases) - 1)],
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    data = make_pipeline(
        train, batch_size=config.training.batch_size, shuffle=True, seed=config.training.seed, repeat=True
    )
    return find_learning_rate(model, data, plot_to=plot_to, **options)
