"""Small hostile HTTP servers on loopback: raw sockets, so they can do what no framework lets a
server do (trickle a body a byte at a time, send a gzip bomb, cut a body short with a matching
``Content-Length``).

::

    def answer(request: Request) -> Iterator[bytes]:
        yield head(200, {"Content-Type": "application/json"})
        yield b'{"code":200,'           # each piece is sent as it comes; sleep in between
        ...

    with HostileServer(answer) as server:
        server.url                      # "http://127.0.0.1:PORT"
        server.requests                 # every request, in order

Every connection is answered by a thread of its own and closed after one response.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field

__all__ = ["HostileServer", "Request", "head", "trickle"]


@dataclass
class Request:
    method: str
    target: str
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""

    @property
    def path(self) -> str:
        return self.target.split("?", 1)[0]

    @property
    def query(self) -> str:
        return self.target.partition("?")[2]


def head(status: int, headers: Mapping[str, str] | None = None) -> bytes:
    """A status line and headers (``Connection: close`` added)."""
    lines = [f"HTTP/1.1 {status} X"]
    lines += [f"{k}: {v}" for k, v in {**(headers or {}), "Connection": "close"}.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def trickle(data: bytes, *, every: float) -> Iterator[bytes]:
    """``data`` one byte at a time, ``every`` seconds apart."""
    for i in range(len(data)):
        yield data[i : i + 1]
        time.sleep(every)


class HostileServer:
    """Answers every request with the pieces ``answer(request)`` yields (see the module)."""

    def __init__(self, answer: Callable[[Request], Iterable[bytes]]) -> None:
        self.answer = answer
        self.requests: list[Request] = []
        self.sent: list[int] = []  # bytes written per response
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.2)
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._accepting = threading.Thread(target=self._accept, daemon=True)

    def __enter__(self) -> HostileServer:
        self._accepting.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._stop.set()
        self._accepting.join(timeout=5)
        self._listener.close()
        for thread in self._threads:
            thread.join(timeout=5)

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except (TimeoutError, OSError):
                continue
            thread = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            self._threads.append(thread)
            thread.start()

    def _serve(self, conn: socket.socket) -> None:
        with conn:
            conn.settimeout(10)
            try:
                request = self._read(conn)
            except OSError:
                return
            if request is None:
                return
            self.requests.append(request)
            sent = 0
            try:
                for piece in self.answer(request):
                    if self._stop.is_set():
                        break
                    conn.sendall(piece)
                    sent += len(piece)
            except OSError:
                pass  # the client gave up: that is what these servers test
            finally:
                self.sent.append(sent)

    @staticmethod
    def _read(conn: socket.socket) -> Request | None:
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = conn.recv(65536)
            if not chunk:
                return None
            data += chunk
        raw_head, _, body = data.partition(b"\r\n\r\n")
        lines = raw_head.decode("latin-1").split("\r\n")
        method, target, _ = lines[0].split(" ", 2)
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        length = int(headers.get("content-length", "0") or 0)
        while len(body) < length:
            chunk = conn.recv(65536)
            if not chunk:
                break
            body += chunk
        return Request(method, target, headers, body)
