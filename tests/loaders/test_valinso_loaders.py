"""The Valinso loaders against the mock's ground truth, plus an off-spec server (extra/missing)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import httpx
import orjson
import polars as pl
import pytest
from polars.testing import assert_frame_equal

import loketvalinso as lv
from loketvalinso._frames.spec import VALINSO_FIELDS
from loketvalinso.errors import CacheWarning, ConfigurationError, NotFoundError, ValidationError


@pytest.fixture(scope="module")
def mock(world):
    return lv.mock.in_process(seed=42, world=world)


@pytest.fixture(scope="module")
def valinso(mock):
    client = lv.Valinso.from_mock(mock, cache=False, progress=False)
    yield client
    client.close()


def _same(loaded: pl.DataFrame, truth: pl.DataFrame) -> None:
    assert_frame_equal(loaded.select(truth.columns).sort("id"), truth.sort("id"))


def test_all_vends(valinso, world) -> None:
    df = valinso.vends()
    assert df.height == world.vends.height == 200_000
    _same(df, world.vends)


def _window(world, lo: datetime, hi: datetime) -> pl.DataFrame:
    # the API's window: from inclusive, to exclusive, at whole seconds
    return world.vends.filter((pl.col("timestamp") >= lo) & (pl.col("timestamp") < hi))


def test_since_until_forms(valinso, world) -> None:
    day = world.vends["timestamp"][1000].date()
    lo = datetime(day.year, day.month, day.day, tzinfo=UTC)
    hi = lo + timedelta(days=2)
    truth = _window(world, lo, hi)
    assert truth.height
    amsterdam = timezone(timedelta(hours=2))
    forms = [
        (day, day + timedelta(days=2)),
        (lo.replace(tzinfo=None), hi.replace(tzinfo=None)),  # naive = UTC
        (lo.astimezone(amsterdam), hi.astimezone(amsterdam)),  # aware: converted
        (lo.isoformat(), hi.isoformat()),
        (int(lo.timestamp()), int(hi.timestamp())),
    ]
    for since, until in forms:
        _same(valinso.vends(since=since, until=until), truth)


def test_since_after_until_and_device(valinso, world) -> None:
    with pytest.raises(ConfigurationError, match="after"):
        valinso.vends(since=date(2025, 2, 1), until=date(2025, 1, 1))
    device = int(world.vends["device_id"][0])
    _same(valinso.vends(device_id=device), world.vends.filter(pl.col("device_id") == device))


def test_empty_vends_keep_the_schema(valinso, world) -> None:
    full = valinso.vends(since=world.vends["timestamp"][0], until=world.vends["timestamp"][50])
    unused = int(world.devices["id"].max()) + 1000
    empty = valinso.vends(device_id=unused)
    assert full.height and empty.height == 0
    assert empty.schema == full.schema


def test_devices_products_locations(valinso, world) -> None:
    _same(valinso.devices(), world.devices)
    _same(valinso.products(), world.products)
    _same(valinso.locations(), world.locations)
    one = int(world.devices["id"][3])
    _same(valinso.device(one), world.devices.filter(pl.col("id") == one))
    with pytest.raises(NotFoundError):
        valinso.device(int(world.devices["id"].max()) + 999)


def test_generic_get_known_and_unknown_shapes(valinso, world) -> None:
    _same(valinso.get("/locations"), world.locations)
    one = int(world.devices["id"][0])
    _same(valinso.get(f"/device/{one}"), world.devices.filter(pl.col("id") == one))

    pages = {
        0: [{"machine": 7, "temp": 4.5, "door": {"open": False}, "tags": ["a"]}],
        1: [{"machine": 8, "temp": None, "door": {"open": True}, "tags": [], "alarm": "hot"}],
    }

    def answer(request: httpx.Request) -> httpx.Response:
        offset = int(request.url.params.get("offset", 0))
        body = {
            "code": 200,
            "result": pages.get(offset, []),
            "paging": {"total": 2, "offset": offset, "limit": 1},
        }
        return httpx.Response(200, content=orjson.dumps(body))

    with lv.Valinso(
        api_key="k",
        base_url="http://127.0.0.1:9/api/head/valinso_api",
        transport=httpx.MockTransport(answer),
        cache=False,
        progress=False,
        limit=1,
    ) as v:
        df = v.get("/machines/status")
    assert df["machine"].to_list() == [7, 8]
    assert df["temp"].to_list() == [4.5, None]
    assert df["alarm"].to_list() == [None, "hot"]
    assert [orjson.loads(x) for x in df["door"]] == [{"open": False}, {"open": True}]


def test_post_location_422_lists_every_field(valinso) -> None:
    with pytest.raises(ValidationError) as info:
        valinso.post("/locations", {"email": "not an email" + "x" * 100, "phone": "abc"})
    errors = info.value.field_errors
    assert set(errors) >= {"client_id", "name", "email", "phone"}
    assert len(errors["email"]) == 2  # invalid and too long, both
    assert info.value.errors.filter(field="email").height == 2


def test_unknown_and_missing_fields() -> None:
    items = [
        {"id": 1, "name": "A", "serial_number": "S1", "status": "ok", "firmware": "1.2"},
        {"id": 2, "name": "B", "serial_number": "S2", "status": "ok", "firmware": None},
    ]  # no location_id, model, installed_at; an undocumented "firmware"

    def answer(request: httpx.Request) -> httpx.Response:
        body = {"code": 200, "result": items, "paging": {"total": 2, "offset": 0, "limit": 1000}}
        return httpx.Response(200, content=orjson.dumps(body))

    with lv.Valinso(
        api_key="k",
        base_url="http://127.0.0.1:9/api/head/valinso_api",
        transport=httpx.MockTransport(answer),
        cache=False,
        progress=False,
    ) as v:
        with pytest.warns(lv.SchemaDriftWarning) as caught:
            df = v.devices()
        drift = v.last_load.drift
    assert len(caught) == 1 and "firmware (undeclared" in str(caught[0].message)
    assert sorted(drift.select("column", "kind").rows()) == [
        ("firmware", "undeclared"),
        ("installed_at", "missing"),
        ("location_id", "missing"),
        ("model", "missing"),
    ]
    assert [n[0] for n in VALINSO_FIELDS["devices"]] == df.columns[: len(VALINSO_FIELDS["devices"])]
    assert df["firmware"].to_list() == ["1.2", None]
    assert df["model"].null_count() == 2 and df["installed_at"].dtype == pl.Datetime("us", "UTC")
    assert df["id"].to_list() == [1, 2]


def test_keep_for_offline_valinso(world, tmp_path) -> None:
    with lv.mock.serve(seed=42, world=world) as m:
        opts = {"cache": tmp_path / "c", "progress": False}
        with lv.Valinso.from_mock(m, keep_for_offline=True, **opts) as online:
            first = online.locations()
        n = len(m.app.requests)
        with lv.Valinso.from_mock(m, offline=True, **opts) as offline, pytest.warns(CacheWarning):
            again = offline.locations()
        assert len(m.app.requests) == n
        assert_frame_equal(again, first)
