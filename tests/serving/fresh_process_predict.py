"""Run in a fresh process: load a .keras model and a SavedModel, predict, save the outputs.

Usage: python fresh_process_predict.py MODEL.keras SAVED_MODEL_DIR DIGITS.npy OUT.npz
"""

from __future__ import annotations

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def main() -> None:
    import numpy as np
    import tensorflow as tf

    from transferlab.serving import load_trained_model, predict

    keras_path, saved_path, digits_path, out_path = sys.argv[1:5]
    digits = np.load(digits_path)
    keras_model = load_trained_model(keras_path)
    served = tf.saved_model.load(saved_path)
    signature = served.signatures["serving_default"]
    np.savez(
        out_path,
        keras_call=np.asarray(keras_model(digits[..., None].astype("float32"), training=False)),
        keras_predict=predict(keras_model, digits).probabilities,
        saved_signature=signature(images=tf.constant(digits))["probabilities"].numpy(),
        saved_serve_4d=served.serve(digits[..., None])["probabilities"].numpy(),
        saved_wrapped=predict(load_trained_model(saved_path), digits).probabilities,
        keras_class=np.array(type(keras_model).__name__),
    )


if __name__ == "__main__":
    main()
