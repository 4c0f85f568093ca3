"""``PhaseState``: where a run is in its phases and what is unfrozen, as JSON, for resume."""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from transferlab._atomic import atomic_write_text
from transferlab.errors import ResumeError, describe
from transferlab.strategies.phase import BatchNormPolicy, Phase
from transferlab.strategies.set_trainable_groups import set_trainable_groups

__all__ = ["PhaseState"]

_VERSION = 1


@dataclasses.dataclass(frozen=True)
class PhaseState:
    """The position of a run in its phases, saved so a resume continues exactly.

    A resumed run must train the same variables as the interrupted one: it
    re-applies ``trainable_groups`` and ``batchnorm`` from here, rather than
    restarting the strategy (which would re-freeze what was unfrozen).

    Attributes:
        phase_index: Index of the current phase in the strategy's phases.
        phase_name: Its name (checked against the phases on resume).
        initial_epoch: Global epoch at which the phase started.
        epochs_done: Epochs completed inside the phase.
        trainable_groups: Backbone groups trainable in the phase.
        batchnorm: The phase's :class:`BatchNormPolicy`.

    Example:
        >>> phases = [Phase("warmup", 1), Phase("finetune", 3, ("block2",), 1e-4)]
        >>> state = PhaseState.at(phases, epochs_completed=2)
        >>> (state.phase_name, state.initial_epoch, state.epochs_done, state.epoch)
        ('finetune', 1, 1, 2)
        >>> PhaseState.from_json(state.to_json()) == state
        True
    """

    phase_index: int
    phase_name: str
    initial_epoch: int
    epochs_done: int
    trainable_groups: tuple[str, ...]
    batchnorm: BatchNormPolicy = BatchNormPolicy.FROZEN

    def __post_init__(self) -> None:
        object.__setattr__(self, "trainable_groups", tuple(self.trainable_groups))
        object.__setattr__(self, "batchnorm", BatchNormPolicy(self.batchnorm))

    @property
    def epoch(self) -> int:
        """Global epochs completed: pass it as ``fit(initial_epoch=...)``."""
        return self.initial_epoch + self.epochs_done

    @classmethod
    def at(cls, phases: Sequence[Phase], epochs_completed: int) -> PhaseState:
        """The state after ``epochs_completed`` global epochs of ``phases``.

        A boundary belongs to the next phase (0 epochs done in it); after the
        last epoch, the state is the last phase with all its epochs done.

        Raises:
            ResumeError: For no phases, or a count outside 0..total epochs.
        """
        total = sum(p.epochs for p in phases)
        if not phases or not 0 <= epochs_completed <= total:
            raise ResumeError(
                describe(
                    "Cannot place a run in its phases",
                    received=f"epochs_completed={epochs_completed!r} for {len(phases)} phases",
                    accepted=f"0 to {total} epochs",
                )
            )
        start = 0
        for index, phase in enumerate(phases):
            last = index == len(phases) - 1
            if epochs_completed < start + phase.epochs or last:
                return cls(
                    index,
                    phase.name,
                    start,
                    epochs_completed - start,
                    phase.trainable_groups,
                    phase.batchnorm,
                )
            start += phase.epochs
        raise AssertionError("unreachable")  # pragma: no cover

    def is_complete(self, phases: Sequence[Phase]) -> bool:
        """Whether every epoch of every phase is done."""
        return self.phase_index == len(phases) - 1 and self.epochs_done >= phases[-1].epochs

    def phase(self, phases: Sequence[Phase]) -> Phase:
        """Returns the current phase, after checking it matches this state.

        Raises:
            ResumeError: If the phases differ from the ones the run was started
                with (other name, groups or BN policy at this index).
        """
        if not 0 <= self.phase_index < len(phases):
            found = None
        else:
            found = phases[self.phase_index]
        if (
            found is None
            or found.name != self.phase_name
            or found.trainable_groups != self.trainable_groups
            or found.batchnorm != self.batchnorm
        ):
            raise ResumeError(
                describe(
                    "The saved phase state does not match the strategy's phases",
                    received=f"saved phase {self.phase_index} {self.phase_name!r} "
                    f"{list(self.trainable_groups)}; strategy has "
                    f"{[(p.name, list(p.trainable_groups)) for p in phases]}",
                    fix="resume with the same strategy and backbone the run was started with",
                )
            )
        return found

    def apply(self, model: Any) -> tuple[str, ...]:
        """Sets the saved trainable groups and BN policy on ``model`` (then compile)."""
        return set_trainable_groups(model, self.trainable_groups, batchnorm=self.batchnorm)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict, with a format version."""
        data = dataclasses.asdict(self)
        data["trainable_groups"] = list(self.trainable_groups)
        data["batchnorm"] = self.batchnorm.value
        data["version"] = _VERSION
        return data

    def to_json(self) -> str:
        """The state as a JSON string."""
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> PhaseState:
        """Reads :meth:`to_json` output.

        Raises:
            ResumeError: For text that is not a saved phase state.
        """
        try:
            data = json.loads(text)
            version = data.pop("version")
            if version != _VERSION:
                raise ValueError(f"version {version!r}")
            return cls(**data)
        except (ValueError, TypeError, KeyError, AttributeError) as err:
            raise ResumeError(
                describe(
                    "Not a transferlab phase state",
                    received=f"{text[:80]!r} ({err})",
                    accepted=f"JSON written by PhaseState.to_json (version {_VERSION})",
                )
            ) from None

    def save(self, path: str | os.PathLike[str]) -> None:
        """Writes the JSON atomically (temp file in the same folder, then rename)."""
        atomic_write_text(path, self.to_json())

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> PhaseState:
        """Reads a file written by :meth:`save`.

        Raises:
            ResumeError: If the file is missing or not a phase state.
        """
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as err:
            raise ResumeError(
                describe("Cannot read the phase state", received=f"{path} ({err.strerror})")
            ) from None
        return cls.from_json(text)
