"""The loopback-only fence for a Playwright page (see conftest.py)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

LOCAL_SCHEMES = ("file", "data", "blob", "about")
LOCAL_HOSTS = ("127.0.0.1",)


def is_local(url: str) -> bool:
    parts = urlsplit(url)
    if parts.scheme in LOCAL_SCHEMES:
        return True
    return parts.scheme in ("http", "https", "ws", "wss") and parts.hostname in LOCAL_HOSTS


@dataclass
class NetworkGuard:
    """What a page tried that it must not: non-local requests, console errors, page errors."""

    blocked: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    failed_requests: list[str] = field(default_factory=list)
    local_requests: int = 0

    def attach(self, page: Any) -> None:
        def route(r: Any) -> None:
            url = r.request.url
            if is_local(url):
                self.local_requests += 1
                r.continue_()
            else:
                self.blocked.append(url)
                r.abort("blockedbyclient")

        page.route("**/*", route)
        page.on(
            "console",
            lambda m: (
                self.console_errors.append(f"{m.text} @ {m.location}")
                if m.type == "error"
                else None
            ),
        )
        page.on("pageerror", lambda e: self.page_errors.append(str(e)))
        page.on(
            "requestfailed",
            lambda r: (
                None
                if not is_local(r.url)  # already in .blocked
                else self.failed_requests.append(f"{r.url}: {r.failure}")
            ),
        )
        page.on(
            "websocket",
            lambda ws: None if is_local(ws.url) else self.blocked.append(ws.url),
        )

    def problems(self) -> list[str]:
        out = [f"request left the machine (blocked): {u}" for u in self.blocked]
        out += [f"console error: {t}" for t in self.console_errors]
        out += [f"page error: {t}" for t in self.page_errors]
        out += [f"local request failed: {t}" for t in self.failed_requests]
        return out

    def assert_clean(self) -> None:
        problems = self.problems()
        assert not problems, "the page was not clean:\n  " + "\n  ".join(problems)
