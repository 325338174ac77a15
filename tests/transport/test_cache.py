"""The disk cache and its httpx transport, against counting ``httpx.MockTransport`` servers."""

from __future__ import annotations

import gzip
import json
import multiprocessing
import os
import random
import sqlite3
import stat
import sys
import time
import warnings
from collections.abc import Callable
from email.utils import formatdate
from pathlib import Path

import diskcache
import httpx
import pytest

from loketvalinso._transport.cache import CacheTransport
from loketvalinso._transport.entries import CorruptEntryError, decode_entry, encode_entry
from loketvalinso._transport.extensions import CACHE as CACHE_EXTENSION
from loketvalinso._transport.extensions import CACHE_KEY as CACHE_KEY_EXTENSION
from loketvalinso._transport.extensions import IDENTITY
from loketvalinso._transport.freshness import CacheEntry
from loketvalinso._transport.keys import cache_key, make_identity, normalize_accept, normalize_url
from loketvalinso._transport.manage import cache_clear, cache_info
from loketvalinso._transport.store import DiskCache, default_directory
from loketvalinso.errors import (
    CacheMissError,
    CacheWarning,
    ConfigurationError,
    LoketValinsoWarning,
)
from tests.conftest import spy_on

T0 = 1_700_000_000.0
URL = "https://api.loket.example/v2/providers/employers"
V1 = "application/json;version=2018-01-01"
V2 = "application/json;version=2021-03-29"
ALICE = make_identity("https://api.loket.example/v2", "client", "alice")
BOB = make_identity("https://api.loket.example/v2", "client", "bob")


def http_date(ts: float) -> str:
    return formatdate(ts, usegmt=True)


class Clock:
    """A frozen clock the test moves by hand."""

    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class Server:
    """A counting mock server: ``respond(request)`` builds each answer (default: 60 s fresh)."""

    def __init__(
        self, clock: Clock, respond: Callable[[httpx.Request], httpx.Response] | None = None
    ):
        self.clock = clock
        self.requests: list[httpx.Request] = []
        self.respond = respond or self.fresh_for(60)

    def fresh_for(self, seconds: float, **extra: str) -> Callable[[httpx.Request], httpx.Response]:
        def respond(request: httpx.Request) -> httpx.Response:
            headers = {
                "Date": http_date(self.clock.now),
                "Expires": http_date(self.clock.now + seconds),
                "Content-Type": "application/json",
                **extra,
            }
            body = f'{{"url": "{request.url}", "accept": "{request.headers.get("accept")}"}}'
            return httpx.Response(200, headers=headers, content=body.encode())

        return respond

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.respond(request)

    @property
    def count(self) -> int:
        return len(self.requests)


def exploding(request: httpx.Request) -> httpx.Response:
    msg = f"the network must not be touched: {request.url}"
    raise AssertionError(msg)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def server(clock: Clock) -> Server:
    return Server(clock)


@pytest.fixture
def cache(tmp_path: Path, clock: Clock):
    with DiskCache(tmp_path / "cache", clock=clock) as c:
        yield c


def client_for(cache: DiskCache, server_or_handler, identity: str = ALICE) -> httpx.Client:
    handler = getattr(server_or_handler, "handler", server_or_handler)
    inner = httpx.MockTransport(handler)
    return httpx.Client(transport=CacheTransport(inner, cache=cache, identity=identity))


def state(response: httpx.Response) -> str:
    return response.extensions[CACHE_EXTENSION]


# -- keys (pure) -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("HTTPS://API.Example.NL:443/v2/x?b=2&a=1", "https://api.example.nl/v2/x?a=1&b=2"),
        ("http://h:80", "http://h/"),
        ("https://h/%7euser/a%2fb?q=%7e%2f", "https://h/~user/a%2Fb?q=~%2F"),
        ("https://h/a b?x=ü", "https://h/a%20b?x=%C3%BC"),
        ("https://user:pw@h/x#frag", "https://h/x"),
    ],
)
def test_normalize_url_equivalents(a, b):
    assert normalize_url(a) == normalize_url(b)


def test_normalize_url_keeps_meaningful_differences():
    assert normalize_url("https://h:8443/x") != normalize_url("https://h/x")
    assert normalize_url("https://h/x?a=1") != normalize_url("https://h/x?a=2")
    assert normalize_url("https://h/a%2Fb") != normalize_url("https://h/a/b")
    # repeated parameters keep their relative order (it may matter to the server)
    assert normalize_url("https://h/x?t=2&a=0&t=1") == "https://h/x?a=0&t=2&t=1"
    assert normalize_url("https://h/x?q=a+b") != normalize_url("https://h/x?q=a%2Bb")


_SIBLING_URLS = [
    "http://127.0.0.1:8800/loket/v2/providers/employers/e1/leaverequests?pageNumber=1&pageSize=250",
    "https://API.example:443/a%7eb/c d?filter=endDate%20ge%20'2025-01-01'%20and%20x+y"
    "&pageSize=250&b=1&b=2&pageNumber=3&z=%2B&empty=&flag",
    "https://h/vends?offset=0&limit=1000&device_id=7",
    "http://h/p",
]
_SIBLING_PARAMS = [
    [{"pageNumber": i, "pageSize": 250} for i in range(2, 7)],
    [{"offset": 1000 * i, "limit": 1000} for i in range(1, 4)],
    [{"pageNumber": 2}, {"pageNumber": 3, "pageSize": 10}],  # differing names
    [{"pageNumber": "2"}, {"pageNumber": True}],  # not ints
    [{"page number": 2}],  # not a plain name
    [],
]


@pytest.mark.parametrize("params", _SIBLING_PARAMS)
@pytest.mark.parametrize("url", _SIBLING_URLS)
@pytest.mark.parametrize("sent", [False, True], ids=["as-written", "as-sent"])
def test_sibling_page_urls_are_those_httpx_would_request(url, params, sent):
    """The quick merge of paging parameters gives exactly the normalised URLs of the requests
    httpx sends (``copy_merge_params``), whether or not httpx encoded the URL already."""
    from loketvalinso._transport.keys import merged_urls as _merged_urls

    base = httpx.URL(url).copy_merge_params({}) if sent else httpx.URL(url)
    want = [normalize_url(base.copy_merge_params(p)) for p in params]
    assert _merged_urls(base, params) == want


def test_sibling_page_urls_of_a_sent_request_cost_one_httpx_merge(monkeypatch):
    from loketvalinso._transport.keys import merged_urls as _merged_urls

    url = httpx.URL(_SIBLING_URLS[1]).copy_merge_params({})
    merges = spy_on(monkeypatch, httpx.URL, "copy_merge_params")
    urls = _merged_urls(url, _SIBLING_PARAMS[0])
    assert len(urls) == 5 and len(merges) == 1  # the check of the first page only


def test_normalize_accept():
    assert normalize_accept("Application/JSON; version=2021-03-29") == V2
    assert normalize_accept(None) == ""


def test_cache_key_parts():
    base = cache_key("GET", URL, accept=V1, identity=ALICE)
    assert len(base) == 64 and int(base, 16) >= 0
    assert base == cache_key(
        "get", URL + "?", accept=" application/json ;version=2018-01-01", identity=ALICE
    )
    assert base != cache_key("GET", URL, accept=V1, identity=BOB)
    assert base != cache_key("GET", URL, accept=V2, identity=ALICE)
    assert base != cache_key("HEAD", URL, accept=V1, identity=ALICE)
    assert cache_key("GET", URL + "?b=1&a=2", accept=V1, identity=ALICE) == cache_key(
        "GET", URL + "?a=2&b=1", accept=V1, identity=ALICE
    )
    with pytest.raises(ConfigurationError, match="identity"):
        cache_key("GET", URL, accept=V1, identity="")


def test_make_identity_is_a_one_way_digest():
    ident = make_identity("valinso", "secret-api-key-123")
    assert "secret" not in ident and len(ident) == 64
    assert ident != make_identity("valinso", "other-key")
    assert make_identity("a", "bc") != make_identity("ab", "c")


# -- value format (pure) -----------------------------------------------------------------------


def sample_entry(body: bytes = b'{"x": 1}') -> CacheEntry:
    return CacheEntry(
        status=200,
        headers=(("content-type", "application/json"), ("etag", '"v1"')),
        body=body,
        request_time=T0 - 1,
        response_time=T0,
        url=URL,
    )


def test_encode_decode_round_trip():
    e = sample_entry()
    assert decode_entry(encode_entry(e)) == e


def test_encode_strips_secret_headers():
    e = CacheEntry(200, (("set-cookie", "sid=SECRET"), ("api-key", "K")), b"", T0, T0)
    assert decode_entry(encode_entry(e)).headers == ()


@pytest.mark.parametrize(
    "damage",
    [
        lambda b: b[:-1],  # truncated body
        lambda b: b[:10],  # truncated header
        lambda b: b[:-1] + bytes([b[-1] ^ 1]),  # flipped body bit
        lambda b: b[:50] + bytes([b[50] ^ 1]) + b[51:],  # flipped header bit
        lambda b: b"XXXX" + b[4:],  # foreign format
        lambda b: b"",
    ],
)
def test_decode_detects_damage(damage):
    with pytest.raises(CorruptEntryError):
        decode_entry(damage(encode_entry(sample_entry(b"0123456789" * 10))))


# -- transport: hits, expiry, revalidation -----------------------------------------------------


def test_hit_serves_from_disk(cache, server):
    with client_for(cache, server) as client:
        first = client.get(URL, headers={"Accept": V1})
        second = client.get(URL, headers={"Accept": V1})
    assert server.count == 1
    assert (state(first), state(second)) == ("miss", "hit")
    assert second.content == first.content
    assert second.headers["content-type"] == "application/json"
    assert second.extensions[CACHE_KEY_EXTENSION] == first.extensions[CACHE_KEY_EXTENSION]
    assert first.extensions[CACHE_KEY_EXTENSION] == cache_key("GET", URL, accept=V1, identity=ALICE)


def test_expiry_refetches(cache, server, clock):
    with client_for(cache, server) as client:
        client.get(URL)
        clock.now += 59
        assert state(client.get(URL)) == "hit"
        clock.now += 2
        assert state(client.get(URL)) == "miss"
        assert state(client.get(URL)) == "hit"
    assert server.count == 2


def test_304_revalidation_reuses_body(cache, clock):
    def respond(request):
        if request.headers.get("if-none-match") == '"v1"':
            return httpx.Response(
                304,
                headers={
                    "ETag": '"v1"',
                    "Date": http_date(clock.now),
                    "Expires": http_date(clock.now + 60),
                },
            )
        return httpx.Response(
            200,
            headers={
                "ETag": '"v1"',
                "Date": http_date(clock.now),
                "Expires": http_date(clock.now + 60),
                "Content-Type": "application/json",
            },
            content=b'{"content": {"id": 1}}',
        )

    server = Server(clock, respond)
    with client_for(cache, server) as client:
        first = client.get(URL)
        clock.now += 120
        second = client.get(URL)
        third = client.get(URL)  # the 304 renewed the lifetime
    assert [state(first), state(second), state(third)] == ["miss", "revalidated", "hit"]
    assert server.count == 2
    assert "if-none-match" not in server.requests[0].headers
    assert server.requests[1].headers["if-none-match"] == '"v1"'
    assert second.status_code == 200
    assert second.content == third.content == b'{"content": {"id": 1}}'
    assert second.headers["content-type"] == "application/json"


def test_stale_entry_with_etag_is_stored_even_when_expired(cache, clock):
    """Loket details: Expires in the past but an ETag — every request revalidates."""

    def respond(request):
        if request.headers.get("if-none-match") == '"v7"':
            return httpx.Response(
                304, headers={"ETag": '"v7"', "Expires": http_date(clock.now - 1)}
            )
        return httpx.Response(
            200, headers={"ETag": '"v7"', "Expires": http_date(clock.now - 1)}, content=b"detail"
        )

    server = Server(clock, respond)
    with client_for(cache, server) as client:
        states = [state(client.get(URL)) for _ in range(3)]
        bodies = {client.get(URL).content}
    assert states == ["miss", "revalidated", "revalidated"]
    assert server.count == 4
    assert bodies == {b"detail"}


def test_last_modified_revalidation(cache, clock):
    lm = http_date(T0 - 3600)

    def respond(request):
        if request.headers.get("if-modified-since") == lm:
            return httpx.Response(304)
        return httpx.Response(200, headers={"Last-Modified": lm}, content=b"logo-bytes")

    server = Server(clock, respond)
    with client_for(cache, server) as client:
        client.get(URL)
        again = client.get(URL)
    assert state(again) == "revalidated" and again.content == b"logo-bytes"


def test_revalidation_200_replaces_entry(cache, clock):
    version = {"n": 1}

    def respond(request):
        etag = f'"v{version["n"]}"'
        if request.headers.get("if-none-match") == etag:
            return httpx.Response(304, headers={"ETag": etag})
        return httpx.Response(200, headers={"ETag": etag}, content=etag.encode())

    server = Server(clock, respond)
    with client_for(cache, server) as client:
        assert client.get(URL).content == b'"v1"'
        version["n"] = 2
        changed = client.get(URL)
        again = client.get(URL)
    assert state(changed) == "miss" and changed.content == b'"v2"'
    assert state(again) == "revalidated" and again.content == b'"v2"'
    assert server.requests[1].headers["if-none-match"] == '"v1"'
    assert server.requests[2].headers["if-none-match"] == '"v2"'


def test_server_error_on_revalidation_keeps_entry(cache, clock):
    calls = {"n": 0}

    def respond(request):
        calls["n"] += 1
        if calls["n"] == 2:
            return httpx.Response(503)
        if request.headers.get("if-none-match"):
            return httpx.Response(304)
        return httpx.Response(200, headers={"ETag": '"a"'}, content=b"body")

    with client_for(cache, Server(clock, respond)) as client:
        client.get(URL)
        assert client.get(URL).status_code == 503
        assert state(client.get(URL)) == "revalidated"


def test_identity_separation(cache, server):
    with client_for(cache, server, ALICE) as alice, client_for(cache, server, BOB) as bob:
        a = alice.get(URL)
        b = bob.get(URL)
        assert state(a) == state(b) == "miss"
        assert state(alice.get(URL)) == "hit" and state(bob.get(URL)) == "hit"
    assert server.count == 2
    assert a.extensions[CACHE_KEY_EXTENSION] != b.extensions[CACHE_KEY_EXTENSION]


def test_the_identity_a_request_carries_wins(cache, server):
    """The auth layer names who is asking on each request; a new login changes the keys of the
    requests after it, without the transport asking anyone."""
    transport = CacheTransport(httpx.MockTransport(server.handler), cache=cache)
    with httpx.Client(transport=transport) as client:
        as_alice = {IDENTITY: ALICE}
        client.get(URL, extensions=as_alice)
        assert state(client.get(URL, extensions=as_alice)) == "hit"
        assert state(client.get(URL, extensions={IDENTITY: BOB})) == "miss"  # someone else
        with pytest.raises(ConfigurationError, match="who is asking"):
            client.get(URL)  # nobody named, and no identity given to the transport
    assert server.count == 2


def test_accept_version_separation(cache, server):
    with client_for(cache, server) as client:
        old = client.get(URL, headers={"Accept": V1})
        new = client.get(URL, headers={"Accept": V2})
        assert state(client.get(URL, headers={"Accept": V2})) == "hit"
        again = client.get(URL, headers={"Accept": V1})
    assert server.count == 2
    assert state(new) == "miss"
    assert b"2018-01-01" in old.content and b"2021-03-29" in new.content
    assert again.content == old.content


def test_query_order_normalisation(cache, server):
    with client_for(cache, server) as client:
        client.get(URL, params={"pageNumber": 2, "pageSize": 250, "filter": "x eq 1"})
        hit = client.get(URL + "?filter=x%20eq%201&pageSize=250&pageNumber=2")
        other = client.get(URL, params={"pageNumber": 3, "pageSize": 250, "filter": "x eq 1"})
    assert state(hit) == "hit" and state(other) == "miss"
    assert server.count == 2


def test_not_stored_no_store_past_expires_and_errors(cache, clock):
    for headers, status in [
        ({"Cache-Control": "no-store, max-age=600", "ETag": '"x"'}, 200),
        ({"Expires": http_date(T0 - 10), "Date": http_date(T0)}, 200),  # Loket's usual answer
        ({"Expires": "0"}, 200),
        ({"Cache-Control": "max-age=600"}, 404),
        ({"Cache-Control": "max-age=600"}, 500),
    ]:
        server = Server(
            clock, lambda r, h=headers, s=status: httpx.Response(s, headers=h, content=b"x")
        )
        with client_for(cache, server) as client:
            assert [state(client.get(URL)) for _ in range(2)] == ["miss", "miss"], headers
        assert server.count == 2
    assert cache.info()["entries"] == 0


def test_request_no_cache_revalidates(cache, clock):
    server = Server(clock)
    server.respond = server.fresh_for(600, ETag='"e"')
    with client_for(cache, server) as client:
        client.get(URL)
        forced = client.get(URL, headers={"Cache-Control": "no-cache"})
    assert server.count == 2
    assert server.requests[1].headers["if-none-match"] == '"e"'
    assert state(forced) == "miss"  # this server ignores validators and answers 200


def test_non_get_passes_through_and_user_conditionals_bypass(cache, server):
    with client_for(cache, server) as client:
        post = client.post(URL, json={"items": []})
        assert state(post) == "miss"
        client.get(URL)
        own = client.get(URL, headers={"If-None-Match": '"mine"'})
        assert state(own) == "miss"
    assert server.count == 3
    assert cache.info()["entries"] == 1


def test_gzip_body_is_stored_decoded(cache, clock):
    payload = b'{"_embedded": []}' * 50

    def respond(request):
        return httpx.Response(
            200,
            headers={"Content-Encoding": "gzip", "Cache-Control": "max-age=60"},
            content=gzip.compress(payload),
        )

    with client_for(cache, Server(clock, respond)) as client:
        first = client.get(URL)
        second = client.get(URL)
    assert first.content == second.content == payload
    assert state(second) == "hit"
    assert "content-encoding" not in second.headers


# -- secrets and pickles -----------------------------------------------------------------------

TOKEN = "tok-3b1f9e0a7c5d4e2f8a6b"
API_KEY = "key-9d8c7b6a5f4e3d2c1b0a"


def noise(size: int, seed: int = 7) -> bytes:
    """Bytes that do not compress: stored as they are (a file once 32 kB or more)."""
    return random.Random(seed).randbytes(size)


def all_bytes(directory: Path) -> list[tuple[Path, bytes]]:
    return [(p, p.read_bytes()) for p in directory.rglob("*") if p.is_file()]


def test_no_secret_on_disk(cache, clock):
    def respond(request):
        assert request.headers["authorization"] == f"Bearer {TOKEN}"
        # inline, file-backed and compressed values
        path = request.url.path
        body = noise(100_000) if "big" in path else b"x" * (100_000 if "zip" in path else 100)
        return httpx.Response(
            200,
            headers={
                "Cache-Control": "max-age=60",
                "ETag": '"e"',
                "Set-Cookie": f"session={TOKEN}",
                "api-key": API_KEY,
            },
            content=body,
        )

    headers = {"Authorization": f"Bearer {TOKEN}", "api-key": API_KEY, "Cookie": f"c={TOKEN}"}
    with client_for(cache, Server(clock, respond)) as client:
        for path in ("/small", "/big", "/zip"):
            client.get(
                URL + path, headers=headers, params={"access_token": TOKEN, "api_key": API_KEY}
            )
            assert (
                state(
                    client.get(
                        URL + path,
                        headers=headers,
                        params={"access_token": TOKEN, "api_key": API_KEY},
                    )
                )
                == "hit"
            )
    cache.close()
    files = all_bytes(cache.directory)
    assert any(p.suffix == ".val" for p, _ in files)  # the big body went to a file
    for path, data in files:
        for secret in (TOKEN, API_KEY):
            assert secret.encode() not in data, f"{secret} found in {path}"
    assert b"access_token=***" in b"".join(d for _, d in files)  # the URL is kept redacted


def scan_cache_table(directory: Path) -> list[tuple]:
    with sqlite3.connect(directory / "cache.db") as db:
        return db.execute("SELECT key, raw, mode, typeof(key), typeof(value) FROM Cache").fetchall()


def test_no_pickled_values(cache, clock):
    server = Server(clock)
    with client_for(cache, server) as client:
        response = client.get(URL + "/small")
        client.get(URL + "/big", params={"pad": "y" * 10})
    cache.set_extra(response.extensions[CACHE_KEY_EXTENSION], "arrow", b"\x00arrow")
    rows = scan_cache_table(cache.directory)
    assert len(rows) == 3
    for _key, raw, mode, key_type, value_type in rows:
        assert raw == 1 and key_type == "text"
        assert mode in (diskcache.core.MODE_RAW, diskcache.core.MODE_BINARY)
        assert mode != diskcache.core.MODE_PICKLE
        assert value_type in ("blob", "null")
    with pytest.raises(TypeError):
        cache._cache.set("k", {"a": 1})  # the disk refuses to pickle
    with pytest.raises(TypeError):
        cache._cache.set(("tuple", "key"), b"v")


class Planted:
    """A pickle that creates a file when loaded."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


def test_planted_pickle_is_refused_not_unpickled(cache, server, tmp_path):
    marker = tmp_path / "pwned"
    key = cache_key("GET", URL, accept=V1, identity=ALICE)
    with diskcache.Cache(str(cache.directory)) as plain:  # the default, pickling Disk
        plain.set(key, Planted(str(marker)))
    assert any(row[2] == diskcache.core.MODE_PICKLE for row in scan_cache_table(cache.directory))
    with client_for(cache, server) as client, pytest.warns(CacheWarning, match="corrupt"):
        response = client.get(URL, headers={"Accept": V1})
    assert not marker.exists()
    assert state(response) == "miss" and server.count == 1
    assert all(row[2] != diskcache.core.MODE_PICKLE for row in scan_cache_table(cache.directory))


def test_planted_pickle_would_have_run(tmp_path):
    """Control for the test above: diskcache's default Disk does execute the payload."""
    marker = tmp_path / "ran"
    with diskcache.Cache(str(tmp_path / "plain")) as plain:
        plain.set("k", Planted(str(marker)))
        plain.get("k").close()
    assert marker.exists()


# -- tampering ---------------------------------------------------------------------------------


def damage_sqlite_value(directory: Path, how: Callable[[bytes], bytes]) -> None:
    with sqlite3.connect(directory / "cache.db") as db:
        ((rowid, value),) = db.execute(
            "SELECT rowid, value FROM Cache WHERE value IS NOT NULL"
        ).fetchall()
        db.execute("UPDATE Cache SET value = ? WHERE rowid = ?", (how(bytes(value)), rowid))


@pytest.mark.parametrize(
    "how", [lambda b: b[:-3], lambda b: b[:-1] + bytes([b[-1] ^ 0x20])], ids=["truncate", "flip"]
)
@pytest.mark.parametrize(
    "body",
    [b"a" * 100, noise(100_000), b"a" * 100_000],
    ids=["inline", "file", "compressed"],
)
def test_tampered_entry_is_dropped_and_refetched(cache, clock, how, body):
    server = Server(
        clock,
        lambda r: httpx.Response(200, headers={"Cache-Control": "max-age=60"}, content=body),
    )
    with client_for(cache, server) as client:
        client.get(URL)
        cache.flush()  # responses are written in the background
        files = list(cache.directory.rglob("*.val"))
        if len(body) < 2**15 or body[:1000] == body[1000:2000]:
            assert not files  # small or compressed: in the SQLite index
            damage_sqlite_value(cache.directory, how)
        else:
            (val,) = files
            val.write_bytes(how(val.read_bytes()))
        with pytest.warns(CacheWarning, match="corrupt"):
            refetched = client.get(URL)
        assert state(refetched) == "miss" and refetched.content == body
        assert state(client.get(URL)) == "hit"
    assert server.count == 2


def test_big_repetitive_bodies_are_stored_compressed(cache, clock):
    body = (
        b'{"result":[' + b",".join(b'{"id":%d,"status":"success"}' % i for i in range(5000)) + b"]}"
    )
    server = Server(
        clock,
        lambda r: httpx.Response(200, headers={"Cache-Control": "max-age=60"}, content=body),
    )
    with client_for(cache, server) as client:
        assert client.get(URL).content == body
        hit = client.get(URL)
    cache.flush()
    assert state(hit) == "hit" and hit.content == body
    with sqlite3.connect(cache.directory / "cache.db") as db:
        ((stored,),) = db.execute("SELECT value FROM Cache WHERE value IS NOT NULL").fetchall()
    assert len(stored) < len(body) / 4  # an LZ4 block, in the index rather than a file
    assert b'"codec":"lz4"' in bytes(stored)
    assert not list(cache.directory.rglob("*.val"))
    assert server.count == 1


def test_missing_value_file_is_a_plain_miss(cache, clock):
    server = Server(
        clock,
        lambda r: httpx.Response(
            200, headers={"Cache-Control": "max-age=60"}, content=noise(100_000)
        ),
    )
    with client_for(cache, server) as client:
        client.get(URL)
        cache.flush()
        vals = list(cache.directory.rglob("*.val"))
        assert vals
        for val in vals:
            val.unlink()
        assert state(client.get(URL)) == "miss"
    assert server.count == 2


# -- the folder --------------------------------------------------------------------------------


@pytest.mark.skipif(os.name == "nt", reason="POSIX permissions")
def test_folder_created_private(tmp_path):
    target = tmp_path / "deep" / "cache"
    with DiskCache(target):
        pass
    assert stat.S_IMODE(target.stat().st_mode) == 0o700


@pytest.mark.skipif(os.name == "nt", reason="POSIX permissions")
def test_a_folder_the_toolkit_made_is_tightened_with_warning(tmp_path):
    target = tmp_path / "made"
    with DiskCache(target):
        pass
    target.chmod(0o755)  # opened up by someone since
    with pytest.warns(CacheWarning, match="tightened"), DiskCache(target) as again:
        assert again.directory == target
    assert stat.S_IMODE(target.stat().st_mode) == 0o700


@pytest.mark.skipif(os.name == "nt", reason="POSIX permissions")
def test_a_folder_of_the_users_keeps_its_mode_and_gets_a_private_subfolder(tmp_path):
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o755)
    (shared / "notes.txt").write_text("mine")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing to warn about: nothing of theirs is touched
        with DiskCache(shared) as cache:
            assert cache.directory == shared / "loketvalinso-cache"
    assert stat.S_IMODE(shared.stat().st_mode) == 0o755
    assert sorted(p.name for p in shared.iterdir()) == ["loketvalinso-cache", "notes.txt"]
    assert stat.S_IMODE((shared / "loketvalinso-cache").stat().st_mode) == 0o700
    # an empty folder that is private already is used as it is
    empty = tmp_path / "empty"
    empty.mkdir(mode=0o700)
    with DiskCache(empty) as cache:
        assert cache.directory == empty


def test_default_directory_is_user_cache_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_directory() == tmp_path / "xdg" / "loketvalinso"
    with DiskCache() as c:
        assert c.directory == tmp_path / "xdg" / "loketvalinso"
    assert (tmp_path / "xdg" / "loketvalinso" / "cache.db").exists()


def test_bad_arguments(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(ConfigurationError, match="not a folder"):
        DiskCache(tmp_path / "file")
    with pytest.raises(ConfigurationError, match="size_limit"):
        DiskCache(tmp_path / "c", size_limit=0)
    with DiskCache(tmp_path / "c") as c:
        with pytest.raises(ConfigurationError, match="identity"):
            CacheTransport(httpx.MockTransport(exploding), cache=c, identity="")
        with pytest.raises(ConfigurationError, match="extra names"):
            c.get_extra("k", "../etc")


# -- offline -----------------------------------------------------------------------------------


def fill(directory: Path, clock: Clock, *, seconds: float = 60) -> Server:
    server = Server(clock)
    server.respond = server.fresh_for(seconds)
    with DiskCache(directory, clock=clock) as online, client_for(online, server) as client:
        client.get(URL, headers={"Accept": V2})
    return server


def test_offline_hit(tmp_path, clock):
    fill(tmp_path / "c", clock)
    with (
        DiskCache(tmp_path / "c", offline=True, clock=clock) as off,
        client_for(off, exploding) as client,
        warnings.catch_warnings(),
    ):
        warnings.simplefilter("error", LoketValinsoWarning)
        response = client.get(URL, headers={"Accept": V2})
    assert state(response) == "hit" and b"2021-03-29" in response.content


def test_offline_stale_warns_with_age(tmp_path, clock):
    fill(tmp_path / "c", clock)
    clock.now += 3 * 3600 + 120
    with (
        DiskCache(tmp_path / "c", offline=True, clock=clock) as off,
        client_for(off, exploding) as client,
        pytest.warns(CacheWarning, match=r"stale.*3 h 2 min old"),
    ):
        response = client.get(URL, headers={"Accept": V2})
    assert state(response) == "stale" and response.status_code == 200


def test_offline_miss_names_redacted_url_and_fix(tmp_path, clock):
    fill(tmp_path / "c", clock)
    with (
        DiskCache(tmp_path / "c", offline=True, clock=clock) as off,
        client_for(off, exploding) as client,
    ):
        with pytest.raises(CacheMissError) as info:
            client.get(URL, headers={"Accept": V1}, params={"api_key": API_KEY})
        with pytest.raises(CacheMissError, match="only answers GET"):
            client.post(URL)
    text = str(info.value)
    assert API_KEY not in text
    assert "/v2/providers/employers" in text and "offline=False" in text


def test_keep_unreusable_serves_offline_only(tmp_path, clock):
    server = Server(
        clock,
        lambda r: httpx.Response(
            200,
            headers={"Expires": http_date(clock.now - 1), "Date": http_date(clock.now)},
            content=b"list-page",
        ),
    )
    with (
        DiskCache(tmp_path / "c", clock=clock, keep_unreusable=True) as c,
        client_for(c, server) as client,
    ):
        assert [state(client.get(URL)) for _ in range(2)] == ["miss", "miss"]
        assert c.info()["entries"] == 1
    with (
        DiskCache(tmp_path / "c", offline=True, clock=clock) as off,
        client_for(off, exploding) as client,
        pytest.warns(CacheWarning, match="stale"),
    ):
        assert client.get(URL).content == b"list-page"


# -- extras ------------------------------------------------------------------------------------


def test_extras_follow_their_entry(cache, clock):
    body = {"v": b"one"}

    def respond(request):
        etag = '"' + body["v"].decode() + '"'
        if request.headers.get("if-none-match") == etag:
            return httpx.Response(304, headers={"ETag": etag})
        return httpx.Response(200, headers={"ETag": etag}, content=body["v"])

    with client_for(cache, Server(clock, respond)) as client:
        key = client.get(URL).extensions[CACHE_KEY_EXTENSION]
        assert cache.get_extra(key, "arrow") is None
        assert cache.set_extra(key, "arrow", b"ARROW-1")
        assert cache.get_extra(key, "arrow") == b"ARROW-1"
        assert cache.get_extra(key, "other") is None
        assert state(client.get(URL)) == "revalidated"
        assert cache.get_extra(key, "arrow") == b"ARROW-1"  # same body after a 304
        # a fresh instance (no memory of this process) agrees
        with DiskCache(cache.directory, clock=clock) as again:
            assert again.get_extra(key, "arrow") == b"ARROW-1"
        body["v"] = b"two"
        assert client.get(URL).content == b"two"
        assert cache.get_extra(key, "arrow") is None  # dropped with the old body
        assert cache.info()["extras"] == 0
        assert cache.set_extra(key, "arrow", b"ARROW-2")
    assert cache.delete(key)
    assert cache.get_extra(key, "arrow") is None
    assert cache.info()["extras"] == 0
    assert not cache.set_extra(key, "arrow", b"orphan")


def test_an_extra_given_in_pieces_is_stored_as_if_joined(cache, server, monkeypatch):
    """Pieces are written one after the other (a big blob is never joined in memory); what is
    read back, by this cache or a fresh one, is their concatenation, checked as a whole."""
    from loketvalinso._transport.entries import PiecesReader, SafeDisk

    with client_for(cache, server) as client:
        key = client.get(URL).extensions[CACHE_KEY_EXTENSION]
    stored = spy_on(monkeypatch, SafeDisk, "store")
    pieces = [b"head", b"", bytearray(b"A" * 40_000), memoryview(b"B" * 30_000), b"tail"]
    whole = b"".join(bytes(p) for p in pieces)
    assert cache.set_extra(key, "listing", pieces)
    assert [type(value) for value, read in stored if read] == [PiecesReader]
    assert cache.get_extra(key, "listing") == whole
    with DiskCache(cache.directory, clock=cache.clock) as again:
        view = again.get_extra_view(key, "listing")
        assert view is not None and bytes(view) == whole
    # small pieces are joined and kept in the SQLite row, like a small blob
    stored.clear()
    assert cache.set_extra(key, "small", (b"ab", b"cd"))
    assert [read for _, read in stored] == [False]
    assert cache.get_extra(key, "small") == b"abcd"
    # a piece cut short on disk is caught by the blob's checksum
    [(name,)] = sqlite3.connect(cache.directory / "cache.db").execute(
        "SELECT filename FROM Cache WHERE key LIKE 'x/%' AND filename IS NOT NULL"
    )
    path = cache.directory / name
    path.write_bytes(path.read_bytes()[:-1] + b"!")
    with pytest.warns(CacheWarning, match="corrupt"):
        assert cache.get_extra(key, "listing") is None


@pytest.mark.parametrize("data", [["text"], [b"ok", 3], 5, "text", None])
def test_extra_data_that_is_not_bytes_is_refused(cache, server, data):
    with client_for(cache, server) as client:
        key = client.get(URL).extensions[CACHE_KEY_EXTENSION]
    with pytest.raises(ConfigurationError, match="extra data must be bytes"):
        cache.set_extra(key, "arrow", data)


def test_pieces_reader_hands_out_its_pieces_in_order():
    from loketvalinso._transport.entries import PiecesReader

    reader = PiecesReader([b"abc", b"", b"defgh", b"i"])
    assert reader.read(2) == b"ab"  # never more than asked for
    assert reader.read(10) == b"c"
    assert reader.read() == b"defgh"
    assert reader.read(1) == b"i"
    assert reader.read(5) == b""
    assert reader.read() == b""


def test_the_safe_disk_reads_no_other_file(cache):
    import io

    with pytest.raises(TypeError, match="bytes/str/int/float"):
        cache._cache.set("k", io.BytesIO(b"x" * 100_000), read=True)


def test_corrupt_extra_is_dropped(cache, server):
    with client_for(cache, server) as client:
        key = client.get(URL).extensions[CACHE_KEY_EXTENSION]
    cache.set_extra(key, "arrow", b"ARROW" * 10)
    with sqlite3.connect(cache.directory / "cache.db") as db:
        db.execute(
            "UPDATE Cache SET value = substr(value, 1, length(value) - 2) WHERE key LIKE 'x/%'"
        )
    with pytest.warns(CacheWarning, match="corrupt"):
        assert cache.get_extra(key, "arrow") is None
    assert cache.info()["extras"] == 0


# -- size, info, clear -------------------------------------------------------------------------


def test_size_limit_evicts_without_errors(tmp_path, clock):
    server = Server(
        clock,
        lambda r: httpx.Response(
            200, headers={"Cache-Control": "max-age=600"}, content=noise(40_000)
        ),
    )
    with (
        DiskCache(tmp_path / "c", size_limit=400_000, clock=clock) as c,
        client_for(c, server) as client,
        warnings.catch_warnings(),
    ):
        warnings.simplefilter("error", LoketValinsoWarning)
        for i in range(40):
            assert client.get(f"{URL}/{i}").status_code == 200
        info = c.info()
        assert 5 <= info["entries"] < 12
        assert info["size_bytes"] < 500_000
        assert state(client.get(f"{URL}/39")) == "hit"
        assert state(client.get(f"{URL}/0")) == "miss"  # evicted


def test_info_clear_and_cli_helpers(tmp_path, clock):
    missing = tmp_path / "nothing-here"
    assert cache_info(missing) == {
        "directory": str(missing),
        "exists": False,
        "entries": 0,
        "extras": 0,
        "size_bytes": 0,
        "size_limit": None,
        "offline": False,
        "problem": None,
    }
    assert cache_clear(missing) == 0
    assert not missing.exists()

    directory = tmp_path / "c"
    server = Server(clock)
    with (
        DiskCache(directory, size_limit=12_345_678, clock=clock) as c,
        client_for(c, server) as client,
    ):
        for i in range(3):
            client.get(f"{URL}/{i}")
    info = cache_info(directory)
    assert info["exists"] and info["entries"] == 3 and info["size_bytes"] > 0
    assert info["size_limit"] == 12_345_678  # the folder's own setting is kept
    assert info["directory"] == str(directory)
    assert cache_clear(directory) == 3
    assert cache_info(directory)["entries"] == 0


# -- two processes -----------------------------------------------------------------------------

N_URLS = 24


def expected_body(path: str) -> bytes:
    n = int(path.rsplit("/", 1)[1])
    return (f"{path}|".encode()) * (5 if n % 2 else 3000)  # small (inline) and big (file) values


def _worker(directory: str, order: int, queue, barrier) -> None:
    try:
        barrier.wait(timeout=30)
        calls = []

        def handler(request):
            calls.append(request.url.path)
            return httpx.Response(
                200,
                headers={"Cache-Control": "max-age=3600"},
                content=expected_body(request.url.path),
            )

        paths = [f"/v2/item/{i}" for i in range(N_URLS)]
        if order:
            paths.reverse()
        bad = []
        with DiskCache(directory) as c, client_for(c, handler) as client:
            for _ in range(3):
                for path in paths:
                    response = client.get("https://api.example" + path)
                    if response.content != expected_body(path):
                        bad.append(path)
        queue.put((order, len(calls), bad, None))
    except BaseException as exc:  # report, don't hang the parent
        queue.put((order, -1, [], repr(exc)))


def test_two_processes_share_one_folder(tmp_path):
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    barrier = ctx.Barrier(2)  # start together, so the two really overlap
    procs = [
        ctx.Process(target=_worker, args=(str(tmp_path / "c"), i, queue, barrier)) for i in (0, 1)
    ]
    for p in procs:
        p.start()
    results = sorted(queue.get(timeout=60) for _ in procs)
    for p in procs:
        p.join(timeout=30)
        assert p.exitcode == 0
    for _order, calls, bad, error in results:
        assert error is None, error
        assert bad == []
        assert 1 <= calls <= N_URLS  # never more than one fetch per URL per process
    with DiskCache(tmp_path / "c") as c:
        assert c.info()["entries"] == N_URLS
        with client_for(c, exploding) as client:
            for i in range(N_URLS):
                path = f"/v2/item/{i}"
                assert client.get("https://api.example" + path).content == expected_body(path)


def test_body_digest_extension_and_fresh_digest(cache, server, clock):
    """Stored and served responses carry their body's sha256; ``fresh_digest`` reads only the
    header and says None once the entry is stale."""
    import hashlib

    from loketvalinso._transport.extensions import BODY_SHA256 as CACHE_BODY_EXTENSION

    with client_for(cache, server) as client:
        miss = client.get(URL)
        hit = client.get(URL)
    digest = hashlib.sha256(miss.content).hexdigest()
    assert miss.extensions[CACHE_BODY_EXTENSION] == digest == hit.extensions[CACHE_BODY_EXTENSION]
    key = hit.extensions[CACHE_KEY_EXTENSION]
    assert cache.fresh_digest(key) == digest
    assert cache.fresh_digest("0" * 64) is None
    # the extra API can be tied to that body
    assert cache.set_extra(key, "arrow", b"A" * 100_000, entry_sha256=digest)
    assert not cache.set_extra(key, "arrow", b"B", entry_sha256="f" * 64)
    view = cache.get_extra_view(key, "arrow", entry_sha256=digest)
    assert view is not None and bytes(view) == b"A" * 100_000
    assert cache.get_extra(key, "arrow", entry_sha256="f" * 64) is None
    clock.now += 61
    assert cache.fresh_digest(key) is None


def test_refetch_extension_skips_the_stored_entry(cache, server):
    """A retry after a broken body (``loketvalinso.refetch``) goes to the origin, no 304."""
    with client_for(cache, server) as client:
        client.get(URL)
        assert server.count == 1
        again = client.get(URL, extensions={"loketvalinso.refetch": True})
    assert server.count == 2
    assert state(again) == "miss"
    assert "if-none-match" not in server.requests[-1].headers


def test_responses_are_written_in_the_background_and_read_back_at_once(tmp_path, clock):
    server = Server(
        clock,
        lambda r: httpx.Response(200, headers={"Cache-Control": "max-age=60"}, content=noise(50)),
    )
    cache = DiskCache(tmp_path / "c", clock=clock)
    with client_for(cache, server) as client:
        first = [client.get(f"{URL}/{i}") for i in range(20)]
        # answered from the cache at once, whether or not the writer got to them yet
        again = [client.get(f"{URL}/{i}") for i in range(20)]
    assert all(state(r) == "hit" for r in again) and server.count == 20
    assert [r.content for r in again] == [r.content for r in first]
    cache.close()  # writes whatever is still pending
    with DiskCache(tmp_path / "c", clock=clock) as reopened:
        assert reopened.info()["entries"] == 20
        for r in first:
            key = r.extensions[CACHE_KEY_EXTENSION]
            entry = reopened.get(key)
            assert entry is not None and entry.body == r.content


def test_pending_responses_reach_the_disk_when_the_process_exits(tmp_path):
    code = f"""
import httpx
from loketvalinso._transport.store import DiskCache
from loketvalinso._transport.cache import CacheTransport
cache = DiskCache({str(tmp_path / "c")!r})
inner = httpx.MockTransport(
    lambda r: httpx.Response(200, headers={{"Cache-Control": "max-age=600"}}, content=b"x" * 9000)
)
client = httpx.Client(transport=CacheTransport(inner, cache=cache, identity="who"))
for i in range(50):
    client.get(f"https://api.example/{{i}}")
# no close(), no flush(): the interpreter exits with writes pending
"""
    import subprocess
    import sys

    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
    with DiskCache(tmp_path / "c") as cache:
        assert cache.info()["entries"] == 50


def _spy_writes(monkeypatch) -> list[tuple[int, int]]:
    """``(loads in progress, entries written)`` of each transaction of pending entries."""
    from loketvalinso._transport.background import loads_in_progress

    writes: list[tuple[int, int]] = []
    original = DiskCache._write_pending

    def spying(self, limit=None):
        before = len(self._pending)
        original(self, limit)
        writes.append((loads_in_progress(), before - len(self._pending)))

    monkeypatch.setattr(DiskCache, "_write_pending", spying)
    return writes


def _on_disk(directory: Path) -> int:
    """Entries in the folder's SQLite file, read past every DiskCache of this process."""
    with diskcache.Cache(str(directory)) as raw:
        return len(raw)


def _get_pages(cache: DiskCache, server: Server, pages: int) -> None:
    """Request ``pages`` cacheable URLs through ``cache``."""
    with client_for(cache, server) as client:
        for i in range(pages):
            client.get(f"{URL}/{i}")


def _wait_until_on_disk(directory: Path, entries: int) -> int:
    """Entries on disk once there are ``entries`` of them, or after 20 s."""
    deadline = time.monotonic() + 20
    while _on_disk(directory) < entries and time.monotonic() < deadline:
        time.sleep(0.05)
    return _on_disk(directory)


@pytest.mark.timeout(60)
def test_pages_wait_for_the_load_and_are_served_meanwhile(tmp_path, clock, monkeypatch):
    from loketvalinso._transport.background import load_in_progress

    writes = _spy_writes(monkeypatch)
    server = Server(clock)
    cache = DiskCache(tmp_path / "c", clock=clock)
    with client_for(cache, server) as client:
        with load_in_progress():
            first = [client.get(f"{URL}/{i}").content for i in range(40)]
            time.sleep(0.3)  # time enough for a writer that did not wait
            assert writes == [] and _on_disk(tmp_path / "c") == 0
            # served from memory meanwhile, by this cache and by another one on the folder
            assert all(state(client.get(f"{URL}/{i}")) == "hit" for i in range(40))
            other = DiskCache(tmp_path / "c", clock=clock)
            with client_for(other, server) as second:
                again = [second.get(f"{URL}/{i}") for i in range(40)]
            assert all(state(r) == "hit" for r in again) and server.count == 40
            assert [r.content for r in again] == first
        from loketvalinso._transport.background import flush_background_writes

        flush_background_writes()
    assert sum(n for _, n in writes) == 40 and all(loads == 0 for loads, _ in writes)
    assert _on_disk(tmp_path / "c") == 40
    cache.close()
    other.close()


@pytest.mark.timeout(60)
def test_close_during_a_load_writes_everything_at_once(tmp_path, clock):
    from loketvalinso._transport.background import load_in_progress

    server = Server(clock)
    cache = DiskCache(tmp_path / "c", clock=clock)
    with load_in_progress():
        _get_pages(cache, server, 10)
        started = time.monotonic()
        cache.close()
        assert time.monotonic() - started < 20  # not held for the load (30 s)
        assert _on_disk(tmp_path / "c") == 10


@pytest.mark.timeout(60)
def test_an_entry_is_held_back_max_hold_seconds_in_all(tmp_path, clock, monkeypatch):
    """The hold counts from the oldest pending entry: once it is over, the writer writes the
    rest of a long load batch after batch instead of waiting MAX_HOLD_SECONDS again each time."""
    import loketvalinso._transport.background as cache_module
    from loketvalinso._transport.background import load_in_progress

    # long enough for the six requests below to be in before the first write
    monkeypatch.setattr(cache_module, "MAX_HOLD_SECONDS", 1.0)
    monkeypatch.setattr(cache_module, "WRITE_BATCH", 1)
    waits: list[tuple[float, bool]] = []
    original = cache_module.wait_until_quiet

    def recording(*, timeout, **kwargs):
        quiet = original(timeout=timeout, **kwargs)
        if sys._getframe(1).f_code.co_name == "_write_in_background":  # between transactions
            waits.append((timeout, quiet))
        return quiet

    monkeypatch.setattr(cache_module, "wait_until_quiet", recording)
    server = Server(clock)
    cache = DiskCache(tmp_path / "c", clock=clock)
    with load_in_progress():
        _get_pages(cache, server, 6)
        assert _wait_until_on_disk(tmp_path / "c", 6) == 6  # written during the load
    # one wait per transaction of one entry; after the first, the oldest entry has been held
    # for MAX_HOLD_SECONDS already, so none waits again
    assert len(waits) >= 6 and all(timeout <= 0 for timeout, _ in waits[1:])
    assert not any(quiet for _, quiet in waits)  # none of them saw the load end
    cache.close()


@pytest.mark.timeout(60)
@pytest.mark.parametrize("limit", ["bytes", "seconds"])
def test_the_writer_holds_back_only_so_much(tmp_path, clock, monkeypatch, limit):
    """Past MAX_HOLD_BYTES held, or after MAX_HOLD_SECONDS, pages are written during a load."""
    import loketvalinso._transport.background as cache_module
    from loketvalinso._transport.background import load_in_progress

    if limit == "bytes":
        monkeypatch.setattr(cache_module, "MAX_HOLD_BYTES", 2_000)
    else:
        monkeypatch.setattr(cache_module, "MAX_HOLD_SECONDS", 0.05)
    writes = _spy_writes(monkeypatch)
    server = Server(
        clock,
        lambda r: httpx.Response(200, headers={"Cache-Control": "max-age=60"}, content=noise(900)),
    )
    cache = DiskCache(tmp_path / "c", clock=clock)
    with load_in_progress():
        _get_pages(cache, server, 10)
        assert _wait_until_on_disk(tmp_path / "c", 10) == 10
    assert writes and all(loads == 1 for loads, _ in writes)
    assert not cache._pending  # nothing is held once written
    cache.close()


def test_a_failed_background_write_loses_only_the_copies(tmp_path, clock, monkeypatch):
    server = Server(
        clock,
        lambda r: httpx.Response(200, headers={"Cache-Control": "max-age=60"}, content=noise(90)),
    )
    cache = DiskCache(tmp_path / "c", clock=clock)

    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    import loketvalinso._transport.background as cache_module

    # a writer that has not got to them yet: all five still pending
    monkeypatch.setattr(cache_module, "submit_background_write", lambda write: None)
    with client_for(cache, server) as client:
        bodies = [client.get(f"{URL}/{i}").content for i in range(5)]
        assert all(state(client.get(f"{URL}/{i}")) == "hit" for i in range(5))  # from memory
        monkeypatch.setattr(cache._cache, "set", disk_full)
        with pytest.warns(CacheWarning, match=r"stopped working .*disk is full") as said:
            cache.close()
        assert len(said) == 1
        monkeypatch.undo()
        # the cache is off for the session: nothing half-written is served, the five are
        # fetched again with the same bytes, and no second warning comes
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            again = [client.get(f"{URL}/{i}") for i in range(5)]
    assert [r.content for r in again] == bodies
    assert all(state(r) == "miss" for r in again) and server.count == 10
    assert cache.failure is not None and "disk is full" in cache.failure
    cache.close()
    with DiskCache(tmp_path / "c", clock=clock) as reopened:
        assert reopened.info()["entries"] == 0  # none was written
        assert reopened.info()["problem"] is None  # a new session tries the folder again


# -- pages of a cold listing: one lookup for all ---------------------------------------------------


def test_sibling_pages_are_looked_up_in_one_query(tmp_path, clock, server, monkeypatch):
    """The pager sends the pages after a missed page 1 with a PageSiblings extension: the first
    of them to reach the cache asks SQLite once which pages it holds; absent pages skip their own
    lookup, a page the cache holds is still served from it."""
    from loketvalinso._transport.extensions import PAGE_SIBLINGS as PAGE_SIBLINGS_EXTENSION
    from loketvalinso._transport.extensions import PageSiblings

    cache = DiskCache(tmp_path / "c", clock=clock)
    pages = {i: f"{URL}?pageNumber={i}&pageSize=10" for i in range(2, 7)}
    with client_for(cache, server) as client:
        client.get(pages[4])  # page 4 is cached (fresh for 60 s)
    cache.flush()
    assert server.count == 1
    reads = spy_on(monkeypatch, DiskCache, "_fetch")
    siblings = PageSiblings([{"pageNumber": i} for i in pages])
    ext = {PAGE_SIBLINGS_EXTENSION: siblings}
    with client_for(cache, server) as client:
        answers = {i: client.get(url, extensions=ext) for i, url in pages.items()}
    assert siblings.absent is not None and len(siblings.absent) == 4  # all but page 4
    assert len(reads) == 1  # page 4's entry, read to be served
    assert state(answers[4]) == "hit" and all(state(answers[i]) == "miss" for i in (2, 3, 5, 6))
    assert [r.url.params["pageNumber"] for r in server.requests[1:]] == ["2", "3", "5", "6"]
    for i, answer in answers.items():
        assert json.loads(answer.content)["url"] == pages[i]
    cache.flush()
    with client_for(cache, exploding) as client:  # every page is stored now
        assert all(state(client.get(url)) == "hit" for url in pages.values())
    cache.close()


def test_a_page_pending_write_is_served_though_absent_on_disk(tmp_path, clock, server):
    """A key the one query found absent is still looked for among the entries not yet written."""
    from loketvalinso._transport.background import load_in_progress
    from loketvalinso._transport.extensions import PAGE_SIBLINGS as PAGE_SIBLINGS_EXTENSION
    from loketvalinso._transport.extensions import PageSiblings

    cache = DiskCache(tmp_path / "c", clock=clock)
    url = f"{URL}?pageNumber=2"
    siblings = PageSiblings([{"pageNumber": 2}])
    with load_in_progress(), client_for(cache, server) as client:  # held: nothing on disk yet
        first = client.get(url, extensions={PAGE_SIBLINGS_EXTENSION: siblings})
        again = client.get(url, extensions={PAGE_SIBLINGS_EXTENSION: siblings})
        assert siblings.absent is not None and len(siblings.absent) == 1
        assert state(first) == "miss" and state(again) == "hit" and server.count == 1
    cache.close()


def test_sibling_pages_looked_up_one_by_one_when_the_one_query_fails(
    tmp_path, clock, server, monkeypatch
):
    """The one query is an optimisation: when it fails, every page looks itself up, and the
    response is what it would have been."""
    from loketvalinso._transport.cache import CacheTransport
    from loketvalinso._transport.extensions import PAGE_SIBLINGS as PAGE_SIBLINGS_EXTENSION
    from loketvalinso._transport.extensions import PageSiblings

    cache = DiskCache(tmp_path / "c", clock=clock)
    with client_for(cache, server) as client:
        client.get(f"{URL}?pageNumber=2")

    def failing(self, request, page_params):
        raise RuntimeError("no keys today")

    monkeypatch.setattr(CacheTransport, "_find_absent", failing)
    siblings = PageSiblings([{"pageNumber": 2}])
    with client_for(cache, server) as client:
        answer = client.get(f"{URL}?pageNumber=2", extensions={PAGE_SIBLINGS_EXTENSION: siblings})
    assert siblings.absent == frozenset()
    assert state(answer) == "hit" and server.count == 1
    cache.close()
