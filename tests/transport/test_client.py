"""build_client: the transport stack, headers, URL security, and use inside a running event loop."""

from __future__ import annotations

import asyncio
import threading

import httpx
import pytest

import loketvalinso
from loketvalinso._transport.auth import ValinsoAuth
from loketvalinso._transport.cache import CacheTransport
from loketvalinso._transport.client import (
    build_client,
    build_transport,
    check_url_security,
    default_user_agent,
    is_local_host,
)
from loketvalinso._transport.extensions import CACHE as CACHE_EXTENSION
from loketvalinso._transport.extensions import IDENTITY
from loketvalinso._transport.extensions import RETRIES as RETRIES_EXTENSION
from loketvalinso._transport.limits import BoundedTransport
from loketvalinso._transport.retry import BackoffGate, RetryPolicy, RetryTransport
from loketvalinso._transport.store import DiskCache
from loketvalinso.errors import ConfigurationError


def echo(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, json={"url": str(request.url), "headers": dict(request.headers)})


def test_base_url_and_user_agent():
    with build_client(
        base_url="https://api.loket.nl/v2", transport=httpx.MockTransport(echo)
    ) as client:
        body = client.get("/providers/employers").json()
    assert body["url"] == "https://api.loket.nl/v2/providers/employers"
    ua = body["headers"]["user-agent"]
    assert ua == default_user_agent()
    assert ua.startswith(f"loketvalinso/{loketvalinso.__version__} httpx/")


def test_custom_user_agent_and_headers():
    with build_client(
        base_url="https://x.test",
        transport=httpx.MockTransport(echo),
        user_agent="notebook/1",
        headers={"Accept": "application/json;version=2021-03-29"},
    ) as client:
        headers = client.get("/").json()["headers"]
    assert headers["user-agent"] == "notebook/1"
    assert headers["accept"] == "application/json;version=2021-03-29"


def test_stack_order_auth_retry_cache_inner(tmp_path, monkeypatch):
    """auth → retry → cache → innermost: the cache sees every retry, each carrying the auth
    header and the identity auth put on it."""
    calls = {"n": 0}

    def flaky(request: httpx.Request) -> httpx.Response:
        calls["n"] += 1
        assert request.headers["api-key"] == "k-123"
        return httpx.Response(503 if calls["n"] == 1 else 200, json={})

    seen: list[tuple[str, object]] = []
    original = CacheTransport.handle_request

    def recording(self, request: httpx.Request) -> httpx.Response:
        seen.append((request.url.path, request.extensions.get(IDENTITY)))
        return original(self, request)

    monkeypatch.setattr(CacheTransport, "handle_request", recording)
    auth = ValinsoAuth("k-123")
    sleeps: list[float] = []
    with DiskCache(tmp_path / "c") as cache:
        client = build_client(
            base_url="https://x.test/api/head/valinso_api",
            auth=auth,
            transport=httpx.MockTransport(flaky),
            cache=cache,
            sleep=sleeps.append,
        )
        response = client.get("/vends")
        assert response.status_code == 200
        assert response.extensions[RETRIES_EXTENSION] == 1
        assert response.extensions[CACHE_EXTENSION] == "miss"  # the cache is below the retries
        assert seen == [("/api/head/valinso_api/vends", auth.identity)] * 2
        assert isinstance(client._transport, RetryTransport)  # the outermost transport
        assert len(sleeps) == 1
        client.close()


def test_a_cache_needs_to_know_who_is_asking(tmp_path):
    with DiskCache(tmp_path / "c") as cache:
        client = build_client(
            base_url="https://x.test", transport=httpx.MockTransport(echo), cache=cache
        )
        with pytest.raises(ConfigurationError, match="who is asking"):
            client.get("/")  # no auth names the user, and no identity= was given
        with build_client(
            base_url="https://x.test",
            transport=httpx.MockTransport(echo),
            cache=cache,
            identity="who-hash",
        ) as named:
            assert named.get("/").status_code == 200
        client.close()


def test_retry_can_be_disabled_and_gate_shared():
    calls = {"n": 0}

    def fail(request):
        calls["n"] += 1
        return httpx.Response(503)

    gate = BackoffGate()
    stack = build_transport(transport=httpx.MockTransport(fail), retry=False)
    # no retry layer: only the one that bounds each body (deadline, size) over the transport
    assert isinstance(stack, BoundedTransport) and isinstance(stack.inner, httpx.MockTransport)
    with build_client(
        base_url="https://x.test", transport=httpx.MockTransport(fail), retry=None
    ) as client:
        assert client.get("/").status_code == 503
    assert calls["n"] == 1
    client = build_client(
        base_url="https://x.test",
        transport=httpx.MockTransport(fail),
        retry=RetryPolicy(max_attempts=2),
        gate=gate,
        sleep=lambda s: None,
    )
    assert client._transport.gate is gate
    client.get("/")
    assert calls["n"] == 3


def test_default_network_transport_pool(monkeypatch):
    client = build_client(base_url="https://api.loket.nl/v2", max_connections=3)
    bounded = client._transport.inner
    assert isinstance(bounded, BoundedTransport)
    inner = bounded.inner
    assert isinstance(inner, httpx.HTTPTransport)
    pool = inner._pool
    assert pool._max_connections == 3
    assert pool._max_keepalive_connections == 3
    client.close()
    with pytest.raises(ConfigurationError):
        build_client(base_url="https://x.test", max_connections=0)


def test_insecure_base_url_is_refused_for_the_network():
    with pytest.raises(ConfigurationError, match="https"):
        build_client(base_url="http://vps3.valinso.nl/api/head/valinso_api/")
    build_client(base_url="http://vps3.valinso.nl/", allow_insecure=True).close()
    build_client(base_url="http://127.0.0.1:8800/v2").close()


@pytest.mark.parametrize(
    "url",
    [
        "https://api.loket.nl/v2",
        "http://127.0.0.1:8800/v2",
        "http://127.5.6.7/",
        "http://[::1]:9000/x",
        "http://localhost:1234",
        "http://mock.local/v2",
        "http://app.localhost/",
    ],
)
def test_secure_or_local_urls_pass(url):
    assert check_url_security(url).scheme in ("http", "https")


@pytest.mark.parametrize(
    "url",
    ["http://vps3.valinso.nl/api/head/valinso_api/", "http://10.0.0.5/", "http://example.com"],
)
def test_plain_http_to_remote_is_refused(url):
    with pytest.raises(ConfigurationError, match="allow_insecure=True"):
        check_url_security(url)
    assert check_url_security(url, allow_insecure=True).scheme == "http"


@pytest.mark.parametrize("url", ["ftp://x.test/", "api.loket.nl/v2", "", "https://"])
def test_non_http_urls_are_refused(url):
    with pytest.raises(ConfigurationError):
        check_url_security(url)


def test_is_local_host():
    assert is_local_host("LOCALHOST")
    assert is_local_host("127.0.0.1")
    assert not is_local_host("128.0.0.1")
    assert not is_local_host("mock.local.evil.com")


def test_works_inside_a_running_event_loop():
    """Jupyter runs an event loop: the sync client must work from inside one."""
    result: dict[str, object] = {}

    async def notebook_cell() -> int:
        asyncio.get_running_loop()  # we really are inside a loop
        with build_client(base_url="https://x.test", transport=httpx.MockTransport(echo)) as client:
            return client.get("/cell").status_code

    def run() -> None:
        try:
            result["status"] = asyncio.run(notebook_cell())
        except BaseException as exc:  # reported below
            result["error"] = exc

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(timeout=10)
    assert "error" not in result, result.get("error")
    assert result["status"] == 200


def test_works_inside_a_running_loop_over_real_loopback_http():
    """The same, through a real socket (stdlib HTTP server on 127.0.0.1)."""
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            body = b'{"ok": true}'
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    serving = threading.Thread(target=server.serve_forever, daemon=True)
    serving.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"

        async def cell():
            with build_client(base_url=url, timeout=5) as client:
                return client.get("/").json()

        out: dict[str, object] = {}
        thread = threading.Thread(target=lambda: out.update(body=asyncio.run(cell())))
        thread.start()
        thread.join(timeout=10)
        assert out["body"] == {"ok": True}
    finally:
        server.shutdown()
        server.server_close()
