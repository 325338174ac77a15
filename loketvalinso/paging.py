"""Paging: one loop (:func:`paginate`) and one small class per paging protocol.

The pager fetches pages and decides when to stop; it never parses items itself. The caller hands
it ``parse(body, ctx) -> ParsedPage`` (the frame builder's fast parser, or the JSON parsers here)
and gets back the kept pages, in page order.

How a load runs
---------------
1. Page 1 is fetched in the calling thread.
2. If it carries no paging information, it is the whole result.
3. If it announces a total (``totalPages``/``totalSize``, or ``paging.total``), the remaining
   pages are fetched **concurrently**, at most ``max_concurrency`` requests in flight over the
   one ``httpx.Client``, and put back in page order. A worker's next request goes out as soon
   as its body is in, while the body is parsed (the parser's threads, or the worker's own);
   the worker threads come from one pool that walks share.
4. Otherwise the pages are walked one after the other until an empty or short page.

Stop rules, all cross-checked
-----------------------------
Every disagreement becomes a :class:`~loketvalinso.errors.PaginationWarning` naming the URL (with
secrets redacted) and the page, or a :class:`~loketvalinso.errors.PaginationError` with
``strict=True``:

* page 1's own numbers disagree (``totalPages`` vs ``totalSize``/``pageSize``);
* a page answers as another page (``currentPage``/``offset`` is not the one asked for): the page
  is left out and the walk stops (this ends a server that answers ``currentPage: 2`` forever
  after one request);
* a page repeats an earlier page byte for byte (a server ignoring the page parameter): left out,
  the walk stops;
* an empty page before the announced end: the walk stops;
* a short page that is not the last, or a page with more items than the page size;
* the announced total changes between pages (the data changed during the load);
* the items received do not add up to the announced total.

More pages than ``page_cap`` (announced, or walked) always raise :class:`PaginationError`. No
retries happen here: the retry transport below the client does them, with one shared back-off.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import queue
import re
import sys
import threading
import warnings
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx
import orjson

from loketvalinso.background import load_in_progress
from loketvalinso.errors import (
    ConfigurationError,
    NetworkError,
    PaginationError,
    PaginationWarning,
    ResponseFormatError,
    error_for_status,
    redact_url,
)
from loketvalinso.loadreport import LoadReport
from loketvalinso.progress import NullProgress, make_progress, safe_label

__all__ = [
    "NoPaging",
    "OffsetLimitPaging",
    "PageContext",
    "PageMeta",
    "PageNumberPaging",
    "PagePlan",
    "PageSiblings",
    "PagingStrategy",
    "ParsedPage",
    "paginate",
    "parse_json_page_loket",
    "parse_json_page_valinso",
    "raise_for_status",
]

#: ``response.extensions`` key where the cache puts the body's sha256 hex digest
#: (``loketvalinso.cache.CACHE_BODY_EXTENSION``; spelled out to keep paging free of the cache).
_BODY_SHA256 = "loketvalinso.body_sha256"
_CACHE_KEY = "loketvalinso.cache_key"
_CACHE_STATE = "loketvalinso.cache"
#: ``request.extensions`` key of the pages 2.. of a listing whose page 1 was not in the cache
#: (``loketvalinso.cache.PAGE_SIBLINGS_EXTENSION``): a :class:`PageSiblings`.
_PAGE_SIBLINGS = "loketvalinso.page_siblings"

#: At most this many warnings per load; the rest are summed up in one more.
_MAX_WARNINGS = 10
#: At most this many page numbers listed in one warning.
_MAX_PAGES_LISTED = 10


# -- what a parser returns ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PageMeta:
    """The envelope of one page: its item count, its paging numbers, version and messages.

    Loket fills ``current_page``/``page_size``/``total_pages``/``total_size``; Valinso fills
    ``offset``/``limit``/``total``. Fields the response does not carry stay ``None``.
    """

    item_count: int = 0
    current_page: int | None = None
    page_size: int | None = None
    total_pages: int | None = None
    total_size: int | None = None
    offset: int | None = None
    limit: int | None = None
    total: int | None = None
    version: dict[str, Any] | None = None
    messages: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class PageContext:
    """What a parser may want to know about the page it parses.

    Attributes
    ----------
    url : str
        The request URL, secrets redacted (for error messages).
    page : int
        The 1-based page index the pager asked for.
    params : Mapping
        The query parameters sent (the caller's plus the paging ones).
    headers : httpx.Headers
        The response headers (``Content-Type`` carries the Loket resource version).
    status_code : int
        The HTTP status.
    label : str or None
        The resource label of the load.
    extensions : Mapping
        The response's httpx extensions (``loketvalinso.cache`` status, ``…cache_key``), so a
        parser can reuse what the cache kept for this page.
    """

    url: str
    page: int
    params: Mapping[str, Any] = field(default_factory=dict)
    headers: httpx.Headers = field(default_factory=httpx.Headers)
    status_code: int = 200
    label: str | None = None
    extensions: Mapping[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class ParsedPage:
    """One parsed page: its envelope and its items.

    ``data`` is what the parser built (a Polars DataFrame from the frame builder, a list of dicts
    from the JSON parsers here); ``meta.item_count`` must equal ``len(data)``. ``page`` is the
    1-based index the pager asked for (the pager sets it).
    """

    meta: PageMeta
    data: Any
    page: int = 1


Parser = Callable[[bytes, PageContext], ParsedPage]


# -- default parsers (tests, and a reference for the frame builder) -----------------------------


def _int_or_none(value: Any) -> int | None:
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            return None
    return None


def _load_json_object(body: bytes, ctx: PageContext) -> dict[str, Any]:
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        msg = f"the response is not valid JSON ({len(body)} bytes; truncated?): {exc.msg}"
        raise ResponseFormatError(msg, url=ctx.url, page=ctx.page) from None
    if not isinstance(doc, dict):
        msg = f"expected a JSON object, got {type(doc).__name__}"
        raise ResponseFormatError(msg, url=ctx.url, page=ctx.page)
    return doc


def parse_json_page_loket(body: bytes, ctx: PageContext) -> ParsedPage:
    """Parse a Loket page with orjson; ``data`` is the list of item dicts.

    Expects ``{"_embedded": [...], "currentPage": 1, "pageSize": 250, "totalPages": 3,
    "totalSize": 650, "version": {...}, "messages": [...]}``; a ``content`` list or object
    instead of ``_embedded`` (an object counts as one item); paging fields may be absent.
    """
    doc = _load_json_object(body, ctx)
    if "_embedded" in doc:
        items = doc["_embedded"]
    elif "content" in doc:
        content = doc["content"]
        items = content if isinstance(content, list) else ([] if content is None else [content])
    else:
        items = []
    if items is None:
        items = []
    if not isinstance(items, list):
        msg = f"expected `_embedded` to be a list, got {type(items).__name__}"
        raise ResponseFormatError(msg, url=ctx.url, page=ctx.page)
    version = doc.get("version")
    messages = doc.get("messages")
    meta = PageMeta(
        item_count=len(items),
        current_page=_int_or_none(doc.get("currentPage")),
        page_size=_int_or_none(doc.get("pageSize")),
        total_pages=_int_or_none(doc.get("totalPages")),
        total_size=_int_or_none(doc.get("totalSize")),
        version=version if isinstance(version, dict) else None,
        messages=[m for m in messages if isinstance(m, dict)] if isinstance(messages, list) else [],
    )
    return ParsedPage(meta=meta, data=items, page=ctx.page)


def parse_json_page_valinso(body: bytes, ctx: PageContext) -> ParsedPage:
    """Parse a Valinso page with orjson; ``data`` is the list of item dicts.

    Expects ``{"code": 200, "result": [...], "paging": {"total": 12, "offset": 10,
    "limit": 20}}``; ``paging`` may be absent; an object ``result`` counts as one item.
    """
    doc = _load_json_object(body, ctx)
    if "result" not in doc:
        msg = "expected a {code, result} object: `result` is missing"
        raise ResponseFormatError(msg, url=ctx.url, page=ctx.page)
    code = _int_or_none(doc.get("code"))
    if code is not None and not 200 <= code < 300:
        msg = f"the body says code {code} in an HTTP {ctx.status_code} response"
        raise ResponseFormatError(msg, url=ctx.url, page=ctx.page)
    result = doc["result"]
    items = result if isinstance(result, list) else ([] if result is None else [result])
    paging = doc.get("paging")
    paging = paging if isinstance(paging, dict) else {}
    meta = PageMeta(
        item_count=len(items),
        offset=_int_or_none(paging.get("offset")),
        limit=_int_or_none(paging.get("limit")),
        total=_int_or_none(paging.get("total")),
    )
    return ParsedPage(meta=meta, data=items, page=ctx.page)


def raise_for_status(response: httpx.Response) -> None:
    """Raise the :class:`~loketvalinso.errors.ApiError` subclass for a non-2xx response.

    The default ``raise_for_response`` of :func:`paginate`. The message names the status and
    the (redacted) URL; Loket ``messages[]`` go to ``.messages``, never into the text.
    """
    if response.is_success:
        return
    status = response.status_code
    cls = error_for_status(status)
    messages: list[dict[str, Any]] = []
    try:
        doc = orjson.loads(response.content)
    except (orjson.JSONDecodeError, httpx.ResponseNotRead):
        doc = None
    if isinstance(doc, dict) and isinstance(doc.get("messages"), list):
        messages = [m for m in doc["messages"] if isinstance(m, dict)]
    reason = response.reason_phrase or "error"
    msg = f"GET failed with HTTP {status} {reason}"
    raise cls(msg, status=status, url=response.request.url, messages=messages)


# -- strategies --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PagePlan:
    """How the pages of one load are laid out, worked out from page 1.

    Attributes
    ----------
    step : int
        Items per full page, as the server pages.
    total_items : int or None
        Items announced in total.
    total_pages : int or None
        Pages to fetch in total; ``None`` means walk one page after another.
    """

    step: int
    total_items: int | None
    total_pages: int | None


class PagingStrategy:
    """The common frame of a paging protocol.

    A strategy holds only configuration, so one instance can serve many loads at once. The pager
    asks it for the first request's params, a :class:`PagePlan` from page 1 (:meth:`plan`, the
    ``update_state`` of this design), each page's params, and :meth:`has_next_page` when it walks
    without totals; :meth:`check_page` holds the cross-checks shared by all protocols, built on
    :meth:`position`, :meth:`expected_position` and :meth:`total_of`.
    """

    #: Name of the quantity :meth:`position` reads, for messages.
    position_name = "position"

    def first_params(self) -> dict[str, Any]:
        """Query params of page 1."""
        raise NotImplementedError

    def is_paged(self, meta: PageMeta) -> bool:
        """Whether the response carries paging information at all."""
        raise NotImplementedError

    def plan(self, first: PageMeta) -> tuple[PagePlan, list[str]]:
        """The plan for the whole load from page 1, and page 1's inner contradictions."""
        raise NotImplementedError

    def page_params(self, index: int, plan: PagePlan) -> dict[str, Any]:
        """Query params of the page at 1-based ``index``."""
        raise NotImplementedError

    def position(self, meta: PageMeta) -> int | None:
        """Where the server says this page is (page number, offset); ``None`` if not said."""
        raise NotImplementedError

    def expected_position(self, index: int, plan: PagePlan) -> int:
        """Where page ``index`` should be."""
        raise NotImplementedError

    def total_of(self, meta: PageMeta) -> int | None:
        """The total the page announces (compared across pages to detect drift)."""
        raise NotImplementedError

    def has_next_page(self, meta: PageMeta, index: int, plan: PagePlan) -> bool:
        """Walking without totals: is there a page after page ``index``? (Only a full page says
        yes; an empty or short page ends the walk.)"""
        return meta.item_count > 0 and meta.item_count >= plan.step

    def describe(self, index: int, plan: PagePlan) -> str:
        """Page ``index`` in words, for messages."""
        return f"page {index}"

    def check_page(
        self, meta: PageMeta, index: int, plan: PagePlan, first_total: int | None
    ) -> list[tuple[str, str, bool, bool]]:
        """Cross-check one page against the plan.

        Returns
        -------
        list of (kind, text, drop, stop)
            ``drop``: leave the page out of the result; ``stop``: fetch no further pages.
        """
        problems: list[tuple[str, str, bool, bool]] = []
        where = self.describe(index, plan)
        got = self.position(meta)
        want = self.expected_position(index, plan)
        if got is not None and got != want:
            text = (
                f"asked for {where} but the server answered {self.position_name} {got}; "
                f"its {meta.item_count} items are left out and paging stops"
            )
            problems.append(("position", text, True, True))
            return problems
        total = self.total_of(meta)
        if index > 1 and first_total is not None and total is not None and total != first_total:
            text = (
                f"the announced total changed from {first_total} to {total} at {where}: the "
                "data changed during the load, items may be missing or repeated"
            )
            problems.append(("drift", text, False, False))
        n = meta.item_count
        last = plan.total_pages
        if last is not None and index < last:
            if n == 0:
                text = (
                    f"{where} is empty although the server announced {last} pages"
                    + (f" ({plan.total_items} items)" if plan.total_items is not None else "")
                    + "; paging stops"
                )
                problems.append(("empty", text, False, True))
            elif n < plan.step:
                text = (
                    f"{where} holds {n} items, fewer than the page size {plan.step}, "
                    f"but is not the last of {last} pages"
                )
                problems.append(("short", text, False, False))
        if n > plan.step:
            text = f"{where} holds {n} items, more than the page size {plan.step}"
            problems.append(("overfull", text, False, False))
        return problems


class PageNumberPaging(PagingStrategy):
    """Loket page-number paging: ``pageNumber`` (1-based) and ``pageSize``.

    Expects::

        {"_embedded": [...], "currentPage": 1, "pageSize": 250, "totalPages": 3,
         "totalSize": 650, "version": {...}, "messages": [...]}

    (or ``content`` instead of ``_embedded``). Without any of ``currentPage``/``totalPages``/
    ``totalSize`` the response is a single page. With ``totalPages`` or ``totalSize`` the
    remaining pages are known after page 1; with neither, pages are walked until a short page.

    Parameters
    ----------
    page_size : int, default 250
        Items per page to ask for (the server may answer with another ``pageSize``; its own
        numbers rule).
    page_param, size_param : str
        The query parameter names.
    """

    position_name = "currentPage"

    def __init__(
        self,
        page_size: int = 250,
        *,
        page_param: str = "pageNumber",
        size_param: str = "pageSize",
    ) -> None:
        if isinstance(page_size, bool) or not isinstance(page_size, int) or page_size < 1:
            msg = f"page_size must be a positive integer, got {page_size!r}"
            raise ConfigurationError(msg)
        self.page_size = page_size
        self.page_param = page_param
        self.size_param = size_param

    def __repr__(self) -> str:
        return f"PageNumberPaging(page_size={self.page_size})"

    def first_params(self) -> dict[str, Any]:
        return {self.page_param: 1, self.size_param: self.page_size}

    def is_paged(self, meta: PageMeta) -> bool:
        return (
            meta.current_page is not None
            or meta.total_pages is not None
            or meta.total_size is not None
        )

    def plan(self, first: PageMeta) -> tuple[PagePlan, list[str]]:
        issues: list[str] = []
        step = first.page_size if first.page_size and first.page_size > 0 else self.page_size
        by_size = None
        if first.total_size is not None:
            by_size = max(math.ceil(first.total_size / step), 1)
        pages = max(first.total_pages, 1) if first.total_pages is not None else None
        if pages is not None and by_size is not None and pages != by_size:
            issues.append(
                f"page 1 announces totalPages={first.total_pages} but totalSize="
                f"{first.total_size} at pageSize={step} makes {by_size} pages"
            )
        candidates = [p for p in (pages, by_size) if p is not None]
        total_pages = max(candidates) if candidates else None
        return PagePlan(step=step, total_items=first.total_size, total_pages=total_pages), issues

    def page_params(self, index: int, plan: PagePlan) -> dict[str, Any]:
        return {self.page_param: index, self.size_param: self.page_size}

    def position(self, meta: PageMeta) -> int | None:
        return meta.current_page

    def expected_position(self, index: int, plan: PagePlan) -> int:
        return index

    def total_of(self, meta: PageMeta) -> int | None:
        return meta.total_size if meta.total_size is not None else meta.total_pages


class OffsetLimitPaging(PagingStrategy):
    """Valinso offset/limit paging: ``offset`` (items skipped) and ``limit``.

    Expects::

        {"code": 200, "result": [...], "paging": {"total": 12, "offset": 10, "limit": 20}}

    Without ``paging`` the response is a single page. With ``paging.total`` the remaining offsets
    are known after page 1; without it, pages are walked until a short page. A first page shorter
    than both the limit and the total is taken as the server's own cap on the page size.

    Parameters
    ----------
    limit : int, default 1000
        Items per page to ask for.
    offset_param, limit_param : str
        The query parameter names.
    """

    position_name = "offset"

    def __init__(
        self,
        limit: int = 1000,
        *,
        offset_param: str = "offset",
        limit_param: str = "limit",
    ) -> None:
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            msg = f"limit must be a positive integer, got {limit!r}"
            raise ConfigurationError(msg)
        self.limit = limit
        self.offset_param = offset_param
        self.limit_param = limit_param

    def __repr__(self) -> str:
        return f"OffsetLimitPaging(limit={self.limit})"

    def first_params(self) -> dict[str, Any]:
        return {self.offset_param: 0, self.limit_param: self.limit}

    def is_paged(self, meta: PageMeta) -> bool:
        return meta.total is not None or meta.offset is not None or meta.limit is not None

    def plan(self, first: PageMeta) -> tuple[PagePlan, list[str]]:
        step = first.limit if first.limit and first.limit > 0 else self.limit
        if first.total is None:
            return PagePlan(step=step, total_items=None, total_pages=None), []
        n = first.item_count
        if 0 < n < min(step, first.total):
            step = n  # the server caps the page size below the limit asked for
        pages = max(math.ceil(first.total / step), 1)
        return PagePlan(step=step, total_items=first.total, total_pages=pages), []

    def page_params(self, index: int, plan: PagePlan) -> dict[str, Any]:
        return {self.offset_param: (index - 1) * plan.step, self.limit_param: plan.step}

    def position(self, meta: PageMeta) -> int | None:
        return meta.offset

    def expected_position(self, index: int, plan: PagePlan) -> int:
        return (index - 1) * plan.step

    def total_of(self, meta: PageMeta) -> int | None:
        return meta.total

    def describe(self, index: int, plan: PagePlan) -> str:
        return f"page {index} (offset {(index - 1) * plan.step})"


class NoPaging(PagingStrategy):
    """No paging: one request without paging params; the response is the whole result.

    For endpoints that declare no paging (``strategy=None`` in :func:`paginate` means this).
    Any paging fields the response still carries are ignored.
    """

    def __repr__(self) -> str:
        return "NoPaging()"

    def first_params(self) -> dict[str, Any]:
        return {}

    def is_paged(self, meta: PageMeta) -> bool:
        return False


# -- the loop ----------------------------------------------------------------------------------


@dataclass(slots=True)
class _Fetched:
    index: int
    page: ParsedPage
    digest: str
    #: the cache's key and outcome for this response (None without a cache)
    cache_key: str | None = None
    cache_state: str | None = None


class PageSiblings:
    """Pages 2.. of a listing whose page 1 the cache did not hold, sent with each of their
    requests (``request.extensions``) so that a caching transport can look all of them up at
    once instead of page by page.

    ``page_params`` are the query parameters that set each page (merged into a page request's
    URL, they give the other pages' URLs). The caching transport fills ``absent`` (the cache keys
    it does not hold) once, under ``lock``; a page request that finds it unset looks itself up.
    """

    __slots__ = ("absent", "lock", "page_params")

    def __init__(self, page_params: list[dict[str, Any]]) -> None:
        self.page_params = page_params
        self.lock = threading.Lock()
        self.absent: frozenset[str] | None = None


@dataclass(frozen=True, slots=True)
class _CachedResponse:
    """Stands in for a response served from a cached listing, for the load report."""

    extensions: Mapping[str, Any]


_PAGE_THREAD_PREFIX = "loketvalinso-page"
#: Threads of the page pool that walks share (a walk uses up to ``2 * max_concurrency``).
PAGE_THREADS = 32
_PAGE_POOL: ThreadPoolExecutor | None = None
_PAGE_POOL_LOCK = threading.Lock()


def _page_pool(threads: int) -> tuple[ThreadPoolExecutor, bool]:
    """The pool a walk's page workers run on, and whether the walk owns it (and shuts it down).

    Walks share one pool: a new pool per walk started its threads on the caller's critical
    path, ~1 ms each under load (~50 ms per cold load of three leave listings). A walk that
    needs more threads than the shared pool has, or that runs on a page thread itself (a
    parser that walks another listing), gets a pool of its own, so it never waits on itself.
    """
    global _PAGE_POOL
    on_page_thread = threading.current_thread().name.startswith(_PAGE_THREAD_PREFIX)
    if threads > PAGE_THREADS or on_page_thread:
        return ThreadPoolExecutor(threads, thread_name_prefix=_PAGE_THREAD_PREFIX + "-own"), True
    with _PAGE_POOL_LOCK:
        if _PAGE_POOL is None:
            _PAGE_POOL = ThreadPoolExecutor(PAGE_THREADS, thread_name_prefix=_PAGE_THREAD_PREFIX)
        return _PAGE_POOL, False


class _Cancelled(Exception):
    """A worker found the load cancelled before sending its request."""


#: Kept pages converted together in the background while the walk goes on (see
#: ``_Walk._convert_batch``): big enough that the per-call cost stays small, small enough that
#: the last batch converts quickly after the last page arrives.
_CONVERT_BATCH = 16


def _label_from_url(url: str) -> str:
    """The last path segment without digits (not an id): ``…/E1/leaverequests`` → that word."""
    try:
        path = urlsplit(url).path
    except ValueError:
        return "load"
    for segment in reversed([s for s in path.split("/") if s]):
        if not any(ch.isdigit() for ch in segment):
            return segment
    return "load"


def _external_stacklevel() -> int:
    """The ``stacklevel`` that points a warning at the first frame outside this package."""
    frame = sys._getframe(1)
    level = 1
    while frame is not None:
        name = frame.f_globals.get("__name__", "")
        if not (name == "loketvalinso" or name.startswith("loketvalinso.")):
            return level
        frame = frame.f_back  # type: ignore[assignment]
        level += 1
    return level


def _annotate(exc: BaseException, url: str, index: int) -> None:
    """Make ``exc``'s message name the URL and page (keeping its type)."""
    if getattr(exc, "page", None) is None:
        with contextlib.suppress(AttributeError, TypeError):
            exc.page = index  # type: ignore[attr-defined]
    names_page = re.compile(rf"\bpage:? {index}\b")
    text = str(exc)
    if names_page.search(text) and url in text:
        return
    where = f"page: {index}" if url in text else f"url: {url}, page: {index}"
    if exc.args and isinstance(exc.args[0], str):
        exc.args = (f"{exc.args[0]} ({where})", *exc.args[1:])
        if names_page.search(str(exc)):
            return
    exc.add_note(f"while fetching {where}")


class _Walk:
    """The state of one :func:`paginate` call."""

    def __init__(
        self,
        client: httpx.Client,
        url: str,
        *,
        strategy: PagingStrategy,
        parse: Parser,
        params: Mapping[str, Any] | None,
        headers: Mapping[str, str] | None,
        max_concurrency: int,
        strict: bool,
        page_cap: int,
        progress: Any,
        report: LoadReport,
        raise_for_response: Callable[[httpx.Response], None],
        label: str | None,
    ) -> None:
        self.client = client
        self.url = url
        self.strategy = strategy
        self.parse = parse
        self.params = dict(params or {})
        self.headers = headers
        self.max_concurrency = max_concurrency
        self.strict = strict
        self.page_cap = page_cap
        self.progress_option = progress
        self.report = report
        self.raise_for_response = raise_for_response
        full: object = url
        with contextlib.suppress(Exception):
            full = client.build_request("GET", url, params=self.params).url
        self.url_r = redact_url(full)
        self.label = safe_label(label) if label else _label_from_url(self.url_r)
        self.pages: dict[int, ParsedPage] = {}
        self.seen: dict[str, int] = {}
        #: (cache key or None, body sha256) of every kept page
        self.stored: dict[int, tuple[str | None, str]] = {}
        self.problems: list[tuple[str, int, str]] = []
        self.first_total: int | None = None
        self.stopped_at: int | None = None
        self.cancel = threading.Event()
        # a parser that can leave pages unconverted and convert the whole load at the end
        finish = getattr(parse, "finish", None)
        decode = getattr(parse, "decode", None)
        self.finish_hook = finish if callable(finish) and callable(decode) else None
        self.decode: Parser = decode if self.finish_hook is not None and decode else parse
        # converting finished batches while later pages are still on the wire (see _planned)
        later = getattr(parse, "finish_later", None)
        self.finish_later = later if self.finish_hook is not None and callable(later) else None
        self.unconverted: list[int] = []
        self.converting: list[Future[None]] = []
        #: request extensions of the pages after page 1 (see PageSiblings)
        self.extensions: dict[str, Any] = {}
        self.bar: Any = NullProgress()
        self.own_bar = False

    # one request, one parse (runs in worker threads) --------------------------------------------

    def fetch(
        self,
        index: int,
        page_params: Mapping[str, Any],
        downloaded: Callable[[str], None] | None = None,
    ) -> _Fetched:
        """Request page ``index`` and parse it; ``downloaded(body sha256)`` is called once its
        body is in (before it is parsed)."""
        if self.cancel.is_set():
            raise _Cancelled
        merged = {**self.params, **page_params}
        try:
            response = self.client.get(
                self.url, params=merged, headers=self.headers, extensions=self.extensions
            )
            self.report.record_response(response)
            self.raise_for_response(response)
            if not response.is_success:
                raise_for_status(response)
            body = response.content
            # the cache already hashed a body it stored or served: reuse that digest
            ext = response.extensions
            cached = ext.get(_BODY_SHA256)
            digest = cached if isinstance(cached, str) else hashlib.sha256(body).hexdigest()
            if downloaded is not None:
                downloaded(digest)
            ctx = PageContext(
                url=redact_url(response.request.url),
                page=index,
                params=merged,
                headers=response.headers,
                status_code=response.status_code,
                label=self.label,
                extensions=response.extensions,
            )
            parsed = self.decode(body, ctx)
        except httpx.TransportError as exc:
            # Retries already ran in the transport stack: give the caller one error type.
            msg = (
                f"{self.label or 'load'}: {type(exc).__name__}: {exc or 'no answer'}; the server "
                "did not answer after every retry (check the network, or raise timeout=)"
            )
            raise NetworkError(msg, url=self.url_r, page=index) from exc
        except Exception as exc:
            _annotate(exc, self.url_r, index)
            raise
        if not isinstance(parsed, ParsedPage):
            msg = f"the parser returned {type(parsed).__name__}, not a ParsedPage"
            raise ResponseFormatError(msg, url=self.url_r, page=index)
        parsed.page = index
        key = ext.get(_CACHE_KEY) if isinstance(cached, str) else None
        return _Fetched(
            index, parsed, digest, key if isinstance(key, str) else None, ext.get(_CACHE_STATE)
        )

    # bookkeeping (calling thread only) ----------------------------------------------------------

    def problem(self, kind: str, index: int, text: str) -> None:
        if self.strict:
            msg = f"{self.label}: {text}"
            raise PaginationError(msg, url=self.url_r, page=index)
        self.problems.append((kind, index, text))

    def accept(self, fetched: _Fetched, plan: PagePlan) -> bool:
        """Check a fetched page, keep it or leave it out; return whether to stop the walk."""
        index, page = fetched.index, fetched.page
        drop = stop = False
        for kind, text, d, s in self.strategy.check_page(page.meta, index, plan, self.first_total):
            self.problem(kind, index, text)
            drop, stop = drop or d, stop or s
        earlier = self.seen.setdefault(fetched.digest, index)
        if earlier != index and not drop:
            text = (
                f"{self.strategy.describe(index, plan)} repeats page {earlier} byte for byte "
                "(the server ignores the page parameter?); it is left out and paging stops"
            )
            self.problem("repeat", index, text)
            drop = stop = True
        if not drop:
            self.pages[index] = page
            self.stored[index] = (fetched.cache_key, fetched.digest)
            self.report.record_page(page.meta.item_count, page.meta.version)
        self.bar.update(pages=1, rows=0 if drop else page.meta.item_count)
        if stop and (self.stopped_at is None or index < self.stopped_at):
            self.stopped_at = index
        return stop

    def open_bar(self, total_pages: int | None, first_rows: int) -> None:
        option = self.progress_option
        if option is not None and not isinstance(option, bool):
            self.bar = option  # a caller's progress object: shared, not ours to close
        else:
            self.bar = make_progress(total_pages, enabled=option, desc=self.label, unit="page")
            self.own_bar = True
        self.bar.update(pages=1, rows=first_rows)

    # the walk -----------------------------------------------------------------------------------

    def run(self) -> list[ParsedPage]:
        self.report.start(label=self.label, url=self.url_r)
        try:
            with load_in_progress():  # the cache's background writes wait for the walk
                result = self._run()
        except BaseException as exc:
            self.report.set_error(str(exc) or type(exc).__name__)
            raise
        finally:
            if self.own_bar:
                self.bar.close()
            self.report.finish()
        return result

    def _run(self) -> list[ParsedPage]:
        first = self.fetch(1, self.strategy.first_params())
        meta = first.page.meta
        if not self.strategy.is_paged(meta):
            self.pages[1] = first.page
            self.stored[1] = (first.cache_key, first.digest)
            self.report.record_page(meta.item_count, meta.version)
            self._convert()
            return [first.page]
        plan, issues = self.strategy.plan(meta)
        for text in issues:
            self.problem("inconsistent", 1, text)
        self.first_total = self.strategy.total_of(meta)
        stop = self.accept(first, plan)
        more = not stop and (
            plan.total_pages > 1
            if plan.total_pages is not None
            else self.strategy.has_next_page(meta, 1, plan)
        )
        if more:
            self.open_bar(plan.total_pages, meta.item_count if 1 in self.pages else 0)
            if plan.total_pages is not None:
                if not self._from_listing_cache(first, plan):
                    self._planned(plan, cold=first.cache_state == "miss")
                    self._convert()
                    self._remember_listing(first, plan)
            else:
                self._sequential(first, plan)
        self._convert()
        return self._finish(plan)

    def _entries(self, indices: Any) -> list[tuple[int, ParsedPage, str | None, str | None]]:
        return [(i, self.pages[i], *self.stored.get(i, (None, None))) for i in sorted(indices)]

    def _convert_batch(self) -> None:
        """Hand the kept, unconverted pages to the parser's background conversion once there
        are enough of them, so that little is left to convert when the last page arrives."""
        if self.finish_later is None:
            return
        self.unconverted = [i for i in self.unconverted if i in self.pages]
        if len(self.unconverted) >= _CONVERT_BATCH:
            self.converting.append(self.finish_later(self._entries(self.unconverted)))
            self.unconverted = []

    def _convert(self) -> None:
        """Let the parser convert the kept pages' items together (see ``finish``); batches
        handed over during the walk are waited for first."""
        if self.finish_hook is None:
            return
        try:
            for future in self.converting:
                future.result()
            self.converting = []
            self.finish_hook(self._entries(self.pages))  # converts what is still raw
        except Exception as exc:
            _annotate(exc, self.url_r, min(self.pages, default=1))
            raise

    # a listing whose every page is cached and fresh --------------------------------------------

    def _from_listing_cache(self, first: _Fetched, plan: PagePlan) -> bool:
        """Serve pages 2.. from the parser's record of a cached listing, without a request.

        Only when page 1 was a fresh cache hit and the parser (``parse.cached_listing``, see
        :func:`loketvalinso.frames.page_parser`) confirms that every other page is still stored,
        fresh and unchanged (same body digests), so the result is exactly what requesting each
        page would give. Anything else returns False and the pages are fetched as usual.
        """
        lookup = getattr(self.parse, "cached_listing", None)
        total = plan.total_pages
        if (
            lookup is None
            or total is None
            or total > self.page_cap
            or first.cache_state != "hit"
            or first.cache_key is None
            or 1 not in self.pages
        ):
            return False
        try:
            rest = lookup(first.cache_key, first.digest, total)
        except Exception:
            return False
        if rest is None or [r[0] for r in rest] != list(range(2, total + 1)):
            return False
        for index, page, key, digest in rest:
            page.page = index
            self.report.record_response(_CachedResponse({_CACHE_STATE: "hit", _CACHE_KEY: key}))
            if self.accept(_Fetched(index, page, digest, key, "hit"), plan):
                break
        return True

    def _remember_listing(self, first: _Fetched, plan: PagePlan) -> None:
        """Let the parser record a cleanly walked listing whose pages were all stored."""
        remember = getattr(self.parse, "remember_listing", None)
        total = plan.total_pages
        if remember is None or total is None or self.problems or self.stopped_at is not None:
            return
        if sorted(self.pages) != list(range(1, total + 1)):
            return
        if any(self.stored.get(i, (None, ""))[0] is None for i in range(1, total + 1)):
            return
        pages = [(i, self.pages[i], *self.stored[i]) for i in range(1, total + 1)]
        with contextlib.suppress(Exception):
            remember(pages)

    def _planned(self, plan: PagePlan, *, cold: bool = False) -> None:
        """Fetch pages 2..total; ``cold``: page 1 was a cache miss, so the others most likely
        are too (they go out with a :class:`PageSiblings` extension)."""
        total_pages = plan.total_pages
        assert total_pages is not None
        if total_pages > self.page_cap:
            msg = (
                f"{self.label}: the server announces {total_pages} pages, more than "
                f"page_cap={self.page_cap}; narrow the query (a filter, a date range) or pass a "
                "larger page_cap"
            )
            raise PaginationError(msg, url=self.url_r, page=1)
        if cold:
            pages = range(2, total_pages + 1)
            params = [dict(self.strategy.page_params(i, plan)) for i in pages]
            self.extensions = {_PAGE_SIBLINGS: PageSiblings(params)}
        indices = iter(range(2, total_pages + 1))
        workers = min(self.max_concurrency, total_pages - 1)
        if workers <= 1:
            for index in indices:
                if self.accept(self.fetch(index, self.strategy.page_params(index, plan)), plan):
                    return
            return
        # Each worker reports twice: when its body is in (the next request goes out at once,
        # so parsing never holds a request slot) and when its page is parsed (or failed). At
        # most ``workers`` requests are in flight and ``2 * workers`` pages on the go (the rest
        # wait on the parser). A body that repeats an earlier one keeps its slot until its page
        # is checked: a server that ignores the page parameter stops the walk without a further
        # round of requests.
        events: queue.SimpleQueue[tuple[int, str, _Fetched | BaseException | None]]
        events = queue.SimpleQueue()
        digests = set(self.seen)
        digests_lock = threading.Lock()

        def work(index: int, params: Mapping[str, Any]) -> None:
            def downloaded(digest: str) -> None:
                with digests_lock:
                    repeat = digest in digests
                    digests.add(digest)
                events.put((index, "held" if repeat else "body", None))

            try:
                fetched = self.fetch(index, params, downloaded)
            except BaseException as exc:
                events.put((index, "done", exc))
            else:
                events.put((index, "done", fetched))

        pool, own_pool = _page_pool(2 * workers)
        futures: list[Future[None]] = []
        outstanding = 0
        free_slots = workers
        stop = False

        def submit_free() -> None:
            nonlocal outstanding, free_slots
            while free_slots and outstanding < 2 * workers and not stop:
                index = next(indices, None)
                if index is None:
                    return
                futures.append(pool.submit(work, index, self.strategy.page_params(index, plan)))
                outstanding += 1
                free_slots -= 1

        self.unconverted = sorted(self.pages)  # page 1
        try:
            submit_free()
            held: set[int] = set()
            while outstanding:
                index, kind, item = events.get()
                if kind == "held":
                    held.add(index)
                elif kind == "body":
                    free_slots += 1
                else:
                    outstanding -= 1
                    if isinstance(item, BaseException):
                        raise item
                    assert item is not None
                    stop = self.accept(item, plan) or stop
                    if index in held:
                        held.discard(index)
                        free_slots += 1
                    self.unconverted.append(index)
                    self._convert_batch()
                submit_free()
        except BaseException:
            self.cancel.set()
            for future in futures:
                future.cancel()
            if own_pool:
                pool.shutdown(wait=False, cancel_futures=True)
            raise
        if own_pool:
            pool.shutdown(wait=True)

    def _sequential(self, first: _Fetched, plan: PagePlan) -> None:
        index, meta = 1, first.page.meta
        self.unconverted = sorted(self.pages)  # page 1
        while self.strategy.has_next_page(meta, index, plan):
            if index >= self.page_cap:
                msg = (
                    f"{self.label}: still more pages after page_cap={self.page_cap} pages and no "
                    "total announced; narrow the query or pass a larger page_cap"
                )
                raise PaginationError(msg, url=self.url_r, page=index)
            index += 1
            fetched = self.fetch(index, self.strategy.page_params(index, plan))
            if self.accept(fetched, plan):
                return
            self.unconverted.append(index)
            self._convert_batch()
            meta = fetched.page.meta

    def _finish(self, plan: PagePlan) -> list[ParsedPage]:
        pages = [self.pages[i] for i in sorted(self.pages)]
        received = sum(p.meta.item_count for p in pages)
        if plan.total_items is not None and received != plan.total_items:
            text = f"received {received} items but the server announced {plan.total_items}"
            if self.stopped_at is not None:
                text += f" (paging stopped at page {self.stopped_at})"
            if any(kind == "drift" for kind, _, _ in self.problems):
                text += " (the total changed during the load)"
            self.problem("count", self.stopped_at or max(self.pages, default=1), text)
        self._warn()
        return pages

    def _warn(self) -> None:
        if not self.problems:
            return
        by_kind: dict[str, list[tuple[int, str]]] = {}
        for kind, index, text in self.problems:
            by_kind.setdefault(kind, []).append((index, text))
        messages: list[str] = []
        for found in by_kind.values():
            found.sort()
            index, text = found[0]
            msg = f"{self.label}: {text} (url: {self.url_r}, page: {index})"
            others = [i for i, _ in found[1:]]
            if others:
                listed = ", ".join(str(i) for i in others[:_MAX_PAGES_LISTED])
                if len(others) > _MAX_PAGES_LISTED:
                    listed += f", … ({len(others) - _MAX_PAGES_LISTED} more)"
                msg += f"; the same on {len(others)} more page(s): {listed}"
            messages.append(msg)
        if len(messages) > _MAX_WARNINGS:
            rest = len(messages) - _MAX_WARNINGS + 1
            messages = [
                *messages[: _MAX_WARNINGS - 1],
                f"{self.label}: {rest} more paging problems (url: {self.url_r}); "
                "see the load report",
            ]
        level = _external_stacklevel()
        for msg in messages:
            self.report.add_warning(msg)
            warnings.warn(PaginationWarning(msg), stacklevel=level)


def paginate(
    client: httpx.Client,
    url: str,
    *,
    strategy: PagingStrategy | None,
    parse: Parser,
    params: Mapping[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
    max_concurrency: int = 8,
    strict: bool = False,
    page_cap: int = 10_000,
    progress: Any = None,
    report: LoadReport | None = None,
    raise_for_response: Callable[[httpx.Response], None] | None = None,
    label: str | None = None,
) -> list[ParsedPage]:
    """Fetch every page of a list endpoint and return the parsed pages in page order.

    Parameters
    ----------
    client : httpx.Client
        The client built by ``http.py`` (auth → retry → cache → network); shared by the worker
        threads.
    url : str
        The list URL (absolute, or relative to the client's base URL), without paging params.
    strategy : PagingStrategy or None
        :class:`PageNumberPaging` (Loket) or :class:`OffsetLimitPaging` (Valinso); ``None``
        (:class:`NoPaging`) sends one request without paging params.
    parse : callable
        ``parse(body: bytes, ctx: PageContext) -> ParsedPage``; runs in the worker threads.
    params : Mapping, optional
        The caller's query params (filters); the paging params are added to them.
    headers : Mapping, optional
        Extra request headers (the Loket ``Accept`` version).
    max_concurrency : int, default 8
        Requests in flight for the pages after page 1; 1 fetches them one after another.
    strict : bool, default False
        Raise :class:`~loketvalinso.errors.PaginationError` on the first disagreement instead of
        warning with :class:`~loketvalinso.errors.PaginationWarning`.
    page_cap : int, default 10_000
        More pages than this raise :class:`~loketvalinso.errors.PaginationError` (in any mode).
    progress : bool, None or progress object, default None
        ``True``/``False`` force the bar on/off, ``None`` shows it when interactive and the load
        has more than one page; an object with ``update(pages, rows)`` is used as is (not closed).
    report : LoadReport, optional
        Filled with requests, pages, rows, cache use, retries, versions, warnings and timing.
        The same report may be passed to several calls (it accumulates).
    raise_for_response : callable, optional
        ``raise_for_response(response)`` raises the dialect's typed error for a non-2xx response;
        default :func:`raise_for_status`. Any non-2xx it lets through is still raised.
    label : str, optional
        The resource label for progress bars and messages (default: the URL's last word).

    Returns
    -------
    list of ParsedPage
        The kept pages in page order (``page`` = index asked for). An empty list when nothing
        trustworthy came back (page 1 answered as another page); one page with no items for an
        empty collection.

    Raises
    ------
    ApiError
        From ``raise_for_response``; its message names the URL and page. When one page fails the
        pages not yet sent are cancelled and nothing is returned.
    ResponseFormatError
        From ``parse`` (bad or truncated JSON), naming the URL and page.
    PaginationError
        ``page_cap`` exceeded, or any disagreement with ``strict=True``.
    """
    if isinstance(max_concurrency, bool) or not isinstance(max_concurrency, int):
        msg = f"max_concurrency must be an integer ≥ 1, got {max_concurrency!r}"
        raise ConfigurationError(msg)
    if max_concurrency < 1:
        msg = f"max_concurrency must be ≥ 1, got {max_concurrency}"
        raise ConfigurationError(msg)
    if isinstance(page_cap, bool) or not isinstance(page_cap, int) or page_cap < 1:
        msg = f"page_cap must be an integer ≥ 1, got {page_cap!r}"
        raise ConfigurationError(msg)
    if strategy is None:
        strategy = NoPaging()
    if not isinstance(strategy, PagingStrategy):
        msg = (
            "strategy must be a PagingStrategy such as PageNumberPaging() or "
            f"OffsetLimitPaging(), or None for no paging; got {type(strategy).__name__}"
        )
        raise ConfigurationError(msg)
    walk = _Walk(
        client,
        url,
        strategy=strategy,
        parse=parse,
        params=params,
        headers=headers,
        max_concurrency=max_concurrency,
        strict=strict,
        page_cap=page_cap,
        progress=progress,
        report=report if report is not None else LoadReport(),
        raise_for_response=raise_for_response or raise_for_status,
        label=label,
    )
    return walk.run()
