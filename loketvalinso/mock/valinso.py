"""The embedded mock of the Valinso vending API, served from the world's frames.

Protocol (the public documentation page, plus the assumptions in DESIGN.md)
--------------------------------------------------------------------------
- Base paths ``/api/head/valinso_api/`` and ``/api/2.0.0/valinso_api/``. The mock serves **identical**
  behaviour and bodies under both: the public page documents no difference, and inventing one would
  teach the client something the real API may not do. Any other version or path under ``/api`` is a
  404 in the Valinso error shape.
- ``api-key`` header on every request: missing/blank → 401, wrong → 403; the key is never echoed.
  Authentication is checked before routing, so unknown endpoints also need a key.
- Every body is ``{"code": <HTTP status>, "result": ...}``; lists add
  ``"paging": {"total", "offset", "limit"}``; errors have a text ``result``; 422 has
  ``{"errors": {field: [messages]}}`` with Yii-style messages as in the documentation's example.
- Paging: ``offset`` (default 0) and ``limit`` (default :data:`DEFAULT_LIMIT`, 1 ≤ limit ≤
  :data:`MAX_LIMIT`); anything else is a 400. An offset past the end gives an empty ``result``.
- Items use the Valinso field names of DESIGN.md (``id, device_id, product_id, location_id,
  selection, quantity, price, currency, payment_type, status, timestamp`` for vends); timestamps
  are unix integer seconds, prices JSON numbers with two decimals (``1.50``); listings are in
  world order (ascending ``id``).

Endpoints
---------
``GET /vends`` (filters ``device_id``; ``from`` and ``to`` in unix seconds, **from inclusive, to
exclusive**, so consecutive windows never share a vend; ``from > to`` → 400), ``GET /devices``,
``GET /products``, ``GET /locations``, ``GET /device/{id}`` (and ``/product/{id}``,
``/location/{id}``, ``/vend/{id}``; unknown or non-integer id → 404 ``"Item not found"``),
``POST /vends`` with ``{"items": [...]}`` (field errors keyed ``items[i].field``) and
``POST /locations`` with one location object (field errors keyed by field, as in the
documentation's example). Accepted POSTs answer 201 with the created item(s) and new ids, and the
world changes: later GETs list them (``m.world`` is the ground truth after the write).
``PUT /{device|product|location|vend}/{id}`` changes the fields given (the others keep their
values; every rule of the resource runs on the result: 422 with field errors) and answers 200 with
the item; ``DELETE`` of the same paths removes it and answers 200 with the removed item (a device,
product or location that vends refer to is refused with 400).

Headers: ``Date`` on every response, and ``Expires`` in the past ("do not reuse") unless the fault
injector announces ``expires_seconds``; then list pages carry ``Expires: now + that``.

Faults (:mod:`loketvalinso.mock.faults`) are applied by the app around :meth:`ValinsoApi.handle`;
this module only reads ``expires_seconds`` and asks ``drift_offset(key)`` on list endpoints. With
drift, a listing's request gets ``d`` extra rows appended after the real ones: copies of the last
real row of that listing with new ids beyond the world's largest (an empty listing stays empty).
"""

from __future__ import annotations

import hmac
import re
import threading
import time
import weakref
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

import orjson
import polars as pl

from loketvalinso.mock._http import MockRequest, MockResponse, Router, http_date, json_response
from loketvalinso.mock.faults import FaultConfig, FaultInjector
from loketvalinso.mock.state import Changes, WorldState
from loketvalinso.mock.world_edits import edit_rows

if TYPE_CHECKING:
    from loketvalinso.mock.world import World

__all__ = ["API_VERSIONS", "DEFAULT_LIMIT", "MAX_LIMIT", "MAX_POST_ITEMS", "ValinsoApi"]

API_VERSIONS = ("head", "2.0.0")
DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
MAX_POST_ITEMS = 1000

_TABLES = ("vends", "devices", "products", "locations")
_DETAIL_TABLES = {
    "device": "devices",
    "product": "products",
    "location": "locations",
    "vend": "vends",
}
_PAST = http_date(0)
_UINT = re.compile(r"^\d{1,18}$")
# Yii's integer pattern (what the real API's "must be a number" check on phone accepts).
_YII_INTEGER = re.compile(r"^\s*[+-]?\d+\s*$")
# Yii's CEmailValidator pattern.
_EMAIL = re.compile(
    r"^[a-zA-Z0-9!#$%&'*+\/=?^_`{|}~-]+(?:\.[a-zA-Z0-9!#$%&'*+\/=?^_`{|}~-]+)*"
    r"@(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?\.)+[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?$"
)
_FILTER_CACHE_SIZE = 64
_CENT = Decimal("0.01")
_MAX_PRICE = Decimal("99999999.99")  # Decimal(10, 2)
#: The states a device may be in (the world draws from these).
_DEVICE_STATUSES = ("active", "maintenance", "inactive")


class _BadRequest(Exception):
    """A 400 with this text as ``result`` (raised while reading parameters)."""


# -- pre-encoded tables -------------------------------------------------------------------------


def encode_rows(frame: pl.DataFrame) -> list[bytes]:
    """Each row of ``frame`` as one compact JSON object, in column order, encoded by Polars.

    Datetimes become unix integer seconds; decimals become JSON numbers that keep their scale
    (``1.50``), which ``json_encode`` alone would write as strings.
    """
    if frame.height == 0:
        return []
    frame = frame.with_columns(
        pl.col(name).dt.epoch("s")
        for name, dtype in frame.schema.items()
        if isinstance(dtype, pl.Datetime)
    )
    parts: list[pl.Expr] = []
    segment: list[str] = []

    def flush() -> None:
        if segment:
            encoded = pl.struct(list(segment)).struct.json_encode()
            parts.append(encoded.str.strip_prefix("{").str.strip_suffix("}"))
            segment.clear()

    for name, dtype in frame.schema.items():
        if isinstance(dtype, pl.Decimal):
            flush()
            key = orjson.dumps(name).decode() + ":"
            value = pl.col(name).cast(pl.String).fill_null("null")
            parts.append(pl.concat_str([pl.lit(key), value]))
        else:
            segment.append(name)
    flush()
    row = pl.concat_str([pl.lit("{"), pl.concat_str(parts, separator=","), pl.lit("}")])
    return frame.select(row.cast(pl.Binary)).to_series().to_list()


@dataclass(slots=True)
class _Table:
    rows: list[bytes]
    ids: pl.Series
    max_id: int


class _WorldTables:
    """The world's Valinso frames, encoded once (lazily) and shared by every API on that world."""

    def __init__(self, world: World) -> None:
        self._world = world
        self._lock = threading.Lock()
        self._tables: dict[str, _Table] = {}
        self._vend_keys: pl.DataFrame | None = None
        #: vend filters (device, from, to) → selected rows, of this world's vends
        self.filters: OrderedDict[tuple[Any, ...], pl.Series] = OrderedDict()

    def changed(self, world: World, changes: Changes) -> _WorldTables:
        """The tables of ``world``, a changed copy of this one's: a frame that only grew keeps
        its encoded rows and encodes the new ones; other changed frames are encoded again."""
        new = _WorldTables(world)
        for name, table in self._tables.items():
            old_frame: pl.DataFrame = getattr(self._world, name)
            frame: pl.DataFrame = getattr(world, name)
            if frame is old_frame:
                new._tables[name] = table
            elif (
                name in changes
                and frame.height > old_frame.height
                and frame.slice(0, old_frame.height).equals(old_frame)
            ):
                rows = table.rows + encode_rows(frame.slice(old_frame.height))
                ids = frame.get_column("id")
                new._tables[name] = _Table(rows, ids, max(table.max_id, int(ids.max())))  # type: ignore[arg-type]
        if "vends" not in changes:
            new._vend_keys = self._vend_keys
            new.filters = self.filters
        return new

    def table(self, name: str) -> _Table:
        table = self._tables.get(name)
        if table is None:
            with self._lock:
                table = self._tables.get(name)
                if table is None:
                    frame: pl.DataFrame = getattr(self._world, name)
                    ids = frame.get_column("id")
                    max_id = int(ids.max()) if frame.height else 0  # type: ignore[arg-type]
                    table = _Table(encode_rows(frame), ids, max_id)
                    self._tables[name] = table
        return table

    def vend_keys(self) -> pl.DataFrame:
        """Row index, device id and unix seconds of every vend, for filtering."""
        keys = self._vend_keys
        if keys is None:
            with self._lock:
                keys = self._vend_keys
                if keys is None:
                    keys = self._world.vends.select(
                        pl.col("device_id"), pl.col("timestamp").dt.epoch("s").alias("ts")
                    ).with_row_index("i")
                    self._vend_keys = keys
        return keys


_WORLD_TABLES: dict[int, _WorldTables] = {}
_WORLD_TABLES_LOCK = threading.Lock()


def _tables_for(world: World) -> _WorldTables:
    # Keyed by id() because World holds DataFrames (unhashable); the finalizer drops the entry
    # when the world goes away, before its id can be reused.
    with _WORLD_TABLES_LOCK:
        tables = _WORLD_TABLES.get(id(world))
        if tables is None:
            tables = _WorldTables(world)
            _WORLD_TABLES[id(world)] = tables
            weakref.finalize(world, _WORLD_TABLES.pop, id(world), None)
        return tables


def _encode_item(item: dict[str, Any], decimals: Sequence[str] = ()) -> bytes:
    """One created item as JSON; ``decimals`` are written as numbers with two decimals."""
    fields = []
    for key, value in item.items():
        if key in decimals and value is not None:
            encoded = f"{value:.2f}".encode()
        else:
            encoded = orjson.dumps(value)
        fields.append(orjson.dumps(key) + b":" + encoded)
    return b"{" + b",".join(fields) + b"}"


# -- the API ------------------------------------------------------------------------------------


class ValinsoApi:
    """Serves the Valinso API from ``world``.

    Parameters
    ----------
    world : World
        The ground truth; its frames are read, never changed.
    faults : FaultInjector or FaultConfig, optional
        The app's injector, read for ``expires_seconds`` and ``drift_offset`` (pass the same
        injector the app applies, so drift counts every request once). A bare config gets its
        own injector.
    clock : callable, optional
        Wall-clock seconds, for ``Date`` and ``Expires``.
    """

    def __init__(
        self,
        world: World,
        *,
        faults: FaultInjector | FaultConfig | None = None,
        clock: Callable[[], float] = time.time,
        state: WorldState | None = None,
    ) -> None:
        self._state = state if state is not None else WorldState(world)
        self.world = self._state.world
        self.faults = FaultInjector(faults) if isinstance(faults, FaultConfig) else faults
        self._clock = clock
        self._api_key = self.world.credentials.valinso_api_key.encode()
        self._tables = _tables_for(self.world)
        self._lock = threading.Lock()
        self._lookup_cache: Any = None
        self._router = Router()
        for name in _TABLES:
            self._router.add("GET", name, self._list)
        for singular in _DETAIL_TABLES:
            self._router.add("GET", f"{singular}/{{item_id}}", self._detail)
            self._router.add("PUT", f"{singular}/{{item_id}}", self._put)
            self._router.add("DELETE", f"{singular}/{{item_id}}", self._delete)
        self._router.add("POST", "vends", self._post_vends)
        self._router.add("POST", "locations", self._post_location)
        self._state.subscribe(self._world_changed)

    def _world_changed(self, old: World, new: World, changes: Changes) -> None:
        if not set(changes) & set(_TABLES):
            self.world = new
            return
        with self._lock:
            self._tables = self._tables.changed(new, changes)
            self.world = new
            self._lookup_cache = None

    def __repr__(self) -> str:
        return f"ValinsoApi(world seed={self.world.seed}, faults={self.faults!r})"

    def warm(self) -> None:
        """Encode every table now instead of on its first request (e.g. from a startup thread)."""
        for name in _TABLES:
            self._tables.table(name)
        self._tables.vend_keys()

    # -- entry point -----------------------------------------------------------------------------

    def handle(self, req: MockRequest) -> MockResponse:
        """Answer one request under ``/api/{head|2.0.0}/valinso_api/``."""
        parts = [p for p in req.path.strip("/").split("/") if p]
        if (
            len(parts) < 3
            or parts[0].lower() != "api"
            or parts[1].lower() not in API_VERSIONS
            or parts[2].lower() != "valinso_api"
        ):
            return self._error(404, "Endpoint not found")
        key = (req.headers.get("api-key") or "").strip()
        if not key:
            return self._error(401, "API key is missing: send it in the api-key header")
        if not hmac.compare_digest(key.encode(), self._api_key):
            return self._error(403, "Invalid API key")
        match = self._router.match(req.method, "/".join(parts[3:]))
        if match is None:
            return self._error(404, "Endpoint not found")
        if match is False:
            return self._error(405, "Method not allowed")
        handler, params = match  # type: ignore[misc]
        resource = parts[3].lower()
        try:
            if req.method == "GET":
                return handler(req, resource, **params)
            with self._state.writing():  # checked and applied with no other write in between
                return handler(req, resource, **params)
        except _BadRequest as exc:
            return self._error(400, str(exc))

    # -- responses -------------------------------------------------------------------------------

    def _finish(self, resp: MockResponse, *, list_page: bool = False) -> MockResponse:
        now = self._clock()
        expires = getattr(self.faults, "expires_seconds", None)
        resp.headers.append(("Date", http_date(now)))
        if list_page and expires is not None:
            resp.headers.append(("Expires", http_date(now + expires)))
        else:
            resp.headers.append(("Expires", _PAST))
        return resp

    def _error(self, status: int, text: str) -> MockResponse:
        return self._finish(json_response(status, {"code": status, "result": text}))

    def _invalid(self, errors: dict[str, list[str]]) -> MockResponse:
        return self._finish(json_response(422, {"code": 422, "result": {"errors": errors}}))

    # -- GET -------------------------------------------------------------------------------------

    def _list(self, req: MockRequest, resource: str) -> MockResponse:
        offset = _int_param(req, "offset", default=0, minimum=0)
        limit = _int_param(req, "limit", default=DEFAULT_LIMIT, minimum=1, maximum=MAX_LIMIT)
        tables = self._tables  # one world's tables for the whole page (a write swaps them)
        table = tables.table(resource)
        selected = self._vend_selection(req, tables) if resource == "vends" else None
        total = table.ids.len() if selected is None else selected.len()
        end = min(offset + limit, total)
        if offset >= end:
            page: list[bytes] = []
        elif selected is None:
            page = table.rows[offset:end]
        else:
            rows = table.rows
            page = [rows[i] for i in selected.slice(offset, end - offset).to_list()]
        drift = 0
        if self.faults is not None and total:
            drift = self.faults.drift_offset(FaultInjector.listing_key(req))
        if drift:
            last = table.rows[total - 1 if selected is None else selected[total - 1]]
            page += _drift_rows(
                last,
                table.max_id,
                start=max(offset, total),
                stop=min(offset + limit, total + drift),
                real_total=total,
            )
            total += drift
        body = b"".join(
            (
                b'{"code":200,"result":[',
                b",".join(page),
                b'],"paging":{"total":%d,"offset":%d,"limit":%d}}' % (total, offset, limit),
            )
        )
        return self._finish(json_response(200, body), list_page=True)

    def _vend_selection(self, req: MockRequest, tables: _WorldTables) -> pl.Series | None:
        """Row indices of the vends the filters select (``None``: no filter, every vend)."""
        device_id = _int_param(req, "device_id", default=None, minimum=0)
        start = _int_param(
            req, "from", default=None, minimum=0, what="a unix timestamp in whole seconds"
        )
        stop = _int_param(
            req, "to", default=None, minimum=0, what="a unix timestamp in whole seconds"
        )
        if start is not None and stop is not None and start > stop:
            msg = f"from ({start}) must not be after to ({stop})"
            raise _BadRequest(msg)
        if device_id is None and start is None and stop is None:
            return None
        key = (device_id, start, stop)
        filters = tables.filters
        with self._lock:
            cached = filters.get(key)
            if cached is not None:
                filters.move_to_end(key)
                return cached
        conditions = []
        if device_id is not None:
            conditions.append(pl.col("device_id") == device_id)
        if start is not None:
            conditions.append(pl.col("ts") >= start)
        if stop is not None:
            conditions.append(pl.col("ts") < stop)
        selected = tables.vend_keys().filter(*conditions).get_column("i")
        with self._lock:
            filters[key] = selected
            while len(filters) > _FILTER_CACHE_SIZE:
                filters.popitem(last=False)
        return selected

    def _detail(self, req: MockRequest, resource: str, item_id: str) -> MockResponse:
        table = self._tables.table(_DETAIL_TABLES[resource])
        if not _UINT.match(item_id):
            return self._error(404, "Item not found")
        hits = (table.ids == int(item_id)).arg_true()
        if hits.len() == 0:
            return self._error(404, "Item not found")
        body = b'{"code":200,"result":' + table.rows[hits[0]] + b"}"
        return self._finish(json_response(200, body))

    # -- POST ------------------------------------------------------------------------------------

    def _post_vends(self, req: MockRequest, resource: str) -> MockResponse:
        payload = _json_object(req)
        items = payload.get("items")
        if items is None or items == []:
            return self._invalid({"items": ["Items cannot be blank."]})
        if not isinstance(items, list):
            return self._invalid({"items": ["Items must be a list."]})
        if len(items) > MAX_POST_ITEMS:
            msg = f"Items is too long (maximum is {MAX_POST_ITEMS} items)."
            return self._invalid({"items": [msg]})
        errors: dict[str, list[str]] = {}
        clean: list[dict[str, Any]] = []
        for i, item in enumerate(items):
            if not isinstance(item, dict):
                errors[f"items[{i}]"] = ["Item must be an object."]
                continue
            vend, item_errors = self._check_vend(item)
            for name, messages in item_errors.items():
                errors[f"items[{i}].{name}"] = messages
            clean.append(vend)
        if errors:
            return self._invalid(errors)
        created = self._store("vends", clean)
        body = (
            b'{"code":201,"result":['
            + b",".join(_encode_item(v, ("price",)) for v in created)
            + b"]}"
        )
        return self._finish(json_response(201, body))

    def _post_location(self, req: MockRequest, resource: str) -> MockResponse:
        payload = _json_object(req)
        location, errors = _check_location(payload)
        if errors:
            return self._invalid(errors)
        (created,) = self._store("locations", [location])
        return self._finish(
            json_response(201, b'{"code":201,"result":' + _encode_item(created) + b"}")
        )

    def _store(self, name: str, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Add ``items`` to the world with new ids (after the largest there)."""

        def edit(world: World) -> tuple[World, Changes, list[dict[str, Any]]]:
            frame: pl.DataFrame = getattr(world, name)
            next_id = int(frame["id"].max() or 0) + 1  # type: ignore[arg-type]
            created = [{"id": next_id + n, **item} for n, item in enumerate(items)]
            new, changes = edit_rows(world, name, add=[_world_row(name, c) for c in created])
            return new, changes, created

        return self._state.apply(edit)

    # -- PUT and DELETE --------------------------------------------------------------------------

    def _found(self, resource: str, item_id: str) -> tuple[str, dict[str, Any]] | None:
        """``(table, the item as the API shows it)`` of ``/{resource}/{item_id}``, or None."""
        table = _DETAIL_TABLES[resource]
        if not _UINT.match(item_id):
            return None
        frame: pl.DataFrame = getattr(self.world, table)
        hit = frame.filter(pl.col("id") == int(item_id))
        if hit.height == 0:
            return None
        return table, orjson.loads(encode_rows(hit)[0])

    def _put(self, req: MockRequest, resource: str, item_id: str) -> MockResponse:
        found = self._found(resource, item_id)
        if found is None:
            return self._error(404, "Item not found")
        table, current = found
        payload = _json_object(req)
        merged = {**current, **{k: v for k, v in payload.items() if k != "id"}}
        item, errors = self._check(table, merged)
        if errors:
            return self._invalid(errors)
        row = _world_row(table, {"id": current["id"], **item})
        self._state.apply(
            lambda w: (*edit_rows(w, table, update={current["id"]: _without_id(row)}), None)
        )
        updated = self._found(resource, item_id)
        assert updated is not None
        return self._finish(
            json_response(200, b'{"code":200,"result":' + orjson.dumps(updated[1]) + b"}")
        )

    def _delete(self, req: MockRequest, resource: str, item_id: str) -> MockResponse:
        found = self._found(resource, item_id)
        if found is None:
            return self._error(404, "Item not found")
        table, current = found
        column = {"devices": "device_id", "products": "product_id", "locations": "location_id"}
        if (
            table in column
            and self.world.vends.filter(pl.col(column[table]) == current["id"]).height
        ):
            label = resource.capitalize()
            return self._error(400, f"{label} {current['id']} has vends: it cannot be deleted")
        self._state.apply(lambda w: (*edit_rows(w, table, remove=[current["id"]]), None))
        return self._finish(
            json_response(200, b'{"code":200,"result":' + orjson.dumps(current) + b"}")
        )

    def _check(
        self, table: str, item: dict[str, Any]
    ) -> tuple[dict[str, Any], dict[str, list[str]]]:
        """``item`` (API fields) in world column order, and its field errors."""
        if table == "vends":
            return self._check_vend(item)
        if table == "locations":
            return _check_location(item)
        check = _Checker(item)
        if table == "devices":
            _, _, locations, _ = self._lookups()
            location_id = check.integer("location_id", "Location", required=True, minimum=1)
            if location_id is not None and location_id not in locations:
                check.add("location_id", f'Location "{location_id}" is invalid.')
            return {
                "location_id": location_id,
                "name": check.string("name", "Name", required=True, max_length=100),
                "serial_number": check.string("serial_number", "Serial Number", max_length=50),
                "model": check.string("model", "Model", max_length=100),
                "status": check.choice("status", "Status", _DEVICE_STATUSES),
                "installed_at": check.integer("installed_at", "Installed At", minimum=0),
            }, check.errors
        _, _, _, currencies = self._lookups()
        return {
            "name": check.string("name", "Name", required=True, max_length=100),
            "category": check.string("category", "Category", max_length=50),
            "price": check.decimal(
                "price", "Price", minimum=Decimal(0), maximum=_MAX_PRICE, cents=True
            ),
            "currency": check.choice("currency", "Currency", currencies),
        }, check.errors

    def _lookups(self) -> tuple[dict[int, int], dict[int, tuple[Any, str]], set[int], list[str]]:
        """Device → location, product → (price, currency), location ids, currencies (built once)."""
        lookups = self._lookup_cache
        if lookups is None:
            world = self.world
            devices = dict(
                zip(*world.devices.select("id", "location_id").get_columns(), strict=True)
            )
            products = {
                pid: (price, currency)
                for pid, price, currency in world.products.select(
                    "id", "price", "currency"
                ).iter_rows()
            }
            locations = set(world.locations.get_column("id").to_list())
            currencies = sorted(set(world.products.get_column("currency").to_list()) | {"EUR"})
            lookups = self._lookup_cache = (devices, products, locations, currencies)
        return lookups

    def _check_vend(self, item: dict[str, Any]) -> tuple[dict[str, Any], dict[str, list[str]]]:
        """A vend in world column order (defaults filled in) and its field errors."""
        check = _Checker(item)
        devices, products, locations, currencies = self._lookups()
        device_id = check.integer("device_id", "Device", required=True, minimum=1)
        if device_id is not None and device_id not in devices:
            check.add("device_id", f'Device "{device_id}" is invalid.')
        product_id = check.integer("product_id", "Product", required=True, minimum=1)
        if product_id is not None and product_id not in products:
            check.add("product_id", f'Product "{product_id}" is invalid.')
        location_id = check.integer("location_id", "Location", minimum=1)
        if location_id is not None and location_id not in locations:
            check.add("location_id", f'Location "{location_id}" is invalid.')
        device_location = devices.get(device_id) if device_id is not None else None
        product_price, product_currency = (
            products.get(product_id, (None, None)) if product_id is not None else (None, None)
        )
        selection = check.string("selection", "Selection", max_length=16)
        quantity = check.integer("quantity", "Quantity", minimum=1, maximum=1000)
        price = check.decimal("price", "Price", minimum=Decimal(0), maximum=_MAX_PRICE, cents=True)
        currency = check.choice("currency", "Currency", currencies)
        payment_type = check.choice(
            "payment_type", "Payment Type", ["cash", "card", "mobile", "contactless"]
        )
        status = check.choice("status", "Status", ["success", "failed", "refunded"])
        timestamp = check.integer("timestamp", "Timestamp", required=True, minimum=0)
        vend = {
            "device_id": device_id,
            "product_id": product_id,
            "location_id": location_id if location_id is not None else device_location,
            "selection": selection,
            "quantity": quantity if quantity is not None else 1,
            "price": price if price is not None else product_price,
            "currency": currency or product_currency or "EUR",
            "payment_type": payment_type or "card",
            "status": status or "success",
            "timestamp": timestamp,
        }
        return vend, check.errors


def _world_row(table: str, item: dict[str, Any]) -> dict[str, Any]:
    """An API item as a world row: unix seconds → datetimes, money → Decimal."""
    row = dict(item)
    for name in ("timestamp", "installed_at"):
        if isinstance(row.get(name), int):
            row[name] = datetime.fromtimestamp(row[name], UTC)
    if row.get("price") is not None:
        row["price"] = Decimal(str(row["price"])).quantize(_CENT, rounding=ROUND_HALF_UP)
    return row


def _without_id(row: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in row.items() if k != "id"}


def _drift_rows(last: bytes, max_id: int, *, start: int, stop: int, real_total: int) -> list[bytes]:
    """Drift rows at positions ``start``..``stop-1`` (``real_total`` onward): ``last`` with new ids."""
    if start >= stop:
        return []
    # Every encoded row starts with its id ("id" is the first column of each Valinso frame).
    comma = last.index(b",")
    rest = last[comma:]
    return [b'{"id":%d' % (max_id + 1 + pos - real_total) + rest for pos in range(start, stop)]


def _int_param(
    req: MockRequest,
    name: str,
    *,
    default: int | None,
    minimum: int,
    maximum: int | None = None,
    what: str = "a whole number",
) -> Any:
    raw = req.param(name)
    if raw is None:
        return default
    value = raw.strip()
    if not _UINT.match(value):
        shown = raw if len(raw) <= 40 else raw[:40] + "…"
        msg = f"{name} must be {what}, got {shown!r}"
        raise _BadRequest(msg)
    number = int(value)
    if number < minimum:
        msg = f"{name} must be at least {minimum}"
        raise _BadRequest(msg)
    if maximum is not None and number > maximum:
        msg = f"{name} must be at most {maximum}"
        raise _BadRequest(msg)
    return number


def _json_object(req: MockRequest) -> dict[str, Any]:
    try:
        payload = orjson.loads(req.body) if req.body.strip() else None
    except orjson.JSONDecodeError:
        payload = None
        valid = False
    else:
        valid = payload is not None
    if not valid:
        msg = "Request body must be valid JSON"
        raise _BadRequest(msg)
    if not isinstance(payload, dict):
        msg = "Request body must be a JSON object"
        raise _BadRequest(msg)
    return payload


class _Checker:
    """Yii-style field validation: every rule of a field runs, messages collect per field."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.data = data
        self.errors: dict[str, list[str]] = {}

    def add(self, field: str, message: str) -> None:
        self.errors.setdefault(field, []).append(message)

    def _present(self, field: str, label: str, required: bool) -> Any:
        value = self.data.get(field)
        if value is None or (isinstance(value, str) and not value.strip()):
            if required:
                self.add(field, f"{label} cannot be blank.")
            return None
        return value

    def integer(
        self,
        field: str,
        label: str,
        *,
        required: bool = False,
        minimum: int | None = None,
        maximum: int | None = None,
    ) -> int | None:
        value = self._present(field, label, required)
        if value is None:
            return None
        if isinstance(value, bool) or not (
            isinstance(value, int) or (isinstance(value, str) and _YII_INTEGER.match(value))
        ):
            self.add(field, f"{label} must be an integer.")
            return None
        number = int(value)
        return self._range(field, label, number, minimum, maximum)

    def decimal(
        self,
        field: str,
        label: str,
        *,
        minimum: Decimal,
        maximum: Decimal,
        cents: bool = False,
    ) -> Decimal | None:
        value = self._present(field, label, False)
        if value is None:
            return None
        try:
            if isinstance(value, bool) or not isinstance(value, int | float | str):
                raise InvalidOperation
            number = Decimal(str(value).strip())
            if not number.is_finite():
                raise InvalidOperation
        except InvalidOperation:
            self.add(field, f"{label} must be a number.")
            return None
        if cents:
            number = number.quantize(_CENT, rounding=ROUND_HALF_UP)
        return self._range(field, label, number, minimum, maximum)

    def _range(self, field: str, label: str, number: Any, minimum: Any, maximum: Any) -> Any:
        ok = True
        if minimum is not None and number < minimum:
            self.add(field, f"{label} is too small (minimum is {minimum}).")
            ok = False
        if maximum is not None and number > maximum:
            self.add(field, f"{label} is too big (maximum is {maximum}).")
            ok = False
        return number if ok else None

    def string(
        self, field: str, label: str, *, required: bool = False, max_length: int
    ) -> str | None:
        value = self._present(field, label, required)
        if value is None:
            return None
        if not isinstance(value, str):
            self.add(field, f"{label} must be a string.")
            return None
        if len(value) > max_length:
            self.add(field, f"{label} is too long (maximum is {max_length} characters).")
            return None
        return value

    def choice(self, field: str, label: str, allowed: Sequence[str]) -> str | None:
        value = self._present(field, label, False)
        if value is None:
            return None
        if value not in allowed:
            self.add(field, f"{label} is not in the list.")
            return None
        return value


def _check_location(data: dict[str, Any]) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """A location in world column order and its errors, in the documentation's message order."""
    check = _Checker(data)
    client_id = check.integer("client_id", "Client", required=True, minimum=1)
    name = check.string("name", "Name", required=True, max_length=50)
    email = check._present("email", "E-mail", False)
    if email is not None:
        # Both rules run, as in the documentation's example (invalid and too long at once).
        if not isinstance(email, str) or not _EMAIL.match(email):
            check.add("email", "E-mail is not a valid email address.")
        if isinstance(email, str) and len(email) > 100:
            check.add("email", "E-mail is too long (maximum is 100 characters).")
    phone = check._present("phone", "Phone", False)
    if phone is not None:
        if isinstance(phone, int) and not isinstance(phone, bool):
            phone = str(phone)
        if isinstance(phone, str) and len(phone) > 20:
            check.add("phone", "Phone is too long (maximum is 20 characters).")
        if not isinstance(phone, str) or not _YII_INTEGER.match(phone):
            check.add("phone", "Phone must be a number.")
    address = check.string("address", "Address", max_length=255)
    city = check.string("city", "City", max_length=100)
    latitude = check.decimal("latitude", "Latitude", minimum=Decimal(-90), maximum=Decimal(90))
    longitude = check.decimal("longitude", "Longitude", minimum=Decimal(-180), maximum=Decimal(180))
    location = {
        "client_id": client_id,
        "name": name,
        "email": email if "email" not in check.errors else None,
        "phone": phone if "phone" not in check.errors else None,
        "address": address,
        "city": city,
        "latitude": float(data["latitude"]) if latitude is not None else None,
        "longitude": float(data["longitude"]) if longitude is not None else None,
    }
    return location, check.errors
