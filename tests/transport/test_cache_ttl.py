"""``cache_ttl=``: reuse a response the server forbids reusing, only when asked, while it is
younger than the caller's limit; the default stays the server's word; ``last_load`` names the
rows the override served."""

from __future__ import annotations

import warnings
from pathlib import Path

import httpx
import polars as pl
import pytest
from polars.testing import assert_frame_equal

import loketvalinso as lv
from loketvalinso._transport import extensions as ext
from loketvalinso._transport.cache import CacheTransport
from loketvalinso._transport.freshness import CacheEntry, within_override
from loketvalinso._transport.store import DiskCache
from loketvalinso.errors import CacheWarning, ConfigurationError
from tests.transport.test_cache import ALICE, T0, URL, Clock, Server, http_date, state


def test_within_override_is_the_age_under_the_limit():
    entry = CacheEntry(
        status=200,
        headers=(("date", http_date(T0)), ("expires", http_date(T0 - 60))),
        body=b"{}",
        request_time=T0,
        response_time=T0,
    )
    assert within_override(entry, T0 + 10, max_age=60)
    assert not within_override(entry, T0 + 60, max_age=60)
    assert not within_override(entry, T0, max_age=0)


def never_reuse(server: Server):
    """Loket's way: an ``Expires`` in the past on every answer."""

    def respond(request: httpx.Request) -> httpx.Response:
        headers = {"Date": http_date(server.clock.now), "Expires": http_date(0)}
        return httpx.Response(200, headers=headers, content=b'{"n": %d}' % server.count)

    return respond


def get(client: httpx.Client, ttl: float | None) -> httpx.Response:
    extensions = {ext.CACHE_TTL: ttl} if ttl is not None else {}
    return client.get(URL, extensions=extensions)


@pytest.fixture
def transport_parts(tmp_path: Path):
    clock = Clock()
    server = Server(clock)
    server.respond = never_reuse(server)
    cache = DiskCache(tmp_path / "c", clock=clock)
    inner = httpx.MockTransport(server.handler)
    client = httpx.Client(transport=CacheTransport(inner, cache=cache, identity=ALICE))
    yield clock, server, cache, client
    client.close()
    cache.close()


def test_without_an_override_the_server_is_obeyed(transport_parts):
    _, server, cache, client = transport_parts
    assert [state(get(client, None)) for _ in range(3)] == ["miss"] * 3
    assert server.count == 3 and cache.info()["entries"] == 0  # nothing even stored


def test_the_override_stores_and_reuses_until_it_runs_out(transport_parts):
    clock, server, _, client = transport_parts
    first = get(client, 30)
    clock.now += 29
    again = get(client, 30)
    assert (state(first), state(again), server.count) == ("miss", "reused", 1)
    assert again.content == first.content
    assert state(get(client, None)) == "miss"  # a request without it: the server's word
    clock.now += 31
    assert state(get(client, 30)) == "miss" and server.count == 3  # older than the limit


def test_no_store_stays_unstored_under_an_override(transport_parts):
    _, server, _, client = transport_parts
    server.respond = server.fresh_for(0, **{"Cache-Control": "no-store"})
    get(client, 600)
    assert state(get(client, 600)) == "miss" and server.count == 2


def test_offline_within_the_override_serves_without_a_warning(tmp_path, transport_parts):
    clock, _, cache, client = transport_parts
    get(client, 600)
    cache.flush()
    with DiskCache(tmp_path / "c", clock=clock, offline=True) as off:
        inner = httpx.MockTransport(lambda r: pytest.fail("the network was touched"))
        with httpx.Client(transport=CacheTransport(inner, cache=off, identity=ALICE)) as c:
            with warnings.catch_warnings():
                warnings.simplefilter("error", CacheWarning)
                assert state(get(c, 600)) == "reused"
            with pytest.warns(CacheWarning, match="stale"):
                assert state(get(c, None)) == "stale"


# -- through the loaders --------------------------------------------------------------------------


SIZES = lv.mock.WorldSizes(employers=1, employees=40, devices=5, vends=300)


@pytest.fixture(scope="module")
def world():
    from loketvalinso.mock.world import cached_world

    return cached_world(11, SIZES)


@pytest.fixture
def employer_id(world) -> str:
    return world.employers["id"][0]


@pytest.fixture
def mock(world):
    m = lv.mock.in_process(seed=11, world=world)
    yield m
    m.close()


def api_requests(m) -> int:
    return m.app.count(path_prefix="/v2/providers")


def test_per_call_and_per_client(mock, employer_id, tmp_path):
    with lv.Loket.from_mock(mock, cache=tmp_path / "c", progress=False) as loket:
        plain = [loket.departments(employer_id) for _ in range(2)]
        assert api_requests(mock) == 2  # the default: Loket forbids reuse, so both went out
        assert loket.last_load.reused == 0
        first = loket.departments(employer_id, cache_ttl=600)
        again = loket.departments(employer_id, cache_ttl=600)
        assert api_requests(mock) == 3
        assert_frame_equal(again, first)
        assert_frame_equal(again, plain[0])
        report = loket.last_load
        assert report.reused == 1 and report.reused_rows == again.height > 0
        assert [(page, rows) for _, page, rows in report.reused_pages] == [(1, again.height)]
        assert "reused" in repr(report) and "cache_ttl" in report._repr_html_()
    with lv.Loket.from_mock(mock, cache=tmp_path / "c", progress=False, cache_ttl=600) as loket:
        before = api_requests(mock)
        loket.departments(employer_id)
        assert api_requests(mock) == before and loket.last_load.reused == 1
        loket.departments(employer_id, cache_ttl=0)  # this call: the server's word
        assert api_requests(mock) == before + 1 and loket.last_load.reused == 0


def test_every_page_of_a_listing_is_named(mock, employer_id, tmp_path):
    with lv.Loket.from_mock(mock, cache=tmp_path / "c", progress=False, page_size=40) as loket:
        first = loket.leave_requests(employer_id, cache_ttl=3600)
        pages = loket.last_load.pages
        assert pages > 2
        again = loket.leave_requests(employer_id, cache_ttl=3600)
        report = loket.last_load
    assert_frame_equal(again, first)
    assert report.reused_rows == again.height
    assert sorted(page for _, page, _ in report.reused_pages) == list(range(1, pages + 1))
    assert sum(rows for _, _, rows in report.reused_pages) == again.height


def test_valinso_takes_it_too(mock, tmp_path):
    with lv.Valinso.from_mock(mock, cache=tmp_path / "v", progress=False) as valinso:
        valinso.devices(cache_ttl=60)
        count = mock.app.count(path_prefix="/api/")
        devices = valinso.devices(cache_ttl=60)
    assert mock.app.count(path_prefix="/api/") == count
    assert valinso.last_load.reused_rows == devices.height == mock.world.devices.height


@pytest.mark.parametrize("bad", [-1, float("nan"), "600", True])
def test_bad_values_and_no_cache_are_refused(mock, bad, tmp_path):
    with pytest.raises(ConfigurationError, match="cache_ttl"):
        lv.Loket.from_mock(mock, cache=tmp_path / "c", cache_ttl=bad)
    with pytest.raises(ConfigurationError, match="needs a cache"):
        lv.Valinso.from_mock(mock, cache=False, cache_ttl=60)
    with lv.Valinso.from_mock(mock, cache=False) as valinso:
        with pytest.raises(ConfigurationError, match="needs a cache"):
            valinso.devices(cache_ttl=60)
        assert isinstance(valinso.devices(cache_ttl=0), pl.DataFrame)
