"""``strategy.kind = "auto"``: the strategy chosen by cross-validation on the labelled examples."""

from __future__ import annotations

import dataclasses
import logging
import statistics
from collections.abc import Callable

import numpy as np
import numpy.typing as npt

from transferlab.config.run_config import RunConfig
from transferlab.config.strategy_config import StrategyConfig
from transferlab.errors import ConfigError, describe
from transferlab.evaluation.classification_report import ClassificationReport
from transferlab.experiments.classifier_builder import builder_for
from transferlab.experiments.prepare_data import Split
from transferlab.experiments.strategy_from_config import strategy_from_config
from transferlab.training.trainer import Trainer

__all__ = ["StrategyChoice", "choose_strategy", "start_weights", "stratified_folds"]

logger = logging.getLogger("transferlab.experiments")

#: Where the cross-validation runs of ``auto`` go, inside ``training.run_dir``.
AUTO_RUNS = "auto-cv"


@dataclasses.dataclass(frozen=True)
class StrategyChoice:
    """What ``strategy.kind = "auto"`` chose, and why.

    Attributes:
        kind: The chosen strategy's name (one of ``candidates``).
        config: The ``[strategy]`` section with ``kind`` set to the choice.
        candidates: The strategies compared, in order of preference.
        scores: Mean cross-validated accuracy per candidate (empty without cross-validation).
        fold_scores: Each candidate's accuracy on each held-out fold.
        folds: The number of folds (0: none, see ``reason``).
        reason: One sentence on how the choice was made.
        runs: The run folders of the cross-validation runs, per candidate.
    """

    kind: str
    config: StrategyConfig
    candidates: tuple[str, ...]
    scores: dict[str, float]
    fold_scores: dict[str, list[float]]
    folds: int
    reason: str
    runs: dict[str, list[str]]

    def as_json(self) -> dict[str, object]:
        """The record ``decisions.json`` keeps under ``strategy_choice``."""
        return {
            "chosen": self.kind,
            "candidates": list(self.candidates),
            "folds": self.folds,
            "scores": self.scores,
            "fold_scores": self.fold_scores,
            "reason": self.reason,
            "runs": self.runs,
        }


def start_weights(kind: str, weights: str | None) -> str | None:
    """Where a backbone trained by strategy ``kind`` starts: ``scratch`` from random weights (``None``),
    every transfer strategy from ``weights``.

    Example:
        >>> start_weights("lp_ft", "source.weights.h5"), start_weights("scratch", "source.weights.h5")
        ('source.weights.h5', None)
    """
    return None if kind == "scratch" else weights


def stratified_folds(labels: npt.ArrayLike, folds: int, *, seed: int) -> list[npt.NDArray[np.int64]]:
    """Splits example indices into ``folds`` held-out folds, each class spread evenly, seeded.

    Every index is in exactly one fold; each class's examples are shuffled
    (with ``seed``) and dealt to the folds in turn, so fold sizes per class
    differ by at most one.

    Example:
        >>> parts = stratified_folds([0, 0, 0, 1, 1, 1], 3, seed=0)
        >>> sorted(int(i) for part in parts for i in part)
        [0, 1, 2, 3, 4, 5]
        >>> [sorted(int(labels) for labels in np.asarray([0, 0, 0, 1, 1, 1])[part]) for part in parts]
        [[0, 1], [0, 1], [0, 1]]
    """
    y = np.asarray(labels, dtype=np.int64)
    rng = np.random.default_rng(seed)
    dealt: list[list[int]] = [[] for _ in range(folds)]
    for cls in np.unique(y):
        members = np.flatnonzero(y == cls)
        rng.shuffle(members)
        for position, index in enumerate(members):
            dealt[position % folds].append(int(index))
    return [np.sort(np.asarray(part, dtype=np.int64)) for part in dealt]


def choose_strategy(
    config: RunConfig,
    train: Split,
    *,
    weights: str | None,
    verbose: int | str = 0,
    trained: Callable[[str, int, float], None] | None = None,
) -> StrategyChoice:
    """Chooses among ``strategy.auto_candidates`` by cross-validation on ``train``.

    Each candidate is the ``[strategy]`` section with its ``kind`` changed (so
    epochs, rates and probe options are shared; its augmentation is
    :meth:`~transferlab.config.RunConfig.augment_preset` of that kind, as the
    final run's would be), trained through the
    :class:`~transferlab.training.Trainer` on all folds but one and scored by
    its accuracy on the held-out fold, for ``strategy.auto_folds`` stratified
    folds (fewer when the rarest class has fewer labels). Transfer candidates
    start from ``weights``; ``scratch`` from random weights. The highest mean
    accuracy wins; ties go to the earliest candidate. With fewer than two
    labels in some class nothing can be held out: the first candidate is
    taken, and the reason says so.

    The cross-validation runs are ordinary run folders under
    ``<training.run_dir>/auto-cv``: a finished one is reused, so choosing
    again (a resumed run) costs no training.

    Args:
        config: The run config (``strategy.kind`` need not be ``auto``).
        train: The labelled training examples (in memory or an indexed source).
        weights: Where transfer candidates start from (``None``: random).
        verbose: Keras' progress output for the cross-validation runs.
        trained: Called after each cross-validation run with
            ``(candidate, fold, accuracy)`` (progress reporting).

    Returns:
        A :class:`StrategyChoice`.

    Raises:
        ConfigError: ``train`` has no labels to split (a stream).

    Example:
        >>> from transferlab.config import RunConfig
        >>> from transferlab.data import LabeledImages
        >>> one_each = LabeledImages(np.zeros((2, 8, 8, 1), np.uint8), np.array([0, 1]), ("a", "b"))
        >>> choice = choose_strategy(RunConfig(), one_each, weights=None)
        >>> choice.kind, choice.folds
        ('lp_ft', 0)
    """
    labels = getattr(train, "labels", None)
    if labels is None:
        raise ConfigError(
            describe(
                "strategy.kind='auto' needs labelled examples it can split into folds",
                received=f"training data of type {type(train).__name__}",
                fix="pass an in-memory set or an indexed source (image folder, TFRecords), or name the strategy",
            )
        )
    y = np.asarray(labels, dtype=np.int64)
    section = config.strategy
    candidates = tuple(section.auto_candidates)
    counts = np.bincount(y) if len(y) else np.zeros(0, np.int64)
    rarest = int(counts[counts > 0].min()) if counts.any() else 0
    folds = min(section.auto_folds, rarest)
    if folds < 2:
        kind = candidates[0]
        reason = (
            f"no cross-validation: the rarest class has {rarest} labelled example(s), "
            f"none to hold out; took the first candidate, {kind!r}"
        )
        logger.info("strategy 'auto': %s", reason)
        return StrategyChoice(
            kind, dataclasses.replace(section, kind=kind), candidates, {}, {}, 0, reason, {}
        )

    parts = stratified_folds(y, folds, seed=config.training.seed)
    options = dataclasses.replace(
        config.training, run_dir=str(config.training.runs_path / AUTO_RUNS), run_name=""
    )
    fold_scores: dict[str, list[float]] = {}
    runs: dict[str, list[str]] = {}
    for kind in candidates:
        fold_scores[kind], runs[kind] = [], []
        for fold, held_out in enumerate(parts):
            rest = np.setdiff1d(np.arange(len(y)), held_out)
            fit_on, score_on = train.take(rest), train.take(held_out)
            trainer = Trainer(
                builder_for(config, fit_on, start_weights(kind, weights), kind=kind),
                strategy=strategy_from_config(dataclasses.replace(section, kind=kind)),
                options=options,
                verbose=verbose,
            )
            result = trainer.fit(fit_on, augment=config.augmentation(kind))
            accuracy = ClassificationReport.evaluate(result.model, score_on).accuracy
            fold_scores[kind].append(accuracy)
            runs[kind].append(str(result.run_dir))
            if trained is not None:
                trained(kind, fold, accuracy)
    scores = {kind: statistics.fmean(values) for kind, values in fold_scores.items()}
    kind = max(candidates, key=lambda k: (scores[k], -candidates.index(k)))
    reason = (
        f"highest mean accuracy on {folds} held-out folds of the {len(y)} labelled examples "
        f"({scores[kind]:.4f}); ties go to the earliest candidate"
    )
    logger.info("strategy 'auto' chose %r: %s", kind, {k: round(v, 4) for k, v in scores.items()})
    return StrategyChoice(
        kind, dataclasses.replace(section, kind=kind), candidates, scores, fold_scores, folds, reason, runs
    )
