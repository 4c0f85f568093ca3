"""The ``transferlab`` command line (also ``python -m transferlab``)."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

from transferlab._version import __version__
from transferlab.cli.parser import CommandParser
from transferlab.errors import INTERRUPTED

__all__ = ["INTERRUPTED", "error_text", "main"]

DESCRIPTION = """\
Correct, fast and reproducible transfer learning on TensorFlow / Keras 3.

Start with `transferlab quickstart`: it pretrains a small AlexNet on MNIST digits 0-4,
transfers it to digits 5-9 with few labels, and prints how transfer compares with
training from scratch.
"""


def _commands() -> list[object]:
    """The command modules, in the order ``--help`` lists them."""
    from transferlab.cli import (
        backbones_command,
        data_command,
        evaluate_command,
        launch_command,
        lr_find_command,
        predict_command,
        pretrain_command,
        quickstart_command,
        train_command,
    )

    return [
        quickstart_command,
        train_command,
        pretrain_command,
        evaluate_command,
        predict_command,
        data_command,
        backbones_command,
        lr_find_command,
        launch_command,
    ]


def build_parser() -> CommandParser:
    """The top-level parser with every sub-command."""
    parser = CommandParser(
        prog="transferlab",
        description=DESCRIPTION,
        formatter_class=__import__("argparse").RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"transferlab {__version__}")
    subparsers = parser.add_subparsers(title="commands", metavar="COMMAND", parser_class=CommandParser)
    for module in _commands():
        module.register(subparsers)  # type: ignore[attr-defined]
    for command_parser in subparsers.choices.values():
        command_parser.set_defaults(command_parser=command_parser)
    return parser


def _import_tensorflow_quietly() -> None:
    """Imports TensorFlow and lists its devices with stderr closed.

    TF 2.21 prints start-up lines from C++ (oneDNN, CUDA probing) that ignore
    TF_CPP_MIN_LOG_LEVEL and would bury the CLI's output. Listing devices does not
    initialise the runtime, so distribution strategies can still be set up after.
    """
    if "tensorflow" in sys.modules:
        return
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
            import tensorflow

            tensorflow.config.list_physical_devices()
    finally:
        os.dup2(saved, 2)
        os.close(saved)


#: What a Ctrl-C prints (on stderr) before the command exits with code 130.
#: Longer error messages are printed on several lines (the problem first, each part indented).
_ONE_LINE_LIMIT = 200
_PARTS = (". Received: ", ". Accepted: ", ". Fix: ")


def error_text(error: BaseException, *, prog: str = "transferlab") -> str:
    """How the command line prints an error: ``<prog>: error: <first line>``, the rest indented.

    A short message stays on one line. A longer one is laid out on several: the
    problem, then ``Received:``, ``Accepted:`` and ``Fix:`` each on an indented
    line (a message :func:`~transferlab.errors.describe` laid out on several
    lines keeps its layout).

    Example:
        >>> from transferlab.errors import ConfigError, describe
        >>> print(error_text(ConfigError(describe("`k` must be positive", received="k=0"))))
        transferlab: error: `k` must be positive. Received: k=0.
        >>> print(error_text(ConfigError(describe("The run folder holds another run",
        ...                                       received="x" * 150, fix="pass another run_name"))))
        ... # doctest: +ELLIPSIS
        transferlab: error: The run folder holds another run.
          Received: xxx...xxx.
          Fix: pass another run_name.
    """
    message = str(error).strip() or type(error).__name__
    lines = message.splitlines()
    if len(lines) == 1 and len(message) >= _ONE_LINE_LIMIT:
        text = message
        for part in _PARTS:
            head, found, tail = text.partition(part)
            if found:
                text = f"{head}.\n{part[2:]}{tail}"
        lines = text.splitlines()
    rest = [line if line.startswith(" ") else "  " + line for line in lines[1:] if line.strip()]
    return "\n".join([f"{prog}: error: {lines[0]}", *rest])


def main(argv: Sequence[str] | None = None) -> int:
    """Runs the command line; returns the exit code.

    Errors transferlab raises on purpose are printed as ``transferlab: error:
    <problem>`` (long messages go on, indented, on the next lines) with exit code
    2; no traceback. Ctrl-C at any moment prints one line, :data:`INTERRUPTED`,
    and exits with code 130.
    """
    try:
        return _main(argv)
    except KeyboardInterrupt:
        sys.stdout.flush()
        sys.stderr.write(INTERRUPTED + "\n")
        sys.stderr.flush()
        return 130


def _main(argv: Sequence[str] | None) -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    # The options' accepted values come from the modules that own them (which import
    # TensorFlow), so TensorFlow starts, quietly, before the parser is built.
    _import_tensorflow_quietly()
    parser = build_parser()
    args, unknown = parser.parse_known_args(argv)
    if unknown:  # reported by the command's own parser, so the hint names its --help
        command_parser = getattr(args, "command_parser", parser)
        command_parser.error(command_parser.unknown_flags_message(unknown))
    if not hasattr(args, "run"):
        parser.print_help()
        return 2
    from transferlab.errors import TransferlabError

    try:
        return int(args.run(args))
    except TransferlabError as error:
        sys.stdout.flush()
        sys.stderr.write(error_text(error) + "\n")
        return 2


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
