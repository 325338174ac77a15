"""Random Loket response bodies, generated straight from the OpenAPI description.

Ground truth for the frame tests: this reads ``../shared/specs/loket-openapi.json`` itself, never
the package's derived catalogue. Fields are optional in the spec (no ``required`` lists), so a
generated object may omit any key; ``nullable: true`` fields may be null; arrays have 0–3
elements. Dates are real ``YYYY-MM-DD`` (the spec's examples are date-times), date-times carry
``Z`` or an offset, uuids are upper-case (the spec's pattern), ints respect int32. String
``pattern``s other than the uuid one are not honoured.

:class:`Gen` makes schema-valid bodies; :class:`Hostile` plants values off the schema in them, the
way real servers send them, and writes down what a loader must report for each
(:class:`Planted`, by the rules of the README's drift report).
"""

from __future__ import annotations

import csv
import json
import random
import string
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, timezone
from functools import cache
from pathlib import Path
from typing import Any

import pytest

SPEC = Path(__file__).resolve().parents[2] / "shared" / "specs" / "loket-openapi.json"
OPERATIONS_CSV = SPEC.parent / "loket-operations.csv"
PAGING = ("currentPage", "pageSize", "totalPages", "totalSize")
#: Tests over every operation: skipped with the reason when the description is not beside us.
needs_operations = pytest.mark.skipif(
    not OPERATIONS_CSV.exists(), reason="../shared/specs (the Loket API description) is absent"
)
#: A test server's listing: pages of PAGE_SIZE, with these many items on pages 1 and 2.
PAGE_SIZE = 3
PAGE_ITEMS = (3, 2)


@cache
def spec() -> dict[str, Any]:
    return json.loads(SPEC.read_text())


def merge(schema: dict[str, Any]) -> dict[str, Any]:
    if "allOf" not in schema:
        return schema
    props: dict[str, Any] = {}
    out: dict[str, Any] = {"type": "object"}
    for part in schema["allOf"]:
        part = merge(part)
        props.update(part.get("properties", {}))
        for k in ("nullable", "format"):
            if k in part and k not in out:
                out[k] = part[k]
    out["properties"] = props
    return out


def json_get_operations() -> list[tuple[str, str, dict[str, Any]]]:
    """``(spec_path, content_type, schema)`` for every GET 200 JSON response."""
    out = []
    for path, ops in spec()["paths"].items():
        op = ops.get("get")
        if not op:
            continue
        for ctype, c in (op["responses"].get("200", {}).get("content") or {}).items():
            if ctype.startswith("application/json"):
                out.append((path, ctype, c.get("schema") or {}))
    return out


def json_get_endpoints() -> list[tuple[str, str]]:
    """``(path, operationId or path)`` of the GET operations with a JSON ``_embedded`` or
    ``content`` envelope, from ``loket-operations.csv`` (296)."""
    if not OPERATIONS_CSV.exists():
        return []
    with OPERATIONS_CSV.open(newline="") as f:
        rows = list(csv.DictReader(f))
    return [
        (r["path"], r["operationId"] or r["path"])
        for r in rows
        if r["method"] == "GET"
        and "application/json" in r["response_content_types"]
        and ("_embedded" in r["envelope"] or "content" in r["envelope"])
    ]


def response_schema(op: dict[str, Any], version: str) -> tuple[str, dict[str, Any]]:
    """The media type an operation answers ``version`` with, and its 200 schema (the first
    JSON one when that version is not listed)."""
    contents = op["responses"]["200"]["content"]
    media = f"application/json;version={version}"
    if media not in contents:
        media = next(c for c in contents if c.startswith("application/json"))
    return media, contents[media]["schema"]


def required_query(op: dict[str, Any]) -> dict[str, Any]:
    """Plausible values for the required query parameters of an operation."""
    out: dict[str, Any] = {}
    for p in op.get("parameters", []):
        if p.get("in") != "query" or not p.get("required"):
            continue
        schema = p.get("schema") or {}
        if schema.get("type") == "array":
            out[p["name"]] = [1]
        elif schema.get("format") == "date":
            out[p["name"]] = "2024-01-31"
        elif schema.get("type") == "integer":
            out[p["name"]] = 2024
        elif schema.get("format") == "uuid":
            out[p["name"]] = "B14ACD0D-75D7-4FC8-8B22-4A3924585CAB"
        else:
            out[p["name"]] = "x"
    return out


def body_items(body: Any) -> list[Any]:
    """The items of a body (``_embedded`` or ``content``; a bare list)."""
    if isinstance(body, list):
        return body
    inner = body.get("_embedded", body.get("content"))
    if inner is None:
        return []
    return inner if isinstance(inner, list) else [inner]


def exploded_rows(obj: Any, prefix: str, explode: frozenset[str]) -> int:
    """Rows one item becomes when the arrays at ``explode`` (dotted paths) are exploded: an
    empty, null or scalar array gives one row, a single object in its place counts as a list
    of one."""
    if not isinstance(obj, dict):
        return 1
    n = 1
    for key, value in obj.items():
        path = f"{prefix}.{key}" if prefix else key
        if path in explode and isinstance(value, dict):
            value = [value]
        if path in explode and isinstance(value, list):
            n *= sum(exploded_rows(v, path, explode) for v in value) if value else 1
        elif isinstance(value, dict):
            n *= exploded_rows(value, path, explode)
    return n


class Gen:
    """A seeded generator. ``null_rate`` and ``missing_rate`` control nulls and omitted keys."""

    def __init__(
        self, seed: int, *, null_rate: float = 0.2, missing_rate: float = 0.1, max_items: int = 3
    ) -> None:
        self.r = random.Random(seed)
        self.null_rate = null_rate
        self.missing_rate = missing_rate
        self.max_items = max_items

    def value(self, schema: dict[str, Any], depth: int = 0, path: tuple[str, ...] = ()) -> Any:
        """A value for ``schema`` at the item's field ``path`` (the API's names)."""
        schema = merge(schema)
        if schema.get("nullable") is True and self.r.random() < self.null_rate:
            return None
        t = schema.get("type")
        if t == "object" or "properties" in schema:
            props = schema.get("properties") or {}
            if not props:
                return None if self.r.random() < 0.5 else {"free": self.r.randint(0, 9)}
            obj = {
                k: self.value(v, depth + 1, (*path, k))
                for k, v in props.items()
                if self.r.random() >= self.missing_rate
            }
            return self.object_sent(obj, path)
        if t == "array" or "items" in schema:
            n = self.r.randint(0, self.max_items if depth < 4 else 1)
            items = [self.value(schema.get("items") or {}, depth + 1, path) for _ in range(n)]
            return self.array_sent(items, schema, path)
        return self.scalar_sent(self.scalar(schema, depth), schema, path)

    # what is sent for a generated value (the schema's own value here; see Hostile)
    def object_sent(self, obj: dict[str, Any], path: tuple[str, ...]) -> Any:
        return obj

    def array_sent(self, items: list[Any], schema: dict[str, Any], path: tuple[str, ...]) -> Any:
        return items

    def scalar_sent(self, value: Any, schema: dict[str, Any], path: tuple[str, ...]) -> Any:
        return value

    def scalar(self, schema: dict[str, Any], depth: int) -> Any:
        """A schema-valid scalar (``schema`` merged)."""
        t = schema.get("type")
        fmt = schema.get("format")
        if schema.get("enum"):
            return self.r.choice(schema["enum"])
        if t == "integer" or (t is None and fmt in ("int32", "int64")):
            lo = schema.get("minimum", 0)
            hi = schema.get("maximum", 2**31 - 1 if fmt != "int64" else 2**40)
            lo = lo if isinstance(lo, (int, float)) else 0
            hi = hi if isinstance(hi, (int, float)) else 2**31 - 1
            return self.r.randint(int(lo), int(min(hi, 2**31 - 1 if fmt != "int64" else 2**62)))
        if t == "number" or (t is None and fmt in ("double", "float")):
            hi = schema.get("maximum", 10_000)
            return round(self.r.uniform(0, min(float(hi), 10_000)), 2)
        if t == "boolean":
            return self.r.random() < 0.5
        if t == "string" or t is None:
            if fmt == "date" or schema.get("pattern") == "date":
                return (date(2015, 1, 1) + timedelta(days=self.r.randint(0, 4000))).isoformat()
            if fmt == "date-time":
                dt = datetime(2015, 1, 1, tzinfo=UTC) + timedelta(
                    seconds=self.r.randint(0, 300_000_000),
                    microseconds=self.r.randint(0, 999) * 1000,
                )
                if self.r.random() < 0.5:
                    return dt.isoformat(timespec="milliseconds").replace("+00:00", "Z")
                return dt.astimezone(timezone(timedelta(hours=2))).isoformat()
            if fmt == "uuid":
                return str(uuid.UUID(int=self.r.getrandbits(128))).upper()
            n = self.r.randint(0, min(int(schema.get("maxLength", 12)), 12))
            return "".join(self.r.choice(string.ascii_letters + " .é") for _ in range(n))
        return "x"

    def body(self, schema: dict[str, Any], *, n_items: int | None = None) -> dict[str, Any] | list:
        """A whole 200 body for a response ``schema`` (envelope + items)."""
        root = merge(schema)
        props = root.get("properties") or {}
        if root.get("type") == "array" and "items" in root:
            n = self.r.randint(0, 4) if n_items is None else n_items
            return [self.value(root["items"]) for _ in range(n)]
        out: dict[str, Any] = {}
        if any(k in props for k in PAGING):
            out.update(currentPage=1, pageSize=250, totalPages=1, totalSize=0)
        if "version" in props:
            out["version"] = {"resourceVersion": "2018-01-01", "obsoleteDate": None}
        if "messages" in props:
            out["messages"] = []
        if "_embedded" in props:
            emb = merge(props["_embedded"])
            if emb.get("type") == "array" or "items" in emb:
                n = self.r.randint(0, 4) if n_items is None else n_items
                item = emb.get("items") or {}
                out["_embedded"] = [self._item(item) for _ in range(n)]
            else:
                out["_embedded"] = self._item(emb)
        elif "content" in props:
            out["content"] = self._item(props["content"])
        if "totalSize" in out:
            emb = out.get("_embedded", out.get("content"))
            out["totalSize"] = len(emb) if isinstance(emb, list) else 1
        return out

    def _item(self, schema: dict[str, Any]) -> Any:
        schema = dict(merge(schema))
        schema.pop("nullable", None)  # items themselves are never null in a list
        return self.value(schema)


@dataclass
class Planted:
    """What the hostile bodies served so far carry off the schema, by field path (dotted, the
    API's names): values a loader must count as coerced or as nulled, undeclared fields (one per
    value), and values off the schema that lose nothing and are not counted (``lossless``:
    a number where text is declared, a null where the schema says non-nullable, a uuid in
    braces)."""

    coerced: Counter[str] = field(default_factory=Counter)
    nulled: Counter[str] = field(default_factory=Counter)
    undeclared: Counter[str] = field(default_factory=Counter)
    lossless: Counter[str] = field(default_factory=Counter)


#: The name of the fields :class:`Hostile` adds (no Loket schema declares it).
EXTRA_FIELD = "zzUndeclaredField"


class Hostile(Gen):
    """Bodies that follow the schema loosely, as a real server may send them.

    With probability ``rate`` a scalar is sent off its type, and with ``rate / 2`` an object
    gets an undeclared field or a list of objects is sent as its one object:

    * numbers as text (``"406.40"``, ``"12"``), ``"true"`` for a boolean → coerced;
    * integers far outside their range (2**40 for an int32, 10**25 for an int64) → coerced
      (the column is widened);
    * a date-time where a date is declared → coerced (its date);
    * an object where a scalar is declared → coerced (its JSON text) for plain text, nulled for
      numbers, booleans, dates and date-times;
    * a number where text is declared → lossless, not counted; nulled for a date or date-time
      (the number's text is no date);
    * null where the schema says non-nullable, a uuid in braces → lossless;
    * an undeclared field → undeclared; a single object where a list of objects is declared →
      coerced (a list of one).

    Only fields with an explicit ``type`` are planted (no enum, no ``pattern: date``). Bodies
    must be written with ``json.dumps``: integers past 64 bits are part of the plan.
    """

    def __init__(self, seed: int, *, rate: float = 0.15, **options: Any) -> None:
        super().__init__(seed, **options)
        self.rate = rate
        self.planted = Planted()

    def object_sent(self, obj: dict[str, Any], path: tuple[str, ...]) -> Any:
        if self.r.random() < self.rate / 2:
            obj[EXTRA_FIELD] = self.r.choice([7, "extra", True, 1.5])
            self.planted.undeclared[".".join((*path, EXTRA_FIELD))] += 1
        return obj

    def array_sent(self, items: list[Any], schema: dict[str, Any], path: tuple[str, ...]) -> Any:
        element = merge(schema.get("items") or {})
        one = len(items) == 1 and isinstance(items[0], dict) and element.get("properties")
        if one and self.r.random() < self.rate:
            self.planted.coerced[".".join(path)] += 1
            return items[0]
        return items

    def scalar_sent(self, value: Any, schema: dict[str, Any], path: tuple[str, ...]) -> Any:
        t, fmt = schema.get("type"), schema.get("format")
        plantable = t in ("number", "integer", "boolean", "string") and not schema.get("enum")
        if value is None or not plantable or schema.get("pattern") == "date":
            return value
        if self.r.random() >= self.rate:
            return value
        dotted = ".".join(path)
        dated = t == "string" and fmt in ("date", "date-time")
        plan = self.planted
        # an object instead of a scalar: plain text keeps its JSON text, the rest cannot hold it
        options: list[tuple[Any, Counter[str]]] = [
            ({"unexpected": "object"}, plan.coerced if t == "string" and not dated else plan.nulled)
        ]
        if t == "number":
            options.append((f"{value:.2f}", plan.coerced))
        elif t == "integer":
            options.append((str(value), plan.coerced))
            options.append((2**40 if fmt == "int32" else 10**25, plan.coerced))
        elif t == "boolean":
            options.append(("true" if value else "false", plan.coerced))
        elif dated:
            options.append((12345, plan.nulled))
            if fmt == "date":
                options.append((f"{value}T10:20:30Z", plan.coerced))
        else:
            options.append((12345, plan.lossless))
            if fmt == "uuid":
                options.append((f"{{{value}}}", plan.lossless))
        if schema.get("nullable") is False:
            options.append((None, plan.lossless))
        sent, counter = self.r.choice(options)
        counter[dotted] += 1
        return sent
