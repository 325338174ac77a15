"""The code stays as the project's own tools want it: ruff (lint everywhere, format on the
Python sources) and mypy. Both come with the ``dev`` extra the test command installs."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
#: The hand-written Python; the notebooks are generated (scripts/make_notebooks.py) and
#: only linted, and README.md's examples are aligned for reading.
SOURCES = ["loketvalinso", "bench", "scripts", "tests"]


def _run(tool: str, *args: str) -> subprocess.CompletedProcess[str]:
    if importlib.util.find_spec(tool) is None:
        pytest.skip(f"{tool} is not installed: pip install -e '.[dev]'")
    return subprocess.run(
        [sys.executable, "-m", tool, *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_ruff_lint_passes_on_code_and_notebooks() -> None:
    done = _run("ruff", "check", "--no-cache", ".")
    assert done.returncode == 0, done.stdout + done.stderr


def test_sources_are_ruff_formatted() -> None:
    done = _run("ruff", "format", "--check", "--no-cache", *SOURCES)
    assert done.returncode == 0, done.stdout + done.stderr


def test_mypy_passes() -> None:
    cache = REPO / ".mypy_cache"
    done = _run("mypy", "--cache-dir", str(cache), "loketvalinso", "bench", "scripts")
    assert done.returncode == 0, done.stdout + done.stderr
