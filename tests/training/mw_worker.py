"""A tiny multi-worker training script run by the launcher tests.

Usage: ``python mw_worker.py OUT_DIR [--no-patch] [--timeout S] [--fail-worker I] [--sleep S]``.
With ``--fail-worker I`` worker ``I`` exits 3 at once and the others sleep
120 s (to be stopped by the launcher); ``--sleep S`` sleeps and exits 0.
Saves this worker's final weights to ``OUT_DIR/worker<i>.npy``.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import numpy as np

GLOBAL_BATCH = 8
STEPS = 4


def make_data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(GLOBAL_BATCH * STEPS, 6, 6, 1)).astype("float32")
    y = (x.mean(axis=(1, 2, 3)) > 0).astype("int32")
    return x, y


def build_model():  # type: ignore[no-untyped-def]
    import keras

    init = keras.initializers.GlorotUniform
    return keras.Sequential(
        [
            keras.Input((6, 6, 1)),
            keras.layers.Conv2D(2, 3, activation="relu", kernel_initializer=init(seed=1)),
            keras.layers.Flatten(),
            keras.layers.Dense(2, activation="softmax", kernel_initializer=init(seed=2)),
        ]
    )


def train(strategy, patch: bool = True) -> np.ndarray:  # type: ignore[no-untyped-def]
    import keras
    import tensorflow as tf

    from transferlab.training.multi_worker_patch import multi_worker_patch

    x, y = make_data()
    ds = tf.data.Dataset.from_tensor_slices((x, y)).batch(GLOBAL_BATCH, drop_remainder=True)
    with strategy.scope():
        model = build_model()
        model.compile(optimizer=keras.optimizers.SGD(0.5), loss="sparse_categorical_crossentropy")
    if patch:
        with multi_worker_patch(strategy):
            model.fit(ds, epochs=2, verbose=0, shuffle=False)
    else:
        model.fit(ds, epochs=2, verbose=0, shuffle=False)
    return np.concatenate([w.ravel() for w in model.get_weights()])


def main(argv: list[str]) -> int:
    out = Path(argv[0])
    if "--fail-worker" in argv:
        index = json.loads(os.environ["TF_CONFIG"])["task"]["index"]
        if index == int(argv[argv.index("--fail-worker") + 1]):
            print("worker failing on purpose", flush=True)
            return 3
        time.sleep(120)
        return 0
    if "--sleep" in argv:
        time.sleep(float(argv[argv.index("--sleep") + 1]))
        return 0
    from transferlab.training.distribution import resolve_distribution
    from transferlab.training.distribution_info import DistributionInfo

    strategy = resolve_distribution(
        "multi_worker", timeout=float(argv[argv.index("--timeout") + 1]) if "--timeout" in argv else 60.0
    )
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(0)
    tf.config.experimental.enable_op_determinism()
    info = DistributionInfo.from_strategy(strategy)
    weights = train(strategy, patch="--no-patch" not in argv)
    np.save(out / f"worker{info.task_index}.npy", weights)
    print(f"done replicas={info.num_replicas} chief={info.is_chief}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
