"""The cache transport: answers GET requests from a :class:`~loketvalinso.cache.DiskCache`.

The freshness rules are the pure functions of :mod:`~loketvalinso._transport.freshness` (RFC
9111); the storage is :mod:`~loketvalinso._transport.store`; this module is the I/O between them:
serve fresh entries from disk, revalidate stale ones with ``If-None-Match``/``If-Modified-Since``,
store what RFC 9111 lets it store, and with ``offline=True`` never touch the network.

Who is asking travels with each request (``request.extensions["loketvalinso.identity"]``, set by
the auth layer above), so a login after the client was built changes the keys of later requests
without this transport asking anyone.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import httpx

from loketvalinso._transport import extensions as ext
from loketvalinso._transport.freshness import (
    CacheEntry,
    conditional_headers,
    current_age,
    freshness_lifetime,
    is_fresh,
    is_storable,
    refresh_from_304,
    should_store,
    storable_headers,
)
from loketvalinso._transport.keys import key_of, merged_urls, normalize_accept
from loketvalinso._transport.store import DiskCache
from loketvalinso.errors import CacheMissError, CacheWarning, ConfigurationError, redact_url

__all__ = ["CacheTransport"]

_log = logging.getLogger("loketvalinso.cache")

#: Response fields that describe the encoded body; dropped when the body is handed on decoded.
_ENCODING_HEADERS = frozenset({"content-encoding", "content-length", "transfer-encoding"})
#: Request fields that make a GET something this cache should not answer or store.
_BYPASS_REQUEST_HEADERS = ("if-none-match", "if-modified-since", "if-match", "range")


def _human(seconds: float) -> str:
    seconds = max(0, int(seconds))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes} min"
    if minutes:
        return f"{minutes} min {secs} s"
    return f"{secs} s"


class CacheTransport(httpx.BaseTransport):
    """An httpx transport that answers GET requests from a :class:`DiskCache`.

    Every GET response carries ``extensions["loketvalinso.cache"]`` — ``"hit"`` (fresh, from
    disk), ``"revalidated"`` (a 304 confirmed the stored body), ``"miss"`` (from the network) or
    ``"stale"`` (offline, past its lifetime) — and ``extensions["loketvalinso.cache_key"]``.
    Other methods pass straight through (marked ``"miss"``); offline they raise
    :class:`~loketvalinso.errors.CacheMissError`.

    Parameters
    ----------
    inner : httpx.BaseTransport
        The transport that reaches the network or the mock.
    cache : DiskCache
        Where entries live; its ``offline`` and ``clock`` apply.
    identity : str, optional
        The caller identity mixed into every key (see ``keys.make_identity``) when a request
        does not carry its own in ``request.extensions["loketvalinso.identity"]``.
    """

    def __init__(
        self,
        inner: httpx.BaseTransport,
        *,
        cache: DiskCache,
        identity: str | None = None,
    ) -> None:
        if identity is not None and (not isinstance(identity, str) or not identity):
            msg = "the cache needs a non-empty identity (a hash: see keys.make_identity)"
            raise ConfigurationError(msg)
        self._inner = inner
        self._cache = cache
        self._identity = identity

    def identity_of(self, request: httpx.Request) -> str:
        """Who is asking: the request's own identity, else the one this transport was given."""
        identity = request.extensions.get(ext.IDENTITY) or self._identity
        if not isinstance(identity, str) or not identity:
            msg = (
                "the cache needs to know who is asking: build the client with an auth that "
                "names its user, or give the cache transport identity=..."
            )
            raise ConfigurationError(msg)
        return identity

    @property
    def cache(self) -> DiskCache:
        """The cache this transport uses."""
        return self._cache

    def close(self) -> None:
        """Close the inner transport (the store belongs to whoever opened it)."""
        self._inner.close()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        """Answer ``request`` from the cache, by revalidation, or from the network."""
        cache = self._cache
        if request.method.upper() != "GET":
            if cache.offline:
                msg = (
                    f"offline: cannot send {request.method} {redact_url(request.url)}; "
                    "the cache only answers GET requests. Use offline=False."
                )
                raise CacheMissError(msg)
            response = self._inner.handle_request(request)
            response.extensions = {**response.extensions, ext.CACHE: "miss"}
            return response

        key = cache.key_for(request, identity=self.identity_of(request))
        if cache.offline:
            if request.extensions.get(ext.REFETCH):
                # the stored body was found broken above; offline it cannot be replaced
                cache.delete(key)
                msg = (
                    f"offline: the cached response for GET {redact_url(request.url)} was "
                    "damaged and has been dropped; go online (offline=False) to fetch it again"
                )
                raise CacheMissError(msg)
            loaded = cache.load_entry(key, request.url)
            if loaded is None:
                return self._offline(request, key, None)
            return self._offline(request, key, loaded[0], digest=loaded[1])

        # A caller's own conditional or range request is forwarded untouched and not stored.
        bypass = any(name in request.headers for name in _BYPASS_REQUEST_HEADERS)
        # A retry after a broken body asks for the origin's bytes: no lookup, no revalidation
        # (a 304 would confirm the broken body); the new response replaces the entry.
        refetch = bool(request.extensions.get(ext.REFETCH))
        if bypass or refetch:
            loaded = None
        elif key in self._absent(request):
            loaded = cache.load_entry(
                key, request.url, stored=False
            )  # only what is yet to be written
        else:
            loaded = cache.load_entry(key, request.url)
        entry, digest = loaded if loaded is not None else (None, None)
        if entry is not None and is_fresh(entry, cache.clock(), request_headers=request.headers):
            return self._from_entry(request, key, entry, "hit", digest=digest)

        send = request
        if entry is not None and entry.has_validator:
            headers = request.headers.copy()
            headers.update(conditional_headers(entry))
            send = httpx.Request(
                request.method, request.url, headers=headers, extensions=request.extensions
            )

        request_time = cache.clock()
        response = self._inner.handle_request(send)

        if entry is not None and send is not request and response.status_code == 304:
            try:
                response.read()
            finally:
                response.close()
            now = cache.clock()
            refreshed = refresh_from_304(entry, response.headers, now, request_time=request_time)
            if is_storable("GET", refreshed.status, refreshed.headers):
                digest = cache.set(key, refreshed, keep_extras=True)
            else:
                cache.delete(key)
                digest = None
            return self._from_entry(
                request,
                key,
                refreshed,
                "revalidated",
                extensions=response.extensions,
                digest=digest,
            )

        try:
            body = response.read()
        finally:
            response.close()
        response_time = cache.clock()
        stored: str | None = None
        if not bypass and should_store(
            "GET",
            response.status_code,
            response.headers,
            response_time=response_time,
            request_headers=request.headers,
            keep_unreusable=cache.keep_unreusable,
        ):
            stored = cache.set(
                key,
                CacheEntry(
                    status=response.status_code,
                    headers=storable_headers(response.headers),
                    body=body,
                    request_time=request_time,
                    response_time=response_time,
                    url=redact_url(request.url),
                ),
                later=True,
            )
        elif (entry is not None or refetch) and response.status_code == 200:
            cache.delete(key)  # superseded by a response that may not be stored
        passed_on = [
            (k, v) for k, v in response.headers.multi_items() if k.lower() not in _ENCODING_HEADERS
        ]
        extensions = {**response.extensions, ext.CACHE: "miss", ext.CACHE_KEY: key}
        if stored is not None:
            extensions[ext.BODY_SHA256] = stored
        return httpx.Response(
            response.status_code,
            headers=passed_on,
            content=body,
            request=request,
            extensions=extensions,
        )

    def _absent(self, request: httpx.Request) -> frozenset[str]:
        """Keys of ``request``'s sibling pages (``ext.PAGE_SIBLINGS``) the cache does not
        hold, found with one query by whichever page asks first.

        Looked up one by one, each page of a cold listing waits for the GIL between its SQLite
        calls while the parse threads hold it.
        Pages asking while the query runs look themselves up. An entry stored after the query
        (by another process) is missed: that page is fetched and stored again.
        """
        siblings: ext.PageSiblings | None = request.extensions.get(ext.PAGE_SIBLINGS)
        if siblings is None:
            return frozenset()
        absent: frozenset[str] | None = siblings.absent
        if absent is not None or not siblings.lock.acquire(blocking=False):
            return absent or frozenset()
        try:
            if siblings.absent is None:
                try:
                    siblings.absent = self._find_absent(request, siblings.page_params)
                except Exception:  # an optimisation: every page looks itself up instead
                    _log.debug("the sibling pages could not be looked up at once", exc_info=True)
                    siblings.absent = frozenset()
            return siblings.absent
        finally:
            siblings.lock.release()

    def _find_absent(
        self, request: httpx.Request, page_params: Sequence[Mapping[str, Any]]
    ) -> frozenset[str]:
        accept = normalize_accept(request.headers.get("accept"))
        identity = self.identity_of(request)
        keys = [
            key_of(request.method, url, accept, identity)
            for url in merged_urls(request.url, page_params)
        ]
        present = self._cache.store_times(keys)
        if present is None:
            return frozenset()
        return frozenset(keys).difference(present)

    def _offline(
        self,
        request: httpx.Request,
        key: str,
        entry: CacheEntry | None,
        *,
        digest: str | None = None,
    ) -> httpx.Response:
        if entry is None:
            msg = (
                f"offline: nothing is cached for GET {redact_url(request.url)} "
                "(for this login/API key and Accept version). Run the same load once with "
                "offline=False and the cache enabled to fill it, then work offline."
            )
            raise CacheMissError(msg)
        now = self._cache.clock()
        if is_fresh(entry, now):
            return self._from_entry(request, key, entry, "hit", digest=digest)
        age = current_age(entry, now)
        lifetime = freshness_lifetime(entry) or 0.0
        warnings.warn(
            CacheWarning(
                f"offline: serving a stale cached response for GET {redact_url(request.url)} "
                f"({_human(age)} old, stale for {_human(age - lifetime)}); go online to refresh it"
            ),
            stacklevel=2,
        )
        return self._from_entry(request, key, entry, "stale", digest=digest)

    def _from_entry(
        self,
        request: httpx.Request,
        key: str,
        entry: CacheEntry,
        state: str,
        *,
        extensions: Mapping[str, Any] | None = None,
        digest: str | None = None,
    ) -> httpx.Response:
        age = str(int(current_age(entry, self._cache.clock())))
        headers = [(k, v) for k, v in entry.headers if k.lower() != "age"] + [("age", age)]
        marks = {**(extensions or {}), ext.CACHE: state, ext.CACHE_KEY: key}
        if digest is not None:
            marks[ext.BODY_SHA256] = digest
        return httpx.Response(
            entry.status,
            headers=headers,
            content=entry.body,
            request=request,
            extensions=marks,
        )
