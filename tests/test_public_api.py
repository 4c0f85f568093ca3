"""The top-level API: explicit, importable, and importing it changes no global state."""

from __future__ import annotations

import subprocess
import sys

import transferlab


def test_every_name_in_all_resolves():
    missing = [name for name in transferlab.__all__ if not hasattr(transferlab, name)]
    assert missing == []
    assert transferlab.__version__.count(".") == 2


def test_unknown_attribute_is_an_attribute_error():
    import pytest

    with pytest.raises(AttributeError, match="has no attribute 'nope'"):
        transferlab.nope  # noqa: B018


def test_importing_does_not_touch_keras_state():
    # `import transferlab` registers the classes a saved model names (so keras.saving.load_model
    # works after it, tests/test_package.py), which starts TensorFlow quietly; it changes nothing else.
    code = (
        "import sys, transferlab\n"
        "import keras\n"
        "policy = keras.config.dtype_policy().name\n"
        "model = transferlab.build_classifier('alexnet', 3, width=0.125, precision='bfloat16')\n"
        "assert keras.config.dtype_policy().name == policy == 'float32'\n"
        "print('ok')\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "ok"
