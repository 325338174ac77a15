"""What the Loket and Valinso clients share: the HTTP stack, the cache choice, one load."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import httpx
import polars as pl

from loketvalinso.background import load_in_progress
from loketvalinso.cache import DiskCache
from loketvalinso.errors import ConfigurationError
from loketvalinso.http import Identity, build_client
from loketvalinso.loadreport import LoadReport
from loketvalinso.retry import BackoffGate, RetryPolicy

__all__ = ["BaseClient", "resolve_cache"]

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
        identity: Identity,
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
        self._identity = identity
        self._http = build_client(
            base_url=self.base_url,
            auth=auth,
            transport=transport,
            cache=self._cache,
            identity=identity,
            retry=retry or RetryPolicy(),
            gate=self._gate,
            timeout=timeout,
            max_connections=max(max_concurrency, 4),
        )
        self._report_lock = threading.Lock()
        self.last_load: LoadReport | None = None

    @property
    def cache(self) -> DiskCache | None:
        return self._cache

    def close(self) -> None:
        from loketvalinso.cache import flush_background_writes

        flush_background_writes()  # cached listings kept in the background reach the disk first
        self._http.close()

    def __enter__(self) -> Any:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _run_load(
        self, label: str, url: str, work: Callable[[LoadReport], pl.DataFrame]
    ) -> pl.DataFrame:
        report = LoadReport(label=label, url=url)
        started = time.perf_counter()
        try:
            with load_in_progress():  # the cache's background writes wait for the load
                frame = work(report)
        except BaseException:
            report.status = "error"
            report.elapsed = time.perf_counter() - started
            self.last_load = report
            raise
        report.rows = frame.height
        report.elapsed = time.perf_counter() - started
        if report.status == "ok" and report.warnings:
            report.status = "warning"
        self.last_load = report
        return frame


def merge_params(*parts: Mapping[str, Any] | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for part in parts:
        if part:
            out.update({k: v for k, v in part.items() if v is not None})
    return out
