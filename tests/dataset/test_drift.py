"""Syncs of data off the schema, against the mock over real HTTP: the dataset stores what
landed typed, nulls for the rest, leaves undeclared fields out, records the drift and warns
once; ``strict=True`` refuses and leaves the folder as it was; a paging disagreement always
refuses. The ground truth is the mock's world and its ``schema_drifted`` counter (and, for
values that cannot be typed, what a proxy in front of the mock changed)."""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterator
from pathlib import Path

import httpx
import polars as pl
import pyarrow.parquet as pq
import pytest
from polars.testing import assert_frame_equal

import loketvalinso as lv
from loketvalinso._dataset import SyncSummary
from loketvalinso._dataset import sync as sync_module
from loketvalinso._dataset.dataset import DEFAULT_LOOKBACK
from loketvalinso.errors import PaginationError, SchemaDriftError, SchemaDriftWarning
from tests.loopback import Loopback, Request

pytestmark = pytest.mark.timeout(120)

SIZES = lv.mock.WorldSizes(employers=3, employees=40, vends=6_000, devices=6, locations=3)
_US = 1_000_000


@pytest.fixture
def drifting() -> Iterator[lv.mock.MockServer]:
    with lv.mock.serve(seed=11, sizes=SIZES, schema_drift=True) as server:
        yield server


@pytest.fixture
def small_buffers(monkeypatch) -> None:
    """Streamed partitions go through scratch files (the path of a first sync of millions)."""
    monkeypatch.setattr(sync_module, "BUFFER_ROWS", 1_000)


def _valinso(server: lv.mock.MockServer) -> lv.Valinso:
    return lv.Valinso.from_mock(server, cache=False, progress=False, limit=500)


def _loket(server: lv.mock.MockServer) -> lv.Loket:
    return lv.Loket.from_mock(server, cache=False, progress=False)


def _syncing(ds: lv.Dataset, *args, **options) -> tuple[SyncSummary, list[str]]:
    """``ds.sync(...)`` and the texts of the SchemaDriftWarnings it gave."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        summary = ds.sync(*args, **options)
    return summary, [str(w.message) for w in caught if issubclass(w.category, SchemaDriftWarning)]


def _folder_bytes(folder: Path) -> dict[str, bytes | None]:
    """Every file's bytes and every folder (None) under ``folder``, by relative path."""
    return {
        str(p.relative_to(folder)): p.read_bytes() if p.is_file() else None
        for p in sorted(folder.rglob("*"))
    }


def _visible_requests(world) -> pl.DataFrame:
    visible = world.employers.filter("accessible")["id"].implode()
    return world.leave_requests.filter(pl.col("employer_id").is_in(visible)).sort("id")


def test_vends_with_qty_are_stored_with_a_null_quantity_and_the_drift_recorded(
    drifting, small_buffers, tmp_path
) -> None:
    """``qty`` for ``quantity`` on every vend: every row stored, ``quantity`` null, ``qty``
    nowhere in the files, the schema that of clean vends; then a clean server a day later:
    the sync goes on from the cursor and the window it reloads gets its quantities."""
    world, faults = drifting.world, drifting.app.faults
    ds = lv.Dataset(tmp_path / "store")
    with _valinso(drifting) as valinso:
        summary, (text,) = _syncing(ds, valinso, "vends", batch_rows=700)
    renamed = faults.counts["schema_drifted"]
    assert renamed == world.vends.height  # every vend was served once, with qty

    # every row, every value but the quantity as in the world; the clean schema
    vends = ds.read("vends")
    truth = world.vends.sort("id")
    assert summary.rows_loaded == summary.added == summary.rows == truth.height
    assert vends.schema == truth.select(vends.columns).schema
    assert "quantity" in vends.columns and "qty" not in vends.columns
    assert vends["quantity"].null_count() == truth.height
    assert_frame_equal(vends.drop("quantity"), truth.select(vends.columns).drop("quantity"))
    for path in ds.files("vends"):
        assert "qty" not in pq.read_schema(path).names, path

    # nothing silent: the warning, the summary, history() and drift() say what was stored
    assert "stored as null: quantity (never arrived, 6,000 rows)" in text
    assert "not stored: qty (undeclared)" in text
    assert summary.drift is not None and summary.drift in text
    assert ds.history()["drift"].to_list() == [summary.drift]
    drift = ds.drift("vends").sort("column")
    assert drift.select("sync", "column", "kind", "values", "coerced", "nulled", "stored").rows() == [
        (1, "qty", "undeclared", renamed, 0, 0, "not stored"),
        (1, "quantity", "missing", truth.height, 0, 0, "null"),
    ]  # fmt: skip

    # a day later, a server on schema again: an incremental sync from the cursor, no drift
    cursor = truth["timestamp"].dt.epoch("us").max()
    since = (cursor - int(DEFAULT_LOOKBACK.total_seconds() * _US)) // _US * _US
    with lv.mock.serve(seed=11, world=world) as clean, _valinso(clean) as valinso:
        moved = clean.advance(days=1)
        with warnings.catch_warnings():
            warnings.simplefilter("error", SchemaDriftWarning)
            later = ds.sync(valinso, "vends")
    assert later.mode == "incremental" and later.drift is None
    assert later.since is not None
    vends, truth = ds.read("vends"), moved.vends.sort("id")
    assert vends["id"].to_list() == truth["id"].to_list()
    reloaded = pl.col("timestamp").dt.epoch("us") >= since
    assert_frame_equal(vends.filter(reloaded), truth.select(vends.columns).filter(reloaded))
    before = vends.filter(~reloaded)
    assert before.height and before["quantity"].null_count() == before.height
    history = ds.history()
    assert history["drift"].to_list() == [summary.drift, None]
    assert ds.drift()["sync"].unique().to_list() == [1]


def test_strict_refuses_and_leaves_the_folder_byte_for_byte(drifting, tmp_path) -> None:
    """A dataset synced clean, then a drifting server with ``strict=True``: refused, every file
    and folder as it was; leave requests with numbers as text still pass (exact coercion)."""
    store = tmp_path / "store"
    ds = lv.Dataset(store)
    with lv.mock.serve(seed=11, world=drifting.world) as clean, _valinso(clean) as valinso:
        ds.sync(valinso, "vends")
    before = _folder_bytes(store)
    with (
        _valinso(drifting) as valinso,
        pytest.raises(SchemaDriftError, match="the dataset was not changed") as caught,
    ):
        ds.sync(valinso, "vends", strict=True)
    assert "qty (undeclared)" in str(caught.value)
    assert "quantity (missing)" in str(caught.value)
    # the incremental load's window, every vend of it served with qty
    stamps = drifting.world.vends["timestamp"].dt.epoch("us")
    since = (stamps.max() - int(DEFAULT_LOOKBACK.total_seconds() * _US)) // _US * _US
    served = int((stamps >= since).sum())
    assert drifting.app.faults.counts["schema_drifted"] == served > 0
    assert _folder_bytes(store) == before

    with _loket(drifting) as loket:
        summary, (text,) = _syncing(ds, loket, "leave_requests", strict=True)
    truth = _visible_requests(drifting.world)
    assert summary.added == truth.height
    assert "stored typed: number_of_units" in text


def test_leave_requests_with_numbers_as_text_are_stored_exactly(drifting, tmp_path) -> None:
    faults = drifting.app.faults
    ds = lv.Dataset(tmp_path / "store")
    with _loket(drifting) as loket:
        faults.reset_counts()
        summary, texts = _syncing(ds, loket, "leave_requests")
    assert len(texts) == 1  # one warning for the sync, not one per employer
    truth = _visible_requests(drifting.world)
    requests = ds.read("leave_requests")
    assert summary.added == requests.height == truth.height
    common = [c for c in truth.columns if c in requests.columns]
    assert "number_of_units" in common
    assert_frame_equal(requests.select(common), truth.select(common), check_dtypes=False)
    drift = ds.drift("leave_requests")
    assert set(drift["kind"]) == {"values"} and set(drift["stored"]) == {"typed"}
    assert drift["coerced"].sum() == faults.counts["schema_drifted"] > 0
    assert drift["nulled"].sum() == 0


class _PriceProxy:
    """Real HTTP in front of the mock's Valinso API that sends ``price: "abc"`` for every
    vend whose id is a multiple of 40 (values no schema can type)."""

    def __init__(self, server: lv.mock.MockServer, loopback: Loopback) -> None:
        self.server, self.loopback = server, loopback
        self.spoiled: set[int] = set()
        loopback.answer = self.answer

    def answer(self, request: Request) -> tuple[int, dict[str, str], bytes]:
        upstream = httpx.get(
            self.server.url + request.path,
            params=[(k, v) for k, values in request.query.items() for v in values],
            headers={"api-key": request.headers.get("api-key", "")},
        )
        doc = upstream.json()
        if request.path.endswith("/vends") and upstream.status_code == 200:
            for item in doc["result"]:
                if item["id"] % 40 == 0:
                    item["price"] = "abc"
                    self.spoiled.add(item["id"])
        content_type = upstream.headers.get("content-type", "application/json")
        return upstream.status_code, {"Content-Type": content_type}, json.dumps(doc).encode()

    def client(self) -> lv.Valinso:
        path = self.server.valinso_url_for("head").removeprefix(self.server.url)
        return lv.Valinso(
            api_key=self.server.credentials.valinso_api_key,
            base_url=self.loopback.url + path,
            cache=False,
            progress=False,
            limit=500,
        )


def test_values_no_schema_can_type_are_stored_as_null(tmp_path) -> None:
    with (
        lv.mock.serve(seed=11, sizes=SIZES) as server,
        Loopback() as loopback,
    ):
        proxy = _PriceProxy(server, loopback)
        strict = lv.Dataset(tmp_path / "strict")
        with proxy.client() as valinso, pytest.raises(SchemaDriftError, match=r"price \(values\)"):
            strict.sync(valinso, "vends", strict=True)
        assert strict.history().is_empty()

        ds = lv.Dataset(tmp_path / "store")
        proxy.spoiled.clear()
        with proxy.client() as valinso:
            summary, (text,) = _syncing(ds, valinso, "vends")
    spoiled = proxy.spoiled
    truth = server.world.vends.sort("id")
    assert len(spoiled) == truth.filter(pl.col("id") % 40 == 0).height > 0
    vends = ds.read("vends")
    assert summary.added == vends.height == truth.height
    assert vends.schema == truth.select(vends.columns).schema
    hit = pl.col("id").is_in(sorted(spoiled))
    assert vends.filter(hit)["price"].null_count() == len(spoiled)
    assert_frame_equal(vends.filter(~hit), truth.select(vends.columns).filter(~hit))
    assert_frame_equal(vends.drop("price"), truth.select(vends.columns).drop("price"))
    assert f"stored as null: price ({len(spoiled):,} nulled: " in text
    (row,) = ds.drift("vends").select("column", "kind", "nulled", "stored").rows()
    assert row == ("price", "values", len(spoiled), "null")


def test_a_paging_disagreement_refuses_even_without_strict(tmp_path) -> None:
    """The server's total grows mid-walk (and the data drift): never a partial result."""
    with (
        lv.mock.serve(seed=11, sizes=SIZES, drift=True, schema_drift=True) as server,
        _valinso(server) as valinso,
        lv.Loket.from_mock(server, cache=False, progress=False, page_size=20) as loket,
    ):
        ds = lv.Dataset(tmp_path / "store")
        for client, resource in ((valinso, "vends"), (loket, "leave_requests")):
            with pytest.raises(PaginationError, match="changed"):
                ds.sync(client, resource)
        assert server.app.faults.counts["drifted"] > 0
    assert ds.history().is_empty()
    assert ds.resources() == []


def test_manifests_from_before_the_drift_record_still_read(tmp_path) -> None:
    with lv.mock.serve(seed=11, sizes=SIZES) as server, _valinso(server) as valinso:
        ds = lv.Dataset(tmp_path / "store")
        ds.sync(valinso, "devices")
    manifest = tmp_path / "store" / "_manifest.json"
    raw = json.loads(manifest.read_text())
    for entry in raw["syncs"]:
        assert entry.pop("drift") == []
    manifest.write_text(json.dumps(raw))
    history = ds.history()
    assert history["resource"].to_list() == ["devices"]
    assert history["drift"].to_list() == [None]
    assert ds.drift().is_empty()
    assert ds.read("devices").height == server.world.devices.height
