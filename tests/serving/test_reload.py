"""Every model kind transferlab saves loads with ``keras.saving.load_model`` after a plain
``import transferlab``, in a fresh process, keeping what was saved."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import keras
import numpy as np
import pytest

from transferlab.backbones import build_classifier
from transferlab.strategies import FineTune, compile_phase

# The fresh process imports transferlab and Keras, nothing else.
LOAD = """
import json, sys
import numpy as np
import transferlab
import keras

model = keras.saving.load_model(sys.argv[1])
optimizer = getattr(model, "optimizer", None)
inner = getattr(optimizer, "inner_optimizer", optimizer)
rate = getattr(inner, "_learning_rate", None)
layers = {type(layer).__name__ for layer in model.backbone._flatten_layers(include_self=False)}
print(json.dumps({
    "class": type(model).__name__,
    "backbone_info": model.backbone_info.name,
    "groups": list(model.backbone_info.group_names),
    "policy": model.dtype_policy.name,
    "optimizer": type(optimizer).__name__ if optimizer is not None else None,
    "inner": type(inner).__name__ if inner is not None else None,
    "rate": type(rate).__name__,
    "rate_inner": type(getattr(rate, "schedule", None)).__name__,
    "iterations": int(optimizer.iterations.numpy()) if optimizer is not None else None,
    "layers": sorted(layers),
    "predictions": model.predict(np.load(sys.argv[2]), verbose=0).tolist(),
}))
"""


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.update(TF_CPP_MIN_LOG_LEVEL="3", TF_DETERMINISTIC_OPS="1", CUDA_VISIBLE_DEVICES="")
    return env


def _python(code: str, *args: object) -> str:
    result = subprocess.run(
        [sys.executable, "-c", code, *map(str, args)],
        capture_output=True,
        text=True,
        timeout=300,
        env=_env(),
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout.strip().splitlines()[-1]


def _images() -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, (8, 28, 28, 1)).astype("float32")


def _labels() -> np.ndarray:
    return np.arange(8) % 3


def _trained(model: keras.Model, phase_index: int = -1, **compile_kwargs: object) -> keras.Model:
    phases = FineTune(1, top=2, warmup_epochs=1, **compile_kwargs.pop("strategy", {})).phases(  # type: ignore[arg-type]
        model.backbone_info
    )
    compile_phase(model, phases[phase_index], loss="sparse_categorical_crossentropy", **compile_kwargs)
    model.fit(_images(), _labels(), batch_size=8, epochs=1, verbose=0, shuffle=False)
    return model


def _plain() -> keras.Model:
    return build_classifier("alexnet", 3, width=0.125)


def _affine() -> keras.Model:
    return _trained(_plain(), strategy={"batchnorm": "affine"})


def _layerwise() -> keras.Model:
    model = _trained(_plain(), strategy={"lr_decay": 0.5})
    assert type(model.optimizer).__name__ == "LayerwiseAdam"
    return model


def _scheduled() -> keras.Model:
    from transferlab.training import OneCycle

    schedule = keras.optimizers.Adam(OneCycle(0.01, total_steps=10))
    return _trained(_plain(), optimizer=schedule)  # the fine-tuning phase: rate x 0.1


def _own_backbone() -> keras.Model:
    x = keras.Input((16, 16, 3))
    y = keras.layers.Conv2D(4, 3, padding="same", name="c1")(x)
    y = keras.layers.MaxPooling2D(name="p1")(y)
    y = keras.layers.Conv2D(4, 3, padding="same", name="c2")(y)
    return _trained(build_classifier(keras.Model(x, y, name="MyNet"), 3))


def _mixed() -> keras.Model:
    return _trained(build_classifier("alexnet", 3, width=0.125, precision="bfloat16"))


KINDS: dict[str, tuple[Callable[[], keras.Model], dict[str, object]]] = {
    "plain": (_plain, {"optimizer": None, "iterations": None}),
    "affine": (_affine, {"layers_include": "FrozenStatsBatchNormalization", "iterations": 1}),
    "layerwise": (_layerwise, {"optimizer": "LayerwiseAdam", "iterations": 1}),
    "scheduled": (_scheduled, {"rate": "ScaledSchedule", "rate_inner": "OneCycle", "iterations": 1}),
    "own_backbone": (_own_backbone, {"backbone_info": "mynet", "groups": ["stage1", "stage2"]}),
    "mixed_bfloat16": (_mixed, {"policy": "mixed_bfloat16", "iterations": 1}),
}


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_loads_in_a_fresh_process_after_import_transferlab(kind: str, tmp_path: Path) -> None:
    make, expected = KINDS[kind]
    model = make()
    model.save(tmp_path / "model.keras")
    np.save(tmp_path / "x.npy", _images())
    seen = json.loads(_python(LOAD, tmp_path / "model.keras", tmp_path / "x.npy"))
    assert seen["class"] == "Classifier"
    np.testing.assert_allclose(seen["predictions"], model.predict(_images(), verbose=0), atol=1e-5)
    assert seen["policy"] == expected.get("policy", "float32")
    if "layers_include" in expected:
        assert expected["layers_include"] in seen["layers"]
    for key in ("optimizer", "rate", "rate_inner", "iterations", "backbone_info", "groups"):
        if key in expected:
            assert seen[key] == expected[key], key


# Train one step, save, train one more: the weights after the second step.
TRAIN = """
import sys
import numpy as np
import keras
keras.utils.set_random_seed(0)
from transferlab.backbones import build_classifier
from transferlab.strategies import FineTune, compile_phase

precision, folder = sys.argv[1], sys.argv[2]
x = np.random.default_rng(0).integers(0, 256, (8, 28, 28, 1)).astype("float32")
y = np.arange(8) % 3
model = build_classifier("alexnet", 3, width=0.125, precision=precision)
phase = FineTune(1, top=2, warmup_epochs=0).phases(model.backbone_info)[0]
compile_phase(model, phase, loss="sparse_categorical_crossentropy", optimizer=keras.optimizers.Adam(0.01))
model.fit(x, y, batch_size=8, epochs=1, verbose=0, shuffle=False)
model.save(folder + "/model.keras")
model.fit(x, y, batch_size=8, epochs=1, verbose=0, shuffle=False)
np.savez(folder + "/after.npz", *model.get_weights())
print(type(model.optimizer).__name__, float(getattr(model.optimizer, "dynamic_scale", np.nan)))
"""

# Load after a plain `import transferlab`, train the same step, compare.
RESUME = """
import json, sys
import numpy as np
import keras
keras.utils.set_random_seed(0)
import transferlab

folder = sys.argv[1]
x = np.random.default_rng(0).integers(0, 256, (8, 28, 28, 1)).astype("float32")
y = np.arange(8) % 3
model = keras.saving.load_model(folder + "/model.keras")
optimizer = model.optimizer
state = {
    "policy": model.dtype_policy.name,
    "precision": model.get_config()["precision"],
    "optimizer": type(optimizer).__name__,
    "iterations": int(optimizer.iterations.numpy()),
    "scale": float(getattr(optimizer, "dynamic_scale", np.nan)),
}
model.fit(x, y, batch_size=8, epochs=1, verbose=0, shuffle=False)
after = np.load(folder + "/after.npz")
expected = [after[f"arr_{i}"] for i in range(len(after.files))]
state["max_difference"] = max(float(np.abs(a - b).max()) for a, b in zip(expected, model.get_weights()))
state["weights"] = len(expected) == len(model.get_weights())
print(json.dumps(state))
"""


@pytest.mark.parametrize(
    ("precision", "policy"), [("float16", "mixed_float16"), ("bfloat16", "mixed_bfloat16")]
)
def test_mixed_precision_reload_takes_the_same_next_step(precision: str, policy: str, tmp_path: Path) -> None:
    optimizer, scale = _python(TRAIN, precision, tmp_path).split()
    state = json.loads(_python(RESUME, tmp_path))
    assert state["policy"] == policy and state["precision"] == precision
    assert state["optimizer"] == optimizer
    assert (optimizer == "LossScaleOptimizer") == (precision == "float16")  # loss scaling kept
    assert state["iterations"] == 1
    if precision == "float16":
        assert state["scale"] == float(scale) > 1  # the loss scale saved after one step
    assert state["weights"] and state["max_difference"] == 0.0
