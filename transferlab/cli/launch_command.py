"""``transferlab launch``: run a training script as a local multi-worker job."""

from __future__ import annotations

import argparse
import sys

__all__ = ["register", "run"]

HELP = "run a script (or -m module) as N local workers of one multi-worker job"
EPILOG = """\
examples:
  transferlab launch -n 2 -- train.py --epochs 3
  transferlab launch -n 2 --timeout 600 -m mypkg.train -- --epochs 3

Each worker runs the same command with its own TF_CONFIG (all on 127.0.0.1) and
--threads-per-worker TensorFlow threads; its output is prefixed with [worker i].
If one worker fails, the others are stopped. Exit code: 0 when every worker
succeeded, 1 when one failed, 124 past --timeout, 2 on bad arguments.
"""


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Adds the ``launch`` command to the top-level parser."""
    parser = subparsers.add_parser(
        "launch",
        help=HELP,
        description=HELP[0].upper() + HELP[1:] + ".",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "-n", "--num-workers", type=int, default=2, metavar="N", help="worker processes (default 2)"
    )
    parser.add_argument(
        "--threads-per-worker",
        type=int,
        default=1,
        metavar="T",
        help="TensorFlow/OpenMP threads per worker (default 1)",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=None,
        metavar="S",
        help="seconds for the whole job; past it every worker is stopped",
    )
    parser.add_argument(
        "-m", "--module", metavar="MODULE", help="run this module (python -m MODULE) instead of a script"
    )
    parser.add_argument(
        "command",
        nargs=argparse.REMAINDER,
        metavar="-- SCRIPT [ARGS ...]",
        help="the script and its arguments (with -m: the module's arguments)",
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Launches the workers and waits for them; one-line errors on stderr."""
    from transferlab.errors import ConfigError, DistributionError, WorkerTimeoutError, describe
    from transferlab.training.launcher import launch_local

    command = list(args.command)
    if command[:1] == ["--"]:
        command = command[1:]
    if args.module:
        target, rest = args.module, command
    elif command:
        target, rest = command[0], command[1:]
    else:
        raise ConfigError(
            describe(
                "`transferlab launch` needs the script to run",
                received="no script and no -m MODULE",
                fix="pass e.g. `transferlab launch -n 2 -- train.py --epochs 3`",
            )
        )
    try:
        result = launch_local(
            target,
            rest,
            num_workers=args.num_workers,
            threads_per_worker=args.threads_per_worker,
            timeout=args.timeout,
            stream=sys.stdout,
        )
    except WorkerTimeoutError as err:
        _one_line(err)
        return 124
    except DistributionError as err:
        _one_line(err)
        return 1
    return 0 if result.ok else 1


def _one_line(err: Exception) -> None:
    """The first line of a launcher error (the workers' own lines are above, prefixed)."""
    text = str(err).split(". Received:")[0].strip()
    first = text.splitlines()[0] if text else type(err).__name__
    sys.stderr.write(f"transferlab launch: error: {first.rstrip('.')} (worker logs above)\n")
