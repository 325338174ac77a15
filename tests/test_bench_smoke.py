"""A tiny run of ``python -m bench`` so the benchmark does not rot (no timing is asserted)."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.timeout(300)


def test_bench_quick_prints_every_row(capsys: pytest.CaptureFixture[str]) -> None:
    sys.path.insert(0, str(ROOT))
    try:
        from bench import run
    finally:
        sys.path.remove(str(ROOT))
    assert run.main(["--quick"]) == 0
    out = capsys.readouterr().out
    lines = [line for line in out.splitlines() if line.startswith("| ")]
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    assert header == ["metric", "unit", "vends", "leave_requests", "target"]
    table = {}
    for line in lines[1:]:
        cells = [c.strip() for c in line.strip("|").split("|")]
        table[cells[0]] = cells[2:4]
    for _key, label, _unit, _target in run.ROWS:
        assert label in table, f"row {label!r} missing"
        assert all(table[label]), f"row {label!r} is empty"
    ratio_labels = {label for key, label, _, _ in run.ROWS if key in run.RATIO_KEYS}
    for label in ratio_labels:
        for cell in table[label]:
            value = float(cell)
            assert math.isfinite(value) and value > 0, f"{label}: {cell}"


def test_the_memory_probe_counts_a_frames_string_views() -> None:
    """``buffer_bytes`` is what the frame's buffers weigh: a String value takes a 16-byte view
    (Arrow string views), which ``estimated_size()`` leaves out."""
    import polars as pl

    sys.path.insert(0, str(ROOT))
    try:
        from bench.memory import buffer_bytes
    finally:
        sys.path.remove(str(ROOT))
    n = 100_000
    strings = pl.DataFrame({"currency": ["EUR"] * n})
    assert strings.estimated_size() == 3 * n
    assert 16 * n <= buffer_bytes(strings) < 16 * n + 4096
    numbers = pl.DataFrame({"id": range(n)}, schema={"id": pl.Int64})
    assert numbers.estimated_size() == 8 * n
    assert 8 * n <= buffer_bytes(numbers) < 8 * n + 4096


def test_bench_sync_quick_prints_every_row(capsys: pytest.CaptureFixture[str]) -> None:
    sys.path.insert(0, str(ROOT))
    try:
        from bench import run, sync
    finally:
        sys.path.remove(str(ROOT))
    assert run.main(["sync", "--quick"]) == 0
    out = capsys.readouterr().out
    table = {
        cells[0]: cells[1]
        for line in out.splitlines()
        if line.startswith("| ") and not line.startswith("| metric")
        for cells in [[c.strip() for c in line.strip("|").split("|")]]
    }
    for _key, label, _unit in sync.ROWS:
        value = float(table[label].replace(",", ""))
        assert math.isfinite(value) and value > 0, f"{label}: {table[label]}"
