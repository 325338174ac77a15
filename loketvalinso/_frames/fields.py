"""A field of a schema (a catalogue :class:`~loketvalinso._catalog.Node`) → the dtype it is
decoded with and the Polars expression that converts it to its output dtype.

The building blocks of :mod:`~loketvalinso._frames.spec` (which plans a whole resource from
them) and of the write path's :mod:`~loketvalinso._frames.unflatten`; pure functions of a node.
"""

from __future__ import annotations

from typing import Any

import polars as pl

from loketvalinso._catalog import Node, snake_case

__all__ = [
    "FLOAT_EXACT",
    "INT32_RANGE",
    "MONEY",
    "MONEY_LIMIT",
    "UTC_DATETIME",
    "child_nodes",
    "convert",
    "declared_name",
    "decode_dtype",
    "fast_convert",
    "int_dtype",
    "is_meta",
]

UTC_DATETIME = pl.Datetime("us", "UTC")
#: Valinso money (the mock world uses the same dtype).
MONEY = pl.Decimal(10, 2)
#: The amounts :data:`MONEY` holds are below this.
MONEY_LIMIT = 1e8
#: Integers decoded as Float64 are exact up to here; a larger one is checked exactly (tolerantly).
FLOAT_EXACT = 2**53
#: The range of an int32 field.
INT32_RANGE = (-(2**31), 2**31 - 1)


def child_nodes(node: Node, nodes: list[list[Node]]) -> list[Node]:
    extra = node[4]
    return nodes[extra] if isinstance(extra, int) else list(extra or [])


def int_dtype(fmt: str | None) -> pl.DataType:
    return pl.Int32() if fmt == "int32" else pl.Int64()


def decode_dtype(node: Node, nodes: list[list[Node]], mode: str = "typed") -> pl.DataType | None:
    """The dtype a field is decoded with: ``typed`` (``pl.read_json``: integers as Float64, so
    that :attr:`FrameSpec.int_check` sees what an integer decode would cut or null), ``loose``
    (also money as text) or ``exact`` (the tolerant path's cleaned values: integers as Int32/
    Int64)."""
    t, fmt = node[1], node[2]
    if t == "string":
        return pl.String()
    if t == "integer":
        if fmt == "unix" or mode != "exact":
            return pl.Float64()
        return int_dtype(fmt)
    if t == "number":
        return pl.String() if fmt == "decimal" and mode == "loose" else pl.Float64()
    if t == "boolean":
        return pl.Boolean()
    if t == "object":
        fields = [
            pl.Field(c[0], d)
            for c in child_nodes(node, nodes)
            if (d := decode_dtype(c, nodes, mode)) is not None
        ]
        return pl.Struct(fields) if fields else None
    if t == "array":
        inner = decode_dtype(node[4], nodes, mode)
        return pl.List(inner) if inner is not None else None
    return None  # "any": free-form, filled as JSON text from the slow path


def declared_name(node: Node) -> str:
    """The output dtype of a field, in words short enough for the drift report."""
    t, fmt = node[1], node[2]
    if t == "string":
        return {"date": "Date", "date-time": "Datetime"}.get(fmt or "", "String")
    if t == "integer":
        return "Datetime (unix seconds)" if fmt == "unix" else str(int_dtype(fmt))
    if t == "number":
        return "Decimal(10, 2)" if fmt == "decimal" else "Float64"
    return {"boolean": "Boolean", "object": "Struct", "array": "List"}.get(t, "String (JSON text)")


def is_meta(children: list[Node]) -> bool:
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


def fast_convert(e: pl.Expr, node: Node) -> pl.Expr | None:
    """The one-format conversion of a date/date-time string (None for other fields)."""
    if node[1] != "string":
        return None
    if node[2] == "date":
        return e.str.to_date("%Y-%m-%d", strict=False)
    if node[2] == "date-time":
        return e.str.to_datetime("%+", strict=False, time_unit="us", time_zone="UTC")
    return None


def convert(e: pl.Expr, node: Node, nodes: list[list[Node]], raw: bool) -> tuple[pl.Expr, Any]:
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
        # through Float64 whether it was decoded as a number or as text, so that both round
        # alike; an amount past the Decimal's range fails the whole cast: the page then goes
        # the tolerant way, which nulls (and counts) such amounts first
        return e.cast(pl.Float64, strict=False).cast(MONEY, strict=False), MONEY
    if t == "integer":
        # decoded as Float64; int_check has found every value integral and in range, so the
        # cast needs no range check of its own (wrapping is the quick cast)
        dtype = int_dtype(fmt)
        return e.cast(dtype, strict=False, wrap_numerical=True), dtype
    if t in ("number", "boolean"):
        return e, decode_dtype(node, nodes)
    if t == "object":
        parts, fields = [], []
        for c in child_nodes(node, nodes):
            if decode_dtype(c, nodes) is None:
                continue
            name = c[0] if raw else snake_case(c[0])
            ce, cd = convert(e.struct.field(c[0]), c, nodes, raw)
            parts.append(ce.alias(name))
            fields.append(pl.Field(name, cd))
        if not fields:
            return pl.lit(None, pl.String()), pl.String()
        return pl.when(e.is_not_null()).then(pl.struct(parts)), pl.Struct(fields)
    if t == "array":
        item = node[4]
        if decode_dtype(item, nodes) is None:
            return pl.lit(None, pl.String()), pl.String()
        ie, idt = convert(pl.element(), item, nodes, raw)
        return e.list.eval(ie), pl.List(idt)
    return pl.lit(None, pl.String()), pl.String()
