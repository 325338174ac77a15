"""The ``loketvalinso`` logger tree: silent by default, and with ``lv.enable_logging`` every
retry, 429 wait, token refresh, page plan and stop reason at INFO, cache decisions at DEBUG,
URLs redacted."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest

import loketvalinso as lv
from loketvalinso.errors import ConfigurationError


@pytest.fixture
def log_text() -> Iterator[io.StringIO]:
    """What ``lv.enable_logging`` writes, reset afterwards."""
    stream = io.StringIO()
    root = logging.getLogger("loketvalinso")
    handler = lv.enable_logging("INFO", stream=stream)
    yield stream
    root.removeHandler(handler)
    root.setLevel(logging.NOTSET)


def test_silent_by_default_with_a_null_handler():
    root = logging.getLogger("loketvalinso")
    assert any(isinstance(h, logging.NullHandler) for h in root.handlers)


def test_enable_logging_twice_keeps_one_handler(log_text):
    root = logging.getLogger("loketvalinso")
    second = lv.enable_logging("debug", stream=log_text)
    ours = [h for h in root.handlers if not isinstance(h, logging.NullHandler)]
    assert ours == [second] and root.level == logging.DEBUG
    with pytest.raises(ConfigurationError, match="DEBUG, INFO"):
        lv.enable_logging("loud")


def test_each_retry_under_5xx_is_logged_with_a_redacted_url(small_world, log_text):
    secret = "s3cr3t-code-value"
    with (
        lv.mock.serve(seed=7, world=small_world, error_rate=0.15) as m,
        lv.Valinso.from_mock(m, cache=False, progress=False, limit=100) as valinso,
    ):
        m.faults.reset_counts()
        vends = valinso.get("/vends", params={"code": secret})
        injected = m.faults.counts["server_errors"]
    text = log_text.getvalue()
    retries = [line for line in text.splitlines() if "loketvalinso.retry" in line]
    assert vends.height == small_world.vends.height
    assert injected >= 3, "too few 5xx injected: the test proved little"
    assert len(retries) == injected  # one line per error the server answered
    assert all("; retry " in line and "code=***" in line for line in retries), retries[:3]
    assert secret not in text
    assert "pages announced" in text and "paging stopped: all" in text


def test_429_waits_and_token_refreshes_are_logged(small_world, employer_id, log_text):
    with (
        lv.mock.serve(seed=7, world=small_world, rate_limit=8) as m,
        lv.Loket.from_mock(m, cache=False, progress=False, page_size=20) as loket,
    ):
        loket.leave_requests(employer_id)
        m.app.oauth.expire_all()  # every access token refused: one refresh
        loket.departments(employer_id)
        refresh_tokens = list(m.app.oauth._refresh)
        limited = m.faults.counts["rate_limited"]
    text = log_text.getvalue()
    assert limited > 0
    waits = [line for line in text.splitlines() if "HTTP 429 (Retry-After" in line]
    assert len(waits) == limited
    assert "refreshing the Loket access token" in text
    assert "logged in to Loket (authorization code)" in text
    assert not any(token in text for token in refresh_tokens)


def test_cache_decisions_at_debug(small_world, employer_id, tmp_path, log_text):
    lv.enable_logging("DEBUG", stream=log_text)
    with (
        lv.mock.serve(seed=7, world=small_world, expires=600) as m,
        lv.Loket.from_mock(m, cache=tmp_path / "c", progress=False) as loket,
    ):
        loket.departments(employer_id)
        loket.departments(employer_id)
        loket.employer(employer_id)
        loket.employer(employer_id)
    lines = [line for line in log_text.getvalue().splitlines() if "loketvalinso.cache" in line]
    assert any("miss: HTTP 200 from the server, stored" in line for line in lines)
    assert any("hit: fresh for the server" in line for line in lines)
    assert any("revalidating" in line for line in lines) or any("hit" in line for line in lines)
    assert all("DEBUG" in line for line in lines)
    assert "Loket user identified" in log_text.getvalue()
