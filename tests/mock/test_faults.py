"""Faults on demand: each fault in isolation on the injector (fake clock/sleep), then over HTTP."""

from __future__ import annotations

import math
import threading
from email.utils import parsedate_to_datetime

import httpx
import orjson
import pytest

from loketvalinso.errors import ConfigurationError
from loketvalinso.mock._http import MockRequest, MockResponse, json_response
from loketvalinso.mock.faults import FaultConfig, FaultInjector, is_auth_path, is_valinso_path
from loketvalinso.mock.world import WorldSizes

VALINSO = "/api/head/valinso_api/vends"
LOKET = "/v2/providers/employers"


class FakeClock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def req(path: str = VALINSO, query: str = "") -> MockRequest:
    return MockRequest.build("GET", path, query)


def ok(payload: object | None = None) -> MockResponse:
    return json_response(200, payload if payload is not None else {"code": 200, "result": [1, 2]})


def injector(**options: object) -> FaultInjector:
    clock = options.pop("clock", FakeClock())
    sleep = options.pop("sleep", lambda s: None)
    return FaultInjector(FaultConfig(**options), clock=clock, sleep=sleep)  # type: ignore[arg-type]


# -- configuration ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("latency_ms", -1),
        ("latency_ms", math.nan),
        ("error_rate", 1.5),
        ("error_rate", -0.1),
        ("truncate_rate", 2),
        ("rate_limit", 0),
        ("rate_limit", -3),
        ("token_lifetime", 0),
        ("expires", -1),
        ("expires", 1.5),
        ("drift", "yes"),
        ("seed", "x"),
        ("error_rate", True),
    ],
)
def test_config_rejects_bad_values_and_names_the_option(option: str, value: object) -> None:
    with pytest.raises(ConfigurationError, match=option):
        FaultConfig(**{option: value})  # type: ignore[arg-type]


def test_config_is_a_value_error_so_plain_callers_can_catch_it() -> None:
    with pytest.raises(ValueError):
        FaultConfig(error_rate=7)


def test_default_config_injects_nothing_and_counts_requests() -> None:
    sleeps: list[float] = []
    inj = injector(sleep=sleeps.append)
    resp = ok()
    for _ in range(50):
        assert inj.before(req()) is None
        assert inj.after(req(), resp) is resp
    assert sleeps == []
    assert inj.counts == {
        "requests": 50,
        "server_errors": 0,
        "rate_limited": 0,
        "truncated": 0,
        "drifted": 0,
        "schema_drifted": 0,
    }
    assert inj.expires_seconds is None
    assert inj.drift_offset("anything") == 0
    assert not FaultConfig().active


def test_path_dialects() -> None:
    assert is_valinso_path("/api/head/valinso_api/vends")
    assert is_valinso_path("/api/2.0.0/valinso_api/device/3")
    assert not is_valinso_path("/v2/providers/employers")
    assert is_auth_path("/token") and is_auth_path("/authorize")
    assert not is_auth_path("/v2/token")


# -- latency ------------------------------------------------------------------------------------


def test_latency_sleeps_on_every_request_including_oauth() -> None:
    sleeps: list[float] = []
    inj = injector(latency_ms=250, sleep=sleeps.append)
    for path in (VALINSO, LOKET, "/token", "/authorize"):
        assert inj.before(req(path)) is None
    assert sleeps == [0.25] * 4


# -- 5xx ----------------------------------------------------------------------------------------


def test_error_rate_within_tolerance_with_all_three_statuses() -> None:
    n, rate = 4000, 0.2
    inj = injector(error_rate=rate, seed=3)
    statuses = [r.status for r in (inj.before(req()) for _ in range(n)) if r is not None]
    share = len(statuses) / n
    # 4 standard deviations of a binomial share: flakes essentially never, still catches bugs.
    assert abs(share - rate) < 4 * math.sqrt(rate * (1 - rate) / n)
    assert set(statuses) == {500, 502, 503}
    assert inj.counts["server_errors"] == len(statuses)
    assert inj.counts["requests"] == n


def test_error_bodies_speak_each_apis_dialect() -> None:
    inj = injector(error_rate=1.0, seed=1)
    seen_valinso: dict[int, object] = {}
    seen_loket: dict[int, MockResponse] = {}
    for _ in range(60):
        v = inj.before(req(VALINSO))
        assert v is not None
        seen_valinso[v.status] = orjson.loads(v.body)
        assert v.header("Content-Type") == "application/json"
        lk = inj.before(req(LOKET))
        assert lk is not None
        seen_loket[lk.status] = lk
    assert seen_valinso[503] == {"code": 503, "result": "Service unavailable"}
    for status, body in seen_valinso.items():
        assert body == {"code": status, "result": body["result"]}  # type: ignore[index]
        assert isinstance(body["result"], str)  # type: ignore[index]
    for status, resp in seen_loket.items():
        if resp.body:
            assert resp.header("Content-Type") == "application/json"
            assert set(orjson.loads(resp.body)) == {"message"}
        else:
            assert status == 502


def test_same_seed_same_faults() -> None:
    def statuses(seed: int) -> list[int | None]:
        inj = injector(error_rate=0.3, seed=seed)
        return [getattr(inj.before(req()), "status", None) for _ in range(200)]

    assert statuses(5) == statuses(5)
    assert statuses(5) != statuses(6)


def test_oauth_endpoints_never_fail_even_at_full_error_rate() -> None:
    inj = injector(error_rate=1.0, truncate_rate=1.0, rate_limit=0.001)
    body = ok({"access_token": "t"})
    for path in ("/token", "/authorize") * 20:
        assert inj.before(req(path)) is None
        assert inj.after(req(path), body) is body
    assert inj.counts["server_errors"] == inj.counts["rate_limited"] == 0


# -- 429 ----------------------------------------------------------------------------------------


def test_rate_limit_burst_then_429_with_retry_after() -> None:
    clock = FakeClock()
    inj = injector(rate_limit=5, clock=clock)
    assert all(inj.before(req()) is None for _ in range(5))
    denied = inj.before(req())
    assert denied is not None and denied.status == 429
    assert denied.header("Retry-After") == "1"
    assert orjson.loads(denied.body) == {"code": 429, "result": "Too many requests"}
    clock.now += 0.2  # one token's worth at 5/s
    assert inj.before(req()) is None
    assert inj.before(req()) is not None
    assert inj.counts["rate_limited"] == 2


def test_retry_after_is_the_wait_rounded_up_and_honouring_it_succeeds() -> None:
    clock = FakeClock()
    inj = injector(rate_limit=0.25, clock=clock)  # one request per 4 s
    assert inj.before(req()) is None
    clock.now += 1.5
    denied = inj.before(req(LOKET))
    assert denied is not None and denied.status == 429
    retry_after = int(denied.header("Retry-After") or "0")
    assert retry_after == 3  # 2.5 s left, whole seconds, rounded up
    assert set(orjson.loads(denied.body)) == {"message"}
    clock.now += retry_after
    assert inj.before(req()) is None


def test_rate_limit_accepts_the_configured_rate_over_time() -> None:
    clock = FakeClock()
    inj = injector(rate_limit=5, clock=clock)
    accepted = 0
    for _ in range(1000):  # 100 requests/s for 10 s
        accepted += inj.before(req()) is None
        clock.now += 0.01
    # 5/s for 10 s plus the initial burst of 5.
    assert 50 <= accepted <= 56
    assert inj.counts["rate_limited"] == 1000 - accepted


# -- truncation ---------------------------------------------------------------------------------


def test_truncation_share_invalid_json_and_consistent_length() -> None:
    n, rate = 2000, 0.3
    inj = injector(truncate_rate=rate, seed=11)
    payload = {"code": 200, "result": [{"id": i, "name": "x" * 10} for i in range(20)]}
    cut = 0
    for _ in range(n):
        resp = inj.after(req(), ok(payload))
        if resp.header("Content-Length") is not None:
            cut += 1
            assert int(resp.header("Content-Length") or -1) == len(resp.body)
            assert len(resp.body) == len(orjson.dumps(payload)) // 2
            with pytest.raises(orjson.JSONDecodeError):
                orjson.loads(resp.body)
        else:
            assert orjson.loads(resp.body) == payload
    assert abs(cut / n - rate) < 4 * math.sqrt(rate * (1 - rate) / n)
    assert inj.counts["truncated"] == cut


def test_truncation_only_touches_200_bodies() -> None:
    inj = injector(truncate_rate=1.0)
    for status in (201, 304, 404, 422, 500):
        resp = json_response(status, {"code": status, "result": "x"})
        assert inj.after(req(), resp) is resp
    empty = MockResponse(200, [], b"")
    assert inj.after(req(), empty) is empty


# -- drift --------------------------------------------------------------------------------------


def test_drift_grows_per_listing_and_ignores_paging_params() -> None:
    inj = injector(drift=True)
    key = inj.listing_key(req(VALINSO, "device_id=3&offset=0&limit=10"))
    assert key == inj.listing_key(req(VALINSO, "limit=50&device_id=3&offset=100"))
    assert key == inj.listing_key(req(VALINSO + "/", "DEVICE_ID=3"))
    assert key != inj.listing_key(req(VALINSO, "device_id=4"))
    loket = inj.listing_key(req(LOKET, "pageNumber=2&pageSize=10&filter=x"))
    assert loket == inj.listing_key(req(LOKET, "filter=x&pagesize=5"))
    assert [inj.drift_offset(key) for _ in range(4)] == [0, 1, 2, 3]
    other = inj.listing_key(req(VALINSO, "device_id=4"))
    assert inj.drift_offset(other) == 0
    assert inj.counts["drifted"] == 3


def test_expires_and_token_lifetime_are_exposed() -> None:
    inj = injector(expires=60, token_lifetime=5)
    assert inj.expires_seconds == 60
    assert inj.token_lifetime == 5


# -- threads ------------------------------------------------------------------------------------


def test_counters_are_exact_under_threads() -> None:
    inj = FaultInjector(FaultConfig(error_rate=0.5, truncate_rate=0.5, seed=2))
    injected: list[int] = []
    truncated: list[int] = []

    def work() -> None:
        errors = cut = 0
        for _ in range(500):
            resp = inj.before(req())
            if resp is not None:
                errors += 1
            elif inj.after(req(), ok()).header("Content-Length") is not None:
                cut += 1
        injected.append(errors)
        truncated.append(cut)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=10)
    counts = inj.counts
    assert counts["requests"] == 4000
    assert counts["server_errors"] == sum(injected)
    assert counts["truncated"] == sum(truncated)
    inj.reset_counts()
    assert set(inj.counts.values()) == {0}


# -- over real HTTP -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def small_sizes() -> WorldSizes:
    return WorldSizes(
        employers=2, employees=20, leave_years=1, devices=12, locations=5, products=10, vends=5_000
    )


def _client(m) -> httpx.Client:
    return httpx.Client(
        base_url=m.valinso_url,
        headers={"api-key": m.credentials.valinso_api_key},
        timeout=10,
    )


def test_http_error_rate_matches_injector_counts(small_sizes) -> None:
    import loketvalinso as lv

    with lv.mock.serve(seed=42, sizes=small_sizes, error_rate=0.3) as m, _client(m) as c:
        statuses = [c.get("/devices").status_code for _ in range(200)]
        errors = [s for s in statuses if s >= 500]
        assert set(statuses) <= {200, 500, 502, 503}
        assert len(errors) == m.faults.counts["server_errors"]
        assert 0.15 < len(errors) / 200 < 0.45
        r = next(r for r in (c.get("/devices") for _ in range(50)) if r.status_code >= 500)
        body = r.json()
        assert body["code"] == r.status_code and isinstance(body["result"], str)


def test_http_rate_limit_gives_429_with_retry_after(small_sizes) -> None:
    import loketvalinso as lv

    with lv.mock.serve(seed=42, sizes=small_sizes, rate_limit=2) as m, _client(m) as c:
        responses = [c.get("/devices", params={"limit": 1}) for _ in range(10)]
        limited = [r for r in responses if r.status_code == 429]
        assert limited, "10 quick requests at 2/s must hit the limit"
        assert all(r.status_code in (200, 429) for r in responses)
        for r in limited:
            assert int(r.headers["Retry-After"]) >= 1
            assert r.json() == {"code": 429, "result": "Too many requests"}
        # OAuth is exempt from the limit.
        assert all(c.get(f"{m.url}/token").status_code != 429 for _ in range(5))


def test_http_truncation_breaks_json_but_not_http(small_sizes) -> None:
    import loketvalinso as lv

    with lv.mock.serve(seed=42, sizes=small_sizes, truncate_rate=1.0) as m, _client(m) as c:
        r = c.get("/devices")
        assert r.status_code == 200
        assert int(r.headers["Content-Length"]) == len(r.content)
        with pytest.raises(ValueError):
            r.json()
        # Errors are never cut: the client must be able to read why it failed.
        bad = c.get("/device/999999999")
        assert bad.json() == {"code": 404, "result": "Item not found"}


def test_http_drift_changes_the_total_mid_walk(small_sizes) -> None:
    import loketvalinso as lv

    with lv.mock.serve(seed=42, sizes=small_sizes, drift=True) as m, _client(m) as c:
        truth = m.world.vends.height
        totals = [
            c.get("/vends", params={"offset": o, "limit": 100}).json()["paging"]["total"]
            for o in (0, 100, 200)
        ]
        assert totals == [truth, truth + 1, truth + 2]
        # The extra rows exist at the end of the listing, with ids beyond the world's.
        tail = c.get("/vends", params={"offset": truth, "limit": 10}).json()
        assert tail["paging"]["total"] == truth + 3
        assert [v["id"] for v in tail["result"]] == [
            m.world.vends["id"].max() + k for k in (1, 2, 3)
        ]
        # A filtered listing drifts on its own key, with rows that still match its filter.
        device = c.get("/vends", params={"device_id": 3, "limit": 1}).json()
        n = m.world.vends.filter(m.world.vends["device_id"] == 3).height
        assert device["paging"]["total"] == n
        again = c.get("/vends", params={"device_id": 3, "offset": n, "limit": 5}).json()
        assert again["paging"]["total"] == n + 1
        assert [v["device_id"] for v in again["result"]] == [3]
        assert m.faults.counts["drifted"] == 4


def test_http_expires_on_list_pages_only(small_sizes) -> None:
    import loketvalinso as lv

    with lv.mock.serve(seed=42, sizes=small_sizes, expires=120) as m, _client(m) as c:
        listing = c.get("/devices")
        now = parsedate_to_datetime(listing.headers.get_list("Date")[0])
        ahead = parsedate_to_datetime(listing.headers["Expires"]) - now
        assert 110 <= ahead.total_seconds() <= 130
        device_id = listing.json()["result"][0]["id"]
        detail = c.get(f"/device/{device_id}")
        assert parsedate_to_datetime(detail.headers["Expires"]) < now


def test_schema_drift_renames_quantity_and_sends_fractions_as_text() -> None:
    inj = injector(schema_drift=True)
    vends = ok({"code": 200, "result": [{"id": 1, "quantity": 2, "price": 1.5}, {"id": 2}]})
    sent = inj.after(req("/api/head/valinso_api/vends"), vends)
    body = orjson.loads(sent.body)
    assert body["result"] == [{"id": 1, "price": 1.5, "qty": 2}, {"id": 2}]
    assert sent.header("Content-Length") == str(len(sent.body))
    loket = ok({"_embedded": [{"id": "A", "units": 36.0, "n": 3, "o": {"x": 1.5}}]})
    sent = inj.after(req("/v2/providers/employers"), loket)
    assert orjson.loads(sent.body)["_embedded"] == [
        {"id": "A", "units": "36.00", "n": 3, "o": {"x": 1.5}}  # top-level fractions only
    ]
    detail = ok({"content": {"rate": 0.5}})
    assert orjson.loads(inj.after(req("/v2/x"), detail).body)["content"] == {"rate": "0.50"}
    assert inj.counts["schema_drifted"] == 3
    # other answers pass as they are: no items to change, not a 200, the OAuth endpoints
    for path, resp in [
        ("/api/head/valinso_api/devices", vends),
        ("/v2/x", json_response(404, {"_embedded": [{"units": 1.5}]})),
        ("/token", ok({"_embedded": [{"units": 1.5}]})),
        ("/v2/x", ok({"_embedded": [{"units": 1}]})),
    ]:
        assert inj.after(req(path), resp) is resp
    assert inj.counts["schema_drifted"] == 3
    assert FaultConfig(schema_drift=True).active
    with pytest.raises(ConfigurationError, match="schema_drift must be True or False"):
        FaultConfig(schema_drift="yes")  # type: ignore[arg-type]
