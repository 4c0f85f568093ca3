"""The argument parser behind every ``transferlab`` command: no abbreviations, one-line errors."""

from __future__ import annotations

import argparse
import difflib
import sys
from collections.abc import Sequence
from typing import NoReturn

__all__ = ["CommandParser"]


class CommandParser(argparse.ArgumentParser):
    """An ``ArgumentParser`` that takes whole flags only, with one-line errors and exit code 2.

    Abbreviations are refused (``allow_abbrev=False``): ``--labels-per-clas 5``
    is an unknown flag, not ``--labels-per-class``, so a config key added later
    can never change what an abbreviated command means. An unknown flag is
    named, with the closest known one.

    Example:
        >>> parser = CommandParser(prog="transferlab demo")
        >>> _ = parser.add_argument("--epochs", type=int)
        >>> parser.parse_args(["--epochs", "3"]).epochs
        3
        >>> parser.allow_abbrev
        False
        >>> parser.unknown_flags_message(["--epoch", "3"])
        'unrecognized arguments: --epoch 3; did you mean --epochs?'
    """

    def __init__(self, *args: object, **kwargs: object) -> None:
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]

    def error(self, message: str) -> NoReturn:
        """Prints ``<prog>: error: <message> (see `<prog> --help`)`` on stderr; exits with code 2."""
        sys.stderr.write(f"{self.prog}: error: {message} (see `{self.prog} --help`)\n")
        raise SystemExit(2)

    def unknown_flags_message(self, unknown: Sequence[str]) -> str:
        """``unrecognized arguments: ...``, with the closest known flag of each unknown one."""
        known = [option for action in self._actions for option in action.option_strings]
        hints = []
        for word in unknown:
            if word.startswith("--"):
                close = difflib.get_close_matches(word.split("=", 1)[0], known, n=1, cutoff=0.75)
                hints += [f"did you mean {close[0]}?"] if close else []
        return f"unrecognized arguments: {' '.join(unknown)}" + "".join(f"; {hint}" for hint in hints)
