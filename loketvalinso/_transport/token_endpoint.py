"""The Loket token endpoint: its HTTP client and what its answers mean.

Token requests get a client of their own (:func:`token_client`): never retried, since a refresh
token rotates and a replay could burn it, but bounded by the same deadline and body cap as every
other response. :func:`read_token_answer` turns an answer into the token set or into the error
of our tree that says what to do (log in again, check the client id, try later).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx
import orjson

from loketvalinso._transport.client import build_transport, default_user_agent
from loketvalinso._transport.credentials import header_safe
from loketvalinso._transport.limits import ACCEPT_ENCODING
from loketvalinso.errors import (
    AuthenticationError,
    LoginRequiredError,
    ResponseFormatError,
    ServerError,
)

__all__ = ["LOGIN_HOW", "read_token_answer", "token_client"]

#: What every "log in again" error tells the user to do.
LOGIN_HOW = (
    "Log in again: call authorization_url(), open it, then finish_login(<the URL you were sent "
    "back to>); or login_password(username, password) where the password grant is enabled"
)


def token_client(
    *,
    token_url: str,
    transport: httpx.BaseTransport | None,
    timeout: float | None,
    deadline: float,
    max_body_bytes: int,
) -> httpx.Client:
    """The client token requests are sent with (``transport``, when given, is not closed by it:
    its owner closes it)."""
    bounded = build_transport(
        transport=_Unclosable(transport) if transport is not None else None,
        retry=None,
        max_connections=2,
        proxy_for=token_url if transport is None else None,
        deadline=deadline,
        max_body_bytes=max_body_bytes,
    )
    return httpx.Client(
        transport=bounded,
        timeout=timeout,
        headers={
            "User-Agent": default_user_agent(),
            "Accept": "application/json",
            "Accept-Encoding": ACCEPT_ENCODING,
        },
        follow_redirects=False,
        trust_env=False,  # the proxy came through build_transport; no netrc credentials
    )


def read_token_answer(status: int, content: bytes, *, grant: str, url: str) -> dict[str, Any]:
    """The token set of a 200 answer to a ``grant`` request, or the error that says what to do.

    Raises
    ------
    LoginRequiredError
        The grant was refused (``invalid_grant``, or a refresh token refused with 400/401): the
        user must log in again (or, for a password grant, give the right password).
    AuthenticationError
        The client was refused (``invalid_client``) or the request otherwise.
    ServerError
        The endpoint failed (5xx).
    ResponseFormatError
        A 200 without a usable ``access_token``.
    """
    try:
        payload = orjson.loads(content) if content else None
    except orjson.JSONDecodeError:
        payload = None
    if status == 200:
        if not isinstance(payload, Mapping) or not isinstance(payload.get("access_token"), str):
            msg = f"the token endpoint answered 200 without an access_token ({len(content)} bytes)"
            raise ResponseFormatError(msg, url=url)
        for name in ("access_token", "refresh_token"):
            if payload.get(name) is not None and not header_safe(payload[name]):
                # it could not be sent back in a header: say so, without quoting it
                msg = f"the token endpoint issued an unusable {name} (not printable ASCII)"
                raise ResponseFormatError(msg, url=url)
        return dict(payload)
    error = str(payload.get("error", "")) if isinstance(payload, Mapping) else ""
    description = str(payload.get("error_description", "")) if isinstance(payload, Mapping) else ""
    detail = f"{error}: {description}" if description else error or f"status {status}"
    if error == "invalid_grant" or (grant == "refresh_token" and status in (400, 401)):
        if grant == "refresh_token":
            msg = f"the Loket refresh token was refused ({detail}). {LOGIN_HOW}"
        elif grant == "password":
            msg = f"the Loket user name or password was refused ({detail})"
        else:
            msg = f"the Loket authorization code was refused ({detail}). {LOGIN_HOW}"
        raise LoginRequiredError(msg, status=status, url=url)
    if error == "invalid_client":
        msg = f"the Loket token endpoint refused the client ({detail})"
        raise AuthenticationError(
            msg,
            status=status,
            url=url,
            hint="check client_id and client_secret, and that they belong to this environment",
        )
    if status >= 500:
        msg = f"the Loket token endpoint failed ({detail})"
        raise ServerError(msg, status=status, url=url)
    msg = f"the Loket token request ({grant}) was refused ({detail})"
    raise AuthenticationError(msg, status=status, url=url)


class _Unclosable(httpx.BaseTransport):
    """Delegate to a shared transport without closing it (its owner does)."""

    def __init__(self, inner: httpx.BaseTransport) -> None:
        self.inner = inner

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        return self.inner.handle_request(request)

    def close(self) -> None:
        pass
