"""The classifier a run config describes, as a builder the Trainer calls inside its scope."""

from __future__ import annotations

import functools
from typing import Protocol

from transferlab.backbones.classifier import Classifier, build_classifier
from transferlab.config.run_config import RunConfig
from transferlab.data.source import as_source
from transferlab.experiments.prepare_data import Split

__all__ = ["ClassifierBuilder", "builder_for"]


class ClassifierBuilder(Protocol):
    """Builds a run's classifier, in the given precision (the Trainer calls it inside its scope)."""

    def __call__(self, precision: str = "float32") -> Classifier: ...


def builder_for(
    config: RunConfig, data: Split, weights: str | None, *, kind: str | None = None
) -> ClassifierBuilder:
    """The classifier builder (for ``data``'s classes and image shape) the Trainer calls inside its scope.

    The ``[model]`` section says which backbone (``backbone``, ``width``,
    ``input_size``) and which head (``pooling``, ``dropout``, ``head``: ``auto``
    is the cosine head for the ``prototypes`` strategy, else dense); ``weights``
    is where the backbone starts from (``None``: random); ``kind`` is the
    strategy that will train it (default: ``strategy.kind``).
    """
    input_shape = as_source(data).element_shape
    head = config.model.head
    if head == "auto":
        head = "cosine" if (kind or config.strategy.kind) == "prototypes" else "dense"

    def build(precision: str = "float32") -> Classifier:
        build_it = functools.partial(
            build_classifier,
            config.model.backbone,
            data.num_classes,
            input_shape=input_shape,
            input_size=tuple(config.model.input_size) or "auto",
            weights=weights,
            pooling=config.model.pooling,
            dropout=config.model.dropout,
            head=head,
            precision=precision,
        )
        # `width` only when not the default: not every backbone's builder takes one
        return build_it(width=config.model.width) if config.model.width != 1.0 else build_it()

    return build
