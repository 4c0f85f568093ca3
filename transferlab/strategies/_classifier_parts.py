"""Private helpers: reading a Classifier's parts and resolving group names."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING

from transferlab.errors import StrategyError, describe

if TYPE_CHECKING:  # pragma: no cover
    import keras

    from transferlab.backbones.backbone_info import BackboneInfo

__all__: list[str] = []

_NEEDED = ("backbone", "backbone_info", "head_layers")


def classifier_parts(
    model: keras.Model,
) -> tuple[keras.Model, BackboneInfo, dict[str, list[keras.layers.Layer]], list[keras.layers.Layer]]:
    """Returns ``(backbone, info, layers by group, head layers)`` of a Classifier.

    Raises:
        StrategyError: If ``model`` lacks one of the attributes strategies need.
    """
    missing = [name for name in _NEEDED if not hasattr(model, name)]
    if missing:
        raise StrategyError(
            describe(
                "Strategies act on a transferlab Classifier, which has `backbone`, "
                "`backbone_info` and `head_layers`; this model lacks "
                + ", ".join(f"`{name}`" for name in missing),
                received=f"{type(model).__name__} named {getattr(model, 'name', '?')!r}",
                fix="build the model with transferlab.backbones.build_classifier(...), or "
                "give your model those three attributes",
            )
        )
    backbone = model.backbone
    info = model.backbone_info
    return backbone, info, info.group_layers(backbone), list(model.head_layers)


def resolve_groups(info: BackboneInfo, groups: str | Iterable[str]) -> tuple[str, ...]:
    """Validates group names; returns them bottom to top. ``"all"`` means every group.

    Raises:
        StrategyError: For a name that is not a group of this backbone.
    """
    names = info.group_names
    if isinstance(groups, str):
        if groups == "all":
            return names
        groups = (groups,)
    wanted = list(groups)
    for group in wanted:
        if group not in names:
            close = difflib.get_close_matches(str(group), names, n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise StrategyError(
                describe(
                    f"Backbone {info.name!r} has no layer group {group!r}",
                    received=f"groups={wanted!r}",
                    accepted=", ".join(map(repr, names)) + ", or 'all'",
                    fix=f"{hint}use the names in backbone_info.group_names",
                )
            )
    return tuple(name for name in names if name in wanted)


def walk_layers(layer: keras.layers.Layer) -> Iterator[keras.layers.Layer]:
    """Yields ``layer`` and every layer nested in it, depth first."""
    yield layer
    for sub in getattr(layer, "_layers", ()) or ():
        yield from walk_layers(sub)
