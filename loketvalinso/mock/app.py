"""The mock application: one request handler for both APIs, faults applied around it."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from loketvalinso.mock._http import MockRequest, MockResponse, json_response
from loketvalinso.mock.faults import FaultConfig, FaultInjector
from loketvalinso.mock.loket import LoketApi
from loketvalinso.mock.oauth import OAuthServer
from loketvalinso.mock.timeline import advance_world
from loketvalinso.mock.valinso import ValinsoApi
from loketvalinso.mock.world import World

__all__ = ["MockApp", "RequestRecord"]

LOKET_PREFIX = "/v2"
VALINSO_PREFIX = "/api/"


@dataclass(frozen=True, slots=True)
class RequestRecord:
    """One request the mock answered (no headers: they may carry secrets)."""

    method: str
    path: str
    query: str
    status: int


class MockApp:
    """Routes a :class:`MockRequest` to the Loket API, the OAuth server or the Valinso API.

    Parameters
    ----------
    world
        The ground truth served.
    faults
        Fault options; the injector wraps every request (see ``faults.py``).
    clock
        Wall clock for tokens, ``Date`` and ``Expires`` (tests may freeze it).
    """

    def __init__(
        self,
        world: World,
        *,
        faults: FaultConfig | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.world = world
        self._clock = clock
        self.faults_config = faults or FaultConfig()
        self.faults = FaultInjector(self.faults_config)
        self.oauth = OAuthServer(
            world.credentials, token_lifetime=self.faults_config.token_lifetime, clock=clock
        )
        self.loket = LoketApi(world, oauth=self.oauth, faults=self.faults, clock=clock)
        self.valinso = ValinsoApi(world, faults=self.faults, clock=clock)
        self._log_lock = threading.Lock()
        self.requests: list[RequestRecord] = []

    def advance(self, days: int = 1) -> World:
        """Move the world on by ``days`` days (see :mod:`~loketvalinso.mock.timeline`).

        The APIs are built again over the new world, so every encoded-row cache starts from it;
        logins and items created by POST are kept. Requests already running finish on the
        world they started with.
        """
        world = advance_world(self.world, days)
        valinso = ValinsoApi(world, faults=self.faults, clock=self._clock)
        valinso.keep_created(self.valinso)
        valinso.warm()  # encode the moved vends now, not inside the next load's first request
        loket = LoketApi(world, oauth=self.oauth, faults=self.faults, clock=self._clock)
        self.world, self.valinso, self.loket = world, valinso, loket
        return world

    def handle(self, request: MockRequest) -> MockResponse:
        response = self.faults.before(request)
        if response is None:
            response = self._dispatch(request)
            response = self.faults.after(request, response)
        with self._log_lock:
            query = "&".join(f"{k}={v}" for k, vs in request.query.items() for v in vs)
            self.requests.append(
                RequestRecord(request.method, request.path, query, response.status)
            )
        return response

    def _dispatch(self, request: MockRequest) -> MockResponse:
        path = request.path
        if path == LOKET_PREFIX or path.startswith(LOKET_PREFIX + "/"):
            return self.loket.handle(request)
        if path in ("/token", "/authorize"):
            return self.oauth.handle(request)
        if path.startswith(VALINSO_PREFIX):
            return self.valinso.handle(request)
        if path in ("/", "/health"):
            return json_response(200, {"status": "ok", "apis": ["loket", "valinso"]})
        return json_response(404, {"message": f"No API at {path}"})

    def count(self, *, method: str | None = None, path_prefix: str = "") -> int:
        """How many requests matched (for tests that count requests against a budget)."""
        with self._log_lock:
            return sum(
                1
                for r in self.requests
                if (method is None or r.method == method) and r.path.startswith(path_prefix)
            )
