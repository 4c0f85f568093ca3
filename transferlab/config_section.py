"""Validation shared by every config section: TOML tables into frozen dataclasses."""

from __future__ import annotations

import dataclasses
import difflib
import math
import os
import types
import typing
from collections.abc import Mapping
from typing import ClassVar, TypeVar

from transferlab.errors import ConfigError, describe

__all__ = ["ConfigSection", "field"]

_S = TypeVar("_S", bound="ConfigSection")
_T = TypeVar("_T")


def field(default: _T, doc: str, *, choices: tuple[_T, ...] | None = None) -> _T:
    """A documented config field (``doc`` shows in ``transferlab train --help`` and the docs).

    Args:
        default: The default value (immutable: tuples, not lists).
        doc: One sentence on what the field does.
        choices: The accepted values, if the field takes only a few.
    """
    return dataclasses.field(default=default, metadata={"doc": doc, "choices": choices})


@dataclasses.dataclass(frozen=True)
class ConfigSection:
    """Base class of the config sections: typed, validated, frozen.

    Subclasses declare fields with :func:`field`. ``from_mapping`` turns a TOML
    table into a section, naming the key, the value and what is accepted when
    anything is off.
    """

    SECTION: ClassVar[str] = ""

    def __post_init__(self) -> None:
        hints = typing.get_type_hints(type(self))
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            key = f"{self.SECTION}.{f.name}" if self.SECTION else f.name
            object.__setattr__(self, f.name, _coerce(key, value, hints[f.name]))
            choices = f.metadata.get("choices")
            if choices is not None and getattr(self, f.name) not in choices:
                raise ConfigError(
                    describe(
                        f"Bad value for config key `{key}`",
                        received=f"{key}={value!r}",
                        accepted=", ".join(map(repr, choices)),
                    )
                )
        self.validate()

    def validate(self) -> None:
        """Cross-field checks; subclasses override. Raises ConfigError."""

    @classmethod
    def from_mapping(cls: type[_S], table: Mapping[str, object]) -> _S:
        """Builds the section from a TOML table, rejecting unknown keys.

        Example:
            >>> import dataclasses
            >>> @dataclasses.dataclass(frozen=True)
            ... class Demo(ConfigSection):
            ...     SECTION = "demo"
            ...     epochs: int = field(3, "How many epochs.")
            >>> Demo.from_mapping({"epochs": 5}).epochs
            5
            >>> Demo.from_mapping({"epoch": 5})
            Traceback (most recent call last):
            ...
            transferlab.errors.ConfigError: Unknown config key `demo.epoch`. Accepted: epochs. Fix: did you mean `demo.epochs`?.
        """
        if not isinstance(table, Mapping):
            raise ConfigError(
                describe(
                    f"Config section `[{cls.SECTION}]` must be a table",
                    received=f"{cls.SECTION}={table!r}",
                )
            )
        names = [f.name for f in dataclasses.fields(cls)]
        for key in table:
            if key not in names:
                close = difflib.get_close_matches(key, names, n=1)
                full = f"{cls.SECTION}.{key}" if cls.SECTION else key
                raise ConfigError(
                    describe(
                        f"Unknown config key `{full}`",
                        accepted=", ".join(names),
                        fix=(
                            f"did you mean `{cls.SECTION + '.' if cls.SECTION else ''}{close[0]}`?"
                            if close
                            else "remove it, or check the spelling in the docs"
                        ),
                    )
                )
        return cls(**dict(table))

    def to_mapping(self) -> dict[str, object]:
        """The section as a plain dict (tuples become lists), for TOML/JSON."""
        out: dict[str, object] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            out[f.name] = list(value) if isinstance(value, tuple) else value
        return out

    @classmethod
    def field_docs(cls) -> dict[str, str]:
        """``{field name: one-sentence doc}`` for help texts and docs."""
        return {f.name: f.metadata.get("doc", "") for f in dataclasses.fields(cls)}


def _type_name(tp: object) -> str:
    return getattr(tp, "__name__", str(tp))


def _coerce(key: str, value: object, tp: object) -> object:
    """Checks ``value`` against the annotation ``tp``; converts lists to tuples and ints to floats."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        errors = []
        for option in typing.get_args(tp):
            try:
                return _coerce(key, value, option)
            except ConfigError as error:
                errors.append(error)
        accepted = " or ".join(_type_name(t) for t in typing.get_args(tp))
        raise ConfigError(
            describe(
                f"Wrong type for config key `{key}`",
                received=f"{key}={value!r} ({type(value).__name__})",
                accepted=accepted,
            )
        )
    if tp is type(None):
        if value is None:
            return None
    elif origin is tuple:
        if isinstance(value, (list, tuple)):
            (item_type, *_) = typing.get_args(tp)
            return tuple(_coerce(f"{key}[{i}]", v, item_type) for i, v in enumerate(value))
    elif tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            if not math.isfinite(value):
                raise ConfigError(
                    describe(
                        f"Config key `{key}` must be a finite number",
                        received=f"{key}={value!r}",
                        fix="pass a finite number (inf and nan are not accepted)",
                    )
                )
            return float(value)
    elif tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif tp is bool:
        if isinstance(value, bool):
            return value
    elif tp is str:
        if isinstance(value, str):
            return value
        if isinstance(value, os.PathLike):  # a path where a path is meant: its string
            return os.fspath(value)
    elif isinstance(tp, type):
        if isinstance(value, tp):
            return value
    else:  # a generic other than tuple, a Literal...: a bug in the section, not in the config
        raise TypeError(f"config key `{key}`: unsupported field annotation {tp!r}")
    raise ConfigError(
        describe(
            f"Wrong type for config key `{key}`",
            received=f"{key}={value!r} ({type(value).__name__})",
            accepted=_type_name(tp) if origin is not tuple else "a list",
        )
    )
