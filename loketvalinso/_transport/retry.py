"""Retries for idempotent requests: exponential back-off with full jitter, Retry-After, a budget.

The pieces compose as an httpx transport::

    policy = RetryPolicy(max_attempts=5)
    gate = BackoffGate()                       # one per client, shared by every worker thread
    transport = RetryTransport(httpx.HTTPTransport(), policy=policy, gate=gate)

Only ``GET``/``HEAD`` requests are retried (by default), on 429/500/502/503/504 and on
:class:`httpx.TransportError` (connect/read errors, a body cut off mid-way). 401, 403, 404 and 422
are never retried: repeating them cannot help and a wrong credential must fail fast. When the
budget is spent the last response is returned (the caller turns it into a typed error) or the
last transport error is re-raised.

Writes (``POST``, ``PUT``, ``PATCH``, ``DELETE``) are sent once: once a request may have reached
the server, repeating it could apply it twice (a second leave request, a second vend). Only a
connection that could not be made at all (:data:`NOT_SENT_ERRORS`: refused, unreachable, or
timed out before it was established) is tried again, within the same budget.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import httpx
import orjson

from loketvalinso._transport import extensions as ext
from loketvalinso._transport.freshness import parse_http_date
from loketvalinso.errors import ConfigurationError

__all__ = [
    "NEVER_RETRY_STATUSES",
    "NOT_SENT_ERRORS",
    "BackoffGate",
    "RetryPolicy",
    "RetryTransport",
    "parse_retry_after",
    "retry_info",
]

#: Statuses that no policy may retry: a refused credential or a wrong request stays wrong.
NEVER_RETRY_STATUSES = frozenset({401, 403, 404, 422})

#: Transport errors raised before any byte of the request left this machine: no connection was
#: made. The only failures after which a write is tried again.
NOT_SENT_ERRORS: tuple[type[httpx.TransportError], ...] = (httpx.ConnectError, httpx.ConnectTimeout)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often and how patiently to retry.

    Parameters
    ----------
    max_attempts : int
        Attempts in total, the first one included (1 disables retries).
    backoff_base : float
        Back-off ceiling of the first retry, in seconds; it doubles on each retry.
    backoff_max : float
        Largest back-off ceiling, in seconds.
    jitter : bool
        Full jitter: sleep a uniform random time in ``[0, ceiling]`` so workers spread out.
    max_retry_after : float
        The longest ``Retry-After`` honoured; a server asking for more gets no retry (the caller
        raises :class:`~loketvalinso.errors.RateLimitedError` with ``retry_after``).
    total_timeout : float
        Time budget of one request including all retries and waits, in seconds.
    retry_statuses : tuple[int, ...]
        Statuses that are retried (401/403/404/422 never are, whatever this says).
    retry_methods : tuple[str, ...]
        Methods that are retried: idempotent ones only.
    retry_invalid_json : bool
        Retry a 2xx response that says it is JSON but does not parse (a body cut short with a
        matching ``Content-Length``, e.g. by a proxy). The parsed body is kept in
        ``response.extensions["loketvalinso.json"]`` so it is not parsed twice.
    """

    max_attempts: int = 5
    backoff_base: float = 0.25
    backoff_max: float = 8.0
    jitter: bool = True
    max_retry_after: float = 60.0
    total_timeout: float = 120.0
    retry_statuses: tuple[int, ...] = (429, 500, 502, 503, 504)
    retry_methods: tuple[str, ...] = ("GET", "HEAD")
    retry_invalid_json: bool = True

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            msg = f"max_attempts must be at least 1, got {self.max_attempts}"
            raise ConfigurationError(msg)
        for name in ("backoff_base", "backoff_max", "max_retry_after", "total_timeout"):
            if getattr(self, name) < 0:
                msg = f"{name} must not be negative, got {getattr(self, name)}"
                raise ConfigurationError(msg)
        # Normalise so callers may pass lists or lower-case methods.
        object.__setattr__(self, "retry_statuses", tuple(int(s) for s in self.retry_statuses))
        object.__setattr__(self, "retry_methods", tuple(m.upper() for m in self.retry_methods))

    @classmethod
    def disabled(cls) -> RetryPolicy:
        """A policy that sends every request exactly once."""
        return cls(max_attempts=1)

    def retries_method(self, method: str) -> bool:
        """Whether requests with ``method`` may be repeated."""
        return self.max_attempts > 1 and method.upper() in self.retry_methods

    def retries_status(self, status: int) -> bool:
        """Whether a response with ``status`` is worth another attempt."""
        return status in self.retry_statuses and status not in NEVER_RETRY_STATUSES

    def backoff(self, retry: int, *, rng: Callable[[], float] = random.random) -> float:
        """Seconds to wait before retry number ``retry`` (1-based).

        The ceiling is ``backoff_base * 2 ** (retry - 1)`` capped at ``backoff_max``; with jitter
        the wait is uniform in ``[0, ceiling]`` ("full jitter").
        """
        ceiling = min(self.backoff_max, self.backoff_base * (2 ** max(retry - 1, 0)))
        return ceiling * rng() if self.jitter else ceiling


def parse_retry_after(
    value: str | None, *, now: float | None = None, date: str | None = None
) -> float | None:
    """Seconds to wait from a ``Retry-After`` header value.

    Parameters
    ----------
    value : str or None
        Either delay-seconds (``"120"``) or an HTTP-date (``"Wed, 21 Oct 2015 07:28:00 GMT"``).
    now : float, optional
        Current wall-clock time (unix seconds) to measure an HTTP-date against; defaults to
        :func:`time.time`.
    date : str, optional
        The response's ``Date`` header. When given, an HTTP-date is measured against it instead
        of the local clock, so a skewed local clock does not matter.

    Returns
    -------
    float or None
        Seconds (never negative), or None when the value is absent or unparsable.
    """
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    target = parse_http_date(text)
    if target is None:
        return None
    reference = parse_http_date(date) if date else None
    base = reference if reference is not None else (time.time() if now is None else now)
    return max(0.0, target - base)


def _retry_after_of(response: httpx.Response, now: float) -> float | None:
    return parse_retry_after(
        response.headers.get("retry-after"), date=response.headers.get("date"), now=now
    )


class BackoffGate:
    """A shared "do not send before" time, consulted by every worker of one client.

    When one worker gets a 429 (or a 503 with ``Retry-After``) the gate closes until the server's
    deadline, so the other workers wait too instead of each hammering the server and collecting
    their own 429s. Thread-safe.

    Parameters
    ----------
    clock : callable, optional
        Monotonic clock in seconds (inject a fake one in tests).
    """

    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._open_at = float("-inf")
        self.closures = 0

    def close_for(self, seconds: float) -> None:
        """Keep the gate closed for at least ``seconds`` from now (never shortens a closure)."""
        with self._lock:
            until = self._clock() + max(0.0, seconds)
            if until > self._open_at:
                self._open_at = until
                self.closures += 1

    def remaining(self) -> float:
        """Seconds until the gate opens (0 when open)."""
        with self._lock:
            return max(0.0, self._open_at - self._clock())

    def wait(
        self, *, sleep: Callable[[float], None] = time.sleep, limit: float | None = None
    ) -> float:
        """Sleep until the gate is open (at most ``limit`` seconds); return the time slept."""
        slept = 0.0
        # Loop because another worker may extend the closure while this one sleeps.
        while (delay := self.remaining()) > 0:
            if limit is not None:
                delay = min(delay, limit - slept)
                if delay <= 0:
                    break
            sleep(delay)
            slept += delay
        return slept

    def __repr__(self) -> str:
        return f"BackoffGate(remaining={self.remaining():.3f}, closures={self.closures})"


class RetryTransport(httpx.BaseTransport):
    """An httpx transport that retries idempotent requests on the wrapped transport.

    Parameters
    ----------
    inner : httpx.BaseTransport
        The transport that sends (the cache transport, the network, or a mock).
    policy : RetryPolicy
        What to retry, how often and how long.
    gate : BackoffGate, optional
        Shared back-off state; pass the same gate to every transport of one client. A private
        gate (on ``clock``) is made when omitted.
    sleep, clock : callable
        Injected for tests: ``sleep(seconds)`` and a monotonic ``clock()``.
    rng : callable
        Random numbers in ``[0, 1)`` for jitter.
    wall_clock : callable
        Unix time, to measure a ``Retry-After`` HTTP-date when the response has no ``Date``.
    deadline : float, optional
        Seconds one request may take in all, attempts and waits included: a request that
        carries no :class:`~loketvalinso._transport.extensions.Deadline` gets one, which the
        transport that reads the body enforces too (:mod:`~loketvalinso._transport.limits`).
        No retry starts, and no wait lasts, past it.

    Notes
    -----
    The body of a retryable request's response is read inside the transport, so a body cut off
    mid-way (:class:`httpx.RemoteProtocolError`) is retried like a failed connection. The number
    of attempts is put in ``response.extensions["loketvalinso.attempts"]`` and the retries in
    ``response.extensions["loketvalinso.retries"]``.
    """

    def __init__(
        self,
        inner: httpx.BaseTransport,
        *,
        policy: RetryPolicy | None = None,
        gate: BackoffGate | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        rng: Callable[[], float] = random.random,
        wall_clock: Callable[[], float] = time.time,
        deadline: float | None = None,
    ) -> None:
        self.inner = inner
        self.deadline = deadline
        self.policy = policy if policy is not None else RetryPolicy()
        self.gate = gate if gate is not None else BackoffGate(clock=clock)
        self._sleep = sleep
        self._clock = clock
        self._rng = rng
        self._wall_clock = wall_clock

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        policy = self.policy
        deadline = request.extensions.get(ext.DEADLINE)
        if not isinstance(deadline, ext.Deadline) and self.deadline is not None:
            deadline = ext.Deadline(self.deadline, clock=self._clock)
            request.extensions[ext.DEADLINE] = deadline
        if not policy.retries_method(request.method):
            return self._send_once(request, deadline)

        start = self._clock()
        attempt = 0

        def out_of_time(delay: float) -> bool:
            """Whether waiting ``delay`` seconds more leaves the budget or the deadline."""
            late = deadline is not None and delay >= deadline.remaining()
            return late or self._clock() - start + delay > policy.total_timeout

        while True:
            attempt += 1
            budget_left = policy.total_timeout - (self._clock() - start)
            self.gate.wait(
                sleep=self._sleep,
                limit=max(0.0, _within(min(budget_left, policy.max_retry_after), deadline)),
            )
            try:
                response, raw = self._send_buffered(request)
            except httpx.TransportError as exc:
                if not _retryable_error(exc) or attempt >= policy.max_attempts:
                    raise
                delay = policy.backoff(attempt, rng=self._rng)
                if out_of_time(delay):
                    raise
                self._sleep(delay)
                continue

            status = response.status_code
            if not policy.retries_status(status):
                if not (policy.retry_invalid_json and _broken_json(response, request, raw)):
                    return _tag(response, attempt)
                # Treat the cut body like a dropped connection.
                delay = policy.backoff(attempt, rng=self._rng)
                if attempt >= policy.max_attempts or out_of_time(delay):
                    return _tag(response, attempt)
                _discard(response)
                self._sleep(delay)
                # A cache below may have stored the cut body as fresh: ask it (and any proxy) to
                # go back to the origin instead of answering the retry with the same bytes.
                request = _reload(request)
                continue
            retry_after = _retry_after_of(response, self._wall_clock())
            if retry_after is not None:
                response.extensions[ext.RETRY_AFTER] = retry_after
            if attempt >= policy.max_attempts:
                return _tag(response, attempt)
            if retry_after is not None and retry_after > policy.max_retry_after:
                # The server wants a longer pause than we may wait: give up now and let the
                # caller report retry_after, rather than sleep and fail anyway.
                return _tag(response, attempt)

            backoff = policy.backoff(attempt, rng=self._rng)
            delay = max(backoff, retry_after) if retry_after is not None else backoff
            if out_of_time(delay):
                return _tag(response, attempt)
            if status == 429 or retry_after is not None:
                # A server-wide signal: make every worker of this client pause, not just this one.
                self.gate.close_for(delay)
                _discard(response)
                self.gate.wait(sleep=self._sleep, limit=delay)
            else:
                _discard(response)
                self._sleep(delay)

    def _send_once(self, request: httpx.Request, deadline: ext.Deadline | None) -> httpx.Response:
        """Send a request that must not be repeated once it may have reached the server; only a
        connection that was never made (:data:`NOT_SENT_ERRORS`) is tried again, within the
        budget and the request's deadline."""
        policy = self.policy
        start = self._clock()
        attempt = 0
        while True:
            attempt += 1
            self.gate.wait(sleep=self._sleep, limit=_within(policy.max_retry_after, deadline))
            try:
                response = self.inner.handle_request(request)
            except NOT_SENT_ERRORS:
                delay = policy.backoff(attempt, rng=self._rng)
                if (
                    attempt >= policy.max_attempts
                    or self._clock() - start + delay > policy.total_timeout
                    or (deadline is not None and delay >= deadline.remaining())
                ):
                    raise
                self._sleep(delay)
                continue
            return _tag(response, attempt)

    def _send_buffered(self, request: httpx.Request) -> tuple[httpx.Response, bytes | None]:
        """The response with its body in memory, and the raw (still encoded) bytes if read here."""
        response = self.inner.handle_request(request)
        try:
            response.content  # noqa: B018
        except httpx.ResponseNotRead:
            pass
        else:
            # In-process transports hand back a body that is already read (and decoded).
            return response, None
        try:
            # Raw bytes (not decoded) so Content-Encoding/Content-Length stay true for the client.
            raw = b"".join(response.iter_raw())
        finally:
            response.close()
        buffered = httpx.Response(
            status_code=response.status_code,
            headers=response.headers,
            stream=httpx.ByteStream(raw),
            extensions=dict(response.extensions),
            request=request,
        )
        return buffered, raw

    def close(self) -> None:
        self.inner.close()


def _within(limit: float, deadline: ext.Deadline | None) -> float:
    """``limit`` seconds, or fewer when the request's deadline comes sooner."""
    return limit if deadline is None else max(0.0, min(limit, deadline.remaining()))


def _retryable_error(exc: httpx.TransportError) -> bool:
    # A bad URL/protocol or a proxy refusing us will not heal on its own.
    return not isinstance(
        exc, httpx.UnsupportedProtocol | httpx.ProxyError | httpx.LocalProtocolError
    )


def _broken_json(response: httpx.Response, request: httpx.Request, raw: bytes | None) -> bool:
    """Whether a GET 2xx JSON body fails to parse; a good body is kept parsed in extensions.

    ``raw`` is the body as received (still compressed) when this transport read it, or None
    when the inner transport returned an already read and decoded response.
    """
    if request.method != "GET" or not 200 <= response.status_code < 300:
        return False
    if "json" not in response.headers.get("content-type", "").lower():
        return False
    if raw is None:
        content = response.content
    elif response.headers.get("content-encoding", "identity").lower() in ("identity", ""):
        content = raw
    else:
        # Decode a copy: the response keeps the raw bytes for the client to decode.
        try:
            content = httpx.Response(200, headers=response.headers, content=raw).read()
        except httpx.DecodingError:
            return True
    if not content:
        return False
    if looks_complete_json(content):
        return False
    try:
        response.extensions[ext.JSON] = orjson.loads(content)
    except orjson.JSONDecodeError:
        return True
    return False


#: What is kept of a body to check it is whole: the quotes and the root's pair of brackets.
_NOT_MARKS = {
    open_: bytes(b for b in range(256) if b not in b'"' + open_ + close)
    for open_, close in ((b"{", b"}"), (b"[", b"]"))
}
_CLOSING = {b"{": b"}", b"[": b"]"}


def looks_complete_json(content: bytes) -> bool:
    """Whether a JSON document is certainly whole, without parsing it (False: parse to know).

    A document cut short leaves its root object or array open: outside strings, its brackets do
    not balance. Strings are respected: escaped backslashes and quotes are taken out first,
    then everything but the quotes and the root's brackets; when every string left is empty
    (``""``, adjacent pairs) no bracket sits inside a string, and counting them is exact. A
    body whose strings hold such brackets, or that is not an object or array, answers False and
    the caller parses it fully. One pass over the body and three over a sixth of it, at memory
    speed (no slower than the two counts this check used to make), where a full parse of a page
    costs about a millisecond and a thousand Python objects.
    """
    head, tail = content.lstrip()[:1], content.rstrip()[-1:]
    close = _CLOSING.get(head)
    if close is None or tail != close:
        return False
    if b"\\" in content:
        # an escaped backslash first (runs of them pair up from the left), then escaped quotes;
        # other escapes (\n, \u00e9) hold neither a quote nor a bracket
        content = content.replace(b"\\\\", b"").replace(b'\\"', b"")
    marks = content.translate(None, _NOT_MARKS[head])
    opens, closes = marks.count(head), marks.count(close)
    # the rest are quotes (counted so: a count of a byte that is most of them is slow)
    if marks.count(b'""') * 2 != len(marks) - opens - closes:
        return False  # a bracket inside a string, or an unterminated string
    return opens == closes


def _reload(request: httpx.Request) -> httpx.Request:
    """``request`` with ``Cache-Control: no-cache`` (an end-to-end reload, RFC 9111 5.2.1.4)."""
    if request.extensions.get(ext.REFETCH):
        return request
    headers = request.headers.copy()
    headers["Cache-Control"] = "no-cache"
    return httpx.Request(
        request.method,
        request.url,
        headers=headers,
        content=request.content,
        extensions={**request.extensions, ext.REFETCH: True},
    )


def _tag(response: httpx.Response, attempts: int) -> httpx.Response:
    response.extensions[ext.ATTEMPTS] = attempts
    response.extensions[ext.RETRIES] = attempts - 1
    return response


def _discard(response: httpx.Response) -> None:
    # Read then close so a pooled connection is released for reuse.
    try:
        response.read()
    except httpx.HTTPError:
        pass
    finally:
        response.close()


def retry_info(extensions: Mapping[str, object]) -> tuple[int, float | None]:
    """``(attempts, retry_after)`` recorded on a response by :class:`RetryTransport`."""
    attempts = extensions.get(ext.ATTEMPTS, 1)
    retry_after = extensions.get(ext.RETRY_AFTER)
    return (
        int(attempts) if isinstance(attempts, int) else 1,
        float(retry_after) if isinstance(retry_after, int | float) else None,
    )
