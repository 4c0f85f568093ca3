"""A tiny 2-phase run on a plain Keras model with ExactBackup; killed and resumed by test_resume.py.

Usage: ``python resume_plain_worker.py OUT_DIR KILL_AT_STEP`` (``-1``: never killed).
The process SIGKILLs itself right after the global training step ``KILL_AT_STEP``
(1-based), before any backup that step would trigger; the final weights go to
``OUT_DIR/final.npz``.
"""

from __future__ import annotations

import os
import signal
import sys

STEPS, BATCH, EPOCHS = 6, 8, (2, 2)


def main(out_dir: str, kill_at: int) -> None:
    import keras
    import numpy as np
    import tensorflow as tf

    from transferlab.training.exact_backup import ExactBackup

    keras.utils.set_random_seed(0)
    tf.config.experimental.enable_op_determinism()
    rng = np.random.default_rng(0)
    x = rng.normal(size=(STEPS * BATCH, 8)).astype("float32")
    y = rng.integers(0, 3, size=STEPS * BATCH)

    def data_fn(epoch: int, skip: int) -> tf.data.Dataset:
        order = np.random.default_rng([7, epoch]).permutation(len(x))
        return tf.data.Dataset.from_tensor_slices((x[order], y[order])).batch(BATCH).skip(skip)

    inputs = keras.Input((8,))
    h = keras.layers.Dense(16, activation="relu", name="body")(inputs)
    h = keras.layers.BatchNormalization(name="bn")(h)
    h = keras.layers.Dropout(0.3)(h)
    model = keras.Model(inputs, keras.layers.Dense(3, name="head")(h))

    backup = ExactBackup(os.path.join(out_dir, "backup"), every_steps=2)
    fresh = backup.position() is None

    class Killer(keras.callbacks.Callback):
        steps = 0

        def on_train_batch_end(self, batch: int, logs: object = None) -> None:
            self.steps += 1
            if fresh and self.steps == kill_at:  # only the first start dies
                os.kill(os.getpid(), signal.SIGKILL)

    killer = Killer()
    epoch = 0
    for phase, epochs in enumerate(EPOCHS):
        model.get_layer("body").trainable = phase > 0
        model.get_layer("bn").trainable = phase > 0
        model.compile(
            optimizer=keras.optimizers.Adam(1e-2 / (phase + 1)),
            loss="sparse_categorical_crossentropy",
            metrics=["accuracy"],
        )
        backup.fit_phase(
            model,
            data_fn,
            phase=phase,
            initial_epoch=epoch,
            epochs=epoch + epochs,
            steps_per_epoch=STEPS,
            callbacks=[killer],
            verbose=0,
        )
        epoch += epochs
        backup.end_phase(model, phase, epoch)
    np.savez(os.path.join(out_dir, "final.npz"), *[v.numpy() for v in model.variables])
    with open(os.path.join(out_dir, "steps_trained.txt"), "w") as handle:
        handle.write(str(killer.steps))


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
