"""RetryTransport, RetryPolicy, BackoffGate and Retry-After parsing, on fake clocks (milliseconds)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from email.utils import format_datetime

import httpx
import orjson
import pytest

from loketvalinso._transport.extensions import ATTEMPTS as ATTEMPTS_EXTENSION
from loketvalinso._transport.extensions import RETRIES as RETRIES_EXTENSION
from loketvalinso._transport.extensions import RETRY_AFTER as RETRY_AFTER_EXTENSION
from loketvalinso._transport.responses import parse_json
from loketvalinso._transport.retry import (
    BackoffGate,
    RetryPolicy,
    RetryTransport,
    parse_retry_after,
)
from loketvalinso.errors import ConfigurationError, ResponseFormatError


class FakeTime:
    """A clock that only moves when something sleeps."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start
        self.sleeps: list[float] = []
        self._lock = threading.Lock()

    def clock(self) -> float:
        with self._lock:
            return self.now

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.sleeps.append(seconds)
            self.now += seconds


def scripted(*steps):
    """A handler that answers each request with the next step (a status, a Response, or an exception)."""
    calls: list[httpx.Request] = []
    remaining = list(steps)

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        step = remaining.pop(0) if len(remaining) > 1 else remaining[0]
        if isinstance(step, Exception):
            raise step
        if isinstance(step, httpx.Response):
            return step
        return httpx.Response(step, json={"n": len(calls)})

    return handler, calls


def make_client(handler, *, policy=None, fake=None, gate=None, rng=lambda: 1.0):
    fake = fake or FakeTime()
    transport = RetryTransport(
        httpx.MockTransport(handler),
        policy=policy or RetryPolicy(),
        gate=gate,
        sleep=fake.sleep,
        clock=fake.clock,
        rng=rng,
    )
    return httpx.Client(transport=transport, base_url="https://api.example.test"), fake


def test_success_first_time_records_zero_retries():
    handler, calls = scripted(200)
    client, fake = make_client(handler)
    response = client.get("/x")
    assert response.status_code == 200
    assert len(calls) == 1
    assert response.extensions[RETRIES_EXTENSION] == 0
    assert response.extensions[ATTEMPTS_EXTENSION] == 1
    assert fake.sleeps == []


def test_503_storm_stops_at_max_attempts_and_returns_last_response():
    handler, calls = scripted(503)
    client, fake = make_client(handler, policy=RetryPolicy(max_attempts=4, jitter=False))
    response = client.get("/x")
    assert response.status_code == 503
    assert len(calls) == 4
    assert response.extensions[RETRIES_EXTENSION] == 3
    assert response.extensions[ATTEMPTS_EXTENSION] == 4
    # Exponential: 0.25, 0.5, 1.0 (no jitter).
    assert fake.sleeps == [0.25, 0.5, 1.0]
    assert response.json() == {"n": 4}


def test_recovers_after_transient_errors():
    handler, calls = scripted(500, 502, 504, 200)
    client, _ = make_client(handler)
    response = client.get("/x")
    assert response.status_code == 200
    assert len(calls) == 4
    assert response.extensions[RETRIES_EXTENSION] == 3


@pytest.mark.parametrize("status", [401, 403, 404, 422, 400, 409])
def test_never_retries_client_errors(status):
    handler, calls = scripted(status)
    # Even a policy that names 401/403/404/422 must not retry them.
    policy = RetryPolicy(retry_statuses=(status, 503)) if status in (401, 403, 404, 422) else None
    client, fake = make_client(handler, policy=policy)
    response = client.get("/x")
    assert response.status_code == status
    assert len(calls) == 1
    assert fake.sleeps == []


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE"])
def test_non_idempotent_requests_are_sent_once(method):
    handler, calls = scripted(503)
    client, _ = make_client(handler)
    response = client.request(method, "/x", json={"a": 1})
    assert response.status_code == 503
    assert len(calls) == 1


@pytest.mark.parametrize(
    "error",
    [
        httpx.ReadError("reset"),
        httpx.ReadTimeout("slow"),
        httpx.WriteError("broken pipe"),
        httpx.RemoteProtocolError("Server disconnected without sending a response"),
    ],
)
@pytest.mark.parametrize("method", ["POST", "PATCH", "PUT", "DELETE"])
def test_a_write_that_may_have_reached_the_server_is_not_retried(method, error):
    handler, calls = scripted(error, 200)
    client, fake = make_client(handler)
    with pytest.raises(type(error)):
        client.request(method, "/x", json={"a": 1})
    assert len(calls) == 1 and fake.sleeps == []


@pytest.mark.parametrize("method", ["POST", "PATCH"])
def test_a_write_whose_connection_was_never_made_is_retried(method):
    # Refused or timed out while connecting: not a byte of the request left, so it is safe.
    handler, calls = scripted(httpx.ConnectError("refused"), httpx.ConnectTimeout("slow"), 201)
    client, fake = make_client(handler)
    response = client.request(method, "/x", json={"a": 1})
    assert response.status_code == 201
    assert len(calls) == 3 and len(fake.sleeps) == 2
    # the same body each time (httpx 0.27 writes it with spaces, 0.28 without)
    assert [orjson.loads(c.content) for c in calls] == [{"a": 1}] * 3
    assert response.extensions[ATTEMPTS_EXTENSION] == 3


def test_a_write_whose_connection_is_never_made_gives_up_after_the_budget():
    handler, calls = scripted(httpx.ConnectError("refused"))
    client, _ = make_client(handler, policy=RetryPolicy(max_attempts=3))
    with pytest.raises(httpx.ConnectError):
        client.post("/x")
    assert len(calls) == 3


def test_head_is_retried():
    handler, calls = scripted(503, 200)
    client, _ = make_client(handler)
    assert client.head("/x").status_code == 200
    assert len(calls) == 2


def test_connect_errors_are_retried_then_reraised():
    handler, calls = scripted(httpx.ConnectError("refused"))
    client, fake = make_client(handler, policy=RetryPolicy(max_attempts=3))
    with pytest.raises(httpx.ConnectError):
        client.get("/x")
    assert len(calls) == 3
    assert len(fake.sleeps) == 2


def test_read_error_then_success():
    handler, calls = scripted(httpx.ReadError("reset"), httpx.ReadTimeout("slow"), 200)
    client, _ = make_client(handler)
    assert client.get("/x").status_code == 200
    assert len(calls) == 3


class _TruncatedStream(httpx.SyncByteStream):
    def __iter__(self):
        yield b'{"items": [1, 2'
        raise httpx.RemoteProtocolError(
            "peer closed connection without sending complete message body"
        )


def test_truncated_body_is_retried():
    truncated = httpx.Response(200, headers={"content-length": "40"}, stream=_TruncatedStream())
    handler, calls = scripted(truncated, httpx.Response(200, json={"items": [1, 2, 3]}))
    client, _ = make_client(handler)
    response = client.get("/x")
    assert response.json() == {"items": [1, 2, 3]}
    assert len(calls) == 2
    assert response.extensions[RETRIES_EXTENSION] == 1


def test_unsupported_protocol_is_not_retried():
    handler, calls = scripted(httpx.UnsupportedProtocol("ftp"))
    client, _ = make_client(handler)
    with pytest.raises(httpx.UnsupportedProtocol):
        client.get("/x")
    assert len(calls) == 1


def test_retry_after_seconds_is_honoured():
    handler, calls = scripted(httpx.Response(429, headers={"Retry-After": "3"}), 200)
    client, fake = make_client(handler)
    response = client.get("/x")
    assert response.status_code == 200
    assert len(calls) == 2
    assert sum(fake.sleeps) == pytest.approx(3.0)


def test_retry_after_http_date_is_honoured_against_date_header():
    now = datetime(2025, 1, 1, 12, 0, 0, tzinfo=UTC)
    later = datetime(2025, 1, 1, 12, 0, 5, tzinfo=UTC)
    first = httpx.Response(
        429,
        headers={
            "Retry-After": format_datetime(later, usegmt=True),
            "Date": format_datetime(now, usegmt=True),
        },
    )
    handler, _ = scripted(first, 200)
    client, fake = make_client(handler)
    assert client.get("/x").status_code == 200
    assert sum(fake.sleeps) == pytest.approx(5.0)


def test_retry_after_http_date_without_date_header_uses_wall_clock():
    target = datetime(2025, 1, 1, 12, 0, 7, tzinfo=UTC)
    first = httpx.Response(503, headers={"Retry-After": format_datetime(target, usegmt=True)})
    handler, _ = scripted(first, 200)
    fake = FakeTime()
    transport = RetryTransport(
        httpx.MockTransport(handler),
        sleep=fake.sleep,
        clock=fake.clock,
        rng=lambda: 0.0,
        wall_clock=lambda: target.timestamp() - 7,
    )
    with httpx.Client(transport=transport) as client:
        assert client.get("https://x.test/").status_code == 200
    assert sum(fake.sleeps) == pytest.approx(7.0)


def test_retry_after_beyond_cap_gives_up_at_once():
    handler, calls = scripted(httpx.Response(429, headers={"Retry-After": "3600"}))
    client, fake = make_client(handler, policy=RetryPolicy(max_retry_after=60))
    response = client.get("/x")
    assert response.status_code == 429
    assert len(calls) == 1
    assert fake.sleeps == []
    assert response.extensions[RETRY_AFTER_EXTENSION] == 3600.0


def test_total_timeout_bounds_the_retries():
    handler, calls = scripted(503)
    policy = RetryPolicy(
        max_attempts=100, backoff_base=1.0, backoff_max=1.0, jitter=False, total_timeout=5.0
    )
    client, fake = make_client(handler, policy=policy)
    response = client.get("/x")
    assert response.status_code == 503
    assert sum(fake.sleeps) <= 5.0
    assert len(calls) == 6  # t=0,1,2,3,4,5: the next wait would pass the budget


def test_total_timeout_bounds_transport_errors():
    handler, calls = scripted(httpx.ConnectError("down"))
    policy = RetryPolicy(
        max_attempts=100, backoff_base=2.0, backoff_max=2.0, jitter=False, total_timeout=5.0
    )
    client, fake = make_client(handler, policy=policy)
    with pytest.raises(httpx.ConnectError):
        client.get("/x")
    assert sum(fake.sleeps) <= 5.0
    assert len(calls) == 3


def test_full_jitter_stays_within_ceiling():
    policy = RetryPolicy(backoff_base=0.5, backoff_max=4.0)
    assert policy.backoff(1, rng=lambda: 0.5) == pytest.approx(0.25)
    assert policy.backoff(3, rng=lambda: 0.999) < 2.0
    assert policy.backoff(10, rng=lambda: 1.0) == 4.0  # capped
    assert policy.backoff(2, rng=lambda: 0.0) == 0.0
    no_jitter = RetryPolicy(backoff_base=0.5, jitter=False)
    assert [no_jitter.backoff(n) for n in (1, 2, 3)] == [0.5, 1.0, 2.0]


def test_discarded_responses_are_closed():
    closed: list[bool] = []

    class Tracked(httpx.SyncByteStream):
        def __iter__(self):
            yield b"{}"

        def close(self):
            closed.append(True)

    handler, calls = scripted(
        httpx.Response(503, stream=Tracked()), httpx.Response(503, stream=Tracked()), 200
    )
    client, _ = make_client(handler)
    assert client.get("/x").status_code == 200
    assert len(calls) == 3
    assert len(closed) == 2


def test_policy_validation_and_disabled():
    with pytest.raises(ConfigurationError):
        RetryPolicy(max_attempts=0)
    with pytest.raises(ConfigurationError):
        RetryPolicy(backoff_base=-1)
    assert RetryPolicy(retry_methods=("get",)).retry_methods == ("GET",)
    handler, calls = scripted(503)
    client, _ = make_client(handler, policy=RetryPolicy.disabled())
    assert client.get("/x").status_code == 503
    assert len(calls) == 1


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("5", 5.0),
        (" 0 ", 0.0),
        ("1.5", 1.5),
        ("-3", 0.0),
        ("", None),
        (None, None),
        ("soon", None),
        ("Wed, 01 Jan 2025 12:00:10 GMT", 10.0),
        ("Wed, 01 Jan 2025 11:59:00 GMT", 0.0),  # in the past: go now
    ],
)
def test_parse_retry_after(value, expected):
    now = datetime(2025, 1, 1, 12, 0, 0, tzinfo=UTC).timestamp()
    assert parse_retry_after(value, now=now) == expected


def test_gate_closure_is_shared_and_never_shortened():
    fake = FakeTime()
    gate = BackoffGate(clock=fake.clock)
    assert gate.remaining() == 0
    gate.close_for(10)
    gate.close_for(2)  # shorter: ignored
    assert gate.remaining() == pytest.approx(10)
    assert gate.wait(sleep=fake.sleep) == pytest.approx(10)
    assert gate.remaining() == 0
    gate.close_for(5)
    assert gate.wait(sleep=fake.sleep, limit=1) == pytest.approx(1)
    assert "remaining" in repr(gate)


def test_429_closes_the_gate_for_every_worker():
    """While worker A waits out a 429, worker B (same gate) waits too instead of sending."""
    fake = FakeTime()
    gate = BackoffGate(clock=fake.clock)
    sent: list[tuple[str, float, int]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append((request.url.path, fake.clock(), 0))
        if request.url.path == "/a" and len([p for p, _, _ in sent if p == "/a"]) == 1:
            return httpx.Response(429, headers={"Retry-After": "2"})
        return httpx.Response(200, json={})

    b_sleeps: list[float] = []

    def sleep_a(seconds: float) -> None:
        if not b_sleeps:
            # Worker B starts while A is paused: it must see the closed gate.
            b_sleeps.append(-1.0)
            worker_b.get("https://x.test/b")
        fake.sleep(seconds)

    def sleep_b(seconds: float) -> None:
        b_sleeps.append(seconds)
        fake.sleep(seconds)

    inner = httpx.MockTransport(handler)
    worker_a = httpx.Client(
        transport=RetryTransport(inner, gate=gate, sleep=sleep_a, clock=fake.clock, rng=lambda: 0.0)
    )
    worker_b = httpx.Client(
        transport=RetryTransport(inner, gate=gate, sleep=sleep_b, clock=fake.clock, rng=lambda: 0.0)
    )
    assert worker_a.get("https://x.test/a").status_code == 200
    t_429 = sent[0][1]
    b_time = next(t for p, t, _ in sent if p == "/b")
    assert b_sleeps[1] == pytest.approx(2.0)
    assert b_time >= t_429 + 2
    assert [p for p, _, _ in sent] == ["/a", "/b", "/a"]
    assert gate.closures == 1


def test_concurrent_workers_share_one_backoff():
    """8 threads against a server that rate-limits once: the 429 pauses everyone, few requests."""
    gate = BackoffGate()
    sleeps: list[float] = []
    lock = threading.Lock()
    state = {"limited": 0, "calls": 0}
    release = threading.Event()

    def handler(request: httpx.Request) -> httpx.Response:
        with lock:
            state["calls"] += 1
            if state["limited"] == 0:
                state["limited"] = 1
                return httpx.Response(429, headers={"Retry-After": "0.05"})
        return httpx.Response(200, json={})

    def sleep(seconds: float) -> None:
        with lock:
            sleeps.append(seconds)
        release.wait(seconds)

    transport = RetryTransport(
        httpx.MockTransport(handler), gate=gate, sleep=sleep, rng=lambda: 0.0
    )
    client = httpx.Client(transport=transport, base_url="https://x.test")
    results: list[int] = []

    def work(i: int) -> None:
        results.append(client.get(f"/{i}").status_code)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=10)
    assert results == [200] * 8
    assert state["calls"] == 9  # 8 requests + 1 retry, no storm of 429s


def test_cut_json_body_with_matching_length_is_retried():
    """A proxy cutting a JSON body (with a matching Content-Length) looks like a dropped link."""
    cut = httpx.Response(
        200, content=b'{"_embedded": [{"id": 1}', headers={"Content-Type": "application/json"}
    )
    handler, calls = scripted(cut, httpx.Response(200, json={"_embedded": [{"id": 1}]}))
    client, _ = make_client(handler)
    response = client.get("/x")
    assert len(calls) == 2
    assert response.extensions[RETRIES_EXTENSION] == 1
    # A whole body is not parsed in the transport (see looks_complete_json).
    assert parse_json(response) == {"_embedded": [{"id": 1}]}


def test_cut_json_body_is_returned_when_attempts_run_out():
    cut = b'{"_embedded": [{"id": 1}'
    handler, calls = scripted(
        httpx.Response(200, content=cut, headers={"Content-Type": "application/json"})
    )
    client, _ = make_client(handler, policy=RetryPolicy(max_attempts=2))
    response = client.get("/x")
    assert len(calls) == 2
    with pytest.raises(ResponseFormatError, match="truncated"):
        parse_json(response)


def test_json_check_can_be_disabled_and_ignores_non_json():
    cut = httpx.Response(200, content=b'{"a": ', headers={"Content-Type": "application/json"})
    handler, calls = scripted(cut)
    client, _ = make_client(handler, policy=RetryPolicy(retry_invalid_json=False))
    client.get("/x")
    assert len(calls) == 1
    handler, calls = scripted(
        httpx.Response(200, content=b"not json", headers={"Content-Type": "text/csv"})
    )
    client, _ = make_client(handler)
    client.get("/x")
    assert len(calls) == 1


def _network_like(handler):
    """A transport that, like HTTPTransport, returns unread streams (raw, maybe compressed)."""

    class Unread(httpx.BaseTransport):
        def handle_request(self, request):
            status, headers, body = handler(request)
            return httpx.Response(status, headers=headers, stream=httpx.ByteStream(body))

    return Unread()


def test_network_stream_json_check_with_gzip():
    import gzip

    good = b'{"_embedded": [{"id": 1}]}'
    whole = gzip.compress(good)
    bodies = [whole[: len(whole) // 2], whole]  # the first one cut short
    calls: list[int] = []

    def handler(request):
        calls.append(1)
        body = bodies[len(calls) - 1]
        return 200, {"Content-Type": "application/json", "Content-Encoding": "gzip"}, body

    fake = FakeTime()
    transport = RetryTransport(_network_like(handler), sleep=fake.sleep, clock=fake.clock)
    with httpx.Client(transport=transport) as client:
        response = client.get("https://x.test/")
    assert len(calls) == 2
    assert response.json() == {"_embedded": [{"id": 1}]}
    assert parse_json(response) == {"_embedded": [{"id": 1}]}


def test_network_stream_plain_json_cut():
    bodies = [b'{"a": [1, 2', b'{"a": [1, 2]}']
    calls: list[int] = []

    def handler(request):
        calls.append(1)
        return 200, {"Content-Type": "application/json;version=2018-01-01"}, bodies[len(calls) - 1]

    fake = FakeTime()
    transport = RetryTransport(_network_like(handler), sleep=fake.sleep, clock=fake.clock)
    with httpx.Client(transport=transport) as client:
        client.get("https://x.test/")
    assert len(calls) == 2
    # A whole body is not parsed in the transport (see looks_complete_json).


def test_looks_complete_json_is_cheap_and_safe():
    from loketvalinso._transport.retry import looks_complete_json

    whole = b'{"result": [{"id": 1, "name": "a"}, {"id": 2}], "paging": {"total": 2}}'
    assert looks_complete_json(whole)
    assert looks_complete_json(whole + b"\n")
    # Every cut of a whole document is recognised as incomplete.
    for cut in range(1, len(whole)):
        assert not looks_complete_json(whole[:cut]), whole[:cut]
    # Brackets inside strings unbalance the count: the caller then parses fully.
    assert not looks_complete_json(b'{"text": "a { b"}')


def test_valid_body_with_brackets_in_strings_is_not_retried():
    body = b'{"_embedded": [{"comment": "see [note] {1"}]}'
    handler, calls = scripted(
        httpx.Response(200, content=body, headers={"Content-Type": "application/json"})
    )
    client, _ = make_client(handler)
    response = client.get("/x")
    assert len(calls) == 1
    assert parse_json(response) == {"_embedded": [{"comment": "see [note] {1"}]}


def test_looks_complete_json_is_exact_with_brackets_and_escapes_in_strings():
    """The old count was fooled by a ``}`` inside a string: a cut body balanced and was kept."""
    from loketvalinso._transport.retry import looks_complete_json

    whole = (
        b'{"result":[{"id":1,"note":"}}","path":"C:\\\\dir\\\\","quote":"say \\"}\\" twice"},'
        b'{"id":2,"note":"\\u007b","e":"\\\\\\""}],"paging":{"total":2}}'
    )
    import orjson

    assert orjson.loads(whole)["result"][0]["note"] == "}}"
    assert not looks_complete_json(whole)  # brackets in strings: undecided, the caller parses
    for cut in range(1, len(whole)):
        assert not looks_complete_json(whole[:cut]), whole[:cut]
    fooled = b'{"result":[{"id":1,"note":"}"}'  # balanced, ends in "}", and cut short
    assert fooled.count(b"{") == fooled.count(b"}")
    assert not looks_complete_json(fooled)
    # escapes without brackets are read exactly: whole is whole, every cut is a cut
    escaped = b'{"a":"x\\\\","b":"q\\"q","c":"\\n\\u00e9","d":[1,{"e":"\\\\\\\\"}]}'
    assert orjson.loads(escaped)["b"] == 'q"q'
    assert looks_complete_json(escaped) and looks_complete_json(b"  " + escaped + b"\r\n")
    for cut in range(1, len(escaped)):
        assert not looks_complete_json(escaped[:cut]), escaped[:cut]
    assert looks_complete_json(b'[{"a":"b"},[1,2]]') and not looks_complete_json(b'[{"a":"]"}')


def test_a_cut_body_with_balanced_brackets_is_retried():
    whole = b'{"result":[{"id":1,"note":"}"},{"id":2}],"paging":{"total":2}}'
    cut = b'{"result":[{"id":1,"note":"}"}'
    handler, calls = scripted(
        httpx.Response(200, content=cut, headers={"Content-Type": "application/json"}),
        httpx.Response(200, content=whole, headers={"Content-Type": "application/json"}),
    )
    client, _ = make_client(handler)
    response = client.get("/x")
    assert len(calls) == 2 and response.content == whole
    assert calls[1].headers["cache-control"] == "no-cache"


def test_the_deadline_stops_retries_and_travels_with_the_request():
    from loketvalinso._transport.extensions import DEADLINE, Deadline

    handler, calls = scripted(503)
    fake = FakeTime()
    transport = RetryTransport(
        httpx.MockTransport(handler),
        policy=RetryPolicy(max_attempts=100, backoff_base=1.0, backoff_max=1.0, jitter=False),
        sleep=fake.sleep,
        clock=fake.clock,
        deadline=3.5,
    )
    with httpx.Client(transport=transport, base_url="https://api.example.test") as client:
        assert client.get("/x").status_code == 503
    # waits of 1 s: attempts at 0, 1, 2 and 3 s; a fourth wait would pass the deadline
    assert len(calls) == 4 and fake.sleeps == [1.0, 1.0, 1.0]
    stamps = {id(r.extensions[DEADLINE]) for r in calls}
    assert len(stamps) == 1 and isinstance(calls[0].extensions[DEADLINE], Deadline)
