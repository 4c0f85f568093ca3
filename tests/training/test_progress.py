"""RunProgress: the run folder first, a header per phase, epochs over the whole run; bar or lines."""

from __future__ import annotations

import io
import re
from pathlib import Path

import keras
import numpy as np
import pytest

from transferlab.errors import ConfigError
from transferlab.training.progress import RunProgress

RATES_HEAD = {"schedule": "constant", "head": {"rate": 0.003, "scale": 1.0}, "groups": {}}
RATES_GROUPS = {
    "schedule": "cosine",
    "head": {"rate": 0.001, "scale": 1.0},
    "groups": {"block4": {"rate": 0.0001, "scale": 0.1}, "block5": {"rate": 0.001, "scale": 1.0}},
}


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def _three_phases(progress: RunProgress) -> None:
    """What the Trainer does for a 3-phase run of 4 epochs (1 + 1 + 2), 3 steps an epoch."""
    progress.set_params({"epochs": 4, "steps": 3, "verbose": 0})
    progress.run_started(Path("runs/demo-1"))
    plan = [("warmup", (), RATES_HEAD, 0, 1), ("top", ("block5",), RATES_GROUPS, 1, 1)]
    plan.append(("all", ("block4", "block5"), RATES_GROUPS, 2, 2))
    for index, (name, groups, rates, first, epochs) in enumerate(plan):
        progress.phase_started(
            index, 3, name, trainable_groups=groups, rates=rates, epochs=epochs, first_epoch=first,
            feature_cache="on" if index == 0 else "off: the backbone trains",
        )  # fmt: skip
        for epoch in range(first, first + epochs):
            progress.on_epoch_begin(epoch)
            for step in range(3):
                progress.on_train_batch_end(step, {"loss": 1.0 / (step + 1), "accuracy": 0.5})
            progress.on_epoch_end(
                epoch, {"loss": 0.25, "accuracy": 0.5, "val_loss": 0.3, "val_accuracy": 0.4}
            )
    progress.run_finished(Path("runs/demo-1"), {"epochs": 4, "val_accuracy": 0.4})


def test_lines_on_a_stream_that_is_no_terminal():
    out = io.StringIO()
    _three_phases(RunProgress(total_epochs=4, stream=out))
    text = out.getvalue()
    lines = text.splitlines()
    assert "\r" not in text and "\b" not in text
    assert lines[0] == "run folder: runs/demo-1"
    assert lines[1] == (
        "phase 1/3 'warmup': epoch 1 of 4; trains: head only; rates: head 0.003; feature cache: on"
    )
    assert lines[3] == (
        "phase 2/3 'top': epoch 2 of 4; trains: block5 and the head; "
        "rates: head 0.001, block4 0.0001, block5 0.001 (cosine decay); "
        "feature cache: off: the backbone trains"
    )
    assert lines[5].startswith("phase 3/3 'all': epochs 3-4 of 4; trains: block4, block5 and the head;")
    epochs = [line for line in lines if line.startswith("epoch ")]
    assert [line.split(" - ")[0] for line in epochs] == ["epoch 1/4", "epoch 2/4", "epoch 3/4", "epoch 4/4"]
    assert re.fullmatch(
        r"epoch 4/4 - \d+\.\ds - loss: 0\.2500 - accuracy: 0\.5000 - val_loss: 0\.3000 - val_accuracy: 0\.4000",
        epochs[-1],
    )
    assert len(lines) == 1 + 3 + 4 + 2  # no step lines
    assert lines[-2:] == ["run finished: epochs 4, val_accuracy 0.4000", "run folder: runs/demo-1"]


def test_verbose_2_is_lines_even_on_a_terminal():
    out = _Tty()
    _three_phases(RunProgress(total_epochs=4, verbose=2, stream=out))
    assert "\r" not in out.getvalue() and out.getvalue().count("\nepoch ") == 4


def test_a_terminal_gets_a_step_bar_per_epoch():
    out = _Tty()
    _three_phases(RunProgress(total_epochs=4, verbose="auto", stream=out))
    text = out.getvalue()
    assert text.startswith("run folder: runs/demo-1\nphase 1/3 'warmup'")
    assert [m for m in re.findall(r"^epoch (\d/4)$", text, re.M)] == ["1/4", "2/4", "3/4", "4/4"]
    assert "\r" in text and "3/3" in text and "val_accuracy: 0.4000" in text


def test_verbose_0_prints_nothing():
    out = io.StringIO()
    _three_phases(RunProgress(total_epochs=4, verbose=0, stream=out))
    assert out.getvalue() == ""


def test_a_resumed_run_says_where_it_goes_on():
    out = io.StringIO()
    RunProgress(total_epochs=2, stream=out).run_started(Path("r"), resumed_from="phase 1, epoch 2, step 5")
    assert out.getvalue() == "run folder: r (resuming from phase 1, epoch 2, step 5)\n"


def test_rates_of_a_schedule_are_shown_as_scales():
    out = io.StringIO()
    rates = {"head": {"rate": None, "scale": 0.5}, "groups": {}}
    RunProgress(total_epochs=1, stream=out).phase_started(
        0, 1, "p", trainable_groups=(), rates=rates, epochs=1, first_epoch=0, feature_cache="on"
    )
    assert "rates: head x0.5 of the optimizer's schedule;" in out.getvalue()


def test_in_a_real_fit_epochs_count_over_the_run(capsys):
    """Two fits (two phases) of 1 epoch each: epoch 1/2 then 2/2, printed to sys.stdout by default."""
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile("sgd", "mse")
    x, y = np.zeros((4, 2), "float32"), np.zeros((4, 1), "float32")
    progress = RunProgress(total_epochs=2, verbose=1)
    model.fit(x, y, epochs=1, batch_size=2, verbose=0, callbacks=[progress])
    model.fit(x, y, initial_epoch=1, epochs=2, batch_size=2, verbose=0, callbacks=[progress])
    out = capsys.readouterr().out
    assert re.findall(r"^epoch (\d/2) - ", out, re.M) == ["1/2", "2/2"] and "\r" not in out


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"total_epochs": 0},
            "`total_epochs` must be a whole number >= 1 (the epochs of every phase together). "
            "Received: total_epochs=0.",
        ),
        (
            {"total_epochs": 2, "verbose": 3},
            "Unknown `verbose` value. Received: verbose=3. Accepted: 'auto', 0 (nothing), "
            "1 (a step bar on a terminal), 2 (one line per epoch).",
        ),
        (
            {"total_epochs": 2, "verbose": True},
            "Unknown `verbose` value. Received: verbose=True. Accepted: 'auto', 0 (nothing), "
            "1 (a step bar on a terminal), 2 (one line per epoch).",
        ),
    ],
)
def test_bad_arguments_are_refused(kwargs, message):
    with pytest.raises(ConfigError) as info:
        RunProgress(**kwargs)
    assert str(info.value) == message
