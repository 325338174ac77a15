"""Framework-free HTTP primitives shared by every part of the embedded mock.

The mock is written once against :class:`MockRequest` → :class:`MockResponse`; the threaded HTTP
server (``server.py``) and the in-process httpx transport both adapt to this, so the same handlers
answer over real loopback HTTP and in-process.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any
from urllib.parse import parse_qs

import orjson

__all__ = [
    "Handler",
    "MockRequest",
    "MockResponse",
    "Router",
    "http_date",
    "json_response",
    "text_response",
]


@dataclass(frozen=True, slots=True)
class MockRequest:
    """One request as the mock sees it.

    ``path`` is the decoded path without the query; ``query`` maps each parameter to all its
    values (blank values kept); ``headers`` has lower-case names.
    """

    method: str
    path: str
    query: Mapping[str, list[str]] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""

    @classmethod
    def build(
        cls,
        method: str,
        path: str,
        query_string: str = "",
        headers: Iterable[tuple[str, str]] | Mapping[str, str] = (),
        body: bytes = b"",
    ) -> MockRequest:
        items = headers.items() if isinstance(headers, Mapping) else headers
        return cls(
            method=method.upper(),
            path=path,
            query=parse_qs(query_string, keep_blank_values=True),
            headers={k.lower(): v for k, v in items},
            body=body,
        )

    def param(self, name: str, default: str | None = None) -> str | None:
        """First value of query parameter ``name`` (case-insensitive name), else ``default``."""
        if name in self.query:
            return self.query[name][0]
        lower = name.lower()
        for key, values in self.query.items():
            if key.lower() == lower:
                return values[0]
        return default

    def params(self, name: str) -> list[str]:
        """All values of query parameter ``name`` (case-insensitive name)."""
        lower = name.lower()
        out: list[str] = []
        for key, values in self.query.items():
            if key.lower() == lower:
                out.extend(values)
        return out

    def json(self) -> Any:
        return orjson.loads(self.body)


@dataclass(slots=True)
class MockResponse:
    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""

    def header(self, name: str) -> str | None:
        lower = name.lower()
        for k, v in self.headers:
            if k.lower() == lower:
                return v
        return None

    def set_header(self, name: str, value: str) -> None:
        lower = name.lower()
        self.headers = [(k, v) for k, v in self.headers if k.lower() != lower]
        self.headers.append((name, value))


def json_response(
    status: int,
    payload: Any,
    *,
    content_type: str = "application/json",
    headers: Iterable[tuple[str, str]] = (),
) -> MockResponse:
    """A JSON response; ``payload`` may be pre-encoded ``bytes``."""
    body = payload if isinstance(payload, bytes) else orjson.dumps(payload)
    return MockResponse(status, [("Content-Type", content_type), *headers], body)


def text_response(
    status: int, text: str, *, headers: Iterable[tuple[str, str]] = ()
) -> MockResponse:
    return MockResponse(
        status, [("Content-Type", "text/plain; charset=utf-8"), *headers], text.encode()
    )


def http_date(when: float | datetime) -> str:
    """An RFC 9110 HTTP-date (``Expires``/``Date`` header value)."""
    if not isinstance(when, datetime):
        when = datetime.fromtimestamp(when, tz=UTC)
    return format_datetime(when.astimezone(UTC), usegmt=True)


Handler = Callable[..., MockResponse]
_PARAM = re.compile(r"^\{(\w+)\}$")


class Router:
    """Method + path-template routing; literal segments win over ``{param}`` segments.

    The real Loket API has overlapping templates (``/providers/employers/minimized`` vs
    ``/providers/employers/{employerId}``), so matching is by segment with literals first, not by
    registration order. Handlers are called as ``handler(request, **path_params)``.
    """

    def __init__(self) -> None:
        self._routes: list[tuple[str, tuple[str, ...], Handler]] = []

    def add(self, method: str, template: str, handler: Handler) -> None:
        segments = tuple(s for s in template.strip("/").split("/") if s)
        self._routes.append((method.upper(), segments, handler))
        # More literal segments first, then longer templates.
        self._routes.sort(key=lambda r: (-len(r[1]), -sum(not _PARAM.match(s) for s in r[1])))

    def route(self, method: str, template: str) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            self.add(method, template, handler)
            return handler

        return register

    def methods(self, path: str) -> list[str]:
        """The methods some route of ``path`` answers (for a 405's ``Allow``)."""
        parts = [p for p in path.strip("/").split("/") if p]
        found = {
            method
            for method, segments, _ in self._routes
            if len(segments) == len(parts)
            and all(
                _PARAM.match(seg) or seg.lower() == part.lower()
                for seg, part in zip(segments, parts, strict=True)
            )
        }
        return sorted(found)

    def match(self, method: str, path: str) -> tuple[Handler, dict[str, str]] | bool | None:
        """``(handler, params)``; ``False`` when the path exists for another method; else None."""
        parts = [p for p in path.strip("/").split("/") if p]
        best: tuple[int, Handler, dict[str, str]] | None = None
        other_method = False
        for route_method, segments, handler in self._routes:
            if len(segments) != len(parts):
                continue
            params: dict[str, str] = {}
            literal_hits = 0
            for seg, part in zip(segments, parts, strict=True):
                m = _PARAM.match(seg)
                if m:
                    params[m.group(1)] = part
                elif seg.lower() == part.lower():
                    literal_hits += 1
                else:
                    break
            else:
                if route_method != method.upper():
                    other_method = True
                    continue
                if best is None or literal_hits > best[0]:
                    best = (literal_hits, handler, params)
        if best is not None:
            return best[1], best[2]
        return False if other_method else None
