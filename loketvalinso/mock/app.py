"""The mock application: one request handler for both APIs, faults applied around it."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson

from loketvalinso.mock._http import MockRequest, MockResponse, json_response
from loketvalinso.mock.faults import FaultConfig, FaultInjector, is_auth_path
from loketvalinso.mock.loket import LoketApi
from loketvalinso.mock.oauth import OAuthServer
from loketvalinso.mock.state import Changes, WorldState
from loketvalinso.mock.timeline import advance_with_changes
from loketvalinso.mock.valinso import ValinsoApi
from loketvalinso.mock.world import World

__all__ = ["MockApp", "RequestRecord"]

LOKET_PREFIX = "/v2"
VALINSO_PREFIX = "/api/"


@dataclass(frozen=True, slots=True)
class RequestRecord:
    """One request the mock answered: what a test proves was (or was not) sent.

    No headers (they carry tokens and keys), and no body of the OAuth endpoints (it carries the
    client secret, the password or a code); the body of every API request is kept, so a test
    can check exactly what a write sent.
    """

    method: str
    path: str
    query: str
    status: int
    body: bytes = b""

    def json(self) -> Any:
        """The body as JSON (None when empty)."""
        return orjson.loads(self.body) if self.body.strip() else None


class MockApp:
    """Routes a :class:`MockRequest` to the Loket API, the OAuth server or the Valinso API.

    Parameters
    ----------
    world
        The ground truth served at first; writes change it (:attr:`world` is the current one).
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
        self.state = WorldState(world)
        self.faults_config = faults or FaultConfig()
        self.faults = FaultInjector(self.faults_config)
        self.oauth = OAuthServer(
            world.credentials, token_lifetime=self.faults_config.token_lifetime, clock=clock
        )
        self.loket = LoketApi(
            world, oauth=self.oauth, faults=self.faults, clock=clock, state=self.state
        )
        self.valinso = ValinsoApi(world, faults=self.faults, clock=clock, state=self.state)
        self._log_lock = threading.Lock()
        self.requests: list[RequestRecord] = []

    @property
    def world(self) -> World:
        """The ground truth now: the seeded world with every accepted write applied."""
        return self.state.world

    def advance(self, days: int = 1) -> World:
        """Move the world on by ``days`` days (see :mod:`~loketvalinso.mock.timeline`), as one
        change of the state: each API refreshes what it rendered from the rows that changed.
        Returns the new world."""

        def edit(world: World) -> tuple[World, Changes, World]:
            new, changes = advance_with_changes(world, days)
            return new, changes, new

        world = self.state.apply(edit)
        self.valinso.warm()  # encode the day's vends now, not inside the next load's request
        return world

    def handle(self, request: MockRequest) -> MockResponse:
        response = self.faults.before(request)
        if response is None:
            response = self._dispatch(request)
            response = self.faults.after(request, response)
        with self._log_lock:
            query = "&".join(f"{k}={v}" for k, vs in request.query.items() for v in vs)
            body = b"" if is_auth_path(request.path) else request.body
            self.requests.append(
                RequestRecord(request.method, request.path, query, response.status, body)
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
