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

Drift checks
------------
``pl.read_json`` turns an off-type value into another one without a word (``1.7`` into an integer
column becomes 1, a number past the column's range becomes null) and the conversions null what
they cannot parse. So integers are decoded as Float64 and cast after :attr:`FrameSpec.int_check`
(one native expression over the decoded items) found every value integral and in range; and every
converted leaf (dates, date-times, money, unix seconds) has a :class:`Check` whose null counts
show what its conversion coerced or nulled. A page that fails either is decoded again by the
tolerant path (:mod:`~loketvalinso._frames.tolerant`); what it changed is its drift
(:mod:`~loketvalinso._frames.drift`).
"""

from __future__ import annotations

import dataclasses
import functools
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import polars as pl

from loketvalinso._catalog import Catalog, Endpoint, Node, get_catalog, snake_case
from loketvalinso._frames.fields import (
    FLOAT_EXACT,
    INT32_RANGE,
    child_nodes,
    convert,
    declared_name,
    decode_dtype,
    fast_convert,
    is_meta,
)
from loketvalinso.errors import ResponseFormatError

__all__ = [
    "DEFAULT_EXPLODE",
    "VALINSO_FIELDS",
    "Check",
    "FrameSpec",
    "check_full",
    "empty_frame",
    "rounded_money",
    "schema_for",
    "valinso_spec",
    "widened_spec",
]

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
    #: The raw field path and the declared dtype (:func:`declared_name`) of each output.
    paths: tuple[tuple[str, ...], ...] = field(default=(), repr=False)
    declared: tuple[str, ...] = field(default=(), repr=False)
    #: The converted leaves whose null counts show drift (see the module docstring).
    checks: tuple[Check, ...] = field(default=(), repr=False)
    #: Integer values that are not integral or out of range, over the decoded items (a scalar
    #: expression on ``__item``); None without integer fields.
    int_check: pl.Expr | None = field(default=None, repr=False)
    #: The item dtype with integers as Int32/Int64 and money as text: what the tolerant path
    #: builds its cleaned items with.
    item_dtype_exact: pl.DataType | None = field(default=None, repr=False)
    #: What the spec was built from (for :func:`widened_spec`).
    path_params: tuple[tuple[str, str], ...] = field(default=(), repr=False)
    explode_set: frozenset[str] = field(default=frozenset(), repr=False)

    @property
    def columns(self) -> list[str]:
        return list(self.schema.names())

    @functools.cached_property
    def row_stats(self) -> dict[str, pl.Expr]:
        """The scalars the conversion checks read from the select of the outputs, by name:
        ``__int`` (integers an integer column cannot hold); per check ``k``, ``__s<k>``
        (non-null values before the conversion), ``__q<k>``/``__f<k>`` (after the fast and the
        full conversion, for leaves inside lists: a top-level leaf is counted on its output)
        and ``__r<k>`` (money with more than two decimals). In a spec that explodes, the leaves
        of the items are counted on the items instead (:attr:`item_stats`; only their
        ``__s<k>`` is here, for the fast conversions)."""
        exprs: dict[str, pl.Expr] = {}
        if self.int_check is not None:
            exprs["__int"] = self.int_check
        for k, c in enumerate(self.checks):
            if c.element or not self.explodes:
                exprs.update(_check_stats(k, c, outputs_counted=False))
            elif c.fast is not None and c.output is not None:
                exprs[f"__s{k}"] = c.source.count()
        return {name: e.alias(name) for name, e in exprs.items()}

    @functools.cached_property
    def item_stats(self) -> dict[str, pl.Expr]:
        """:attr:`row_stats` of the item leaves of a spec that explodes, on the items."""
        exprs: dict[str, pl.Expr] = {}
        if self.explodes:
            for k, c in enumerate(self.checks):
                if not c.element:
                    exprs.update(_check_stats(k, c, outputs_counted=True, spec=self))
        return {name: e.alias(name) for name, e in exprs.items()}

    @functools.cached_property
    def column_of(self) -> dict[tuple[str, ...], tuple[str, str]]:
        """``(column, declared dtype)`` of each output, by raw field path."""
        return {
            p: (name, d)
            for p, (name, _), d in zip(self.paths, self.outputs, self.declared, strict=True)
        }

    @functools.cached_property
    def decode_variants(self) -> list[dict[str, pl.DataType]]:
        """Envelope schemas to try: the declared shape first, then object/list swapped."""
        return _decode_variants(self)


# -- building a spec -----------------------------------------------------------------------------
class Check(NamedTuple):
    """A converted leaf whose null counts show drift.

    ``source`` is the decoded text or number, ``full`` its conversion; ``fast`` the one-format
    conversion of a date or date-time (values it misses but ``full`` takes were coerced, e.g. a
    date-time where a date is declared). ``output`` is the index of a top-level leaf's output
    (its values are the conversion); a leaf inside a list column has flat (exploded)
    expressions instead. ``element``: the leaf belongs to the elements of an exploded array;
    otherwise, in a spec that explodes, its expressions also work on the items before the
    explode (where each value counts once).
    """

    column: str
    path: tuple[str, ...]
    declared: str
    kind: str
    source: pl.Expr
    fast: pl.Expr | None
    full: pl.Expr
    output: int | None
    element: bool = False


def rounded_money(check: Check) -> pl.Expr:
    """Money with more than two decimals (the Decimal(10, 2) column rounds it)."""
    cents = check.source.cast(pl.Float64, strict=False) * 100
    return cents.is_finite() & ((cents - cents.round(0)).abs() > 1e-6)


def check_full(check: Check, spec: FrameSpec) -> pl.Expr:
    """The full conversion of a check's leaf (a top-level leaf's is its output)."""
    return spec.outputs[check.output][1] if check.output is not None else check.full


def _check_stats(
    k: int, c: Check, *, outputs_counted: bool, spec: FrameSpec | None = None
) -> dict[str, pl.Expr]:
    """The counts of check ``k`` (see :attr:`FrameSpec.row_stats`); ``outputs_counted``: also
    after the full conversion of a top-level leaf (``spec`` has its output)."""
    exprs = {f"__s{k}": c.source.count()}
    if c.output is None or outputs_counted:
        full = check_full(c, spec) if spec is not None else c.full
        exprs[f"__f{k}"] = full.count()
        if c.fast is not None:
            exprs[f"__q{k}"] = c.fast.count()
    if c.kind == "decimal":
        exprs[f"__r{k}"] = rounded_money(c).sum()
    return exprs


class _Output(NamedTuple):
    """One planned output column: its expression and dtype, the one-format conversion of a
    date/date-time (``(fast, source)`` or None), and the field it comes from."""

    name: str
    expr: pl.Expr
    dtype: Any
    fast: tuple[pl.Expr, pl.Expr] | None
    path: tuple[str, ...]
    node: Node | None
    source: pl.Expr | None
    element: bool = False


#: Field formats whose conversion may coerce or null a value (see :class:`Check`).
_CHECKED = {("string", "date"), ("string", "date-time"), ("number", "decimal"), ("integer", "unix")}


class _Planner:
    def __init__(self, nodes: list[list[Node]], raw: bool, explode: frozenset[str]) -> None:
        self.nodes = nodes
        self.raw = raw
        self.explode = explode
        self.outputs: list[_Output] = []
        self.explodes: list[tuple[str, pl.Expr]] = []
        self.any_paths: list[tuple[tuple[str, ...], str]] = []
        self.known: set[tuple[str, ...]] = set()
        self.used: set[str] = set()
        #: checks of converted leaves inside list columns
        self.nested: list[Check] = []
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
        *,
        path: tuple[str, ...] = (),
        node: Node | None = None,
        source: pl.Expr | None = None,
    ) -> None:
        base, i = name, 2
        while name in self.used:
            name = f"{base}_{i}"
            i += 1
        self.used.add(name)
        self.outputs.append(_Output(name, expr.alias(name), dtype, fast, path, node, source))
        if node is not None and node[1] == "array" and source is not None:
            self.nested += _nested_checks(source.explode(), node[4], self.nodes, path, name)
        if node is not None:
            self.sources[name] = (path, node)

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
        children = child_nodes(node, self.nodes)
        meta = is_meta(children) and not top
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
            elif ctype == "any" or decode_dtype(c, self.nodes) is None:
                name = self.name(cparts, cpath)
                self.add(name, pl.lit(None, pl.String()), pl.String(), path=cpath, node=c)
                self.any_paths.append((cpath, self.outputs[-1][0]))
            else:
                expr, dtype = convert(ce, c, self.nodes, self.raw)
                quick = fast_convert(ce, c)
                self.add(
                    self.name(cparts, cpath),
                    expr,
                    dtype,
                    None if quick is None else (quick, ce),
                    path=cpath,
                    node=c,
                    source=ce,
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
                renamed = {}
                for out in sub.outputs:
                    name = out.name
                    if not self.raw and name in self.used:
                        name = "_".join([*parts, name])
                    self.add(name, out.expr, out.dtype, out.fast, path=out.path, node=out.node)
                    self.outputs[-1] = self.outputs[-1]._replace(source=out.source, element=True)
                    # a list element's column is not a field a write can put back
                    self.sources.pop(self.outputs[-1].name, None)
                    renamed[out.name] = self.outputs[-1].name
                for check in sub.nested:
                    head, dot, rest = check.column.partition(".")
                    label = renamed.get(head, head) + dot + rest
                    self.nested.append(check._replace(column=label, element=True))
                self.any_paths += sub.any_paths
                del before
                nxt += deferred
            pending = nxt


def _nested_checks(
    flat: pl.Expr, node: Node, nodes: list[list[Node]], path: tuple[str, ...], label: str
) -> list[Check]:
    """Checks of the converted leaves of list elements (``flat``: the elements, exploded)."""
    t = node[1]
    if t == "object":
        out = []
        for c in child_nodes(node, nodes):
            out += _nested_checks(
                flat.struct.field(c[0]), c, nodes, (*path, c[0]), f"{label}.{snake_case(c[0])}"
            )
        return out
    if t == "array":
        return _nested_checks(flat.explode(), node[4], nodes, path, label)
    if (t, node[2]) not in _CHECKED:
        return []
    full, _ = convert(flat, node, nodes, raw=False)
    fast = fast_convert(flat, node)
    return [Check(label, path, declared_name(node), node[2] or t, flat, fast, full, None)]


def _int_checks(e: pl.Expr, node: Node, nodes: list[list[Node]]) -> list[pl.Expr]:
    """Per integer leaf under ``e``: the number of decoded values an integer column could not
    hold exactly (not integral, out of range, or past :data:`FLOAT_EXACT`)."""
    t, fmt = node[1], node[2]
    if t == "object":
        return [
            x for c in child_nodes(node, nodes) for x in _int_checks(e.struct.field(c[0]), c, nodes)
        ]
    if t == "array":
        return _int_checks(e.explode(), node[4], nodes)
    if t != "integer" or fmt == "unix":
        return []
    # symmetric bounds (one comparison): -2**31 is sent the tolerant way, which holds it
    limit = INT32_RANGE[1] if fmt == "int32" else FLOAT_EXACT - 1
    bad = (e.floor() != e) | (e.abs() > limit)
    return [bad.sum().cast(pl.Int64)]


def _checks(planner: _Planner) -> tuple[Check, ...]:
    top = [
        Check(
            out.name,
            out.path,
            declared_name(out.node),
            out.node[2] or out.node[1],
            out.source,
            out.fast[0] if out.fast else None,
            out.expr,
            i,
            out.element,
        )
        for i, out in enumerate(planner.outputs)
        if out.node is not None
        and out.source is not None
        and (out.node[1], out.node[2]) in _CHECKED
    ]
    return (*top, *planner.nested)


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
    item_dtype = decode_dtype(item, nodes)
    item_dtype_loose = decode_dtype(item, nodes, "loose")
    if wrapped:  # items that are arrays or scalars: one column "value"
        nodes = [*nodes, [Node("value", item.type, item.format, 1, item.extra)]]
        item = Node("", "object", None, 0, len(nodes) - 1)
    planner = _Planner(nodes, raw_names, explode_set)
    planner.run(item)
    int_checks = _int_checks(pl.col("__item"), item, nodes)
    path_columns = []
    cols: list[tuple[str, pl.DataType]] = []
    for pname, column in path_params:
        col = pname if raw_names else column
        if col not in planner.used:
            path_columns.append((pname, col))
            cols.append((col, pl.String()))
    cols += [(out.name, out.dtype) for out in planner.outputs]
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
        outputs=tuple((out.name, out.expr) for out in planner.outputs),
        fast=tuple(
            (i, out.fast[0].alias(out.name), out.fast[1])
            for i, out in enumerate(planner.outputs)
            if out.fast
        ),
        flat_fields=_flat_fields(item_dtype) if not wrapped else None,
        schema=pl.Schema(cols),
        any_paths=tuple(planner.any_paths),
        known_paths=frozenset(planner.known),
        raw_names=raw_names,
        body_keys=body_keys,
        paths=tuple(out.path for out in planner.outputs),
        declared=tuple(
            declared_name(out.node) if out.node else str(out.dtype) for out in planner.outputs
        ),
        checks=_checks(planner),
        int_check=pl.sum_horizontal(int_checks) if int_checks else None,
        item_dtype_exact=decode_dtype(item, nodes, "exact"),
        path_params=tuple(path_params),
        explode_set=explode_set,
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
    return _valinso_spec(resource or "", tuple(path_params))


@functools.lru_cache(maxsize=64)
def _valinso_spec(resource: str, path_params: tuple[str, ...]) -> FrameSpec:
    """:func:`valinso_spec`, built once per resource (a spec is frozen; building one plans
    every column and check: milliseconds a warm load would spend again)."""
    fields = VALINSO_FIELDS.get(resource, [])
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


def widened_spec(spec: FrameSpec, widen: Mapping[tuple[str, ...], str]) -> FrameSpec:
    """``spec`` with integer fields widened: to Int64 (``"int64"``) or to text (``"text"``),
    by raw field path; for a page whose integers do not fit the declared dtype."""

    def retyped(node: Node, path: tuple[str, ...], kind: str) -> Node:
        if not path:
            if kind == "text":
                return node._replace(type="string", format=None)
            return node._replace(format="int64")
        if node[1] == "object":
            children = [
                retyped(c, path[1:], kind) if c[0] == path[0] else c
                for c in child_nodes(node, spec.nodes)
            ]
            return node._replace(extra=children)
        if node[1] == "array":  # the path names fields only: it goes on in the elements
            return node._replace(extra=retyped(node[4], path, kind))
        return node

    key = (id(spec), tuple(sorted(widen.items())))
    hit = _WIDENED.get(key)
    if hit is not None and hit[0] is spec:
        return hit[1]
    item = spec.item
    for path, kind in sorted(widen.items()):
        item = retyped(item, path, kind)
    rebuilt = _build_spec(
        api=spec.api,
        envelope=spec.envelope,
        name=spec.name,
        version=spec.version,
        item=item,
        nodes=spec.nodes,
        path_params=spec.path_params,
        raw_names=spec.raw_names,
        explode=spec.explode_set,
        body_keys=spec.body_keys,
    )
    widened = dataclasses.replace(rebuilt, wrapped=spec.wrapped)
    with _SPECS_LOCK:
        if len(_WIDENED) >= _SPECS_MAX:
            _WIDENED.clear()
        _WIDENED[key] = (spec, widened)  # holds the spec: its id() is not reused meanwhile
    return widened


_WIDENED: dict[tuple[Any, ...], tuple[FrameSpec, FrameSpec]] = {}


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
