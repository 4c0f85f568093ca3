"""The exceptions transferlab raises.

Every error transferlab raises on purpose is a :class:`TransferlabError`, and
each also subclasses the built-in exception that fits (``ValueError`` for a bad
argument or bad data, ``OSError`` for files and the network, ``RuntimeError``
for a state that forbids the call), so ``except ValueError`` keeps working.

Messages follow one shape, built by :func:`describe`: what is wrong, what was
received, what is accepted, and how to fix it.

Example:
    >>> from transferlab.errors import ConfigError, describe
    >>> err = ConfigError(describe("`pooling` must be one of the accepted values",
    ...                            received="pooling='sum'",
    ...                            accepted="'avg', 'max', 'flatten'",
    ...                            fix="pass one of the accepted values"))
    >>> isinstance(err, ValueError)
    True
    >>> print(err)
    `pooling` must be one of the accepted values. Received: pooling='sum'. Accepted: 'avg', 'max', 'flatten'. Fix: pass one of the accepted values.
"""

from __future__ import annotations

__all__ = [
    "INTERRUPTED",
    "BackboneError",
    "ChecksumError",
    "ConfigError",
    "DataError",
    "DataFileError",
    "DatasetNotFoundError",
    "DistributionError",
    "DivergenceError",
    "DownloadError",
    "InputShapeError",
    "MissingDependencyError",
    "ResumeError",
    "RunConflictError",
    "RunLockedError",
    "StorageError",
    "StrategyError",
    "TrainableStateError",
    "TransferlabError",
    "UnknownBackboneError",
    "UnsupportedVersionError",
    "WeightsError",
    "WeightsNotFoundError",
    "WorkerTimeoutError",
    "describe",
]


#: What the command line prints, alone, when Ctrl-C stops it (exit code 130).
INTERRUPTED = "transferlab: interrupted; resume with the same command"


def describe(
    problem: str,
    *,
    received: object | None = None,
    accepted: object | None = None,
    fix: str | None = None,
) -> str:
    """Builds a message in transferlab's one shape: the problem, then what was received, accepted, the fix.

    With text parts the message is one line,
    ``"<problem>. Received: ... Accepted: ... Fix: ..."``, whatever its length,
    so code and tests can match it as such (the command line lays a long one
    out on several lines when it prints it). When ``received`` or ``accepted``
    is a list (e.g. the places looked at), the message is laid out on several
    lines: the problem first, then each part on its own indented line, each
    list item on a line of its own.

    Args:
        problem: What is wrong, as a sentence without the final full stop.
        received: What the caller passed (already formatted, e.g. ``"size=3"``),
            or a list of items (one line each).
        accepted: What would have been accepted, or a list of items.
        fix: How to fix it.

    Returns:
        The message, with the parts that were given (an empty list reads "none").

    Example:
        >>> describe("`k` must be positive", received="k=0", fix="pass k >= 1")
        '`k` must be positive. Received: k=0. Fix: pass k >= 1.'
        >>> print(describe("MNIST was not found", received=["folder /a: empty", "cache /b: empty"],
        ...                fix="set TRANSFERLAB_MNIST_DIR"))
        MNIST was not found.
          Received:
            - folder /a: empty
            - cache /b: empty
          Fix: set TRANSFERLAB_MNIST_DIR.
    """
    parts = (("Received", received), ("Accepted", accepted), ("Fix", fix))
    given = [(label, value) for label, value in parts if value is not None]
    if not any(isinstance(value, (list, tuple)) for _, value in given):
        return (
            ". ".join(
                [problem.rstrip("."), *(f"{label}: {str(value).rstrip('.')}" for label, value in given)]
            )
            + "."
        )
    lines = [problem.rstrip(".") + "."]
    for label, value in given:
        if isinstance(value, (list, tuple)):
            lines.append(f"  {label}:" if value else f"  {label}: none.")
            lines.extend(f"    - {str(item).rstrip('.')}" for item in value)
        else:
            lines.append(f"  {label}: {str(value).rstrip('.')}.")
    return "\n".join(lines)


class TransferlabError(Exception):
    """Base class of every error transferlab raises on purpose."""


class ConfigError(TransferlabError, ValueError):
    """A bad argument, config key, config value or command-line option."""


class DataError(TransferlabError, ValueError):
    """Arrays or labels that cannot be used (wrong rank, dtype, NaN, range)."""


class DataFileError(TransferlabError, OSError, ValueError):
    """A data file that is unreadable, truncated or not in the expected format."""


class DatasetNotFoundError(TransferlabError, FileNotFoundError):
    """No copy of a data set was found anywhere transferlab looked."""


class ChecksumError(DataFileError):
    """A file whose checksum differs from the published one."""


class DownloadError(TransferlabError, OSError):
    """Every mirror failed to deliver a file."""


class BackboneError(TransferlabError, ValueError):
    """A backbone that cannot be built or registered as asked."""


class UnknownBackboneError(BackboneError):
    """A backbone name that is not in the registry."""


class InputShapeError(TransferlabError, ValueError):
    """An input shape a backbone or layer cannot take."""


class WeightsError(TransferlabError, ValueError):
    """Weights that do not fit the model they are loaded into."""


class WeightsNotFoundError(WeightsError, FileNotFoundError):
    """A weights file that is neither cached nor downloadable."""


class StrategyError(TransferlabError, ValueError):
    """A training strategy or phase that cannot apply to this model."""


class TrainableStateError(TransferlabError, RuntimeError):
    """Trainable flags changed since the model was compiled (Keras ignores that)."""


class DistributionError(TransferlabError, RuntimeError):
    """A distribution strategy that cannot be set up or run as asked."""


class WorkerTimeoutError(DistributionError, TimeoutError):
    """A worker of a multi-worker job did not arrive or answer in time."""


class ResumeError(TransferlabError, RuntimeError):
    """A run folder or backup that cannot be resumed from."""


class DivergenceError(TransferlabError, RuntimeError):
    """Training produced a non-finite loss or non-finite weights (the learning rate is too high...)."""


class StorageError(TransferlabError, OSError):
    """A file or folder cannot be written: permissions, a full disk, a missing folder."""


class RunConflictError(ResumeError, ValueError):
    """A run folder that holds another run (another identity) than the one being started."""


class RunLockedError(ResumeError):
    """A run folder another process is training in right now."""


class UnsupportedVersionError(TransferlabError, RuntimeError):
    """A TensorFlow/Keras version a workaround was not checked against."""


class MissingDependencyError(TransferlabError, ImportError):
    """An optional dependency (e.g. matplotlib for plots) is not installed."""
