"""PhaseState: JSON round trip, placing a run in its phases, resume with the same layers trainable."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from transferlab.errors import ResumeError
from transferlab.strategies import FineTune, Phase, PhaseState, compile_phase

PHASES = [Phase("warmup", 2), Phase("finetune", 3, ("block1", "block2"), 1e-4, batchnorm="affine")]


@pytest.mark.parametrize(
    ("done", "where"),
    [(0, ("warmup", 0, 0)), (1, ("warmup", 0, 1)), (2, ("finetune", 2, 0)), (5, ("finetune", 2, 3))],
)
def test_at_places_a_run_in_its_phases(done: int, where: tuple) -> None:
    state = PhaseState.at(PHASES, done)
    assert (state.phase_name, state.initial_epoch, state.epochs_done) == where
    assert state.epoch == done
    assert state.is_complete(PHASES) == (done == 5)


def test_save_load_round_trip(tmp_path: Path) -> None:
    state = PhaseState.at(PHASES, 3)
    state.save(tmp_path / "phase.json")
    assert PhaseState.load(tmp_path / "phase.json") == state
    assert '"batchnorm": "affine"' in (tmp_path / "phase.json").read_text()
    assert [p.name for p in tmp_path.iterdir()] == ["phase.json"]  # no temp file left


def test_resume_keeps_the_unfrozen_groups(make_model: Callable, data: tuple, tmp_path: Path) -> None:
    phases = FineTune(epochs=2, top=2, warmup_epochs=1).phases(make_model().backbone_info)
    model = make_model()
    compile_phase(model, phases[1], loss="sparse_categorical_crossentropy")
    model.fit(*data, epochs=2, initial_epoch=1, verbose=0)
    PhaseState.at(phases, 2).save(tmp_path / "phase.json")
    trained = {v.path for v in model.trainable_variables}

    resumed = make_model()  # a new process: weights would be restored by the Trainer
    state = PhaseState.load(tmp_path / "phase.json")
    phase = state.phase(phases)
    assert (phase.name, state.epoch) == ("finetune", 2)
    assert state.apply(resumed) == ("block1", "block2")
    assert {v.path for v in resumed.trainable_variables} == trained  # not re-frozen


def test_errors_name_the_problem(tmp_path: Path) -> None:
    with pytest.raises(
        ResumeError, match=r"Cannot place a run.*Received: epochs_completed=6 .*Accepted: 0 to 5"
    ):
        PhaseState.at(PHASES, 6)
    with pytest.raises(ResumeError, match=r"does not match the strategy's phases.*Fix: resume with the same"):
        PhaseState.at(PHASES, 3).phase([Phase("warmup", 2), Phase("other", 3)])
    with pytest.raises(ResumeError, match=r"Not a transferlab phase state. Received: '\{\}'"):
        PhaseState.from_json("{}")
    with pytest.raises(ResumeError, match=r"Cannot read the phase state. Received: .*missing.json"):
        PhaseState.load(tmp_path / "missing.json")
