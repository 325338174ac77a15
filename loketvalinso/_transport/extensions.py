"""Every key the layers put in httpx's ``request.extensions`` / ``response.extensions``, once.

httpx carries an ``extensions`` dict on every request and response. The layers of this package
talk down through request extensions (the walk tells the cache which pages belong together; auth
tells the cache who is asking) and up through response extensions (the cache and the retries say
what they did, for the load report and the frame cache). All keys share the ``loketvalinso.``
prefix and are spelled here only; the two ``TypedDict`` s below document their value types::

    request.extensions                       set by              read by
    loketvalinso.identity     str            auth                cache transport
    loketvalinso.refetch      bool           retry               cache transport
    loketvalinso.page_siblings PageSiblings  the walk            cache transport
    loketvalinso.deadline     Deadline       retry               bounded transport (limits)

    response.extensions
    loketvalinso.cache        CacheState     cache transport     load report, frame cache
    loketvalinso.cache_key    str            cache transport     frame cache
    loketvalinso.body_sha256  str            cache transport     the walk, frame cache
    loketvalinso.retries      int            retry               load report
    loketvalinso.attempts     int            retry               error messages
    loketvalinso.retry_after  float          retry               RateLimitedError.retry_after
    loketvalinso.json         object         retry               responses.parse_json
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, Literal, TypedDict

__all__ = [
    "ATTEMPTS",
    "BODY_SHA256",
    "CACHE",
    "CACHE_KEY",
    "DEADLINE",
    "IDENTITY",
    "JSON",
    "PAGE_SIBLINGS",
    "REFETCH",
    "RETRIES",
    "RETRY_AFTER",
    "CacheState",
    "Deadline",
    "PageSiblings",
    "RequestExtensions",
    "ResponseExtensions",
    "cache_state",
    "retries_of",
]

IDENTITY = "loketvalinso.identity"
REFETCH = "loketvalinso.refetch"
PAGE_SIBLINGS = "loketvalinso.page_siblings"
DEADLINE = "loketvalinso.deadline"

CACHE = "loketvalinso.cache"
CACHE_KEY = "loketvalinso.cache_key"
BODY_SHA256 = "loketvalinso.body_sha256"
RETRIES = "loketvalinso.retries"
ATTEMPTS = "loketvalinso.attempts"
RETRY_AFTER = "loketvalinso.retry_after"
JSON = "loketvalinso.json"

#: What the cache did for a response: served fresh, confirmed by a 304, fetched, or served
#: past its lifetime (offline).
CacheState = Literal["hit", "revalidated", "miss", "stale"]


class PageSiblings:
    """Pages 2.. of a listing whose page 1 the cache did not hold, sent with each of their
    requests so that a caching transport looks all of them up at once instead of page by page.

    ``page_params`` are the query parameters that set each page (merged into a page request's
    URL, they give the other pages' URLs). The caching transport fills ``absent`` (the cache keys
    it does not hold) once, under ``lock``; a page request that finds it unset looks itself up.
    """

    __slots__ = ("absent", "lock", "page_params")

    def __init__(self, page_params: list[dict[str, Any]]) -> None:
        self.page_params = page_params
        self.lock = threading.Lock()
        self.absent: frozenset[str] | None = None


class Deadline:
    """The moment by which a request (every attempt, back-off and body included) must be done.

    Made by the retry layer when a request first reaches it, read by the transport that streams
    the body in (:mod:`~loketvalinso._transport.limits`). It carries its own clock, so layers
    built with different clocks (a fake one in tests) agree on it.
    """

    __slots__ = ("clock", "due", "seconds")

    def __init__(self, seconds: float, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.seconds = seconds
        self.clock = clock
        self.due = clock() + seconds

    def remaining(self) -> float:
        """Seconds left (negative once passed)."""
        return self.due - self.clock()


RequestExtensions = TypedDict(
    "RequestExtensions",
    {
        "loketvalinso.identity": str,
        "loketvalinso.refetch": bool,
        "loketvalinso.page_siblings": PageSiblings,
        "loketvalinso.deadline": Deadline,
    },
    total=False,
)

ResponseExtensions = TypedDict(
    "ResponseExtensions",
    {
        "loketvalinso.cache": CacheState,
        "loketvalinso.cache_key": str,
        "loketvalinso.body_sha256": str,
        "loketvalinso.retries": int,
        "loketvalinso.attempts": int,
        "loketvalinso.retry_after": float,
        "loketvalinso.json": Any,
    },
    total=False,
)


def retries_of(extensions: Mapping[str, Any]) -> int:
    """The retries the retry layer made for a response (0 when it made none or is absent)."""
    retries = extensions.get(RETRIES, 0)
    return retries if isinstance(retries, int) and retries > 0 else 0


def cache_state(extensions: Mapping[str, Any]) -> CacheState | None:
    """What the cache did for a response (None without a cache)."""
    state = extensions.get(CACHE)
    return state if state in ("hit", "revalidated", "miss", "stale") else None
