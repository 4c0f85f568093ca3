"""What :func:`~transferlab.training.launcher.launch_local` returns."""

from __future__ import annotations

import dataclasses

__all__ = ["LaunchResult"]


@dataclasses.dataclass(frozen=True)
class LaunchResult:
    """The outcome of a local multi-worker job.

    Attributes:
        exit_codes: Every worker's exit code, by worker index (negative: killed
            by that signal).
        tails: Every worker's last output lines.
        failed_worker: The first worker seen failing, or ``None``.
        seconds: Wall time of the job.

    Example:
        >>> LaunchResult(exit_codes=(0, 0), tails=((), ()), failed_worker=None, seconds=1.0).ok
        True
    """

    exit_codes: tuple[int, ...]
    tails: tuple[tuple[str, ...], ...]
    failed_worker: int | None
    seconds: float

    @property
    def ok(self) -> bool:
        """Whether every worker exited with 0."""
        return all(code == 0 for code in self.exit_codes)
