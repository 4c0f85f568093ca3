"""Running a multi-worker job as several local processes: ``launch_local``.

Each worker is the same Python script (or ``-m`` module) started with its own
``TF_CONFIG`` naming every worker on ``127.0.0.1`` with a free port. Their
output is streamed line by line with a ``[worker i]`` prefix; threads per
worker are limited (``TF_NUM_INTRAOP_THREADS``, ``TF_NUM_INTEROP_THREADS``,
``OMP_NUM_THREADS``) so N workers share the cores instead of fighting. If one
worker fails, the others are stopped and the error names the failing worker
with its last log lines. From the command line (the CLI calls :func:`main`)::

    transferlab launch -n 2 -- train.py --epochs 3

The same run on several real machines: start the same script once per
machine with ``TF_CONFIG`` listing every machine and naming that machine's own
task. On ``host1``::

    TF_CONFIG='{"cluster": {"worker": ["host1:12345", "host2:12345"]},
                "task": {"type": "worker", "index": 0}}' python train.py --epochs 3

and on ``host2`` the same with ``"index": 1``. Every machine must reach the
others' ports; worker 0 (or a task of type ``chief``) is the chief that writes
shared outputs. The script calls ``resolve_distribution()`` first thing, which
waits for all workers with a timeout.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO

from transferlab.errors import ConfigError, DistributionError, WorkerTimeoutError, describe
from transferlab.training.launch_result import LaunchResult

__all__ = ["launch_local", "main"]

_TAIL = 20
_GRACE = 5.0


def _free_ports(n: int) -> list[int]:
    socks = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def _command(script_or_module: str, args: Sequence[str]) -> list[str]:
    if script_or_module.endswith(".py") or os.sep in script_or_module:
        path = Path(script_or_module)
        if not path.is_file():
            raise ConfigError(
                describe(
                    "the script to launch does not exist",
                    received=f"script_or_module={script_or_module!r}",
                    fix="pass the path of a Python file, or a module name such as 'mypkg.train'",
                )
            )
        return [sys.executable, "-u", str(path), *args]
    return [sys.executable, "-u", "-m", script_or_module, *args]


def _pump(
    index: int, stream: IO[str], tail: collections.deque[str], sink: IO[str] | None, lock: threading.Lock
) -> None:
    for line in stream:
        line = line.rstrip("\n")
        tail.append(line)
        if sink is not None:
            with lock:
                sink.write(f"[worker {index}] {line}\n")
                sink.flush()
    stream.close()


def _stop(procs: Sequence[subprocess.Popen[str]]) -> None:
    for p in procs:
        if p.poll() is None:
            p.terminate()
    deadline = time.monotonic() + _GRACE
    for p in procs:
        try:
            p.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            p.kill()  # TensorFlow blocked in a collective may ignore SIGTERM
            p.wait()


def launch_local(
    script_or_module: str,
    args: Sequence[str] = (),
    *,
    num_workers: int = 2,
    threads_per_worker: int = 1,
    timeout: float | None = 600.0,
    env: Mapping[str, str] | None = None,
    stream: IO[str] | None = sys.stdout,
    check: bool = True,
) -> LaunchResult:
    """Runs ``num_workers`` copies of a script as one local multi-worker job.

    Args:
        script_or_module: A ``.py`` path, or a module name run with ``-m``.
        args: Command-line arguments of every worker.
        num_workers: Worker processes (each gets ``TF_CONFIG`` with its index).
        threads_per_worker: TensorFlow/OpenMP threads per worker.
        timeout: Seconds for the whole job (``None``: no limit); past it all
            workers are stopped.
        env: Extra environment variables for the workers.
        stream: Where the prefixed worker lines go (``None``: nowhere).
        check: Raise when a worker fails; with ``False`` the result only
            reports it.

    Returns:
        A :class:`LaunchResult` with every worker's exit code and last lines.

    Raises:
        ConfigError: Bad arguments or a missing script.
        DistributionError: A worker exited non-zero (the others were stopped).
        WorkerTimeoutError: The job ran longer than ``timeout``.

    Example:
        >>> r = launch_local("json.tool", ["--help"], num_workers=2, stream=None)
        >>> r.exit_codes
        (0, 0)
    """
    if not isinstance(num_workers, int) or num_workers < 1:
        raise ConfigError(
            describe("`num_workers` must be a whole number >= 1", received=f"num_workers={num_workers!r}")
        )
    if not isinstance(threads_per_worker, int) or threads_per_worker < 1:
        raise ConfigError(
            describe(
                "`threads_per_worker` must be a whole number >= 1",
                received=f"threads_per_worker={threads_per_worker!r}",
            )
        )
    if timeout is not None and not timeout > 0:
        raise ConfigError(describe("`timeout` must be > 0 seconds or None", received=f"timeout={timeout!r}"))
    cmd = _command(script_or_module, args)
    cluster = {"worker": [f"127.0.0.1:{p}" for p in _free_ports(num_workers)]}
    lock = threading.Lock()
    procs: list[subprocess.Popen[str]] = []
    tails: list[collections.deque[str]] = []
    pumps: list[threading.Thread] = []
    start = time.monotonic()
    try:
        for i in range(num_workers):
            worker_env = dict(os.environ)
            worker_env.update(env or {})
            threads = str(threads_per_worker)
            worker_env.update(
                TF_CONFIG=json.dumps({"cluster": cluster, "task": {"type": "worker", "index": i}}),
                TF_NUM_INTRAOP_THREADS=threads,
                TF_NUM_INTEROP_THREADS=threads,
                OMP_NUM_THREADS=threads,
                PYTHONUNBUFFERED="1",
            )
            p = subprocess.Popen(
                cmd,
                env=worker_env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                text=True,
                errors="replace",
            )
            procs.append(p)
            tails.append(collections.deque(maxlen=_TAIL))
            t = threading.Thread(target=_pump, args=(i, p.stdout, tails[i], stream, lock), daemon=True)
            t.start()
            pumps.append(t)
        failed: int | None = None
        while True:
            codes = [p.poll() for p in procs]
            failed = next((i for i, c in enumerate(codes) if c not in (None, 0)), None)
            if failed is not None or all(c is not None for c in codes):
                break
            if timeout is not None and time.monotonic() - start > timeout:
                _stop(procs)
                for t in pumps:
                    t.join(timeout=2)
                running = [i for i, c in enumerate(codes) if c is None]
                raise WorkerTimeoutError(
                    describe(
                        f"the local job ran past its timeout of {timeout:g} s; "
                        f"worker(s) {running} were still running and were stopped",
                        received=f"command={cmd!r}",
                        fix="raise `timeout`, or check the workers' logs for a hang:\n"
                        + "\n".join(f"[worker {i}] {line}" for i in running for line in list(tails[i])[-5:]),
                    )
                )
            time.sleep(0.05)
        if failed is not None:
            _stop(procs)
    except BaseException:
        _stop(procs)
        raise
    for t in pumps:
        t.join(timeout=5)
    result = LaunchResult(
        exit_codes=tuple(p.returncode for p in procs),
        tails=tuple(tuple(t) for t in tails),
        failed_worker=failed,
        seconds=time.monotonic() - start,
    )
    if failed is not None and check:
        raise DistributionError(
            describe(
                f"worker {failed} of {num_workers} failed with exit code {procs[failed].returncode}; "
                "the other workers were stopped",
                received=f"command={cmd!r}; last lines of worker {failed}:\n"
                + "\n".join(result.tails[failed]),
                fix="read the failing worker's log above; fix the script and launch again",
            )
        )
    return result


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry: ``[-n N] [--threads-per-worker T] [--timeout S] -- script.py args``.

    Returns:
        0 when every worker succeeded, 1 when one failed, 124 on timeout,
        2 on bad arguments.
    """
    parser = argparse.ArgumentParser(
        prog="transferlab launch", description="Run a script as a local multi-worker job."
    )
    parser.add_argument("-n", "--num-workers", type=int, default=2)
    parser.add_argument("--threads-per-worker", type=int, default=1)
    parser.add_argument("--timeout", type=float, default=None, help="seconds for the whole job")
    parser.add_argument(
        "command", nargs=argparse.REMAINDER, help="-- script.py (or module) and its arguments"
    )
    ns = parser.parse_args(list(sys.argv[1:] if argv is None else argv))
    command = ns.command[1:] if ns.command[:1] == ["--"] else ns.command
    if not command:
        parser.print_usage(sys.stderr)
        print("transferlab launch: error: give the script to run after --", file=sys.stderr)
        return 2
    try:
        result = launch_local(
            command[0],
            command[1:],
            num_workers=ns.num_workers,
            threads_per_worker=ns.threads_per_worker,
            timeout=ns.timeout,
        )
    except WorkerTimeoutError as err:
        print(f"transferlab launch: {err}", file=sys.stderr)
        return 124
    except DistributionError as err:
        print(f"transferlab launch: {err}", file=sys.stderr)
        return 1
    except ConfigError as err:
        print(f"transferlab launch: {err}", file=sys.stderr)
        return 2
    return 0 if result.ok else 1
