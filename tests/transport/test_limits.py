"""The bounded transport: one deadline per request while the body streams in, and a cap on the
decoded body (decompression stops there). Streams and clocks are fakes; the real-socket cases
are in ``tests/reliability/test_hostile_servers.py``."""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Iterator

import httpx
import pytest

from loketvalinso._transport.extensions import DEADLINE, Deadline
from loketvalinso._transport.limits import (
    BoundedTransport,
    _Decoder,
    check_deadline,
    check_max_body_bytes,
)
from loketvalinso.errors import ConfigurationError, NetworkError, ResponseFormatError


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Pieces(httpx.SyncByteStream):
    """A body that arrives piece by piece; the clock moves ``step`` seconds per piece."""

    def __init__(self, pieces: list[bytes], clock: Clock | None = None, step: float = 0.0) -> None:
        self.pieces, self.clock, self.step = pieces, clock, step
        self.given = 0
        self.closed = False

    def __iter__(self) -> Iterator[bytes]:
        for piece in self.pieces:
            if self.clock is not None:
                self.clock.now += self.step
            self.given += 1
            yield piece

    def close(self) -> None:
        self.closed = True


def bounded(stream: Pieces, headers=None, **options) -> tuple[BoundedTransport, list]:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, headers=headers or {}, stream=stream)

    return BoundedTransport(httpx.MockTransport(handler), **options), seen


def send(transport: httpx.BaseTransport, **extensions) -> httpx.Response:
    request = httpx.Request("GET", "https://x.test/p?api_key=SECRET", extensions=extensions)
    request.extensions.setdefault("timeout", {"connect": 30, "read": 30, "write": 30, "pool": 30})
    return transport.handle_request(request)


def test_a_trickling_body_ends_at_the_deadline_naming_the_url_not_the_key():
    clock = Clock()
    stream = Pieces([b"x"] * 100, clock, step=1.0)
    transport, seen = bounded(stream, deadline=10, clock=clock)
    with pytest.raises(NetworkError) as info:
        send(transport)
    assert stream.given == 11  # stopped at the first piece past the deadline
    assert stream.closed
    text = str(info.value)
    assert "deadline=10 s (11 bytes of the body had arrived)" in text
    assert "api_key=***" in text and "SECRET" not in text
    # every network timeout was cut to the time left
    assert seen[0].extensions["timeout"] == {"connect": 10, "read": 10, "write": 10, "pool": 10}


def test_the_retry_layer_deadline_is_the_one_enforced():
    clock = Clock()
    transport, seen = bounded(Pieces([b"ok"]), deadline=300, clock=clock)
    deadline = Deadline(5.0, clock=clock)
    clock.now += 4.0  # 1 s left
    assert send(transport, **{DEADLINE: deadline}).content == b"ok"
    assert seen[0].extensions["timeout"]["read"] == pytest.approx(1.0)
    clock.now += 2.0
    with pytest.raises(NetworkError, match=r"deadline=5 s"):
        send(transport, **{DEADLINE: deadline})
    assert len(seen) == 1  # past its deadline, a request is not even sent


def test_an_identity_body_over_the_cap_stops_there():
    stream = Pieces([b"a" * 1000] * 50)
    transport, _ = bounded(stream, max_body_bytes=4500)
    with pytest.raises(ResponseFormatError, match="grew past 4,500 bytes"):
        send(transport)
    assert stream.given == 5 and stream.closed


def test_a_declared_length_over_the_cap_is_refused_unread():
    stream = Pieces([b"a" * 10])
    transport, _ = bounded(stream, headers={"Content-Length": "99999"}, max_body_bytes=1000)
    with pytest.raises(ResponseFormatError, match="announces 99,999 bytes"):
        send(transport)
    assert stream.given == 0


@pytest.mark.parametrize("encoding", ["gzip", "x-gzip", "deflate", "raw deflate"])
def test_compressed_bodies_are_decoded_and_their_encoding_fields_dropped(encoding):
    body = b'{"result":[' + b'{"id":1},' * 5000 + b'{"id":2}]}'
    if encoding in ("gzip", "x-gzip"):
        packed = gzip.compress(body)
    elif encoding == "deflate":
        packed = zlib.compress(body)
    else:
        packer = zlib.compressobj(6, zlib.DEFLATED, -zlib.MAX_WBITS)
        packed = packer.compress(body) + packer.flush()
    pieces = [packed[i : i + 100] for i in range(0, len(packed), 100)]
    name = "deflate" if encoding == "raw deflate" else encoding
    headers = {"Content-Encoding": name, "Content-Length": str(len(packed)), "X-Kept": "1"}
    transport, _ = bounded(Pieces(pieces), headers=headers)
    response = send(transport)
    assert response.content == body
    assert "content-encoding" not in response.headers
    assert response.headers["content-length"] == str(len(body))  # the decoded body's
    assert response.headers["x-kept"] == "1"


def test_decompression_stops_at_the_cap():
    limit = 1_000_000
    bomb = gzip.compress(b"\0" * 50_000_000)
    decoder = _Decoder("gzip", limit, lambda size: ResponseFormatError(f"over at {size}"))
    with pytest.raises(ResponseFormatError, match=f"over at {limit + 1}$"):
        decoder.feed(bomb)
    assert decoder.size == limit + 1  # not one piece of output more than needed to tell


def test_a_body_that_does_not_decompress_is_a_format_error():
    transport, _ = bounded(Pieces([b"not gzip at all"]), headers={"Content-Encoding": "gzip"})
    with pytest.raises(ResponseFormatError, match=r"gzip body does not decompress .*x\.test"):
        send(transport)


def test_an_encoding_not_asked_for_is_refused():
    transport, _ = bounded(Pieces([b"..."]), headers={"Content-Encoding": "br"})
    with pytest.raises(ResponseFormatError, match="'br' encoding, which was not asked for"):
        send(transport)


def test_a_body_already_read_is_only_measured():
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=b"x" * 2000)

    small = BoundedTransport(httpx.MockTransport(handler), max_body_bytes=5000)
    assert send(small).content == b"x" * 2000
    tight = BoundedTransport(httpx.MockTransport(handler), max_body_bytes=1000)
    with pytest.raises(ResponseFormatError, match="grew past 1,000 bytes"):
        send(tight)


@pytest.mark.parametrize("value", [0, -1, float("nan"), float("inf"), True, "60", None])
def test_deadline_values_are_checked(value):
    with pytest.raises(ConfigurationError, match="deadline must be a positive number"):
        check_deadline(value)


@pytest.mark.parametrize("value", [0, -5, 1.5, True, "1000", None])
def test_max_body_bytes_values_are_checked(value):
    with pytest.raises(ConfigurationError, match="max_body_bytes must be a positive number"):
        check_max_body_bytes(value)
