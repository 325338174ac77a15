"""The fault suite: every fault the mock can inject, over real HTTP, against the ground truth.

For each fault a load either returns exactly the world's rows (ids and values compared) or raises
a clear error that names the URL and the page. Requests are counted from the mock's log and held
to the retry budget: at most ``max_attempts`` requests per distinct page, plus token requests.
"""

from __future__ import annotations

import re
import time
import warnings
from collections import Counter

import httpx
import polars as pl
import pytest

import loketvalinso as lv
from loketvalinso._transport.retry import RetryPolicy
from loketvalinso.errors import (
    PaginationError,
    PaginationWarning,
    RateLimitedError,
    ResponseFormatError,
    ServerError,
)

from .conftest import (
    assert_same_rows,
    data_requests,
    distinct_pages,
    token_requests,
)

#: Quick back-off so the suite stays fast; Retry-After (429) still dictates its own waits.
FAST = RetryPolicy(max_attempts=5, backoff_base=0.02, backoff_max=0.2)


def _serve(world, **faults):
    return lv.mock.serve(seed=11, world=world, **faults)


def _loket(m, **options):
    options.setdefault("cache", False)
    options.setdefault("progress", False)
    options.setdefault("retry", FAST)
    return lv.Loket.from_mock(m, **options)


def _valinso(m, **options):
    options.setdefault("cache", False)
    options.setdefault("progress", False)
    options.setdefault("retry", FAST)
    options.setdefault("limit", 250)
    return lv.Valinso.from_mock(m, **options)


def _assert_budget(app, prefix: str, policy: RetryPolicy, *, extra: int = 0) -> dict[str, int]:
    """No page was asked for more than ``max_attempts`` times; the total stays in budget."""
    records = data_requests(app, prefix)
    per_page = Counter((r.path, r.query) for r in records)
    worst = max(per_page.values())
    assert worst <= policy.max_attempts, f"one page was requested {worst} times"
    pages = distinct_pages(records)
    assert len(records) <= pages * policy.max_attempts + extra
    return {"requests": len(records), "pages": pages, "worst_page": worst}


def _world_rows(world, name: str, employer_id: str) -> pl.DataFrame:
    frame = getattr(world, name)
    return (
        frame.filter(pl.col("employer_id") == employer_id)
        if "employer_id" in frame.columns
        else frame
    )


# -- 5xx -------------------------------------------------------------------------------------------


@pytest.mark.timeout(60)
def test_random_5xx_loket_and_valinso_exact(small_world, employer_id):
    with _serve(small_world, error_rate=0.1) as m:
        loket = _loket(m, page_size=50)
        requests = loket.leave_requests(employer_id)
        leave = loket.leave(employer_id)
        vends = _valinso(m).vends()
        injected = m.faults.counts["server_errors"]
        statuses = Counter(r.status for r in m.app.requests)
    assert_same_rows(
        requests, _world_rows(small_world, "leave_requests", employer_id), what="leave_requests"
    )
    assert_same_rows(leave, _world_rows(small_world, "leave", employer_id), what="leave")
    assert_same_rows(vends, small_world.vends, what="vends")
    assert injected >= 5, f"only {injected} 5xx injected: the test proved little"
    assert sum(n for s, n in statuses.items() if s >= 500) == injected
    _assert_budget(m.app, "/v2/", FAST)
    _assert_budget(m.app, "/api/", FAST)
    assert len(token_requests(m.app)) == 1  # the login; OAuth endpoints never fail


@pytest.mark.timeout(30)
def test_persistent_5xx_raises_naming_url_and_page_after_budget(small_world, employer_id):
    with _serve(small_world, error_rate=1.0) as m:
        loket = _loket(m)
        started = time.monotonic()
        with pytest.raises(ServerError) as info:
            loket.employments(employer_id)
        elapsed = time.monotonic() - started
        valinso = _valinso(m)
        with pytest.raises(ServerError) as vinfo:
            valinso.vends()
        loket_requests = data_requests(m.app, "/v2/")
        valinso_requests = data_requests(m.app, "/api/")
    text = str(info.value)
    assert "/v2/providers/employers/" in text and "employments" in text
    assert re.search(r"\bpage:? 1\b", text), text
    assert "after 5 attempts" in text
    assert info.value.status in (500, 502, 503)
    assert len(loket_requests) == FAST.max_attempts  # exactly the budget, not one more
    assert len(valinso_requests) == FAST.max_attempts
    assert "/vends" in str(vinfo.value) and re.search(r"\bpage:? 1\b", str(vinfo.value))
    assert elapsed < 10


# -- 429 + Retry-After -----------------------------------------------------------------------------


@pytest.mark.timeout(90)
def test_rate_limited_with_retry_after_exact(small_world, employer_id):
    with _serve(small_world, rate_limit=8) as m:
        vends = _valinso(m, max_concurrency=4).vends()
        requests = _loket(m, page_size=50, max_concurrency=4).leave_requests(employer_id)
        limited = m.faults.counts["rate_limited"]
        budget_v = _assert_budget(m.app, "/api/", FAST)
        budget_l = _assert_budget(m.app, "/v2/", FAST)
    assert_same_rows(vends, small_world.vends, what="vends")
    assert_same_rows(
        requests, _world_rows(small_world, "leave_requests", employer_id), what="leave_requests"
    )
    assert limited >= 1, "the rate limit was never hit: the test proved little"
    # The shared back-off gate keeps the storm small: far fewer 429s than pages × attempts.
    assert limited <= budget_v["pages"] + budget_l["pages"]


@pytest.mark.timeout(30)
def test_retry_after_longer_than_allowed_fails_fast_with_retry_after(small_world):
    # 0.5 requests/second: the second request gets 429 + Retry-After: 2 (> max_retry_after).
    policy = RetryPolicy(max_attempts=5, backoff_base=0.02, max_retry_after=0.5)
    with _serve(small_world, rate_limit=0.5) as m:
        valinso = _valinso(m, retry=policy, limit=1000, max_concurrency=1)
        started = time.monotonic()
        with pytest.raises(RateLimitedError) as info:
            valinso.vends()
        elapsed = time.monotonic() - started
        records = data_requests(m.app, "/api/")
    assert info.value.retry_after is not None and info.value.retry_after >= 1
    assert "/vends" in str(info.value) and "page" in str(info.value)
    assert [r.status for r in records] == [200, 429]  # no retry storm
    assert elapsed < 2


# -- latency ---------------------------------------------------------------------------------------


@pytest.mark.timeout(60)
def test_200ms_latency_exact(small_world, employer_id):
    with _serve(small_world, latency_ms=200) as m:
        loket = _loket(m, page_size=100)
        requests = loket.leave_requests(employer_id)
        vends = _valinso(m, limit=1000).vends()
        _assert_budget(m.app, "/v2/", FAST)
        _assert_budget(m.app, "/api/", FAST)
        errors = [r for r in m.app.requests if r.status >= 400]
    assert_same_rows(
        requests, _world_rows(small_world, "leave_requests", employer_id), what="leave_requests"
    )
    assert_same_rows(vends, small_world.vends, what="vends")
    assert not errors


@pytest.mark.timeout(30)
def test_latency_above_the_client_timeout_fails_bounded_naming_url_and_page(small_world):
    policy = RetryPolicy(max_attempts=3, backoff_base=0.01, backoff_max=0.05)
    with _serve(small_world, latency_ms=400) as m:
        valinso = _valinso(m, timeout=0.1, retry=policy, max_concurrency=1)
        started = time.monotonic()
        with pytest.raises(Exception) as info:
            valinso.vends()
        elapsed = time.monotonic() - started
        # The server saw each attempt arrive (it answers late; the client gave up).
        time.sleep(0.5)
        attempts = len(data_requests(m.app, "/api/"))
    # One error tree: the timeout arrives as NetworkError, the httpx error as its cause.
    assert isinstance(info.value, lv.NetworkError)
    assert isinstance(info.value.__cause__, httpx.TimeoutException)
    text = str(info.value) + " ".join(getattr(info.value, "__notes__", []))
    assert "/vends" in text and re.search(r"\bpage:? 1\b", text), text
    assert attempts == policy.max_attempts
    assert elapsed < 5


# -- token lifetime --------------------------------------------------------------------------------


@pytest.mark.timeout(90)
def test_token_lifetime_2s_during_long_leave_walk(small_world, employer_id):
    with _serve(small_world, token_lifetime=2, latency_ms=70) as m:
        loket = _loket(m, max_concurrency=2)
        started = time.monotonic()
        leave = loket.leave(employer_id)
        absences = loket.absences(employer_id)
        elapsed = time.monotonic() - started
        refreshes = loket.oauth.refresh_count
        tokens = token_requests(m.app)
        unauthorized = [r for r in data_requests(m.app, "/v2/") if r.status == 401]
        _assert_budget(m.app, "/v2/", FAST, extra=len(unauthorized))
    assert elapsed > 3, f"the load took {elapsed:.1f}s: the token never had to be renewed"
    assert refreshes >= 2
    assert len(tokens) == 1 + refreshes  # the login plus one request per refresh, no storm
    assert all(r.status == 200 for r in tokens)
    # A 401 costs exactly one refresh-and-retry (shared by threads); a handful at most.
    assert len(unauthorized) <= refreshes * 2
    assert_same_rows(leave, _world_rows(small_world, "leave", employer_id), what="leave")
    truth = small_world.absences.filter(pl.col("employer_id") == employer_id)
    assert_same_rows(absences, truth, what="absences")


# -- truncated bodies ------------------------------------------------------------------------------


@pytest.mark.timeout(60)
def test_truncated_bodies_are_refetched_exact(small_world, employer_id):
    with _serve(small_world, truncate_rate=0.15) as m:
        loket = _loket(m, page_size=50)
        requests = loket.leave_requests(employer_id)
        employments = loket.employments(employer_id)
        vends = _valinso(m).vends()
        truncated = m.faults.counts["truncated"]
        _assert_budget(m.app, "/v2/", FAST)
        _assert_budget(m.app, "/api/", FAST)
    assert truncated >= 3, f"only {truncated} bodies cut: the test proved little"
    assert_same_rows(
        requests, _world_rows(small_world, "leave_requests", employer_id), what="leave_requests"
    )
    assert_same_rows(
        employments, _world_rows(small_world, "employments", employer_id), what="employments"
    )
    assert_same_rows(vends, small_world.vends, what="vends")


@pytest.mark.timeout(30)
def test_always_truncated_raises_format_error_naming_url_and_page(small_world, employer_id):
    with _serve(small_world, truncate_rate=1.0) as m:
        with pytest.raises(ResponseFormatError) as info:
            _loket(m).employments(employer_id)
        with pytest.raises(ResponseFormatError) as vinfo:
            _valinso(m).vends()
        loket_requests = data_requests(m.app, "/v2/")
        valinso_requests = data_requests(m.app, "/api/")
    assert "employments" in str(info.value) and info.value.page == 1
    assert "truncated" in str(info.value)
    assert "/vends" in str(vinfo.value) and vinfo.value.page == 1
    assert len(loket_requests) == FAST.max_attempts
    assert len(valinso_requests) == FAST.max_attempts


@pytest.mark.timeout(60)
def test_truncated_bodies_with_cache_and_fresh_pages_never_poison_the_cache(
    small_world, employer_id, tmp_path
):
    """Fresh (cacheable) pages under truncation: a cut body must not be stored and served again."""
    with _serve(small_world, truncate_rate=0.2, expires=600) as m:
        vends = _valinso(m, cache=tmp_path / "c").vends()
        again = _valinso(m, cache=tmp_path / "c").vends()
        truncated = m.faults.counts["truncated"]
    assert truncated >= 2
    assert_same_rows(vends, small_world.vends, what="vends")
    assert_same_rows(again, small_world.vends, what="vends (from cache)")


# -- drift -----------------------------------------------------------------------------------------


@pytest.mark.timeout(30)
@pytest.mark.parametrize("api", ["loket", "valinso"])
def test_drift_warns_naming_url(small_world, employer_id, api):
    with _serve(small_world, drift=True) as m:
        with pytest.warns(PaginationWarning) as record:
            if api == "loket":
                frame = _loket(m, page_size=50, max_concurrency=1).leave_requests(employer_id)
            else:
                frame = _valinso(m, limit=500, max_concurrency=1).vends()
        drifted = m.faults.counts["drifted"]
    assert drifted >= 1
    texts = [str(w.message) for w in record if issubclass(w.category, PaginationWarning)]
    needle = "leaverequests" if api == "loket" else "/vends"
    assert any(needle in t and "127.0.0.1" in t for t in texts), texts
    assert frame.height > 0


@pytest.mark.timeout(30)
@pytest.mark.parametrize("api", ["loket", "valinso"])
def test_drift_strict_raises_naming_url_and_page(small_world, employer_id, api):
    with _serve(small_world, drift=True) as m, warnings.catch_warnings():
        warnings.simplefilter("error", PaginationWarning)  # a warning here would be a bug
        with pytest.raises(PaginationError) as info:
            if api == "loket":
                _loket(m, page_size=50, strict=True).leave_requests(employer_id)
            else:
                _valinso(m, limit=500, strict=True).vends()
    needle = "leaverequests" if api == "loket" else "/vends"
    assert needle in str(info.value)
    assert info.value.page is not None and info.value.page >= 1
    assert f"page: {info.value.page}" in str(info.value)


# -- everything at once ----------------------------------------------------------------------------


@pytest.mark.timeout(90)
def test_all_faults_together_exact(small_world, employer_id):
    with _serve(
        small_world,
        error_rate=0.05,
        truncate_rate=0.05,
        latency_ms=20,
        rate_limit=40,
        token_lifetime=2,
    ) as m:
        loket = _loket(m, page_size=50, max_concurrency=4)
        requests = loket.leave_requests(employer_id)
        leave = loket.leave(employer_id)
        vends = _valinso(m, max_concurrency=4).vends()
        unauthorized = [r for r in data_requests(m.app, "/v2/") if r.status == 401]
        _assert_budget(m.app, "/v2/", FAST, extra=len(unauthorized))
        _assert_budget(m.app, "/api/", FAST)
        assert len(token_requests(m.app)) == 1 + loket.oauth.refresh_count
    assert_same_rows(
        requests, _world_rows(small_world, "leave_requests", employer_id), what="leave_requests"
    )
    assert_same_rows(leave, _world_rows(small_world, "leave", employer_id), what="leave")
    assert_same_rows(vends, small_world.vends, what="vends")


@pytest.mark.timeout(60)
def test_truncated_detail_with_etag_never_poisons_the_cache(small_world, employer_id, tmp_path):
    with _serve(small_world, truncate_rate=0.5) as m:
        loket = _loket(m, cache=tmp_path / "c")
        frames_ = [loket.employer(employer_id) for _ in range(10)]
        truncated = m.faults.counts["truncated"]
    assert truncated >= 1
    for frame in frames_:
        assert frame["id"].to_list() == [employer_id]
