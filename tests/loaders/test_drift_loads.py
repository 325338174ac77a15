"""Loads against the mock sending data off the schema (``schema_drift=True``): the frame keeps
every row and value, ``last_load.drift`` accounts for what the server changed (the mock's
``schema_drifted`` counter), one SchemaDriftWarning per load, ``strict=True`` raises, and a warm
load from the frame cache reports the same drift."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

import loketvalinso as lv
from loketvalinso._frames.drift import DRIFT_SCHEMA
from loketvalinso._load.report import LoadReport
from loketvalinso.errors import LoketValinsoWarning, SchemaDriftError, SchemaDriftWarning
from loketvalinso.mock import sizes_for
from loketvalinso.mock.world import cached_world

SIZES = sizes_for(vends=2500, leave_requests=300)


@pytest.fixture(scope="module")
def world():
    return cached_world(11, SIZES)


@pytest.fixture(scope="module")
def drifting(world) -> Iterator[lv.mock.MockServer]:
    """The mock off the schema, over real HTTP; list pages cacheable (for the warm loads)."""
    with lv.mock.serve(seed=11, world=world, schema_drift=True, expires=3600) as server:
        yield server


def _drift_warnings(caught: list[warnings.WarningMessage]) -> list[str]:
    return [str(w.message) for w in caught if issubclass(w.category, SchemaDriftWarning)]


def _vends(server: lv.mock.MockServer, cache: Path) -> tuple[pl.DataFrame, LoadReport, list[str]]:
    """The vends, the load's report and its drift warnings, from a new client on ``cache``."""
    with (
        lv.Valinso.from_mock(server, cache=cache, progress=False, limit=1000) as v,
        warnings.catch_warnings(record=True) as caught,
    ):
        warnings.simplefilter("always")
        vends = v.vends()
    assert v.last_load is not None
    return vends, v.last_load, _drift_warnings(caught)


def test_vends_with_qty_instead_of_quantity(drifting, world, tmp_path) -> None:
    faults = drifting.app.faults
    faults.reset_counts()
    vends, report, (text,) = _vends(drifting, tmp_path / "c")
    assert "qty (undeclared, kept as a column)" in text
    assert "quantity (Int32, never arrived)" in text
    assert report.status == "warning" and text in report.warnings
    # nothing is lost: the server's quantities are in qty, every row is there
    truth = world.vends.sort("id")
    assert vends.height == truth.height
    assert vends.sort("id")["qty"].to_list() == truth["quantity"].to_list()
    assert vends["quantity"].null_count() == vends.height
    drift = report.drift.select("column", "field", "kind", "declared", "values").rows()
    renamed = faults.counts["schema_drifted"]
    assert renamed == truth.height
    assert sorted(drift) == [
        ("qty", "qty", "undeclared", None, renamed),
        ("quantity", "quantity", "missing", "Int32", vends.height),
    ]
    assert "qty" in report._repr_html_() and "never arrived" not in repr(report)

    # a new session on the same cache: the frames come from the frame cache, so does the drift
    faults.reset_counts()
    again, warm, texts = _vends(drifting, tmp_path / "c")
    assert warm.cache_hits == warm.requests
    assert faults.counts["schema_drifted"] == 0  # nothing was served again
    assert_frame_equal(again, vends)
    assert_frame_equal(warm.drift, report.drift)
    assert texts == [text]


def test_strict_raises_on_drift_and_names_the_columns(drifting) -> None:
    with (
        lv.Valinso.from_mock(drifting, cache=False, progress=False, strict=True) as v,
        pytest.raises(SchemaDriftError, match=r"qty.*quantity") as info,
    ):
        v.vends()
    assert isinstance(info.value, lv.ResponseFormatError)
    assert v.last_load is not None and v.last_load.status == "error"
    assert v.last_load.drift.height == 2


def test_leave_requests_with_numbers_as_text_equal_a_clean_load(drifting, world) -> None:
    """Loket sends every fraction as text with two decimals: the frame is the one a clean server
    gives, and the report counts each value the mock changed."""
    faults = drifting.app.faults
    with (
        lv.mock.serve(seed=11, world=world) as clean,
        lv.Loket.from_mock(clean, flow="password", cache=False, progress=False) as loket,
    ):
        employer = loket.employers()["id"][0]
        expected = loket.leave_requests(employer)
    faults.reset_counts()
    with (
        lv.Loket.from_mock(drifting, flow="password", cache=False, progress=False) as loket,
        warnings.catch_warnings(record=True) as caught,
    ):
        warnings.simplefilter("error", LoketValinsoWarning)
        warnings.simplefilter("always", SchemaDriftWarning)
        got = loket.leave_requests(employer)
        report = loket.last_load
    assert report is not None
    assert_frame_equal(got, expected)
    drift = report.drift
    assert set(drift["column"]) == {"number_of_units", "currently_available_units"}
    assert drift["kind"].unique().to_list() == ["values"] and drift["nulled"].sum() == 0
    assert drift["coerced"].sum() == faults.counts["schema_drifted"] > 0
    assert drift["arrived"].unique().to_list() == ["string"]
    assert all(len(examples) == 3 for examples in drift["examples"])
    (text,) = _drift_warnings(caught)
    assert "number_of_units (Float64: string" in text and "coerced" in text


def test_a_clean_load_reports_no_drift(world) -> None:
    with (
        lv.mock.serve(seed=11, world=world) as server,
        lv.Valinso.from_mock(server, cache=False, progress=False) as v,
        warnings.catch_warnings(),
    ):
        warnings.simplefilter("error", LoketValinsoWarning)
        v.vends()
        assert v.last_load is not None
        assert v.last_load.drift.height == 0 and v.last_load.drift.schema == DRIFT_SCHEMA
        assert v.last_load.status == "ok" and "drift" not in repr(v.last_load)


def test_a_walk_over_employments_keeps_the_drift_of_every_part(drifting) -> None:
    """``leave`` loads employments, then the ledger of each employment: the merged report
    (``last_load``) counts what every part brought off the schema."""
    faults = drifting.app.faults
    with lv.Loket.from_mock(drifting, flow="password", cache=False, progress=False) as loket:
        employer = loket.employers()["id"][0]
        faults.reset_counts()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            ledger = loket.leave(employer)
        report = loket.last_load
    assert report is not None and report.label == "leave" and report.rows == ledger.height
    assert ledger["number_of_units"].null_count() == 0
    drift = report.drift
    assert "GetLeaveByEmploymentId" in drift["resource"].to_list()
    assert drift["coerced"].sum() == faults.counts["schema_drifted"] > 0
    assert drift["nulled"].sum() == 0
    assert len(_drift_warnings(caught)) == 1  # employments carry no fraction: only the walk


def test_a_streamed_load_keeps_the_same_drift_account(drifting, world) -> None:
    """``iter_vends`` over the drifting mock: every row in its batches, the report's drift that
    of the mock's renames, one warning once the stream is done; strict raises after the last
    batch (the walk is complete, the verdict needs every row)."""
    faults = drifting.app.faults
    faults.reset_counts()
    with (
        lv.Valinso.from_mock(drifting, cache=False, progress=False, limit=100) as v,
        warnings.catch_warnings(record=True) as caught,
    ):
        warnings.simplefilter("always")
        batches = list(v.iter_vends(batch_rows=700))
    assert len(batches) > 1
    vends = pl.concat(batches)
    truth = world.vends.sort("id")
    assert vends["qty"].to_list() == truth["quantity"].to_list()
    assert vends["quantity"].null_count() == vends.height
    (text,) = _drift_warnings(caught)
    assert "qty (undeclared, kept as a column)" in text
    assert "quantity (Int32, never arrived)" in text
    assert v.last_load is not None and text in v.last_load.warnings
    renamed = faults.counts["schema_drifted"]
    assert renamed == truth.height
    drift = v.last_load.drift.select("column", "kind", "values").rows()
    assert sorted(drift) == [("qty", "undeclared", renamed), ("quantity", "missing", truth.height)]

    with lv.Valinso.from_mock(drifting, cache=False, progress=False, limit=100) as v:
        stream = v.iter_vends(batch_rows=700, strict=True)
        rows = 0
        with pytest.raises(SchemaDriftError, match=r"qty.*quantity"):
            for batch in stream:
                rows += batch.height
        assert rows == truth.height


def test_a_streamed_load_stopped_early_gives_no_drift_verdict(drifting) -> None:
    with (
        lv.Valinso.from_mock(drifting, cache=False, progress=False, limit=100) as v,
        warnings.catch_warnings(record=True) as caught,
    ):
        warnings.simplefilter("always")
        stream = v.iter_vends(batch_rows=500, strict=True)
        first = next(stream)
        stream.close()  # a partial load: its missing fields are not known
    assert first.height >= 500
    assert _drift_warnings(caught) == []
