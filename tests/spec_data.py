"""Schema-valid random Loket response bodies, generated straight from the OpenAPI description.

Ground truth for the frame tests: this reads ``../shared/specs/loket-openapi.json`` itself, never
the package's derived catalogue. Fields are optional in the spec (no ``required`` lists), so a
generated object may omit any key; ``nullable: true`` fields may be null; arrays have 0–3
elements. Dates are real ``YYYY-MM-DD`` (the spec's examples are date-times), date-times carry
``Z`` or an offset, uuids are upper-case (the spec's pattern), ints respect int32. String
``pattern``s other than the uuid one are not honoured.
"""

from __future__ import annotations

import json
import random
import string
import uuid
from datetime import UTC, date, datetime, timedelta, timezone
from functools import cache
from pathlib import Path
from typing import Any

SPEC = Path(__file__).resolve().parents[2] / "shared" / "specs" / "loket-openapi.json"
PAGING = ("currentPage", "pageSize", "totalPages", "totalSize")


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


class Gen:
    """A seeded generator. ``null_rate`` and ``missing_rate`` control nulls and omitted keys."""

    def __init__(
        self, seed: int, *, null_rate: float = 0.2, missing_rate: float = 0.1, max_items: int = 3
    ) -> None:
        self.r = random.Random(seed)
        self.null_rate = null_rate
        self.missing_rate = missing_rate
        self.max_items = max_items

    def value(self, schema: dict[str, Any], depth: int = 0) -> Any:
        schema = merge(schema)
        if schema.get("nullable") is True and self.r.random() < self.null_rate:
            return None
        t = schema.get("type")
        fmt = schema.get("format")
        if schema.get("enum"):
            return self.r.choice(schema["enum"])
        if t == "object" or "properties" in schema:
            props = schema.get("properties") or {}
            if not props:
                return None if self.r.random() < 0.5 else {"free": self.r.randint(0, 9)}
            return {
                k: self.value(v, depth + 1)
                for k, v in props.items()
                if self.r.random() >= self.missing_rate
            }
        if t == "array" or "items" in schema:
            n = self.r.randint(0, self.max_items if depth < 4 else 1)
            return [self.value(schema.get("items") or {}, depth + 1) for _ in range(n)]
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
