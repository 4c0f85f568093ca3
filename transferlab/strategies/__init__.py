"""Strategies: which layers train when, at what rates — as a sequence of Phases.

Keras fixes what trains at ``compile()``, so every change of the trainable
set is a new :class:`Phase`: :func:`apply_phase`, compile with a fresh
:func:`build_optimizer` (both in :func:`compile_phase`), then
``fit(initial_epoch=...)``. :func:`check_trainable_state` refuses to train when
flags changed since compile.

The optimizer you pass is the optimizer that trains: its own learning rate (or
schedule) is the base rate, and a phase scales it (:func:`phase_learning_rates`).
"""

from transferlab.strategies.apply_batchnorm_policy import apply_batchnorm_policy
from transferlab.strategies.apply_phase import apply_phase
from transferlab.strategies.build_optimizer import build_optimizer
from transferlab.strategies.by_name import STRATEGY_NAMES, strategy_by_name
from transferlab.strategies.chain import Chain
from transferlab.strategies.check_trainable_state import check_trainable_state
from transferlab.strategies.compile_phase import compile_phase
from transferlab.strategies.feature_extraction import FeatureExtraction
from transferlab.strategies.few_shot_heads import (
    PROBE_METHODS,
    ProbeFit,
    class_prototypes,
    fit_linear_probe,
    nearest_prototype,
)
from transferlab.strategies.fine_tune import FineTune
from transferlab.strategies.fit_closed_form_head import check_closed_form_head, fit_closed_form_head
from transferlab.strategies.freeze import freeze
from transferlab.strategies.frozen_stats_batch_normalization import FrozenStatsBatchNormalization
from transferlab.strategies.gradual_unfreeze import GradualUnfreeze
from transferlab.strategies.group_learning_rates import group_learning_rates
from transferlab.strategies.layerwise_optimizer import layerwise_optimizer
from transferlab.strategies.linear_probe import LinearProbe
from transferlab.strategies.lp_ft import DEFAULT_LP_FT_LR_SCALE, LPFT
from transferlab.strategies.phase import HEAD_FITS, BatchNormPolicy, Phase
from transferlab.strategies.phase_learning_rates import SCHEDULES, PhaseRates, phase_learning_rates
from transferlab.strategies.prototypes import Prototypes
from transferlab.strategies.scaled_schedule import ScaledSchedule
from transferlab.strategies.scratch import Scratch
from transferlab.strategies.set_trainable_groups import set_trainable_groups
from transferlab.strategies.strategy import Strategy
from transferlab.strategies.unfreeze import unfreeze

__all__ = [
    "DEFAULT_LP_FT_LR_SCALE",
    "HEAD_FITS",
    "LPFT",
    "PROBE_METHODS",
    "SCHEDULES",
    "STRATEGY_NAMES",
    "BatchNormPolicy",
    "Chain",
    "FeatureExtraction",
    "FineTune",
    "FrozenStatsBatchNormalization",
    "GradualUnfreeze",
    "LinearProbe",
    "Phase",
    "PhaseRates",
    "ProbeFit",
    "Prototypes",
    "ScaledSchedule",
    "Scratch",
    "Strategy",
    "apply_batchnorm_policy",
    "apply_phase",
    "build_optimizer",
    "check_closed_form_head",
    "check_trainable_state",
    "class_prototypes",
    "compile_phase",
    "fit_closed_form_head",
    "fit_linear_probe",
    "freeze",
    "group_learning_rates",
    "layerwise_optimizer",
    "nearest_prototype",
    "phase_learning_rates",
    "set_trainable_groups",
    "strategy_by_name",
    "unfreeze",
]
