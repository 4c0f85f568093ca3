"""Private helper: one layer, a model, or an iterable of layers -> list of layers."""

from __future__ import annotations

from collections.abc import Iterable

import keras

from transferlab.errors import StrategyError, describe

__all__: list[str] = []


def as_layers(target: object) -> list[keras.layers.Layer]:
    """Normalises the argument of :func:`freeze` / :func:`unfreeze`.

    Raises:
        StrategyError: If something other than Keras layers is passed.
    """
    if isinstance(target, keras.layers.Layer):
        return [target]
    if isinstance(target, Iterable) and not isinstance(target, (str, bytes)):
        layers = list(target)
        bad = [item for item in layers if not isinstance(item, keras.layers.Layer)]
        if not bad:
            return layers
        received = f"an iterable holding {type(bad[0]).__name__}"
    else:
        received = f"{type(target).__name__}"
    raise StrategyError(
        describe(
            "freeze()/unfreeze() take a Keras layer or model, or an iterable of them",
            received=received,
            fix="pass e.g. model.backbone, or [model.backbone.get_layer('block1_conv1')]",
        )
    )
