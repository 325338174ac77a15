"""The one paginate loop: fetch every page of a listing, cross-check it, keep what holds.

:func:`paginate` fetches pages and decides when to stop; it never parses items itself. The caller
hands it a :class:`~loketvalinso._load.pages.PageDecoder` (bodies → pages), a paging strategy
(:mod:`~loketvalinso._load.strategies`), the dialect's ``raise_for_response`` (statuses →
errors) and, with a cache, a :class:`~loketvalinso._load.frame_cache.FrameCache`; it returns the
kept pages in page order and records what happened in a
:class:`~loketvalinso._load.report.LoadReport`.

How a load runs
---------------
1. Page 1 is fetched in the calling thread.
2. If it carries no paging information, it is the whole result.
3. If it announces a total (``totalPages``/``totalSize``, or ``paging.total``), the remaining
   pages are fetched **concurrently**, at most ``max_concurrency`` requests in flight over the
   one ``httpx.Client``, and put back in page order. A worker's next request goes out as soon
   as its body is in, while the body is decoded on the parse pool; the worker threads come from
   the page pool that walks share (:mod:`~loketvalinso._load.pools`). When page 1 was served
   fresh from the cache and the frame cache holds the whole listing, no other page is requested.
   When page 1 was a cache miss, the other requests carry a
   :class:`~loketvalinso._transport.extensions.PageSiblings`, so the cache looks them all up at
   once.
4. Otherwise the pages are walked one after the other until an empty or short page.

Kept pages are converted in batches while later pages are still on the wire, and the rest at the
end (:meth:`PageDecoder.convert`).

Streaming
---------
With a ``sink``, kept pages are handed to it converted, in page order, in runs of
:data:`_CONVERT_BATCH` pages as soon as a run is complete (the rest at the end), and let go of:
the pages returned carry their envelopes only. Memory then holds the pages on the wire and one
run, whatever the size of the listing. The stop rules are the same; those that can only be
judged at the end (the items add up to the total) are judged after the last run was handed
over, so a caller that must not keep a partial result commits only once ``paginate`` returned
(with ``strict=True`` every disagreement raises).

Stop rules, all cross-checked
-----------------------------
Every disagreement becomes a :class:`~loketvalinso.errors.PaginationWarning` naming the URL (with
secrets redacted) and the page, or a :class:`~loketvalinso.errors.PaginationError` with
``strict=True``:

* page 1's own numbers disagree (``totalPages`` vs ``totalSize``/``pageSize``);
* a page answers as another page (``currentPage``/``offset`` is not the one asked for): the page
  is left out and the walk stops (this ends a server that answers ``currentPage: 2`` forever
  after one request); page 1 answered so keeps its items (there is nothing it could repeat),
  and the walk stops;
* a page repeats an earlier page byte for byte (a server ignoring the page parameter): left out,
  the walk stops;
* an empty page before the announced end: the walk stops;
* a short page that is not the last, or a page with more items than the page size;
* the announced total changes between pages (the data changed during the load);
* the items received do not add up to the announced total.

More pages than ``page_cap`` (announced, or walked) always raise :class:`PaginationError`. No
retries happen here: the retry transport below does them, with one shared back-off.

The ``loketvalinso.load`` logger says at INFO how each load was planned (pages announced,
requests in flight) and why its paging stopped, with the URL redacted.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import queue
import re
import threading
import warnings
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx

from loketvalinso._load.frame_cache import FrameCache
from loketvalinso._load.pages import PageContext, PageDecoder, ParsedPage
from loketvalinso._load.pools import page_pool
from loketvalinso._load.progress import NullProgress, make_progress, safe_label
from loketvalinso._load.report import LoadReport, external_stacklevel
from loketvalinso._load.strategies import NoPaging, PagePlan, PagingStrategy
from loketvalinso._transport import extensions as ext
from loketvalinso._transport.responses import error_from_transport
from loketvalinso.errors import (
    CacheWarning,
    ConfigurationError,
    PaginationError,
    PaginationWarning,
    ResponseFormatError,
    error_for_status,
    redact_url,
)

__all__ = ["paginate"]

_log = logging.getLogger("loketvalinso.load")

#: At most this many warnings per load; the rest are summed up in one more.
_MAX_WARNINGS = 10
#: At most this many page numbers listed in one warning.
_MAX_PAGES_LISTED = 10
#: Kept pages converted together in the background while the walk goes on: big enough that the
#: per-call cost stays small, small enough that the last batch converts quickly after the last
#: page arrives.
_CONVERT_BATCH = 16


@dataclass(slots=True)
class _Fetched:
    index: int
    page: ParsedPage
    digest: str
    #: the cache's key and outcome for this response (None without a cache)
    cache_key: str | None = None
    cache_state: str | None = None
    #: the page came from the frame cache, not from decoding its body
    kept: bool = False


class _Cancelled(Exception):
    """A worker found the load cancelled before sending its request."""


class _StoredBodyBroken(Exception):
    """A body the cache served did not decode: the page is fetched again from the origin."""

    def __init__(self, error: ResponseFormatError) -> None:
        super().__init__(str(error))
        self.error = error


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
        decoder: PageDecoder,
        raise_for_response: Callable[[httpx.Response], None],
        frame_cache: FrameCache | None,
        params: Mapping[str, Any] | None,
        headers: Mapping[str, str] | None,
        extensions: Mapping[str, Any] | None,
        max_concurrency: int,
        strict: bool,
        page_cap: int,
        progress: Any,
        report: LoadReport,
        label: str | None,
        sink: Callable[[list[ParsedPage]], None] | None = None,
    ) -> None:
        self.client, self.url, self.params, self.headers = client, url, dict(params or {}), headers
        self.sink = sink
        self.strategy, self.decoder, self.frame_cache = strategy, decoder, frame_cache
        self.raise_for_response = raise_for_response
        self.max_concurrency, self.strict, self.page_cap = max_concurrency, strict, page_cap
        self.progress_option = progress
        self.report = report
        full: object = url
        with contextlib.suppress(Exception):
            full = client.build_request("GET", url, params=self.params).url
        self.url_r = redact_url(full)
        self.label = safe_label(label) if label else _label_from_url(self.url_r)
        #: what the drift report names the resource (the caller's label, not shortened)
        self.resource = str(label) if label else self.label
        self.pages: dict[int, ParsedPage] = {}
        self.seen: dict[str, int] = {}
        #: (cache key or None, body sha256) of every kept page
        self.stored: dict[int, tuple[str | None, str]] = {}
        self.problems: list[tuple[str, int, str]] = []
        self.first_total: int | None = None
        self.stopped_at: int | None = None
        self.cancel = threading.Event()
        #: kept pages not yet handed to the decoder's conversion, and the batches it converts
        self.unconverted: list[int] = []
        self.converting: list[Future[None]] = []
        #: streaming: the background conversion of each handed-over page, the pages checked
        #: (kept or left out) and the first page not yet given to the sink
        self.converting_page: dict[int, Future[None]] = {}
        self.checked: set[int] = set()
        self.next_to_sink = 1
        #: request extensions of every page (the caller's), and of the pages after page 1 of a
        #: cold listing PageSiblings too
        self.base_extensions = dict(extensions or {})
        self.extensions: dict[str, Any] = dict(self.base_extensions)
        #: why paging stopped, for the log
        self.stop_reason = ""
        self.bar: Any = NullProgress()
        self.own_bar = False

    # one request, one decode (runs in worker threads) -------------------------------------------

    def fetch(
        self,
        index: int,
        page_params: Mapping[str, Any],
        downloaded: Callable[[str], None] | None = None,
    ) -> _Fetched:
        """Request page ``index`` and decode it; ``downloaded(body sha256)`` is called once its
        body is in (before it is decoded).

        A body the cache served that does not decode (stored damaged, or tampered with) is
        fetched again once, from the origin: the cache replaces or drops its entry."""
        if self.cancel.is_set():
            raise _Cancelled
        merged = {**self.params, **page_params}
        try:
            try:
                return self._fetch_once(index, merged, downloaded, refetch=False)
            except _StoredBodyBroken as broken:
                text = (
                    f"{self.label}: a cached response does not decode ({broken.error}); it is "
                    "dropped and fetched again"
                )
                self.report.add_warning(text)
                warnings.warn(CacheWarning(text), stacklevel=external_stacklevel())
                return self._fetch_once(index, merged, downloaded, refetch=True)
        except httpx.HTTPError as exc:
            # Retries already ran in the transport stack: give the caller one error tree.
            what = self.label or "load"
            raise error_from_transport(exc, url=self.url_r, what=what, page=index) from exc
        except Exception as exc:
            _annotate(exc, self.url_r, index)
            raise

    def _fetch_once(
        self,
        index: int,
        merged: Mapping[str, Any],
        downloaded: Callable[[str], None] | None,
        *,
        refetch: bool,
    ) -> _Fetched:
        headers, extensions = self.headers, self.extensions
        if refetch:  # past the cache and any proxy, to the origin (RFC 9111 5.2.1.4)
            headers = {**(headers or {}), "Cache-Control": "no-cache"}
            extensions = {**extensions, ext.REFETCH: True}
        response = self.client.get(self.url, params=merged, headers=headers, extensions=extensions)
        self.report.record_response(response)
        self.raise_for_response(response)
        if not response.is_success:  # let through by the dialect: still never a page
            status = response.status_code
            msg = f"GET answered HTTP {status} {response.reason_phrase or 'error'}"
            raise error_for_status(status)(msg, status=status, url=response.request.url)
        body = response.content
        marks = response.extensions
        # the cache already hashed a body it stored or served: reuse that digest
        stored = marks.get(ext.BODY_SHA256)
        digest = stored if isinstance(stored, str) else hashlib.sha256(body).hexdigest()
        if downloaded is not None and not refetch:
            downloaded(digest)
        key = marks.get(ext.CACHE_KEY) if isinstance(stored, str) else None
        state = ext.cache_state(marks)
        page = None
        if self.frame_cache is not None and isinstance(key, str):
            page = self.frame_cache.page(key, digest, state)
        kept = page is not None
        if page is None:
            context = PageContext(
                url=redact_url(response.request.url),
                page=index,
                headers=response.headers,
                status_code=response.status_code,
            )
            try:
                page = self.decoder.decode(body, context)
            except ResponseFormatError as exc:
                if refetch or state not in ("hit", "revalidated", "stale"):
                    raise
                raise _StoredBodyBroken(exc) from exc
        page.page = index
        return _Fetched(index, page, digest, key if isinstance(key, str) else None, state, kept)

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
        for problem in self.strategy.check_page(page.meta, index, plan, self.first_total):
            self.problem(problem.kind, index, problem.text)
            drop, stop = drop or problem.drop, stop or problem.stop
        earlier = self.seen.setdefault(fetched.digest, index)
        if earlier != index and not drop:
            text = (
                f"{self.strategy.describe(index, plan)} repeats page {earlier} byte for byte "
                "(the server ignores the page parameter?); it is left out and paging stops"
            )
            self.problem("repeat", index, text)
            drop = stop = True
        if not drop:
            self.keep(fetched)
        self.bar.update(pages=1, rows=0 if drop else page.meta.item_count)
        if stop and (self.stopped_at is None or index < self.stopped_at):
            self.stopped_at = index
            why = self.problems[-1][2] if self.problems else "a paging problem"
            self.stop_reason = f"page {index}: {why}"
        self.checked.add(index)
        return stop

    def keep(self, fetched: _Fetched) -> None:
        """Put a checked page in the result and count it."""
        index, page = fetched.index, fetched.page
        self.pages[index] = page
        self.stored[index] = (fetched.cache_key, fetched.digest)
        reused = (self.url_r, index) if fetched.cache_state == "reused" else None
        self.report.record_page(page.meta.item_count, page.meta.version, reused=reused)

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
        self.report.describe(label=self.label, url=self.url_r)
        try:
            pages = self._run()
        finally:
            if self.own_bar:
                self.bar.close()
        if _log.isEnabledFor(logging.INFO):
            rows = sum(p.meta.item_count for p in pages)
            _log.info(
                "%s: %d page(s), %d rows; paging stopped: %s (%s)",
                self.label,
                len(pages),
                rows,
                self.stop_reason or "one page",
                self.url_r,
            )
        return pages

    def _run(self) -> list[ParsedPage]:
        first = self.fetch(1, self.strategy.first_params())
        meta = first.page.meta
        if not self.strategy.is_paged(meta):
            self.keep(first)
            self.stop_reason = "the response carries no paging information: one page"
            self._convert()
            self._keep_first(first)
            self._to_sink(final=True)
            self._note_drift()
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
                    self._remember_listing(plan)
            else:
                _log.info(
                    "%s: no total announced; walking page after page until a short or empty "
                    "one (%s)",
                    self.label,
                    self.url_r,
                )
                self._sequential(first, plan)
        elif not self.stop_reason:
            self.stop_reason = "page 1 is the only page"
        self._convert()
        self._keep_first(first)
        self._to_sink(final=True)
        self._note_drift()
        return self._finish(plan)

    # converting kept pages ----------------------------------------------------------------------

    def _convert_batch(self) -> None:
        """Hand the kept, unconverted pages to the decoder's background conversion once there
        are enough of them, so that little is left to convert when the last page arrives."""
        self.unconverted = [i for i in self.unconverted if i in self.pages]
        if len(self.unconverted) >= _CONVERT_BATCH:
            indices = sorted(self.unconverted)
            future = self.decoder.convert_later([self.pages[i] for i in indices])
            self.converting.append(future)
            if self.sink is not None:
                self.converting_page.update(dict.fromkeys(indices, future))
            self.unconverted = []
        self._to_sink()

    def _to_sink(self, *, final: bool = False) -> None:
        """Streaming: hand the checked pages to the sink, converted, in page order, in runs of
        ``_CONVERT_BATCH`` kept pages (``final``: whatever is left), and let go of their
        items."""
        if self.sink is None:
            return
        last = max(self.pages, default=0)
        while True:
            index, run = self.next_to_sink, list[int]()
            while len(run) < _CONVERT_BATCH and (
                index in self.checked or (final and index <= last)
            ):
                if index in self.pages:
                    run.append(index)
                index += 1
            if not run or (not final and len(run) < _CONVERT_BATCH):
                return
            for future in {self.converting_page.pop(i) for i in run if i in self.converting_page}:
                future.result()
            taken = set(run)
            self.unconverted = [i for i in self.unconverted if i not in taken]
            pages = [self.pages[i] for i in run]
            self.decoder.convert(pages)  # the pages no background batch took
            self.next_to_sink = index
            self.sink(pages)
            for page in pages:
                page.data = None

    def _convert(self) -> None:
        """Let the decoder convert the kept pages together; batches handed over during the walk
        are waited for first."""
        try:
            for future in self.converting:
                future.result()
            self.converting = []
            self.decoder.convert([self.pages[i] for i in sorted(self.pages)])
        except Exception as exc:
            _annotate(exc, self.url_r, min(self.pages, default=1))
            raise

    def _note_drift(self) -> None:
        """Add what the kept pages brought off the schema to the report (once converted)."""
        for index in sorted(self.pages):
            drift = self.pages[index].meta.drift
            if drift:
                self.report.add_drift(self.resource, drift)

    # the frame cache ----------------------------------------------------------------------------

    def _keep_first(self, first: _Fetched) -> None:
        """Keep page 1's finished frame next to its cache entry (every load starts with it)."""
        if (
            self.frame_cache is not None
            and self.sink is None
            and not first.kept
            and first.cache_key is not None
            and self.pages.get(1) is first.page
        ):
            self.frame_cache.keep_page(first.cache_key, first.digest, first.page)

    def _from_listing_cache(self, first: _Fetched, plan: PagePlan) -> bool:
        """Serve pages 2.. from the frame cache's record of the listing, without a request.

        Only when page 1 was a fresh cache hit and the frame cache confirms that every other
        page is still stored, fresh and unchanged (same body digests), so the result is exactly
        what requesting each page would give. Anything else returns False and the pages are
        fetched as usual.
        """
        total = plan.total_pages
        if (
            self.frame_cache is None
            or total is None
            or total > self.page_cap
            or first.cache_state != "hit"
            or first.cache_key is None
            or 1 not in self.pages
        ):
            return False
        try:
            rest = self.frame_cache.cached_listing(first.cache_key, first.digest, total)
        except Exception:
            return False
        if rest is None or [page.page for page, _, _ in rest] != list(range(2, total + 1)):
            return False
        _log.info(
            "%s: pages 2-%d from the frame cache (page 1 fresh, every page stored and "
            "unchanged), no request (%s)",
            self.label,
            total,
            self.url_r,
        )
        self.stop_reason = f"all {total} announced pages, from the cache"
        for page, key, digest in rest:
            self.report.record({ext.CACHE: "hit", ext.CACHE_KEY: key})
            if self.accept(_Fetched(page.page, page, digest, key, "hit", kept=True), plan):
                break
            self._to_sink()
        return True

    def _remember_listing(self, plan: PagePlan) -> None:
        """Let the frame cache record a cleanly walked listing whose pages were all stored."""
        total = plan.total_pages
        if self.frame_cache is None or total is None or self.problems or self.sink is not None:
            return
        if self.stopped_at is not None or sorted(self.pages) != list(range(1, total + 1)):
            return
        pages = []
        for i in range(1, total + 1):
            key, digest = self.stored.get(i, (None, ""))
            if key is None:
                return
            pages.append((self.pages[i], key, digest))
        with contextlib.suppress(Exception):
            self.frame_cache.remember_listing(pages)

    # fetching pages 2.. -------------------------------------------------------------------------

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
            self.extensions = {
                **self.base_extensions,
                ext.PAGE_SIBLINGS: ext.PageSiblings(params),
            }
        indices = iter(range(2, total_pages + 1))
        workers = min(self.max_concurrency, total_pages - 1)
        _log.info(
            "%s: %d pages announced (%s items); fetching pages 2-%d, %d at a time (%s)",
            self.label,
            total_pages,
            "?" if plan.total_items is None else plan.total_items,
            total_pages,
            max(workers, 1),
            self.url_r,
        )
        self.stop_reason = f"all {total_pages} announced pages fetched"
        if workers <= 1:
            for index in indices:
                if self.accept(self.fetch(index, self.strategy.page_params(index, plan)), plan):
                    return
                self._to_sink()
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

        pool, own_pool = page_pool(2 * workers)
        futures: list[Future[None]] = []
        outstanding = 0
        free_slots = workers
        stop = False

        # Streaming: pages wait for the sink in page order, so a slow page holds back the ones
        # after it; no page further than this ahead of the sink is requested (unless nothing is
        # on the go), which keeps the pages held bounded.
        ahead = 2 * workers + 2 * _CONVERT_BATCH
        waiting: int | None = None

        def submit_free() -> None:
            nonlocal outstanding, free_slots, waiting
            while free_slots and outstanding < 2 * workers and not stop:
                index = waiting if waiting is not None else next(indices, None)
                if index is None:
                    return
                if self.sink is not None and outstanding and index >= self.next_to_sink + ahead:
                    waiting = index
                    return
                waiting = None
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
        self.stop_reason = f"page {index} was the last (short or empty)"
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
            self.stop_reason = f"page {index} was the last (short or empty)"

    def _finish(self, plan: PagePlan) -> list[ParsedPage]:
        pages = [self.pages[i] for i in sorted(self.pages)]
        received = sum(p.meta.item_count for p in pages)
        if plan.total_items is not None and received != plan.total_items:
            text = f"received {received} items but the server announced {plan.total_items}"
            if self.stopped_at is not None:
                text += f" (paging stopped at page {self.stopped_at})"
            if any(kind == "drift" for kind, _, _ in self.problems):
                text += " (the total changed during the load)"
            at = self.stopped_at if self.stopped_at is not None else max(self.pages, default=1)
            self.problem("count", at, text)
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
        level = external_stacklevel()
        for msg in messages:
            self.report.add_warning(msg)
            warnings.warn(PaginationWarning(msg), stacklevel=level)


def paginate(
    client: httpx.Client,
    url: str,
    *,
    strategy: PagingStrategy | None,
    decoder: PageDecoder,
    raise_for_response: Callable[[httpx.Response], None],
    frame_cache: FrameCache | None = None,
    params: Mapping[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
    extensions: Mapping[str, Any] | None = None,
    max_concurrency: int = 8,
    strict: bool = False,
    page_cap: int = 10_000,
    progress: Any = None,
    report: LoadReport | None = None,
    label: str | None = None,
    sink: Callable[[list[ParsedPage]], None] | None = None,
) -> list[ParsedPage]:
    """Fetch every page of a list endpoint and return the decoded pages in page order.

    Parameters
    ----------
    client : httpx.Client
        The client built by ``_transport.client`` (auth → retry → cache → network); shared by
        the worker threads.
    url : str
        The list URL (absolute, or relative to the client's base URL), without paging params.
    strategy : PagingStrategy or None
        :class:`PageNumberPaging` (Loket) or :class:`OffsetLimitPaging` (Valinso); ``None``
        (:class:`NoPaging`) sends one request without paging params.
    decoder : PageDecoder
        Bodies → pages; its ``decode`` runs in the worker threads.
    raise_for_response : callable
        ``raise_for_response(response)`` raises the dialect's typed error for a response that
        is not a success (``_transport.responses.raise_for_response``).
    frame_cache : FrameCache, optional
        Parsed frames kept next to the cache's entries (None without a cache).
    params : Mapping, optional
        The caller's query params (filters); the paging params are added to them.
    headers : Mapping, optional
        Extra request headers (the Loket ``Accept`` version).
    extensions : Mapping, optional
        Request extensions sent with every page (the client's ``cache_ttl``, see
        :mod:`~loketvalinso._transport.extensions`).
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
        Filled with requests, pages, rows, cache use, retries, versions and warnings. The same
        report may be passed to several calls (it accumulates); the caller times the load.
    label : str, optional
        The resource label for progress bars and messages (default: the URL's last word).
    sink : callable, optional
        Stream the pages instead of keeping them: ``sink(pages)`` gets the kept pages,
        converted, in page order, a run at a time, in the calling thread (see *Streaming*).
        An exception it raises ends the walk like a failed page.

    Returns
    -------
    list of ParsedPage
        The kept pages in page order (``page`` = index asked for); one page with no items for an
        empty collection. With a ``sink`` their ``data`` is None (it went to the sink).

    Raises
    ------
    ApiError
        From ``raise_for_response``; its message names the URL and page. When one page fails the
        pages not yet sent are cancelled and nothing is returned.
    ResponseFormatError
        From the decoder (bad or truncated JSON), naming the URL and page.
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
        decoder=decoder,
        raise_for_response=raise_for_response,
        frame_cache=frame_cache,
        params=params,
        headers=headers,
        extensions=extensions,
        max_concurrency=max_concurrency,
        strict=strict,
        page_cap=page_cap,
        progress=progress,
        report=report if report is not None else LoadReport(),
        label=label,
        sink=sink,
    )
    return walk.run()
