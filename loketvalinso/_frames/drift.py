"""Schema drift: what arrived off the declared (Loket) or assumed (Valinso) schema, per column.

A page's drift is a list of plain records (JSON values only: they are kept with the page's frame
in the frame cache, so a warm load reports what the cold one did). A :class:`DriftCounter`
collects them while a page is decoded; :func:`merge_records` adds up the records of many pages
and :func:`drift_frame` shows them as the load report's ``drift`` DataFrame.

Record keys
-----------
``column``
    The output column (for a field inside a list column: ``<list column>.<field>``).
``path``
    The field's path in the item, dotted (the API's names; ``field`` in :func:`drift_frame`).
``kind``
    ``"values"`` (values off the declared type: coerced or nulled), ``"undeclared"`` (a field
    the schema does not declare; kept as an extra column unless it is inside a list) or
    ``"missing"`` (a declared or assumed field with no value in any row of the load).
``declared``
    The declared output dtype, in words (None for an undeclared field).
``arrived``
    What arrived, sorted: JSON kinds (``"string"``, ``"number"``, ``"object"``, …), or a note
    (``"integer past Int64 (column kept as text)"``, ``"date-time"``).
``values``, ``coerced``, ``nulled``
    Values concerned, as served (one per value in the JSON: a row of a flat resource; a
    ``missing`` field counts the rows without it); of those, converted with their meaning kept;
    and set to null.
``examples``
    Up to three raw values, redacted (:func:`redact_example`).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import orjson
import polars as pl

from loketvalinso._frames.spec import FrameSpec
from loketvalinso.errors import SENSITIVE_PARAMS, redact_url

__all__ = [
    "DRIFT_SCHEMA",
    "DriftCounter",
    "describe_drift",
    "drift_frame",
    "json_kind",
    "merge_records",
    "missing_from_nulls",
    "missing_records",
    "redact_example",
]

Record = dict[str, Any]

#: The columns of the load report's ``drift`` DataFrame.
DRIFT_SCHEMA = pl.Schema(
    {
        "resource": pl.String(),
        "column": pl.String(),
        "field": pl.String(),
        "kind": pl.String(),
        "declared": pl.String(),
        "arrived": pl.String(),
        "values": pl.Int64(),
        "coerced": pl.Int64(),
        "nulled": pl.Int64(),
        "examples": pl.List(pl.String()),
    }
)
#: Examples kept per column.
MAX_EXAMPLES = 3
#: Characters kept of one example.
EXAMPLE_CHARS = 60
#: Levels of an object or array kept in an example.
_EXAMPLE_DEPTH = 6
#: The note on an undeclared field inside a list (its values are not kept).
NOT_KEPT = "inside a list: not kept"
#: Field-name parts whose values are never shown (besides the secret query parameter names).
_SECRET_PARTS = ("password", "secret", "token", "apikey", "api_key", "authorization", "credential")
#: The JSON kind (:func:`json_kind`) of each type a decoded JSON value has.
_KINDS: dict[type, str] = {
    bool: "boolean",
    int: "integer",
    float: "number",
    str: "string",
    dict: "object",
    list: "array",
}


def json_kind(value: Any) -> str:
    """The JSON kind of a decoded value: ``string``, ``integer``, ``number``, ``boolean``,
    ``object``, ``array`` or ``null``."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, dict):
        return "object"
    return "array" if isinstance(value, list) else type(value).__name__


def _secret_name(name: str) -> bool:
    lowered = name.lower().replace("-", "_")
    return lowered in SENSITIVE_PARAMS or any(part in lowered for part in _SECRET_PARTS)


def _masked(value: Any, depth: int = 0) -> Any:
    """``value`` with the values of secret-named keys as ``***``, cut below a few levels (an
    example shows its first characters only, and a value may nest deeper than Python
    recurses)."""
    if isinstance(value, dict | list) and depth >= _EXAMPLE_DEPTH:
        return "…"
    if isinstance(value, dict):
        return {
            k: "***" if _secret_name(str(k)) else _masked(v, depth + 1) for k, v in value.items()
        }
    if isinstance(value, list):
        return [_masked(v, depth + 1) for v in value[:EXAMPLE_CHARS]]
    return value


def redact_example(path: Sequence[str], value: Any) -> str:
    """A raw value as a short text that keeps no secret: ``***`` for a field named like a
    secret (password, token, api key, …), such fields masked inside objects, URLs through
    :func:`~loketvalinso.errors.redact_url`, and at most :data:`EXAMPLE_CHARS` characters."""
    if any(_secret_name(part) for part in path):
        return "***"
    if isinstance(value, str):
        text = redact_url(value) if "?" in value and ("://" in value or "/" in value) else value
    else:
        masked = _masked(value)
        try:
            text = orjson.dumps(masked).decode()
        except (TypeError, orjson.JSONEncodeError):  # integers past 64 bits
            text = str(masked)
    if len(text) > EXAMPLE_CHARS:
        text = text[: EXAMPLE_CHARS - 1] + "…"
    return text


def _record(
    column: str, path: str, kind: str, declared: str | None, arrived: Iterable[str]
) -> Record:
    return {
        "column": column,
        "path": path,
        "kind": kind,
        "declared": declared,
        "arrived": sorted(set(arrived)),
        "values": 0,
        "coerced": 0,
        "nulled": 0,
        "examples": [],
    }


def _add_into(into: Record, other: Record) -> None:
    into["arrived"] = sorted(set(into["arrived"]) | set(other["arrived"]))
    for key in ("values", "coerced", "nulled"):
        into[key] += int(other.get(key, 0))
    for example in other.get("examples", ()):
        if len(into["examples"]) < MAX_EXAMPLES and example not in into["examples"]:
            into["examples"].append(example)


class DriftCounter:
    """Collects one page's drift, one record per column and kind."""

    def __init__(self) -> None:
        self._records: dict[tuple[str, str], Record] = {}

    def __bool__(self) -> bool:
        return bool(self._records)

    def note(
        self,
        *,
        column: str,
        path: Sequence[str],
        kind: str,
        declared: str | None,
        arrived: str,
        raw: Any,
        coerced: bool = False,
        nulled: bool = False,
    ) -> None:
        """Count one value that arrived off the schema (``raw`` becomes an example)."""
        key = (column, kind)
        record = self._records.get(key)
        if record is None:
            record = self._records[key] = _record(column, ".".join(path), kind, declared, ())
        if arrived not in record["arrived"]:
            record["arrived"] = sorted({*record["arrived"], arrived})
        record["values"] += 1
        record["coerced"] += int(coerced)
        record["nulled"] += int(nulled)
        if len(record["examples"]) < MAX_EXAMPLES:
            example = redact_example(path, raw)
            if example not in record["examples"]:
                record["examples"].append(example)

    def note_undeclared(self, *, column: str, path: Sequence[str], values: Sequence[Any]) -> None:
        """Count the values of an undeclared field kept as ``column`` (one per item, None where
        it is absent) as :meth:`note` would value by value, with a pass per column instead of
        a call per value."""
        present = len(values) - values.count(None)
        if not present:
            return
        kinds = set(map(type, values))
        kinds.discard(type(None))
        record = _record(
            column,
            ".".join(path),
            "undeclared",
            None,
            (_KINDS.get(k, k.__name__) for k in kinds),
        )
        record["values"] = present
        record["examples"] = _first_examples(path, values, sign_matters=float in kinds)
        self.extend([record])

    def extend(self, records: Iterable[Record]) -> None:
        """Add records counted elsewhere (the conversion checks, another page)."""
        for other in records:
            key = (other["column"], other["kind"])
            if key not in self._records:
                self._records[key] = _record(
                    other["column"], other["path"], other["kind"], other["declared"], ()
                )
            _add_into(self._records[key], other)

    def records(self) -> list[Record]:
        return [
            dict(r, arrived=list(r["arrived"]), examples=list(r["examples"]))
            for r in self._records.values()
        ]


def _first_examples(path: Sequence[str], values: Sequence[Any], *, sign_matters: bool) -> list[str]:
    """The first :data:`MAX_EXAMPLES` distinct examples of the non-null ``values``, each
    distinct value redacted once (``sign_matters``: floats, whose ``0.0`` and ``-0.0`` are
    equal but show differently)."""
    distinct: Iterable[Any] = values
    if not sign_matters:
        # by type too (1 and True are equal); objects and arrays are not hashable: every value
        with contextlib.suppress(TypeError):
            keys = dict.fromkeys(zip(map(type, values), values, strict=True))
            distinct = [value for _, value in keys]
    examples: list[str] = []
    seen: set[Any] = set()
    for value in distinct:
        if value is None:
            continue
        if sign_matters and type(value) is float:
            key = (value, math.copysign(1.0, value))
            if key in seen:
                continue
            seen.add(key)
        example = redact_example(path, value)
        if example not in examples:
            examples.append(example)
            if len(examples) == MAX_EXAMPLES:
                break
    return examples


def merge_records(records: Iterable[tuple[str, Record]]) -> list[tuple[str, Record]]:
    """``(resource, record)`` pairs added up per resource, column and kind (first seen first)."""
    merged: dict[tuple[str, str, str], Record] = {}
    for resource, record in records:
        key = (resource, record["column"], record["kind"])
        if key not in merged:
            merged[key] = _record(
                record["column"], record["path"], record["kind"], record["declared"], ()
            )
        _add_into(merged[key], record)
    return [(resource, record) for (resource, _, _), record in merged.items()]


def drift_frame(records: Iterable[tuple[str, Record]]) -> pl.DataFrame:
    """The ``drift`` DataFrame of a load (:data:`DRIFT_SCHEMA`), one row per resource, column
    and kind."""
    rows = [
        {
            "resource": resource,
            "column": r["column"],
            "field": r["path"],
            "kind": r["kind"],
            "declared": r["declared"],
            "arrived": ", ".join(r["arrived"]),
            "values": r["values"],
            "coerced": r["coerced"],
            "nulled": r["nulled"],
            "examples": r["examples"],
        }
        for resource, r in merge_records(records)
    ]
    return pl.DataFrame(rows, schema=DRIFT_SCHEMA)


def missing_records(
    frame: pl.DataFrame, spec: FrameSpec, undeclared: Iterable[str] = ()
) -> list[Record]:
    """Declared or assumed fields of ``spec`` with no value in any row of ``frame``.

    Valinso's assumed fields are all reported. Loket declares every field optional and sends
    many of them as null, so a Loket field is reported only next to an undeclared field of the
    same object (``undeclared``: their dotted paths), where it may have been renamed.
    """
    undeclared = list(undeclared)
    names = [name for name, _ in spec.outputs if name in frame.columns]
    if frame.height == 0 or not names or not _may_miss(spec, undeclared):
        return []
    # a Series keeps its null count: no pass over the data (a select would plan a query)
    nulls = {name: frame.get_column(name).null_count() for name in names}
    return missing_from_nulls(nulls, frame.height, spec, undeclared)


def missing_from_nulls(
    nulls: Mapping[str, int], rows: int, spec: FrameSpec, undeclared: Iterable[str] = ()
) -> list[Record]:
    """:func:`missing_records` of a load seen in parts (a streamed load): ``nulls`` are the
    null counts of its output columns over all ``rows``."""
    undeclared = list(undeclared)
    if rows == 0 or not _may_miss(spec, undeclared):
        return []
    siblings = {tuple(p.split("."))[:-1] for p in undeclared}
    out = []
    for (name, _), path, declared in zip(spec.outputs, spec.paths, spec.declared, strict=True):
        if nulls.get(name) != rows:
            continue
        if spec.api != "valinso" and path[:-1] not in siblings:
            continue
        record = _record(name, ".".join(path), "missing", declared, ["nothing"])
        record["values"] = rows
        out.append(record)
    return out


def _may_miss(spec: FrameSpec, undeclared: Iterable[str]) -> bool:
    """Whether a missing field of ``spec`` can be reported at all (a Loket one only beside an
    undeclared field)."""
    return spec.api == "valinso" or any(True for _ in undeclared)


def describe_drift(
    records: Sequence[tuple[str, Record]], *, label: str | None = None, limit: int = 8
) -> str:
    """The drifted columns in words, per resource (named unless it is the load's ``label``),
    for the load's warning."""
    by_resource: dict[str, list[str]] = {}
    for resource, r in merge_records(records):
        if r["kind"] == "missing":
            what = f"{r['column']} ({r['declared']}, never arrived)"
        elif r["kind"] == "undeclared":
            kept = "not kept" if any(NOT_KEPT in a for a in r["arrived"]) else "kept as a column"
            what = f"{r['column']} (undeclared, {kept})"
        else:
            counts = [f"{r[k]} {k}" for k in ("coerced", "nulled") if r[k]]
            what = (
                f"{r['column']} ({r['declared']}: {', '.join(r['arrived'])}; {', '.join(counts)})"
            )
        by_resource.setdefault(resource, []).append(what)
    lines = []
    for resource, parts in by_resource.items():
        shown = parts[:limit]
        if len(parts) > limit:
            shown.append(f"and {len(parts) - limit} more")
        named = "" if list(by_resource) == [label] else f"{resource}: "
        lines.append(named + "; ".join(shown))
    return " | ".join(lines)
