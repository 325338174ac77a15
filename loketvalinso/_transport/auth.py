"""Authentication: Loket OAuth 2.0 (authorization code + PKCE, refresh, password) and the Valinso api-key.

Loket, in a notebook::

    oauth = LoketOAuth(token_url=env.token_url, authorize_url=env.authorize_url,
                       client_id="...", client_secret="...", redirect_uri="https://.../callback")
    oauth.authorization_url()            # open it, log in, copy the URL you are sent back to
    oauth.finish_login("https://.../callback?code=...&state=...")
    client = build_client(base_url=env.api_url, auth=LoketAuth(oauth))

Valinso::

    client = build_client(base_url=valinso_base_url("head"), auth=ValinsoAuth(api_key))

The library never writes a token to disk. Pass ``on_token=`` to persist token sets yourself. Secrets
(client secret, password, tokens, api key) are held in :class:`Secret` boxes so no repr, ``str()``,
log line or exception message ever shows them.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import threading
import time
from collections.abc import Callable, Generator, Mapping
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import orjson

from loketvalinso._transport import extensions as ext
from loketvalinso._transport.client import build_transport, check_url_security, default_user_agent
from loketvalinso._transport.credentials import clean_credential, header_safe
from loketvalinso._transport.keys import make_identity
from loketvalinso._transport.limits import ACCEPT_ENCODING, DEFAULT_DEADLINE, DEFAULT_MAX_BODY_BYTES
from loketvalinso._transport.responses import error_from_transport
from loketvalinso.errors import (
    AuthenticationError,
    ConfigurationError,
    LoginRequiredError,
    ResponseFormatError,
    ServerError,
    redact_url,
)

__all__ = [
    "LOKET_ENVIRONMENTS",
    "VALINSO_HOST",
    "VALINSO_VERSIONS",
    "Environment",
    "LoketAuth",
    "LoketOAuth",
    "Secret",
    "ValinsoAuth",
    "loket_environment",
    "valinso_base_url",
]

#: The documented Valinso host.
VALINSO_HOST = "https://vps3.valinso.nl"
#: The documented Valinso API versions ("head" follows the newest).
VALINSO_VERSIONS = ("head", "2.0.0")

_LOGIN_HOW = (
    "Log in again: call authorization_url(), open it, then finish_login(<the URL you were sent "
    "back to>); or login_password(username, password) where the password grant is enabled"
)


class Secret:
    """A string that never shows itself in a repr, ``str()`` or format.

    Use :meth:`reveal` where the value is really needed (an HTTP header or form field).
    """

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        """The secret value."""
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__

    def __format__(self, spec: str) -> str:
        return repr(self)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Secret):
            return secrets.compare_digest(self._value.encode(), other._value.encode())
        return NotImplemented

    def __hash__(self) -> int:
        return hash(("Secret", self._value))

    def __reduce__(self) -> Any:
        # Pickling would write the secret in clear (e.g. into a cache or a saved kernel state).
        msg = "a Secret cannot be pickled"
        raise TypeError(msg)


@dataclass(frozen=True, slots=True)
class Environment:
    """Where a Loket environment lives."""

    api_url: str
    token_url: str
    authorize_url: str


LOKET_ENVIRONMENTS: dict[str, Environment] = {
    "production": Environment(
        api_url="https://api.loket.nl/v2",
        token_url="https://oauth.loket.nl/token",
        authorize_url="https://oauth.loket.nl/authorize",
    ),
    "acceptance": Environment(
        api_url="https://api.loket-acc.nl/v2",
        token_url="https://oauth.loket-acc.nl/token",
        authorize_url="https://oauth.loket-acc.nl/authorize",
    ),
    "test": Environment(
        api_url="https://api.loket-test.nl/v2",
        token_url="https://oauth.loket-test.nl/token",
        authorize_url="https://oauth.loket-test.nl/authorize",
    ),
}


def loket_environment(name: str) -> Environment:
    """The :class:`Environment` called ``name`` (``production``, ``acceptance`` or ``test``)."""
    key = name.strip().lower()
    aliases = {"prod": "production", "acc": "acceptance"}
    key = aliases.get(key, key)
    if key not in LOKET_ENVIRONMENTS:
        msg = (
            f"unknown Loket environment {name!r}: choose one of {', '.join(LOKET_ENVIRONMENTS)}, "
            "or pass base_url= and token_url= for any other server"
        )
        raise ConfigurationError(msg)
    return LOKET_ENVIRONMENTS[key]


def valinso_base_url(version: str = "head", *, host: str = VALINSO_HOST) -> str:
    """The Valinso API root for ``version``.

    Parameters
    ----------
    version : str
        ``"head"`` (the newest) or a pinned version such as ``"2.0.0"``.
    host : str
        Scheme and host, e.g. ``https://vps3.valinso.nl`` (``https://`` is added when missing).

    Returns
    -------
    str
        e.g. ``https://vps3.valinso.nl/api/head/valinso_api/``.
    """
    version = str(version).strip()
    parts = version.split(".")
    if version != "head" and not (len(parts) == 3 and all(p.isdigit() for p in parts)):
        msg = (
            f"unknown Valinso API version {version!r}: use 'head' (newest) or a pinned "
            f"version like '2.0.0' (documented: {', '.join(VALINSO_VERSIONS)})"
        )
        raise ConfigurationError(msg)
    host = host.strip().rstrip("/")
    if "://" not in host:
        host = f"https://{host}"
    return f"{host}/api/{version}/valinso_api/"


@dataclass(frozen=True, slots=True)
class _Tokens:
    access: Secret | None
    refresh: Secret | None
    expires_at: float | None  # None: unknown, assume valid until the server says 401
    lifetime: float | None = None  # expires_in as issued


class LoketOAuth:
    """The Loket OAuth 2.0 client: logs in, refreshes, and hands out a valid access token.

    Parameters
    ----------
    token_url : str, optional
        e.g. ``https://oauth.loket.nl/token`` (see :data:`LOKET_ENVIRONMENTS`). Without it (and
        ``client_id``) only tokens given to :meth:`set_tokens` can be used: no login, no refresh.
    authorize_url : str, optional
        e.g. ``https://oauth.loket.nl/authorize``; needed for :meth:`authorization_url`.
    client_id : str, optional
        The registered client; required for any token request.
    client_secret : str, optional
        Sent in the token request form when given (whether it is required depends on the client).
    redirect_uri : str, optional
        The registered redirect URI; needed for the authorization-code flow.
    transport : httpx.BaseTransport, optional
        The innermost transport for token requests (the in-process mock or a test fake); the
        network when omitted. It is not closed by :meth:`close`: its owner closes it.
    timeout : float or None
        Token request timeout in seconds, per connect and read (``deadline`` bounds it all).
    on_token : callable, optional
        Called with each new token set from the server (``access_token``, ``refresh_token``,
        ``expires_in``, ``expires_at``...), e.g. to store it in a keyring. The library itself
        stores no token anywhere but in memory.
    leeway : float
        Refresh this many seconds before the access token expires (at most half the token's
        lifetime, so short-lived tokens are not refreshed on every request).
    clock : callable
        Wall clock (unix seconds), injectable for tests.
    scope : str, optional
        Sent as ``scope`` in the authorization request when given.
    allow_insecure : bool
        Permit plain ``http://`` token/authorize URLs on non-loopback hosts.
    deadline : float
        Seconds a token request may take in all, its body included.
    max_body_bytes : int
        Largest token response accepted.

    Raises
    ------
    ConfigurationError
        A client id or secret with a line break or control character (surrounding whitespace is
        stripped), or an unusable URL.
    """

    def __init__(
        self,
        *,
        token_url: str | None = None,
        authorize_url: str | None = None,
        client_id: str | None = None,
        client_secret: str | None = None,
        redirect_uri: str | None = None,
        transport: httpx.BaseTransport | None = None,
        timeout: float | None = 30.0,
        on_token: Callable[[dict[str, Any]], None] | None = None,
        leeway: float = 30.0,
        clock: Callable[[], float] = time.time,
        scope: str | None = None,
        allow_insecure: bool = False,
        deadline: float = DEFAULT_DEADLINE,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    ) -> None:
        if client_id is not None and not str(client_id).strip() and token_url:
            msg = "client_id is required with token_url: the id of the client registered with Loket"
            raise ConfigurationError(msg)
        if token_url:
            check_url_security(token_url, allow_insecure=allow_insecure, name="token_url")
        if authorize_url:
            check_url_security(authorize_url, allow_insecure=allow_insecure, name="authorize_url")
        self.token_url = str(token_url) if token_url else ""
        self.authorize_url = str(authorize_url) if authorize_url else None
        self.client_id = clean_credential(client_id, what="client_id") if client_id else ""
        self._client_secret = (
            Secret(clean_credential(client_secret, what="the client_secret", header=False))
            if client_secret
            else None
        )
        self._deadline = deadline
        self._max_body_bytes = max_body_bytes
        self.redirect_uri = redirect_uri
        self.scope = scope
        self.leeway = float(leeway)
        self.on_token = on_token
        self._clock = clock
        self._timeout = timeout
        self._transport = transport
        self._http: httpx.Client | None = None
        self._tokens = _Tokens(None, None, None)
        self._refresh_lock = threading.Lock()
        self._state_lock = threading.Lock()
        self._pending: tuple[str, Secret] | None = None  # (state, PKCE verifier)
        self._identity_basis: str | None = None
        #: Number of refresh_token grants sent (for load reports and tests).
        self.refresh_count = 0

    # -- public state ----------------------------------------------------------------------

    def __repr__(self) -> str:
        tokens = self._tokens
        if tokens.access is None and tokens.refresh is None:
            status = "logged_in=False"
        elif tokens.expires_at is None:
            status = "logged_in=True"
        else:
            left = tokens.expires_at - self._clock()
            status = f"logged_in=True, expires_in={max(0, round(left))}s"
        token_url = redact_url(self.token_url) if self.token_url else ""
        return f"LoketOAuth(token_url={token_url!r}, client_id={self.client_id!r}, {status})"

    __str__ = __repr__

    def __reduce__(self) -> Any:
        msg = "LoketOAuth holds secrets and cannot be pickled; use on_token= to persist tokens"
        raise TypeError(msg)

    @property
    def logged_in(self) -> bool:
        """Whether a token (or a refresh token) is held."""
        tokens = self._tokens
        return tokens.access is not None or tokens.refresh is not None

    #: Alias of :attr:`logged_in`.
    has_token = logged_in

    @property
    def can_refresh(self) -> bool:
        """Whether a refresh token is held and a token endpoint is known to use it."""
        return self._tokens.refresh is not None and bool(self.token_url and self.client_id)

    @property
    def expires_at(self) -> float | None:
        """Unix time at which the access token expires (None if unknown)."""
        return self._tokens.expires_at

    @property
    def identity(self) -> str:
        """A stable, non-secret hash that names the logged-in user, for cache keys.

        ``sha256("loketvalinso-identity-v1", token_url, client_id, basis)`` where ``basis`` is
        ``user:<username>`` after :meth:`login_password`, else a sha256 of the first refresh token
        (or access token) of the latest login or :meth:`set_tokens`. Refreshes keep it; a new
        login changes it. Never contains a token.
        """
        return make_identity(self.token_url, self.client_id, self._identity_basis or "anonymous")

    @property
    def access_token(self) -> str:
        """A valid access token, refreshed first when it expires within ``leeway`` seconds.

        Raises
        ------
        LoginRequiredError
            Not logged in, or the token expired and cannot be refreshed.
        """
        tokens = self._tokens
        if tokens.access is not None and not self._due(tokens):
            return tokens.access.reveal()
        if tokens.refresh is None:
            if tokens.access is None:
                msg = f"not logged in to Loket. {_LOGIN_HOW}"
                raise LoginRequiredError(msg)
            if self._expired(tokens):
                msg = f"the Loket access token has expired and there is no refresh token. {_LOGIN_HOW}"
                raise LoginRequiredError(msg)
            # Within the leeway but not yet expired: use it while it lasts.
            return tokens.access.reveal()
        return self._refresh_if(lambda current: current.access is None or self._due(current))

    # -- login flows -----------------------------------------------------------------------

    def authorization_url(self) -> str:
        """The URL to open in a browser to log in (authorization code + PKCE S256 + state).

        A fresh ``state`` and PKCE verifier are made and kept for :meth:`finish_login`; calling
        this again invalidates the previous URL.
        """
        if not self.authorize_url:
            msg = "authorize_url is required for the login in a browser (see LOKET_ENVIRONMENTS)"
            raise ConfigurationError(msg)
        if not self.redirect_uri:
            msg = "redirect_uri is required for the login in a browser: the URI registered for the client"
            raise ConfigurationError(msg)
        verifier = secrets.token_urlsafe(64)  # 86 characters, within RFC 7636's 43..128
        challenge = (
            base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
            .rstrip(b"=")
            .decode()
        )
        state = secrets.token_urlsafe(24)
        with self._state_lock:
            self._pending = (state, Secret(verifier))
        params = {
            "response_type": "code",
            "client_id": self.client_id,
            "redirect_uri": self.redirect_uri,
            "code_challenge": challenge,
            "code_challenge_method": "S256",
            "state": state,
        }
        if self.scope:
            params["scope"] = self.scope
        separator = "&" if "?" in self.authorize_url else "?"
        return f"{self.authorize_url}{separator}{urlencode(params)}"

    def finish_login(self, redirect_url_or_code: str) -> None:
        """Finish the browser login with the URL you were sent back to (or just its ``code``).

        The URL's ``state`` must match the latest :meth:`authorization_url`; an ``error`` in it
        (e.g. the login was refused) is reported as such.

        Raises
        ------
        LoginRequiredError
            The login was refused, the state does not match, or the code was rejected.
        ConfigurationError
            The text holds no code.
        """
        text = (redirect_url_or_code or "").strip()
        if not text:
            msg = (
                "finish_login() needs the URL you were redirected to after logging in (or its code)"
            )
            raise ConfigurationError(msg)
        with self._state_lock:
            pending = self._pending
        if "?" in text or "#" in text or "://" in text or "code=" in text or "error=" in text:
            code = self._code_from_redirect(text, pending)
        else:
            code = text
        data = {"grant_type": "authorization_code", "code": code}
        if self.redirect_uri:
            data["redirect_uri"] = self.redirect_uri
        if pending is not None:
            data["code_verifier"] = pending[1].reveal()
        tokens = self._request_token(data, grant="authorization_code")
        with self._state_lock:
            # A code works once; so does its verifier.
            if self._pending is pending:
                self._pending = None
        self._store(tokens, basis=None)

    def login_password(self, username: str, password: str) -> None:
        """Log in with the password grant (only enabled for some clients by Loket).

        Raises
        ------
        LoginRequiredError
            The user name or password was refused.
        """
        if not username or not password:
            msg = "login_password() needs a user name and a password"
            raise ConfigurationError(msg)
        username = clean_credential(username, what="the user name", header=False)
        secret = Secret(clean_credential(password, what="the password", header=False, strip=False))
        data = {"grant_type": "password", "username": username, "password": secret.reveal()}
        tokens = self._request_token(data, grant="password")
        self._store(tokens, basis=f"user:{username}")

    def set_tokens(
        self,
        access_token: str | None = None,
        *,
        refresh_token: str | None = None,
        expires_in: float | None = None,
    ) -> None:
        """Use tokens obtained elsewhere (e.g. restored from your own keyring).

        With only ``refresh_token``, the first :attr:`access_token` does a refresh. With an
        ``access_token`` and no ``expires_in`` the token is used until the server refuses it.
        Surrounding whitespace is stripped (a token read from a file ends in a newline); a token
        that cannot travel in an HTTP header is refused (ConfigurationError, never quoting it).
        """
        if not access_token and not refresh_token:
            msg = "set_tokens() needs an access_token, a refresh_token, or both"
            raise ConfigurationError(msg)
        if access_token:
            access_token = clean_credential(access_token, what="the access_token")
        if refresh_token:
            refresh_token = clean_credential(refresh_token, what="the refresh_token")
        payload: dict[str, Any] = {"access_token": access_token, "refresh_token": refresh_token}
        if expires_in is not None:
            payload["expires_in"] = expires_in
        self._store(payload, basis=None, notify=False)

    def refresh(self) -> str:
        """Get a new access token with the refresh token now; return it.

        Raises
        ------
        LoginRequiredError
            No refresh token, or the server refused it (expired, revoked or already used).
        """
        return self._refresh_if(lambda current: True)

    def refresh_after_rejection(self, rejected: str) -> str:
        """A new access token after the server refused ``rejected``.

        Many threads whose requests were refused with the same token cause one refresh: the
        first refreshes, the others find the token already replaced and use the new one.
        """
        return self._refresh_if(
            lambda current: (
                current.access is None
                or secrets.compare_digest(current.access.reveal().encode(), rejected.encode())
            )
        )

    def close(self) -> None:
        """Close the token client (not a transport passed in)."""
        if self._http is not None:
            self._http.close()
            self._http = None

    def __enter__(self) -> LoketOAuth:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- internals -------------------------------------------------------------------------

    def _due(self, tokens: _Tokens) -> bool:
        if tokens.expires_at is None:
            return False
        leeway = self.leeway
        if tokens.lifetime is not None:
            # With short-lived tokens (demos, tests) a fixed leeway would refresh on every call.
            leeway = min(leeway, tokens.lifetime / 2)
        return self._clock() >= tokens.expires_at - leeway

    def _expired(self, tokens: _Tokens) -> bool:
        return tokens.expires_at is not None and self._clock() >= tokens.expires_at

    def _refresh_if(self, needed: Callable[[_Tokens], bool]) -> str:
        with self._refresh_lock:
            # Decide under the lock: another thread may have refreshed while this one waited.
            current = self._tokens
            if current.access is not None and not needed(current):
                return current.access.reveal()
            if current.refresh is None:
                msg = (
                    f"the Loket session cannot be renewed: there is no refresh token. {_LOGIN_HOW}"
                )
                raise LoginRequiredError(msg)
            self.refresh_count += 1
            data = {"grant_type": "refresh_token", "refresh_token": current.refresh.reveal()}
            payload = self._request_token(data, grant="refresh_token")
            if not payload.get("refresh_token"):
                # No rotation: the old refresh token stays valid.
                payload["refresh_token"] = current.refresh.reveal()
            stored = self._store(payload, basis=None, keep_identity=True)
            assert stored.access is not None
            return stored.access.reveal()

    def _code_from_redirect(self, text: str, pending: tuple[str, Secret] | None) -> str:
        parts = urlsplit(text if "://" in text or text.startswith("?") else f"?{text}")
        params = {k: v[0] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        # Some servers answer in the fragment.
        for key, values in parse_qs(parts.fragment, keep_blank_values=True).items():
            params.setdefault(key, values[0])
        if "error" in params:
            description = params.get("error_description", "").strip()
            detail = f": {description}" if description else ""
            msg = f"the Loket login did not succeed ({params['error']}{detail}). {_LOGIN_HOW}"
            raise LoginRequiredError(msg)
        code = params.get("code", "").strip()
        if not code:
            msg = (
                "the URL holds no 'code' parameter: paste the whole URL the browser was sent to "
                "after logging in (it starts with the redirect URI)"
            )
            raise ConfigurationError(msg)
        state = params.get("state")
        if pending is None:
            if state is not None:
                msg = (
                    "this login was not started here (or was already finished): call "
                    "authorization_url() and log in again"
                )
                raise LoginRequiredError(msg)
        elif state is None or not secrets.compare_digest(state.encode(), pending[0].encode()):
            msg = (
                "the 'state' in the URL does not match the latest authorization_url(): it belongs "
                "to another or an older login attempt. Call authorization_url() and log in again"
            )
            raise LoginRequiredError(msg)
        return code

    def _client(self) -> httpx.Client:
        with self._state_lock:
            if self._http is None:
                self._http = self._new_client()
            return self._http

    def _new_client(self) -> httpx.Client:
        # Token requests are not retried: a refresh token rotates, so a replay could burn it.
        # The body is read under the deadline and size cap as every other response is.
        transport = build_transport(
            transport=_Unclosable(self._transport) if self._transport is not None else None,
            retry=None,
            max_connections=2,
            proxy_for=self.token_url if self._transport is None else None,
            deadline=self._deadline,
            max_body_bytes=self._max_body_bytes,
        )
        return httpx.Client(
            transport=transport,
            timeout=self._timeout,
            headers={
                "User-Agent": default_user_agent(),
                "Accept": "application/json",
                "Accept-Encoding": ACCEPT_ENCODING,
            },
            follow_redirects=False,
            trust_env=False,  # the proxy came through build_transport; no netrc credentials
        )

    def _request_token(self, data: dict[str, str], *, grant: str) -> dict[str, Any]:
        if not self.token_url or not self.client_id:
            msg = (
                f"cannot {'refresh the token' if grant == 'refresh_token' else 'log in'}: no "
                "token_url/client_id were given. Pass token_url= and client_id= (or an "
                "environment), or give a new access token"
            )
            raise LoginRequiredError(msg) if grant == "refresh_token" else ConfigurationError(msg)
        form = {**data, "client_id": self.client_id}
        if self._client_secret is not None:
            form["client_secret"] = self._client_secret.reveal()
        try:
            response = self._client().post(self.token_url, data=form)
            content = response.read()
        except httpx.HTTPError as exc:
            raise error_from_transport(exc, url=self.token_url, what="the token request") from exc
        try:
            payload = orjson.loads(content) if content else None
        except orjson.JSONDecodeError:
            payload = None
        status = response.status_code
        if status == 200:
            if not isinstance(payload, Mapping) or not isinstance(payload.get("access_token"), str):
                msg = f"the token endpoint answered 200 without an access_token ({len(content)} bytes)"
                raise ResponseFormatError(msg, url=self.token_url)
            for name in ("access_token", "refresh_token"):
                if payload.get(name) is not None and not header_safe(payload[name]):
                    # it could not be sent back in a header: say so, without quoting it
                    msg = f"the token endpoint issued an unusable {name} (not printable ASCII)"
                    raise ResponseFormatError(msg, url=self.token_url)
            return dict(payload)
        error = str(payload.get("error", "")) if isinstance(payload, Mapping) else ""
        description = (
            str(payload.get("error_description", "")) if isinstance(payload, Mapping) else ""
        )
        detail = f"{error}: {description}" if description else error or f"status {status}"
        if error == "invalid_grant" or (grant == "refresh_token" and status in (400, 401)):
            if grant == "refresh_token":
                # The refresh token is dead: forget it so later calls fail fast, not hammer /token.
                self._tokens = replace(self._tokens, refresh=None)
                msg = f"the Loket refresh token was refused ({detail}). {_LOGIN_HOW}"
            elif grant == "password":
                msg = f"the Loket user name or password was refused ({detail})"
            else:
                msg = f"the Loket authorization code was refused ({detail}). {_LOGIN_HOW}"
            raise LoginRequiredError(msg, status=status, url=self.token_url)
        if error == "invalid_client":
            msg = f"the Loket token endpoint refused the client ({detail})"
            raise AuthenticationError(
                msg,
                status=status,
                url=self.token_url,
                hint="check client_id and client_secret, and that they belong to this environment",
            )
        if status >= 500:
            msg = f"the Loket token endpoint failed ({detail})"
            raise ServerError(msg, status=status, url=self.token_url)
        msg = f"the Loket token request ({grant}) was refused ({detail})"
        raise AuthenticationError(msg, status=status, url=self.token_url)

    def _store(
        self,
        payload: Mapping[str, Any],
        *,
        basis: str | None,
        notify: bool = True,
        keep_identity: bool = False,
    ) -> _Tokens:
        access = payload.get("access_token")
        refresh = payload.get("refresh_token")
        expires_in = payload.get("expires_in")
        try:
            lifetime = float(expires_in) if expires_in is not None else None
        except (TypeError, ValueError):
            lifetime = None
        expires_at = self._clock() + lifetime if lifetime is not None else None
        tokens = _Tokens(
            Secret(access) if access else None,
            Secret(refresh) if refresh else None,
            expires_at,
            lifetime,
        )
        self._tokens = tokens
        if not keep_identity:
            if basis is None:
                first = refresh or access or ""
                basis = "token:" + hashlib.sha256(str(first).encode()).hexdigest()
            self._identity_basis = basis
        if notify and self.on_token is not None:
            self.on_token(
                {
                    "access_token": access,
                    "refresh_token": refresh,
                    "expires_in": expires_in,
                    "expires_at": expires_at,
                    "token_type": payload.get("token_type", "bearer"),
                }
            )
        return tokens


class _Unclosable(httpx.BaseTransport):
    """Delegate to a shared transport without closing it (its owner does)."""

    def __init__(self, inner: httpx.BaseTransport) -> None:
        self.inner = inner

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        return self.inner.handle_request(request)

    def close(self) -> None:
        pass


class LoketAuth(httpx.Auth):
    """``Authorization: Bearer …`` from a :class:`LoketOAuth`, with one refresh-and-retry on 401.

    A 401 causes exactly one refresh (shared by all threads refused with the same token) and one
    retry of the request; a second 401 is returned to the caller, who raises
    :class:`~loketvalinso.errors.AuthenticationError`. Without a refresh token a 401 raises
    :class:`~loketvalinso.errors.LoginRequiredError` at once.
    """

    # Buffer request bodies so the one retry after a refresh can send them again.
    requires_request_body = True

    def __init__(self, oauth: LoketOAuth) -> None:
        self.oauth = oauth

    def __repr__(self) -> str:
        return f"LoketAuth({self.oauth!r})"

    @property
    def identity(self) -> str:
        """See :attr:`LoketOAuth.identity`."""
        return self.oauth.identity

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        token = self.oauth.access_token
        request.headers["Authorization"] = f"Bearer {token}"
        # who is asking travels with the request, for the cache below (it never asks back up)
        request.extensions[ext.IDENTITY] = self.oauth.identity
        response = yield request
        if response.status_code != 401:
            return
        if not self.oauth.can_refresh:
            msg = (
                f"Loket refused the access token (401) and there is no refresh token. {_LOGIN_HOW}"
            )
            raise LoginRequiredError(msg, status=401, url=request.url)
        request.headers["Authorization"] = f"Bearer {self.oauth.refresh_after_rejection(token)}"
        yield request


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
