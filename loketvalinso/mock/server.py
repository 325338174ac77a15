"""Serve a :class:`MockApp` over real HTTP on loopback, or in-process as an httpx transport."""

from __future__ import annotations

import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, urlsplit

import httpx

from loketvalinso.mock._http import MockRequest, MockResponse
from loketvalinso.mock.app import MockApp

__all__ = ["InProcessTransport", "MockHTTPServer"]

_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length"}


class InProcessTransport(httpx.BaseTransport):
    """An httpx transport that answers from a :class:`MockApp` without any socket."""

    def __init__(self, app: MockApp) -> None:
        self.app = app

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        body = request.read()
        mock_request = MockRequest.build(
            request.method,
            unquote(request.url.path),
            request.url.query.decode("ascii", "replace"),
            request.headers.multi_items(),
            body,
        )
        response = self.app.handle(mock_request)
        headers = [(k, v) for k, v in response.headers if k.lower() not in _HOP_BY_HOP]
        headers.append(("Content-Length", str(len(response.body))))
        return httpx.Response(
            response.status, headers=headers, content=response.body, request=request
        )


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: clients reuse connections as with a real API
    server: _Server

    def _serve(self) -> None:
        parts = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        request = MockRequest.build(
            self.command, unquote(parts.path), parts.query, self.headers.items(), body
        )
        try:
            response = self.server.app.handle(request)
        except Exception as exc:  # a mock bug must answer 500, not drop the connection
            message = f"mock error: {type(exc).__name__}: {exc}".encode()
            response = MockResponse(500, [("Content-Type", "text/plain")], message)
        # send_response() would add a second Date header next to the app's own.
        self.log_request(response.status)
        self.send_response_only(response.status)
        self.send_header("Server", "loketvalinso-mock")
        if response.header("Date") is None:
            self.send_header("Date", self.date_time_string())
        for name, value in response.headers:
            if name.lower() not in _HOP_BY_HOP:
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(response.body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(response.body)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _serve

    def log_message(self, format: str, *args: object) -> None:
        # Silent: request lines can carry query values that tests search for secrets.
        return


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], app: MockApp) -> None:
        self.app = app
        super().__init__(address, _Handler)

    def server_bind(self) -> None:
        # Disable Nagle: small JSON pages must not wait 40 ms for a delayed ACK.
        self.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().server_bind()


class MockHTTPServer:
    """A threaded HTTP/1.1 server for ``app`` on ``host:port`` (port 0 = ephemeral)."""

    def __init__(self, app: MockApp, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.app = app
        self._server = _Server((host, port), app)
        bound_host, self.port = self._server.server_address[:2]
        self.host: str = str(bound_host)  # AF_INET/AF_INET6 addresses are str
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def start(self) -> MockHTTPServer:
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"loketvalinso-mock:{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self._server.serve_forever(poll_interval=0.2)

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
