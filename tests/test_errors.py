"""describe(): one line for text parts, several lines for lists; every error keeps its built-in base."""

from __future__ import annotations

import pytest

from transferlab import errors
from transferlab.errors import ConfigError, DatasetNotFoundError, describe


def test_text_parts_make_one_line_whatever_the_length():
    message = describe("The run folder holds another run", received="x" * 300, fix="pass another run_name")
    assert "\n" not in message
    assert message == f"The run folder holds another run. Received: {'x' * 300}. Fix: pass another run_name."


def test_only_the_parts_given_appear_and_final_stops_are_not_doubled():
    assert describe("Bad value.", accepted="1, 2.") == "Bad value. Accepted: 1, 2."
    assert describe("Bad value") == "Bad value."


def test_a_list_is_laid_out_one_item_a_line():
    message = describe(
        "MNIST was not found anywhere",
        received=["TRANSFERLAB_MNIST_DIR: not set", "cache folder /c: missing 4 files."],
        accepted="the four files",
        fix="set TRANSFERLAB_MNIST_DIR=/that/folder",
    )
    assert message.splitlines() == [
        "MNIST was not found anywhere.",
        "  Received:",
        "    - TRANSFERLAB_MNIST_DIR: not set",
        "    - cache folder /c: missing 4 files",
        "  Accepted: the four files.",
        "  Fix: set TRANSFERLAB_MNIST_DIR=/that/folder.",
    ]


def test_an_empty_list_reads_none():
    assert describe("Nothing found", received=[]).splitlines() == ["Nothing found.", "  Received: none."]


def test_the_message_is_the_exceptions_text():
    with pytest.raises(DatasetNotFoundError, match=r"^No data\.\n  Received:\n    - a$"):
        raise DatasetNotFoundError(describe("No data", received=("a",)))


@pytest.mark.parametrize(
    ("name", "builtin"),
    [
        ("ConfigError", ValueError),
        ("DataFileError", OSError),
        ("DatasetNotFoundError", FileNotFoundError),
        ("DivergenceError", RuntimeError),
        ("StorageError", OSError),
        ("RunConflictError", ValueError),
        ("WorkerTimeoutError", TimeoutError),
        ("MissingDependencyError", ImportError),
    ],
)
def test_every_error_is_a_transferlab_error_and_its_builtin(name, builtin):
    cls = getattr(errors, name)
    assert issubclass(cls, errors.TransferlabError) and issubclass(cls, builtin)


def test_every_exported_class_is_still_there():
    classes = [n for n in errors.__all__ if n not in ("describe", "INTERRUPTED")]
    assert len(classes) == 23 and {"DivergenceError", "StorageError"} <= set(classes)
    assert all(issubclass(getattr(errors, n), errors.TransferlabError) for n in classes)
    assert isinstance(ConfigError("x"), ValueError)
