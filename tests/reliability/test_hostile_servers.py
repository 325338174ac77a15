"""Hostile servers on loopback (raw sockets, :mod:`.hostile`): a body that trickles in, a gzip
bomb, a body cut short where its brackets still balance, bodies nested hundreds deep, repeated
keys, a field spelled two ways, a POST answered with HTML. Each test asserts on the exact rows or
on the error's class and text, and on what the server saw."""

from __future__ import annotations

import gzip
import tracemalloc
import warnings
import zlib
from collections.abc import Iterator

import orjson
import pytest

import loketvalinso as lv
from loketvalinso._transport.retry import RetryPolicy
from loketvalinso.errors import (
    CacheMissError,
    CacheWarning,
    LoketValinsoError,
    NetworkError,
    ResponseFormatError,
    ValidationError,
)

from .hostile import HostileServer, Request, head, trickle

pytestmark = [
    pytest.mark.timeout(60),
    # the bodies here carry a field or two: the drift report of what is missing is not the point
    pytest.mark.filterwarnings("ignore::loketvalinso.errors.SchemaDriftWarning"),
]

JSON = {"Content-Type": "application/json"}
API = "/api/head/valinso_api"
FAST = RetryPolicy(max_attempts=3, backoff_base=0.01, backoff_max=0.02)


def vends_body(items: list[dict], *, offset: int = 0, total: int | None = None) -> bytes:
    paging = {"total": len(items) if total is None else total, "offset": offset, "limit": 1000}
    return orjson.dumps({"code": 200, "result": items, "paging": paging})


def answer_with(body: bytes, *, status: int = 200, headers: dict | None = None) -> bytes:
    fields = {**JSON, "Content-Length": str(len(body)), **(headers or {})}
    return head(status, fields) + body


def valinso(server: HostileServer, **options) -> lv.Valinso:
    options.setdefault("cache", False)
    options.setdefault("progress", False)
    options.setdefault("retry", FAST)
    return lv.Valinso(api_key="hostile-test-key", base_url=server.url + API, **options)


VENDS = [
    {"id": i, "device_id": 3, "product_id": 7, "selection": "}}" if i == 1 else "A1", "price": 1.5}
    for i in range(1, 4)
]


# -- 2. a deadline, enforced while the body streams in ---------------------------------------------


def test_a_trickling_body_ends_at_the_deadline_without_a_retry():
    """Headers at once, then one byte a second: ``timeout=`` (per read) never fires."""
    body = vends_body(VENDS)

    def answer(request: Request) -> Iterator[bytes]:
        yield head(200, {**JSON, "Content-Length": str(len(body))})
        yield from trickle(body, every=1.0)

    with HostileServer(answer) as server:
        client = valinso(server, timeout=5, deadline=2.5)
        with pytest.raises(NetworkError) as info:
            client.vends()
        client.close()
    text = str(info.value)
    assert "no complete answer within deadline=2.5 s" in text and "pass a larger deadline=" in text
    assert "/vends" in text and "page: 1" in text
    assert len(server.requests) == 1  # a deadline passed is not retried
    sent_body = server.sent[0] - len(head(200, {**JSON, "Content-Length": str(len(body))}))
    assert 0 < sent_body < len(body)  # the client stopped reading part way
    assert client.last_load is not None and "deadline=2.5" in (client.last_load.error or "")


def test_the_deadline_bounds_the_retries_too():
    """A server that answers 503 at once: the retries stop at the deadline, not at the budget."""

    def answer(request: Request) -> Iterator[bytes]:
        yield answer_with(b'{"code":503,"result":"busy"}', status=503, headers={"Retry-After": "1"})

    policy = RetryPolicy(max_attempts=50, backoff_base=1.0, backoff_max=1.0, total_timeout=600)
    with HostileServer(answer) as server:
        client = valinso(server, retry=policy, deadline=2.2)
        with pytest.raises(LoketValinsoError, match="answered 503"):
            client.vends()
        client.close()
    assert 2 <= len(server.requests) <= 3  # one a second for 2.2 s, not 50


# -- 3. a cap on the decoded body ------------------------------------------------------------------


def _bomb(decoded: int) -> bytes:
    """A gzip body that expands to ``decoded`` bytes of JSON (mostly spaces)."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    out = [packer.compress(b'{"code":200,"result":[')]
    chunk = b" " * 2**20
    for _ in range(decoded // len(chunk)):
        out.append(packer.compress(chunk))
    out.append(packer.compress(b"]}"))
    out.append(packer.flush())
    return b"".join(out)


def test_a_gzip_bomb_stops_decompressing_at_the_cap():
    bomb = _bomb(64 * 2**20)  # 64 MiB of JSON in about 64 KB
    assert len(bomb) < 2**17
    assert zlib.decompressobj(31).decompress(bomb, 22) == b'{"code":200,"result":['

    def answer(request: Request) -> Iterator[bytes]:
        yield answer_with(bomb, headers={"Content-Encoding": "gzip"})

    with HostileServer(answer) as server:
        client = valinso(server, max_body_bytes=4 * 2**20)
        tracemalloc.start()
        try:
            with pytest.raises(ResponseFormatError) as info:
                client.vends()
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        client.close()
    text = str(info.value)
    assert "grew past 4,194,304 bytes (reading stopped there)" in text
    assert "max_body_bytes=" in text and "/vends" in text
    assert peak < 24 * 2**20, peak  # the 64 MiB were never made
    assert len(server.requests) == 1  # too big stays too big: no retry


def test_a_body_announced_too_big_is_refused_before_reading():
    def answer(request: Request) -> Iterator[bytes]:
        yield head(200, {**JSON, "Content-Length": str(10 * 2**30)})
        yield from trickle(b"[" * 100, every=0.01)

    with HostileServer(answer) as server:
        client = valinso(server)
        with pytest.raises(ResponseFormatError, match=r"announces 10,737,418,240 bytes"):
            client.vends()
        client.close()
    assert len(server.requests) == 1


def test_an_encoding_that_was_not_asked_for_is_refused():
    def answer(request: Request) -> Iterator[bytes]:
        assert request.headers["accept-encoding"] == "gzip, deflate"
        yield answer_with(b"\x1b\x00\x00", headers={"Content-Encoding": "br"})

    with HostileServer(answer) as server:
        client = valinso(server)
        with pytest.raises(ResponseFormatError, match=r"'br' encoding, which was not asked for"):
            client.vends()
        client.close()


@pytest.mark.parametrize("encoding", ["gzip", "deflate", "raw-deflate"])
def test_compressed_pages_load_exactly(encoding):
    body = vends_body(VENDS)
    if encoding == "gzip":
        packed, name = gzip.compress(body), "gzip"
    elif encoding == "deflate":
        packed, name = zlib.compress(body), "deflate"
    else:
        packer = zlib.compressobj(6, zlib.DEFLATED, -zlib.MAX_WBITS)
        packed, name = packer.compress(body) + packer.flush(), "deflate"

    def answer(request: Request) -> Iterator[bytes]:
        yield answer_with(packed, headers={"Content-Encoding": name})

    with HostileServer(answer) as server, valinso(server) as client:
        frame = client.vends()
    assert frame["id"].to_list() == [1, 2, 3] and frame["selection"].to_list() == ["}}", "A1", "A1"]


# -- 5. nothing truncated is stored ----------------------------------------------------------------


def _cut_where_braces_balance(body: bytes) -> bytes:
    """The longest proper prefix of ``body`` that ends with ``}`` and has as many ``{`` as ``}``
    (the string ``"}}"`` in an item makes up for the objects left open)."""
    for end in range(len(body) - 1, 0, -1):
        cut = body[:end]
        if cut.endswith(b"}") and cut.count(b"{") == cut.count(b"}"):
            return cut
    raise AssertionError("no such prefix")


def test_a_cut_body_whose_brackets_balance_is_refetched_and_never_stored(tmp_path):
    body = vends_body(VENDS)
    cut = _cut_where_braces_balance(body)
    assert len(cut) < len(body)
    fresh = {"Cache-Control": "max-age=600"}

    def answer(request: Request) -> Iterator[bytes]:
        # the first answer is cut short, with a Content-Length that matches (a proxy's doing)
        yield answer_with(cut if len(server.requests) == 1 else body, headers=fresh)

    with HostileServer(answer) as server:
        with valinso(server, cache=tmp_path / "c") as client:
            frame = client.vends()
            assert frame["id"].to_list() == [1, 2, 3]
            assert client.last_load is not None and client.last_load.retries == 1
        assert len(server.requests) == 2
        assert server.requests[1].headers.get("cache-control") == "no-cache"
        # the cache holds the whole body: a new client is served from it, asking nothing
        with valinso(server, cache=tmp_path / "c") as again:
            assert again.vends()["selection"].to_list() == ["}}", "A1", "A1"]
            assert again.last_load is not None and again.last_load.cache_hits == 1
        assert len(server.requests) == 2


def test_a_stored_body_that_does_not_decode_is_dropped_and_fetched_again(tmp_path):
    """A whole JSON body without the envelope, stored as fresh: the next load warns, fetches
    it again from the origin and stores the good one."""
    good = vends_body(VENDS)
    bad = b'{"code":200,"note":"no result here"}'
    fresh = {"Cache-Control": "max-age=600"}

    def answer(request: Request) -> Iterator[bytes]:
        yield answer_with(bad if len(server.requests) == 1 else good, headers=fresh)

    with HostileServer(answer) as server:
        with valinso(server, cache=tmp_path / "c") as client:
            with pytest.raises(ResponseFormatError, match="has no result"):
                client.vends()  # the origin said so: not asked again
            assert len(server.requests) == 1
            with pytest.warns(CacheWarning, match="cached response does not decode"):
                frame = client.vends()
        assert frame["id"].to_list() == [1, 2, 3]
        assert len(server.requests) == 2
        assert server.requests[1].headers.get("cache-control") == "no-cache"
        with valinso(server, cache=tmp_path / "c") as again:
            assert again.vends()["id"].to_list() == [1, 2, 3]
        assert len(server.requests) == 2  # the good body replaced the bad one


def test_offline_a_stored_body_that_does_not_decode_is_dropped(tmp_path):
    bad = b'{"code":200,"note":"no result here"}'

    def answer(request: Request) -> Iterator[bytes]:
        yield answer_with(bad, headers={"Cache-Control": "max-age=600"})

    with HostileServer(answer) as server:
        with valinso(server, cache=tmp_path / "c") as client, pytest.raises(ResponseFormatError):
            client.vends()
        offline = valinso(server, cache=tmp_path / "c", offline=True)
        with (
            pytest.warns(CacheWarning, match="does not decode"),
            pytest.raises(CacheMissError, match="damaged and has been dropped; go online"),
        ):
            offline.vends()
        with pytest.raises(CacheMissError, match="nothing is cached"):
            offline.vends()  # it is gone
        offline.close()
    assert len(server.requests) == 1


# -- 8. bodies nested hundreds deep, a POST answered with HTML -------------------------------------


def _nested(depth: int) -> bytes:
    return b'{"a":' * depth + b"1" + b"}" * depth


@pytest.mark.parametrize("depth", [300, 1000, 5000])
def test_deeply_nested_bodies_end_in_the_error_tree(depth):
    nested = _nested(depth)
    bodies = {
        "/vends": b'{"code":200,"result":[{"id":1,"x":%s}],"paging":{"total":1,"offset":0,"limit":1000}}'
        % nested,
        "/gadgets": b'{"code":200,"result":[{"id":1,"x":%s}]}' % nested,
        "/broken": b'{"code":400,"result":%s}' % nested,
    }

    def answer(request: Request) -> Iterator[bytes]:
        path = request.path.removeprefix(API)
        yield answer_with(bodies[path], status=400 if path == "/broken" else 200)

    with HostileServer(answer) as server, valinso(server) as client:
        outcomes = {}
        for name, call in {
            "vends": client.vends,
            "get": lambda: client.get("/gadgets"),
            "error": lambda: client.get("/broken"),
            "post": lambda: client.post("/gadgets", {}),
        }.items():
            try:
                result = call()
            except LoketValinsoError as exc:
                outcomes[name] = type(exc).__name__
            else:
                outcomes[name] = "ok"
                if name in ("vends", "get"):
                    # kept as JSON text when it can be written back, whole
                    assert orjson.loads(result["x"][0]) == orjson.loads(nested)
    if depth == 300:  # deeper than orjson writes (255): written back by the standard library
        assert outcomes == {"vends": "ok", "get": "ok", "error": "BadRequestError", "post": "ok"}
    elif depth == 1000:  # read, but too deep to keep as text: a clear error, not a crash
        assert outcomes == {
            "vends": "ResponseFormatError",
            "get": "ResponseFormatError",
            "error": "BadRequestError",
            "post": "ok",
        }
    else:  # deeper than orjson reads (1024)
        assert outcomes == {
            "vends": "ResponseFormatError",
            "get": "ResponseFormatError",
            "error": "BadRequestError",
            "post": "ResponseFormatError",
        }


@pytest.mark.parametrize("depth", [500, 1000])
def test_loket_error_messages_nested_deep_are_quoted_safely(depth):
    nested = _nested(depth).decode()
    message = {"type": "BrokenBusinessRule", "description": "DEEP", "code": "DEEP"}
    template = orjson.dumps({"messages": [{**message, "properties": ["x"]}]}).decode()
    body = template.replace('"DEEP"', nested).encode()

    def answer(request: Request) -> Iterator[bytes]:
        yield answer_with(body, status=400)

    with HostileServer(answer) as server:
        loket = lv.Loket(
            base_url=server.url + "/v2", access_token="t0ken", cache=False, progress=False
        )
        with pytest.raises(ValidationError) as info:
            loket.employers()
        loket.close()
    described = info.value.field_errors["x"][0]
    if depth == 500:
        assert described.startswith('{"a":{"a":')  # written back as JSON, shortened
    else:
        assert described == "<dict nested too deep to show> (code <dict nested too deep to show>)"
    assert "Loket answered 400" in str(info.value)


def test_a_post_answered_with_html_is_a_response_format_error():
    page = b"<html><body>502 Bad Gateway (but sent as 200)</body></html>"

    def answer(request: Request) -> Iterator[bytes]:
        yield head(200, {"Content-Type": "text/html", "Content-Length": str(len(page))}) + page

    with (
        HostileServer(answer) as server,
        valinso(server) as client,
        pytest.raises(ResponseFormatError) as info,
    ):
        client.post("/vends", {"items": []})
    text = str(info.value)
    assert "POST /vends answered 200 with a body that is not JSON" in text and "text/html" in text
    assert [r.method for r in server.requests] == ["POST"]


# -- 9. repeated keys and two spellings of one field -----------------------------------------------


def test_a_repeated_key_keeps_its_first_value_on_every_path():
    first = b'{"id":1,"id":2,"device_id":5,"device_id":6,"extra":"a","extra":"b"}'
    pages = {
        "/vends": b'{"code":200,"result":[%s],"paging":{"total":1,"offset":0,"limit":1000}}'
        % first,
        "/gadgets": b'{"code":200,"result":[%s]}' % first,
    }

    def answer(request: Request) -> Iterator[bytes]:
        yield answer_with(pages["/gadgets" if "gadgets" in request.path else "/vends"])

    with HostileServer(answer) as server, valinso(server) as client:
        typed = client.vends()  # Polars' reader
        generic = client.get("/vends")  # the same spec, through get()
        untyped = client.get("/gadgets")  # no spec: the objects path
        posted = client.post("/gadgets", {})
    for frame in (typed, generic, untyped):
        assert frame.select("id", "device_id", "extra").rows() == [(1, 5, "a")]
    assert posted == [{"id": 1, "device_id": 5, "extra": "a"}]


def test_a_field_spelled_two_ways_is_kept_in_two_columns():
    items = [
        {"id": 1, "device_id": 3, "fooBar": "camel"},
        {"id": 2, "device_id": 3, "foo_bar": "snake"},
    ]

    def answer(request: Request) -> Iterator[bytes]:
        offset = 0 if "offset=0" in request.query else 1
        body = orjson.dumps(
            {
                "code": 200,
                "result": [items[offset]],
                "paging": {"total": 2, "offset": offset, "limit": 1},
            }
        )
        yield answer_with(body)

    with HostileServer(answer) as server, valinso(server, limit=1) as client:
        frame = client.vends()
    assert frame.select("id", "fooBar", "foo_bar").rows() == [
        (1, "camel", None),
        (2, None, "snake"),
    ]


def test_loket_extra_fields_spelled_unlike_loket_keep_their_spelling():
    page = {
        "_embedded": [
            {"id": "a", "companyName": "A", "newField": 1},
            {"id": "b", "companyName": "B", "new_field": 2},
        ],
        "currentPage": 1,
        "pageSize": 250,
        "totalPages": 1,
        "totalSize": 2,
    }

    def answer(request: Request) -> Iterator[bytes]:
        yield answer_with(orjson.dumps(page))

    with HostileServer(answer) as server:
        loket = lv.Loket(
            base_url=server.url + "/v2", access_token="t0ken", cache=False, progress=False
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            frame = loket.employers()
        loket.close()
    assert frame.select("id", "new_field", "new__field").rows() == [("a", 1, None), ("b", None, 2)]
