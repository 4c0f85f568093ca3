"""``apply_phase``: set a Classifier's trainable flags for one Phase."""

from __future__ import annotations

from typing import TYPE_CHECKING

from transferlab.strategies.phase import Phase
from transferlab.strategies.set_trainable_groups import set_trainable_groups

if TYPE_CHECKING:  # pragma: no cover
    import keras

__all__ = ["apply_phase"]


def apply_phase(model: keras.Model, phase: Phase) -> tuple[str, ...]:
    """Sets the trainable flags of ``phase`` on ``model`` (groups, BN policy; head trains).

    Compile afterwards with a fresh optimizer (:func:`build_optimizer`, or
    :func:`compile_phase`, which does all of it): Keras ignores flags changed
    after ``compile()``.

    Args:
        model: A Classifier.
        phase: The phase to apply.

    Returns:
        The trainable group names, bottom to top.

    Raises:
        StrategyError: For a group the backbone does not have, or a model that
            is not a Classifier.

    Example:
        >>> apply_phase(object(), Phase("warmup", epochs=1))
        Traceback (most recent call last):
        ...
        transferlab.errors.StrategyError: Strategies act on a transferlab Classifier, which has `backbone`, `backbone_info` and `head_layers`; this model lacks `backbone`, `backbone_info`, `head_layers`. Received: object named '?'. Fix: build the model with transferlab.backbones.build_classifier(...), or give your model those three attributes.
    """
    return set_trainable_groups(model, phase.trainable_groups, batchnorm=phase.batchnorm)
