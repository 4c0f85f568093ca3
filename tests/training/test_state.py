"""Tests of the training state backup: exact round trips, by-path restore, generations, resume."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

from transferlab._keras_compat import replica_components
from transferlab.errors import ConfigError, ResumeError
from transferlab.training.state import BackupCallback, BackupPosition, LoadedBackup, TrainingState

ID = "0123abcd"


def _dense(name: str = "net") -> keras.Model:
    model = keras.Sequential(
        [keras.Input((3,)), keras.layers.Dense(4, name="hidden"), keras.layers.Dense(2, name="out")],
        name=name,
    )
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="mse")
    return model


def _data(batches: int = 4, batch: int = 4, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(batches * batch, 3)).astype("float32")
    y = rng.integers(0, 2, size=(batches * batch,)).astype("int32")
    return x, y


def _loaded(state: TrainingState, position: BackupPosition | None = None) -> LoadedBackup:
    loaded = state.load(position)
    assert loaded is not None
    return loaded


@pytest.fixture
def deterministic() -> Iterator[None]:
    """Seeds and deterministic ops for one test; op determinism is switched off again after."""
    from tensorflow.python.framework import config as tf_config  # no public switch-off

    was_on = tf_config.is_op_determinism_enabled()
    keras.utils.set_random_seed(0)
    tf.config.experimental.enable_op_determinism()
    yield
    if not was_on:
        tf_config.disable_op_determinism()


# Round trip ---------------------------------------------------------------------------------
def test_round_trip_restores_weights_optimizer_slots_and_iteration_exactly(tmp_path: Path) -> None:
    model = _dense()
    x, y = _data()
    model.fit(x, np.stack([y, y], 1).astype("float32"), batch_size=4, epochs=2, verbose=0)
    state = TrainingState(tmp_path, identity=ID)
    state.save(model, BackupPosition(0, 2, 0), extra={"note": "hi"})

    restarted = _dense("restarted")  # other names: Keras makes them unique per process
    assert not restarted.optimizer.built
    loaded = _loaded(state)
    assert (loaded.position, loaded.stopped, loaded.extra) == (BackupPosition(0, 2, 0), False, {"note": "hi"})
    loaded.restore_variables(restarted)
    loaded.restore_optimizer(restarted)

    for a, b in zip(model.variables, restarted.variables, strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    assert len(model.optimizer.variables) == len(restarted.optimizer.variables) == 10  # 2 + 2 slots x 4
    for a, b in zip(model.optimizer.variables, restarted.optimizer.variables, strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    assert int(restarted.optimizer.iterations) == int(model.optimizer.iterations) == 8


def test_a_phase_boundary_backup_leaves_the_fresh_optimizer(tmp_path: Path) -> None:
    model = _dense()
    model.optimizer.build(model.trainable_variables)
    model.optimizer.iterations.assign(7)
    state = TrainingState(tmp_path, identity=ID)
    state.save(model, BackupPosition(1, 3, 0), optimizer=False)
    fresh = _dense()
    _loaded(state).restore_optimizer(fresh)
    assert not fresh.optimizer.built  # nothing to restore: left as compiled


def test_restore_optimizer_needs_a_compiled_model(tmp_path: Path) -> None:
    model = _dense()
    model.optimizer.build(model.trainable_variables)
    state = TrainingState(tmp_path, identity=ID)
    state.save(model, BackupPosition(0, 1, 0))
    bare = keras.Sequential([keras.Input((3,)), keras.layers.Dense(4, name="hidden")], name="bare")
    with pytest.raises(
        ResumeError,
        match=r"^The backup holds optimizer state but the model has no optimizer. Received: model 'bare' not compiled \(.*state.npz\). Fix: compile the model before restoring its optimizer.$",
    ):
        _loaded(state).restore_optimizer(bare)


# By path ------------------------------------------------------------------------------------
def _branches(order: str, units: dict[str, int] | None = None) -> keras.Model:
    units = {"a": 4, "b": 4, "c": 4} | (units or {})
    inputs = keras.Input((3,), name="x")
    outputs = {}
    for name in order:  # the creation order decides model.variables' order
        outputs[name] = keras.layers.Dense(units[name], name=name)(inputs)
    summed = keras.layers.Add(name="sum")([outputs[name] for name in order[:2]])  # a + b, either order
    if "c" in order:
        summed = keras.layers.Add(name="sum_c")([summed, outputs["c"]])
    return keras.Model(inputs, summed, name=f"branches_{order}")


def test_variables_are_restored_by_path_when_their_order_differs(tmp_path: Path) -> None:
    saved, restarted = _branches("ab"), _branches("ba")
    assert [v.path for v in saved.variables] == ["a/kernel", "a/bias", "b/kernel", "b/bias"]
    assert [v.path for v in restarted.variables] == ["b/kernel", "b/bias", "a/kernel", "a/bias"]
    state = TrainingState(tmp_path, identity=ID)
    state.save(saved, BackupPosition(0, 1, 0))
    _loaded(state).restore_variables(restarted)
    for name in "ab":
        for a, b in zip(saved.get_layer(name).weights, restarted.get_layer(name).weights, strict=True):
            np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_missing_extra_or_reshaped_variables_are_named(tmp_path: Path) -> None:
    state = TrainingState(tmp_path, identity=ID)
    state.save(_branches("ab"), BackupPosition(0, 1, 0))
    loaded = _loaded(state)
    fix = "Fix: resume with the same command and code that wrote the backup, or pass resume=False to start afresh.$"
    with pytest.raises(
        ResumeError,
        match=r"^The backup's model variables do not fit this model. Received: 2 not in the backup: c/kernel, c/bias \(.*state.npz\). "
        + fix,
    ):
        loaded.restore_variables(_branches("abc"))
    with pytest.raises(ResumeError, match=r"Received: 2 only in the backup: b/kernel, b/bias \("):
        loaded.restore_variables(keras.Sequential([keras.Input((3,)), keras.layers.Dense(4, name="a")]))
    with pytest.raises(
        ResumeError,
        match=r"Received: 4 of another shape: a/kernel \(saved \(3, 4\), now \(3, 5\)\), a/bias \(saved \(4,\), now \(5,\)\), b/kernel ",
    ):
        loaded.restore_variables(_branches("ab", {"a": 5, "b": 5}))


def test_repeated_paths_get_an_occurrence_index(tmp_path: Path) -> None:
    def build(seed: int) -> keras.Model:
        keras.utils.set_random_seed(seed)
        inputs = keras.Input((2,))
        first = keras.Model(inputs, keras.layers.Dense(2, name="d")(inputs), name="first")
        second = keras.Model(inputs, keras.layers.Dense(2, name="d")(inputs), name="second")
        return keras.Model(inputs, keras.layers.Add()([first(inputs), second(inputs)]), name="both")

    saved, restarted = build(1), build(2)
    assert [v.path for v in saved.variables] == ["d/kernel", "d/bias", "d/kernel", "d/bias"]
    state = TrainingState(tmp_path, identity=ID)
    state.save(saved, BackupPosition(0, 1, 0))
    loaded = _loaded(state)
    assert json.loads(bytes(np.load(loaded.path)["__meta__"]))["model"] == [
        "d/kernel",
        "d/bias",
        "d/kernel#1",
        "d/bias#1",
    ]
    loaded.restore_variables(restarted)
    for a, b in zip(saved.variables, restarted.variables, strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


# Files --------------------------------------------------------------------------------------
def test_identity_mismatch_is_refused(tmp_path: Path) -> None:
    TrainingState(tmp_path, identity="aaaa1111").save(_dense(), BackupPosition(0, 1, 0))
    other = TrainingState(tmp_path, identity="bbbb2222")
    message = (
        r"^The backup belongs to another run than the one being resumed. Received: identity 'aaaa1111' in "
        r".*state.npz; this run's identity is 'bbbb2222'. Fix: resume with the same command, config and data "
        r"as the run that wrote it, give the new run another run folder \(run name\), or pass resume=False "
        r"to start afresh \(the backups are deleted\).$"
    )
    with pytest.raises(ResumeError, match=message):
        other.load()
    with pytest.raises(ResumeError, match=message):
        other.positions()


def test_another_format_is_refused(tmp_path: Path) -> None:
    meta = json.dumps({"format": 1, "position": {"phase": 0, "epoch": 1, "step": 0}}).encode()
    np.savez(tmp_path / "state.npz", __meta__=np.frombuffer(meta, dtype=np.uint8))
    with pytest.raises(
        ResumeError,
        match=r"^The backup was written in another format than this transferlab reads. Received: format=1 in .*state.npz. Accepted: format=2. Fix: finish the run",
    ):
        TrainingState(tmp_path, identity=ID).load()


@pytest.mark.parametrize("damage", ["truncate", "zero", "flip"])
def test_damaged_newest_file_falls_back_to_the_previous_generation(
    tmp_path: Path, damage: str, caplog: pytest.LogCaptureFixture
) -> None:
    model = _dense()
    state = TrainingState(tmp_path, identity=ID, keep=2)
    state.save(model, BackupPosition(0, 0, 2), optimizer=False)
    state.save(model, BackupPosition(0, 0, 4), optimizer=False)
    assert state.positions() == [BackupPosition(0, 0, 4), BackupPosition(0, 0, 2)]
    newest = tmp_path / "state.npz"
    data = bytearray(newest.read_bytes())
    if damage == "truncate":
        data = data[: len(data) // 2]
    elif damage == "zero":
        data = bytearray(len(data))
    else:  # one byte of an array: only its checksum tells
        data[200] ^= 0xFF
    newest.write_bytes(bytes(data))

    assert state.positions() == [BackupPosition(0, 0, 2)]
    with caplog.at_level(logging.WARNING, logger="transferlab.training"):
        loaded = _loaded(state)
    assert loaded.position == BackupPosition(0, 0, 2)
    assert loaded.path.name == "state.1.npz"
    assert state.fallback is not None
    assert state.fallback.startswith(f"The newest backup {newest} (")
    assert state.fallback.endswith(": resumed from the previous one, state.1.npz at phase 0, epoch 0, step 2")
    assert [r.getMessage() for r in caplog.records if r.name == "transferlab.training"] == [state.fallback]
    loaded.restore_variables(_dense())  # and it restores

    # The position the workers agreed on: the same fallback.
    assert _loaded(state, BackupPosition(0, 0, 2)).path.name == "state.1.npz"
    assert state.fallback is not None
    with pytest.raises(
        ResumeError,
        match=r"^No readable backup in this folder holds the position to resume from. Received: phase 0, epoch 0, step 4 in .*; it holds phase 0, epoch 0, step 2. Fix: ",
    ):
        state.load(BackupPosition(0, 0, 4))


def test_no_readable_backup_left_starts_afresh_with_a_record(tmp_path: Path) -> None:
    state = TrainingState(tmp_path, identity=ID)
    state.save(_dense(), BackupPosition(0, 0, 2), optimizer=False)
    (tmp_path / "state.npz").write_bytes(b"\0" * 64)
    assert state.positions() == []
    assert state.load() is None
    assert state.fallback is not None
    assert state.fallback.endswith("cannot be read and no readable backup is left: training starts afresh")
    state.clear()
    assert state.load() is None and state.fallback is None  # nothing at all: nothing to record


def test_generations_rotate_and_clear_removes_them_and_leftovers(tmp_path: Path) -> None:
    model = _dense()
    state = TrainingState(tmp_path / "w0", identity=ID, keep=3)
    for step in range(1, 6):
        state.save(model, BackupPosition(0, 0, step), optimizer=False)
    assert sorted(p.name for p in state.folder.iterdir()) == ["state.1.npz", "state.2.npz", "state.npz"]
    assert state.positions() == [BackupPosition(0, 0, s) for s in (5, 4, 3)]
    leftover = state.folder / ".state.npz.x1y2.npz"  # what an interrupted atomic write leaves
    leftover.write_bytes(b"partial")
    (state.folder / "other.txt").write_text("kept")
    state.clear()
    assert sorted(p.name for p in state.folder.iterdir()) == ["other.txt"]
    reader = TrainingState(tmp_path / "w0", identity=ID, write=False)
    reader.save(model, BackupPosition(0, 0, 1))
    assert reader.positions() == []


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"identity": ""},
            "`identity` must be the run's identity digest, a non-empty string. Received: identity=''.",
        ),
        (
            {"every_steps": 0},
            "`every_steps` must be a whole number >= 1, or None (epoch ends only). Received: every_steps=0.",
        ),
        (
            {"keep": 0},
            "`keep` must be a whole number >= 1 (backup generations kept). Received: keep=0. "
            "Accepted: 2 (the newest and the previous), 3 for a multi-worker job.",
        ),
    ],
)
def test_bad_arguments_are_config_errors(tmp_path: Path, kwargs: dict[str, object], message: str) -> None:
    arguments: dict[str, object] = {"identity": ID} | kwargs
    with pytest.raises(ConfigError) as info:
        TrainingState(tmp_path, **arguments)  # type: ignore[arg-type]
    assert str(info.value) == message


def test_state_that_is_not_json_is_a_config_error(tmp_path: Path) -> None:
    state = TrainingState(tmp_path, identity=ID)
    with pytest.raises(
        ConfigError,
        match=r"^The state to back up must be JSON-able. Received: TypeError: Object of type bytes is not JSON serializable \(in `extra` or a callback's get_state\(\)\). Fix: ",
    ):
        state.save(_dense(), BackupPosition(0, 1, 0), extra={"raw": b"x"})
    assert state.positions() == []  # nothing written


# Metrics mid-epoch ----------------------------------------------------------------------------
class _Interrupt(keras.callbacks.Callback):
    def __init__(self, at_batch: int) -> None:
        super().__init__()
        self.at_batch = at_batch

    def on_train_batch_end(self, batch: int, logs: object = None) -> None:
        if batch == self.at_batch:
            raise KeyboardInterrupt("simulated crash")


def _classifier() -> keras.Model:
    model = keras.Sequential(
        [
            keras.Input((3,)),
            keras.layers.Dense(8, activation="relu", name="hidden"),
            keras.layers.Dropout(0.3, name="drop"),
            keras.layers.Dense(2, activation="softmax", name="out"),
        ],
        name="clf",
    )
    model.compile(
        optimizer=keras.optimizers.Adam(0.05), loss="sparse_categorical_crossentropy", metrics=["accuracy"]
    )
    return model


def test_mid_epoch_resume_reports_the_uninterrupted_epoch(tmp_path: Path, deterministic: None) -> None:
    x, y = _data(batches=8, batch=4)
    data = tf.data.Dataset.from_tensor_slices((x, y)).batch(4)

    keras.utils.set_random_seed(0)
    reference = _classifier()
    expected = reference.fit(data, epochs=1, verbose=0, shuffle=False).history

    keras.utils.set_random_seed(0)
    crashed = _classifier()
    state = TrainingState(tmp_path, identity=ID, every_steps=4)
    backup = BackupCallback(state, phase=0, steps_per_epoch=8, callbacks=[])
    with pytest.raises(KeyboardInterrupt):
        crashed.fit(data, epochs=1, verbose=0, shuffle=False, callbacks=[_Interrupt(at_batch=5), backup])
    assert state.positions() == [BackupPosition(0, 0, 4)]

    keras.utils.set_random_seed(1)  # other initial weights and dropout seeds: all restored
    resumed = _classifier()
    loaded = _loaded(state)
    loaded.restore_variables(resumed)
    loaded.restore_optimizer(resumed)
    loaded.restore_callbacks([])
    rest = data.skip(loaded.position.step)
    loaded.restore_metrics(resumed, next(iter(rest)))
    accumulators = {v.path: float(v.numpy()) for m in resumed.metrics for v in m.variables}
    assert accumulators["accuracy/count"] == 16.0  # 4 batches of 4 already counted
    got = resumed.fit(
        rest.take(4),
        initial_epoch=0,
        epochs=1,
        steps_per_epoch=4,
        verbose=0,
        shuffle=False,
        callbacks=[BackupCallback(state, phase=0, steps_per_epoch=8, callbacks=[], step_offset=4)],
    ).history

    assert got["loss"] == expected["loss"]
    assert got["accuracy"] == expected["accuracy"]
    for a, b in zip(reference.variables, resumed.variables, strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b), err_msg=a.path)
    assert state.positions()[0] == BackupPosition(0, 1, 0)


def test_restore_through_the_callback_asks_for_restore_metrics_when_unbuilt(tmp_path: Path) -> None:
    x, y = _data(batches=4, batch=4)
    model = _classifier()
    state = TrainingState(tmp_path, identity=ID, every_steps=2)
    model.fit(
        x,
        y,
        batch_size=4,
        epochs=1,
        verbose=0,
        callbacks=[BackupCallback(state, phase=0, steps_per_epoch=4, callbacks=[])],
    )
    loaded = _loaded(state, BackupPosition(0, 0, 2))
    resumed = _classifier()
    loaded.restore_variables(resumed)
    backup = BackupCallback(state, phase=0, steps_per_epoch=4, callbacks=[], step_offset=2, restore=loaded)
    with pytest.raises(
        ResumeError,
        match=r"^The backup's metric variables do not fit this model. Received: 2 only in the backup: compile_metrics:accuracy/total, compile_metrics:accuracy/count \(.*\). Fix: call LoadedBackup.restore_metrics\(model, first_batch\) before fit: without a distribution strategy Keras builds the metrics only at the first step.$",
    ):
        resumed.fit(x[8:], y[8:], batch_size=4, epochs=1, verbose=0, callbacks=[backup])


def test_an_epoch_end_backup_has_no_metrics_to_restore(tmp_path: Path) -> None:
    model = _dense()
    state = TrainingState(tmp_path, identity=ID)
    state.save(model, BackupPosition(0, 0, 3))
    with pytest.raises(
        ResumeError,
        match=r"^The mid-epoch backup holds no metric state. Received: phase 0, epoch 0, step 3 in .*state.npz. Fix: back up mid-epoch positions with metrics=True",
    ):
        _loaded(state).restore_metrics(_dense(), (np.zeros((2, 3)), np.zeros((2, 2))))


# Callbacks ----------------------------------------------------------------------------------
def _stopper() -> keras.callbacks.EarlyStopping:
    # Epoch 0 improves on inf; no later epoch can improve by 1e9: stops after epoch 1.
    return keras.callbacks.EarlyStopping(monitor="loss", patience=0, min_delta=1e9)


def test_early_stopping_state_and_the_stopped_flag_survive(tmp_path: Path) -> None:
    x, y = _data()
    y2 = np.stack([y, y], 1).astype("float32")
    model = _dense()
    stop = _stopper()
    state = TrainingState(tmp_path, identity=ID, every_steps=None, keep=3)
    backup = BackupCallback(state, phase=0, steps_per_epoch=4, callbacks=[stop])
    history = model.fit(x, y2, batch_size=4, epochs=6, verbose=0, callbacks=[stop, backup])
    assert history.epoch == [0, 1] and backup.stopped
    assert state.positions() == [BackupPosition(0, 2, 0), BackupPosition(0, 1, 0)]

    last = _loaded(state)
    assert last.stopped is True
    restored = _stopper()
    last.restore_callbacks([restored])
    assert (
        (restored.wait, restored.best, restored.best_epoch, restored.stopped_epoch)
        == (
            stop.wait,
            stop.best,
            stop.best_epoch,
            stop.stopped_epoch,
        )
        == (1, pytest.approx(history.history["loss"][0]), 0, 1)
    )

    # Resumed after epoch 0, the run stops after epoch 1 as the uninterrupted one did ...
    first = _loaded(state, BackupPosition(0, 1, 0))
    assert first.stopped is False
    again, stop_again = _dense(), _stopper()
    first.restore_variables(again)
    first.restore_optimizer(again)
    first.restore_callbacks([stop_again])
    resumed = BackupCallback(state, phase=0, steps_per_epoch=4, callbacks=[stop_again])
    history = again.fit(
        x, y2, batch_size=4, initial_epoch=1, epochs=6, verbose=0, callbacks=[stop_again, resumed]
    )
    assert history.epoch == [1] and resumed.stopped
    # ... and without the restored state it would have gone on (the control).
    control, stop_control = _dense(), _stopper()
    first.restore_variables(control)
    first.restore_optimizer(control)
    history = control.fit(x, y2, batch_size=4, initial_epoch=1, epochs=6, verbose=0, callbacks=[stop_control])
    assert history.epoch == [1, 2]


def test_callback_state_carries_over_the_fits_of_one_phase_only(tmp_path: Path) -> None:
    x, y = _data()
    y2 = np.stack([y, y], 1).astype("float32")
    model, stop = _dense(), _stopper()
    state = TrainingState(tmp_path, identity=ID, every_steps=None)

    def fit(phase: int, start: int) -> list[int]:
        backup = BackupCallback(state, phase=phase, steps_per_epoch=4, callbacks=[stop])
        epochs = model.fit(
            x, y2, batch_size=4, initial_epoch=start, epochs=start + 3, verbose=0, callbacks=[stop, backup]
        )
        return list(epochs.epoch)

    assert model.fit(
        x,
        y2,
        batch_size=4,
        epochs=1,
        verbose=0,
        callbacks=[stop, BackupCallback(state, phase=0, steps_per_epoch=4, callbacks=[stop])],
    ).epoch == [0]
    assert fit(0, 1) == [1]  # the same phase: one fit's patience, stops at once
    assert fit(1, 2) == [2, 3]  # a new phase: EarlyStopping starts afresh
    state = TrainingState(tmp_path / "another_run", identity=ID, every_steps=None)
    assert fit(1, 2) == [2, 3]  # the same phase of another run (another TrainingState): afresh too


class _Counter(keras.callbacks.Callback):
    """A user callback with the get_state / set_state protocol."""

    def __init__(self) -> None:
        super().__init__()
        self.seen = 0

    def get_state(self) -> dict[str, object]:
        return {"seen": self.seen}

    def set_state(self, state: dict[str, object]) -> None:
        self.seen = int(state["seen"])  # type: ignore[call-overload]


def test_reduce_lr_on_plateau_and_the_callback_protocol(tmp_path: Path) -> None:
    plateau, counter = keras.callbacks.ReduceLROnPlateau(monitor="loss", patience=3), _Counter()
    plateau.wait, plateau.best, plateau.cooldown_counter = 2, np.float32(0.25), 1
    counter.seen = 7
    state = TrainingState(tmp_path, identity=ID)
    state.save(_dense(), BackupPosition(0, 1, 0), callbacks=[keras.callbacks.History(), plateau, counter])
    meta = json.loads(bytes(np.load(tmp_path / "state.npz")["__meta__"]))
    assert meta["callbacks"] == [
        {"index": 1, "cls": "ReduceLROnPlateau", "state": {"wait": 2, "best": 0.25, "cooldown_counter": 1}},
        {"index": 2, "cls": "_Counter", "state": {"seen": 7}},
    ]
    new_plateau, new_counter = keras.callbacks.ReduceLROnPlateau(monitor="loss", patience=3), _Counter()
    loaded = _loaded(state)
    loaded.restore_callbacks([keras.callbacks.History(), new_plateau, new_counter])
    assert (new_plateau.wait, new_plateau.best, new_plateau.cooldown_counter, new_counter.seen) == (
        2,
        0.25,
        1,
        7,
    )
    with pytest.raises(
        ResumeError,
        match=r"^The backup holds the state of callbacks this fit does not have. Received: saved: ReduceLROnPlateau at index 1, _Counter at index 2; callbacks now: _Counter at index 0 \(.*\). Fix: pass the same callbacks in the same order; or resume with",
    ):
        loaded.restore_callbacks([_Counter()])


# tf.distribute --------------------------------------------------------------------------------
def test_mirrored_save_and_restore_with_each_replicas_metric_share(
    tmp_path: Path, mirrored: tf.distribute.Strategy
) -> None:
    x, y = _data(batches=4, batch=8, seed=3)
    data = tf.data.Dataset.from_tensor_slices((x, y)).batch(8)

    def build() -> keras.Model:
        with mirrored.scope():
            model = keras.Sequential(
                [keras.Input((3,)), keras.layers.Dense(2, activation="softmax", name="out")], name="mir"
            )
            model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        return model

    keras.utils.set_random_seed(0)
    original = build()
    state = TrainingState(tmp_path, identity=ID, every_steps=2)
    expected = original.fit(
        data,
        epochs=1,
        verbose=0,
        shuffle=False,
        callbacks=[BackupCallback(state, phase=0, steps_per_epoch=4, callbacks=[])],
    ).history
    mid = BackupPosition(0, 0, 2)
    assert state.positions() == [BackupPosition(0, 1, 0), mid]
    with np.load(tmp_path / "state.1.npz") as saved:
        meta = json.loads(bytes(saved["__meta__"]))
        shares = {key: saved[f"metrics/{i}"] for i, key in enumerate(meta["metrics"])}
    assert {key: value.shape for key, value in shares.items()} == {
        "loss:loss/total": (2,),
        "loss:loss/count": (2,),
        "compile_metrics:accuracy/total": (2,),
        "compile_metrics:accuracy/count": (2,),
    }
    assert shares["compile_metrics:accuracy/count"].tolist() == [8.0, 8.0]  # 2 batches of 4 per replica

    keras.utils.set_random_seed(5)
    resumed = build()
    loaded = _loaded(state, mid)
    loaded.restore_variables(resumed)  # outside the scope: enters the model's
    loaded.restore_optimizer(resumed)
    rest = data.skip(2)
    loaded.restore_metrics(resumed, next(iter(rest)))
    for metric in resumed.metrics:
        for variable in metric.variables:
            parts = [p.numpy() for p in replica_components(variable)]
            assert len(parts) == 2
            np.testing.assert_array_equal(parts, shares[f"{metric.name}:{variable.path}"])
    assert keras.ops.convert_to_numpy(resumed.optimizer.iterations) == 2

    def resume_fit(model: keras.Model, restore: LoadedBackup | None) -> dict[str, list[float]]:
        backup = BackupCallback(
            state, phase=0, steps_per_epoch=4, callbacks=[], step_offset=2, restore=restore
        )
        history = model.fit(
            rest.take(2),
            initial_epoch=0,
            epochs=1,
            steps_per_epoch=2,
            verbose=0,
            shuffle=False,
            callbacks=[backup],
        )
        return history.history

    got = resume_fit(resumed, None)
    np.testing.assert_allclose(got["loss"], expected["loss"], rtol=1e-6)
    assert got["accuracy"] == expected["accuracy"]
    for a, b in zip(original.variables, resumed.variables, strict=True):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-6, atol=1e-7)

    # Under a strategy fit builds the metrics before on_epoch_begin: `restore=` alone also works.
    keras.utils.set_random_seed(6)
    by_callback = build()
    loaded.restore_variables(by_callback)
    loaded.restore_optimizer(by_callback)
    got = resume_fit(by_callback, loaded)
    np.testing.assert_allclose(got["loss"], expected["loss"], rtol=1e-6)
    assert got["accuracy"] == expected["accuracy"]
