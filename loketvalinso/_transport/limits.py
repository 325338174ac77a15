"""A deadline and a size cap on every response, enforced while its body streams in.

A server that sends its headers and then one byte a second, or a small gzip body that expands to
gigabytes, must neither hold a load for ever nor fill the memory. :class:`BoundedTransport` wraps
the innermost transport (the network, or an in-process mock) and reads each body itself:

* **deadline**: one overall time limit per request. The retry layer above starts it (a
  :class:`~loketvalinso._transport.extensions.Deadline` in ``request.extensions``) so that it
  covers every attempt and back-off; without one this transport starts its own. Every network
  timeout (connect, write, pool, and each read) is cut to what is left of it, and the clock is
  checked at every piece of body received: a trickling body ends in a
  :class:`~loketvalinso.errors.NetworkError`, never retried.
* **size cap**: ``max_body_bytes`` of *decoded* body. ``gzip`` and ``deflate`` are decoded here,
  a bounded piece at a time, so decompression stops at the cap; a body past it ends in a
  :class:`~loketvalinso.errors.ResponseFormatError`. The client asks for those two encodings
  only; another one is refused (nothing unasked is decoded).

Responses come back read and decoded (no ``Content-Encoding``; ``Content-Length`` is the decoded
body's), so the cache and retry layers above never read from the network themselves. A transport that
already returns read responses (the in-process mock, ``httpx.MockTransport``) only has the size
checked.
"""

from __future__ import annotations

import math
import numbers
import time
import zlib
from collections.abc import Callable
from typing import Any

import httpx

from loketvalinso._transport import extensions as ext
from loketvalinso.errors import ConfigurationError, NetworkError, ResponseFormatError

__all__ = [
    "ACCEPT_ENCODING",
    "DEFAULT_DEADLINE",
    "DEFAULT_MAX_BODY_BYTES",
    "BoundedTransport",
    "check_deadline",
    "check_max_body_bytes",
    "check_timeout",
]

#: Seconds one request may take in all (attempts, back-off and the body streaming in).
DEFAULT_DEADLINE = 300.0
#: Bytes of decoded body a response may have: far above the largest real page (a Loket page of
#: 1,000 employees is a few MB).
DEFAULT_MAX_BODY_BYTES = 64 * 2**20
#: The encodings the client asks for, and the only ones it decodes.
ACCEPT_ENCODING = "gzip, deflate"
#: Response fields that describe the encoded body; dropped once the body is decoded here.
_ENCODING_FIELDS = frozenset({"content-encoding", "content-length", "transfer-encoding"})
#: Compressed bytes handed to the decompressor at a time (its output is bounded by the cap).
_FEED = 64 * 1024


def _seconds(value: object, name: str, meaning: str) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, numbers.Real)
        or not 0 < float(value) < math.inf
    ):
        msg = f"{name} must be a positive number of seconds ({meaning}), not {value!r}"
        raise ConfigurationError(msg)
    return float(value)


def check_deadline(value: object) -> float:
    """``value`` as a deadline in seconds; ConfigurationError unless a positive finite number."""
    return _seconds(value, "deadline", "the most one request may take, retries included")


def check_timeout(value: object) -> float | None:
    """``value`` as a network timeout in seconds (None: no per-read timeout, the deadline
    still holds); ConfigurationError unless a positive number."""
    if value is None:
        return None
    meaning = "how long to wait for a connection or the next piece of an answer"
    return _seconds(value, "timeout", meaning)


def check_max_body_bytes(value: object) -> int:
    """``value`` as a body size cap; ConfigurationError unless a positive integer."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or int(value) < 1:
        msg = f"max_body_bytes must be a positive number of bytes, not {value!r}"
        raise ConfigurationError(msg)
    return int(value)


class _Decoder:
    """Decodes one ``Content-Encoding`` a piece at a time, never past ``limit`` bytes."""

    def __init__(self, encoding: str, limit: int, over: Callable[[int], Exception]) -> None:
        self.encoding = encoding
        self.limit = limit
        self.over = over
        self.size = 0
        self.parts: list[bytes] = []
        self._first = True
        self._zlib: Any = None
        if encoding in ("gzip", "x-gzip"):
            self._zlib = zlib.decompressobj(16 + zlib.MAX_WBITS)
        elif encoding == "deflate":
            self._zlib = zlib.decompressobj()

    def feed(self, data: bytes) -> None:
        if self._zlib is None:
            self._add(data)
            return
        for start in range(0, len(data), _FEED):
            self._inflate(data[start : start + _FEED])

    def _inflate(self, data: bytes) -> None:
        while True:
            left = self.limit - self.size
            try:
                piece = self._zlib.decompress(data, left + 1)
            except zlib.error as exc:
                if self._first and self.encoding == "deflate":
                    # "deflate" bodies come with a zlib header or without one (raw)
                    self._first = False
                    self._zlib = zlib.decompressobj(-zlib.MAX_WBITS)
                    continue
                msg = f"the {self.encoding} body does not decompress ({exc})"
                raise ResponseFormatError(msg) from exc
            self._first = False
            self._add(piece)
            data = self._zlib.unconsumed_tail
            # a piece shorter than asked for means the input is used up (or the stream ended)
            if not data and len(piece) <= left:
                return

    def _add(self, piece: bytes) -> None:
        self.size += len(piece)
        if self.size > self.limit:
            raise self.over(self.size)
        if piece:
            self.parts.append(piece)

    def finish(self) -> bytes:
        if self._zlib is not None:
            self._add(self._zlib.flush())
        return b"".join(self.parts)


class BoundedTransport(httpx.BaseTransport):
    """Reads every response body under a deadline and a size cap (see the module docstring).

    Parameters
    ----------
    inner : httpx.BaseTransport
        The transport that sends: the network, or an in-process one.
    deadline : float
        Seconds a request may take when it carries no
        :class:`~loketvalinso._transport.extensions.Deadline` of its own.
    max_body_bytes : int
        Largest decoded body accepted.
    clock : callable
        Monotonic clock in seconds (tests inject a fake one).
    """

    def __init__(
        self,
        inner: httpx.BaseTransport,
        *,
        deadline: float = DEFAULT_DEADLINE,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.inner = inner
        self.deadline = check_deadline(deadline)
        self.max_body_bytes = check_max_body_bytes(max_body_bytes)
        self._clock = clock

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        deadline = request.extensions.get(ext.DEADLINE)
        if not isinstance(deadline, ext.Deadline):
            deadline = ext.Deadline(self.deadline, clock=self._clock)
        left = deadline.remaining()
        if left <= 0:
            raise self._late(request, deadline, None)
        timeouts = dict(request.extensions.get("timeout") or {})
        for name in ("connect", "read", "write", "pool"):
            value = timeouts.get(name)
            timeouts[name] = left if value is None else min(float(value), left)
        request.extensions["timeout"] = timeouts
        response = self.inner.handle_request(request)
        try:
            return self._read(request, response, deadline)
        except BaseException:
            response.close()
            raise

    def _read(
        self, request: httpx.Request, response: httpx.Response, deadline: ext.Deadline
    ) -> httpx.Response:
        cap = self.max_body_bytes
        try:
            content = response.content
        except httpx.ResponseNotRead:
            pass
        else:  # an in-process transport: the body is in memory already
            if len(content) > cap:
                raise self._too_big(request, len(content))
            return response
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > cap:
            raise self._too_big(request, int(declared), declared=True)
        encoding = response.headers.get("content-encoding", "").strip().lower()
        if encoding not in ("", "identity", "gzip", "x-gzip", "deflate"):
            msg = (
                f"the server sent a body in the {encoding!r} encoding, which was not asked for "
                f"(the client accepts {ACCEPT_ENCODING})"
            )
            raise ResponseFormatError(msg, url=request.url)
        decoder = _Decoder(encoding, cap, lambda size: self._too_big(request, size))
        received = 0
        try:
            for chunk in response.iter_raw():
                received += len(chunk)
                if deadline.remaining() < 0:
                    raise self._late(request, deadline, received)
                if received > cap:
                    raise self._too_big(request, received)
                decoder.feed(chunk)
            body = decoder.finish()
        except ResponseFormatError as exc:
            if exc.url is None:  # a decoding error names no URL of its own
                raise ResponseFormatError(str(exc), url=request.url) from exc.__cause__
            raise
        finally:
            response.close()
        headers = [
            (k, v) for k, v in response.headers.multi_items() if k.lower() not in _ENCODING_FIELDS
        ]
        return httpx.Response(
            response.status_code,
            headers=headers,
            content=body,
            request=request,
            extensions=dict(response.extensions),
        )

    def _late(
        self, request: httpx.Request, deadline: ext.Deadline, received: int | None
    ) -> NetworkError:
        got = "" if received is None else f" ({received:,} bytes of the body had arrived)"
        msg = (
            f"no complete answer within deadline={deadline.seconds:g} s{got}; the server is too "
            "slow or keeps the response open. Try again later, or pass a larger deadline= "
            "(seconds) if it is only slow"
        )
        return NetworkError(msg, url=request.url)

    def _too_big(self, request: httpx.Request, size: int, *, declared: bool = False) -> Exception:
        what = (
            f"announces {size:,} bytes"
            if declared
            else f"grew past {self.max_body_bytes:,} bytes (reading stopped there)"
        )
        msg = (
            f"the response body {what}, more than max_body_bytes={self.max_body_bytes:,}; ask "
            "for smaller pages (page_size= / limit=), or pass a larger max_body_bytes= if the "
            "server really sends that much"
        )
        return ResponseFormatError(msg, url=request.url)

    def close(self) -> None:
        self.inner.close()
