"""What the Loket and Valinso clients share: the HTTP stack, the cache choice, one load."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import httpx
import polars as pl

from loketvalinso._frames.spec import FrameSpec
from loketvalinso._load.decode import FrameDecoder
from loketvalinso._load.frame_cache import FrameCache
from loketvalinso._load.pools import client_closed, client_opened
from loketvalinso._load.report import LoadReport
from loketvalinso._load.stream import PageSink, iterate_load
from loketvalinso._transport.background import flush_background_writes
from loketvalinso._transport.client import build_client
from loketvalinso._transport.retry import BackoffGate, RetryPolicy
from loketvalinso._transport.store import DiskCache
from loketvalinso.errors import ConfigurationError

__all__ = ["BaseClient", "CacheOption", "merge_params", "resolve_cache"]

CacheOption = bool | str | os.PathLike[str] | DiskCache | None


def resolve_cache(
    cache: CacheOption, *, offline: bool = False, keep_for_offline: bool = False
) -> DiskCache | None:
    """``True``/``None`` → the user cache folder; a path → that folder; ``False`` → no cache.

    ``keep_for_offline`` opens the cache with ``keep_unreusable=True`` (see
    :class:`~loketvalinso.cache.DiskCache`).
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
        return DiskCache(offline=offline, keep_unreusable=keep_for_offline)
    if isinstance(cache, str | os.PathLike):
        return DiskCache(Path(cache), offline=offline, keep_unreusable=keep_for_offline)
    msg = f"cache must be True, False, a folder path or a DiskCache, not {type(cache).__name__}"
    raise ConfigurationError(msg)


class BaseClient:
    """An HTTP stack (auth → retry → cache → transport) plus the last load's report."""

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
        timeout: float,
        retry: RetryPolicy | None,
    ) -> None:
        if not isinstance(max_concurrency, int) or max_concurrency < 1:
            msg = f"max_concurrency must be a positive integer, not {max_concurrency!r}"
            raise ConfigurationError(msg)
        self.base_url = base_url.rstrip("/")
        self.progress = progress
        self.max_concurrency = max_concurrency
        self.strict = strict
        self.offline = offline
        self.keep_for_offline = keep_for_offline
        self._cache = resolve_cache(cache, offline=offline, keep_for_offline=keep_for_offline)
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
        )
        self.last_load: LoadReport | None = None
        self._closed = False
        client_opened()

    @property
    def cache(self) -> DiskCache | None:
        """The disk cache this client reads and writes (None without one)."""
        return self._cache

    def close(self) -> None:
        """Write what the cache still holds and close the connections; the last client closed
        also stops the shared load threads. Closing twice is harmless."""
        if self._closed:
            return
        self._closed = True
        try:
            flush_background_writes()  # listings kept in the background reach the disk first
            self._http.close()
        finally:
            client_closed()

    def __enter__(self) -> Any:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _frames_for(
        self, spec: FrameSpec, path_ids: Mapping[str, str] | None = None
    ) -> tuple[FrameDecoder, FrameCache | None]:
        """The decoder of ``spec`` and, with a cache, the frames kept next to its entries."""
        frame_cache = FrameCache(self._cache, spec, path_ids) if self._cache is not None else None
        return FrameDecoder(spec, path_ids), frame_cache

    def _run_load(
        self, label: str, url: str, work: Callable[[LoadReport], pl.DataFrame]
    ) -> pl.DataFrame:
        """Run ``work`` as one load; its report becomes ``last_load`` (also when it fails)."""
        report = LoadReport(label=label, url=url)
        try:
            with report.timed():
                frame = work(report)
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
        concat: Callable[[list[pl.DataFrame]], pl.DataFrame],
        empty: Callable[[], pl.DataFrame],
    ) -> Iterator[pl.DataFrame]:
        """Run ``walk`` as one load whose pages stream out as frames of about ``batch_rows``
        rows (:func:`~loketvalinso._load.stream.iterate_load`); its report becomes
        ``last_load`` when the walk ends."""
        if isinstance(batch_rows, bool) or not isinstance(batch_rows, int) or batch_rows < 1:
            msg = f"batch_rows must be a positive integer, not {batch_rows!r}"
            raise ConfigurationError(msg)
        report = LoadReport(label=label, url=url)

        def run(sink: PageSink) -> None:
            try:
                with report.timed():
                    walk(report, sink)
            finally:
                self.last_load = report

        return iterate_load(run, batch_rows=batch_rows, concat=concat, empty=empty, name=label)


def merge_params(*parts: Mapping[str, Any] | None) -> dict[str, Any]:
    """The parameters of ``parts`` merged, later ones winning, ``None`` values left out."""
    out: dict[str, Any] = {}
    for part in parts:
        if part:
            out.update({k: v for k, v in part.items() if v is not None})
    return out
