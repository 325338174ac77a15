"""The mock Loket.nl API V2: the endpoints that matter for data exploration, as the real API serves them.

What it reproduces (see ``specs/NOTES.md`` of the project and the API's own description):

- **Auth**: every ``/v2`` request needs ``Authorization: Bearer <token>`` from the mock's
  :class:`~loketvalinso.mock.oauth.OAuthServer`; otherwise 401
  ``{"message": "Authorization has been denied for this request."}``. Entities of an employer the
  user may not see answer 403 ``{"message": "Insufficient rights …"}``, also through child ids.
- **Resource versions**: ``Accept: application/json;version=YYYY-MM-DD`` is mandatory; the newest
  version on or before that date is served (:data:`ENDPOINTS` lists them); the response has
  ``Content-Type: application/json;version=<served>`` and ``version{resourceVersion, obsoleteDate}``.
- **Envelopes**: lists ``{_embedded, currentPage, pageSize, totalPages, totalSize, version,
  messages}``; details ``{content, version, messages}`` with an ``ETag`` (``If-None-Match`` → 304).
- **Paging** ``pageNumber``/``pageSize`` (default 250, maximum :data:`MAX_PAGE_SIZE`), ``filter`` and
  ``orderBy`` (see :mod:`loketvalinso.mock.loket_query`); the default order is the world's (stable).
- **Caching**: ``Expires`` on every response; in the past for ordinary resources, a day ahead for
  images and reference lists (leave types, national holidays); ``Date`` too.

This module is the handler: routing, version negotiation, access checks, paging, envelopes,
``ETag``/``Expires`` and errors. The writes (``PUT``/``POST``/``PATCH``/``DELETE``) and their
business rules are in :mod:`loketvalinso.mock.loket_writes`; a write changes the world through
the app's :class:`~loketvalinso.mock.state.WorldState`, and this handler refreshes only what it
had rendered from the rows that changed (and bumps their ETags). What is served (endpoints, versions, resources and their query
frames) is declared in :mod:`loketvalinso.mock.loket_resources`; how a world row becomes an item,
in :mod:`loketvalinso.mock.loket_render`.

Performance: each entity is rendered to JSON once per resource version (lazily, on first use) and
kept as ``bytes``; a page is a join of those bytes. Selections (scope + filter + order) are computed
with Polars on a per-resource *query frame* and cached, so a page walk costs one selection.
"""

from __future__ import annotations

import hashlib
import re
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass
from datetime import date
from functools import partial
from typing import Any, TypeVar, cast

import orjson
import polars as pl

from loketvalinso.mock._http import MockRequest, MockResponse, Router, http_date, json_response
from loketvalinso.mock.loket_query import QueryError, apply_query
from loketvalinso.mock.loket_render import LoketRenderer, png
from loketvalinso.mock.loket_resources import (
    CACHEABLE_LIFETIME,
    CALENDAR_COLUMNS,
    DEFAULT_PAGE_SIZE,
    DETAILS,
    EMPLOYER_BALANCE_COLUMNS,
    ENDPOINTS,
    FORBIDDEN,
    IMAGE_ENDPOINTS,
    LISTS,
    MAX_PAGE_SIZE,
    OBSOLETE_DATES,
    ORGANIZATIONAL_ENTITY_COLUMNS,
    PATH_IDS,
    RESOURCES,
    Resource,
    list_scope,
    query_frame,
    select_columns,
    with_employee,
)
from loketvalinso.mock.loket_writes import WRITE_ENDPOINTS, LoketWriteHandlers, Refused
from loketvalinso.mock.oauth import AUTH_DENIED, OAuthServer
from loketvalinso.mock.state import Changes, WorldState
from loketvalinso.mock.world import World, leave_balances_at
from loketvalinso.mock.world_edits import BALANCE_KEY, KEYS

# Tests and the rest of the package import these declarations from here: re-exported.
__all__ = [
    "DEFAULT_PAGE_SIZE",
    "ENDPOINTS",
    "FORBIDDEN",
    "IMAGE_ENDPOINTS",
    "MAX_PAGE_SIZE",
    "OBSOLETE_DATES",
    "LoketApi",
    "negotiate_version",
]

_JSON = "application/json"
_K = TypeVar("_K", bound=Hashable)
_V = TypeVar("_V")
_ACCEPT_VERSION = re.compile(
    r"application/json\s*;\s*version\s*=\s*\"?([^\s\";,]*)\"?", re.IGNORECASE
)
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_ID_BRACES = "{}()"


class _ApiError(Exception):
    def __init__(self, response: MockResponse) -> None:
        super().__init__(response.status)
        self.response = response


def _message(description: str, *, code: int, kind: str) -> dict[str, Any]:
    return {"code": code, "description": description, "id": None, "properties": [], "type": kind}


def _bad_request(description: str, *, code: int, version: str, listing: bool = True) -> _ApiError:
    # The spec's 400 body: {version, messages[]} plus ``_embedded: []`` on list endpoints.
    body: dict[str, Any] = {
        "version": {"obsoleteDate": OBSOLETE_DATES.get(version), "resourceVersion": version},
        "messages": [_message(description, code=code, kind="Exception")],
    }
    if listing:
        body["_embedded"] = []
    return _ApiError(json_response(400, body))


def _not_found(description: str) -> _ApiError:
    body = {"messages": [_message(description, code=404, kind="NotFound")], "content": None}
    return _ApiError(json_response(404, body))


def negotiate_version(accept: str | None, versions: tuple[str, ...]) -> str:
    """The version served for an ``Accept`` header: the newest of ``versions`` on or before its date.

    Raises
    ------
    ValueError
        The header is missing, has no ``application/json;version=YYYY-MM-DD``, the date is not a
        valid date, or it lies before the first version. The message says what to send.
    """
    example = f"Accept: application/json;version={versions[-1]}"
    if not accept or not accept.strip():
        msg = f"The Accept header is mandatory on this resource; send e.g. '{example}'."
        raise ValueError(msg)
    m = _ACCEPT_VERSION.search(accept)
    if m is None:
        msg = (
            f"The Accept header {accept!r} names no resource version; "
            f"send e.g. '{example}' (versions: {', '.join(versions)})."
        )
        raise ValueError(msg)
    asked = m.group(1)
    try:
        if not _DATE.match(asked):
            raise ValueError(asked)
        date.fromisoformat(asked)
    except ValueError:
        msg = f"The version {asked!r} in the Accept header is not a date (YYYY-MM-DD); send e.g. '{example}'."
        raise ValueError(msg) from None
    chosen = [v for v in versions if v <= asked]
    if not chosen:
        msg = (
            f"No version of this resource exists on or before {asked}; the first is {versions[0]} "
            f"(versions: {', '.join(versions)})."
        )
        raise ValueError(msg)
    return chosen[-1]


def _normalize_id(value: str) -> str:
    return value.strip(_ID_BRACES).lower()


@dataclass(frozen=True, slots=True)
class _Route:
    template: str
    versions: tuple[str, ...]  # empty: not a versioned JSON resource
    fn: Callable[..., MockResponse]

    def __call__(self, *args: Any, **kwargs: Any) -> MockResponse:  # Router's Handler protocol
        return self.fn(*args, **kwargs)


@dataclass(frozen=True, slots=True)
class _Ctx:
    req: MockRequest
    now: float
    version: str


class _Lru:
    """A small thread-safe LRU map (selections and parameter-dependent renders)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._data: OrderedDict[Any, Any] = OrderedDict()
        self._lock = threading.Lock()

    def get_or_make(self, key: Any, make: Callable[[], Any]) -> Any:
        with self._lock:
            if key in self._data:
                self._data.move_to_end(key)
                return self._data[key]
        value = make()  # outside the lock: concurrent misses may both compute, harmlessly
        with self._lock:
            self._data[key] = value
            while len(self._data) > self.size:
                self._data.popitem(last=False)
        return value


#: World frames whose rows the renderer looks up (a change rebuilds it).
_RENDERER_FRAMES = frozenset(
    {"employers", "employees", "departments", "functions", "payroll_administrations", "leave_types"}
)
#: frame → {frame whose items embed its rows: the columns naming them}
_EMBEDDED_IN = {
    "employees": {
        "employments": ("employee_id",),
        "leave_requests": ("employee_id", "handled_by_id"),
    },
}


class LoketApi(LoketWriteHandlers):
    """The mock Loket API over a :class:`~loketvalinso.mock.world.World`.

    Parameters
    ----------
    world
        The ground truth served (the state's world when ``state`` is given).
    oauth
        Checks the bearer token of every request.
    faults
        The fault injector (``drift_offset``, ``listing_key``, ``expires_seconds``); ``None``: none.
    clock
        Wall clock for ``Date``/``Expires``.
    state
        The world writes change (shared with the app's other APIs); a private one by default.
    """

    def __init__(
        self,
        world: World,
        *,
        oauth: OAuthServer,
        faults: Any = None,
        clock: Callable[[], float] = time.time,
        state: WorldState | None = None,
    ) -> None:
        self._state = state if state is not None else WorldState(world)
        self.world = self._state.world
        self._oauth = oauth
        self._faults = faults
        self._clock = clock
        #: writes of each row so far (a row's ETag changes with every write, even an idempotent one)
        self._revisions: dict[tuple[str, Any], int] = {}
        self._lock = threading.RLock()
        self._encoded: dict[tuple[str, str], list[bytes]] = {}
        self._qframes: dict[str, pl.DataFrame] = {}
        self._parts: dict[tuple[Hashable, str], dict[Any, pl.DataFrame]] = {}
        self._selections = _Lru(1024)
        self._param_renders = _Lru(32)
        self._images = _Lru(256)
        self._renderer = LoketRenderer(self.world)
        self._build_indexes()
        self._router = Router()
        self._register()
        self._state.subscribe(self._world_changed)

    def __repr__(self) -> str:
        return f"LoketApi(seed={self.world.seed!r}, endpoints={len(ENDPOINTS)})"

    # -- set-up ------------------------------------------------------------------------------

    def _build_indexes(self, frames: frozenset[str] | None = None) -> None:
        """Row positions and employers of the resources path ids name (of ``frames`` only)."""
        w = self.world

        def mapping(frame: pl.DataFrame, key: str, value: str) -> dict[Any, Any]:
            return dict(zip(frame[key].to_list(), frame[value].to_list(), strict=True))

        def positions(frame: pl.DataFrame, key: str = "id") -> dict[str, int]:
            return {v: i for i, v in enumerate(frame[key].to_list())}

        if frames is None or "employers" in frames:
            self._employer_accessible: dict[str, bool] = mapping(w.employers, "id", "accessible")
        # Per resource a path id names (PATH_IDS): each row's position and its employer (an
        # employer is its own).
        if frames is None:
            self._position: dict[str, dict[str, int]] = {}
            self._employer_of: dict[str, dict[str, str]] = {}
        for name, _label in PATH_IDS.values():
            if frames is not None and RESOURCES[name].frame not in frames:
                continue
            frame = getattr(w, RESOURCES[name].frame)
            self._position[name] = positions(frame)
            owner = "id" if name == "employers" else "employer_id"
            self._employer_of[name] = mapping(frame, "id", owner)

    def _register(self) -> None:
        handlers: dict[str, Callable[..., MockResponse]] = {
            "/providers/employers/{employerId}/leavebalances": self._employer_leave_balances,
            "/providers/employers/{employerId}/employees/employments/calendar/leaverequests": (
                self._calendar_leave_requests
            ),
            "/providers/employers/{employerId}/actualorganizationalentities": (
                self._actual_organizational_entities
            ),
        }
        for template, name in LISTS.items():
            handlers[template] = partial(self._list_rows, RESOURCES[name], list_scope(template))
        for template, name in DETAILS.items():
            handlers[template] = partial(self._detail_row, RESOURCES[name])
        # In ENDPOINTS order: of two equally good matches the router takes the first added.
        for template, versions in ENDPOINTS.items():
            self._router.add("GET", template, _Route(template, versions, handlers[template]))
        for template in IMAGE_ENDPOINTS:
            fn = self._photo if "photo" in template else self._logo
            self._router.add("GET", template, _Route(template, (), fn))
        for (method, template), (versions, name) in WRITE_ENDPOINTS.items():
            self._router.add(method, template, _Route(template, versions, getattr(self, name)))

    # -- writes change the world ------------------------------------------------------------

    def _world_changed(self, old: World, new: World, changes: Changes) -> None:
        """Refresh what was rendered from the rows ``changes`` names (the rest is kept)."""
        with self._lock:
            self.world = new
            if _RENDERER_FRAMES & set(changes):
                self._renderer = LoketRenderer(new)
            forced: dict[str, set[Any]] = {}
            for frame, keys in changes.items():
                for embedding, columns in _EMBEDDED_IN.get(frame, {}).items():
                    data: pl.DataFrame = getattr(new, embedding)
                    naming = pl.any_horizontal(pl.col(c).is_in(list(keys)) for c in columns)
                    forced.setdefault(embedding, set()).update(data.filter(naming)["id"])
            touched = set(changes) | set(forced)
            for resource in RESOURCES.values():
                if resource.frame not in touched:
                    continue
                for key in [k for k in self._encoded if k[0] == resource.name]:
                    self._encoded[key] = self._reencoded(
                        resource, key[1], old, forced.get(resource.frame, set())
                    )
                self._qframes.pop(resource.name, None)
            self._parts.clear()
            self._selections = _Lru(1024)
            self._param_renders = _Lru(32)
            for frame, keys in changes.items():
                for row_key in keys:
                    mark = (frame, row_key)
                    self._revisions[mark] = self._revisions.get(mark, 0) + 1
            self._build_indexes(frozenset(touched))

    def _reencoded(
        self, resource: Resource, version: str, old: World, forced: set[Any]
    ) -> list[bytes]:
        """The rendered rows of ``resource`` in the new world: a row whose values (and
        embedded rows) did not change keeps its bytes; the others are rendered again."""
        before = self._encoded[(resource.name, version)]
        old_frame: pl.DataFrame = getattr(old, resource.frame)
        new_frame: pl.DataFrame = getattr(self.world, resource.frame)  # set by the caller
        key = (
            list(BALANCE_KEY)
            if resource.frame == "leave_balances"
            else [KEYS.get(resource.frame, "id")]
        )
        old_keys = old_frame.select(key).rows() if len(key) > 1 else old_frame[key[0]].to_list()
        new_keys = new_frame.select(key).rows() if len(key) > 1 else new_frame[key[0]].to_list()
        old_hash = old_frame.hash_rows(seed=0).to_list()
        new_hash = new_frame.hash_rows(seed=0).to_list()
        where = {k: i for i, k in enumerate(old_keys)}
        render = partial(resource.render, self._renderer)
        if resource.versioned:
            render = partial(render, version=version)
        out: list[bytes] = []
        for i, k in enumerate(new_keys):
            j = where.get(k)
            if j is not None and old_hash[j] == new_hash[i] and k not in forced:
                out.append(before[j])
            else:
                out.append(orjson.dumps(render(new_frame.row(i, named=True))))
        return out

    def _revision(self, frame: str, key: Any) -> int:
        return self._revisions.get((frame, key), 0)

    # -- the request cycle -----------------------------------------------------------------

    def handle(self, request: MockRequest) -> MockResponse:
        """Answer one ``/v2/...`` request."""
        now = self._clock()
        try:
            response = self._dispatch(request, now)
        except (_ApiError, Refused) as exc:
            response = exc.response
        if response.header("Date") is None:
            response.set_header("Date", http_date(now))
        if response.header("Expires") is None:
            response.set_header("Expires", http_date(now - CACHEABLE_LIFETIME))
        return response

    def _dispatch(self, req: MockRequest, now: float) -> MockResponse:
        path = req.path
        if path.lower().startswith("/v2"):
            path = path[3:]
        if self._oauth.user_for(req.headers.get("authorization")) is None:
            return json_response(401, AUTH_DENIED, headers=[("WWW-Authenticate", "Bearer")])
        match = self._router.match(req.method, path)
        if match is None:
            raise _not_found(f"No resource at {req.path}.")
        if match is False:
            return json_response(
                405,
                {"message": f"The requested resource does not support http method '{req.method}'."},
                headers=[("Allow", ", ".join(self._router.methods(path)))],
            )
        handler, raw_params = match  # type: ignore[misc]
        route = cast(_Route, handler)
        params = {k: _normalize_id(v) for k, v in raw_params.items()}
        # Existence and rights come before the version check, as on the real API (its version
        # only matters when the body is written).
        self._check_access(params)
        version = ""
        if route.versions:
            try:
                version = negotiate_version(req.headers.get("accept"), route.versions)
            except ValueError as exc:
                raise _bad_request(
                    str(exc),
                    code=1001,
                    version=route.versions[-1],
                    listing=not route.template.endswith("}"),
                ) from None
        if req.method == "GET":
            return route.fn(_Ctx(req, now, version), **params)
        with self._state.writing():  # checked and applied with no other write in between
            return route.fn(_Ctx(req, now, version), **params)

    # -- access checks -----------------------------------------------------------------------

    def _check_employer(self, employer_id: str) -> None:
        accessible = self._employer_accessible.get(employer_id)
        if accessible is None:
            raise _not_found(f"Employer {employer_id} does not exist.")
        if not accessible:
            raise _ApiError(json_response(403, FORBIDDEN))

    def _check_access(self, params: Mapping[str, str]) -> None:
        """404 for a path id that names nothing, 403 when its employer is not the user's.

        Run for every route before its handler, so handlers need no checks of their own.
        """
        for name, value in params.items():
            names_row = PATH_IDS.get(name)
            if names_row is None:
                continue  # not an id (an image's version)
            resource, label = names_row
            employer_id = self._employer_of[resource].get(value)
            if employer_id is None:
                raise _not_found(f"{label} {value} does not exist.")
            self._check_employer(employer_id)

    # -- envelopes ---------------------------------------------------------------------------

    @staticmethod
    def _version_bytes(version: str) -> bytes:
        return orjson.dumps(
            {"obsoleteDate": OBSOLETE_DATES.get(version), "resourceVersion": version}
        )

    def _json_ok(self, ctx: _Ctx, body: bytes, *, expires: float, extra=()) -> MockResponse:
        return MockResponse(
            200,
            [
                ("Content-Type", f"{_JSON};version={ctx.version}"),
                ("Date", http_date(ctx.now)),
                ("Expires", http_date(expires)),
                *extra,
            ],
            body,
        )

    @staticmethod
    def _etag(item: bytes, version: str, revision: int) -> str:
        mark = f"{version}#{revision}".encode()
        return '"' + hashlib.blake2b(item + mark, digest_size=16).hexdigest() + '"'

    def _detail(self, ctx: _Ctx, item: bytes, revision: int = 0) -> MockResponse:
        etag = self._etag(item, ctx.version, revision)
        expires = ctx.now - CACHEABLE_LIFETIME
        inm = ctx.req.headers.get("if-none-match")
        if inm is not None:
            tags = {t.strip().removeprefix("W/") for t in inm.split(",")}
            if etag in tags or "*" in tags:
                return MockResponse(
                    304,
                    [("ETag", etag), ("Date", http_date(ctx.now)), ("Expires", http_date(expires))],
                    b"",
                )
        body = (
            b'{"content":'
            + item
            + b',"version":'
            + self._version_bytes(ctx.version)
            + b',"messages":[]}'
        )
        return self._json_ok(ctx, body, expires=expires, extra=[("ETag", etag)])

    def _page_params(self, ctx: _Ctx) -> tuple[int, int]:
        req = ctx.req

        def integer(name: str, default: int) -> int:
            raw = req.param(name)
            if raw is None or raw == "":
                return default
            try:
                return int(raw)
            except ValueError:
                raise _bad_request(
                    f"{name} must be a whole number, got {raw!r}.", code=1002, version=ctx.version
                ) from None

        page_number = integer("pageNumber", 1)
        page_size = integer("pageSize", DEFAULT_PAGE_SIZE)
        if page_number < 1:
            raise _bad_request(
                f"pageNumber must be 1 or more, got {page_number}.", code=1003, version=ctx.version
            )
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            raise _bad_request(
                f"pageSize must be between 1 and {MAX_PAGE_SIZE} (the maximum), got {page_size}.",
                code=1004,
                version=ctx.version,
            )
        return page_number, page_size

    def _list(
        self,
        ctx: _Ctx,
        selection: list[int],
        encoded: list[bytes],
        *,
        reference: bool = False,
    ) -> MockResponse:
        page_number, page_size = self._page_params(ctx)
        drift = 0
        if self._faults is not None and selection:
            drift = self._faults.drift_offset(self._faults.listing_key(ctx.req))
        real = len(selection)
        total = real + drift
        start = (page_number - 1) * page_size
        stop = min(start + page_size, total)
        items = [encoded[i] for i in selection[start : min(stop, real)]]
        for n in range(max(start, real), stop):
            items.append(self._phantom(encoded[selection[-1]], n))
        total_pages = -(-total // page_size)
        body = b"".join(
            (
                b'{"_embedded":[',
                b",".join(items),
                b'],"currentPage":%d,"pageSize":%d,"totalPages":%d,"totalSize":%d,"version":'
                % (page_number, page_size, total_pages, total),
                self._version_bytes(ctx.version),
                b',"messages":[]}',
            )
        )
        override = None if self._faults is None else self._faults.expires_seconds
        if override is not None:
            expires = ctx.now + override
        elif reference:
            expires = ctx.now + CACHEABLE_LIFETIME
        else:
            expires = ctx.now - CACHEABLE_LIFETIME
        return self._json_ok(ctx, body, expires=expires)

    @staticmethod
    def _phantom(template: bytes, n: int) -> bytes:
        # A row that "appeared" mid-walk (drift fault): a copy of the last row under a new id.
        item = orjson.loads(template)
        new_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"loketvalinso-drift-{n}"))
        for key in ("id", "key"):
            if isinstance(item.get(key), str):
                item[key] = new_id
        return orjson.dumps(item)

    # -- cached renders and selections --------------------------------------------------------

    @staticmethod
    def _dump_rows(
        frame: pl.DataFrame, render: Callable[[dict[str, Any]], dict[str, Any]]
    ) -> list[bytes]:
        dumps = orjson.dumps
        return [dumps(render(row)) for row in frame.iter_rows(named=True)]

    def _once(self, cache: dict[_K, _V], key: _K, build: Callable[[], _V]) -> _V:
        """``cache[key]``, built on the first miss only: builds are costly, so concurrent misses
        wait for one build under the lock (hits take no lock)."""
        found = cache.get(key)
        if found is not None:
            return found
        with self._lock:
            found = cache.get(key)
            if found is None:
                found = build()
                cache[key] = found
        return found

    def _partition(
        self, resource: Hashable, frame: pl.DataFrame, column: str, value: Any
    ) -> pl.DataFrame:
        parts = self._once(
            self._parts,
            (resource, column),
            lambda: {k[0]: df for k, df in frame.partition_by(column, as_dict=True).items()},
        )
        found = parts.get(value)
        return found if found is not None else frame.clear()

    def _select(
        self, ctx: _Ctx, resource: Hashable, frame: pl.DataFrame, scope: tuple[str, Any] | None
    ) -> list[int]:
        """Row positions of ``frame`` in ``scope``, filtered and ordered per the request.

        ``resource`` names ``frame`` in the selection cache (and its partitions by ``scope``).
        """
        flt = ctx.req.param("filter")
        order = ctx.req.param("orderBy")
        key = (resource, scope, flt or None, order or None)

        def make() -> list[int]:
            part = frame if scope is None else self._partition(resource, frame, *scope)
            try:
                selected = apply_query(part, filter=flt, order_by=order)
            except QueryError as exc:
                raise _bad_request(str(exc), code=1010, version=ctx.version) from None
            return selected["_i"].to_list()

        return self._selections.get_or_make(key, make)

    # -- endpoints over one resource (see LISTS and DETAILS) -----------------------------------

    def _list_rows(
        self, resource: Resource, scope_column: str, ctx: _Ctx, **path_ids: str
    ) -> MockResponse:
        """A page of ``resource``'s rows whose ``scope_column`` is the path's id (or true)."""
        scope = (scope_column, next(iter(path_ids.values()), True))
        with self._lock:  # selection and renders of one world (a write swaps both)
            selection = self._select(ctx, resource.name, self._query_frame(resource), scope)
            encoded = self._encoded_rows(resource, ctx.version)
        return self._list(ctx, selection, encoded, reference=resource.reference)

    def _detail_row(self, resource: Resource, ctx: _Ctx, **path_ids: str) -> MockResponse:
        """The row of ``resource`` the path's id names (access checks have found it)."""
        (row_id,) = path_ids.values()
        with self._lock:  # positions and renders of one world (a write swaps both)
            encoded = self._encoded_rows(resource, ctx.version)
            position = self._position[resource.name].get(row_id)
            if position is None:  # deleted since the access check
                raise _not_found(f"{resource.name} {row_id} does not exist.")
            item = encoded[position]
            revision = self._revision(resource.frame, row_id)
        return self._detail(ctx, item, revision)

    def _query_frame(self, resource: Resource) -> pl.DataFrame:
        return self._once(
            self._qframes,
            resource.name,
            lambda: query_frame(self.world, resource).with_row_index("_i"),
        )

    def _encoded_rows(self, resource: Resource, version: str) -> list[bytes]:
        def build() -> list[bytes]:
            render = partial(resource.render, self._renderer)
            if resource.versioned:
                render = partial(render, version=version)
            return self._dump_rows(getattr(self.world, resource.frame), render)

        return self._once(self._encoded, (resource.name, version), build)

    # -- listings computed per query parameters ----------------------------------------------

    def _list_computed(
        self,
        ctx: _Ctx,
        key: tuple[Any, ...],
        compute: Callable[[], tuple[list[bytes], pl.DataFrame]],
    ) -> MockResponse:
        """A page of a listing computed per query parameters: ``key`` names one computation."""
        encoded, frame = self._param_renders.get_or_make(key, compute)
        selection = self._select(ctx, key, frame, None)
        return self._list(ctx, selection, encoded)

    def _balances_at(self, reference_date: date) -> pl.DataFrame:
        """The world's balances as of ``reference_date`` (the world owns the ledger maths)."""
        return self._param_renders.get_or_make(
            ("balances_at", reference_date), lambda: leave_balances_at(self.world, reference_date)
        )

    def _employer_leave_balances(self, ctx: _Ctx, employerId: str) -> MockResponse:
        reference = self._reference_date(ctx, code=1020)
        types: list[int] = []
        for raw in ctx.req.params("leaveType"):
            for part in raw.split(","):
                if part.strip():
                    try:
                        types.append(int(part))
                    except ValueError:
                        raise _bad_request(
                            f"leaveType must be whole numbers (leaveType.key), got {part!r}.",
                            code=1021,
                            version=ctx.version,
                        ) from None
        leave_types = tuple(sorted(set(types or [16])))
        return self._list_computed(
            ctx,
            ("balances", employerId, reference, leave_types),
            lambda: self._employer_balances(employerId, reference, leave_types),
        )

    def _employer_balances(
        self, employer_id: str, reference: date, leave_types: tuple[int, ...]
    ) -> tuple[list[bytes], pl.DataFrame]:
        year = reference.year
        employments = self.world.employments.filter(
            (pl.col("employer_id") == employer_id)
            & (pl.col("start_date") <= date(year, 12, 31))
            & (pl.col("end_date").is_null() | (pl.col("end_date") >= date(year, 1, 1)))
        )
        balances = (
            self._balances_at(reference)
            .filter(
                (pl.col("employer_id") == employer_id)
                & (pl.col("year") == year)
                & pl.col("leave_type_key").is_in(list(leave_types))
            )
            .sort(["employment_id", "leave_type_key"], maintain_order=True)
        )
        encoded = self._renderer.employer_balances(employments, balances)
        frame = select_columns(
            with_employee(self.world, employments, "employee"), EMPLOYER_BALANCE_COLUMNS
        )
        return encoded, frame.with_row_index("_i")

    def _reference_date(self, ctx: _Ctx, *, code: int) -> date:
        """``referenceDate`` of the request, or the world's "today"."""
        raw = ctx.req.param("referenceDate")
        if not raw:
            return self.world.reference_date
        try:
            return date.fromisoformat(raw[:10])
        except ValueError:
            raise _bad_request(
                f"referenceDate must be a date (YYYY-MM-DD), got {raw!r}.",
                code=code,
                version=ctx.version,
            ) from None

    def _actual_organizational_entities(self, ctx: _Ctx, employerId: str) -> MockResponse:
        """``GET …/{employerId}/actualorganizationalentities``: one item per employment.

        The world gives each employment one organisational entity spanning the whole
        employment, so the actual one on ``referenceDate`` is that one. The mock's choices:
        employments that start after the reference date are left out; an employment that
        ended before it keeps its last (only) entity, so ended employments still name their
        department.
        """
        reference = self._reference_date(ctx, code=1040)
        return self._list_computed(
            ctx,
            ("organizational_entities", employerId, reference),
            lambda: self._organizational_entities(employerId, reference),
        )

    def _organizational_entities(
        self, employer_id: str, reference: date
    ) -> tuple[list[bytes], pl.DataFrame]:
        employments = self.world.employments.filter(
            (pl.col("employer_id") == employer_id) & (pl.col("start_date") <= reference)
        )
        encoded = self._renderer.organizational_entities(employments)
        frame = select_columns(employments, ORGANIZATIONAL_ENTITY_COLUMNS)
        return encoded, frame.with_row_index("_i")

    def _calendar_leave_requests(self, ctx: _Ctx, employerId: str) -> MockResponse:
        bounds: list[date] = []
        for name in ("startDate", "endDate"):
            raw = ctx.req.param(name)
            if not raw:
                raise _bad_request(
                    f"The query parameter {name} (YYYY-MM-DD) is required.",
                    code=1030,
                    version=ctx.version,
                )
            try:
                bounds.append(date.fromisoformat(raw))
            except ValueError:
                raise _bad_request(
                    f"{name} must be a date (YYYY-MM-DD), got {raw!r}.",
                    code=1031,
                    version=ctx.version,
                ) from None
        start, end = bounds
        if end < start:
            raise _bad_request(
                "endDate must not be before startDate.", code=1032, version=ctx.version
            )
        return self._list_computed(
            ctx,
            ("calendar", employerId, start, end),
            lambda: self._calendar(employerId, start, end),
        )

    def _calendar(
        self, employer_id: str, start: date, end: date
    ) -> tuple[list[bytes], pl.DataFrame]:
        requests = self.world.leave_requests.filter(
            (pl.col("employer_id") == employer_id)
            & (pl.col("leave_request_status").str.to_lowercase() == "ingediend")
            & (pl.col("start_date") <= end)
            & (pl.col("end_date") >= start)
        ).sort(["start_date", "id"])
        calendars = self._renderer.calendars(requests)
        employments = self.world.employments.filter(pl.col("id").is_in(list(calendars)))
        employments = with_employee(self.world, employments, "employee")
        encoded = self._renderer.calendar(employments, calendars)
        frame = select_columns(employments, CALENDAR_COLUMNS).with_row_index("_i")
        return encoded, frame

    def _photo(self, ctx: _Ctx, employeeId: str, version: str | None = None) -> MockResponse:
        return self._image(ctx, f"employee:{employeeId}")

    def _logo(self, ctx: _Ctx, employerId: str, version: str | None = None) -> MockResponse:
        return self._image(ctx, f"employer:{employerId}")

    def _image(self, ctx: _Ctx, seed: str) -> MockResponse:
        body = self._images.get_or_make(seed, lambda: png(seed))
        return MockResponse(
            200,
            [
                ("Content-Type", "image/png"),
                ("Date", http_date(ctx.now)),
                ("Expires", http_date(ctx.now + CACHEABLE_LIFETIME)),
                ("Cache-Control", f"private, max-age={CACHEABLE_LIFETIME}"),
            ],
            body,
        )
