"""The embedded mock of the Loket.nl and Valinso APIs: the default backend, fully offline.

Over real HTTP on loopback (a background thread)::

    with lv.mock.serve(seed=42) as m:
        m.loket_url, m.token_url, m.valinso_url, m.credentials, m.world

or in-process, with no socket at all (fast unit tests)::

    m = lv.mock.in_process(seed=42)      # m.transport is an httpx transport

Both serve the production paths: ``/v2/...`` (Loket), ``/token`` and ``/authorize`` (Loket
OAuth), ``/api/{head|2.0.0}/valinso_api/...`` (Valinso). Both APIs are writable (see
:mod:`loketvalinso.mock.loket_writes` and :mod:`loketvalinso.mock.valinso`): ``m.world`` is the
ground truth after every write, and ``m.app.requests`` logs each request's method, path, status
and body. Fault options: ``latency_ms``,
``error_rate`` (share of 5xx), ``rate_limit`` (requests per second before 429 + Retry-After),
``token_lifetime`` (seconds), ``truncate_rate``, ``drift`` (a total that changes mid-walk),
``expires`` (seconds of freshness announced on list pages, for cache demos) and ``schema_drift``
(data off the schema: Loket fractions as text, Valinso's ``quantity`` as ``qty``).

The world moves in time: ``m.advance(days=1)`` adds a day of vends (a few late ones dated
earlier), new leave requests and status changes (:mod:`~loketvalinso.mock.timeline`).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import httpx

from loketvalinso.mock.app import MockApp
from loketvalinso.mock.faults import FaultConfig
from loketvalinso.mock.server import InProcessTransport, MockHTTPServer
from loketvalinso.mock.world import (
    Credentials,
    MockUser,
    World,
    WorldSizes,
    build_world,
    cached_world,
)

__all__ = [
    "IN_PROCESS_URL",
    "Credentials",
    "FaultConfig",
    "MockApp",
    "MockServer",
    "MockURLs",
    "MockUser",
    "World",
    "WorldSizes",
    "build_world",
    "in_process",
    "serve",
    "sizes_for",
]

#: Base URL used for the in-process mock (never resolved: the transport answers it).
IN_PROCESS_URL = "http://mock.local"


class MockURLs:
    """The production paths of both APIs under a mock's base ``url``."""

    url: str

    @property
    def loket_url(self) -> str:
        return f"{self.url}/v2"

    @property
    def token_url(self) -> str:
        return f"{self.url}/token"

    @property
    def authorize_url(self) -> str:
        return f"{self.url}/authorize"

    @property
    def valinso_url(self) -> str:
        return f"{self.url}/api/head/valinso_api"

    def valinso_url_for(self, version: str = "head") -> str:
        return f"{self.url}/api/{version}/valinso_api"


@dataclass
class MockServer(MockURLs):
    """A running mock: its URLs, the credentials it accepts, and its ground truth."""

    url: str
    app: MockApp
    transport: httpx.BaseTransport
    _http: MockHTTPServer | None = field(default=None, repr=False)

    @property
    def credentials(self) -> Credentials:
        return self.app.world.credentials

    @property
    def world(self) -> World:
        """The ground truth now: the seeded world with every write applied."""
        return self.app.world

    @property
    def faults(self):
        return self.app.faults

    def advance(self, days: int = 1) -> World:
        """Move the world on by ``days`` days: that day's vends (a few late ones dated earlier),
        new leave requests and status changes, the same for the same seed. Returns the new
        world (also ``self.world``)."""
        return self.app.advance(days)

    @property
    def in_process(self) -> bool:
        return self._http is None

    def close(self) -> None:
        if self._http is not None:
            self._http.stop()
            self._http = None

    def __enter__(self) -> MockServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def sizes_for(
    *, vends: int | None = None, leave_requests: int | None = None, base: WorldSizes | None = None
) -> WorldSizes:
    """World sizes with about ``vends`` vends and ``leave_requests`` leave requests.

    Leave requests scale through the number of employees (requests per employee-year stay
    realistic), so a bigger leave world also has more employees and employments.
    """
    sizes = base or WorldSizes()
    changes: dict[str, int] = {}
    if vends is not None:
        changes["vends"] = int(vends)
    if leave_requests is not None:
        per_employee = sizes.leave_years * sizes.leave_requests_per_employee_year
        changes["employees"] = max(1, round(leave_requests / per_employee))
    return replace(sizes, **changes)


def _make_app(
    *,
    seed: int,
    sizes: WorldSizes | None,
    world: World | None,
    latency_ms: float,
    error_rate: float,
    rate_limit: float | None,
    token_lifetime: float,
    truncate_rate: float,
    drift: bool,
    expires: int | None,
    schema_drift: bool = False,
) -> MockApp:
    faults = FaultConfig(
        latency_ms=latency_ms,
        error_rate=error_rate,
        rate_limit=rate_limit,
        token_lifetime=token_lifetime,
        truncate_rate=truncate_rate,
        drift=drift,
        expires=expires,
        schema_drift=schema_drift,
        seed=seed,
    )
    if world is None:
        world = cached_world(seed, sizes or WorldSizes())
    return MockApp(world, faults=faults)


def in_process(
    *,
    seed: int = 42,
    sizes: WorldSizes | None = None,
    world: World | None = None,
    latency_ms: float = 0,
    error_rate: float = 0.0,
    rate_limit: float | None = None,
    token_lifetime: float = 3600,
    truncate_rate: float = 0.0,
    drift: bool = False,
    expires: int | None = None,
    schema_drift: bool = False,
) -> MockServer:
    """The mock with no socket: use ``.transport`` with base URL ``.url`` (``http://mock.local``)."""
    app = _make_app(
        seed=seed,
        sizes=sizes,
        world=world,
        latency_ms=latency_ms,
        error_rate=error_rate,
        rate_limit=rate_limit,
        token_lifetime=token_lifetime,
        truncate_rate=truncate_rate,
        drift=drift,
        expires=expires,
        schema_drift=schema_drift,
    )
    return MockServer(url=IN_PROCESS_URL, app=app, transport=InProcessTransport(app))


def serve(
    *,
    seed: int = 42,
    host: str = "127.0.0.1",
    port: int = 0,
    sizes: WorldSizes | None = None,
    world: World | None = None,
    latency_ms: float = 0,
    error_rate: float = 0.0,
    rate_limit: float | None = None,
    token_lifetime: float = 3600,
    truncate_rate: float = 0.0,
    drift: bool = False,
    expires: int | None = None,
    schema_drift: bool = False,
) -> MockServer:
    """Start the mock over real HTTP on ``host:port`` (0 = a free port) in a background thread.

    Use it as a context manager (``with lv.mock.serve() as m:``) or keep the returned server and
    call ``m.close()`` when done.

    Parameters
    ----------
    seed
        Seed of the world (same seed, same bytes).
    sizes
        World sizes (default: 3 employers, 600 employees, 2 years of leave, 200k vends).
    latency_ms, error_rate, rate_limit, token_lifetime, truncate_rate, drift, expires, schema_drift
        Faults on demand; see the module docstring.
    """
    app = _make_app(
        seed=seed,
        sizes=sizes,
        world=world,
        latency_ms=latency_ms,
        error_rate=error_rate,
        rate_limit=rate_limit,
        token_lifetime=token_lifetime,
        truncate_rate=truncate_rate,
        drift=drift,
        expires=expires,
        schema_drift=schema_drift,
    )
    http = MockHTTPServer(app, host=host, port=port).start()
    return MockServer(url=http.url, app=app, transport=InProcessTransport(app), _http=http)
