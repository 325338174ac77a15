"""Raw page bytes → typed Polars DataFrames, with a fixed schema per resource version.

The whole page is decoded natively by ``pl.read_json`` with a struct dtype derived from the
catalogue (Loket) or from the documented/assumed fields (Valinso); the items are then flattened,
converted and exploded with Polars expressions. No per-row Python objects on the hot path, no
inference from the first rows: an empty page has the same columns and dtypes as a full one.

Conventions
-----------
* Column names are snake_case (``raw_names=True`` keeps the API's names, nested paths joined with
  ``.``, e.g. ``leaveType.key``).
* ``format: date`` → ``pl.Date``; ``date-time`` → ``pl.Datetime("us", "UTC")`` (offsets applied;
  a time without offset is taken as UTC); int32 → Int32; other integers → Int64; numbers →
  Float64; booleans → Boolean; strings, uuids, urls → String.
* A metadata object ``{key, value, ...}`` named ``field`` becomes ``field_key`` + ``field`` (+
  ``field_<extra>`` for extra keys, e.g. ``country_iso_code``, ``leave_type_balance_exceeds_year``).
* Other nested objects are flattened with ``_`` over their full path (``address_city``,
  ``personal_details_first_name``, ``contact_information_business_email_address``).
* Arrays in :data:`DEFAULT_EXPLODE` (``leaveBalance``, ``calendar``, ``payrollPeriods`` →
  ``payslipTypes`` → ``payrollComponentResults``) are exploded to one row per element, parent
  fields repeated (an empty array keeps one row with nulls); their element fields are named
  without the array's prefix unless that collides with a parent column (then
  ``<array>_<field>``). Other arrays are ``List`` columns (object elements as ``Struct`` with
  snake_case field names).
* Path ids become leading String columns (``employer_id``, ``employment_id``, …).
* Free-form fields (no declared properties) are JSON text (String).
* Fields the server sends that the schema does not declare are kept as extra columns at the end
  (typed when their values are all bool, int, float or str, JSON text otherwise). They are
  detected by counting keys in the body, so the typed hot path stays native; unknown keys inside
  array elements are not added.
* Valinso: documented/assumed columns always present; ids Int64, ``quantity`` Int32, money as
  ``pl.Decimal(10, 2)`` (number or string in the JSON), unix seconds → ``pl.Datetime("us", "UTC")``.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import io
import itertools
import math
import os
import re
import struct
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, overload

import orjson
import polars as pl

from loketvalinso.cache import submit_background_write
from loketvalinso.catalog import Catalog, Endpoint, get_catalog, snake_case
from loketvalinso.errors import ResponseFormatError

__all__ = [
    "DEFAULT_EXPLODE",
    "MONEY",
    "UTC_DATETIME",
    "VALINSO_FIELDS",
    "FrameSpec",
    "concat_pages",
    "convert_raw",
    "empty_frame",
    "is_raw",
    "parse_page",
    "parse_pages",
    "schema_for",
    "valinso_devices_spec",
    "valinso_locations_spec",
    "valinso_products_spec",
    "valinso_spec",
    "valinso_vends_spec",
]

UTC_DATETIME = pl.Datetime("us", "UTC")
#: Valinso money (the mock world uses the same dtype).
MONEY = pl.Decimal(10, 2)
#: Array fields exploded by default (dotted paths relative to the item).
DEFAULT_EXPLODE = frozenset(
    {
        "leaveBalance",
        "calendar",
        "payrollPeriods",
        "payrollPeriods.payslipTypes",
        "payrollPeriods.payslipTypes.payrollComponentResults",
    }
)
_PAGING = ("currentPage", "pageSize", "totalPages", "totalSize")
_ROW = "__row"

Node = list[Any]  # [name, type, format, nullable, extra] (see scripts/derive_catalog.py)


def _n(name: str, t: str, fmt: str | None = None) -> Node:
    return [name, t, fmt, 1, None]


#: Valinso item fields: the documented-assumed ones (DESIGN.md) and the mock's assumptions.
VALINSO_FIELDS: dict[str, list[Node]] = {
    "vends": [
        _n("id", "integer", "int64"),
        _n("device_id", "integer", "int64"),
        _n("product_id", "integer", "int64"),
        _n("location_id", "integer", "int64"),
        _n("selection", "string"),
        _n("quantity", "integer", "int32"),
        _n("price", "number", "decimal"),
        _n("currency", "string"),
        _n("payment_type", "string"),
        _n("status", "string"),
        _n("timestamp", "integer", "unix"),
    ],
    "devices": [
        _n("id", "integer", "int64"),
        _n("location_id", "integer", "int64"),
        _n("name", "string"),
        _n("serial_number", "string"),
        _n("model", "string"),
        _n("status", "string"),
        _n("installed_at", "integer", "unix"),
    ],
    "products": [
        _n("id", "integer", "int64"),
        _n("name", "string"),
        _n("category", "string"),
        _n("price", "number", "decimal"),
        _n("currency", "string"),
    ],
    "locations": [
        _n("id", "integer", "int64"),
        _n("client_id", "integer", "int64"),
        _n("name", "string"),
        _n("email", "string"),
        _n("phone", "string"),
        _n("address", "string"),
        _n("city", "string"),
        _n("latitude", "number", "double"),
        _n("longitude", "number", "double"),
    ],
}


@dataclass(frozen=True)
class FrameSpec:
    """How to decode one resource version: the envelope dtype and the post-processing plan.

    Attributes
    ----------
    api : {"loket", "valinso"}
    envelope : str
        ``embedded``, ``embedded_object``, ``content``, ``content_list``, ``bare`` (Loket) or
        ``result`` (Valinso).
    decode : dict[str, pl.DataType]
        The schema given to ``pl.read_json`` for the whole body (body key as a list of items).
    schema : pl.Schema
        The output columns and dtypes (path ids first).
    """

    api: str
    envelope: str
    name: str
    version: str | None
    item: Node
    nodes: list[list[Node]] = field(repr=False)
    decode: dict[str, pl.DataType] = field(repr=False)
    item_dtype: pl.DataType | None = field(repr=False)
    item_dtype_loose: pl.DataType | None = field(repr=False)
    path_columns: tuple[tuple[str, str], ...]  # (param name, column)
    explodes: tuple[tuple[str, pl.Expr], ...] = field(repr=False)
    outputs: tuple[tuple[str, pl.Expr], ...] = field(repr=False)
    schema: pl.Schema = field(repr=False)
    any_paths: tuple[tuple[tuple[str, ...], str], ...] = field(repr=False)
    known_paths: frozenset[tuple[str, ...]] = field(repr=False)
    raw_names: bool = False
    wrapped: bool = False
    body_keys: tuple[str, ...] = ("_embedded", "content")
    #: (output index, fast conversion, source) of top-level date/date-time columns: the fast
    #: expression (one strict format) is used for a whole frame when it converts every non-null
    #: value; otherwise the column is converted again with the full (multi-format) expression.
    fast: tuple[tuple[int, pl.Expr, pl.Expr], ...] = field(default=(), repr=False)
    #: Number of item fields when the item is an object of scalars only, else None.
    flat_fields: int | None = None

    @property
    def columns(self) -> list[str]:
        return list(self.schema.names())

    @functools.cached_property
    def decode_variants(self) -> list[dict[str, pl.DataType]]:
        """Envelope schemas to try: the declared shape first, then object/list swapped."""
        return _decode_variants(self)


# -- building a spec -----------------------------------------------------------------------------
def _children(node: Node, nodes: list[list[Node]]) -> list[Node]:
    extra = node[4]
    return nodes[extra] if isinstance(extra, int) else list(extra or [])


def _decode_dtype(node: Node, nodes: list[list[Node]], loose: bool = False) -> pl.DataType | None:
    """The dtype ``pl.read_json`` decodes a field with (``loose``: money as text, float times)."""
    t, fmt = node[1], node[2]
    if t == "string":
        return pl.String()
    if t == "integer":
        if fmt == "unix":
            return pl.Float64() if loose else pl.Int64()
        return pl.Int32() if fmt == "int32" else pl.Int64()
    if t == "number":
        return pl.String() if fmt == "decimal" and loose else pl.Float64()
    if t == "boolean":
        return pl.Boolean()
    if t == "object":
        fields = [
            pl.Field(c[0], d)
            for c in _children(node, nodes)
            if (d := _decode_dtype(c, nodes, loose)) is not None
        ]
        return pl.Struct(fields) if fields else None
    if t == "array":
        inner = _decode_dtype(node[4], nodes, loose)
        return pl.List(inner) if inner is not None else None
    return None  # "any": free-form, filled as JSON text from the slow path


def _is_meta(children: list[Node]) -> bool:
    names = {c[0]: c for c in children}
    return (
        "key" in names
        and "value" in names
        and names["value"][1] in ("string", "integer", "number", "boolean")
    )


def _parse_datetime(e: pl.Expr) -> pl.Expr:
    text = e.str.replace(r"[Zz]$", "+00:00").str.replace(" ", "T", literal=True)
    with_offset = text.str.to_datetime(
        "%Y-%m-%dT%H:%M:%S%.f%:z", strict=False, time_unit="us", time_zone="UTC"
    )
    naive = (
        text.str.slice(0, 26)
        .str.to_datetime("%Y-%m-%dT%H:%M:%S%.f", strict=False, time_unit="us")
        .dt.replace_time_zone("UTC")
    )
    date_only = text.str.slice(0, 10).str.to_date("%Y-%m-%d", strict=False).cast(UTC_DATETIME)
    return pl.coalesce(with_offset, naive, date_only)


def _fast_convert(e: pl.Expr, node: Node) -> pl.Expr | None:
    """The one-format conversion of a date/date-time string (None for other fields)."""
    if node[1] != "string":
        return None
    if node[2] == "date":
        return e.str.to_date("%Y-%m-%d", strict=False)
    if node[2] == "date-time":
        return e.str.to_datetime("%+", strict=False, time_unit="us", time_zone="UTC")
    return None


def _convert(e: pl.Expr, node: Node, nodes: list[list[Node]], raw: bool) -> tuple[pl.Expr, Any]:
    """A value expression converted to its output dtype (for scalars and List/Struct values)."""
    t, fmt = node[1], node[2]
    if t == "string":
        if fmt == "date":
            return e.str.slice(0, 10).str.to_date("%Y-%m-%d", strict=False), pl.Date()
        if fmt == "date-time":
            return _parse_datetime(e), UTC_DATETIME
        return e, pl.String()
    if t == "integer" and fmt == "unix":
        micros = (e.cast(pl.Float64) * 1e6).round(0).cast(pl.Int64, strict=False)
        return micros.cast(UTC_DATETIME), UTC_DATETIME
    if t == "number" and fmt == "decimal":
        return e.cast(MONEY, strict=False), MONEY
    if t in ("integer", "number", "boolean"):
        return e, _decode_dtype(node, nodes)
    if t == "object":
        parts, fields = [], []
        for c in _children(node, nodes):
            if _decode_dtype(c, nodes) is None:
                continue
            name = c[0] if raw else snake_case(c[0])
            ce, cd = _convert(e.struct.field(c[0]), c, nodes, raw)
            parts.append(ce.alias(name))
            fields.append(pl.Field(name, cd))
        if not fields:
            return pl.lit(None, pl.String()), pl.String()
        return pl.when(e.is_not_null()).then(pl.struct(parts)), pl.Struct(fields)
    if t == "array":
        item = node[4]
        if _decode_dtype(item, nodes) is None:
            return pl.lit(None, pl.String()), pl.String()
        ie, idt = _convert(pl.element(), item, nodes, raw)
        return e.list.eval(ie), pl.List(idt)
    return pl.lit(None, pl.String()), pl.String()


class _Planner:
    def __init__(self, nodes: list[list[Node]], raw: bool, explode: frozenset[str]) -> None:
        self.nodes = nodes
        self.raw = raw
        self.explode = explode
        self.outputs: list[tuple[str, pl.Expr, pl.DataType, Any]] = []
        self.explodes: list[tuple[str, pl.Expr]] = []
        self.any_paths: list[tuple[tuple[str, ...], str]] = []
        self.known: set[tuple[str, ...]] = set()
        self.used: set[str] = set()

    def name(self, parts: list[str], raw_path: tuple[str, ...]) -> str:
        if self.raw:
            return ".".join(raw_path)
        return "_".join(p for p in parts if p)

    def add(self, name: str, expr: pl.Expr, dtype: Any, fast: Any = None) -> None:
        base, i = name, 2
        while name in self.used:
            name = f"{base}_{i}"
            i += 1
        self.used.add(name)
        self.outputs.append((name, expr.alias(name), dtype, fast))

    def walk(
        self,
        src: pl.Expr,
        node: Node,
        parts: list[str],
        raw_path: tuple[str, ...],
        dotted: str,
        top: bool,
    ) -> list[tuple[pl.Expr, Node, list[str], tuple[str, ...], str]]:
        """Add the columns of an object node; returns deferred exploded arrays."""
        deferred = []
        children = _children(node, self.nodes)
        meta = _is_meta(children) and not top
        for c in children:
            cname, ctype = c[0], c[1]
            cpath = (*raw_path, cname)
            cdot = f"{dotted}.{cname}" if dotted else cname
            self.known.add(cpath)
            if meta and cname == "key":
                cparts = [*parts, "key"]
            elif meta and cname == "value":
                cparts = list(parts)
            else:
                cparts = [*parts, snake_case(cname)]
            ce = src.struct.field(cname)
            if ctype == "object":
                deferred += self.walk(ce, c, cparts, cpath, cdot, False)
            elif ctype == "array" and cdot in self.explode and c[4][1] == "object":
                deferred.append((ce, c[4], cparts, cpath, cdot))
            elif ctype == "any" or _decode_dtype(c, self.nodes) is None:
                name = self.name(cparts, cpath)
                self.add(name, pl.lit(None, pl.String()), pl.String())
                self.any_paths.append((cpath, self.outputs[-1][0]))
            else:
                expr, dtype = _convert(ce, c, self.nodes, self.raw)
                quick = _fast_convert(ce, c)
                self.add(
                    self.name(cparts, cpath), expr, dtype, None if quick is None else (quick, ce)
                )
        return deferred

    def run(self, item: Node) -> None:
        pending = self.walk(pl.col("__item"), item, [], (), "", True)
        while pending:
            nxt = []
            for list_expr, elem, parts, raw_path, dotted in pending:
                col = f"__x{len(self.explodes)}"
                self.explodes.append((col, list_expr))
                before = len(self.outputs)
                sub = _Planner(self.nodes, self.raw, self.explode)
                sub.used = set(self.used)
                deferred = sub.walk(pl.col(col), elem, [], raw_path, dotted, True)
                for name, expr, dtype, fast in sub.outputs:
                    if not self.raw and name in self.used:
                        name = "_".join([*parts, name])
                    self.add(name, expr, dtype, fast)
                self.any_paths += sub.any_paths
                del before
                nxt += deferred
            pending = nxt


def _build_spec(
    *,
    api: str,
    envelope: str,
    name: str,
    version: str | None,
    item: Node,
    nodes: list[list[Node]],
    path_params: Sequence[tuple[str, str]],
    raw_names: bool,
    explode: Iterable[str] | None,
    body_keys: tuple[str, ...],
) -> FrameSpec:
    explode_set = DEFAULT_EXPLODE if explode is None else frozenset(explode)
    wrapped = item[1] != "object"
    item_dtype = _decode_dtype(item, nodes)
    item_dtype_loose = _decode_dtype(item, nodes, loose=True)
    if wrapped:  # items that are arrays or scalars: one column "value"
        nodes = [*nodes, [["value", item[1], item[2], 1, item[4]]]]
        item = ["", "object", None, 0, len(nodes) - 1]
    planner = _Planner(nodes, raw_names, explode_set)
    planner.run(item)
    path_columns = []
    cols: list[tuple[str, pl.DataType]] = []
    for pname, column in path_params:
        col = pname if raw_names else column
        if col not in planner.used:
            path_columns.append((pname, col))
            cols.append((col, pl.String()))
    cols += [(n, d) for n, _, d, _ in planner.outputs]
    decode: dict[str, pl.DataType] = {}
    if api == "loket":
        decode.update({k: pl.Int64() for k in _PAGING})
        decode["version"] = pl.Struct({"resourceVersion": pl.String, "obsoleteDate": pl.String})
        decode["messages"] = pl.List(
            pl.Struct(
                {
                    "code": pl.Int64,
                    "description": pl.String,
                    "id": pl.String,
                    "properties": pl.List(pl.String),
                    "type": pl.String,
                }
            )
        )
    else:
        decode["code"] = pl.Int64()
        decode["paging"] = pl.Struct({"total": pl.Int64, "offset": pl.Int64, "limit": pl.Int64})
    return FrameSpec(
        api=api,
        envelope=envelope,
        name=name,
        version=version,
        item=item,
        nodes=nodes,
        decode=decode,
        item_dtype=item_dtype,
        item_dtype_loose=item_dtype_loose,
        wrapped=wrapped,
        path_columns=tuple(path_columns),
        explodes=tuple(planner.explodes),
        outputs=tuple((n, e) for n, e, _, _ in planner.outputs),
        fast=tuple((i, f[0].alias(n), f[1]) for i, (n, _, _, f) in enumerate(planner.outputs) if f),
        flat_fields=_flat_fields(item_dtype) if not wrapped else None,
        schema=pl.Schema(cols),
        any_paths=tuple(planner.any_paths),
        known_paths=frozenset(planner.known),
        raw_names=raw_names,
        body_keys=body_keys,
    )


def _flat_fields(item_dtype: Any) -> int | None:
    """Number of item fields when the item is an object of scalars only, else None."""
    if not isinstance(item_dtype, pl.Struct):
        return None
    if any(isinstance(f.dtype, (pl.Struct, pl.List)) for f in item_dtype.fields):
        return None
    return len(item_dtype.fields)


def schema_for(
    entry: Endpoint | str,
    version: str | None = None,
    *,
    raw_names: bool = False,
    explode: Iterable[str] | None = None,
    catalog: Catalog | None = None,
) -> FrameSpec:
    """The :class:`FrameSpec` of a Loket catalogue entry in one resource version.

    Parameters
    ----------
    entry
        A catalogue entry, or a path / operationId to look up.
    version
        A version label of the entry, a served ``resourceVersion`` or a date; None = newest.
    raw_names
        Keep the API's field names (nested paths joined with ``.``) instead of snake_case.
    explode
        Dotted array paths to explode (None = :data:`DEFAULT_EXPLODE` where present; ``()`` =
        none).
    """
    cat = catalog or get_catalog()
    if isinstance(entry, str):
        entry = cat.find(entry)
    if entry["kind"] != "json":
        media = ", ".join(entry["media_types"]) or "a file"
        msg = f"{entry['path']} returns {media}, not JSON: download it as bytes instead"
        raise ResponseFormatError(msg)
    label = cat.schema_label(entry, version)
    # Specs are immutable and take ~2 ms to build: every load of a resource version reuses one.
    # The cached value holds the entry itself, so its id() cannot be reused by another object.
    explode_key = None if explode is None else tuple(sorted(explode))
    key = (id(entry), label, raw_names, explode_key) if catalog is None else None
    if key is not None:
        hit = _SPECS.get(key)
        if hit is not None and hit[0] is entry:
            return hit[1]
    spec = _build_spec(
        api="loket",
        envelope=entry["envelope"],
        name=entry["operation_id"] or entry["path"],
        version=label,
        item=entry["schemas"][label],
        nodes=cat.nodes,
        path_params=[(p[0], p[3]) for p in entry["path_params"]],
        raw_names=raw_names,
        explode=explode,
        body_keys=("_embedded", "content"),
    )
    if key is not None:
        with _SPECS_LOCK:
            if len(_SPECS) >= _SPECS_MAX:
                _SPECS.clear()
            _SPECS[key] = (entry, spec)
    return spec


_SPECS: dict[tuple[Any, ...], tuple[Endpoint, FrameSpec]] = {}
_SPECS_LOCK = threading.Lock()
_SPECS_MAX = 1024


def valinso_spec(resource: str | None = None, *, path_params: Sequence[str] = ()) -> FrameSpec:
    """The :class:`FrameSpec` of a Valinso resource (``vends``, ``devices``, ``products``,
    ``locations``; None or another name = no known fields, everything kept as extras)."""
    fields = VALINSO_FIELDS.get(resource or "", [])
    nodes: list[list[Node]] = [fields]
    item: Node = ["", "object", None, 0, 0]
    return _build_spec(
        api="valinso",
        envelope="result",
        name=resource or "valinso",
        version=None,
        item=item,
        nodes=nodes,
        path_params=[(p, snake_case(p)) for p in path_params],
        raw_names=False,
        explode=(),
        body_keys=("result",),
    )


def valinso_vends_spec() -> FrameSpec:
    """Vends: ``id, device_id, product_id, location_id, selection, quantity, price, currency,
    payment_type, status, timestamp`` (+ extras)."""
    return valinso_spec("vends")


def valinso_devices_spec() -> FrameSpec:
    """Devices (assumed fields, see :data:`VALINSO_FIELDS`)."""
    return valinso_spec("devices")


def valinso_products_spec() -> FrameSpec:
    """Products (assumed fields, see :data:`VALINSO_FIELDS`)."""
    return valinso_spec("products")


def valinso_locations_spec() -> FrameSpec:
    """Locations (assumed fields, see :data:`VALINSO_FIELDS`)."""
    return valinso_spec("locations")


# -- parsing -------------------------------------------------------------------------------------
def empty_frame(spec: FrameSpec) -> pl.DataFrame:
    """A frame with no rows and the full typed schema of ``spec``."""
    return pl.DataFrame(schema=spec.schema)


def concat_pages(frames: Sequence[pl.DataFrame], *, spec: FrameSpec | None = None) -> pl.DataFrame:
    """Concatenate page frames; extra columns seen on some pages only are null elsewhere."""
    frames = [f for f in frames if f is not None]
    if not frames:
        if spec is None:
            return pl.DataFrame()
        return empty_frame(spec)
    if len(frames) == 1:
        return frames[0]
    # Polars checks the schemas natively; comparing Schema objects page by page in Python cost
    # ~0.2 ms a page on wide frames.
    try:
        return pl.concat(frames, how="vertical", rechunk=False)
    except (pl.exceptions.SchemaError, pl.exceptions.ShapeError, pl.exceptions.ColumnNotFoundError):
        return pl.concat(frames, how="diagonal_relaxed", rechunk=False)


def _fail(msg: str, url: object, page: int | None, exc: BaseException | None = None) -> None:
    raise ResponseFormatError(msg, url=url, page=page) from exc


def _decode_variants(spec: FrameSpec) -> list[dict[str, pl.DataType]]:
    """Envelope schemas to try: the declared shape first, then object/list swapped."""
    it = spec.item_dtype
    if it is None:
        return [dict(spec.decode)]
    list_first = spec.envelope in ("embedded", "content_list", "bare", "result")
    loose = spec.item_dtype_loose or it
    dtypes = [it] if loose == it else [it, loose]
    variants = []
    for as_list in (list_first, not list_first):
        for dt in dtypes:
            d = dict(spec.decode)
            for k in spec.body_keys:
                d[k] = pl.List(dt) if as_list else dt
            variants.append(d)
    return variants


def _count_keys(s: pl.Series) -> int:
    """Number of object keys with non-null values inside the values of ``s``."""
    dt = s.dtype
    if isinstance(dt, pl.Struct):
        return _frame_keys(s.struct.unnest())  # unnest applies the struct's own nulls
    if isinstance(dt, pl.List) and isinstance(dt.inner, (pl.Struct, pl.List)):
        return _count_keys(s.explode(empty_as_null=False, keep_nulls=False))
    return 0


def _body_keys(body: bytes) -> int:
    """An upper bound of the keys with non-null values in ``body``: ``":`` minus ``":null``.

    A ``\\":`` inside a string adds one to both counts or only to the first, so the bound holds;
    it is exact for compact JSON. Bodies that put a space after the colon also have
    ``": null`` subtracted (checked on the first 4 KiB).
    """
    return _minus_nulls(body, body.count(b'":'))


def _minus_nulls(body: bytes, keys: int) -> int:
    keys -= body.count(b'":null')
    if b'": ' in body[:4096]:
        keys -= body.count(b'": null')
    return keys


def _colons(body: bytes) -> int:
    """Every ``:`` in ``body``: the quickest upper bound of its keys (a single-byte search,
    ~2.5× faster than ``":``, which is ~1.4× faster than ``":null``). Exact for flat items
    without nulls or colons in their values (Valinso's)."""
    return body.count(b":")


def _more_keys_than(body: bytes, known: int, colons: int | None = None) -> bool:
    """Whether ``body`` has more keys with non-null values than the ``known`` ones a decode
    captured. Its upper bounds are tightened only while they exceed ``known``: every ``:``
    (``colons``, when already counted), then minus the nulls, then the keys exactly. A null
    or a colon inside a string only raises a bound, so no undeclared field is missed."""
    if colons is None:
        colons = _colons(body)
    if colons <= known or _minus_nulls(body, colons) <= known:
        return False
    return _body_keys(body) > known


def _has_unknown_keys(body: bytes, env: pl.DataFrame, items: Any, spec: FrameSpec) -> bool:
    """Whether the body has more keys (with non-null values) than the typed decode captured
    (:func:`_more_keys_than`)."""
    if (
        spec.flat_fields is not None
        and items is not None
        and isinstance(items.dtype, pl.List)
        and isinstance(items.dtype.inner, pl.Struct)
    ):
        known = _flat_known_keys(env, items)
    else:
        known = _frame_keys(env)
    return _more_keys_than(body, known)


@overload
def parse_page(
    body: bytes,
    spec: FrameSpec,
    *,
    path_ids: dict[str, str] | None = ...,
    url: object = ...,
    page: int | None = ...,
    convert: Literal[True] = ...,
) -> tuple[dict[str, Any], pl.DataFrame]: ...


@overload
def parse_page(
    body: bytes,
    spec: FrameSpec,
    *,
    path_ids: dict[str, str] | None = ...,
    url: object = ...,
    page: int | None = ...,
    convert: bool,
) -> tuple[dict[str, Any], pl.DataFrame | RawPage]: ...


def parse_page(
    body: bytes,
    spec: FrameSpec,
    *,
    path_ids: dict[str, str] | None = None,
    url: object = None,
    page: int | None = None,
    convert: bool = True,
) -> tuple[dict[str, Any], pl.DataFrame | RawPage]:
    """Decode one page into ``(meta, frame)``.

    Parameters
    ----------
    body
        The raw response body.
    spec
        From :func:`schema_for` or a ``valinso_*_spec()``.
    path_ids
        Path parameter values by parameter name (``{"employerId": "…"}``); added as columns.
    url, page
        Named in errors.
    convert
        False: when the page has no undeclared fields, return the decoded items unconverted
        (one ``__item`` Struct column, see :func:`is_raw`) for :func:`convert_raw` to convert
        together with the other pages of the load; pages with extra fields are converted here.

    Returns
    -------
    meta : dict
        ``item_count, current_page, page_size, total_pages, total_size, offset, limit, total,
        version, messages`` (the fields of ``paging.PageMeta``; absent ones None).
    frame : polars.DataFrame or RawPage
        Columns and dtypes of ``spec.schema`` (+ extra columns for undeclared fields); a
        :class:`RawPage` only when ``convert`` is False.

    Raises
    ------
    ResponseFormatError
        Malformed or truncated JSON, or a body without the expected envelope.
    """
    if isinstance(body, str):
        body = body.encode()
    elif not isinstance(body, bytes):
        body = bytes(body)
    if spec.envelope == "bare":
        stripped = body.lstrip()
        if stripped[:1] == b"[":
            body = b'{"_embedded":' + body + b"}"
    if not any(b'"' + k.encode() + b'"' in body for k in spec.body_keys):
        head = body[:80].decode("utf-8", "replace")
        _fail(
            f"the {spec.name} response has no {' or '.join(spec.body_keys)} (body starts {head!r})",
            url,
            page,
        )
    env = None
    last: BaseException | None = None
    schema: dict[str, pl.DataType] = {}
    for schema in spec.decode_variants:
        try:
            env = pl.read_json(body, schema=schema)
            break
        except Exception as exc:  # polars raises ComputeError, PanicException, …
            last = exc
    if env is None or env.height != 1:
        _fail(
            f"malformed or truncated JSON for {spec.name}: {str(last).splitlines()[0][:200]}"
            if last
            else f"unexpected body for {spec.name}",
            url,
            page,
            last,
        )
    assert env is not None
    meta = _meta(env, spec)
    items = None
    for k in spec.body_keys:
        if k in env.columns and env[k].null_count() == 0:
            items = env[k]
            break
    if items is None:
        n_items = 0
        frame_items = pl.DataFrame({"__item": []}, schema={"__item": spec.item_dtype or pl.Null})
    else:
        # The dtype this variant decoded the items with (Series.dtype builds a Python dtype
        # tree). The envelope is one row, so its list's first value is the items (~2 µs a page;
        # exploding the list runs a query, ~25 µs).
        s = items[0] if isinstance(schema[items.name], pl.List) else items
        n_items = len(s)
        if spec.wrapped:
            frame_items = s.alias("value").to_frame().select(pl.struct("value").alias("__item"))
        else:
            frame_items = s.alias("__item").to_frame()
    meta["item_count"] = n_items
    if not convert and items is not None and not spec.wrapped and not spec.any_paths:
        # The unknown-field check is settled for the whole load in convert_raw (one count over
        # all pages' items instead of a walk per page); the page keeps what a recheck needs.
        # the envelope is one row: its few values as Python objects are the quickest to count
        rest = [env.get_column(c).to_list()[0] for c in env.columns if c != items.name]
        env_keys = _value_keys(rest) + 1  # + the item list's own key
        quick = spec.flat_fields is not None  # flat items: colons in values are rare
        return meta, RawPage(
            frame_items,
            _colons(body) if quick else _body_keys(body),
            env_keys,
            body,
            url=url,
            page=page,
            quick=quick,
        )
    extras = bool(spec.any_paths and n_items) or _has_unknown_keys(body, env, items, spec)
    if not extras and not convert and spec.item_dtype is not None:
        return meta, RawPage(frame_items, url=url, page=page)
    frame = _build_frame(frame_items, spec)
    if extras:
        frame = _add_extras(body, spec, frame, url, page)
    if _ROW in frame.columns:
        frame = frame.drop(_ROW)
    return meta, _with_path_columns(frame, spec, path_ids)


def _with_path_columns(
    frame: pl.DataFrame, spec: FrameSpec, path_ids: dict[str, str] | None
) -> pl.DataFrame:
    if not spec.path_columns:
        return frame
    ids = path_ids or {}
    path_cols = [c for _, c in spec.path_columns]
    rest = [pl.col(c) for c in frame.columns if c not in path_cols]
    # path columns first, in one query
    return frame.select(
        *(pl.lit(ids.get(p), pl.String()).alias(c) for p, c in spec.path_columns), *rest
    )


@dataclass(slots=True, eq=False)
class RawPage:
    """A page decoded but not converted (``parse_page(..., convert=False)``).

    ``items`` has one ``__item`` Struct column. When ``body_keys`` is set, the unknown-field
    check is still open: :func:`convert_raw` compares ``body_keys`` (keys with non-null values
    counted in the body) with ``env_keys`` plus the keys captured in ``items``, for all pages at
    once, and parses ``body`` again for a page whose counts differ, so that its undeclared
    fields become columns. The body is the response's own bytes (no copy); the pager converts
    pages in batches while it walks, so only a batch's bodies are kept at a time.
    """

    items: pl.DataFrame
    body_keys: int | None = None
    env_keys: int = 0
    body: bytes | None = None
    url: object = None
    page: int | None = None
    #: ``body_keys`` counted by :func:`_colons` (also counts nulls and colons inside values)
    quick: bool = False

    @property
    def height(self) -> int:
        return self.items.height

    def has_unknown_keys(self) -> bool:
        """Whether the body has more keys with non-null values than the decode captured."""
        if self.body_keys is None:
            return False
        known = self.env_keys + _count_keys(self.items.get_column("__item"))
        if not self.quick or self.body is None:
            return self.body_keys > known
        return _more_keys_than(self.body, known, colons=self.body_keys)


def is_raw(frame: Any) -> bool:
    """Whether ``frame`` is a page's unconverted items (``parse_page(..., convert=False)``)."""
    return isinstance(frame, RawPage)


def convert_raw(
    pages: Sequence[RawPage], spec: FrameSpec, path_ids: dict[str, str] | None = None
) -> list[pl.DataFrame]:
    """Convert the unconverted pages of one load together; one finished frame per page.

    The typed select (flattening, date/date-time parsing, decimals, explodes, path columns) runs
    once over all the pages, so Polars spreads it over the columns and its fixed costs are paid
    once; each page's frame is a zero-copy slice of the result. Pages whose unknown-field check
    is open (:class:`RawPage`) are checked together first; one whose body holds keys the
    decode did not capture is parsed again on its own, with those fields as extra columns.
    """
    if not pages:
        return []
    items = _concat_items(pages, spec)
    open_ = [p for p in pages if p.body_keys is not None]
    redo: list[RawPage] = []
    if open_:
        body_total = sum(p.body_keys or 0 for p in open_)
        known = sum(p.env_keys for p in open_)
        if len(open_) == len(pages):
            known += _count_keys(items.get_column("__item"))
        else:
            known += sum(_count_keys(p.items.get_column("__item")) for p in open_)
        # every page's body has at least the keys its decode captured: equal totals settle it
        if body_total != known:
            redo = [p for p in open_ if p.has_unknown_keys()]
    if not redo:
        return _convert_together(items, [p.height for p in pages], spec, path_ids)
    again = {id(p) for p in redo}
    rest = [p for p in pages if id(p) not in again]
    together = iter(
        _convert_together(_concat_items(rest, spec), [p.height for p in rest], spec, path_ids)
        if rest
        else []
    )
    out = []
    for p in pages:
        if id(p) in again:
            if p.body is None:
                msg = "the page's body is gone: it cannot be checked for undeclared fields"
                raise ResponseFormatError(msg, url=p.url, page=p.page)
            _, frame = parse_page(
                p.body, spec, path_ids=path_ids, url=p.url, page=p.page, convert=True
            )
            out.append(frame)
        else:
            out.append(next(together))
    return out


def _concat_items(pages: Sequence[RawPage], spec: FrameSpec) -> pl.DataFrame:
    if len(pages) == 1:
        return pages[0].items
    # Nested items in one chunk: the conversion runs each output expression chunk by chunk,
    # and for nested fields that costs more than copying the items once (a 16-page leave batch,
    # 34 columns, converts in ~2.6 ms instead of ~5.3). Flat items (vends) convert as quickly
    # in chunks, and the copy cost ~10 % of the parse rate with 8 workers feeding the parser.
    nested = spec.flat_fields is None
    return pl.concat([p.items for p in pages], how="vertical", rechunk=nested)


def _convert_together(
    items: pl.DataFrame, counts: list[int], spec: FrameSpec, path_ids: dict[str, str] | None
) -> list[pl.DataFrame]:
    frame = _build_frame(items, spec)
    if _ROW in frame.columns:
        # exploded: rows of page k are those whose item index falls in page k's range
        rows = frame.get_column(_ROW)
        ends = list(itertools.accumulate(counts))
        cuts = rows.search_sorted(pl.Series(ends, dtype=rows.dtype), side="left").to_list()
        frame = frame.drop(_ROW)
    else:
        cuts = list(itertools.accumulate(counts))
    frame = _with_path_columns(frame, spec, path_ids)
    out, start = [], 0
    for end in cuts:
        out.append(frame.slice(start, end - start))
        start = end
    return out


def _flat_known_keys(env: pl.DataFrame, items: pl.Series) -> int:
    """:func:`_frame_keys` of the envelope, for a list of flat items: rows × fields − null
    cells (one null count) plus the envelope's keys (the item list's own key included)."""
    elements = items[0]  # the envelope is one row (parse_page checked)
    if elements.null_count():
        return _frame_keys(env)  # null items: let Arrow apply the parent nulls
    inner = elements.struct.unnest()
    known = inner.height * inner.width - sum(inner.null_count().row(0))
    return known + 1 + _frame_keys(env.drop(items.name))


def _value_keys(values: list[Any]) -> int:
    """Keys with non-null values among decoded top-level ``values`` (all levels)."""
    n = 0
    stack = [v for v in values if v is not None]
    n += len(stack)
    while stack:
        v = stack.pop()
        if isinstance(v, dict):
            inner = [x for x in v.values() if x is not None]
            n += len(inner)
            stack.extend(inner)
        elif isinstance(v, list):
            stack.extend(x for x in v if x is not None)
    return n


def _frame_keys(df: pl.DataFrame) -> int:
    """Non-null cells of ``df`` plus the keys inside its nested values (:func:`_count_keys`)."""
    n = df.height * df.width - sum(c.null_count() for c in df.get_columns())
    for c in df.get_columns():
        if isinstance(c.dtype, (pl.Struct, pl.List)):
            n += _count_keys(c)
    return n


def _build_frame(items: pl.DataFrame, spec: FrameSpec) -> pl.DataFrame:
    path_cols = {c for _, c in spec.path_columns}
    if spec.item_dtype is None:
        return pl.DataFrame(
            [
                pl.Series(n, [None] * items.height, dtype=d)
                for n, d in spec.schema.items()
                if n not in path_cols
            ]
        )
    if not spec.explodes:
        return _select_outputs(items, spec, ())
    df = items.with_row_index(_ROW)
    for col, expr in spec.explodes:
        df = df.with_columns(expr.alias(col)).explode(col, empty_as_null=True, keep_nulls=True)
    return _select_outputs(df, spec, (pl.col(_ROW),))


def _select_outputs(df: pl.DataFrame, spec: FrameSpec, lead: tuple[pl.Expr, ...]) -> pl.DataFrame:
    """The typed output columns; date/date-time columns by their one-format conversion, and
    again by the full one only when that left a non-null value unconverted."""
    exprs = [e for _, e in spec.outputs]
    if not spec.fast or df.height == 0:
        return df.select(*lead, *exprs)
    for i, quick, _ in spec.fast:
        exprs[i] = quick
    out = df.select(*lead, *exprs)
    sources = df.select(src.null_count().alias(str(k)) for k, (_, _, src) in enumerate(spec.fast))
    redo = [
        spec.outputs[i][1]
        for (i, _, _), want in zip(spec.fast, sources.row(0), strict=True)
        if out.get_column(spec.outputs[i][0]).null_count() != want
    ]
    if redo:
        out = out.with_columns(df.select(redo).get_columns())
    return out


_META_COLUMNS = (*_PAGING, "version", "messages", "paging")


def _meta(env: pl.DataFrame, spec: FrameSpec) -> dict[str, Any]:
    # one cell at a time: dropping the (big) item column first costs a query per page
    row = {c: env.get_column(c).to_list()[0] for c in _META_COLUMNS if c in env.columns}
    meta: dict[str, Any] = {
        "item_count": 0,
        "current_page": row.get("currentPage"),
        "page_size": row.get("pageSize"),
        "total_pages": row.get("totalPages"),
        "total_size": row.get("totalSize"),
        "offset": None,
        "limit": None,
        "total": None,
        "version": row.get("version"),
        "messages": [m for m in (row.get("messages") or []) if m is not None],
    }
    paging = row.get("paging")
    if paging:
        meta.update(offset=paging["offset"], limit=paging["limit"], total=paging["total"])
    return meta


# -- the slow path: undeclared and free-form fields ----------------------------------------------
def _loose_series(name: str, values: list[Any]) -> pl.Series:
    kinds = {type(v) for v in values if v is not None}
    if kinds <= {bool} and kinds:
        return pl.Series(name, values, dtype=pl.Boolean)
    if kinds <= {int} and kinds and all(-(2**63) <= v < 2**63 for v in values if v is not None):
        return pl.Series(name, values, dtype=pl.Int64)
    if (
        kinds <= {int, float}
        and kinds
        and all(isinstance(v, float) or abs(v) < 2**53 for v in values if v is not None)
    ):
        floats = [None if v is None else float(v) for v in values]
        if all(v is None or math.isfinite(v) for v in floats):
            return pl.Series(name, floats, dtype=pl.Float64)
    if kinds <= {str}:
        return pl.Series(name, values, dtype=pl.String)
    return pl.Series(name, [_json_text(v) for v in values], dtype=pl.String)


def _json_text(v: Any) -> str | None:
    if v is None:
        return None
    if isinstance(v, str):
        return v
    try:
        return orjson.dumps(v).decode()
    except (TypeError, orjson.JSONEncodeError):
        return str(v)


def _items_of(data: Any, spec: FrameSpec) -> list[Any]:
    if not isinstance(data, dict):
        return data if isinstance(data, list) else []
    for k in spec.body_keys:
        v = data.get(k)
        if v is None:
            continue
        return v if isinstance(v, list) else [v]
    return []


def _safe_column_name(name: str) -> str:
    """A server's field name usable as a column: ``pl.col("*")`` is a wildcard and ``^…$`` a
    regex, so anything but word characters and dots becomes ``_``; an empty name gets one."""
    cleaned = re.sub(r"[^\w.]+", "_", name).strip("_")
    return cleaned or "unnamed_field"


def _add_extras(
    body: bytes, spec: FrameSpec, frame: pl.DataFrame, url: object, page: int | None
) -> pl.DataFrame:
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        _fail(f"malformed JSON for {spec.name}: {exc}", url, page, exc)
    items = [it for it in _items_of(data, spec) if it is not None]
    found: dict[tuple[str, ...], dict[int, Any]] = {}
    any_set = {p for p, _ in spec.any_paths}

    def visit(obj: dict[str, Any], path: tuple[str, ...], i: int) -> None:
        for k, v in obj.items():
            p = (*path, k)
            if p in any_set or p not in spec.known_paths:
                found.setdefault(p, {})[i] = v
            elif isinstance(v, dict):
                visit(v, p, i)

    for i, it in enumerate(items):
        if isinstance(it, dict):
            visit(it, (), i)
        elif it is not None and not spec.known_paths:
            found.setdefault(("value",), {})[i] = it
    if not found:
        return frame
    rows = frame[_ROW] if _ROW in frame.columns else pl.int_range(frame.height, eager=True)
    last_row = int(rows.max() or 0) if len(rows) else -1  # type: ignore[arg-type]
    if last_row >= len(items) or (_ROW not in frame.columns and frame.height != len(items)):
        _fail(f"unexpected body for {spec.name}: the items do not line up", url, page)
    any_names = dict(spec.any_paths)
    new_cols = []
    used = set(frame.columns)
    for p, vals in found.items():
        if p in any_names:
            name = any_names[p]
            values = [_json_text(vals.get(i)) for i in range(len(items))]
            s = pl.Series(name, values, dtype=pl.String)
        else:
            raw = ".".join(p) if spec.raw_names else "_".join(snake_case(x) or x for x in p)
            name = _safe_column_name(raw)
            base, n = name, 2
            while name in used:
                name = f"{base}_{n}"
                n += 1
            used.add(name)
            s = _loose_series(name, [vals.get(i) for i in range(len(items))])
        new_cols.append(s.gather(rows) if len(rows) else s.clear())
    return frame.with_columns(new_cols)


def parse_pages(
    bodies: Sequence[bytes],
    spec: FrameSpec,
    *,
    path_ids: dict[str, str] | None = None,
    url: object = None,
    threads: int | None = None,
) -> tuple[list[dict[str, Any]], pl.DataFrame]:
    """Parse many pages (in a thread pool: the JSON decoder releases the GIL) and concatenate.

    Returns the list of page metas and one frame.
    """
    from concurrent.futures import ThreadPoolExecutor

    def one(args: tuple[int, bytes]) -> tuple[dict[str, Any], pl.DataFrame]:
        i, b = args
        return parse_page(b, spec, path_ids=path_ids, url=url, page=i + 1)

    workers = threads if threads is not None else 2
    if workers <= 1 or len(bodies) < 2:
        results = [one(a) for a in enumerate(bodies)]
    else:
        with ThreadPoolExecutor(workers) as ex:
            results = list(ex.map(one, enumerate(bodies)))
    return [m for m, _ in results], concat_pages([f for _, f in results], spec=spec)


#: Bump when the layout of the cached parsed pages changes (old ones are then ignored).
_PARSED_FORMAT = 4
_META_LEN = struct.Struct(">I")
_REUSABLE = frozenset({"hit", "revalidated", "stale"})
#: Arrow IPC compression of a cached listing's frames (smaller files: less to read and hash).
#: zstd: 200k vends take 2.1 MB (LZ4 5.6 MB) and read back as fast, and the blob's copies
#: while it is written cost less peak memory; it is written in the background.
LISTING_COMPRESSION = "zstd"
#: Rows per Arrow IPC stream in a cached listing (whole pages): Polars buffers a whole stream
#: while writing it (~3× the frame for 200k vends in one stream, ~0.7× in streams of 25k rows),
#: and a warm load reads the streams on the parse threads.
LISTING_STREAM_ROWS = 12_500
#: A listing of this many rows or more is kept in at least :data:`PARSE_THREADS` streams.
LISTING_SPLIT_ROWS = 2_000


def _spec_fingerprint(spec: FrameSpec, path_ids: dict[str, str] | None) -> str:
    """A name for the parsed-page extra: changes whenever the frame it holds would differ."""
    h = hashlib.sha256()
    for part in (
        f"lv-frame-{_PARSED_FORMAT}",
        spec.api,
        spec.envelope,
        spec.name,
        str(spec.version),
        repr(list(spec.schema.items())),
        repr(sorted(spec.known_paths)),
        repr(spec.any_paths),
        repr([(c, str(e)) for c, e in spec.explodes]),
        repr([(c, str(e)) for c, e in spec.outputs]),
        repr([(i, str(e)) for i, e, _ in spec.fast]),
        repr(spec.wrapped),
        repr(spec.body_keys),
        repr(sorted((path_ids or {}).items())),
        pl.__version__,
    ):
        data = part.encode("utf-8", "surrogatepass")
        h.update(len(data).to_bytes(8, "big"))
        h.update(data)
    return "frame-" + h.hexdigest()[:40]


def encode_parsed(
    meta: dict[str, Any], frame: pl.DataFrame, *, compression: str = "uncompressed"
) -> bytes:
    """A parsed page as bytes: ``u32 len | meta JSON | Arrow IPC stream`` (no pickle)."""
    head = orjson.dumps(meta)
    sink = io.BytesIO()
    sink.write(_META_LEN.pack(len(head)))
    sink.write(head)
    frame.write_ipc_stream(sink, compression=compression)  # type: ignore[call-overload]
    return sink.getvalue()


def encode_listing(
    head: dict[str, Any],
    frames: Sequence[pl.DataFrame],
    *,
    stream_rows: int = LISTING_STREAM_ROWS,
    compression: str = LISTING_COMPRESSION,
) -> bytes:
    """Pages as bytes: ``u32 len | head JSON | Arrow IPC streams`` of about ``stream_rows`` rows
    (whole pages); ``head["streams"]`` lists their byte lengths (:func:`decode_parsed`)."""
    return b"".join(
        encode_listing_pieces(head, frames, stream_rows=stream_rows, compression=compression)
    )


def encode_listing_pieces(
    head: dict[str, Any],
    frames: Sequence[pl.DataFrame],
    *,
    stream_rows: int = LISTING_STREAM_ROWS,
    compression: str = LISTING_COMPRESSION,
) -> list[bytes]:
    """:func:`encode_listing` in pieces, whose concatenation is its bytes. Written one after
    the other (``DiskCache.set_extra`` takes them so), the blob is never held twice: joining
    and framing it raised a 200k-vends load's peak by ~3 MB, of the ~17 MB the cache adds."""
    parts: list[bytes] = []
    rows = sum(f.height for f in frames)
    streams = max(1, math.ceil(rows / max(stream_rows, 1)))
    if rows >= LISTING_SPLIT_ROWS:
        streams = max(streams, PARSE_THREADS)
    # streams of equal size (whole pages): a warm load reads them side by side, so the longest
    # one sets the time (a 12.6k-row leave listing as 50 + 1 pages read in ~10 ms, as 26 + 25 in
    # ~5 ms)
    group = max(1, math.ceil(len(frames) / streams))
    for start in range(0, len(frames), group):
        sink = io.BytesIO()
        part = pl.concat(frames[start : start + group], how="vertical", rechunk=False)
        part.write_ipc_stream(sink, compression=compression)  # type: ignore[call-overload]
        parts.append(sink.getvalue())
    meta = orjson.dumps({**head, "streams": [len(p) for p in parts]})
    return [_META_LEN.pack(len(meta)) + meta, *parts]


def decode_parsed(
    blob: bytes | memoryview, *, parallel: bool = False
) -> tuple[dict[str, Any], pl.DataFrame]:
    """The inverse of :func:`encode_parsed`; raises ``ValueError`` on a malformed blob.

    ``parallel``: read a listing's streams on the parse threads (each read is single-threaded
    and releases the GIL); ignored on a parse thread itself, which must not wait on its pool.
    """
    view = memoryview(blob)
    (n,) = _META_LEN.unpack_from(view)
    meta = orjson.loads(view[_META_LEN.size : _META_LEN.size + n])
    if not isinstance(meta, dict):
        raise ValueError("parsed page meta is not an object")
    data = view[_META_LEN.size + n :]
    lengths = meta.get("streams")
    if lengths is None:
        return meta, pl.read_ipc_stream(io.BytesIO(data))
    if not isinstance(lengths, list) or sum(lengths) != len(data) or not lengths:
        raise ValueError("parsed listing streams do not add up")
    ends = list(itertools.accumulate(lengths))
    streams = [data[end - length : end] for length, end in zip(lengths, ends, strict=True)]

    def read(stream: memoryview) -> pl.DataFrame:
        return pl.read_ipc_stream(io.BytesIO(stream))

    if parallel and len(streams) > 1 and not _on_parse_thread():
        parts = list(_parse_pool().map(read, streams))
    else:
        parts = [read(stream) for stream in streams]
    return meta, pl.concat(parts, how="vertical", rechunk=False)


def _get_view(cache: Any, key: str, name: str, digest: str) -> bytes | memoryview | None:
    getter = getattr(cache, "get_extra_view", None)
    if getter is not None:
        return getter(key, name, entry_sha256=digest)
    return cache.get_extra(key, name, entry_sha256=digest)


def page_parser(
    spec: FrameSpec,
    *,
    path_ids: dict[str, str] | None = None,
    cache: Any = None,
) -> Any:
    """The ``parse`` callable the pager calls per page: raw bytes → ``ParsedPage``.

    Parameters
    ----------
    spec
        From :func:`schema_for` / :func:`valinso_spec`.
    path_ids
        Path parameter values to add as columns.
    cache
        The client's :class:`~loketvalinso.cache.DiskCache` (or None). When the cache stored
        the response, the parsed page is kept next to it as Arrow IPC (an extra tied to the
        body's sha256 and named after everything that shapes the frame: the spec, the path ids,
        the Polars version); a later response served from that entry is not parsed again. After
        a clean walk of a paged listing whose pages were all stored, the other pages' frames are
        also kept as one blob next to page 1 (with each page's cache key and body digest), so a
        warm load whose pages are all still fresh and unchanged needs one request, not one per
        page (see ``paging._Walk._from_listing_cache``).
    """
    return _PageParser(spec, path_ids, cache)


class _PageParser:
    """See :func:`page_parser`."""

    def __init__(self, spec: FrameSpec, path_ids: dict[str, str] | None, cache: Any) -> None:
        from loketvalinso.cache import CACHE_BODY_EXTENSION, CACHE_EXTENSION, CACHE_KEY_EXTENSION
        from loketvalinso.paging import PageMeta, ParsedPage

        self.spec = spec
        self.path_ids = path_ids
        self.cache = cache if cache is not None and hasattr(cache, "get_extra") else None
        fingerprint = _spec_fingerprint(spec, path_ids) if self.cache is not None else ""
        self.name = "frame-" + fingerprint
        self.listing_name = "pages-" + fingerprint
        self._ext = (CACHE_KEY_EXTENSION, CACHE_BODY_EXTENSION, CACHE_EXTENSION)
        self._meta_cls, self._page_cls = PageMeta, ParsedPage

    def __call__(self, body: bytes, context: Any) -> Any:
        """Parse one page into a finished frame."""
        return self._parse(body, context, convert=True)

    def decode(self, body: bytes, context: Any) -> Any:
        """Like calling the parser, but the frame may be left unconverted (:func:`is_raw`):
        the pager then hands all the pages of the load to :meth:`finish` at once."""
        return self._parse(body, context, convert=False)

    def finish(self, pages: Sequence[tuple[int, Any, str | None, str | None]]) -> None:
        """Convert the unconverted pages of a load together (in place, page order kept):
        ``(index, ParsedPage, cache key, body sha256)`` per page. Page 1's finished frame is
        then kept as a cache extra (see :func:`page_parser`)."""
        raw = [entry for entry in pages if is_raw(entry[1].data)]
        if not raw:
            return
        converted = convert_raw([p.data for _, p, _, _ in raw], self.spec, self.path_ids)
        for (_, page, _, _), frame in zip(raw, converted, strict=True):
            page.data = frame
        index, page, key, digest = raw[0]
        if index == 1 and key and digest:
            self._keep_page(key, digest, _meta_dict(page.meta), page.data)

    def _keep_page(self, key: str, digest: str, meta: dict[str, Any], frame: pl.DataFrame) -> None:
        """Keep a finished page 1 next to its cache entry, written in the background."""
        cache = self.cache
        if cache is None:
            return
        # a frame of its own: the caller keeps using its frame while this is written, and a
        # Polars frame used from two threads at once can deadlock
        frame, name = frame.clone(), self.name

        def write() -> None:
            cache.set_extra(key, name, encode_parsed(meta, frame), entry_sha256=digest)

        submit_background_write(write)

    def finish_later(self, pages: Sequence[tuple[int, Any, str | None, str | None]]) -> Any:
        """:meth:`finish` on the parse threads; returns its ``Future``. The caller must not
        touch these pages' frames until it is done."""
        return _parse_pool().submit(self.finish, list(pages))

    def _parse(self, body: bytes, context: Any, *, convert: bool) -> Any:
        cache: Any = self.cache
        key: Any = None
        digest: Any = None
        if cache is not None:
            ext = getattr(context, "extensions", None) or {}
            key_ext, body_ext, state_ext = self._ext
            key = ext.get(key_ext)
            digest = ext.get(body_ext) if key else None
            if digest and ext.get(state_ext) in _REUSABLE:
                blob = _get_view(cache, key, self.name, digest)
                if blob is not None:
                    # a blob that does not decode is a miss: parse the body instead
                    with contextlib.suppress(Exception):
                        meta, frame = decode_parsed(blob)
                        return self._page_cls(meta=self._meta_cls(**meta), data=frame)
        meta, frame = (
            _parse_pool()
            .submit(
                parse_page,
                body,
                self.spec,
                path_ids=self.path_ids,
                url=getattr(context, "url", None),
                page=getattr(context, "page", None),
                convert=convert,
            )
            .result()
        )
        # Page 1 of every load comes through here, warm or cold; the other pages of a paged
        # listing are kept together by remember_listing (one blob instead of one per page).
        # An unconverted page 1 is kept by finish().
        if digest and getattr(context, "page", 1) == 1 and not is_raw(frame):
            self._keep_page(key, digest, meta, frame)
        return self._page_cls(meta=self._meta_cls(**meta), data=frame)

    # whole listings -------------------------------------------------------------------------

    def remember_listing(self, pages: Sequence[tuple[int, Any, str, str]]) -> bool:
        """Keep pages 2.. of a walked listing next to page 1: ``(index, ParsedPage, cache key,
        body sha256)`` for every page, page 1 first. Returns whether it went to the writer, which
        skips a listing whose pages differ in columns (extra fields on some pages only: they
        keep their per-page extras).

        The blob is written by one background thread so the load returns without waiting for
        it; readers in this process wait for pending writes (``get_extra_view`` does), and
        clients flush on ``close()`` and at interpreter exit.
        """
        cache = self.cache
        if cache is None or len(pages) < 2:
            return False
        _, _, first_key, first_digest = pages[0]
        rest = list(pages[1:])
        parts = [p.data for _, p, _, _ in rest]
        if not all(isinstance(f, pl.DataFrame) for f in parts):
            return False
        parts = [f.clone() for f in parts]  # frames of its own (see finish)
        name = self.listing_name

        def write() -> None:
            # Polars compares the schemas natively (DataFrame.schema builds Python dtypes:
            # ~10 ms per 50-page leave listing on the caller's thread)
            try:
                pl.concat(parts, how="vertical", rechunk=False)
            except (pl.exceptions.SchemaError, pl.exceptions.ShapeError):
                return
            head: dict[str, Any] = {
                "v": _PARSED_FORMAT,
                "pages": [[i, key, digest, _meta_dict(p.meta)] for i, p, key, digest in rest],
            }
            # One query confirms the whole listing on a warm load (DiskCache.stamps_hold).
            keys = [k for _, _, k, _ in rest]
            digests = [d for _, _, _, d in rest]
            stamps = getattr(cache, "listing_stamps", lambda *_: None)(keys, digests)
            if stamps:
                head["stamps"] = {k: list(v) for k, v in stamps.items()}
            pieces = encode_listing_pieces(head, parts)
            cache.set_extra(first_key, name, pieces, entry_sha256=first_digest)

        submit_background_write(write)
        return True

    def cached_listing(
        self, first_key: str, first_digest: str, total_pages: int
    ) -> list[tuple[int, Any, str, str]] | None:
        """Pages 2..``total_pages`` from the blob kept next to page 1, if every one of them is
        still stored, fresh and holds the same body; else None."""
        cache = self.cache
        if cache is None:
            return None
        blob = _get_view(cache, first_key, self.listing_name, first_digest)
        if blob is None:
            return None
        try:
            head, frame = decode_parsed(blob, parallel=True)
        except Exception:
            return None
        rows = head.get("pages") if head.get("v") == _PARSED_FORMAT else None
        if not isinstance(rows, list) or len(rows) != total_pages - 1:
            return None
        stamps = head.get("stamps")
        confirmed = (
            isinstance(stamps, dict)
            and len(stamps) == len(rows)
            and all(key in stamps for _, key, _, _ in rows)
            and cache.stamps_hold({k: (float(t), float(d)) for k, (t, d) in stamps.items()})
        )
        out = []
        offset = 0
        for index, key, digest, meta in rows:
            # Without valid stamps every page's header is read to confirm it.
            if not confirmed and cache.fresh_digest(key) != digest:
                return None
            n = int(meta["item_count"])
            out.append(
                (
                    index,
                    self._page_cls(meta=self._meta_cls(**meta), data=frame.slice(offset, n)),
                    key,
                    digest,
                )
            )
            offset += n
        if offset != frame.height:
            return None
        return out


_POOL: Any = None
_POOL_LOCK = threading.Lock()
_POOL_THREAD_PREFIX = "loketvalinso-parse"


def _on_parse_thread() -> bool:
    return threading.current_thread().name.startswith(_POOL_THREAD_PREFIX)


def _parse_pool() -> Any:
    """The few threads that build frames for every pager (one per core, at most 2 by default).

    The pager's fetch workers (8 by default) hand their bodies over instead of parsing in place:
    more parsing threads than cores buys no speed, and every thread that allocates keeps its
    own arena of freed memory, which showed as ~50% more peak RSS on a 200k-row load.
    """
    global _POOL
    if _POOL is None:
        with _POOL_LOCK:
            if _POOL is None:
                from concurrent.futures import ThreadPoolExecutor

                workers = max(1, min(PARSE_THREADS, os.cpu_count() or 1))
                _POOL = ThreadPoolExecutor(workers, thread_name_prefix=_POOL_THREAD_PREFIX)
    return _POOL


#: Threads that build frames (capped by the number of cores).
PARSE_THREADS = 2


def _meta_dict(meta: Any) -> dict[str, Any]:
    return {name: getattr(meta, name) for name in meta.__slots__}
