"""The public package type-checks (it ships py.typed, so users' mypy reads our annotations)."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_py_typed_is_shipped():
    assert (REPO / "transferlab" / "py.typed").is_file()


# mypy itself runs in CI (.ci/run), configured in pyproject.toml; it is not run again here.
