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

import functools
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from loketvalinso._catalog import Catalog, Endpoint, Node, get_catalog, snake_case
from loketvalinso.errors import ResponseFormatError

__all__ = [
    "DEFAULT_EXPLODE",
    "MONEY",
    "UTC_DATETIME",
    "VALINSO_FIELDS",
    "FrameSpec",
    "empty_frame",
    "schema_for",
    "valinso_spec",
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
#: The Loket envelope's paging fields.
PAGING_FIELDS = ("currentPage", "pageSize", "totalPages", "totalSize")
#: The item index column of a frame being exploded (dropped before the frame is returned).
ROW = "__row"


#: The JSON type of each field format the Valinso tables below use (no format: a string).
_VALINSO_TYPES = {
    "int64": "integer",
    "int32": "integer",
    "unix": "integer",
    "decimal": "number",
    "double": "number",
}


def _fields(table: str) -> list[Node]:
    """Nodes from ``"name:format name …"`` (``unix`` = unix seconds, ``decimal`` = money)."""
    nodes = []
    for field_ in table.split():
        name, _, fmt = field_.partition(":")
        nodes.append(Node(name, _VALINSO_TYPES.get(fmt, "string"), fmt or None, 1, None))
    return nodes


#: Valinso item fields: the documented-assumed ones (DESIGN.md) and the mock's assumptions.
VALINSO_FIELDS: dict[str, list[Node]] = {
    "vends": _fields(
        "id:int64 device_id:int64 product_id:int64 location_id:int64 selection quantity:int32 "
        "price:decimal currency payment_type status timestamp:unix"
    ),
    "devices": _fields(
        "id:int64 location_id:int64 name serial_number model status installed_at:unix"
    ),
    "products": _fields("id:int64 name category price:decimal currency"),
    "locations": _fields(
        "id:int64 client_id:int64 name email phone address city latitude:double longitude:double"
    ),
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
        #: each output column's field: its API path from the item and its node (what writes
        #: use to put a flattened row back into the API's nesting)
        self.sources: dict[str, tuple[tuple[str, ...], Node]] = {}

    def name(self, parts: list[str], raw_path: tuple[str, ...]) -> str:
        if self.raw:
            return ".".join(raw_path)
        return "_".join(p for p in parts if p)

    def add(
        self,
        name: str,
        expr: pl.Expr,
        dtype: Any,
        fast: Any = None,
        source: tuple[tuple[str, ...], Node] | None = None,
    ) -> None:
        base, i = name, 2
        while name in self.used:
            name = f"{base}_{i}"
            i += 1
        self.used.add(name)
        self.outputs.append((name, expr.alias(name), dtype, fast))
        if source is not None:
            self.sources[name] = source

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
                self.add(name, pl.lit(None, pl.String()), pl.String(), source=(cpath, c))
                self.any_paths.append((cpath, self.outputs[-1][0]))
            else:
                expr, dtype = _convert(ce, c, self.nodes, self.raw)
                quick = _fast_convert(ce, c)
                fast = None if quick is None else (quick, ce)
                self.add(self.name(cparts, cpath), expr, dtype, fast, source=(cpath, c))
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
        nodes = [*nodes, [Node("value", item.type, item.format, 1, item.extra)]]
        item = Node("", "object", None, 0, len(nodes) - 1)
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
        decode.update({k: pl.Int64() for k in PAGING_FIELDS})
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
    # Specs are immutable and costly to build: every load of a resource version reuses one.
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
    item = Node("", "object", None, 0, 0)
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


def empty_frame(spec: FrameSpec) -> pl.DataFrame:
    """A frame with no rows and the full typed schema of ``spec``."""
    return pl.DataFrame(schema=spec.schema)


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
