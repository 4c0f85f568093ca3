"""Tests of resolve_distribution, TF_CONFIG checks, the rendezvous and DistributionInfo."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

from transferlab.errors import ConfigError, DistributionError, WorkerTimeoutError
from transferlab.training.distribution import resolve_distribution
from transferlab.training.distribution_info import DistributionInfo
from transferlab.training.tf_config import TFConfig
from transferlab.training.worker_rendezvous import wait_for_workers

REPO = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _tf_config(n: int, index: int = 0, ports: list[int] | None = None) -> str:
    ports = ports or [_free_port() for _ in range(n)]
    return json.dumps(
        {"cluster": {"worker": [f"127.0.0.1:{p}" for p in ports]}, "task": {"type": "worker", "index": index}}
    )


def test_specs_give_the_expected_strategies(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TF_CONFIG", raising=False)
    if len(tf.config.list_physical_devices("GPU")) > 1:
        assert isinstance(resolve_distribution("auto"), tf.distribute.MirroredStrategy)
    else:
        assert resolve_distribution("auto") is tf.distribute.get_strategy()
    assert isinstance(resolve_distribution("one_device"), tf.distribute.OneDeviceStrategy)
    assert isinstance(resolve_distribution("mirrored"), tf.distribute.MirroredStrategy)
    two = resolve_distribution(["/cpu:0", "/cpu:1"])
    assert isinstance(two, tf.distribute.MirroredStrategy) and two.num_replicas_in_sync == 2


def test_unknown_spec_lists_accepted_values() -> None:
    with pytest.raises(
        ConfigError,
        match=r"unknown distribution `spec`. Received: spec='tpu'. Accepted: 'auto', 'one_device', 'mirrored', 'multi_worker', or a list of device names",
    ):
        resolve_distribution("tpu")
    with pytest.raises(
        ConfigError, match=r"`spec` must be a strategy name or a list of device names. Received: spec=3"
    ):
        resolve_distribution(3)  # type: ignore[arg-type]
    with pytest.raises(
        ConfigError, match=r"device '/gpu:7' is not a device of this process.*Accepted: /cpu:0, /cpu:1"
    ):
        resolve_distribution(["/cpu:0", "/gpu:7"])
    with pytest.raises(ConfigError, match="a device list for `spec` must hold one or more device names"):
        resolve_distribution([])
    with pytest.raises(ConfigError, match="`timeout` must be a number of seconds > 0"):
        resolve_distribution("auto", timeout=0)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("{not json", r"not valid JSON \(Expecting property name enclosed in double quotes at char 1\)"),
        ('{"task": {"type": "worker", "index": 0}}', "missing or non-object `cluster`"),
        ('{"cluster": {"worker": ["a:1"]}}', "missing or non-object `task`"),
        (
            '{"cluster": {"worker": ["a:1", "b:2"]}, "task": {"type": "worker", "index": 2}}',
            r"task index out of range: job 'worker' has 2 address\(es\), so the index must be 0..1",
        ),
        (
            '{"cluster": {"worker": ["a:1"]}, "task": {"type": "chief", "index": 0}}',
            r"task type 'chief' is not a job of the cluster \('worker'\)",
        ),
        (
            '{"cluster": {"worker": ["a"]}, "task": {"type": "worker", "index": 0}}',
            "cluster job 'worker' must be a list of 'host:port' strings",
        ),
    ],
)
def test_malformed_tf_config_names_the_problem_and_shows_an_example(
    monkeypatch: pytest.MonkeyPatch, text: str, problem: str
) -> None:
    monkeypatch.setenv("TF_CONFIG", text)
    with pytest.raises(
        DistributionError,
        match=rf"TF_CONFIG is malformed: {problem}.*Fix: set one JSON object per process, e.g. TF_CONFIG='{{\"cluster\": {{\"worker\": \[\"host1:12345\"",
    ):
        resolve_distribution("auto")


def test_tf_config_chief_rules() -> None:
    with_chief = '{"cluster": {"chief": ["c:1"], "worker": ["w:2"]}, "task": {"type": "%s", "index": 0}}'
    assert TFConfig.parse(with_chief % "chief").is_chief
    assert not TFConfig.parse(with_chief % "worker").is_chief
    assert TFConfig.parse(with_chief % "worker").addresses == ("c:1", "w:2")
    assert TFConfig.from_env({"TF_CONFIG": ""}) is None


def test_multi_worker_after_tf_started_explains_the_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    tf.constant(1.0)  # TensorFlow is running in this process
    monkeypatch.setenv("TF_CONFIG", _tf_config(2))
    with pytest.raises(
        DistributionError,
        match=r"MultiWorkerMirroredStrategy must be created before any other TensorFlow operation in the process \(TensorFlow: 'Collective ops must be configured at program startup'\).*Fix: call resolve_distribution\(\) at the very start of the script",
    ):
        resolve_distribution("auto")


def test_rendezvous_times_out_naming_the_missing_peer() -> None:
    own, peer = _free_port(), _free_port()
    config = TFConfig.parse(_tf_config(2, 0, [own, peer]))
    start = time.monotonic()
    with pytest.raises(
        WorkerTimeoutError,
        match=rf"1 of 1 peer worker\(s\) did not join within 1 s: 127.0.0.1:{peer}. Received: this task=worker:0 \(127.0.0.1:{own}\)",
    ):
        wait_for_workers(config, timeout=1.0)
    assert time.monotonic() - start < 5
    # the own port was given back
    with socket.create_server(("", own)):
        pass


def test_rendezvous_passes_when_peers_listen() -> None:
    ports = [_free_port(), _free_port()]
    with socket.create_server(("127.0.0.1", ports[1])):
        assert wait_for_workers(TFConfig.parse(_tf_config(2, 0, ports)), timeout=5.0) < 5.0


def test_rendezvous_own_port_taken() -> None:
    ports = [_free_port(), _free_port()]
    with (
        socket.create_server(("", ports[0])),
        pytest.raises(
            DistributionError,
            match=rf"cannot listen on this worker's own TF_CONFIG address '127.0.0.1:{ports[0]}'",
        ),
    ):
        wait_for_workers(TFConfig.parse(_tf_config(2, 0, ports)), timeout=1.0)


@pytest.mark.multiworker
def test_multi_worker_strategy_times_out_when_a_peer_never_starts() -> None:
    own, peer = _free_port(), _free_port()
    env = dict(
        os.environ,
        TF_CONFIG=_tf_config(2, 0, [own, peer]),
        PYTHONPATH=str(REPO),
        TF_NUM_INTRAOP_THREADS="1",
        TF_NUM_INTEROP_THREADS="1",
    )
    code = "from transferlab.training.distribution import resolve_distribution; resolve_distribution('auto', timeout=5)"
    start = time.monotonic()
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    elapsed = time.monotonic() - start
    assert proc.returncode != 0
    assert "transferlab.errors.WorkerTimeoutError" in proc.stderr
    assert f"1 of 1 peer worker(s) did not join within 5 s: 127.0.0.1:{peer}" in proc.stderr
    assert elapsed < 60


def test_distribution_info(mirrored: tf.distribute.Strategy) -> None:
    info = DistributionInfo.from_strategy(tf.distribute.get_strategy())
    assert (info.num_replicas, info.num_workers, info.is_chief, info.task_type) == (1, 1, True, None)
    assert info.global_batch_size(16) == 16
    two = DistributionInfo.from_strategy(mirrored)
    assert two.global_batch_size(16) == 32
    assert two.scaled_learning_rate(0.1) == pytest.approx(0.2)
    assert two.scaled_learning_rate(0.1, "none") == 0.1
    with pytest.raises(
        ConfigError,
        match=r"unknown learning-rate `scaling`. Received: scaling='sqrt'. Accepted: 'none', 'linear'",
    ):
        two.scaled_learning_rate(0.1, "sqrt")
    with pytest.raises(
        ConfigError,
        match=r"`per_replica_batch_size` must be a whole number >= 1. Received: per_replica_batch_size=0",
    ):
        two.global_batch_size(0)


def _fit_weights(strategy: tf.distribute.Strategy) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(32, 5)).astype("float32")
    y = rng.normal(size=(32, 1)).astype("float32")
    ds = tf.data.Dataset.from_tensor_slices((x, y)).batch(8, drop_remainder=True)  # no shuffle: same order
    with strategy.scope():
        model = keras.Sequential(
            [
                keras.Input((5,)),
                keras.layers.Dense(
                    4, activation="tanh", kernel_initializer=keras.initializers.GlorotUniform(seed=3)
                ),
                keras.layers.Dense(1, kernel_initializer=keras.initializers.GlorotUniform(seed=4)),
            ]
        )
        model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    model.fit(ds, epochs=2, verbose=0, shuffle=False)
    return model.get_weights()


def test_mirrored_two_cpus_matches_one_device(mirrored: tf.distribute.Strategy) -> None:
    # resolve_distribution([...]) builds the same strategy (checked above); training runs on
    # the session's shared one, since two strategies running collectives in one process collide.
    one = _fit_weights(resolve_distribution("one_device"))
    two = _fit_weights(mirrored)
    for a, b in zip(one, two):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    assert not np.allclose(one[0], keras.initializers.GlorotUniform(seed=3)((5, 4)))  # it trained
