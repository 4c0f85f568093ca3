"""Command-line flags generated from the config dataclasses, so every config key has a flag."""

from __future__ import annotations

import argparse
import dataclasses
import typing
from collections.abc import Collection, Sequence

from transferlab.config.recipes import RECIPES
from transferlab.config.run_config import RunConfig

__all__ = ["ALIASES", "add_config_flags", "config_overrides", "flag_name", "resolved_config"]

#: Documented aliases: ``--strategy fine_tune`` also sets ``strategy.kind`` (``--kind``).
ALIASES = {"strategy.kind": ("--strategy",)}


def flag_name(key: str) -> str:
    """The flag of a config key: its name with dashes (``strategy.learning_rate`` -> ``--learning-rate``).

    Example:
        >>> flag_name("strategy.finetune_learning_rate"), flag_name("strategy.kind")
        ('--finetune-learning-rate', '--kind')
    """
    return "--" + key.partition(".")[2].replace("_", "-")


def add_config_flags(parser: argparse.ArgumentParser, *, keys: Collection[str] | None = None) -> None:
    """Adds one flag per config key, grouped by section, each with its documentation and default.

    The flag is the key's name with dashes (``strategy.learning_rate`` is
    ``--learning-rate``); ``--strategy`` is a documented alias of ``--kind``.

    Args:
        parser: The command's parser.
        keys: Only these config keys (``"data.path"``, ...); ``None``: all.

    Example:
        >>> parser = argparse.ArgumentParser()
        >>> add_config_flags(parser)
        >>> args = parser.parse_args(["--kind", "fine_tune", "--learning-rate", "0.01", "--classes", "5", "6"])
        >>> overrides = config_overrides(args)
        >>> overrides["strategy.kind"], overrides["strategy.learning_rate"], overrides["data.classes"]
        ('fine_tune', 0.01, (5, 6))
    """
    defaults = RunConfig()
    for section in ("data", "model", "strategy", "training"):
        section_config = getattr(defaults, section)
        fields = [
            f for f in dataclasses.fields(section_config) if keys is None or f"{section}.{f.name}" in keys
        ]
        if not fields:
            continue
        group = parser.add_argument_group(f"[{section}] (override the config file)")
        hints = typing.get_type_hints(type(section_config))
        for field in fields:
            tp = hints[field.name]
            default = getattr(section_config, field.name)
            key = f"{section}.{field.name}"
            aliases = ALIASES.get(key, ())
            alias_note = "; alias: " + ", ".join(aliases) if aliases else ""
            flags = (flag_name(key), *aliases)
            # argparse formats help with %: a literal % in a doc must be doubled
            help_text = f"{field.metadata.get('doc', '')} (default: {_shown(default)}{alias_note})".replace(
                "%", "%%"
            )
            if tp is bool:
                group.add_argument(
                    *flags, dest=key, default=None, help=help_text, action=argparse.BooleanOptionalAction
                )
            elif typing.get_origin(tp) is tuple:
                group.add_argument(
                    *flags,
                    dest=key,
                    default=None,
                    help=help_text,
                    nargs="*",
                    type=typing.get_args(tp)[0],
                    metavar="N",
                )
            else:
                choices: Sequence[str] | None = field.metadata.get("choices") or None
                metavar = {int: "N", float: "X"}.get(tp, "TEXT")
                if choices:
                    # with an alias, the choices are shown once (in the doc), not after each name
                    metavar = field.name.upper() if aliases else "{" + ",".join(choices) + "}"
                group.add_argument(
                    *flags, dest=key, default=None, help=help_text, type=tp, metavar=metavar, choices=choices
                )


def _shown(default: object) -> str:
    """A default as a flag takes it: ``5 6`` for a tuple (``none`` when empty), ``''`` for an empty text."""
    if isinstance(default, tuple):
        return " ".join(map(str, default)) if default else "none"
    return repr(default)


def config_overrides(args: argparse.Namespace) -> dict[str, object]:
    """The ``section.key`` values given on the command line (unset flags are left out)."""
    out: dict[str, object] = {}
    for key, value in vars(args).items():
        if "." in key and value is not None:
            out[key] = tuple(value) if isinstance(value, list) else value
    return out


def resolved_config(args: argparse.Namespace) -> RunConfig:
    """``--config FILE`` (or the defaults), then ``--recipe NAME`` if the command has it, then the flags."""
    config = RunConfig.load(args.config) if args.config else RunConfig()
    recipe = getattr(args, "recipe", None)
    if recipe:
        config = config.with_overrides(RECIPES[recipe])
    return config.with_overrides(config_overrides(args))
