"""What the Loket and Valinso clients share: the HTTP stack, the cache choice, one load."""

from __future__ import annotations

import html
import math
import os
import warnings
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import httpx
import polars as pl

from loketvalinso._frames.spec import FrameSpec
from loketvalinso._load.decode import FrameDecoder
from loketvalinso._load.frame_cache import FrameCache
from loketvalinso._load.pools import client_closed, client_opened
from loketvalinso._load.report import LoadReport
from loketvalinso._load.stream import PageSink, iterate_load
from loketvalinso._transport import extensions as ext
from loketvalinso._transport.background import flush_background_writes
from loketvalinso._transport.client import build_client
from loketvalinso._transport.limits import check_deadline, check_max_body_bytes, check_timeout
from loketvalinso._transport.retry import BackoffGate, RetryPolicy
from loketvalinso._transport.store import DiskCache, UnusableCacheError
from loketvalinso.errors import CacheMissError, CacheWarning, ConfigurationError

__all__ = ["BaseClient", "CacheOption", "check_cache_ttl", "merge_params", "resolve_cache"]

CacheOption = bool | str | os.PathLike[str] | DiskCache | None


def resolve_cache(
    cache: CacheOption, *, offline: bool = False, keep_for_offline: bool = False
) -> DiskCache | None:
    """``True``/``None`` → the user cache folder; a path → that folder; ``False`` → no cache.

    ``keep_for_offline`` opens the cache with ``keep_unreusable=True`` (see
    :class:`~loketvalinso.cache.DiskCache`). A folder that cannot be opened or written (its
    permissions, a full or read-only disk, a damaged index) gives one
    :class:`~loketvalinso.errors.CacheWarning` and no cache: loading goes on without it.

    Raises
    ------
    ConfigurationError
        A path that cannot be a folder (empty, an unset ``$VARIABLE``, a file in the way), or
        options that need a cache without one.
    CacheMissError
        ``offline=True`` and the folder cannot be read: nothing could be served.
    """
    if isinstance(cache, DiskCache):
        if offline and not cache.offline:
            msg = "offline=True needs a cache opened with offline=True, or pass cache=<folder>"
            raise ConfigurationError(msg)
        if keep_for_offline and not cache.keep_unreusable:
            # Not switched on behind the caller's back: the object may be shared.
            msg = (
                "keep_for_offline=True needs a DiskCache opened with keep_unreusable=True, "
                "or pass cache=<folder>"
            )
            raise ConfigurationError(msg)
        return cache
    if cache is False:
        if offline:
            msg = "offline=True needs a cache: pass cache=True or cache=<folder>, not cache=False"
            raise ConfigurationError(msg)
        if keep_for_offline:
            msg = "keep_for_offline=True needs a cache: pass cache=True or cache=<folder>"
            raise ConfigurationError(msg)
        return None
    if cache is None or cache is True:
        folder = None
    elif isinstance(cache, str | os.PathLike):
        folder = cache
    else:
        msg = f"cache must be True, False, a folder path or a DiskCache, not {type(cache).__name__}"
        raise ConfigurationError(msg)
    try:
        return DiskCache(folder, offline=offline, keep_unreusable=keep_for_offline)
    except UnusableCacheError as exc:
        if offline:
            msg = f"offline=True, but no cache is readable: {exc}"
            raise CacheMissError(msg) from exc
        warnings.warn(CacheWarning(f"{exc}; loading goes on without the cache"), stacklevel=4)
        return None


def check_cache_ttl(value: float | None, *, name: str = "cache_ttl") -> float | None:
    """``value`` as seconds > 0, or None for 0/None (the server's word).

    Raises
    ------
    ConfigurationError
        Not a finite number of seconds ≥ 0.
    """
    if value is None:
        return None
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or value < 0
    ):
        msg = (
            f"{name} must be a number of seconds ≥ 0 (0 or None: the server's word), not {value!r}"
        )
        raise ConfigurationError(msg)
    return float(value) if value > 0 else None


class BaseClient:
    """An HTTP stack (auth → retry → cache → transport) plus the last load's report.

    ``cache_ttl`` (seconds) is the explicit override of the servers' "do not reuse": responses
    are then stored and reused while younger than it (``last_load.reused_pages`` says which
    rows came that way). The default (None) follows the servers' ``Expires``/``Cache-Control``.
    """

    def __init__(
        self,
        *,
        base_url: str,
        auth: httpx.Auth | None,
        cache: CacheOption,
        offline: bool,
        progress: bool | None,
        keep_for_offline: bool = False,
        max_concurrency: int,
        strict: bool,
        transport: httpx.BaseTransport | None,
        timeout: float | None,
        retry: RetryPolicy | None,
        deadline: float,
        max_body_bytes: int,
        cache_ttl: float | None = None,
    ) -> None:
        if (
            isinstance(max_concurrency, bool)
            or not isinstance(max_concurrency, int)
            or max_concurrency < 1
        ):
            msg = f"max_concurrency must be a positive integer, not {max_concurrency!r}"
            raise ConfigurationError(msg)
        timeout = check_timeout(timeout)
        self.deadline = check_deadline(deadline)
        self.max_body_bytes = check_max_body_bytes(max_body_bytes)
        self.base_url = base_url.rstrip("/")
        self.progress = progress
        self.max_concurrency = max_concurrency
        self.strict = strict
        self.offline = offline
        self.keep_for_offline = keep_for_offline
        # cache_ttl reuses stored responses: with cache=False there is nothing to reuse (a cache
        # that turns out unusable only warns, as it does without cache_ttl)
        self.cache_ttl = check_cache_ttl(cache_ttl)
        if self.cache_ttl is not None and cache is False:
            msg = "cache_ttl needs a cache: pass cache=True or cache=<folder>, not cache=False"
            raise ConfigurationError(msg)
        self._cache = resolve_cache(cache, offline=offline, keep_for_offline=keep_for_offline)
        self._cache_unusable = self._cache is None and cache is not False
        # a cache opened here is this client's to close; one passed in belongs to the caller
        self._own_cache = self._cache is not None and not isinstance(cache, DiskCache)
        self._gate = BackoffGate()
        # the auth layer names who is asking on every request (the cache keys by it)
        self._http = build_client(
            base_url=self.base_url,
            auth=auth,
            transport=transport,
            cache=self._cache,
            retry=retry or RetryPolicy(),
            gate=self._gate,
            timeout=timeout,
            max_connections=max(max_concurrency, 4),
            deadline=self.deadline,
            max_body_bytes=self.max_body_bytes,
        )
        self.last_load: LoadReport | None = None
        self._closed = False
        client_opened()

    @property
    def cache(self) -> DiskCache | None:
        """The disk cache this client reads and writes (None without one)."""
        return self._cache

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called (a closed client loads nothing)."""
        return self._closed

    def close(self) -> None:
        """Write what the cache still holds, then close the connections and the cache's SQLite
        connections (of every thread; a cache passed in is the caller's to close); the last
        client closed also stops the shared load threads. Closing twice is harmless."""
        if self._closed:
            return
        self._closed = True
        try:
            flush_background_writes()  # listings kept in the background reach the disk first
            self._http.close()
            if self._own_cache and self._cache is not None:
                self._cache.close()
        finally:
            client_closed()

    def _check_open(self) -> None:
        if self._closed:
            msg = (
                f"this {type(self).__name__} client is closed (close() or the end of its "
                "'with' block); make a new one"
            )
            raise ConfigurationError(msg)

    def __enter__(self) -> Any:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _request_extensions(self, cache_ttl: float | None = None) -> dict[str, object]:
        """The request extensions of one load: the ``cache_ttl`` of the call (0: the server's
        word), else the client's."""
        ttl = self.cache_ttl if cache_ttl is None else check_cache_ttl(cache_ttl)
        if ttl is not None and self._cache is None and not self._cache_unusable:
            msg = "cache_ttl needs a cache: this client was built with cache=False"
            raise ConfigurationError(msg)
        # a cache that could not be opened was warned about once: the load goes on without it
        return {ext.CACHE_TTL: ttl} if ttl is not None and self._cache is not None else {}

    # -- showing -----------------------------------------------------------------------------

    def _repr_fields(self) -> list[tuple[str, str]]:
        """``(name, value)`` pairs that describe the client (never a secret)."""
        return []

    def _common_fields(self) -> list[tuple[str, str]]:
        cache = self._cache
        fields = [("cache", str(cache.directory) if cache is not None else "off")]
        if self.offline:
            fields.append(("offline", "yes: only the cache answers"))
        if self.cache_ttl is not None:
            fields.append(("cache_ttl", f"{self.cache_ttl:g} s (reuse past the server's word)"))
        if self._closed:
            fields.append(("closed", "yes"))
        return fields

    def __repr__(self) -> str:
        fields = [*self._repr_fields(), *self._common_fields()]
        inner = ", ".join(f"{name}={value!r}" for name, value in fields)
        return f"{type(self).__name__}({inner})"

    def _repr_html_(self) -> str:
        fields = [*self._repr_fields(), *self._common_fields()]
        rows = "".join(
            f'<tr><th style="text-align:left;padding-right:1em">{html.escape(name)}</th>'
            f'<td style="text-align:left">{html.escape(value)}</td></tr>'
            for name, value in fields
        )
        return (
            f'<table class="loketvalinso-client"><caption style="text-align:left">'
            f"<b>{type(self).__name__}</b></caption>{rows}</table>"
        )

    def _frames_for(
        self, spec: FrameSpec, path_ids: Mapping[str, str] | None = None
    ) -> tuple[FrameDecoder, FrameCache | None]:
        """The decoder of ``spec`` and, with a cache, the frames kept next to its entries."""
        frame_cache = FrameCache(self._cache, spec, path_ids) if self._cache is not None else None
        return FrameDecoder(spec, path_ids), frame_cache

    def _run_load(
        self,
        label: str,
        url: str,
        work: Callable[[LoadReport], pl.DataFrame],
        *,
        spec: FrameSpec | None = None,
        resource: str | None = None,
    ) -> pl.DataFrame:
        """Run ``work`` as one load; its report becomes ``last_load`` (also when it fails).

        With the ``spec`` the frame was built by, declared or assumed fields that never arrived
        join the drift (of ``resource``, default the spec's name); a load that drifted ends with
        one :class:`~loketvalinso.errors.SchemaDriftWarning`, or a
        :class:`~loketvalinso.errors.SchemaDriftError` with ``strict=True``.
        """
        self._check_open()
        report = LoadReport(label=label, url=url)
        try:
            with report.timed():
                frame = work(report)
                if spec is not None:
                    report.add_missing(frame, spec, resource)
                report.settle_drift(strict=self.strict)
        finally:
            self.last_load = report
        report.rows = frame.height
        return frame

    def _iterate_load(
        self,
        label: str,
        url: str,
        walk: Callable[[LoadReport, PageSink], None],
        *,
        batch_rows: int,
        spec: FrameSpec,
        strict: bool | None,
        concat: Callable[[list[pl.DataFrame]], pl.DataFrame],
        empty: Callable[[], pl.DataFrame],
    ) -> Iterator[pl.DataFrame]:
        """Run ``walk`` as one load whose pages stream out as frames of about ``batch_rows``
        rows (:func:`~loketvalinso._load.stream.iterate_load`); its report becomes
        ``last_load`` when the walk ends.

        The drift account is :meth:`_run_load`'s, over the whole stream: fields of ``spec``
        with no value in any frame join the drift, and once the last frame was taken a load
        that drifted ends with one :class:`~loketvalinso.errors.SchemaDriftWarning`, or a
        :class:`~loketvalinso.errors.SchemaDriftError` with ``strict`` (None: the client's).
        """
        self._check_open()
        if isinstance(batch_rows, bool) or not isinstance(batch_rows, int) or batch_rows < 1:
            msg = f"batch_rows must be a positive integer, not {batch_rows!r}"
            raise ConfigurationError(msg)
        strict = self.strict if strict is None else bool(strict)
        report = LoadReport(label=label, url=url)
        outputs = [name for name, _ in spec.outputs]

        def run(sink: PageSink) -> None:
            try:
                with report.timed():
                    walk(report, sink)
            finally:
                self.last_load = report

        def frames() -> Iterator[pl.DataFrame]:
            nulls = dict.fromkeys(outputs, 0)
            rows = 0
            stream = iterate_load(
                run, batch_rows=batch_rows, concat=concat, empty=empty, name=label
            )
            try:
                for frame in stream:
                    present = [name for name in outputs if name in frame.columns]
                    counts = (
                        frame.select(present).null_count().row(0, named=True) if present else {}
                    )
                    for name in outputs:  # a column a frame lacks has no value in its rows
                        nulls[name] += counts.get(name, frame.height)
                    rows += frame.height
                    yield frame
            finally:
                stream.close()
            report.add_missing_nulls(nulls, rows, spec, label)
            report.settle_drift(strict=strict)

        return frames()


def merge_params(*parts: Mapping[str, Any] | None) -> dict[str, Any]:
    """The parameters of ``parts`` merged, later ones winning, ``None`` values left out."""
    out: dict[str, Any] = {}
    for part in parts:
        if part:
            out.update({k: v for k, v in part.items() if v is not None})
    return out
