"""Test session set-up shared by the tests and the doctests.

The CPU is split into two logical devices before TensorFlow starts, so that
``tf.distribute.MirroredStrategy`` runs for real on a machine without GPUs.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pytest

REPO = Path(__file__).resolve().parent

# Test helpers shared by several test folders (e.g. `import http_mirror`): tests/ is not a
# package, and --import-mode=importlib puts no test folder on sys.path.
sys.path.insert(0, str(REPO / "tests" / "helpers"))


def pytest_configure(config: pytest.Config) -> None:
    import tensorflow as tf

    cpus = tf.config.list_physical_devices("CPU")
    tf.config.set_logical_device_configuration(cpus[0], [tf.config.LogicalDeviceConfiguration()] * 2)


@pytest.fixture(scope="session")
def mirrored():  # type: ignore[no-untyped-def]
    """The one MirroredStrategy over the 2 logical CPUs that every test shares.

    Two MirroredStrategy objects that both run collectives in one process collide on
    collective instance keys (``Shape mismatch in the collective instance``), so no
    test creates its own.
    """
    import tensorflow as tf

    return tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])


@pytest.fixture(scope="session")
def mnist_dir() -> Path:
    """The folder holding the four official MNIST files.

    ``TRANSFERLAB_MNIST_DIR`` if set (CI sets it), else ``../shared/data/mnist``
    beside the checkout, else the Keras cache (``$KERAS_HOME/datasets`` or
    ``~/.keras/datasets``) when it holds them (``transferlab data`` puts them there).
    """
    env = os.environ.get("TRANSFERLAB_MNIST_DIR")
    keras_home = Path(os.environ.get("KERAS_HOME", Path.home() / ".keras"))
    candidates = [Path(env)] if env else [REPO.parent / "shared" / "data" / "mnist", keras_home / "datasets"]
    for folder in candidates:
        if (folder / "train-images-idx3-ubyte.gz").is_file():
            return folder
    pytest.fail(
        f"MNIST files not found in {', '.join(map(str, candidates))}. Set TRANSFERLAB_MNIST_DIR "
        "to a folder holding train-images-idx3-ubyte.gz and the three other official files "
        "(or run `transferlab data` once online to download them into the Keras cache)."
    )


# `python -m transferlab` entry point: importing it runs the CLI, so doctest collection skips it.
collect_ignore = ["transferlab/__main__.py"]
