"""DivergenceGuard: a non-finite loss or non-finite weights stop training with a named error.

The Trainer tests at the end need the guard wired into the Trainer (its first callback);
until then they fail with the refusal of ``save_model`` to write non-finite weights.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import h5py
import keras
import numpy as np
import pytest

from transferlab.errors import DivergenceError
from transferlab.training.divergence import DivergenceGuard
from transferlab.training.run_record import save_model, save_weights

sys.path.insert(0, str(Path(__file__).resolve().parent))

_LOSS_MESSAGE = (
    r"(?s)Training diverged in phase 'head', epoch 1, step 2: non-finite values.*"
    r"Received: loss=(inf|nan); learning rate 1e\+30.*Fix: lower the learning rate"
)


class Recorder(keras.callbacks.Callback):  # type: ignore[misc]
    """Records the batches and epochs the callbacks after the guard see."""

    def __init__(self) -> None:
        super().__init__()
        self.losses: list[float] = []
        self.epochs: list[int] = []

    def on_train_batch_end(self, batch: int, logs: dict[str, object] | None = None) -> None:
        self.losses.append(float((logs or {})["loss"]))  # type: ignore[arg-type]

    def on_epoch_end(self, epoch: int, logs: dict[str, object] | None = None) -> None:
        self.epochs.append(epoch)


def _model(rate: float) -> keras.Model:
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1, name="dense")])
    model.compile(optimizer=keras.optimizers.SGD(rate), loss="mse")
    return model


def _data(scale: float = 1e10) -> tuple[np.ndarray, np.ndarray]:
    x = np.full((8, 2), scale, "float32")
    return x, x[:, :1]


def test_a_non_finite_loss_raises_out_of_fit_before_later_callbacks_see_it() -> None:
    recorder = Recorder()
    with pytest.raises(DivergenceError, match=_LOSS_MESSAGE):
        _model(1e30).fit(
            *_data(), epochs=3, batch_size=4, verbose=0, callbacks=[DivergenceGuard("head"), recorder]
        )
    assert all(np.isfinite(recorder.losses)) and len(recorder.losses) == 1  # the diverged batch: never seen
    assert recorder.epochs == []


def test_non_finite_weights_are_caught_at_the_epoch_end() -> None:
    class Poison(keras.callbacks.Callback):  # type: ignore[misc]
        def on_epoch_end(self, epoch: int, logs: dict[str, object] | None = None) -> None:
            kernel = self.model.get_layer("dense").kernel
            kernel.assign(np.full(kernel.shape, np.nan, "float32"))

    with pytest.raises(
        DivergenceError,
        match=r"(?s)Training diverged in epoch 1, its end: .*weights '[^']*dense/kernel' hold 2 NaN or "
        r"infinite value\(s\) \(loss=.*\); learning rate 0\.01.*Fix: lower the learning rate",
    ):
        _model(1e-2).fit(
            *_data(1.0), epochs=2, batch_size=4, verbose=0, callbacks=[Poison(), DivergenceGuard()]
        )


def test_finite_training_is_left_alone() -> None:
    history = _model(1e-3).fit(*_data(1.0), epochs=2, batch_size=4, verbose=0, callbacks=[DivergenceGuard()])
    assert len(history.history["loss"]) == 2 and np.isfinite(history.history["loss"]).all()


def test_the_phase_can_be_set_between_fits() -> None:
    guard = DivergenceGuard()
    guard.phase = "head"
    with pytest.raises(DivergenceError, match=_LOSS_MESSAGE):
        _model(1e30).fit(*_data(), epochs=1, batch_size=4, verbose=0, callbacks=[guard])


@pytest.mark.parametrize("save", [save_weights, save_model], ids=["save_weights", "save_model"])
def test_saving_non_finite_weights_is_refused_and_the_old_file_kept(tmp_path: Path, save: object) -> None:
    model = _model(1e-3)
    name = "last.weights.h5" if save is save_weights else "model.keras"
    (tmp_path / name).write_bytes(b"the good one")
    model.get_layer("dense").bias.assign(np.array([np.inf], "float32"))
    with pytest.raises(
        DivergenceError,
        match=rf"(?s)Refusing to save non-finite weights to .*{re.escape(name)}: the training diverged.*"
        r"variable '[^']*dense/bias' holds NaN or infinite values.*Fix: lower the learning rate",
    ):
        save(model, tmp_path / name)  # type: ignore[operator]
    assert [p.name for p in tmp_path.iterdir()] == [name]
    assert (tmp_path / name).read_bytes() == b"the good one"


# With the Trainer (needs the guard wired in) ------------------------------------------------------
def _all_finite(path: Path) -> bool:
    """Every float array of an HDF5 file (a .weights.h5, or the weights inside a .keras zip) is finite."""
    import io
    import zipfile

    if path.suffix == ".keras":
        with zipfile.ZipFile(path) as archive:
            handle = h5py.File(io.BytesIO(archive.read("model.weights.h5")), "r")
    else:
        handle = h5py.File(path, "r")
    arrays: list[np.ndarray] = []
    with handle:
        handle.visititems(lambda _, obj: arrays.append(obj[()]) if isinstance(obj, h5py.Dataset) else None)
    return all(np.isfinite(a).all() for a in arrays if a.dtype.kind == "f")


def test_the_trainer_stops_a_diverging_run_in_its_first_epoch(tmp_path: Path) -> None:
    import resume_tiny

    from transferlab.strategies import FeatureExtraction
    from transferlab.training.trainer import Trainer

    trainer = Trainer(
        resume_tiny.build,
        strategy=FeatureExtraction(2, learning_rate=1e30),
        run_dir=str(tmp_path),
        run_name="r",
        batch_size=8,
        verbose=0,
    )
    with pytest.raises(
        DivergenceError,
        match=r"(?s)Training diverged in phase '[a-z_]+', epoch 1, .*learning rate 1e\+30.*"
        r"Fix: lower the learning rate",
    ):
        trainer.fit(resume_tiny.data(32), resume_tiny.data(8, seed=1))
    run = tmp_path / "r"
    model = run / "model.keras"
    assert not model.exists() or _all_finite(model)
    for checkpoint in (run / "checkpoints").glob("*.h5"):
        assert _all_finite(checkpoint)
    assert not [p for p in run.rglob("*") if ".partial-" in p.name]


def test_the_cli_exits_2_with_one_error_on_a_diverging_run(
    tmp_path: Path, mnist_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from transferlab.cli.main import main

    code = main(
        [
            "train",
            "--dataset", "mnist",
            "--path", str(mnist_dir),
            "--classes", "0", "1",
            "--max-train", "32",
            "--validation", "0",
            "--width", "0.125",
            "--kind", "feature_extraction",
            "--epochs", "2",
            "--learning-rate", "1e30",
            "--batch-size", "16",
            "--run-dir", str(tmp_path),
            "--run-name", "diverged",
        ]
    )  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("transferlab: error: Training diverged") and err.count("error:") == 1, err
    assert "epoch 1" in err and "lower the learning rate" in err and "Traceback" not in err
    model = tmp_path / "diverged" / "model.keras"
    assert not model.exists() or _all_finite(model)


def test_an_exploding_loss_stops_training_before_it_overflows() -> None:
    x = np.ones((8, 2), "float32")
    with pytest.raises(
        DivergenceError,
        match=r"(?s)Training diverged in epoch 1, step 2: the loss exploded.*Received: loss=.*e\+.*"
        r"more than 1e\+06x the first loss of this fit.*learning rate 100000",
    ):
        model = _model(1.0)
        model.compile(optimizer=keras.optimizers.Adam(1e5), loss="mse")
        model.fit(x, x[:, :1], epochs=3, batch_size=4, verbose=0, callbacks=[DivergenceGuard()])


def test_explode_factor_must_exceed_one() -> None:
    from transferlab.errors import ConfigError

    with pytest.raises(ConfigError, match=r"`explode_factor` must be > 1.*explode_factor=0\.5"):
        DivergenceGuard(explode_factor=0.5)
