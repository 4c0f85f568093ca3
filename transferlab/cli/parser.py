"""The argument parser behind every ``transferlab`` command: one-line errors, no tracebacks."""

from __future__ import annotations

import argparse
import sys
from typing import NoReturn

__all__ = ["CommandParser"]


class CommandParser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose errors are one line on stderr and exit code 2.

    Example:
        >>> parser = CommandParser(prog="transferlab demo")
        >>> _ = parser.add_argument("--epochs", type=int)
        >>> parser.parse_args(["--epochs", "3"]).epochs
        3
    """

    def error(self, message: str) -> NoReturn:
        sys.stderr.write(f"{self.prog}: error: {message} (see `{self.prog} --help`)\n")
        raise SystemExit(2)
