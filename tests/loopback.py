"""A small HTTP server on loopback whose answers a test writes: for servers the mock is not.

>>> with Loopback() as server:
...     server.answer = lambda request: (200, {"Content-Type": "application/json"}, b"{}")
...     httpx.get(server.url + "/anything")

``answer`` gets a :class:`Request` (path, query, headers) and returns ``(status, headers,
body)``; it runs on the server's threads. Every request is kept in ``requests``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass(frozen=True)
class Request:
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]

    def param(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[0] if values else default


Answer = Callable[[Request], tuple[int, Mapping[str, str], bytes]]


def _not_set(request: Request) -> tuple[int, Mapping[str, str], bytes]:
    return 500, {"Content-Type": "text/plain"}, b"no answer set"


class Loopback:
    """A threading HTTP server on ``127.0.0.1`` and a free port, for a ``with`` block."""

    def __init__(self) -> None:
        self.answer: Answer = _not_set
        self.requests: list[Request] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                request = Request(
                    parts.path,
                    parse_qs(parts.query, keep_blank_values=True),
                    {k.lower(): v for k, v in self.headers.items()},
                )
                owner.requests.append(request)
                status, headers, body = owner.answer(request)
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> Loopback:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
