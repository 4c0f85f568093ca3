"""Command-line flags generated from the config dataclasses, so every config key has a flag."""

from __future__ import annotations

import argparse
import dataclasses
import typing
from typing import Any

from transferlab.config.run_config import RunConfig

__all__ = ["add_config_flags", "config_overrides", "resolved_config"]

# Flags whose name is not simply the key's (`--strategy fine_tune` reads better than `--kind`).
_FLAG_NAMES = {
    "strategy.kind": "strategy",
    "strategy.learning_rate": "lr",
    "strategy.finetune_learning_rate": "finetune-lr",
}


def _flag(section: str, name: str) -> str:
    return "--" + _FLAG_NAMES.get(f"{section}.{name}", name.replace("_", "-"))


def add_config_flags(parser: argparse.ArgumentParser) -> None:
    """Adds one flag per config key, grouped by section, each with its documentation.

    Example:
        >>> parser = argparse.ArgumentParser()
        >>> add_config_flags(parser)
        >>> args = parser.parse_args(["--strategy", "fine_tune", "--top", "2", "--classes", "5", "6"])
        >>> config_overrides(args)["strategy.kind"], config_overrides(args)["data.classes"]
        ('fine_tune', (5, 6))
    """
    defaults = RunConfig()
    for section in ("data", "model", "strategy", "training"):
        group = parser.add_argument_group(f"[{section}] (override the config file)")
        section_config = getattr(defaults, section)
        hints = typing.get_type_hints(type(section_config))
        for field in dataclasses.fields(section_config):
            tp = hints[field.name]
            default = getattr(section_config, field.name)
            options: dict[str, Any] = {
                "dest": f"{section}.{field.name}",
                "default": None,
                # argparse formats help with %: a literal % in a doc must be doubled
                "help": f"{field.metadata.get('doc', '')} (default: {default!r})".replace("%", "%%"),
            }
            if tp is bool:
                options["action"] = argparse.BooleanOptionalAction
            elif typing.get_origin(tp) is tuple:
                options.update(nargs="*", type=typing.get_args(tp)[0], metavar="N")
            else:
                options["type"] = tp
                options["metavar"] = {int: "N", float: "X"}.get(tp, "TEXT")
                if field.metadata.get("choices"):
                    options["choices"] = field.metadata["choices"]
                    options["metavar"] = "{" + ",".join(field.metadata["choices"]) + "}"
            group.add_argument(_flag(section, field.name), **options)


def config_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """The ``section.key`` values given on the command line (unset flags are left out)."""
    out = {}
    for key, value in vars(args).items():
        if "." in key and value is not None:
            out[key] = tuple(value) if isinstance(value, list) else value
    return out


def resolved_config(args: argparse.Namespace) -> RunConfig:
    """``--config FILE`` (or the defaults) with the flags given on the command line applied."""
    config = RunConfig.load(args.config) if args.config else RunConfig()
    return config.with_overrides(config_overrides(args))
