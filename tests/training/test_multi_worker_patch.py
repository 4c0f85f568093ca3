"""Tests of the scoped keras-team/keras#20585 workaround."""

from __future__ import annotations

import importlib
import importlib.util
import io
from pathlib import Path
from types import ModuleType

import keras
import numpy as np
import pytest
import tensorflow as tf
from keras.src.backend.tensorflow import trainer as tf_trainer

from transferlab import _keras_compat
from transferlab.errors import UnsupportedVersionError
from transferlab.training.launcher import launch_local
from transferlab.training.multi_worker_patch import CHECKED_KERAS_VERSIONS, multi_worker_patch

# The module, not the function of the same name that transferlab.training exports.
patch_module = importlib.import_module("transferlab.training.multi_worker_patch")

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
ENV = {"PYTHONPATH": str(REPO), "TF_CPP_MIN_LOG_LEVEL": "2"}


def _worker_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("mw_worker", HERE / "mw_worker.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_version_gate_pins_the_checked_version() -> None:
    assert CHECKED_KERAS_VERSIONS == ("3.15.1",)
    assert patch_module.CHECKED_KERAS_VERSIONS is _keras_compat.CHECKED_KERAS_VERSIONS
    assert keras.__version__ in CHECKED_KERAS_VERSIONS  # this environment is a checked one


def test_unchecked_version_is_refused_unless_allowed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(keras, "__version__", "3.99.0")
    monkeypatch.delenv("TRANSFERLAB_ALLOW_UNCHECKED_KERAS", raising=False)
    monkeypatch.setattr(patch_module, "_is_multi_worker", lambda strategy: True)
    with (
        pytest.raises(
            UnsupportedVersionError,
            match=r"^the multi-worker fit workaround \(keras-team/keras#20585\) was not checked against this Keras version. Received: keras==3.99.0. Accepted: keras 3.15.1. Fix: .*TRANSFERLAB_ALLOW_UNCHECKED_KERAS=1",
        ),
        multi_worker_patch(),
    ):
        pass
    assert tf_trainer.reduce_per_replica is not _keras_compat._patched_reduce_per_replica
    with multi_worker_patch(allow_unchecked=True) as active:
        assert active is True
    monkeypatch.setenv("TRANSFERLAB_ALLOW_UNCHECKED_KERAS", "1")
    with multi_worker_patch() as active:
        assert active is True


def test_missing_internals_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delattr(tf_trainer, "reduce_per_replica")
    monkeypatch.setattr(patch_module, "_is_multi_worker", lambda strategy: True)
    with (
        pytest.raises(
            UnsupportedVersionError,
            match="^the Keras internals the multi-worker fit workaround replaces are not there. Received: keras==3.15.1",
        ),
        multi_worker_patch(),
    ):
        pass


def test_patch_is_scoped_and_restored(
    monkeypatch: pytest.MonkeyPatch, mirrored: tf.distribute.Strategy
) -> None:
    original_build = tf_trainer.TensorFlowTrainer.__dict__["_maybe_symbolic_build"]
    original_reduce = tf_trainer.reduce_per_replica
    with multi_worker_patch(mirrored) as active:
        assert active is False  # not multi-worker: nothing patched
        assert tf_trainer.reduce_per_replica is original_reduce
    monkeypatch.setattr(patch_module, "_is_multi_worker", lambda strategy: True)
    with multi_worker_patch() as active:
        assert active is True
        assert tf_trainer.reduce_per_replica is _keras_compat._patched_reduce_per_replica
        with multi_worker_patch():  # nesting keeps it on
            pass
        assert (
            tf_trainer.TensorFlowTrainer._maybe_symbolic_build is _keras_compat._patched_maybe_symbolic_build
        )
    assert tf_trainer.TensorFlowTrainer.__dict__["_maybe_symbolic_build"] is original_build
    assert tf_trainer.reduce_per_replica is original_reduce
    with pytest.raises(RuntimeError, match="boom"), multi_worker_patch():
        raise RuntimeError("boom")
    assert tf_trainer.reduce_per_replica is original_reduce
    assert _keras_compat._originals == {} and _keras_compat._predicate == []


def test_patched_functions_defer_to_originals_off_multi_worker(mirrored: tf.distribute.Strategy) -> None:
    """Another model fitting on MirroredStrategy while the patch is on is unaffected."""
    with _keras_compat.patched_multi_worker_fit(lambda strategy: False):
        per_replica = mirrored.run(
            lambda: (
                tf.constant(2.0)
                * tf.cast(tf.distribute.get_replica_context().replica_id_in_sync_group, tf.float32)
            )
        )
        out = tf_trainer.reduce_per_replica({"loss": per_replica}, mirrored, "auto")
        assert float(out["loss"]) == pytest.approx(1.0)  # mean of 0 and 2, as the original


@pytest.mark.multiworker
def test_two_workers_fit_identically_and_match_one_device(tmp_path: Path) -> None:
    result = launch_local(
        str(HERE / "mw_worker.py"), [str(tmp_path)], num_workers=2, timeout=120, env=ENV, stream=None
    )
    assert result.ok, result.tails
    w0, w1 = np.load(tmp_path / "worker0.npy"), np.load(tmp_path / "worker1.npy")
    np.testing.assert_array_equal(w0, w1)  # bit-identical workers
    worker = _worker_module()
    reference = worker.train(tf.distribute.get_strategy(), patch=False)
    initial = np.concatenate([w.ravel() for w in worker.build_model().get_weights()])
    assert not np.allclose(reference, initial)  # training moved the weights
    np.testing.assert_allclose(w0, reference, rtol=1e-5, atol=1e-6)


@pytest.mark.multiworker
def test_unpatched_fit_fails_on_checked_keras(tmp_path: Path) -> None:
    """Pins why the patch exists: without it, Keras 3.15.1 multi-worker fit fails."""
    out = io.StringIO()
    result = launch_local(
        str(HERE / "mw_worker.py"),
        [str(tmp_path), "--no-patch"],
        num_workers=2,
        timeout=120,
        env=ENV,
        stream=out,
        check=False,
    )
    assert not result.ok
    assert "ValueError: Attempt to convert a value (PerReplica" in out.getvalue()
