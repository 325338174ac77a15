"""HTTP caching rules (RFC 9111) as pure functions: no storage, no I/O, no clock.

Every function takes the current time as an argument, so tests freeze time by passing a number.
The cache (:mod:`~loketvalinso._transport.cache`) calls them in RFC 9111 order:

1. :func:`is_storable` / :func:`should_store` decide whether a response goes to disk
   (``GET`` + ``200`` only; never ``no-store``; not worth it when it can neither be fresh nor be
   revalidated).
2. :func:`freshness_lifetime` — ``max-age``, else ``Expires − Date``, else ``Expires − response
   time``; an ``Expires`` in the past or unparsable means a lifetime of 0 (stale).
3. :func:`current_age` (RFC 9111 §4.2.3) and :func:`is_fresh`.
4. :func:`conditional_headers` for revalidation (``If-None-Match``/``If-Modified-Since``), and
   :func:`refresh_from_304` to fold a ``304 Not Modified`` into the stored entry.
5. :func:`storable_headers` removes secrets, hop-by-hop fields and the framing fields that no longer
   describe the decoded body before anything is written.
6. :func:`within_override` — the caller's explicit ``cache_ttl``: a stale entry younger than it
   may be reused (the client explicitly permits stale responses, RFC 9111 §4.2.4).

Times are POSIX seconds (``float``). Headers may be anything :class:`httpx.Headers` accepts.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from email.utils import mktime_tz, parsedate_tz
from typing import TypeAlias

import httpx

__all__ = [
    "HOP_BY_HOP_HEADERS",
    "SECRET_HEADERS",
    "CacheEntry",
    "HeadersLike",
    "conditional_headers",
    "current_age",
    "freshness_lifetime",
    "is_fresh",
    "is_storable",
    "parse_cache_control",
    "parse_http_date",
    "refresh_from_304",
    "should_store",
    "storable_headers",
    "within_override",
]

HeadersLike: TypeAlias = (
    httpx.Headers | Mapping[str, str] | Iterable[tuple[str, str]] | Iterable[list[str]]
)

#: Header fields that carry credentials; never written to disk (compared lower-case).
SECRET_HEADERS = frozenset(
    {
        "authorization",
        "proxy-authorization",
        "api-key",
        "x-api-key",
        "cookie",
        "set-cookie",
        "set-cookie2",
    }
)

#: Hop-by-hop fields (RFC 9110 §7.6.1) plus the framing fields that describe the encoded body,
#: which the cache stores decoded.
HOP_BY_HOP_HEADERS = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-connection",
        "proxy-authenticate",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "content-encoding",
        "content-length",
    }
)

#: Fields of a 304 that must not overwrite the stored ones (RFC 9111 §3.2).
_NOT_UPDATED_BY_304 = frozenset({"content-length", "content-encoding", "content-type"})

#: Statuses this cache stores (a 304 only refreshes a stored 200).
STORABLE_STATUSES = frozenset({200})


@dataclass(frozen=True, slots=True)
class CacheEntry:
    """One stored response.

    Attributes
    ----------
    status : int
        HTTP status of the stored response (200).
    headers : tuple[tuple[str, str], ...]
        Response headers, already stripped by :func:`storable_headers`.
    body : bytes
        The decoded body.
    request_time : float
        When the request that produced (or last revalidated) the entry was sent.
    response_time : float
        When that response arrived.
    url : str
        The request URL with secret query values redacted (for messages only; the key is a hash).
    """

    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes
    request_time: float
    response_time: float
    url: str = ""
    _lookup: dict[str, str] = field(default_factory=dict, init=False, repr=False, compare=False)

    def header(self, name: str) -> str | None:
        """The value of header ``name`` (case-insensitive; repeated fields joined with ``, ``)."""
        if not self._lookup and self.headers:
            joined: dict[str, str] = {}
            for key, value in self.headers:
                low = key.lower()
                joined[low] = f"{joined[low]}, {value}" if low in joined else value
            self._lookup.update(joined)
        return self._lookup.get(name.lower())

    @property
    def etag(self) -> str | None:
        """The ``ETag`` validator, if any."""
        return self.header("etag")

    @property
    def last_modified(self) -> str | None:
        """The ``Last-Modified`` validator, if any."""
        return self.header("last-modified")

    @property
    def has_validator(self) -> bool:
        """Whether the entry can be revalidated with a conditional request."""
        return bool(self.etag or self.last_modified)


def _headers(headers: HeadersLike | CacheEntry | None) -> httpx.Headers:
    if headers is None:
        return httpx.Headers()
    if isinstance(headers, CacheEntry):
        return httpx.Headers(list(headers.headers))
    if isinstance(headers, httpx.Headers):
        return headers
    if isinstance(headers, Mapping):
        return httpx.Headers(dict(headers))
    return httpx.Headers([(str(k), str(v)) for k, v in headers])


def parse_cache_control(value: str | None) -> dict[str, str | None]:
    """Parse a ``Cache-Control`` value into ``{directive: argument or None}``.

    Directive names are lower-cased; quoted arguments are unquoted; commas inside quotes are kept;
    the first occurrence of a repeated directive wins (RFC 9111 §4.2.1).

    Parameters
    ----------
    value : str or None
        The header value (several header lines joined with ``,``).

    Returns
    -------
    dict[str, str | None]
        E.g. ``{"max-age": "60", "private": None}``.
    """
    result: dict[str, str | None] = {}
    if not value:
        return result
    parts: list[str] = []
    current: list[str] = []
    quoted = False
    escaped = False
    for char in value:
        if escaped:
            current.append(char)
            escaped = False
        elif char == "\\" and quoted:
            current.append(char)
            escaped = True
        elif char == '"':
            quoted = not quoted
            current.append(char)
        elif char == "," and not quoted:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    for part in parts:
        name, sep, arg = part.strip().partition("=")
        name = name.strip().lower()
        if not name or name in result:
            continue
        if not sep:
            result[name] = None
            continue
        arg = arg.strip()
        if len(arg) >= 2 and arg[0] == arg[-1] == '"':
            arg = arg[1:-1].replace('\\"', '"').replace("\\\\", "\\")
        result[name] = arg
    return result


def parse_http_date(value: str | None) -> float | None:
    """Parse an HTTP-date (IMF-fixdate, RFC 850 or asctime) into POSIX seconds.

    Parameters
    ----------
    value : str or None
        The header value.

    Returns
    -------
    float or None
        Seconds since the epoch, or ``None`` when absent or unparsable (``"0"``, ``"-1"``, junk).
    """
    if not value:
        return None
    try:
        parsed = parsedate_tz(value.strip())
    except (TypeError, ValueError, IndexError):
        return None
    if parsed is None:
        return None
    try:
        return float(mktime_tz(parsed))
    except (OverflowError, ValueError):
        return None


def _delta_seconds(value: str | None) -> float | None:
    """A ``delta-seconds`` argument, or ``None`` when missing or malformed."""
    if value is None:
        return None
    text = value.strip()
    if not text.isdigit():
        return None
    return float(int(text))


def freshness_lifetime(
    headers: HeadersLike | CacheEntry, *, response_time: float | None = None
) -> float | None:
    """How long a response stays fresh, in seconds (RFC 9111 §4.2.1), for a private cache.

    Parameters
    ----------
    headers : headers or CacheEntry
        Response headers (a :class:`CacheEntry` brings its own ``response_time``).
    response_time : float, optional
        When the response arrived; used as ``Date`` when ``Date`` is absent or unparsable.

    Returns
    -------
    float or None
        ``max-age`` when present (a malformed ``max-age`` → 0); else ``Expires − Date`` (or
        ``Expires − response_time``), never below 0, and 0 for an unparsable ``Expires``;
        ``None`` when the response gives no explicit lifetime (no heuristics are applied).
    """
    if isinstance(headers, CacheEntry) and response_time is None:
        response_time = headers.response_time
    h = _headers(headers)
    directives = parse_cache_control(h.get("cache-control"))
    if "max-age" in directives:
        max_age = _delta_seconds(directives["max-age"])
        return 0.0 if max_age is None else max_age
    expires_raw = h.get("expires")
    if expires_raw is None:
        return None
    expires = parse_http_date(expires_raw)
    if expires is None:
        return 0.0
    date = parse_http_date(h.get("date"))
    base = date if date is not None else response_time
    if base is None:
        return 0.0
    return max(0.0, expires - base)


def is_storable(
    method: str,
    status: int,
    headers: HeadersLike,
    *,
    request_headers: HeadersLike | None = None,
) -> bool:
    """Whether RFC 9111 §3 lets this private cache store the response at all.

    Parameters
    ----------
    method : str
        Request method; only ``GET`` is cached.
    status : int
        Response status; only ``200`` is stored (a ``304`` refreshes a stored 200 instead).
    headers : headers
        Response headers.
    request_headers : headers, optional
        Request headers; a request ``Cache-Control: no-store`` also forbids storing.

    Returns
    -------
    bool
        ``False`` for other methods/statuses, ``no-store`` (response or request) and ``Vary: *``.
    """
    if method.upper() != "GET" or status not in STORABLE_STATUSES:
        return False
    h = _headers(headers)
    if "no-store" in parse_cache_control(h.get("cache-control")):
        return False
    if request_headers is not None:
        req = _headers(request_headers)
        if "no-store" in parse_cache_control(req.get("cache-control")):
            return False
    vary = h.get("vary")
    return not (vary and any(part.strip() == "*" for part in vary.split(",")))


def should_store(
    method: str,
    status: int,
    headers: HeadersLike,
    *,
    response_time: float,
    request_headers: HeadersLike | None = None,
    keep_unreusable: bool = False,
) -> bool:
    """Whether storing the response is allowed *and* useful.

    A storable response is worth keeping when it will be fresh for a while or carries a validator
    (``ETag``/``Last-Modified``) so a later request can revalidate it cheaply.

    Parameters
    ----------
    method, status, headers, request_headers
        As for :func:`is_storable`.
    response_time : float
        When the response arrived.
    keep_unreusable : bool, default False
        Also keep responses with lifetime 0 and no validator (only an offline cache serves them,
        with a warning). ``no-store`` is still honoured.

    Returns
    -------
    bool
    """
    if not is_storable(method, status, headers, request_headers=request_headers):
        return False
    if keep_unreusable:
        return True
    h = _headers(headers)
    if h.get("etag") or h.get("last-modified"):
        return True
    lifetime = freshness_lifetime(h, response_time=response_time)
    if lifetime is None or lifetime <= 0:
        return False
    return "no-cache" not in parse_cache_control(h.get("cache-control"))


def current_age(entry: CacheEntry, now: float) -> float:
    """The entry's current age in seconds (RFC 9111 §4.2.3).

    Parameters
    ----------
    entry : CacheEntry
        The stored response with its request and response times.
    now : float
        The current time.

    Returns
    -------
    float
        ``corrected_initial_age + (now − response_time)``, never negative.
    """
    date = parse_http_date(entry.header("date"))
    apparent_age = max(0.0, entry.response_time - date) if date is not None else 0.0
    age_value = _delta_seconds(entry.header("age")) or 0.0
    response_delay = max(0.0, entry.response_time - entry.request_time)
    corrected_initial_age = max(apparent_age, age_value + response_delay)
    resident_time = max(0.0, now - entry.response_time)
    return corrected_initial_age + resident_time


def is_fresh(entry: CacheEntry, now: float, *, request_headers: HeadersLike | None = None) -> bool:
    """Whether the entry may be served without contacting the server.

    Parameters
    ----------
    entry : CacheEntry
        The stored response.
    now : float
        The current time.
    request_headers : headers, optional
        A request ``Cache-Control: no-cache`` or ``max-age=0`` forces revalidation.

    Returns
    -------
    bool
        ``False`` for ``no-cache`` responses, responses without an explicit lifetime, and entries
        whose age reached their lifetime.
    """
    if "no-cache" in parse_cache_control(entry.header("cache-control")):
        return False
    if request_headers is not None:
        req = parse_cache_control(_headers(request_headers).get("cache-control"))
        if "no-cache" in req:
            return False
        if "max-age" in req:
            limit = _delta_seconds(req["max-age"])
            if limit is None or current_age(entry, now) >= limit:
                return False
    lifetime = freshness_lifetime(entry)
    if lifetime is None or lifetime <= 0:
        return False
    return lifetime > current_age(entry, now)


def within_override(entry: CacheEntry, now: float, *, max_age: float) -> bool:
    """Whether the caller's own lifetime lets a stored entry be reused although it is stale.

    RFC 9111 §4.2.4 lets a cache serve a stale response when the client explicitly permits it
    (as ``max-stale`` does); ``cache_ttl=`` is that permission, stated as the oldest age the
    caller accepts. ``no-store`` responses are never stored, so never reach this question.

    Parameters
    ----------
    entry : CacheEntry
        The stored response.
    now : float
        The current time.
    max_age : float
        The caller's limit in seconds (``cache_ttl``); 0 or less permits nothing.

    Returns
    -------
    bool
        ``True`` when the entry's current age is below ``max_age``.
    """
    return max_age > 0 and current_age(entry, now) < max_age


def conditional_headers(entry: CacheEntry) -> dict[str, str]:
    """The validators to send when revalidating ``entry``.

    Returns
    -------
    dict[str, str]
        ``If-None-Match`` from the ``ETag`` and ``If-Modified-Since`` from ``Last-Modified``
        (each only when present).
    """
    result: dict[str, str] = {}
    if entry.etag:
        result["If-None-Match"] = entry.etag
    if entry.last_modified:
        result["If-Modified-Since"] = entry.last_modified
    return result


def storable_headers(headers: HeadersLike) -> tuple[tuple[str, str], ...]:
    """Response headers fit for disk: no secrets, no hop-by-hop or encoding/length fields.

    Fields named in ``Connection`` are dropped too (RFC 9110 §7.6.1).

    Parameters
    ----------
    headers : headers
        Response headers.

    Returns
    -------
    tuple[tuple[str, str], ...]
        ``(name, value)`` pairs with lower-case names, in their original order.
    """
    h = _headers(headers)
    named = {
        part.strip().lower() for value in h.get_list("connection") for part in value.split(",")
    }
    drop = SECRET_HEADERS | HOP_BY_HOP_HEADERS | named
    return tuple((k.lower(), v) for k, v in h.multi_items() if k.lower() not in drop)


def refresh_from_304(
    entry: CacheEntry,
    headers_304: HeadersLike,
    now: float,
    *,
    request_time: float | None = None,
) -> CacheEntry:
    """Fold a ``304 Not Modified`` into the stored entry (RFC 9111 §4.3.4).

    The stored body is kept; every header field the 304 carries replaces the stored one (except
    framing fields), which refreshes ``Date``/``Expires``/``Cache-Control``/``ETag``; the entry's
    request and response times move to this exchange, so its age restarts.

    Parameters
    ----------
    entry : CacheEntry
        The stale stored response.
    headers_304 : headers
        The 304 response's headers.
    now : float
        When the 304 arrived.
    request_time : float, optional
        When the conditional request was sent (default ``now``).

    Returns
    -------
    CacheEntry
        A new entry; ``entry`` is not modified.
    """
    new = [(k, v) for k, v in storable_headers(headers_304) if k not in _NOT_UPDATED_BY_304]
    replaced = {k for k, _ in new}
    merged = tuple((k, v) for k, v in entry.headers if k.lower() not in replaced) + tuple(new)
    return replace(
        entry,
        headers=merged,
        request_time=now if request_time is None else request_time,
        response_time=now,
    )
