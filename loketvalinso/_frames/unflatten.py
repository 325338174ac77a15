"""The toolkit's flattened rows → the API's nested JSON, by the rules that flatten them.

A read turns ``{"leaveType": {"key": 1, "value": "Vakantie"}, "startDate": "2026-07-01"}`` into
the columns ``leave_type_key``, ``leave_type`` and ``start_date`` (:mod:`~loketvalinso._frames.spec`).
A write goes the other way: :class:`BodyShape` plans the same columns over a request body's
schema (the same :class:`~loketvalinso._frames.spec._Planner`, so the names cannot drift apart)
and remembers each column's API path, so a row read with ``loket.get`` — a dict, a one-row
DataFrame, or the API's own nested JSON — becomes the body a ``PUT`` sends.

* :meth:`BodyShape.columns` reads any of those forms into ``{column: value}``;
* :meth:`BodyShape.body` writes such columns as nested JSON: dates as ``YYYY-MM-DD``, date-times
  as ISO 8601 with an offset, decimals as numbers, list columns as arrays (struct elements with
  the API's names again), JSON-text columns parsed; read-only fields are left out;
* :func:`json_value` is the JSON form of one value, used to compare what was sent with what a
  server holds.
"""

from __future__ import annotations

import difflib
import threading
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import orjson
import polars as pl

from loketvalinso._catalog import Node, snake_case
from loketvalinso._frames.fields import child_nodes
from loketvalinso._frames.spec import _Planner
from loketvalinso.errors import ConfigurationError

__all__ = ["BodyField", "BodyShape", "body_shape", "json_value"]


@dataclass(frozen=True, slots=True)
class BodyField:
    """One column of a request body: where it goes in the JSON and what it holds."""

    column: str
    path: tuple[str, ...]
    node: Node
    read_only: bool


class BodyShape:
    """The flattened columns of one request body schema (an object, or an array of objects).

    Parameters
    ----------
    root
        The body's schema node (``Catalog.writes[...]["schemas"][version]``).
    nodes
        The catalogue's interned property lists.
    what
        How error messages name the body (``"the PUT …/leaverequests/{leaveRequestId} body"``).
    """

    def __init__(self, root: Node, nodes: list[list[Node]], *, what: str) -> None:
        self.what = what
        self.nodes = nodes
        self.is_array = root.type == "array"
        item = root.extra if self.is_array else root
        if not isinstance(item, Node) or item.type != "object":
            msg = f"{what} is not a JSON object (or a list of objects): send it as bytes"
            raise ConfigurationError(msg)
        self.item = item
        planner = _Planner(nodes, False, frozenset())
        planner.run(item)
        self.fields: dict[str, BodyField] = {}
        for column, (path, node) in planner.sources.items():
            read_only = any(n.read_only for n in self._nodes_along(path)) or bool(node.read_only)
            self.fields[column] = BodyField(column, path, node, read_only)
        self.top = {child.name for child in child_nodes(item, nodes)}

    def _nodes_along(self, path: tuple[str, ...]) -> list[Node]:
        """The nodes of every object on ``path`` (a field inside a read-only object is too)."""
        out, node = [], self.item
        for name in path[:-1]:
            child = next((c for c in child_nodes(node, self.nodes) if c.name == name), None)
            if child is None:
                break
            out.append(child)
            node = child
        return out

    @property
    def writable(self) -> list[str]:
        """The columns a request may set."""
        return [c for c, f in self.fields.items() if not f.read_only]

    # -- any input → columns --------------------------------------------------------------------

    def columns(
        self, body: Any, *, ignore: Collection[str] = (), index: int | None = None
    ) -> dict[str, Any]:
        """``body`` as ``{column: value}``.

        ``body`` is the API's JSON object (its top-level names, nested objects), a dict in
        the flattened form (the columns a read returns), a one-row DataFrame, or a Polars row
        as a dict. Columns in ``ignore`` (path ids a loader added) are dropped.

        Raises
        ------
        ConfigurationError
            A key that is neither a field of the body nor a column of its flattened form (with
            the closest names), or a DataFrame that does not have exactly one row.
        """
        where = self.what if index is None else f"item {index} of {self.what}"
        if isinstance(body, pl.DataFrame):
            if body.height != 1:
                msg = (
                    f"{where}: expected a one-row DataFrame, got {body.height} rows; select the "
                    "row to send (e.g. frame.filter(pl.col('id') == ...))"
                )
                raise ConfigurationError(msg)
            body = body.row(0, named=True)
        if not isinstance(body, Mapping):
            msg = f"{where}: expected a dict or a one-row DataFrame, not {type(body).__name__}"
            raise ConfigurationError(msg)
        keys = [str(k) for k in body if k not in ignore]
        if keys and all(k in self.top for k in keys) and not all(k in self.fields for k in keys):
            return self._from_json(body)
        unknown = [k for k in keys if k not in self.fields]
        if unknown:
            raise ConfigurationError(self._unknown(where, unknown))
        return {k: body[k] for k in keys}

    def _from_json(self, body: Mapping[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for column, field in self.fields.items():
            value: Any = body
            for name in field.path:
                if not isinstance(value, Mapping) or name not in value:
                    break
                value = value[name]
            else:
                out[column] = value
        return out

    def _unknown(self, where: str, unknown: list[str]) -> str:
        hints = []
        for key in unknown[:5]:
            close = difflib.get_close_matches(
                snake_case(key), list(self.fields) + list(self.top), n=2
            )
            hints.append(f"{key!r}" + (f" (did you mean {' or '.join(close)}?)" if close else ""))
        more = f" and {len(unknown) - 5} more" if len(unknown) > 5 else ""
        return (
            f"{where} has no field {', '.join(hints)}{more}. Give the API's JSON, or the "
            f"columns a read returns: {', '.join(self.writable[:12])}"
            + (", …" if len(self.writable) > 12 else "")
        )

    # -- columns → JSON -------------------------------------------------------------------------

    def body(self, columns: Mapping[str, Any]) -> dict[str, Any]:
        """The nested JSON of ``columns`` (read-only fields left out, nesting rebuilt).

        An object whose given fields are all null is sent as null where the schema allows it
        (a read of ``"address": null`` gives null columns, which go back as ``null``); a null
        the schema does not allow is left out (the server keeps its default).
        """
        out: dict[str, Any] = {}
        for column, value in columns.items():
            field = self.fields.get(column)
            if field is None or field.read_only:
                continue
            target = out
            for name in field.path[:-1]:
                target = target.setdefault(name, {})
            target[field.path[-1]] = json_value(field.node, value, self.nodes)
        return _settle_nulls(out, self.item, self.nodes)

    def flat_json(self, columns: Mapping[str, Any]) -> dict[str, Any]:
        """``columns`` with each value in its JSON form (for comparisons and diffs)."""
        out: dict[str, Any] = {}
        for column, value in columns.items():
            field = self.fields.get(column)
            if field is not None:
                out[column] = json_value(field.node, value, self.nodes)
        return out


def _settle_nulls(obj: dict[str, Any], node: Node, nodes: list[list[Node]]) -> dict[str, Any]:
    """Objects of nulls become null where allowed; nulls not allowed are left out."""
    out: dict[str, Any] = {}
    for child in child_nodes(node, nodes):
        if child.name not in obj:
            continue
        value = obj[child.name]
        if child.type == "object" and isinstance(value, dict):
            value = _settle_nulls(value, child, nodes)
            if not value or all(v is None for v in value.values()):
                value = None
        if value is None and not child.nullable:
            continue
        out[child.name] = value
    return out


def json_value(node: Node, value: Any, nodes: list[list[Node]] | None = None) -> Any:
    """``value`` as the JSON the API takes for a field of ``node``."""
    if value is None:
        return None
    kind, fmt = node.type, node.format
    if kind == "string":
        if fmt == "date" and isinstance(value, date | datetime):
            return (value.date() if isinstance(value, datetime) else value).isoformat()
        if fmt == "date-time" and isinstance(value, datetime):
            moment = value if value.tzinfo else value.replace(tzinfo=UTC)
            return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")
        if fmt == "date-time" and isinstance(value, date):
            return f"{value.isoformat()}T00:00:00Z"
        return value if isinstance(value, str) else str(value)
    if kind == "integer":
        if isinstance(value, float) and value.is_integer():
            return int(value)
        return int(value) if isinstance(value, Decimal) else value
    if kind == "number":
        return float(value) if isinstance(value, Decimal) else value
    if kind == "array" and isinstance(value, pl.Series):
        value = value.to_list()
    if kind == "array" and isinstance(value, list | tuple):
        item = node.extra
        return [json_value(item, v, nodes) for v in value] if isinstance(item, Node) else value
    if kind == "object" and isinstance(value, Mapping):
        children = {snake_case(c.name): c for c in child_nodes(node, nodes or [])}
        children.update({c.name: c for c in children.values()})
        out = {}
        for key, v in value.items():
            child = children.get(str(key))
            out[child.name if child else str(key)] = json_value(child, v, nodes) if child else v
        return out
    if kind == "any" and isinstance(value, str):
        try:
            return orjson.loads(value)
        except orjson.JSONDecodeError:
            return value
    return value


_SHAPES: dict[tuple[int, str], tuple[Node, BodyShape]] = {}
_SHAPES_LOCK = threading.Lock()


def body_shape(root: Node, nodes: list[list[Node]], *, what: str) -> BodyShape:
    """The :class:`BodyShape` of a catalogue schema, built once per schema node."""
    key = (id(root), what)
    hit = _SHAPES.get(key)
    if hit is not None and hit[0] is root:
        return hit[1]
    shape = BodyShape(root, nodes, what=what)
    with _SHAPES_LOCK:
        if len(_SHAPES) >= 512:
            _SHAPES.clear()
        _SHAPES[key] = (root, shape)  # holding the node keeps its id from being reused
    return shape
