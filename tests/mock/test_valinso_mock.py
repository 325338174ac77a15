"""The Valinso mock against the world's frames: over real HTTP and in-process.

Ground truth is always the world (``m.world``), read with Polars independently of the mock's
encoding; bodies are parsed with ``Decimal`` for floats so "two decimals" is checked exactly.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
import polars as pl
import pytest

import loketvalinso as lv
from loketvalinso.mock.world import WorldSizes

SIZES = WorldSizes(
    employers=2, employees=20, leave_years=1, devices=12, locations=5, products=10, vends=20_000
)
SEED = 42


def body(r: httpx.Response) -> Any:
    return json.loads(r.content, parse_float=Decimal)


def world_items(frame: pl.DataFrame) -> list[dict[str, Any]]:
    """World rows as the API documents them: datetimes as unix seconds, other values as-is.

    Floats become the ``Decimal`` of their shortest repr, which is what :func:`body` parses, so
    the comparison is exact (no precision lost on the wire).
    """
    rows = frame.with_columns(
        pl.col(c).dt.epoch("s") for c, t in frame.schema.items() if isinstance(t, pl.Datetime)
    ).to_dicts()
    floats = [c for c, t in frame.schema.items() if t.is_float()]
    for row in rows:
        for c in floats:
            if row[c] is not None:
                row[c] = Decimal(repr(row[c]))
    return rows


def walk(c: httpx.Client, path: str, *, limit: int, **params: Any) -> list[dict[str, Any]]:
    """Every item of a listing, page by page, checking each page's paging block."""
    items: list[dict[str, Any]] = []
    offset, total = 0, None
    while total is None or offset < total:
        r = c.get(path, params={**params, "offset": offset, "limit": limit})
        assert r.status_code == 200, r.text
        page = body(r)
        assert page["code"] == 200
        assert page["paging"]["offset"] == offset and page["paging"]["limit"] == limit
        total = page["paging"]["total"] if total is None else total
        assert page["paging"]["total"] == total
        assert len(page["result"]) == min(limit, total - offset)
        items += page["result"]
        offset += limit
    return items


@pytest.fixture(scope="module", params=["http", "in_process"])
def mock(request: pytest.FixtureRequest) -> Iterator[Any]:
    if request.param == "http":
        with lv.mock.serve(seed=SEED, sizes=SIZES) as m:
            yield m
    else:
        with lv.mock.in_process(seed=SEED, sizes=SIZES) as m:
            yield m


def _client(m: Any, *, key: str | None, version: str = "head") -> httpx.Client:
    headers = {"api-key": key} if key is not None else {}
    kwargs: dict[str, Any] = {} if not m.in_process else {"transport": m.transport}
    return httpx.Client(base_url=m.valinso_url_for(version), headers=headers, timeout=10, **kwargs)


@pytest.fixture(scope="module")
def client(mock: Any) -> Iterator[httpx.Client]:
    with _client(mock, key=mock.credentials.valinso_api_key) as c:
        yield c


# -- authentication -----------------------------------------------------------------------------


@pytest.mark.parametrize("version", ["head", "2.0.0"])
def test_missing_key_is_401_and_wrong_key_403_without_echoing_keys(mock: Any, version: str) -> None:
    real = mock.credentials.valinso_api_key
    wrong = "wrong-" + real[::-1]
    with _client(mock, key=None, version=version) as c:
        r = c.get("/vends")
    assert r.status_code == 401
    b = body(r)
    assert b["code"] == 401 and isinstance(b["result"], str) and set(b) == {"code", "result"}
    for key in (wrong, ""):
        with _client(mock, key=key, version=version) as c:
            r = c.get("/devices")
        expected = 401 if not key.strip() else 403
        assert r.status_code == expected
        b = body(r)
        assert b["code"] == expected and isinstance(b["result"], str)
        raw = r.content.decode() + repr(r.headers)
        assert real not in raw
        if key.strip():
            assert key not in raw
    # POSTs are checked too, before their body is read.
    with _client(mock, key=wrong, version=version) as c:
        assert c.post("/vends", content=b"{not json").status_code == 403


def test_key_never_in_repr(mock: Any) -> None:
    real = mock.credentials.valinso_api_key
    assert real not in repr(mock.app.valinso)
    assert real not in repr(mock.credentials)


# -- listings equal the world -------------------------------------------------------------------


@pytest.mark.parametrize("resource", ["devices", "products", "locations"])
def test_small_listings_equal_the_world(client: httpx.Client, mock: Any, resource: str) -> None:
    frame = getattr(mock.world, resource)
    assert walk(client, f"/{resource}", limit=1000) == world_items(frame)
    assert walk(client, f"/{resource}", limit=3) == world_items(frame)


def test_prices_have_two_decimals_and_timestamps_are_integers(client: httpx.Client) -> None:
    raw = client.get("/vends", params={"limit": 200}).content
    page = json.loads(raw, parse_float=str)
    assert all(len(v["price"].split(".")[1]) == 2 for v in page["result"])
    assert all(type(v["timestamp"]) is int for v in page["result"])
    products = json.loads(client.get("/products").content, parse_float=str)["result"]
    assert all(len(p["price"].split(".")[1]) == 2 for p in products)


@pytest.mark.parametrize("limit", [1000, 777, 100])
def test_walking_all_vends_gives_exactly_the_world_in_order(
    client: httpx.Client, mock: Any, limit: int
) -> None:
    items = walk(client, "/vends", limit=limit)
    assert len(items) == mock.world.vends.height
    assert items == world_items(mock.world.vends)


def test_default_limit_and_offset(client: httpx.Client, mock: Any) -> None:
    page = body(client.get("/vends"))
    assert page["paging"] == {"total": mock.world.vends.height, "offset": 0, "limit": 100}
    assert [v["id"] for v in page["result"]] == mock.world.vends["id"].head(100).to_list()
    past = body(client.get("/vends", params={"offset": 10**9}))
    assert past["result"] == [] and past["paging"]["total"] == mock.world.vends.height


def test_vend_totals_per_device_equal_the_sum_of_their_pages(
    client: httpx.Client, mock: Any
) -> None:
    truth = (
        mock.world.vends.group_by("device_id")
        .agg(
            pl.len().alias("n"),
            (pl.col("price") * pl.col("quantity")).sum().alias("revenue"),
        )
        .sort("device_id")
    )
    assert truth.height == mock.world.devices.height  # every device sold something
    for device_id, n, revenue in truth.iter_rows():
        items = walk(client, "/vends", limit=500, device_id=device_id)
        assert len(items) == n
        assert {v["device_id"] for v in items} == {device_id}
        assert sum(v["price"] * v["quantity"] for v in items) == revenue
    # A device with no vends is an empty listing, not an error.
    empty = body(client.get("/vends", params={"device_id": 10**6}))
    assert empty["result"] == [] and empty["paging"]["total"] == 0


def test_from_inclusive_to_exclusive_against_the_world(client: httpx.Client, mock: Any) -> None:
    vends = mock.world.vends.with_columns(ts=pl.col("timestamp").dt.epoch("s"))
    ts = vends["ts"]
    start, stop = int(ts[3000]), int(ts[9000])  # both are exact vend timestamps
    for params, expr in [
        ({"from": start, "to": stop}, (pl.col("ts") >= start) & (pl.col("ts") < stop)),
        ({"from": start}, pl.col("ts") >= start),
        ({"to": stop}, pl.col("ts") < stop),
        ({"from": start, "to": start}, pl.lit(False)),
        (
            {"device_id": 3, "from": start, "to": stop},
            (pl.col("device_id") == 3) & (pl.col("ts") >= start) & (pl.col("ts") < stop),
        ),
    ]:
        expected = vends.filter(expr)["id"].to_list()
        got = [v["id"] for v in walk(client, "/vends", limit=1000, **params)]
        assert got == expected, params
    # Consecutive windows share no vend and miss none.
    mid = (start + stop) // 2
    left = walk(client, "/vends", limit=1000, **{"from": start, "to": mid})
    right = walk(client, "/vends", limit=1000, **{"from": mid, "to": stop})
    assert [v["id"] for v in left + right] == vends.filter(
        (pl.col("ts") >= start) & (pl.col("ts") < stop)
    )["id"].to_list()


def test_device_detail_equals_the_world(client: httpx.Client, mock: Any) -> None:
    for row in world_items(mock.world.devices):
        r = client.get(f"/device/{row['id']}")
        assert r.status_code == 200
        assert body(r) == {"code": 200, "result": row}
    vend = world_items(mock.world.vends.slice(1234, 1))[0]
    assert body(client.get(f"/vend/{vend['id']}"))["result"] == vend


@pytest.mark.parametrize("path", ["/device/999999", "/device/abc", "/product/0", "/vend/-1"])
def test_unknown_item_is_404_item_not_found(client: httpx.Client, path: str) -> None:
    r = client.get(path)
    assert r.status_code == 404
    assert body(r) == {"code": 404, "result": "Item not found"}


@pytest.mark.parametrize("path", ["/nothing", "/vends/extra/segments"])
def test_unknown_endpoint_is_404_in_valinso_shape(client: httpx.Client, path: str) -> None:
    r = client.get(path)
    assert r.status_code == 404
    b = body(r)
    assert b["code"] == 404 and isinstance(b["result"], str)


def test_unknown_version_is_404_in_valinso_shape(mock: Any) -> None:
    with _client(mock, key=mock.credentials.valinso_api_key, version="9.9.9") as c:
        r = c.get("/vends")
    assert r.status_code == 404
    assert body(r)["code"] == 404


def test_head_and_200_serve_identical_bodies(mock: Any, client: httpx.Client) -> None:
    key = mock.credentials.valinso_api_key
    with _client(mock, key=key, version="2.0.0") as pinned:
        for path, params in [("/devices", {}), ("/vends", {"offset": 50, "limit": 20})]:
            assert (
                pinned.get(path, params=params).content == client.get(path, params=params).content
            )


# -- bad parameters -----------------------------------------------------------------------------


def test_limit_above_maximum_is_400(client: httpx.Client) -> None:
    r = client.get("/vends", params={"limit": 1001})
    assert r.status_code == 400
    assert body(r) == {"code": 400, "result": "limit must be at most 1000"}
    assert client.get("/vends", params={"limit": 1000}).status_code == 200


@pytest.mark.parametrize(
    "params",
    [
        {"limit": 0},
        {"limit": -1},
        {"limit": "abc"},
        {"limit": ""},
        {"offset": -5},
        {"offset": "1.5"},
        {"from": "yesterday"},
        {"to": "1.5e9"},
        {"device_id": "x"},
        {"from": 1_800_000_000, "to": 1_700_000_000},
    ],
)
def test_bad_parameters_are_400_with_a_text_result(client: httpx.Client, params: dict) -> None:
    r = client.get("/vends", params=params)
    assert r.status_code == 400
    b = body(r)
    assert b["code"] == 400 and isinstance(b["result"], str) and set(b) == {"code", "result"}
    assert next(iter(params)) in b["result"]


# -- headers ------------------------------------------------------------------------------------


def test_date_and_expires_in_the_past(client: httpx.Client) -> None:
    for r in (client.get("/vends"), client.get("/device/1"), client.get("/device/0")):
        date = parsedate_to_datetime(r.headers.get_list("Date")[0])
        assert abs((date - datetime.now(UTC)).total_seconds()) < 60
        assert parsedate_to_datetime(r.headers["Expires"]) < date
        assert r.headers["Content-Type"].startswith("application/json")


# -- POST ---------------------------------------------------------------------------------------


def test_post_location_422_in_the_documented_shape(client: httpx.Client) -> None:
    r = client.post(
        "/locations",
        json={"name": "N" * 51, "email": "not an address " + "x" * 100, "phone": "0612345678x" * 2},
    )
    assert r.status_code == 422
    assert body(r) == {
        "code": 422,
        "result": {
            "errors": {
                "client_id": ["Client cannot be blank."],
                "name": ["Name is too long (maximum is 50 characters)."],
                "email": [
                    "E-mail is not a valid email address.",
                    "E-mail is too long (maximum is 100 characters).",
                ],
                "phone": [
                    "Phone is too long (maximum is 20 characters).",
                    "Phone must be a number.",
                ],
            }
        },
    }


def test_post_location_201_adds_it_to_the_world(client: httpx.Client, mock: Any) -> None:
    before = mock.world.locations.height
    new = {
        "client_id": 7,
        "name": "Kantine Noord",
        "email": "kantine@voorbeeld.nl",
        "phone": "0201234567",
        "city": "Amsterdam",
        "latitude": 52.37,
        "longitude": 4.89,
    }
    r = client.post("/locations", json=new)
    assert r.status_code == 201
    b = body(r)
    assert b["code"] == 201
    created = b["result"]
    world = mock.world
    assert world.locations.height == before + 1
    assert created["id"] == world.locations["id"].max()
    assert {k: created[k] for k in ("client_id", "name", "email", "phone", "city")} == {
        k: new[k] for k in ("client_id", "name", "email", "phone", "city")
    }
    assert created["address"] is None
    row = world.locations.filter(pl.col("id") == created["id"]).row(0, named=True)
    assert {k: row[k] for k in new if k not in ("latitude", "longitude")} == {
        k: new[k] for k in new if k not in ("latitude", "longitude")
    }
    assert walk(client, "/locations", limit=100) == world_items(world.locations)
    assert body(client.get(f"/location/{created['id']}"))["result"]["name"] == "Kantine Noord"


def test_post_vends_422_collects_errors_of_several_items_and_fields(client: httpx.Client) -> None:
    items = [
        {"device_id": 1, "product_id": 1, "timestamp": 1_760_000_000},  # valid
        {"device_id": 999_999, "product_id": "two", "quantity": 0, "timestamp": "noon"},
        {"quantity": 2, "price": "free", "payment_type": "barter"},
        "not an object",
    ]
    r = client.post("/vends", json={"items": items})
    assert r.status_code == 422
    assert body(r) == {
        "code": 422,
        "result": {
            "errors": {
                "items[1].device_id": ['Device "999999" is invalid.'],
                "items[1].product_id": ["Product must be an integer."],
                "items[1].quantity": ["Quantity is too small (minimum is 1)."],
                "items[1].timestamp": ["Timestamp must be an integer."],
                "items[2].device_id": ["Device cannot be blank."],
                "items[2].product_id": ["Product cannot be blank."],
                "items[2].price": ["Price must be a number."],
                "items[2].payment_type": ["Payment Type is not in the list."],
                "items[2].timestamp": ["Timestamp cannot be blank."],
                "items[3]": ["Item must be an object."],
            }
        },
    }


@pytest.mark.parametrize("payload", [{}, {"items": []}, {"items": {"device_id": 1}}])
def test_post_vends_without_items_is_422(client: httpx.Client, payload: dict) -> None:
    r = client.post("/vends", json=payload)
    assert r.status_code == 422
    errors = body(r)["result"]["errors"]
    assert list(errors) == ["items"] and len(errors["items"]) == 1


def test_post_vends_201_fills_defaults_and_adds_them(client: httpx.Client, mock: Any) -> None:
    world = mock.world
    total = world.vends.height
    device = world.devices.row(2, named=True)
    product = world.products.row(4, named=True)
    items = [
        {"device_id": device["id"], "product_id": product["id"], "timestamp": 1_760_000_000},
        {
            "device_id": device["id"],
            "product_id": product["id"],
            "timestamp": 1_760_000_060,
            "quantity": 3,
            "price": 2.5,
            "payment_type": "cash",
            "selection": "B7",
        },
    ]
    r = client.post("/vends", json={"items": items})
    assert r.status_code == 201
    b = json.loads(r.content, parse_float=str)
    assert b["code"] == 201
    first, second = b["result"]
    assert first["id"] > world.vends["id"].max() and second["id"] == first["id"] + 1
    assert first["location_id"] == device["location_id"]
    assert Decimal(first["price"]) == product["price"] and first["quantity"] == 1
    assert (second["price"], second["quantity"], second["payment_type"]) == ("2.50", 3, "cash")
    assert first["timestamp"] == 1_760_000_000 and first["status"] == "success"
    now = mock.world
    assert now.vends.height == total + 2
    assert body(client.get("/vends", params={"limit": 1}))["paging"]["total"] == total + 2
    added = now.vends.filter(pl.col("id") >= first["id"])
    assert added["payment_type"].to_list() == ["card", "cash"]
    assert added["price"].to_list() == [product["price"], Decimal("2.50")]
    # the new vends answer the filters too (unix seconds, from inclusive, to exclusive)
    window = {"device_id": device["id"], "from": 1_760_000_000, "to": 1_760_000_061}
    ids = [v["id"] for v in body(client.get("/vends", params=window))["result"]]
    assert {first["id"], second["id"]} <= set(ids)


@pytest.mark.parametrize("content", [b"{not json", b"", b"[1, 2]"])
def test_post_bad_json_is_400(client: httpx.Client, content: bytes) -> None:
    for path in ("/vends", "/locations"):
        r = client.post(path, content=content, headers={"Content-Type": "application/json"})
        assert r.status_code == 400
        b = body(r)
        assert b["code"] == 400 and isinstance(b["result"], str)


def test_wrong_method_is_405_in_valinso_shape(client: httpx.Client) -> None:
    r = client.delete("/vends")
    assert r.status_code == 405
    assert body(r)["code"] == 405
