"""What one load did: requests, pages, rows, cache use, retries, versions, warnings and timing.

The report is the one owner of a load's timing and status: the client runs every load inside
:meth:`LoadReport.timed`, which starts the clock, marks the load in progress for the background
writer, records the error that ends it, and settles the status. The walk
(:func:`~loketvalinso._load.walk.paginate`) fills in what it sees as it goes (from its worker
threads too: every update takes a lock); loaders that walk many endpoints (leave per employment)
:meth:`LoadReport.merge` the reports of each part. A client keeps the last one as
``client.last_load``; it prints as one line and shows as a small table in Jupyter.

The cache and retry transports tell the report what they did through response extensions
(:mod:`loketvalinso._transport.extensions`): ``loketvalinso.cache`` and ``loketvalinso.retries``.

The pages tell it what they brought off the schema (their ``meta.drift``): :attr:`LoadReport.drift`
shows it as a DataFrame, and :meth:`LoadReport.settle_drift` ends a load with one
:class:`~loketvalinso.errors.SchemaDriftWarning` (or :class:`~loketvalinso.errors.SchemaDriftError`
in strict mode) naming the resource and the columns.
"""

from __future__ import annotations

import contextlib
import html
import sys
import threading
import time
import warnings
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

import polars as pl

from loketvalinso._frames.drift import (
    describe_drift,
    drift_frame,
    missing_from_nulls,
    missing_records,
)
from loketvalinso._frames.spec import FrameSpec
from loketvalinso._transport import extensions as ext
from loketvalinso._transport.background import load_in_progress
from loketvalinso.errors import SchemaDriftError, SchemaDriftWarning, redact_text, redact_url

__all__ = ["LoadReport", "Status", "external_stacklevel"]

Status = Literal["ok", "warning", "error"]
_RANK: dict[str, int] = {"ok": 0, "warning": 1, "error": 2}
#: Drift rows shown in the HTML view.
_MAX_DRIFT_ROWS = 20


def external_stacklevel() -> int:
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


@dataclass(eq=False)
class LoadReport:
    """The record of one load (or of several merged).

    Attributes
    ----------
    label : str or None
        The resource label (``"vends"``, ``"leave requests"``).
    url : str or None
        The first URL loaded, with secret query values redacted.
    requests : int
        Responses received by the walk (retries inside the transport are counted in ``retries``).
    pages, rows : int
        Pages kept in the result and the rows (items) they hold.
    cache_hits, revalidations, misses, stale : int
        Responses the cache served fresh, revalidated with a 304, fetched, or served stale
        offline (stale ones also count as hits).
    reused : int
        Responses served from an entry the server forbids reusing, only because the caller's
        ``cache_ttl=`` allowed it (they also count as hits).
    reused_rows : int
        Rows of the result that came from such entries.
    reused_pages : list of (str, int, int)
        ``(url, page, rows)`` of each kept page that came from such an entry (URL redacted):
        which rows the override served.
    retries : int
        Extra attempts the retry transport made, summed over all responses.
    versions : set of str
        ``version.resourceVersion`` values served (Loket).
    obsolete_dates : set of str
        ``version.obsoleteDate`` values announced for the served versions.
    warnings : list of str
        The text of every warning the load issued.
    drift : polars.DataFrame
        What arrived off the declared (Loket) or assumed (Valinso) schema: one row per resource,
        column and kind (see :mod:`loketvalinso._frames.drift`); no rows when nothing did.
    error : str or None
        The message of the error that ended the load, if any.
    started_at : datetime or None
        When the load started (UTC).
    elapsed : float
        Seconds from start to finish (wall clock; merged reports span all parts).
    status : {"ok", "warning", "error"}
        The worst outcome seen.
    etag : str or None
        The ``ETag`` of the last response that carried one: a detail's version, which a
        ``PUT`` of it sends back in ``If-Match`` (list pages carry none).
    """

    label: str | None = None
    url: str | None = None
    requests: int = 0
    pages: int = 0
    rows: int = 0
    cache_hits: int = 0
    revalidations: int = 0
    misses: int = 0
    stale: int = 0
    reused: int = 0
    reused_rows: int = 0
    reused_pages: list[tuple[str, int, int]] = field(default_factory=list)
    retries: int = 0
    versions: set[str] = field(default_factory=set)
    obsolete_dates: set[str] = field(default_factory=set)
    warnings: list[str] = field(default_factory=list)
    error: str | None = None
    started_at: datetime | None = None
    elapsed: float = 0.0
    status: Status = "ok"
    _drift: list[tuple[str, dict[str, Any]]] = field(default_factory=list, init=False, repr=False)
    etag: str | None = None
    _t0: float | None = field(default=None, init=False, repr=False)
    _t1: float | None = field(default=None, init=False, repr=False)
    _lock: threading.RLock = field(default_factory=threading.RLock, init=False, repr=False)

    # -- filling ---------------------------------------------------------------------------------

    def start(self, *, label: str | None = None, url: object = None) -> LoadReport:
        """Start the clock (the first call wins) and :meth:`describe` the load."""
        with self._lock:
            if self._t0 is None:
                self._t0 = time.perf_counter()
                self.started_at = datetime.now(UTC)
        return self.describe(label=label, url=url)

    def describe(self, *, label: str | None = None, url: object = None) -> LoadReport:
        """Set ``label`` and ``url`` (redacted) where they are not set yet."""
        with self._lock:
            if label and not self.label:
                self.label = label
            if url is not None and not self.url:
                self.url = redact_url(url)
        return self

    @contextlib.contextmanager
    def timed(self) -> Iterator[LoadReport]:
        """Run a load inside this block: the clock runs, the cache's background writes wait
        (:func:`~loketvalinso._transport.background.load_in_progress`), an exception is
        recorded as the error, and a load with warnings ends as ``"warning"``."""
        self.start()
        try:
            with load_in_progress():
                yield self
        except BaseException as exc:
            self.set_error(str(exc) or type(exc).__name__)
            raise
        finally:
            self.finish()
        with self._lock:
            if self.warnings:
                self._raise_status("warning")

    def record_response(self, response: Any) -> None:
        """Count one response, its cache outcome and its retries (from its extensions)."""
        self.record(response.extensions)
        etag = response.headers.get("etag")
        if etag:
            with self._lock:
                self.etag = etag

    def record(self, extensions: Mapping[str, Any]) -> None:
        """Count one answered request from the marks the transports left on it."""
        outcome = ext.cache_state(extensions)
        retries = ext.retries_of(extensions)
        with self._lock:
            self.requests += 1
            self.retries += retries
            if outcome == "hit":
                self.cache_hits += 1
            elif outcome == "revalidated":
                self.revalidations += 1
            elif outcome == "miss":
                self.misses += 1
            elif outcome == "stale":
                self.cache_hits += 1
                self.stale += 1
            elif outcome == "reused":
                self.cache_hits += 1
                self.reused += 1

    def record_page(
        self,
        rows: int,
        version: Mapping[str, Any] | None = None,
        *,
        reused: tuple[str, int] | None = None,
    ) -> None:
        """Count one page kept in the result, with its rows and its ``version`` object;
        ``reused``: ``(url, page)`` when it came from an entry only ``cache_ttl`` let be reused."""
        with self._lock:
            self.pages += 1
            self.rows += int(rows)
            if reused is not None:
                self.reused_rows += int(rows)
                self.reused_pages.append((redact_url(reused[0]), int(reused[1]), int(rows)))
            if version:
                served = version.get("resourceVersion")
                if served:
                    self.versions.add(str(served))
                obsolete = version.get("obsoleteDate")
                if obsolete:
                    self.obsolete_dates.add(str(obsolete))

    def add_drift(self, resource: str, records: Iterable[Mapping[str, Any]]) -> None:
        """Record what a page (or a whole load) of ``resource`` brought off the schema."""
        with self._lock:
            self._drift.extend((resource, dict(r)) for r in records)

    def add_missing(
        self, frame: pl.DataFrame, spec: FrameSpec, resource: str | None = None
    ) -> None:
        """Record the declared or assumed fields of ``spec`` that have no value in the load's
        ``frame`` (see :func:`~loketvalinso._frames.drift.missing_records`), as drift of
        ``resource`` (default: the spec's name)."""
        with self._lock:
            undeclared = [r["path"] for _, r in self._drift if r["kind"] == "undeclared"]
        self.add_drift(resource or spec.name, missing_records(frame, spec, undeclared))

    def add_missing_nulls(
        self, nulls: Mapping[str, int], rows: int, spec: FrameSpec, resource: str | None = None
    ) -> None:
        """:meth:`add_missing` for a load seen in parts (a streamed load): ``nulls`` are the
        null counts of its columns over all ``rows``."""
        with self._lock:
            undeclared = [r["path"] for _, r in self._drift if r["kind"] == "undeclared"]
        self.add_drift(resource or spec.name, missing_from_nulls(nulls, rows, spec, undeclared))

    @property
    def drift(self) -> pl.DataFrame:
        """What arrived off the schema, per resource, column and kind (no rows: nothing)."""
        with self._lock:
            records = list(self._drift)
        return drift_frame(records)

    def settle_drift(self, *, strict: bool = False) -> None:
        """End the load's drift account: one :class:`~loketvalinso.errors.SchemaDriftWarning`
        naming the resources and columns (recorded in ``warnings``), or with ``strict`` a
        :class:`~loketvalinso.errors.SchemaDriftError`. Nothing when nothing drifted."""
        with self._lock:
            records = list(self._drift)
        if not records:
            return
        label = self.label or "load"
        what = f"{label}: data off the schema — {describe_drift(records, label=label)}"
        if strict:
            msg = f"{what}. strict=True: no frame is returned; last_load.drift has the details"
            raise SchemaDriftError(msg, url=self.url)
        text = f"{what}. The frame keeps every row; last_load.drift has the counts and examples"
        self.add_warning(text)
        warnings.warn(SchemaDriftWarning(text), stacklevel=external_stacklevel())

    def add_warning(self, text: str) -> None:
        """Record a warning's text (redacted: the report is shown in notebooks) and lift the
        status to at least ``"warning"``."""
        with self._lock:
            self.warnings.append(redact_text(text))
            self._raise_status("warning")

    def set_error(self, text: str) -> None:
        """Record the error that ended the load (redacted, as warnings are; status
        ``"error"``)."""
        with self._lock:
            self.error = redact_text(text)
            self._raise_status("error")

    def finish(self) -> LoadReport:
        """Stop the clock (``elapsed`` runs from :meth:`start` to the last ``finish``)."""
        with self._lock:
            if self._t0 is None:
                self.start()
            self._t1 = time.perf_counter()
            assert self._t0 is not None
            self.elapsed = self._t1 - self._t0
        return self

    def _raise_status(self, status: Status) -> None:
        if _RANK[status] > _RANK[self.status]:
            self.status = status

    # -- combining -------------------------------------------------------------------------------

    def merge(self, other: LoadReport) -> LoadReport:
        """Add ``other`` into this report (in place) and return it.

        Counters add up, sets unite, warnings concatenate, the worst status wins, and the time span
        covers both (wall clock, so parts that overlapped are not counted twice).
        """
        if other is self:
            return self
        with other._lock:
            snapshot = (
                other.requests,
                other.pages,
                other.rows,
                other.cache_hits,
                other.revalidations,
                other.misses,
                other.stale,
                other.reused,
                other.reused_rows,
                list(other.reused_pages),
                other.retries,
                set(other.versions),
                set(other.obsolete_dates),
                list(other.warnings),
                other.error,
                other.started_at,
                other.elapsed,
                other.status,
                other._t0,
                other._t1,
                other.label,
                other.url,
                list(other._drift),
                other.etag,
            )
        (req, pages, rows, hits, reval, misses, stale, reused, reused_rows, reused_pages, retries,
         versions, obsolete, warns, error, started, elapsed, status, t0, t1, label, url, drift,
         etag) = snapshot  # fmt: skip
        with self._lock:
            self.requests += req
            self.pages += pages
            self.rows += rows
            self.cache_hits += hits
            self.revalidations += reval
            self.misses += misses
            self.stale += stale
            self.reused += reused
            self.reused_rows += reused_rows
            self.reused_pages.extend(reused_pages)
            self.retries += retries
            self.versions |= versions
            self.obsolete_dates |= obsolete
            self.warnings.extend(warns)
            self._drift.extend(drift)
            if error and not self.error:
                self.error = error
            self._raise_status(status)
            self.label = self.label or label
            self.url = self.url or url
            self.etag = etag or self.etag
            if started is not None and (self.started_at is None or started < self.started_at):
                self.started_at = started
            if t0 is not None and t1 is not None and self._t0 is not None and self._t1 is not None:
                self._t0 = min(self._t0, t0)
                self._t1 = max(self._t1, t1)
                self.elapsed = self._t1 - self._t0
            elif t0 is not None and self._t0 is None:
                self._t0, self._t1 = t0, t1
                self.elapsed = elapsed
            else:
                self.elapsed = max(self.elapsed, elapsed)
        return self

    # -- showing ---------------------------------------------------------------------------------

    def summary(self) -> dict[str, Any]:
        """The report as a plain dict (sets as sorted lists)."""
        with self._lock:
            return {
                "label": self.label,
                "url": self.url,
                "status": self.status,
                "requests": self.requests,
                "pages": self.pages,
                "rows": self.rows,
                "cache_hits": self.cache_hits,
                "revalidations": self.revalidations,
                "misses": self.misses,
                "stale": self.stale,
                "reused": self.reused,
                "reused_rows": self.reused_rows,
                "reused_pages": [list(p) for p in self.reused_pages],
                "retries": self.retries,
                "versions": sorted(self.versions),
                "obsolete_dates": sorted(self.obsolete_dates),
                "warnings": list(self.warnings),
                "drift": self.drift.to_dicts(),
                "error": self.error,
                "etag": self.etag,
                "started_at": self.started_at.isoformat() if self.started_at else None,
                "elapsed": round(self.elapsed, 3),
            }

    def __repr__(self) -> str:
        s = self.summary()
        parts = [
            f"label={s['label']!r}",
            f"status={s['status']!r}",
            f"rows={s['rows']:,}",
            f"pages={s['pages']}",
            f"requests={s['requests']}",
            f"cache={s['cache_hits']} hit/{s['revalidations']} revalidated/{s['misses']} miss",
            f"retries={s['retries']}",
        ]
        if s["reused"]:
            parts.append(f"reused={s['reused_rows']:,} rows from {s['reused']} (cache_ttl)")
        if s["versions"]:
            parts.append(f"versions={s['versions']}")
        if s["obsolete_dates"]:
            parts.append(f"obsolete={s['obsolete_dates']}")
        parts.append(f"warnings={len(s['warnings'])}")
        if s["drift"]:
            parts.append(f"drift={len(s['drift'])} columns")
        if s["error"]:
            parts.append("error=yes")
        parts.append(f"elapsed={s['elapsed']:.2f}s")
        return f"LoadReport({', '.join(parts)})"

    def _repr_html_(self) -> str:
        s = self.summary()
        colour = {"ok": "#2e7d32", "warning": "#ef6c00", "error": "#c62828"}[s["status"]]
        rows: list[tuple[str, str]] = [
            ("status", f'<b style="color:{colour}">{html.escape(s["status"])}</b>'),
            ("url", html.escape(s["url"] or "")),
            ("rows", f"{s['rows']:,}"),
            ("pages", f"{s['pages']:,}"),
            ("requests", f"{s['requests']:,}"),
            (
                "cache",
                f"{s['cache_hits']} hit · {s['revalidations']} revalidated · {s['misses']} miss"
                + (f" · {s['stale']} stale" if s["stale"] else "")
                + (f" · {s['reused']} reused (cache_ttl)" if s["reused"] else ""),
            ),
            ("retries", str(s["retries"])),
            ("versions", html.escape(", ".join(s["versions"]) or "–")),
        ]
        if s["reused_pages"]:
            listed = "".join(
                f"<li>{html.escape(url)} page {page}: {n:,} rows</li>"
                for url, page, n in s["reused_pages"][:20]
            )
            more = len(s["reused_pages"]) - 20
            if more > 0:
                listed += f"<li>… and {more} more pages</li>"
            rows.append(
                (
                    "reused",
                    f"{s['reused_rows']:,} rows past the server's lifetime (cache_ttl):"
                    f'<ul style="margin:0;padding-left:1.2em">{listed}</ul>',
                )
            )
        if s["obsolete_dates"]:
            rows.append(("obsolete", html.escape(", ".join(s["obsolete_dates"]))))
        if s["etag"]:
            rows.append(("etag", html.escape(s["etag"])))
        rows.append(("started", html.escape(s["started_at"] or "–")))
        rows.append(("elapsed", f"{s['elapsed']:.2f} s"))
        if s["error"]:
            rows.append(("error", html.escape(s["error"])))
        if s["warnings"]:
            items = "".join(f"<li>{html.escape(w)}</li>" for w in s["warnings"][:20])
            more = len(s["warnings"]) - 20
            if more > 0:
                items += f"<li>… and {more} more</li>"
            rows.append(("warnings", f'<ul style="margin:0;padding-left:1.2em">{items}</ul>'))
        if s["drift"]:
            rows.append(("drift", _drift_html(s["drift"])))
        body = "".join(
            f'<tr><th style="text-align:left;padding-right:1em">{k}</th>'
            f'<td style="text-align:left">{v}</td></tr>'
            for k, v in rows
        )
        title = html.escape(s["label"] or "load")
        return (
            '<table class="loketvalinso-loadreport">'
            f'<caption style="text-align:left"><b>LoadReport</b>: {title}</caption>'
            f"{body}</table>"
        )


def _drift_html(rows: list[dict[str, Any]]) -> str:
    """The drift rows as a small table (every value escaped; examples are redacted already)."""
    head = ("resource", "column", "kind", "declared", "arrived", "coerced", "nulled", "examples")
    cells = "".join(f'<th style="text-align:left;padding-right:.8em">{h}</th>' for h in head)
    body = []
    for r in rows[:_MAX_DRIFT_ROWS]:
        values = (
            r["resource"],
            r["column"],
            r["kind"],
            r["declared"] or "–",
            r["arrived"],
            f"{r['coerced']:,}",
            f"{r['nulled']:,}",
            ", ".join(r["examples"]),
        )
        body.append(
            "<tr>"
            + "".join(
                f'<td style="text-align:left;padding-right:.8em">{html.escape(str(v))}</td>'
                for v in values
            )
            + "</tr>"
        )
    more = len(rows) - _MAX_DRIFT_ROWS
    if more > 0:
        body.append(f'<tr><td colspan="{len(head)}">… and {more} more (last_load.drift)</td></tr>')
    return f'<table style="margin:0"><tr>{cells}</tr>{"".join(body)}</table>'
