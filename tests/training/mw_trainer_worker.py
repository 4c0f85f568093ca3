"""A tiny 2-phase Trainer run on every worker of a local multi-worker job (see test_trainer_multi_worker.py).

Usage::

    python mw_trainer_worker.py OUT [--per-worker-dirs] [--kill-worker I --kill-at STEP]
                                    [--timeout S] [--distribution SPEC] [--folder DIR]

Trains ``resume_tiny`` (48 images, 3 classes) with ``FineTune(epochs=1, top=1,
warmup_epochs=1)``, 4 examples per replica, ``deterministic=True``, a backup
every 2 steps; the run is ``OUT/r`` (``OUT/w<i>/r`` with ``--per-worker-dirs``,
as on separate machines). With ``--kill-worker I --kill-at STEP``, worker ``I``
of a first start (no backup of its own yet) waits 1.5 s after global step
``STEP`` (so its peers back that step up) and SIGKILLs itself before its own
backup of that step. Each worker saves ``OUT/result-worker<i>.npz``: the model's
variables, the optimizer's iterations, the position it resumed from, the
optimizer's iterations at its first trained batch and its test loss. With
``--folder DIR`` the training data is ``ImageFolderSource(DIR)`` (12x12 gray, no
validation, no feature cache), and the worker also saves how many image files its
training pipeline read during ``fit`` (``reads``), which (``read_indices``) and
where each phase's ``fit`` ended in that list (``fit_ends``).
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time


def _arg(argv: list[str], flag: str, default: str | None = None) -> str | None:
    return argv[argv.index(flag) + 1] if flag in argv else default


def main(argv: list[str]) -> int:
    out = argv[0]
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path.insert(0, here)
    index = json.loads(os.environ.get("TF_CONFIG", "{}") or "{}").get("task", {}).get("index", 0)
    run_dir = os.path.join(out, f"w{index}") if "--per-worker-dirs" in argv else out

    import keras
    import numpy as np
    import resume_tiny

    from transferlab.strategies import FineTune
    from transferlab.training.trainer import Trainer

    kill_worker = int(_arg(argv, "--kill-worker", "-1"))  # type: ignore[arg-type]
    kill_at = int(_arg(argv, "--kill-at", "0"))  # type: ignore[arg-type]
    fresh = not os.path.isdir(os.path.join(run_dir, "r", "backup", f"worker{index}"))
    steps = [0]
    first_iterations: list[int] = []
    fit_ends: list[int] = []
    reads: list[int] = []

    class Killer(keras.callbacks.Callback):
        """Runs before the Trainer's backup callback (user callbacks come first)."""

        def on_train_end(self, logs=None):  # type: ignore[no-untyped-def]
            fit_ends.append(len(reads))

        def on_train_batch_begin(self, batch, logs=None):  # type: ignore[no-untyped-def]
            if not first_iterations:
                first_iterations.append(int(self.model.optimizer.iterations.numpy()))

        def on_train_batch_end(self, batch, logs=None):  # type: ignore[no-untyped-def]
            steps[0] += 1
            if fresh and index == kill_worker and steps[0] == kill_at:
                time.sleep(1.5)  # the peers back this step up meanwhile; this worker never does
                os.kill(os.getpid(), signal.SIGKILL)

    folder = _arg(argv, "--folder")
    if folder is not None:
        import tensorflow as tf

        from transferlab.data import ImageFolderSource

        class CountingSource(ImageFolderSource):
            def read_element(self, index: tf.Tensor) -> tf.Tensor:
                def record(i: np.ndarray) -> np.ndarray:
                    reads.append(int(i))
                    return i

                index = tf.numpy_function(record, [index], tf.int64, stateful=True)
                return super().read_element(tf.reshape(index, ()))

        train = CountingSource(folder, image_size=(12, 12), color_mode="grayscale")
        validation = None
        extra = {"feature_cache": "off"}
    else:
        data = resume_tiny.data(48)
        train, validation, extra = data, data.take(range(8)), {}
    trainer = Trainer(
        resume_tiny.build,
        strategy=FineTune(epochs=1, top=1, warmup_epochs=1, learning_rate=1e-2),
        distribution=_arg(argv, "--distribution", "multi_worker"),
        worker_timeout=float(_arg(argv, "--timeout", "60")),  # type: ignore[arg-type]
        run_dir=run_dir,
        run_name="r",
        batch_size=4,
        verbose=0,
        deterministic=True,
        backup_every=2,
        callbacks=[Killer()],
        **extra,  # type: ignore[arg-type]
    )
    result = trainer.fit(train, validation)
    reads_in_fit = list(reads)
    evaluated = validation if validation is not None else train
    test = trainer.evaluate(evaluated)  # the chief writes test_metrics.json
    resumed = result.resumed_from or (-1, -1, -1)
    np.savez(
        os.path.join(out, f"result-worker{index}.npz"),
        *[v.numpy() for v in result.model.variables],
        iterations=np.array(int(result.model.optimizer.iterations.numpy())),
        resumed_from=np.array(resumed),
        first_iterations=np.array(first_iterations[0] if first_iterations else -1),
        steps=np.array(steps[0]),
        test_loss=np.array(test["loss"]),
        reads=np.array(len(reads_in_fit)),
        read_indices=np.array(reads_in_fit, dtype=np.int64),
        fit_ends=np.array(fit_ends, dtype=np.int64),
    )
    print(f"worker {index} done: steps={steps[0]} resumed_from={resumed}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
