"""Faults on demand for the embedded mock: latency, 5xx, 429 + ``Retry-After``, truncated bodies, drift.

The mock app calls one :class:`FaultInjector` around every request::

    resp = injector.before(req)          # latency, then maybe a 429 or a 5xx instead of the handler
    if resp is None:
        resp = handler(req)
    resp = injector.after(req, resp)     # maybe truncate a 200 body

Rules
-----
- **Latency** (``latency_ms``) applies to every request, including ``/token`` and ``/authorize``.
- Every other fault **never** applies to the OAuth endpoints ``/token`` and ``/authorize``: a flaky
  login would make every test about something else flaky too, and token expiry is its own fault
  (``token_lifetime``, used by the OAuth part of the mock).
- **Rate limit** (``rate_limit`` requests per second): a token bucket that holds one second's worth
  of requests (at least one) and refills continuously; a request that finds it empty gets 429 with
  ``Retry-After: <whole seconds until a token is available, at least 1>``. Rejected requests do not
  use up tokens. The limit is server-wide, not per client.
- **5xx** (``error_rate``): that share of requests gets 500, 502 or 503 (drawn at random), with a body
  in the dialect of the API that was called (see :func:`error_response`). The rate limiter runs first,
  so a 429 is never also counted as a 5xx.
- **Truncation** (``truncate_rate``): that share of 200 responses with a body is cut to its first
  half; ``Content-Length`` is set to the shorter length, so the HTTP exchange is valid and only the
  JSON is broken (what a proxy dropping a connection mid-body looks like to a parser).
- **Drift** (``drift``): :meth:`FaultInjector.drift_offset` returns 0 for the first request of a
  listing and one more for each later request of the same listing (key: path + query without the
  paging parameters, see :meth:`FaultInjector.listing_key`). The API handlers add that many rows to
  the listing, so a client walking the pages sees the total grow mid-walk.
- **Expires** (``expires``): seconds of freshness the API handlers announce on list pages instead of
  the real "already expired" policy; read by handlers via :attr:`FaultInjector.expires_seconds`.
- **Schema drift** (``schema_drift``): 200 bodies leave the schema the way real servers do
  (applied before truncation): Loket items send every top-level number with a fraction as text with
  two decimals (``"numberOfUnits": "36.00"``, the description's ``pattern`` on numbers invites it);
  Valinso vends send ``qty`` instead of ``quantity``. The ``schema_drifted`` counter counts the
  values changed (ground truth for a client's drift report).

Randomness comes from one ``random.Random(seed)`` behind a lock, so a single-threaded run with the
same seed injects the same faults; the injector is safe to share between server threads.
"""

from __future__ import annotations

import json
import math
import random
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from loketvalinso.errors import ConfigurationError
from loketvalinso.mock._http import MockRequest, MockResponse, json_response

__all__ = ["FaultConfig", "FaultInjector", "error_response", "is_auth_path", "is_valinso_path"]

# Query parameters that select a page rather than the listing itself (compared lower-case).
PAGING_PARAMS = frozenset({"offset", "limit", "pagenumber", "pagesize"})

_VALINSO_TEXT = {
    429: "Too many requests",
    500: "Internal server error",
    502: "Bad gateway",
    503: "Service unavailable",
}


@dataclass(frozen=True, slots=True)
class FaultConfig:
    """Which faults the mock injects; all off by default.

    Parameters
    ----------
    latency_ms : float
        Delay added to every request, in milliseconds.
    error_rate : float
        Share (0–1) of requests answered with a 500, 502 or 503.
    rate_limit : float or None
        Requests per second the server accepts before answering 429 with ``Retry-After``.
    token_lifetime : float
        Lifetime in seconds of Loket access tokens (``expires_in``).
    truncate_rate : float
        Share (0–1) of 200 responses whose body is cut in half.
    drift : bool
        Grow a listing's total while a client walks its pages.
    expires : int or None
        Seconds of freshness announced in ``Expires`` on list pages (``None``: already expired,
        the real APIs' policy).
    schema_drift : bool
        Send data off the schema (see the module docstring).
    seed : int
        Seed of the random draws (which requests fail, which bodies are cut).

    Raises
    ------
    ConfigurationError
        When a value is out of range or of the wrong type.
    """

    latency_ms: float = 0
    error_rate: float = 0
    rate_limit: float | None = None
    token_lifetime: float = 3600
    truncate_rate: float = 0
    drift: bool = False
    expires: int | None = None
    schema_drift: bool = False
    seed: int = 0

    def __post_init__(self) -> None:
        _check_number("latency_ms", self.latency_ms, low=0)
        _check_number("error_rate", self.error_rate, low=0, high=1)
        _check_number("truncate_rate", self.truncate_rate, low=0, high=1)
        _check_number("token_lifetime", self.token_lifetime, low=0, low_open=True)
        if self.rate_limit is not None:
            _check_number("rate_limit", self.rate_limit, low=0, low_open=True)
        for name in ("drift", "schema_drift"):
            if not isinstance(getattr(self, name), bool):
                msg = f"{name} must be True or False, got {getattr(self, name)!r}"
                raise ConfigurationError(msg)
        if self.expires is not None and (
            isinstance(self.expires, bool) or not isinstance(self.expires, int) or self.expires < 0
        ):
            msg = f"expires must be None or a whole number of seconds >= 0, got {self.expires!r}"
            raise ConfigurationError(msg)
        if isinstance(self.seed, bool) or not isinstance(self.seed, int):
            msg = f"seed must be an integer, got {self.seed!r}"
            raise ConfigurationError(msg)

    @property
    def active(self) -> bool:
        """Whether any fault other than token lifetime and ``expires`` is switched on."""
        return bool(
            self.latency_ms
            or self.error_rate
            or self.rate_limit is not None
            or self.truncate_rate
            or self.drift
            or self.schema_drift
        )


def _check_number(
    name: str, value: Any, *, low: float, high: float | None = None, low_open: bool = False
) -> None:
    ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    if ok:
        ok = (value > low if low_open else value >= low) and (high is None or value <= high)
    if not ok:
        bound = f"> {low}" if low_open else f">= {low}"
        if high is not None:
            bound = f"between {low} and {high}"
        msg = f"{name} must be a finite number {bound}, got {value!r}"
        raise ConfigurationError(msg)


def is_auth_path(path: str) -> bool:
    """Whether ``path`` is one of the OAuth endpoints (``/token``, ``/authorize``)."""
    first = path.strip("/").split("/", 1)[0].lower()
    return first in {"token", "authorize"}


def is_valinso_path(path: str) -> bool:
    """Whether ``path`` belongs to the Valinso API (``/api/{version}/valinso_api/...``)."""
    parts = path.strip("/").split("/")
    return len(parts) >= 3 and parts[0].lower() == "api" and parts[2].lower() == "valinso_api"


def error_response(
    status: int, path: str, *, headers: Iterable[tuple[str, str]] = ()
) -> MockResponse:
    """An injected error in the dialect of the API ``path`` belongs to.

    Valinso: ``{"code": status, "result": "text"}`` (the documented error shape). Loket: the
    ASP.NET-style ``{"message": "..."}`` its 401/403/429 use; 502 comes with an empty body, as a
    gateway in front of the real API sends it.
    """
    if is_valinso_path(path):
        text = _VALINSO_TEXT.get(status, "Error")
        return json_response(status, {"code": status, "result": text}, headers=headers)
    if status == 502:
        return MockResponse(status, [("Content-Length", "0"), *headers], b"")
    messages = {
        429: "Too many requests.",
        500: "An error has occurred.",
        503: "The service is temporarily unavailable.",
    }
    return json_response(status, {"message": messages.get(status, "Error.")}, headers=headers)


class FaultInjector:
    """Applies a :class:`FaultConfig` around the mock's handlers; thread-safe.

    Parameters
    ----------
    config : FaultConfig, optional
        The faults to inject (default: none).
    clock : callable, optional
        Monotonic seconds, for the rate limiter (tests pass a fake clock).
    sleep : callable, optional
        Sleeps the latency (tests pass a recorder).
    """

    def __init__(
        self,
        config: FaultConfig | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Any] = time.sleep,
    ) -> None:
        self.config = config if config is not None else FaultConfig()
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._rng = random.Random(self.config.seed)
        self._counts = dict.fromkeys(
            ("requests", "server_errors", "rate_limited", "truncated", "drifted", "schema_drifted"),
            0,
        )
        self._drift: dict[str, int] = {}
        rate = self.config.rate_limit
        self._capacity = max(1.0, rate) if rate is not None else 0.0
        self._tokens = self._capacity
        self._refilled_at: float | None = None

    def __repr__(self) -> str:
        return f"FaultInjector({self.config!r})"

    # -- what handlers read ------------------------------------------------------------------

    @property
    def expires_seconds(self) -> int | None:
        """Freshness (seconds) list pages announce, or ``None`` for the real already-expired policy."""
        return self.config.expires

    @property
    def token_lifetime(self) -> float:
        """Lifetime of Loket access tokens, in seconds."""
        return self.config.token_lifetime

    @property
    def counts(self) -> dict[str, int]:
        """A snapshot of the counters.

        ``requests`` (every request :meth:`before` saw, OAuth included), ``server_errors`` (5xx
        injected), ``rate_limited`` (429 injected), ``truncated`` (bodies cut), ``drifted``
        (listing requests that got a non-zero drift), ``schema_drifted`` (values sent off the
        schema).
        """
        with self._lock:
            return dict(self._counts)

    def reset_counts(self) -> None:
        """Set every counter back to zero (the random stream and the rate limiter go on)."""
        with self._lock:
            for key in self._counts:
                self._counts[key] = 0

    @staticmethod
    def listing_key(req: MockRequest, *, paging: Iterable[str] = PAGING_PARAMS) -> str:
        """Path + sorted query without the paging parameters: one key per listing, not per page."""
        skip = {p.lower() for p in paging}
        items = sorted(
            (k.lower(), v)
            for k, values in req.query.items()
            if k.lower() not in skip
            for v in values
        )
        return f"{req.path.rstrip('/').lower()}?{urlencode(items)}"

    def drift_offset(self, key: str) -> int:
        """Rows to add to listing ``key`` now: 0 the first time, then 1, 2, … (0 when drift is off)."""
        if not self.config.drift:
            return 0
        with self._lock:
            n = self._drift.get(key, 0)
            self._drift[key] = n + 1
            if n:
                self._counts["drifted"] += 1
            return n

    # -- around every request ----------------------------------------------------------------

    def before(self, req: MockRequest) -> MockResponse | None:
        """Sleep the latency, then maybe answer 429 or 5xx instead of the handler (``None``: go on)."""
        cfg = self.config
        with self._lock:
            self._counts["requests"] += 1
        if cfg.latency_ms:
            self._sleep(cfg.latency_ms / 1000)
        if is_auth_path(req.path):
            return None
        if cfg.rate_limit is not None:
            wait = self._take_token(cfg.rate_limit)
            if wait is not None:
                retry_after = max(1, math.ceil(wait))
                with self._lock:
                    self._counts["rate_limited"] += 1
                return error_response(429, req.path, headers=[("Retry-After", str(retry_after))])
        if cfg.error_rate:
            with self._lock:
                hit = self._rng.random() < cfg.error_rate
                status = self._rng.choice((500, 502, 503)) if hit else 0
                if hit:
                    self._counts["server_errors"] += 1
            if hit:
                return error_response(status, req.path)
        return None

    def after(self, req: MockRequest, resp: MockResponse) -> MockResponse:
        """Maybe send a 200 body off the schema, then maybe cut it in half (with a matching
        ``Content-Length``)."""
        if self.config.schema_drift:
            resp = self._off_schema(req, resp)
        rate = self.config.truncate_rate
        if not rate or resp.status != 200 or len(resp.body) < 2 or is_auth_path(req.path):
            return resp
        with self._lock:
            hit = self._rng.random() < rate
            if hit:
                self._counts["truncated"] += 1
        if not hit:
            return resp
        body = resp.body[: len(resp.body) // 2]
        cut = MockResponse(resp.status, list(resp.headers), body)
        cut.set_header("Content-Length", str(len(body)))
        return cut

    def _off_schema(self, req: MockRequest, resp: MockResponse) -> MockResponse:
        """The body with Loket fractions as text and Valinso's ``quantity`` as ``qty``."""
        if resp.status != 200 or not resp.body or is_auth_path(req.path):
            return resp
        try:
            doc = json.loads(resp.body)
        except ValueError:
            return resp
        if not isinstance(doc, dict):
            return resp
        changed = 0
        if is_valinso_path(req.path):
            if req.path.rstrip("/").lower().endswith("/vends"):
                for item in _dicts(doc.get("result")):
                    if "quantity" in item:
                        item["qty"] = item.pop("quantity")
                        changed += 1
        else:
            for item in _dicts(doc.get("_embedded", doc.get("content"))):
                for key, value in item.items():
                    if isinstance(value, float):
                        item[key] = f"{value:.2f}"
                        changed += 1
        if not changed:
            return resp
        body = json.dumps(doc, separators=(",", ":")).encode()
        drifted = MockResponse(resp.status, list(resp.headers), body)
        drifted.set_header("Content-Length", str(len(body)))
        with self._lock:
            self._counts["schema_drifted"] += changed
        return drifted

    def _take_token(self, rate: float) -> float | None:
        """Take one token from the bucket; ``None`` when taken, else seconds until one is free."""
        with self._lock:
            now = self._clock()
            if self._refilled_at is not None:
                elapsed = max(0.0, now - self._refilled_at)
                self._tokens = min(self._capacity, self._tokens + elapsed * rate)
            self._refilled_at = now
            if self._tokens >= 1:
                self._tokens -= 1
                return None
            return (1 - self._tokens) / rate


def _dicts(value: Any) -> list[dict[str, Any]]:
    """The objects among a body's items (a list of them, or one)."""
    if isinstance(value, dict):
        return [value]
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []
