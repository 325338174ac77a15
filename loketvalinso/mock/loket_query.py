"""Loket's ``filter`` and ``orderBy`` query parameters, parsed and evaluated with Polars.

The syntax, as the API's description documents it::

    filter=startDate ge '2025-01-01' and leaveType.key eq 16
    filter=endDate eq null or (employeeNumber ge 1 and employeeNumber le 5)
    orderBy=-startDate,submittedBy.employeeNumber

- operators ``eq ne lk gt ge lt le``, joined with ``and``/``or`` (``and`` binds tighter) and
  parentheses; keywords are case-insensitive;
- values: ``'quoted text'`` (``''`` escapes a quote), numbers, ``true``/``false``, ``null``; dates and
  date-times are quoted (an unquoted ``2025-01-01`` is accepted too);
- field names are case-insensitive dot paths into the item (``leaveType.key``); string comparisons
  are case-insensitive, like the real API's database collation;
- ``lk`` is "contains" (``%`` inside the value is a wildcard, as in SQL ``LIKE``);
- ``eq null``/``ne null`` test for a missing value; ``ne`` keeps rows whose field is null (the
  value differs from the one asked for).

Evaluation runs on a *query frame*: a Polars frame whose columns are the lower-cased dot paths of
the item's fields. Nothing here loops over rows in Python.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime

import polars as pl

__all__ = [
    "And",
    "Comparison",
    "Or",
    "QueryError",
    "apply_query",
    "filter_expr",
    "order_keys",
    "parse_filter",
    "parse_order_by",
]

OPERATORS = frozenset({"eq", "ne", "lk", "gt", "ge", "lt", "le"})
_ORDERING_OPS = frozenset({"gt", "ge", "lt", "le"})


class QueryError(ValueError):
    """A ``filter`` or ``orderBy`` the API cannot evaluate; the message says why."""


@dataclass(frozen=True, slots=True)
class Comparison:
    field: str  # lower-cased dot path
    op: str
    value: str | int | float | bool | None
    quoted: bool = False


@dataclass(frozen=True, slots=True)
class And:
    left: Node
    right: Node


@dataclass(frozen=True, slots=True)
class Or:
    left: Node
    right: Node


Node = Comparison | And | Or

_TOKEN = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<string>'(?:[^']|'')*')
  | (?P<lparen>\()
  | (?P<rparen>\))
  | (?P<date>\d{4}-\d{2}-\d{2}(?:T[0-9:.]+(?:Z|[+-]\d{2}:?\d{2})?)?)
  | (?P<number>-?\d+(?:\.\d+)?)
  | (?P<word>[A-Za-z_][\w.]*)
    """,
    re.VERBOSE,
)


def _tokenize(text: str) -> list[tuple[str, str]]:
    tokens: list[tuple[str, str]] = []
    pos = 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None:
            msg = f"Invalid filter: unexpected character {text[pos]!r} at position {pos + 1}."
            raise QueryError(msg)
        kind = m.lastgroup or ""
        if kind != "ws":
            tokens.append((kind, m.group()))
        pos = m.end()
    return tokens


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = _tokenize(text)
        self.pos = 0

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self) -> tuple[str, str]:
        tok = self.peek()
        if tok is None:
            msg = f"Invalid filter {self.text!r}: it ends too early (expected field, operator, value)."
            raise QueryError(msg)
        self.pos += 1
        return tok

    def keyword(self, word: str) -> bool:
        tok = self.peek()
        if tok is not None and tok[0] == "word" and tok[1].lower() == word:
            self.pos += 1
            return True
        return False

    def parse(self) -> Node:
        node = self.expr()
        if self.peek() is not None:
            msg = (
                f"Invalid filter {self.text!r}: unexpected {self.peek()[1]!r}; "  # type: ignore[index]
                "join conditions with 'and' or 'or'."
            )
            raise QueryError(msg)
        return node

    def expr(self) -> Node:
        node = self.term()
        while self.keyword("or"):
            node = Or(node, self.term())
        return node

    def term(self) -> Node:
        node = self.factor()
        while self.keyword("and"):
            node = And(node, self.factor())
        return node

    def factor(self) -> Node:
        kind, value = self.take()
        if kind == "lparen":
            node = self.expr()
            if self.take()[0] != "rparen":
                msg = f"Invalid filter {self.text!r}: missing ')'."
                raise QueryError(msg)
            return node
        if kind != "word":
            msg = f"Invalid filter {self.text!r}: expected a field name, got {value!r}."
            raise QueryError(msg)
        field = value.lower()
        op_kind, op = self.take()
        op = op.lower()
        if op_kind != "word" or op not in OPERATORS:
            msg = (
                f"Invalid filter {self.text!r}: unknown operator {op!r} after {value!r}; "
                f"use one of {', '.join(sorted(OPERATORS))}."
            )
            raise QueryError(msg)
        vkind, raw = self.take()
        if vkind == "string":
            return Comparison(field, op, raw[1:-1].replace("''", "'"), quoted=True)
        if vkind == "date":
            return Comparison(field, op, raw, quoted=True)
        if vkind == "number":
            num: int | float = float(raw) if "." in raw else int(raw)
            return Comparison(field, op, num)
        if vkind == "word" and raw.lower() in ("true", "false"):
            return Comparison(field, op, raw.lower() == "true")
        if vkind == "word" and raw.lower() == "null":
            return Comparison(field, op, None)
        msg = (
            f"Invalid filter {self.text!r}: the value {raw!r} for {value!r} must be a number, "
            "true/false, null or a quoted text such as '2025-01-01'."
        )
        raise QueryError(msg)


def parse_filter(text: str) -> Node:
    """Parse a ``filter`` parameter into a small tree; raise :class:`QueryError` if invalid."""
    if not text or not text.strip():
        msg = "Invalid filter: it is empty."
        raise QueryError(msg)
    return _Parser(text).parse()


def parse_order_by(text: str) -> list[tuple[str, bool]]:
    """``"-startDate,leaveType.key"`` → ``[("startdate", True), ("leavetype.key", False)]``."""
    keys: list[tuple[str, bool]] = []
    for part in text.split(","):
        part = part.strip()
        descending = part.startswith("-")
        name = part[1:].strip() if descending else part
        if not re.fullmatch(r"[A-Za-z_][\w]*(\.[A-Za-z_]\w*)*", name):
            msg = (
                f"Invalid orderBy {text!r}: {part!r} is not a field name "
                "(use e.g. orderBy=-startDate,employee.employeeNumber)."
            )
            raise QueryError(msg)
        keys.append((name.lower(), descending))
    return keys


def _column(field: str, schema: Mapping[str, pl.DataType], what: str) -> pl.DataType:
    dtype = schema.get(field)
    if dtype is None or field.startswith("_"):
        known = ", ".join(sorted(k for k in schema if not k.startswith("_")))
        msg = f"Invalid {what}: unknown field {field!r}. Fields you can use: {known}."
        raise QueryError(msg)
    return dtype


def _to_date(field: str, value: object) -> date:
    if isinstance(value, str):
        try:
            return date.fromisoformat(value[:10])
        except ValueError:
            pass
    msg = f"Invalid filter: {field!r} is a date; write the value quoted as 'YYYY-MM-DD'."
    raise QueryError(msg)


def _to_datetime(field: str, value: object, tz: str | None) -> datetime:
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            pass
        else:
            if tz is None:
                return parsed.replace(tzinfo=None)
            if parsed.tzinfo is None:
                parsed = parsed.replace(tzinfo=UTC)
            return parsed.astimezone(UTC)
    msg = (
        f"Invalid filter: {field!r} is a date-time; write the value quoted, "
        "e.g. '2025-01-01' or '2025-01-01T08:00:00Z'."
    )
    raise QueryError(msg)


def _like_pattern(value: str) -> str:
    parts = [re.escape(p) for p in value.lower().split("%")]
    if len(parts) == 1:
        return parts[0]  # no wildcard: "contains"
    return "^" + ".*".join(parts) + "$"


def _comparison(node: Comparison, schema: Mapping[str, pl.DataType]) -> pl.Expr:
    dtype = _column(node.field, schema, "filter")
    col = pl.col(node.field)
    value = node.value
    if value is None:
        if node.op == "eq":
            return col.is_null()
        if node.op == "ne":
            return col.is_not_null()
        msg = f"Invalid filter: null can only be compared with eq or ne (field {node.field!r})."
        raise QueryError(msg)
    if node.op == "lk" and dtype != pl.String:
        msg = f"Invalid filter: lk (like) works on text fields only; {node.field!r} is not text."
        raise QueryError(msg)
    lit: object
    if dtype == pl.String:
        text = str(value).lower()
        lowered = col.str.to_lowercase()
        if node.op == "lk":
            return lowered.str.contains(_like_pattern(text)).fill_null(False)
        col, lit = lowered, text
    elif dtype == pl.Boolean:
        if isinstance(value, str) and value.lower() in ("true", "false"):
            value = value.lower() == "true"
        if not isinstance(value, bool) or node.op in _ORDERING_OPS:
            msg = f"Invalid filter: {node.field!r} is true/false; compare it with eq or ne."
            raise QueryError(msg)
        lit = value
    elif dtype.is_numeric():
        if isinstance(value, str):
            try:
                value = float(value) if "." in value else int(value)
            except ValueError:
                value = None
        if isinstance(value, bool) or not isinstance(value, int | float):
            msg = f"Invalid filter: {node.field!r} is a number; compare it with a number."
            raise QueryError(msg)
        lit = value
    elif dtype == pl.Date:
        lit = _to_date(node.field, value)
    elif isinstance(dtype, pl.Datetime):
        lit = _to_datetime(node.field, value, dtype.time_zone)
        if node.quoted and isinstance(value, str) and len(value) == 10 and node.op in ("eq", "ne"):
            # A bare date against a date-time means "that day", not "that midnight".
            day = col.dt.date()
            d = _to_date(node.field, value)
            return day == d if node.op == "eq" else day.ne_missing(d)
    else:
        msg = f"Invalid filter: field {node.field!r} cannot be filtered on."
        raise QueryError(msg)
    lit_expr = pl.lit(lit)
    if node.op == "eq":
        return (col == lit_expr).fill_null(False)
    if node.op == "ne":
        return col.ne_missing(lit_expr)
    ops = {"gt": col > lit_expr, "ge": col >= lit_expr, "lt": col < lit_expr, "le": col <= lit_expr}
    return ops[node.op].fill_null(False)


def filter_expr(node: Node, schema: Mapping[str, pl.DataType]) -> pl.Expr:
    """A boolean Polars expression for ``node`` over a query frame with ``schema``."""
    if isinstance(node, And):
        return filter_expr(node.left, schema) & filter_expr(node.right, schema)
    if isinstance(node, Or):
        return filter_expr(node.left, schema) | filter_expr(node.right, schema)
    return _comparison(node, schema)


def order_keys(
    order: list[tuple[str, bool]], schema: Mapping[str, pl.DataType]
) -> tuple[list[pl.Expr], list[bool]]:
    """Sort expressions and directions for ``order`` (text sorts case-insensitively)."""
    exprs: list[pl.Expr] = []
    desc: list[bool] = []
    for field, descending in order:
        dtype = _column(field, schema, "orderBy")
        expr = pl.col(field)
        if dtype == pl.String:
            expr = expr.str.to_lowercase()
        exprs.append(expr)
        desc.append(descending)
    return exprs, desc


def apply_query(
    frame: pl.DataFrame, *, filter: str | None = None, order_by: str | None = None
) -> pl.DataFrame:
    """``frame`` filtered and ordered as the API would; ties keep the frame's own (stable) order.

    Parameters
    ----------
    frame
        A query frame (columns named by lower-cased dot paths; ``_``-prefixed columns are hidden).
    filter, order_by
        The raw ``filter`` and ``orderBy`` parameter values (``None`` or blank: not given).
    """
    schema = frame.schema
    if filter is not None and filter.strip():
        frame = frame.filter(filter_expr(parse_filter(filter), schema))
    if order_by is not None and order_by.strip():
        exprs, desc = order_keys(parse_order_by(order_by), schema)
        frame = frame.sort(exprs, descending=desc, nulls_last=True, maintain_order=True)
    return frame
