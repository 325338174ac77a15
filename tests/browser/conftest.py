"""Browser fixtures: Debian's Chromium driven by Playwright, with the network fenced to loopback.

Every page gets a :class:`NetworkGuard`: a route on ``**/*`` lets ``file:``, ``data:``, ``blob:``
and ``http(s)://127.0.0.1`` through and aborts (and records) everything else; console errors,
uncaught page errors, failed requests and non-loopback WebSockets are recorded too, and
``guard.assert_clean()`` fails the test on any of them.

Skipped, with the reason, when Playwright or ``/usr/bin/chromium`` is missing
(``bash .ci/install-browser.sh`` installs Chromium; ``pip install -e '.[browser]'`` the rest).
Playwright's own browser download is never used.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .guard import NetworkGuard

CHROMIUM = Path(os.environ.get("LV_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]
#: Default wait for any single page action or expectation (ms).
ACTION_TIMEOUT_MS = 30_000
#: Where to also copy every screenshot (CI artifacts, or to look at them by hand).
SCREENSHOT_COPY_DIR = os.environ.get("LV_BROWSER_SCREENSHOTS")


def _require_browser() -> Any:
    try:
        from playwright import sync_api
    except ImportError:
        pytest.skip("playwright is not installed: pip install -e '.[browser]'")
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing: run `bash .ci/install-browser.sh` (Debian chromium)")
    return sync_api


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """One headless Debian Chromium per session (Playwright gives it a fresh temp profile)."""
    sync_api = _require_browser()
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS, timeout=60_000
        )
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def guarded_page(browser: Any) -> Iterator[tuple[Any, NetworkGuard]]:
    """A fresh context + page with the loopback-only fence; yields ``(page, guard)``."""
    context = browser.new_context(viewport={"width": 1280, "height": 900}, service_workers="block")
    context.set_default_timeout(ACTION_TIMEOUT_MS)
    context.set_default_navigation_timeout(60_000)
    page = context.new_page()
    guard = NetworkGuard()
    guard.attach(page)
    try:
        yield page, guard
    finally:
        context.close()


@pytest.fixture
def shoot(tmp_path: Path):
    """``shoot(page, "name")`` saves ``<tmp>/screenshots/name.png`` (and a copy, if asked)."""
    folder = tmp_path / "screenshots"
    folder.mkdir()

    def take(page: Any, name: str, *, full_page: bool = True) -> Path:
        path = folder / f"{name}.png"
        page.screenshot(path=str(path), full_page=full_page, timeout=ACTION_TIMEOUT_MS)
        if SCREENSHOT_COPY_DIR:
            copy_dir = Path(SCREENSHOT_COPY_DIR)
            copy_dir.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, copy_dir / path.name)
        return path

    return take
