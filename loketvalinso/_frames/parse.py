"""Raw page bytes → typed Polars DataFrames: the fast fixed-schema path and the slow path.

:func:`parse_page` decodes a whole page natively with ``pl.read_json`` and the envelope dtype of
its :class:`~loketvalinso._frames.spec.FrameSpec`, then flattens, converts and explodes the items
with Polars expressions: no per-row Python objects, no inference from the first rows. With
``convert=False`` a page may be left decoded but unconverted (a :class:`RawPage`), so that
:func:`convert_raw` converts many pages of one load together.

Fields the schema does not declare are found by counting the keys in the body (a byte count, so
the typed path stays native) and only then read from the body (:func:`_add_extras`, with
:mod:`~loketvalinso._frames.extras`): top-level fields of flat items in one pass, anything else
by the slow path's walk; they become extra columns. A key an item repeats keeps its first value
on every path (:mod:`loketvalinso._json`), as Polars' reader decides it on the fast path.

A well-formed body the native decode cannot take, or whose integers it would cut or null, is
decoded by the tolerant path (:func:`_tolerant_page`, :mod:`~loketvalinso._frames.tolerant`);
"malformed or truncated JSON" means the bytes are not JSON. What a page brought off the schema is
its drift (``meta["drift"]``, records of :mod:`~loketvalinso._frames.drift`): values coerced or
nulled on the tolerant path or by the conversions (:attr:`FrameSpec.checks`), undeclared fields.

This module has no state and starts no threads: the load layer decides which thread parses.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, NoReturn, overload

import orjson
import polars as pl

from loketvalinso._frames.convert import build_frame
from loketvalinso._frames.drift import DriftCounter, Record, json_kind
from loketvalinso._frames.extras import extra_columns, items_of, per_item, top_level_fields
from loketvalinso._frames.spec import PAGING_FIELDS, ROW, FrameSpec, empty_frame, widened_spec
from loketvalinso._frames.tolerant import ItemWalker, envelope_meta
from loketvalinso._json import dumps_text, keys_in_text, loads
from loketvalinso.errors import ResponseFormatError

__all__ = ["RawPage", "concat_pages", "convert_raw", "is_raw", "parse_page", "parse_untyped_page"]


def concat_pages(frames: Sequence[pl.DataFrame], *, spec: FrameSpec | None = None) -> pl.DataFrame:
    """Concatenate page frames; extra columns seen on some pages only are null elsewhere."""
    frames = [f for f in frames if f is not None]
    if not frames:
        if spec is None:
            return pl.DataFrame()
        return empty_frame(spec)
    if len(frames) == 1:
        return frames[0]
    # Polars checks the schemas natively (comparing Schema objects page by page is Python work)
    try:
        return pl.concat(frames, how="vertical", rechunk=False)
    except (pl.exceptions.SchemaError, pl.exceptions.ShapeError, pl.exceptions.ColumnNotFoundError):
        return pl.concat(frames, how="diagonal_relaxed", rechunk=False)


def _fail(msg: str, url: object, page: int | None, exc: BaseException | None = None) -> NoReturn:
    raise ResponseFormatError(msg, url=url, page=page) from exc


def _count_keys(s: pl.Series) -> int:
    """Number of object keys with non-null values inside the values of ``s``."""
    dt = s.dtype
    if isinstance(dt, pl.Struct):
        return _frame_keys(s.struct.unnest())  # unnest applies the struct's own nulls
    if isinstance(dt, pl.List) and isinstance(dt.inner, (pl.Struct, pl.List)):
        return _count_keys(s.explode(empty_as_null=False, keep_nulls=False))
    return 0


def _body_keys(body: bytes) -> int:
    """An upper bound of the keys with non-null values in ``body``: ``":`` minus ``":null``.

    A ``\\":`` inside a string adds one to both counts or only to the first, so the bound holds;
    it is exact for compact JSON. Bodies that put a space after the colon also have
    ``": null`` subtracted (checked on the first 4 KiB).
    """
    return body.count(b'":') - _nulls(body)


def _nulls(body: bytes) -> int:
    nulls = body.count(b'":null')
    if b'": ' in body[:4096]:
        nulls += body.count(b'": null')
    return nulls


def _colons(body: bytes) -> int:
    """Every ``:`` in ``body``: the quickest upper bound of its keys (a single-byte search,
    ~2.5× faster than ``":``, which is ~1.4× faster than ``":null``). Exact for flat items
    without nulls or colons in their values (Valinso's)."""
    return body.count(b":")


def _more_keys_than(body: bytes, known: int, colons: int | None = None) -> bool:
    """Whether ``body`` has more keys with non-null values than the ``known`` ones a decode
    captured. Its upper bounds are tightened only while they exceed ``known``: every ``:``
    (``colons``, when already counted), then minus the nulls, then the keys exactly. A null
    or a colon inside a string only raises a bound, so no undeclared field is missed."""
    if colons is None:
        colons = _colons(body)
    if colons <= known:
        return False
    nulls = _nulls(body)
    return colons - nulls > known and keys_in_text(body) - nulls > known


def _has_unknown_keys(body: bytes, env: pl.DataFrame, items: Any, spec: FrameSpec) -> bool:
    """Whether the body has more keys (with non-null values) than the typed decode captured
    (:func:`_more_keys_than`)."""
    if (
        spec.flat_fields is not None
        and items is not None
        and isinstance(items.dtype, pl.List)
        and isinstance(items.dtype.inner, pl.Struct)
    ):
        known = _flat_known_keys(env, items)
    else:
        known = _frame_keys(env)
    return _more_keys_than(body, known)


@overload
def parse_page(
    body: bytes,
    spec: FrameSpec,
    *,
    path_ids: dict[str, str] | None = ...,
    url: object = ...,
    page: int | None = ...,
    convert: Literal[True] = ...,
) -> tuple[dict[str, Any], pl.DataFrame]: ...


@overload
def parse_page(
    body: bytes,
    spec: FrameSpec,
    *,
    path_ids: dict[str, str] | None = ...,
    url: object = ...,
    page: int | None = ...,
    convert: bool,
) -> tuple[dict[str, Any], pl.DataFrame | RawPage]: ...


def parse_page(
    body: bytes,
    spec: FrameSpec,
    *,
    path_ids: dict[str, str] | None = None,
    url: object = None,
    page: int | None = None,
    convert: bool = True,
) -> tuple[dict[str, Any], pl.DataFrame | RawPage]:
    """Decode one page into ``(meta, frame)``.

    Parameters
    ----------
    body
        The raw response body.
    spec
        From :func:`schema_for` or a ``valinso_*_spec()``.
    path_ids
        Path parameter values by parameter name (``{"employerId": "…"}``); added as columns.
    url, page
        Named in errors.
    convert
        False: when the page has no undeclared fields, return the decoded items unconverted
        (one ``__item`` Struct column, see :func:`is_raw`) for :func:`convert_raw` to convert
        together with the other pages of the load; pages with extra fields are converted here.

    Returns
    -------
    meta : dict
        ``item_count, current_page, page_size, total_pages, total_size, offset, limit, total,
        version, messages, drift`` (the fields of ``_load.pages.PageMeta``; absent ones None;
        ``drift``: what the page brought off the schema, see :mod:`~loketvalinso._frames.drift`).
    frame : polars.DataFrame or RawPage
        Columns and dtypes of ``spec.schema`` (+ extra columns for undeclared fields; an integer
        column widened where its values do not fit); a :class:`RawPage` only when ``convert`` is
        False (its conversion's drift then lands in :attr:`RawPage.drift`).

    Raises
    ------
    ResponseFormatError
        Bytes that are not JSON (malformed or truncated), or a body without the expected
        envelope.
    """
    if isinstance(body, str):
        body = body.encode()
    elif not isinstance(body, bytes):
        body = bytes(body)
    if spec.envelope == "bare":
        stripped = body.lstrip()
        if stripped[:1] == b"[":
            body = b'{"_embedded":' + body + b"}"
    if not any(b'"' + k.encode() + b'"' in body for k in spec.body_keys):
        head = body[:80].decode("utf-8", "replace")
        _fail(
            f"the {spec.name} response has no {' or '.join(spec.body_keys)} (body starts {head!r})",
            url,
            page,
        )
    env = None
    schema: dict[str, pl.DataType] = {}
    for schema in spec.decode_variants:
        try:
            env = pl.read_json(body, schema=schema)
            break
        except Exception:  # polars raises ComputeError, PanicException, …
            continue
    if env is None or env.height != 1:
        # well-formed JSON off the schema, or not JSON at all: the tolerant path tells them apart
        return _tolerant_page(body, spec, path_ids=path_ids, url=url, page=page)
    meta = _meta(env, spec)
    items = None
    for k in spec.body_keys:
        if k in env.columns and env[k].null_count() == 0:
            items = env[k]
            break
    if items is None:
        n_items = 0
        frame_items = pl.DataFrame({"__item": []}, schema={"__item": spec.item_dtype or pl.Null})
    else:
        # The dtype this variant decoded the items with (Series.dtype builds a Python dtype
        # tree). The envelope is one row, so its list's first value is the items (exploding the
        # list would run a query).
        s = items[0] if isinstance(schema[items.name], pl.List) else items
        n_items = len(s)
        if spec.wrapped:
            frame_items = s.alias("value").to_frame().select(pl.struct("value").alias("__item"))
        else:
            frame_items = s.alias("__item").to_frame()
    meta["item_count"] = n_items
    meta["drift"] = []
    if not convert and items is not None and not spec.wrapped and not spec.any_paths:
        # The unknown-field check is settled for the whole load in convert_raw (one count over
        # all pages' items instead of a walk per page); the page keeps what a recheck needs.
        # the envelope is one row: its few values as Python objects are the quickest to count
        rest = [env.get_column(c).to_list()[0] for c in env.columns if c != items.name]
        env_keys = _value_keys(rest) + 1  # + the item list's own key
        quick = spec.flat_fields is not None  # flat items: colons in values are rare
        return meta, RawPage(
            frame_items,
            _colons(body) if quick else _body_keys(body),
            env_keys,
            body,
            url=url,
            page=page,
            quick=quick,
        )
    extras = bool(spec.any_paths and n_items) or _has_unknown_keys(body, env, items, spec)
    if not extras and not convert and spec.item_dtype is not None:
        # convert_raw checks its integers (and may send it the tolerant way: the body stays)
        return meta, RawPage(frame_items, body=body, url=url, page=page)
    frame, drift, trouble = build_frame(frame_items, spec)
    if trouble:
        return _tolerant_page(body, spec, path_ids=path_ids, url=url, page=page)
    counter = DriftCounter()
    counter.extend(drift)
    if extras:
        frame = _add_extras(body, spec, frame, url, page, counter)
    meta["drift"] = counter.records()
    return meta, _with_path_columns(_without_row(frame), spec, path_ids)


def _tolerant_page(
    body: bytes,
    spec: FrameSpec,
    *,
    path_ids: dict[str, str] | None,
    url: object,
    page: int | None,
) -> tuple[dict[str, Any], pl.DataFrame]:
    """A page decoded value by value (:mod:`~loketvalinso._frames.tolerant`): rows out =
    items served, every value coerced or nulled on the way counted in ``meta["drift"]``."""
    data = _load_or_fail(body, spec, url, page)
    if not isinstance(data, dict):
        _fail(
            f"unexpected body for {spec.name}: a JSON {json_kind(data)}, not an object with "
            f"{' or '.join(spec.body_keys)}",
            url,
            page,
        )
    raw_items = items_of(data, spec)
    if raw_items is None:
        key = next((k for k in spec.body_keys if data.get(k) is not None), spec.body_keys[0])
        _fail(
            f"unexpected body for {spec.name}: {key} holds a JSON {json_kind(data.get(key))}, "
            "not items",
            url,
            page,
        )
    meta = envelope_meta(data, spec)
    meta["item_count"] = len(raw_items)
    counter = DriftCounter()
    walker = ItemWalker(spec, counter, clean=True)
    cleaned = walker.items(raw_items)
    built = widened_spec(spec, walker.widen) if walker.widen else spec
    frame, drift, _ = build_frame(_cleaned_items(cleaned, built), built, exact=True)
    counter.extend(drift)
    if walker.found:
        found = per_item(walker.found, len(raw_items))
        frame = extra_columns(found, len(raw_items), spec, frame, counter, url=url, page=page)
    meta["drift"] = counter.records()
    return meta, _with_path_columns(_without_row(frame), built, path_ids)


def _cleaned_items(cleaned: list[Any], spec: FrameSpec) -> pl.DataFrame:
    """The tolerant path's items as the ``__item`` column the conversion reads."""
    dtype = spec.item_dtype_exact
    if dtype is None:
        return pl.DataFrame({"__item": [None] * len(cleaned)}, schema={"__item": pl.Null})
    payload = {"__item": cleaned}
    try:
        text = orjson.dumps(payload)
    except (TypeError, orjson.JSONEncodeError):  # integers past 64 bits: a text column
        text = json.dumps(payload).encode()
    decoded = pl.read_json(text, schema={"__item": pl.List(dtype)})
    return decoded.get_column("__item")[0].alias("__item").to_frame()


def _load_or_fail(body: bytes, spec: FrameSpec, url: object, page: int | None) -> Any:
    try:
        return loads(body)
    except ValueError as exc:
        detail = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
        _fail(f"malformed or truncated JSON for {spec.name}: {detail}", url, page, exc)


def _with_path_columns(
    frame: pl.DataFrame, spec: FrameSpec, path_ids: dict[str, str] | None
) -> pl.DataFrame:
    if not spec.path_columns:
        return frame
    ids = path_ids or {}
    path_cols = [c for _, c in spec.path_columns]
    rest = [pl.col(c) for c in frame.columns if c not in path_cols]
    # path columns first, in one query
    return frame.select(
        *(pl.lit(ids.get(p), pl.String()).alias(c) for p, c in spec.path_columns), *rest
    )


@dataclass(slots=True, eq=False)
class RawPage:
    """A page decoded but not converted (``parse_page(..., convert=False)``).

    ``items`` has one ``__item`` Struct column. When ``body_keys`` is set, the unknown-field
    check is still open: :func:`convert_raw` compares ``body_keys`` (keys with non-null values
    counted in the body) with ``env_keys`` plus the keys captured in ``items``, for all pages at
    once, and reads ``body`` again for a page whose counts differ, so that its undeclared
    fields become columns. The body is the response's own bytes (no copy); the walk converts
    pages in batches while it walks, so only a batch's bodies are kept at a time.
    """

    items: pl.DataFrame
    body_keys: int | None = None
    env_keys: int = 0
    body: bytes | None = None
    url: object = None
    page: int | None = None
    #: ``body_keys`` counted by :func:`_colons` (also counts nulls and colons inside values)
    quick: bool = False
    #: What :func:`convert_raw` found off the schema while converting this page.
    drift: list[Record] = field(default_factory=list)

    @property
    def height(self) -> int:
        return self.items.height

    def has_unknown_keys(self) -> bool:
        """Whether the body has more keys with non-null values than the decode captured."""
        if self.body_keys is None:
            return False
        known = self.env_keys + _count_keys(self.items.get_column("__item"))
        if not self.quick or self.body is None:
            return self.body_keys > known
        return _more_keys_than(self.body, known, colons=self.body_keys)


def is_raw(frame: Any) -> bool:
    """Whether ``frame`` is a page's unconverted items (``parse_page(..., convert=False)``)."""
    return isinstance(frame, RawPage)


def convert_raw(
    pages: Sequence[RawPage], spec: FrameSpec, path_ids: dict[str, str] | None = None
) -> list[pl.DataFrame]:
    """Convert the unconverted pages of one load together; one finished frame per page.

    The typed select (flattening, date/date-time parsing, decimals, explodes, path columns) runs
    once over all the pages, so Polars spreads it over the columns and its fixed costs are paid
    once; each page's frame is a zero-copy slice of the result. Pages whose unknown-field check
    is open (:class:`RawPage`) are checked together first; one whose body holds keys the
    decode did not capture is converted with the others, and its body is read again for those
    fields only (:func:`_add_extras`), which become its extra columns. A page whose integers an
    integer column could not hold (:attr:`FrameSpec.int_check`, also checked for all pages at
    once) is parsed again on its own: it goes the tolerant way. What a page's conversion
    coerced or nulled lands in its :attr:`RawPage.drift`.
    """
    if not pages:
        return []
    try:
        items = _concat_items(pages, spec)
    except pl.exceptions.SchemaError:
        # decoded with different variants (money as numbers on some pages, as text on others):
        # each kind together
        groups: dict[str, list[RawPage]] = {}
        for p in pages:
            groups.setdefault(str(p.items.schema["__item"]), []).append(p)
        done = {
            id(p): frame
            for group in groups.values()
            for p, frame in zip(group, convert_raw(group, spec, path_ids), strict=True)
        }
        return [done[id(p)] for p in pages]
    open_ = [p for p in pages if p.body_keys is not None]
    extra: set[int] = set()  # pages converted with the others, then given their extra columns
    if open_:
        body_total = sum(p.body_keys or 0 for p in open_)
        known = sum(p.env_keys for p in open_)
        if len(open_) == len(pages):
            known += _count_keys(items.get_column("__item"))
        else:
            known += sum(_count_keys(p.items.get_column("__item")) for p in open_)
        # every page's body has at least the keys its decode captured: equal totals settle it
        if body_total != known:
            extra = {id(p) for p in open_ if p.has_unknown_keys()}
    together = _convert_together(items, pages, spec, path_ids, extra)
    if together is not None:
        return _converted(pages, together)
    # an integer its column cannot hold, money past its range: those pages go the tolerant way
    redo = {id(p) for p in pages if build_frame(p.items, spec).trouble}
    rest = [p for p in pages if id(p) not in redo]
    converted = iter(
        (_convert_together(_concat_items(rest, spec), rest, spec, path_ids, extra) or [])
        if rest
        else []
    )
    out = []
    for p in pages:
        if id(p) in redo:
            meta, frame = parse_page(
                _body_of(p), spec, path_ids=path_ids, url=p.url, page=p.page, convert=True
            )
            out.append((frame, meta["drift"]))
        else:
            out.append(next(converted))
    return _converted(pages, out)


def _without_row(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.drop(ROW) if ROW in frame.columns else frame  # a drop plans a query


def _body_of(page: RawPage) -> bytes:
    if page.body is None:
        msg = "the page's body is gone: it cannot be checked for undeclared fields"
        raise ResponseFormatError(msg, url=page.url, page=page.page)
    return page.body


def _converted(
    pages: Sequence[RawPage], done: Sequence[tuple[pl.DataFrame, list[Record]]]
) -> list[pl.DataFrame]:
    for p, (_, drift) in zip(pages, done, strict=True):
        p.drift = drift
    return [frame for frame, _ in done]


def _concat_items(pages: Sequence[RawPage], spec: FrameSpec) -> pl.DataFrame:
    if len(pages) == 1:
        return pages[0].items
    # Nested items in one chunk: the conversion runs each output expression chunk by chunk,
    # and for nested fields that costs more than copying the items once. Flat items (vends)
    # convert as quickly in chunks, so they are not copied.
    nested = spec.flat_fields is None
    return pl.concat([p.items for p in pages], how="vertical", rechunk=nested)


def _convert_together(
    items: pl.DataFrame,
    pages: Sequence[RawPage],
    spec: FrameSpec,
    path_ids: dict[str, str] | None,
    extra: set[int],
) -> list[tuple[pl.DataFrame, list[Record]]] | None:
    """The pages' frames and drift; None when one of them needs the tolerant path. Pages whose
    ``id`` is in ``extra`` also get their undeclared fields as columns (:func:`_add_extras`)."""
    counts = [p.height for p in pages]
    frame, drift, trouble = build_frame(items, spec)
    if trouble:
        return None
    if drift and len(pages) > 1:
        # rare: the pages one by one, so that each page keeps its own drift
        return [
            done
            for p in pages
            for done in _convert_together(p.items, [p], spec, path_ids, extra) or []
        ]
    firsts = [0, *itertools.accumulate(counts)]  # the first item of each page
    if ROW in frame.columns:
        # exploded: rows of page k are those whose item index falls in page k's range
        rows = frame.get_column(ROW)
        cuts = rows.search_sorted(pl.Series(firsts[1:], dtype=rows.dtype), side="left").to_list()
    else:
        cuts = firsts[1:]
    bare = frame  # with the item index of each row, without path columns: as parse_page adds extras
    frame = _with_path_columns(_without_row(frame), spec, path_ids)
    out, start = [], 0
    for p, first, end in zip(pages, firsts[:-1], cuts, strict=True):
        if id(p) in extra:
            part = bare.slice(start, end - start)
            if ROW in part.columns:
                part = part.with_columns(pl.col(ROW) - first)
            counter = DriftCounter()
            counter.extend(drift)
            part = _add_extras(_body_of(p), spec, part, p.url, p.page, counter)
            part = _with_path_columns(_without_row(part), spec, path_ids)
            out.append((part, counter.records()))
        else:
            out.append((frame.slice(start, end - start), drift))
        start = end
    return out


def _flat_known_keys(env: pl.DataFrame, items: pl.Series) -> int:
    """:func:`_frame_keys` of the envelope, for a list of flat items: rows × fields − null
    cells (one null count) plus the envelope's keys (the item list's own key included)."""
    elements = items[0]  # the envelope is one row (parse_page checked)
    if elements.null_count():
        return _frame_keys(env)  # null items: let Arrow apply the parent nulls
    inner = elements.struct.unnest()
    known = inner.height * inner.width - sum(inner.null_count().row(0))
    return known + 1 + _frame_keys(env.drop(items.name))


def _value_keys(values: list[Any]) -> int:
    """Keys with non-null values among decoded top-level ``values`` (all levels)."""
    n = 0
    stack = [v for v in values if v is not None]
    n += len(stack)
    while stack:
        v = stack.pop()
        if isinstance(v, dict):
            inner = [x for x in v.values() if x is not None]
            n += len(inner)
            stack.extend(inner)
        elif isinstance(v, list):
            stack.extend(x for x in v if x is not None)
    return n


def _frame_keys(df: pl.DataFrame) -> int:
    """Non-null cells of ``df`` plus the keys inside its nested values (:func:`_count_keys`)."""
    n = df.height * df.width - sum(c.null_count() for c in df.get_columns())
    for c in df.get_columns():
        if isinstance(c.dtype, (pl.Struct, pl.List)):
            n += _count_keys(c)
    return n


_META_COLUMNS = (*PAGING_FIELDS, "version", "messages", "paging")


def _meta(env: pl.DataFrame, spec: FrameSpec) -> dict[str, Any]:
    # one cell at a time: dropping the (big) item column first costs a query per page
    row = {c: env.get_column(c).to_list()[0] for c in _META_COLUMNS if c in env.columns}
    meta: dict[str, Any] = {
        "item_count": 0,
        "current_page": row.get("currentPage"),
        "page_size": row.get("pageSize"),
        "total_pages": row.get("totalPages"),
        "total_size": row.get("totalSize"),
        "offset": None,
        "limit": None,
        "total": None,
        "version": row.get("version"),
        "messages": [m for m in (row.get("messages") or []) if m is not None],
    }
    paging = row.get("paging")
    if paging:
        meta.update(offset=paging["offset"], limit=paging["limit"], total=paging["total"])
    return meta


def _add_extras(
    body: bytes,
    spec: FrameSpec,
    frame: pl.DataFrame,
    url: object,
    page: int | None,
    drift: DriftCounter,
) -> pl.DataFrame:
    """``frame`` with the undeclared and free-form fields of ``body`` as extra columns; the
    undeclared ones (also those inside lists, which are not kept) counted in ``drift``.

    Top-level fields of flat items are read in one pass (:func:`top_level_fields`); any other
    page is walked item by item, key by key (the slow path)."""
    quick = top_level_fields(body, spec)
    if quick is not None:
        found, n_items = quick
    else:
        items = items_of(_load_or_fail(body, spec, url, page), spec) or []
        walker = ItemWalker(spec, drift, clean=False)
        walker.items(items)
        n_items = len(items)
        found = per_item(walker.found, n_items)
    if not found:
        return frame
    return extra_columns(found, n_items, spec, frame, drift, url=url, page=page)


def parse_untyped_page(
    body: bytes, *, url: object = None, page: int | None = None
) -> tuple[dict[str, Any], pl.DataFrame]:
    """A Valinso page of an endpoint with no known fields: every item field becomes a column.

    The slow path (Python objects), for ad-hoc endpoints only: dtypes come from all the values
    of the page, nested objects and lists become JSON text so pages always concatenate.
    Returns ``(meta, frame)`` as :func:`parse_page` does.
    """
    try:
        data = loads(body)
    except ValueError as exc:
        msg = f"malformed or truncated JSON: {exc}"
        raise ResponseFormatError(msg, url=url, page=page) from exc
    if not isinstance(data, dict) or "result" not in data:
        msg = "the response has no result"
        raise ResponseFormatError(msg, url=url, page=page)
    result = data["result"]
    items = result if isinstance(result, list) else [result]
    try:
        rows = [
            {
                k: dumps_text(v) if isinstance(v, dict | list) else v
                for k, v in (it.items() if isinstance(it, dict) else {"value": it}.items())
            }
            for it in items
            if it is not None
        ]
    except ValueError as exc:  # a field nested deeper than it can be kept as text
        msg = f"unexpected body: {exc}"
        raise ResponseFormatError(msg, url=url, page=page) from exc
    frame = pl.from_dicts(rows, infer_schema_length=None) if rows else pl.DataFrame()
    paging = data.get("paging")
    if not isinstance(paging, dict):
        paging = {}
    meta = {
        "item_count": len(rows),
        "offset": paging.get("offset"),
        "limit": paging.get("limit"),
        "total": paging.get("total"),
    }
    return meta, frame
