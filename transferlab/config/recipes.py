"""Recipes: the recommended settings for a kind of task, as config overrides (one place for each).

A recipe is a mapping of dotted config keys to values, applied with
:meth:`~transferlab.config.RunConfig.with_overrides` (or ``transferlab train
--recipe NAME``); keys it does not name keep the config's values. The numbers
behind each recipe are in docs/results.md, measured by
``examples/reproduce_results.py``.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

__all__ = ["FEW_SHOT", "RECIPES"]

#: Transfer from a backbone pretrained on a source task to a target with a few labels per class
#: (1 to 100): the linear probe fitted on the frozen features, then the whole backbone fine-tuned
#: from it at a low rate (LP-FT), the labelled images augmented, small batches. The source
#: backbone itself is pretrained with the ``model.pretrain_*`` defaults (10 epochs, cosine,
#: standard augmentation) in batches of 64 (when the run pretrains it: model.pretrain_classes).
FEW_SHOT: Mapping[str, object] = MappingProxyType(
    {
        "data.augment": "standard",
        "model.pretrain_batch_size": 64,
        "strategy.kind": "lp_ft",
        "strategy.epochs": 40,
        "strategy.learning_rate": 1e-3,
        "strategy.finetune_learning_rate": 1e-4,
        "strategy.batchnorm": "frozen",
        "training.batch_size": 16,
    }
)

#: Every recipe by name (``transferlab train --recipe NAME``).
RECIPES: Mapping[str, Mapping[str, object]] = MappingProxyType({"few_shot": FEW_SHOT})
