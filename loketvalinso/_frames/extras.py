"""Fields the schema does not declare, and free-form fields, as extra columns of a page's frame.

A page whose body holds more keys than its typed decode captured has undeclared fields. Where
they are only **top-level fields of flat items** (the usual case: a field new to the API),
:func:`top_level_fields` reads them from one orjson parse of the body: the undeclared keys are
the union of the items' keys less the declared ones (a pass in C, not a walk key by key), each
field's values are gathered item by item with ``dict.get`` mapped over the items, and
:meth:`~loketvalinso._frames.drift.DriftCounter.note_undeclared` counts a whole column at once.
Everything else (fields inside declared objects or lists, free-form fields, items that are not
all objects, a body only the walk reads the same way) is found by the slow path, the
:class:`~loketvalinso._frames.tolerant.ItemWalker` walk. Both hand :func:`extra_columns` the same
values, so a page gives the same columns, dtypes and drift records whichever way it went.

Why orjson and not a second ``pl.read_json``: Polars infers a field's dtype from a mixture of
JSON kinds without a word (``true`` and ``12`` become Int64, ``"12"`` and ``7`` become String),
so the kinds that :func:`loose_series` types a column by, and the drift report names, are not
in its result; its inferring decode also costs about twice an orjson parse of the same body.
"""

from __future__ import annotations

import itertools
import re
from typing import Any

import orjson
import polars as pl

from loketvalinso._catalog import snake_case
from loketvalinso._frames.drift import DriftCounter
from loketvalinso._frames.spec import ROW, FrameSpec
from loketvalinso._json import dumps_text, has_long_integers, keys_in, keys_in_text
from loketvalinso.errors import ResponseFormatError

__all__ = [
    "extra_columns",
    "items_of",
    "loose_series",
    "per_item",
    "top_level_fields",
]

#: Undeclared fields by raw path: their values, one per item (None where absent).
Fields = dict[tuple[str, ...], list[Any]]


def items_of(data: Any, spec: FrameSpec) -> list[Any] | None:
    """The items of a decoded body (``[]`` without any); None when its items key holds a
    scalar where objects are expected (no items at all, not items off the schema)."""
    if not isinstance(data, dict):
        return data if isinstance(data, list) else []
    for k in spec.body_keys:
        v = data.get(k)
        if v is None:
            continue
        if isinstance(v, list):
            return v
        return [v] if isinstance(v, dict) or spec.wrapped else None
    return []


def top_level_fields(body: bytes, spec: FrameSpec) -> tuple[Fields, int] | None:
    """The undeclared fields of a page of flat items, and its number of items; None when the
    page needs the walk.

    The walk reads the body with :func:`loketvalinso._json.loads`, which keeps the first value
    of a repeated key and every digit of an integer past 64 bits; orjson keeps the last value
    and reads such an integer as a float. So the page goes the walk's way when orjson kept
    fewer keys than the body holds, or when a value of an undeclared field may be such an
    integer: a float past 2**63, or a number inside an object or array in a body with a run of
    19 digits. Declared fields of flat items hold scalars (the typed decode that sent the page
    here takes no object or array for them), so every other undeclared key is top-level.
    """
    if spec.flat_fields is None or spec.wrapped or spec.any_paths or not spec.known_paths:
        return None
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None  # the walk's reader decides, and names what is wrong
    items = items_of(data, spec)
    if not isinstance(data, dict) or not items or set(map(type, items)) != {dict}:
        return None
    undeclared = set().union(*items).difference(p[0] for p in spec.known_paths)
    if len(undeclared) > 1:  # in order of first appearance, as the walk finds them
        keys = [k for k in dict.fromkeys(itertools.chain.from_iterable(items)) if k in undeclared]
    else:
        keys = list(undeclared)
    found: Fields = {(k,): list(map(dict.get, items, itertools.repeat(k))) for k in keys}
    # the keys orjson kept: the envelope's, the items' (a single item: items[0]), the fields'
    envelope = [v for v in data.values() if v is not items and v is not items[0]]
    kept = len(data) + keys_in(envelope) + sum(map(len, items))
    nested = False
    for values in found.values():
        kinds = set(map(type, values))
        if float in kinds and max(abs(v) for v in values if type(v) is float) >= 2.0**63:
            return None  # maybe an integer past 64 bits, which orjson reads as a float
        if dict in kinds or list in kinds:
            nested = True
            kept += keys_in([v for v in values if type(v) in (dict, list)])
    # every key kept (no key repeated), by every ":" (exact for flat items without colons in
    # their values) or else by the rule loads() applies
    if body.count(b":") > kept and keys_in_text(body) > kept:
        return None
    if nested and has_long_integers(body):
        return None
    return found, len(items)


def per_item(found: dict[tuple[str, ...], dict[int, Any]], n_items: int) -> Fields:
    """The walk's fields (``{item index: value}``) as values by item."""
    return {path: [values.get(i) for i in range(n_items)] for path, values in found.items()}


def extra_columns(
    found: Fields,
    n_items: int,
    spec: FrameSpec,
    frame: pl.DataFrame,
    drift: DriftCounter,
    *,
    url: object,
    page: int | None,
) -> pl.DataFrame:
    """The fields ``found`` as extra columns of ``frame`` (the undeclared ones counted in
    ``drift``; free-form fields are JSON text)."""
    rows = frame[ROW] if ROW in frame.columns else None  # exploded: the item of each row
    if rows is None:
        lined_up = frame.height == n_items
    else:
        lined_up = not len(rows) or int(rows.max()) < n_items  # type: ignore[arg-type]
    if not lined_up:
        msg = f"unexpected body for {spec.name}: the items do not line up"
        raise ResponseFormatError(msg, url=url, page=page)
    any_names = dict(spec.any_paths)
    new_cols = []
    used = set(frame.columns)
    try:
        for p, values in found.items():
            if p in any_names:
                s = pl.Series(any_names[p], [_json_text(v) for v in values], dtype=pl.String)
            else:
                if spec.raw_names:
                    raw = ".".join(p)
                else:  # the known parents as declared, the undeclared key by its spelling
                    parents = [snake_case(x) or x for x in p[:-1]]
                    raw = "_".join([*parents, _extra_name(p[-1], spec.api)])
                name = _safe_column_name(raw)
                base, n = name, 2
                while name in used:
                    name = f"{base}_{n}"
                    n += 1
                used.add(name)
                s = loose_series(name, values)
                if spec.known_paths:  # else the items declare no field: they are all "extra"
                    drift.note_undeclared(column=name, path=p, values=values)
            new_cols.append(s if rows is None else s.gather(rows) if len(rows) else s.clear())
    except ValueError as exc:  # a field nested deeper than it can be kept as text
        msg = f"unexpected body for {spec.name}: {exc}"
        raise ResponseFormatError(msg, url=url, page=page) from exc
    if any(s.name in frame.columns for s in new_cols):  # free-form fields fill their columns
        return frame.with_columns(new_cols)
    return frame.hstack(new_cols)  # new columns only: no query to plan


def loose_series(name: str, values: list[Any]) -> pl.Series:
    """The column of an undeclared field: Boolean, Int64 or Float64 when all its values are of
    that kind (integers that a Float64 holds exactly may join numbers), String when they are
    all text, else each value's JSON text."""
    kinds = set(map(type, values))
    kinds.discard(type(None))
    if kinds == {bool}:
        return pl.Series(name, values, dtype=pl.Boolean)
    if kinds and kinds <= {int, float}:
        if kinds == {int}:
            ints = values if None not in values else [v for v in values if v is not None]
        else:
            ints = [v for v in values if type(v) is int]
        if kinds == {int} and min(ints) >= -(2**63) and max(ints) < 2**63:
            return pl.Series(name, values, dtype=pl.Int64)
        if not ints or max(map(abs, ints)) < 2**53:
            floats = pl.Series(name, values, dtype=pl.Float64)
            if floats.is_finite().all():
                return floats
    if kinds <= {str}:
        return pl.Series(name, values, dtype=pl.String)
    return pl.Series(name, [_json_text(v) for v in values], dtype=pl.String)


def _json_text(v: Any) -> str | None:
    if v is None:
        return None
    if isinstance(v, str):
        return v
    return dumps_text(v)  # ValueError when nested too deep to write


def _extra_name(key: str, api: str) -> str:
    """The column name part of an undeclared field ``key``.

    A key spelled in the API's own style (Loket ``camelCase``, Valinso ``snake_case``) becomes
    snake_case (``newField`` → ``new_field``). One spelled otherwise keeps its spelling with each
    ``_`` doubled (Loket ``new_field`` → ``new__field``, Valinso ``newField`` → ``newField``):
    no snake_case name looks like that, so two spellings of a field never share a column.
    """
    native = key == key.lower() if api == "valinso" else "_" not in key
    return (snake_case(key) or key) if native else key.replace("_", "__")


def _safe_column_name(name: str) -> str:
    """A server's field name usable as a column: ``pl.col("*")`` is a wildcard and ``^…$`` a
    regex, so anything but word characters and dots becomes ``_``; an empty name gets one."""
    cleaned = re.sub(r"[^\w.]+", "_", name).strip("_")
    return cleaned or "unnamed_field"
