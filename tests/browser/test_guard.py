"""The fence itself: a page that reaches for the internet is caught, and loopback is not."""

from __future__ import annotations

import pytest

from .guard import is_local

pytestmark = pytest.mark.browser


def test_is_local() -> None:
    assert is_local("file:///tmp/report.html")
    assert is_local("http://127.0.0.1:8866/voila/static/voila.js")
    assert is_local("ws://127.0.0.1:8866/api/kernels/x/channels")
    assert is_local("data:text/plain,hi")
    assert not is_local("https://cdn.jsdelivr.net/npm/vega@5")
    assert not is_local("http://localhost.example.com/")
    assert not is_local("https://127.0.0.1.nip.io/")


def test_guard_blocks_and_records_remote_requests(guarded_page, tmp_path) -> None:
    page, guard = guarded_page
    html = tmp_path / "leaky.html"
    html.write_text(
        "<!DOCTYPE html><html><head>"
        '<link rel="stylesheet" href="https://cdn.jsdelivr.net/npm/x/all.min.css">'
        '</head><body><p id="ok">local</p>'
        '<script src="https://unpkg.com/vega@5"></script>'
        "<script>console.error('boom')</script></body></html>",
        encoding="utf-8",
    )
    page.goto(html.as_uri())
    page.wait_for_selector("#ok")
    page.wait_for_timeout(200)
    assert sorted(guard.blocked) == [
        "https://cdn.jsdelivr.net/npm/x/all.min.css",
        "https://unpkg.com/vega@5",
    ]
    assert any("boom" in t for t in guard.console_errors)
    with pytest.raises(AssertionError, match="request left the machine"):
        guard.assert_clean()
