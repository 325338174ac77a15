"""Valinso writes against the mock over real HTTP: batches, field errors per item, PUT, DELETE."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import polars as pl
import pytest

import loketvalinso as lv
from loketvalinso._writes import DryRun
from loketvalinso.mock import WorldSizes

SIZES = WorldSizes(employers=1, employees=5, vends=3000, devices=6, locations=3, products=8)
MAY = datetime(2026, 5, 1, 12, tzinfo=UTC)


@pytest.fixture(scope="module")
def server():
    with lv.mock.serve(seed=5, sizes=SIZES) as m:
        yield m


@pytest.fixture
def valinso(server):
    client = lv.Valinso.from_mock(server, cache=False, progress=False)
    yield client
    client.close()


def posts(server, since: int) -> list:
    return [r for r in server.app.requests[since:] if r.method == "POST"]


def vend(server, n: int, **fields) -> dict:
    device = server.world.devices.row(n % server.world.devices.height, named=True)
    product = server.world.products.row(n % server.world.products.height, named=True)
    return {"device_id": device["id"], "product_id": product["id"],
            "timestamp": MAY.replace(minute=n % 60), **fields}  # fmt: skip


def test_a_frame_of_vends_is_created_in_batches(server, valinso) -> None:
    before = server.world.vends.height
    loaded = valinso.vends(device_id=server.world.devices["id"][0]).head(5)
    frame = loaded.with_columns(
        timestamp=pl.lit(MAY, dtype=pl.Datetime("us", "UTC")), quantity=pl.lit(2, dtype=pl.Int32)
    )
    since = len(server.app.requests)
    created = valinso.post_vends(frame, batch_size=2)
    sent = posts(server, since)
    assert [len(r.json()["items"]) for r in sent] == [2, 2, 1]
    item = sent[0].json()["items"][0]
    assert "id" not in item  # the server gives ids
    assert item["timestamp"] == int(MAY.timestamp()) and isinstance(item["price"], float)
    assert created.height == 5 and created.schema == loaded.schema
    world = server.world.vends
    assert world.height == before + 5
    rows = world.filter(pl.col("id").is_in(created["id"].to_list())).sort("id")
    assert rows["quantity"].to_list() == [2] * 5
    assert rows["price"].to_list() == loaded["price"].to_list()
    assert rows["timestamp"].to_list() == [MAY] * 5
    # the loader sees them (the world moved; the listing is read again)
    assert set(created["id"]) <= set(valinso.vends(since=MAY, until=MAY.replace(hour=13))["id"])


def test_a_batch_with_two_invalid_items_names_them(server, valinso) -> None:
    items = [vend(server, n) for n in range(7)]
    items[4]["price"] = "gratis"
    items[5]["device_id"] = 999_999
    before = server.world.vends.height
    since = len(server.app.requests)
    with pytest.raises(lv.ValidationError) as info:
        valinso.post_vends(items, batch_size=3)
    error = info.value
    assert error.status == 422
    # the item index in everything given (batch 2 holds items 3–5)
    assert error.errors.rows() == [
        (4, "price", "Price must be a number."),
        (5, "device_id", 'Device "999999" is invalid.'),
    ]
    assert "items 3 and later were not created" in str(error)
    assert error.created.height == 3  # batch 1 went through
    assert server.world.vends.height == before + 3
    assert len(posts(server, since)) == 2  # batch 3 was not sent


def test_put_and_delete_change_the_world(server, valinso) -> None:
    device_id = int(server.world.devices["id"][1])
    updated = valinso.put(f"/device/{device_id}", {"status": "maintenance"})
    assert updated["status"].to_list() == ["maintenance"]
    row = server.world.devices.filter(pl.col("id") == device_id).row(0, named=True)
    assert row["status"] == "maintenance"
    with pytest.raises(lv.ValidationError) as info:
        valinso.put(f"/device/{device_id}", {"status": "kapot", "location_id": 0})
    assert set(info.value.errors["field"]) == {"status", "location_id"}
    assert server.world.devices.filter(pl.col("id") == device_id)["status"][0] == "maintenance"
    product = server.world.products.row(0, named=True)
    valinso.put(f"/product/{product['id']}", pl.DataFrame({"price": [Decimal("2.35")]}))
    assert server.world.products.filter(pl.col("id") == product["id"])["price"][0] == Decimal(
        "2.35"
    )
    (created,) = valinso.post_vends([vend(server, 1)])["id"]
    removed = valinso.delete(f"/vend/{created}")
    assert removed["id"].to_list() == [created]
    assert server.world.vends.filter(pl.col("id") == created).height == 0
    with pytest.raises(lv.NotFoundError):
        valinso.delete(f"/vend/{created}")
    with pytest.raises(lv.BadRequestError, match="has vends"):
        valinso.delete(f"/device/{device_id}")


def test_dry_runs_send_nothing(server, valinso) -> None:
    key = server.credentials.valinso_api_key
    since = len(server.app.requests)
    runs = valinso.post_vends([vend(server, n) for n in range(3)], batch_size=2, dry_run=True)
    put = valinso.put("/device/1", {"status": "inactive"}, dry_run=True)
    delete = valinso.delete("/vend/1", dry_run=True)
    assert server.app.requests[since:] == []
    assert [len(r.json["items"]) for r in runs] == [2, 1]
    assert isinstance(put, DryRun) and put.json == {"status": "inactive"}
    assert delete.method == "DELETE" and delete.json is None
    for run in (*runs, put, delete):
        assert run.headers["api-key"] == "***" and key not in str(run)


def test_bad_input_is_refused_before_sending(server, valinso) -> None:
    since = len(server.app.requests)
    with pytest.raises(lv.ConfigurationError, match="batch_size"):
        valinso.post_vends([vend(server, 0)], batch_size=0)
    with pytest.raises(lv.ConfigurationError, match="not one dict"):
        valinso.post_vends(vend(server, 0))
    with pytest.raises(lv.ConfigurationError, match="at least one"):
        valinso.post_vends([])
    with pytest.raises(lv.ConfigurationError, match="one-row"):
        valinso.put("/device/1", pl.DataFrame({"status": ["a", "b"]}))
    assert server.app.requests[since:] == []


def test_the_read_after_a_write_is_fresh(tmp_path) -> None:
    with lv.mock.serve(seed=5, sizes=SIZES, expires=3600) as m:
        client = lv.Valinso.from_mock(m, cache=tmp_path / "c", progress=False)
        client.devices()
        client.devices()
        assert client.last_load.cache_hits >= 1  # fresh in the cache
        client.put("/device/2", {"name": "Nieuwe naam"})
        devices = client.devices()
        assert client.last_load.cache_hits == 0
        assert devices.filter(pl.col("id") == 2)["name"].to_list() == ["Nieuwe naam"]
        client.close()
