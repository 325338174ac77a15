"""The httpx auth flows: the credential header on each request, and who is asking.

:class:`LoketAuth` takes its bearer token from a :class:`~loketvalinso._transport.auth.LoketOAuth`
(refreshing once on a 401) and asks ``GET /user`` once per login, so that the cache below keys
entries by the user; :class:`ValinsoAuth` sends the ``api-key`` header. Both put who is asking in
``request.extensions["loketvalinso.identity"]``, the only thing the cache learns of them.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Generator, Mapping
from typing import Any

import httpx
import orjson

from loketvalinso._transport import extensions as ext
from loketvalinso._transport.auth import LoketOAuth, Secret
from loketvalinso._transport.client import default_user_agent
from loketvalinso._transport.credentials import clean_credential
from loketvalinso._transport.keys import make_identity
from loketvalinso._transport.token_endpoint import LOGIN_HOW
from loketvalinso.errors import ConfigurationError, LoginRequiredError, redact_url

__all__ = ["USER_ACCEPT", "USER_PATH", "LoketAuth", "ValinsoAuth"]

#: The API resource that says who an access token belongs to (``GetUserByToken``).
USER_PATH = "/user"
#: Its one documented resource version.
USER_ACCEPT = "application/json;version=2018-01-01"

_log = logging.getLogger("loketvalinso.auth")


class LoketAuth(httpx.Auth):
    """``Authorization: Bearer …`` from a :class:`LoketOAuth`, with one refresh-and-retry on 401,
    and who is asking on every request (``request.extensions["loketvalinso.identity"]``).

    A 401 causes exactly one refresh (shared by all threads refused with the same token) and one
    retry of the request; a second 401 is returned to the caller, who raises
    :class:`~loketvalinso.errors.AuthenticationError`. Without a refresh token a 401 raises
    :class:`~loketvalinso.errors.LoginRequiredError` at once.

    Before the first request of a login whose user is not known yet, ``GET /user`` is sent
    through the same stack (retried like any request, never cached) and its answer becomes the
    identity (:meth:`LoketOAuth.learn_user`); threads arriving meanwhile wait for that answer.

    Parameters
    ----------
    oauth : LoketOAuth
        Logs in and hands out tokens.
    user_url : str, optional
        The API's ``/user`` (``<base_url>/user``); without it (no cache needs to know who is
        asking) the identity is the login's and nothing is asked.
    offline : bool
        Nothing leaves the machine (the cache answers): no token is needed, only who is asking
        (:meth:`LoketOAuth.offline_identity`).
    """

    # Buffer request bodies so the one retry after a refresh can send them again.
    requires_request_body = True

    def __init__(
        self, oauth: LoketOAuth, *, user_url: str | None = None, offline: bool = False
    ) -> None:
        self.oauth = oauth
        self.user_url = user_url
        self.offline = offline
        self._asking = threading.Lock()

    def __repr__(self) -> str:
        return f"LoketAuth({self.oauth!r})"

    @property
    def identity(self) -> str | None:
        """See :attr:`LoketOAuth.identity`."""
        return self.oauth.identity

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        if self.offline:
            request.extensions[ext.IDENTITY] = self.oauth.offline_identity()
            yield request
            return
        token = self.oauth.access_token
        identity = self.oauth.identity
        if identity is None:
            identity, token = yield from self._ask_who(request, token)
        request.headers["Authorization"] = f"Bearer {token}"
        # who is asking travels with the request, for the cache below (it never asks back up)
        request.extensions[ext.IDENTITY] = identity
        response = yield request
        if response.status_code != 401:
            return
        if not self.oauth.can_refresh:
            msg = f"Loket refused the access token (401) and there is no refresh token. {LOGIN_HOW}"
            raise LoginRequiredError(msg, status=401, url=request.url)
        request.headers["Authorization"] = f"Bearer {self.oauth.refresh_after_rejection(token)}"
        yield request

    def _ask_who(
        self, request: httpx.Request, token: str
    ) -> Generator[httpx.Request, httpx.Response, tuple[str, str]]:
        """``GET /user`` once per login: ``(identity, the token to use)``."""
        with self._asking:
            identity = self.oauth.identity  # another thread may have asked meanwhile
            if identity is not None:
                return identity, self.oauth.access_token
            if not self.user_url:  # no cache below: nobody needs to know who it is
                return self.oauth.login_identity, token
            response: httpx.Response | None = None
            for attempt in (1, 2):
                ask = httpx.Request(
                    "GET",
                    self.user_url,
                    headers={
                        "Authorization": f"Bearer {token}",
                        "Accept": USER_ACCEPT,
                        "User-Agent": request.headers.get("user-agent", default_user_agent()),
                    },
                    extensions={ext.UNCACHED: True},
                )
                response = yield ask
                if response.status_code == 401 and attempt == 1 and self.oauth.can_refresh:
                    token = self.oauth.refresh_after_rejection(token)
                    continue
                break
            assert response is not None
            user: Mapping[str, Any] | None = None
            if response.status_code == 200:
                response.read()
                try:
                    body = orjson.loads(response.content)
                except orjson.JSONDecodeError:
                    body = None
                content = body.get("content") if isinstance(body, Mapping) else None
                user = content if isinstance(content, Mapping) else None
            else:
                _log.info(
                    "GET %s answered HTTP %d: who is logged in stays unknown",
                    redact_url(self.user_url),
                    response.status_code,
                )
            return self.oauth.learn_user(user, namespace=self.user_url), token


class ValinsoAuth(httpx.Auth):
    """The Valinso ``api-key`` header.

    Parameters
    ----------
    api_key : str
        The key issued by Valinso support.

    Raises
    ------
    ConfigurationError
        The key is empty, or holds a line break, a control character or a character that cannot
        travel in an HTTP header (surrounding whitespace is stripped).
    """

    def __init__(self, api_key: str) -> None:
        if not isinstance(api_key, str) or not api_key.strip():
            msg = "a Valinso api_key is required (request one from Valinso support)"
            raise ConfigurationError(msg)
        # Keys copied from e-mails often carry a newline; inside, one would make the header invalid.
        self._api_key = Secret(clean_credential(api_key, what="the Valinso api_key"))

    def __repr__(self) -> str:
        return "ValinsoAuth(api_key='***')"

    __str__ = __repr__

    def __reduce__(self) -> Any:
        msg = "ValinsoAuth holds the api key and cannot be pickled"
        raise TypeError(msg)

    @property
    def identity(self) -> str:
        """A stable non-secret hash of the key, for cache keys (never the key itself)."""
        return make_identity("valinso", self._api_key.reveal())

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["api-key"] = self._api_key.reveal()
        request.extensions[ext.IDENTITY] = self.identity
        yield request
