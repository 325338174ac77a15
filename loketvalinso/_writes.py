"""What every write of both clients shares: the request, the dry run, sending it once, and
dropping what the cache held of the resource it changed.

A write is built with the client's own httpx stack (base URL, default headers), so a dry run
shows exactly what would be sent: :class:`DryRun` holds the method, the URL, every header (the
credentials the auth layer would add shown masked) and the JSON body. Sending goes through the
same stack (auth → retry → cache → network or mock); the retry layer sends a write once (see
:mod:`~loketvalinso._transport.retry`). Whatever the answer, once the request may have reached
the server the cache's entries of the changed collections are dropped, so the next read is fresh.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson

from loketvalinso._transport.keys import resource_tags
from loketvalinso._transport.responses import error_from_transport
from loketvalinso._transport.retry import NOT_SENT_ERRORS
from loketvalinso._transport.store import DiskCache
from loketvalinso.errors import NetworkError, redact_url

__all__ = ["DryRun", "build_write", "dry_run_of", "send_write"]

#: Request headers whose values are credentials: never shown, never logged.
SECRET_HEADERS = frozenset({"authorization", "api-key", "cookie", "proxy-authorization"})


@dataclass(frozen=True)
class DryRun:
    """A write that was not sent: exactly the request that would have been.

    Attributes
    ----------
    method : str
        ``POST``, ``PUT``, ``PATCH`` or ``DELETE``.
    url : str
        The full URL (secret query values masked).
    headers : dict[str, str]
        Every header, in the order sent; credentials (``Authorization``, ``api-key``) masked.
    json : object
        The JSON body (None: no body).
    """

    method: str
    url: str
    headers: dict[str, str] = field(default_factory=dict)
    json: Any = None

    def __str__(self) -> str:
        lines = [f"{self.method} {self.url}"]
        lines += [f"{name}: {value}" for name, value in self.headers.items()]
        if self.json is not None:
            lines += ["", orjson.dumps(self.json, option=orjson.OPT_INDENT_2).decode()]
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"DryRun (nothing was sent):\n{self}"

    def _repr_html_(self) -> str:
        return (
            '<div class="loketvalinso-dryrun"><b>Dry run</b>: nothing was sent.'
            f"<pre>{html.escape(str(self))}</pre></div>"
        )


def build_write(
    client: httpx.Client,
    method: str,
    path: str,
    *,
    body: Any = None,
    headers: Mapping[str, str] | None = None,
    content_type: str = "application/json",
) -> httpx.Request:
    """The request of a write, with the client's base URL and default headers."""
    sent = dict(headers or {})
    content = None
    if body is not None:
        content = orjson.dumps(body)
        sent["Content-Type"] = content_type
    return client.build_request(method, path, content=content, headers=sent)


def dry_run_of(request: httpx.Request, *, auth_headers: Iterable[str]) -> DryRun:
    """``request`` as a :class:`DryRun`; ``auth_headers`` are the headers the auth layer adds
    when it sends (shown masked)."""
    headers: dict[str, str] = {}
    for name, value in request.headers.multi_items():
        headers[name] = _masked(name, value)
    for name in auth_headers:  # added by the auth layer when sent
        headers[name] = _masked(name, "Bearer" if name.lower() == "authorization" else "")
    body = orjson.loads(request.content) if request.content else None
    return DryRun(request.method, redact_url(request.url), headers, body)


def _masked(name: str, value: str) -> str:
    """A header value as a dry run shows it: credentials as ``***`` (an auth scheme kept)."""
    if name.lower() not in SECRET_HEADERS:
        return value
    return "Bearer ***" if value.split(" ", 1)[0] == "Bearer" else "***"


def send_write(
    client: httpx.Client,
    request: httpx.Request,
    *,
    cache: DiskCache | None,
    also_changes: Iterable[str] = (),
    label: str,
) -> httpx.Response:
    """Send ``request`` once; drop the cached entries of what it may have changed.

    ``also_changes`` are more collection tags (``c/leave``) the write changes besides those of
    its URL (:func:`~loketvalinso._transport.keys.resource_tags`).

    Raises
    ------
    NetworkError
        No answer. The message says whether the request may have reached the server (then it
        is not sent again: read the resource to see whether it was applied).
    """
    try:
        response = client.send(request)
        response.read()
    except NOT_SENT_ERRORS as exc:
        msg = (
            f"{label}: could not connect ({type(exc).__name__}); nothing was sent. Check the "
            "network and send it again"
        )
        raise NetworkError(msg, url=request.url) from exc
    except httpx.LocalProtocolError as exc:  # refused here, before sending: not the network
        raise error_from_transport(exc, url=request.url, what=label) from exc
    except httpx.TransportError as exc:
        forget(cache, request.url, also_changes)
        msg = (
            f"{label}: no answer ({type(exc).__name__}). The request may have reached the "
            "server, so it is not sent again: read the resource to see whether it was applied"
        )
        raise NetworkError(msg, url=request.url) from exc
    forget(cache, request.url, also_changes)
    return response


def forget(cache: DiskCache | None, url: httpx.URL | str, also: Iterable[str] = ()) -> None:
    """Drop the cache's entries of the collections a write to ``url`` changes."""
    if cache is not None and not cache.offline:
        cache.drop_collections([*resource_tags(url), *also])
