"""The tolerant path: a page the fast decode could not take, value by value (Python objects).

Only pages that need it come here: a well-formed body whose native decode failed (a number sent
as text, an object where a scalar is declared, …) or whose integers the native decode would cut
or null (:attr:`~loketvalinso._frames.spec.FrameSpec.int_check`). :class:`ItemWalker` walks the
decoded items along the spec's field tree and

* coerces each value to its declared type where the meaning is clear, and counts it;
* sets what does not fit to null and counts it, keeping the raw value as an example;
* widens an integer field whose values do not fit (Int32 → Int64; past Int64 → text);
* finds the fields the spec does not declare (kept as extra columns by the caller, counted).

Never a row is dropped: an item that is not an object becomes a row of nulls. The same walker,
with ``clean=False``, only finds undeclared fields (pages that decoded natively but carry more
keys than the decode captured).

What is coerced (counted as ``coerced``) and what is not
---------------------------------------------------------
=====================  =========================================  ================================
declared               arrives                                    becomes
=====================  =========================================  ================================
text                   an object or array                         its JSON text
integer                ``"12"``, ``"2.0"``                        12, 2
integer                an integer past Int32 / Int64              Int64 column / text column
number                 ``"406.40"``                               406.4
boolean                ``"true"``/``"false"``, 1/0, ``"1"``/``"0"``  True/False
object                 a list of one object                       that object
list                   a single value or object                   a list of one
date / date-time       a date-time / another format               its date / parsed (by the
                                                                  conversion checks)
=====================  =========================================  ================================

Values the native decode takes the same way on any page are not counted, so that the report does
not depend on which path a page took: a number or ``true``/``false`` where text is declared (its
JSON text), ``true``/``false`` where a number is declared (1/0), an integral number such as
``2.0`` where an integer is declared. Everything else off-type is set to null and counted as
``nulled``: ``1.7`` or ``"abc"`` for an integer, an object for a number, a scalar for an object.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Any

from loketvalinso._catalog import Node, snake_case
from loketvalinso._frames.drift import NOT_KEPT, DriftCounter, json_kind
from loketvalinso._frames.fields import INT32_RANGE, MONEY_LIMIT, declared_name
from loketvalinso._frames.spec import FrameSpec
from loketvalinso._json import dumps_text

__all__ = ["ItemWalker", "envelope_meta"]

#: A number written as text (JSON's grammar, with surrounding spaces and a leading ``+``).
_NUMBER_TEXT = re.compile(r"\s*[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?\s*", re.ASCII)
_TRUE_TEXT = frozenset({"true", "1"})
_FALSE_TEXT = frozenset({"false", "0"})
_INT64_RANGE = (-(2**63), 2**63 - 1)
#: The drift column of an item that is not an object.
ITEM_COLUMN = "(item)"


def _as_int(value: Any) -> int | None:
    """A paging number as an int where its meaning is clear, else None."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().lstrip("-+").isdigit():
        return int(value.strip())
    return None


def _text_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def envelope_meta(data: dict[str, Any], spec: FrameSpec) -> dict[str, Any]:
    """The page meta of a decoded body (the keys of ``parse_page``'s meta), its numbers read
    where their meaning is clear (``"3"`` → 3) and left None otherwise."""
    version = data.get("version")
    messages = data.get("messages")
    paging = data.get("paging")
    paging = paging if isinstance(paging, dict) else {}
    return {
        "item_count": 0,
        "current_page": _as_int(data.get("currentPage")),
        "page_size": _as_int(data.get("pageSize")),
        "total_pages": _as_int(data.get("totalPages")),
        "total_size": _as_int(data.get("totalSize")),
        "offset": _as_int(paging.get("offset")),
        "limit": _as_int(paging.get("limit")),
        "total": _as_int(paging.get("total")),
        "version": (
            {
                "resourceVersion": _text_or_none(version.get("resourceVersion")),
                "obsoleteDate": _text_or_none(version.get("obsoleteDate")),
            }
            if isinstance(version, dict)
            else None
        ),
        "messages": [
            {
                "code": _as_int(m.get("code")),
                "description": _text_or_none(m.get("description")),
                "id": _text_or_none(m.get("id")),
                "properties": [p for p in m.get("properties") or [] if isinstance(p, str)]
                if isinstance(m.get("properties"), list)
                else [],
                "type": _text_or_none(m.get("type")),
            }
            for m in (messages if isinstance(messages, list) else [])
            if isinstance(m, dict)
        ],
    }


def _json_text(value: Any) -> str | None:
    """``value`` as JSON text (written as every other path writes it); None when it nests
    deeper than can be written."""
    try:
        return dumps_text(value)
    except ValueError:
        return None


def _native(value: Any) -> Any:
    """A number or boolean for a text field, left for the native decode to write as text (as
    it does on any page), but an integer past 64 bits, which it cannot read, as its digits."""
    if isinstance(value, int) and not _INT64_RANGE[0] <= value <= _INT64_RANGE[1]:
        return str(value)
    return value


class ItemWalker:
    """Walks the decoded items of one page along ``spec``'s field tree.

    Parameters
    ----------
    spec : FrameSpec
        The page's resource version.
    drift : DriftCounter
        Where what arrived off the schema is counted.
    clean : bool
        True: return the items coerced to the declared types (:meth:`items`); False: only
        find undeclared and free-form fields.

    Attributes
    ----------
    found : dict
        Undeclared fields outside lists and free-form fields, by raw path: ``{item index:
        value}`` (the caller adds them as columns).
    widen : dict
        Integer fields whose values do not fit: ``"int64"`` or ``"text"``, by raw path (see
        :func:`~loketvalinso._frames.spec.widened_spec`).
    """

    def __init__(self, spec: FrameSpec, drift: DriftCounter, *, clean: bool) -> None:
        self.spec = spec
        self.drift = drift
        self.clean = clean
        self.found: dict[tuple[str, ...], dict[int, Any]] = {}
        self.widen: dict[tuple[str, ...], str] = {}
        self._free = {p for p, _ in spec.any_paths}
        self._children: dict[int, dict[str, Node]] = {}

    # -- naming ----------------------------------------------------------------------------------

    def label(self, path: tuple[str, ...]) -> str:
        """The drift column of a field: its output column, or ``<list column>.<field>`` for a
        field inside a list column."""
        columns = self.spec.column_of
        for cut in range(len(path), 0, -1):
            hit = columns.get(path[:cut])
            if hit is not None:
                rest = path[cut:]
                if not rest:
                    return hit[0]
                names = rest if self.spec.raw_names else [snake_case(p) or p for p in rest]
                return ".".join([hit[0], *names])
        if not path:
            return ITEM_COLUMN
        if self.spec.raw_names:
            return ".".join(path)
        return "_".join(snake_case(p) or p for p in path)

    def _note(
        self, path: tuple[str, ...], node: Node | None, raw: Any, arrived: str, *, nulled: bool
    ) -> None:
        self.drift.note(
            column=self.label(path),
            path=path,
            kind="values",
            declared=declared_name(node) if node is not None else "Struct",
            arrived=arrived,
            raw=raw,
            coerced=not nulled,
            nulled=nulled,
        )

    def _children_of(self, node: Node) -> dict[str, Node]:
        key = id(node)
        children = self._children.get(key)
        if children is None:
            extra = node[4]
            listed = self.spec.nodes[extra] if isinstance(extra, int) else list(extra or [])
            children = self._children[key] = {c[0]: c for c in listed}
        return children

    # -- walking ---------------------------------------------------------------------------------

    def items(self, items: Sequence[Any]) -> list[Any]:
        """Walk every item (cleaned items when ``clean``; the input otherwise)."""
        item = self.spec.item
        wrapped = self.spec.wrapped
        value_node = self._children_of(item).get("value") if wrapped else None
        out = []
        for i, it in enumerate(items):
            if wrapped and value_node is not None:
                cleaned = self._value(it, value_node, ("value",), False, i)
                out.append(None if it is None else {"value": cleaned})
            elif isinstance(it, dict):
                out.append(self._object(it, item, (), False, i))
            elif it is None:
                out.append(None)
            elif not self.spec.known_paths:
                self.found.setdefault(("value",), {})[i] = it  # an item without declared fields
                out.append(None)
            else:
                if self.clean:
                    self._note((), None, it, json_kind(it), nulled=True)
                out.append(None)
        return out if self.clean else list(items)

    def _object(
        self, value: dict[str, Any], node: Node, path: tuple[str, ...], in_list: bool, i: int
    ) -> dict[str, Any] | None:
        children = self._children_of(node)
        out: dict[str, Any] = {}
        for key, v in value.items():
            p = (*path, key)
            child = children.get(key)
            if child is None:
                self._undeclared(p, v, in_list, i)
            elif p in self._free or child[1] == "any":
                if not in_list:
                    self.found.setdefault(p, {})[i] = v
            else:
                cleaned = self._value(v, child, p, in_list, i)
                if self.clean:
                    out[key] = cleaned
        return out if self.clean else None

    def _undeclared(self, path: tuple[str, ...], value: Any, in_list: bool, i: int) -> None:
        if not in_list:
            self.found.setdefault(path, {})[i] = value  # the caller counts it as it adds it
            return
        if value is None:
            return
        self.drift.note(
            column=self.label(path),
            path=path,
            kind="undeclared",
            declared=None,
            arrived=f"{json_kind(value)} ({NOT_KEPT})",
            raw=value,
        )

    def _value(self, v: Any, node: Node, path: tuple[str, ...], in_list: bool, i: int) -> Any:
        if v is None:
            return None
        t = node[1]
        if t == "object":
            if isinstance(v, dict):
                return self._object(v, node, path, in_list, i)
            if isinstance(v, list) and len(v) == 1 and isinstance(v[0], dict):
                if self.clean:
                    self._note(path, node, v, "array of one object", nulled=False)
                return self._object(v[0], node, path, in_list, i)
            if self.clean:
                self._note(path, node, v, json_kind(v), nulled=True)
            return None
        if t == "array":
            element = node[4]
            if isinstance(v, list):
                return [self._value(x, element, path, True, i) for x in v]
            if element[1] != "any" and isinstance(v, dict) != (element[1] == "object"):
                if self.clean:
                    self._note(path, node, v, json_kind(v), nulled=True)
                return None
            if self.clean:
                self._note(path, node, v, f"a single {json_kind(v)}", nulled=False)
            return [self._value(v, element, path, True, i)]
        if not self.clean:
            return v
        return self._scalar(v, node, path)

    # -- scalars ---------------------------------------------------------------------------------

    def _scalar(self, v: Any, node: Node, path: tuple[str, ...]) -> Any:
        t, fmt = node[1], node[2]
        if t == "string":
            if isinstance(v, str):
                return v
            if isinstance(v, dict | list):
                if fmt in ("date", "date-time"):
                    self._note(path, node, v, json_kind(v), nulled=True)
                    return None
                text = _json_text(v)
                kept = "(kept as JSON text)" if text is not None else "(nested too deeply)"
                self._note(path, node, v, f"{json_kind(v)} {kept}", nulled=text is None)
                return text
            return _native(v)  # a number or boolean: the native decode writes its text
        if t == "integer" and fmt != "unix":
            return self._integer(v, node, path)
        if t in ("integer", "number"):
            return self._number(v, node, path)
        if t == "boolean":
            return self._boolean(v, node, path)
        return v

    def _integer(self, v: Any, node: Node, path: tuple[str, ...]) -> int | str | None:
        if isinstance(v, bool):
            return int(v)  # as the native decode
        coerced = False
        if isinstance(v, int):
            n = v
        elif isinstance(v, float) and math.isfinite(v) and v.is_integer():
            n = int(v)
        elif isinstance(v, str) and _NUMBER_TEXT.fullmatch(v):
            number = float(v) if not v.strip().lstrip("-+").isdigit() else int(v)
            if isinstance(number, float) and not (math.isfinite(number) and number.is_integer()):
                self._note(path, node, v, "string", nulled=True)
                return None
            n, coerced = int(number), True
        else:
            self._note(path, node, v, json_kind(v), nulled=True)
            return None
        low, high = INT32_RANGE if node[2] == "int32" else _INT64_RANGE
        if low <= n <= high:
            if coerced:
                self._note(path, node, v, "string", nulled=False)
            return n
        if _INT64_RANGE[0] <= n <= _INT64_RANGE[1]:
            self.widen.setdefault(path, "int64")
            self._note(path, node, v, "integer past Int32 (column widened to Int64)", nulled=False)
            return n
        self.widen[path] = "text"
        self._note(path, node, v, "integer past Int64 (column kept as text)", nulled=False)
        return str(n)  # the native decode reads no number past 64 bits, not even as text

    def _number(self, v: Any, node: Node, path: tuple[str, ...]) -> Any:
        if isinstance(v, bool):
            return float(v)  # as the native decode
        money = node[2] == "decimal"
        number = None
        if isinstance(v, int | float):
            number = float(v)
        elif isinstance(v, str) and _NUMBER_TEXT.fullmatch(v):
            number = float(v)
            if not money:  # money as text is documented, not drift
                self._note(path, node, v, "string", nulled=False)
        if number is None:
            self._note(path, node, v, json_kind(v), nulled=True)
            return None
        if not math.isfinite(number) or (money and abs(number) >= MONEY_LIMIT):
            self._note(path, node, v, f"{json_kind(v)} out of range", nulled=True)
            return None
        return number

    def _boolean(self, v: Any, node: Node, path: tuple[str, ...]) -> bool | None:
        if isinstance(v, bool):
            return v
        text = v.strip().lower() if isinstance(v, str) else None
        if text in _TRUE_TEXT or (isinstance(v, int) and v == 1):
            self._note(path, node, v, json_kind(v), nulled=False)
            return True
        if text in _FALSE_TEXT or (isinstance(v, int) and v == 0):
            self._note(path, node, v, json_kind(v), nulled=False)
            return False
        self._note(path, node, v, json_kind(v), nulled=True)
        return None
