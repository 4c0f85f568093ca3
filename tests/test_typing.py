"""The public package type-checks (it ships py.typed, so users' mypy reads our annotations)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def test_py_typed_is_shipped():
    assert (REPO / "transferlab" / "py.typed").is_file()


@pytest.mark.e2e
def test_mypy_passes_on_the_package():
    pytest.importorskip("mypy")
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "transferlab"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stdout + result.stderr
