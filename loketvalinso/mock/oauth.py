"""The mock's Loket OAuth 2.0 server: ``/authorize`` and ``/token``.

Flows, as the real ``oauth.loket.nl`` offers them:

- authorization code with PKCE (``S256`` only) and ``state``; the mock auto-approves
  ``/authorize`` (as the user its ``login_hint`` names, else the first user) and redirects to
  ``redirect_uri?code=…&state=…``;
- ``refresh_token`` (the refresh token rotates: the old one stops working);
- ``password`` (enabled here; the real server only enables it by exception).

Tokens are made of letters, digits, ``_`` and ``-`` only, because the spec's ``Authorization``
header pattern is ``^Bearer\\s[\\w-]+$`` (a JWT with dots would not match it). Secrets never
appear in a repr or an error body.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import math
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

from loketvalinso.mock._http import MockRequest, MockResponse, http_date, json_response
from loketvalinso.mock.world import Credentials

__all__ = ["AUTH_DENIED", "OAuthServer"]

#: The body the real API sends with a 401.
AUTH_DENIED = {"message": "Authorization has been denied for this request."}

# Long enough for a notebook user to finish a login, short enough that a leaked code is useless.
CODE_LIFETIME = 300.0
# Refresh tokens outlive access tokens by far, as on the real server.
REFRESH_LIFETIME = 30 * 24 * 3600.0
_PAST = "Thu, 01 Jan 1970 00:00:00 GMT"


@dataclass(slots=True)
class _Code:
    client_id: str
    redirect_uri: str
    challenge: str
    user: str
    expires_at: float


@dataclass(slots=True)
class _Grant:
    client_id: str
    user: str
    expires_at: float
    code: str | None = None  # the authorization code it came from (revoked on code reuse)


def _new_token(nbytes: int = 32) -> str:
    # token_urlsafe yields [A-Za-z0-9_-] only, which the spec's header pattern requires.
    return secrets.token_urlsafe(nbytes)


def _s256(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def _oauth_error(status: int, error: str, description: str, **headers: str) -> MockResponse:
    return json_response(
        status,
        {"error": error, "error_description": description},
        headers=[
            ("Cache-Control", "no-store"),
            ("Pragma", "no-cache"),
            ("Expires", _PAST),
            *headers.items(),
        ],
    )


def _with_query(uri: str, params: dict[str, str]) -> str:
    parts = urlsplit(uri)
    query = f"{parts.query}&{urlencode(params)}" if parts.query else urlencode(params)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, parts.fragment))


class OAuthServer:
    """Issues and checks the mock's Loket access tokens.

    Parameters
    ----------
    credentials
        The one client (id, secret, redirect URI) and the users (``credentials.users``) known.
    token_lifetime
        Seconds an access token stays valid (``expires_in``); short values test refreshing.
    clock
        Wall clock in seconds (tests pass a fake one to expire tokens without sleeping).
    """

    def __init__(
        self,
        credentials: Credentials,
        *,
        token_lifetime: float = 3600,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._credentials = credentials
        self.token_lifetime = float(token_lifetime)
        self._clock = clock
        self._lock = threading.Lock()
        self._codes: dict[str, _Code] = {}
        self._used_codes: set[str] = set()
        self._access: dict[str, _Grant] = {}
        self._refresh: dict[str, _Grant] = {}

    def __repr__(self) -> str:
        return (
            f"OAuthServer(client_id={self._credentials.client_id!r}, "
            f"token_lifetime={self.token_lifetime!r}, active_tokens={len(self._access)})"
        )

    # -- the API's bearer check -------------------------------------------------------------

    def user_for(self, authorization_header: str | None) -> str | None:
        """The user a ``Bearer`` header belongs to, or ``None`` if missing, unknown or expired."""
        if not authorization_header:
            return None
        scheme, _, token = authorization_header.strip().partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            return None
        with self._lock:
            grant = self._access.get(token)
            if grant is None:
                return None
            if self._clock() >= grant.expires_at:
                del self._access[token]
                return None
            return grant.user

    def expire_all(self) -> None:
        """Invalidate every access token now (tests and fault demos: force a refresh)."""
        with self._lock:
            self._access.clear()

    # -- HTTP ------------------------------------------------------------------------------

    def handle(self, request: MockRequest) -> MockResponse:
        """Answer ``/authorize`` (GET) or ``/token`` (POST)."""
        path = request.path.rstrip("/")
        if path == "/authorize":
            if request.method not in ("GET", "HEAD"):
                return _oauth_error(405, "invalid_request", "Use GET for /authorize.")
            return self._authorize(request)
        if path == "/token":
            if request.method != "POST":
                return _oauth_error(
                    405, "invalid_request", "Use POST with a form body for /token.", Allow="POST"
                )
            return self._token(request)
        return _oauth_error(404, "invalid_request", f"No OAuth endpoint at {request.path}.")

    def _authorize(self, request: MockRequest) -> MockResponse:
        client_id = request.param("client_id") or ""
        redirect_uri = request.param("redirect_uri") or ""
        state = request.param("state")
        # Client and redirect URI are checked before any redirect: redirecting to an unverified
        # URI would make the mock an open redirector (RFC 6749 §4.1.2.1).
        if not hmac.compare_digest(client_id, self._credentials.client_id):
            return _oauth_error(400, "unauthorized_client", "Unknown client_id.")
        if redirect_uri != self._credentials.redirect_uri:
            return _oauth_error(
                400, "invalid_request", "redirect_uri does not match the client's registered URI."
            )

        def fail(error: str, description: str) -> MockResponse:
            params = {"error": error, "error_description": description}
            if state is not None:
                params["state"] = state
            return MockResponse(302, [("Location", _with_query(redirect_uri, params))])

        if request.param("response_type") != "code":
            return fail("unsupported_response_type", "Only response_type=code is supported.")
        challenge = request.param("code_challenge")
        if not challenge:
            return fail("invalid_request", "PKCE is required: send code_challenge.")
        if request.param("code_challenge_method") != "S256":
            return fail("invalid_request", "PKCE code_challenge_method must be S256.")
        code = _new_token(24)
        with self._lock:
            self._codes[code] = _Code(
                client_id=client_id,
                redirect_uri=redirect_uri,
                challenge=challenge,
                user=self._login_user(request.param("login_hint")),
                expires_at=self._clock() + CODE_LIFETIME,
            )
        params = {"code": code}
        if state is not None:
            params["state"] = state
        return MockResponse(
            302, [("Location", _with_query(redirect_uri, params)), ("Expires", _PAST)]
        )

    def _client_from(self, request: MockRequest, form: dict[str, str]) -> tuple[str, str, bool]:
        auth = request.headers.get("authorization", "")
        if auth.lower().startswith("basic "):
            try:
                raw = base64.b64decode(auth[6:].strip(), validate=True).decode("utf-8")
            except ValueError:
                return "", "", True
            client_id, _, client_secret = raw.partition(":")
            return client_id, client_secret, True
        return form.get("client_id", ""), form.get("client_secret", ""), False

    def _token(self, request: MockRequest) -> MockResponse:
        ctype = request.headers.get("content-type", "")
        if "application/x-www-form-urlencoded" not in ctype.lower():
            return _oauth_error(
                400,
                "invalid_request",
                "Send the token request as application/x-www-form-urlencoded.",
            )
        try:
            parsed = parse_qs(request.body.decode("utf-8"), keep_blank_values=True)
        except UnicodeDecodeError:
            return _oauth_error(400, "invalid_request", "The form body is not UTF-8.")
        # The real docs spell it ``client_Id``: form names are matched case-insensitively.
        form = {k.lower(): v[0] for k, v in parsed.items()}
        client_id, client_secret, basic = self._client_from(request, form)
        creds = self._credentials
        if not (
            hmac.compare_digest(client_id.encode(), creds.client_id.encode())
            and hmac.compare_digest(client_secret.encode(), creds.client_secret.encode())
        ):
            if basic:
                return _oauth_error(
                    401,
                    "invalid_client",
                    "Client authentication failed.",
                    **{"WWW-Authenticate": 'Basic realm="oauth"'},
                )
            return _oauth_error(400, "invalid_client", "Client authentication failed.")
        grant_type = form.get("grant_type", "")
        if grant_type == "authorization_code":
            return self._grant_code(client_id, form)
        if grant_type == "refresh_token":
            return self._grant_refresh(client_id, form)
        if grant_type == "password":
            return self._grant_password(client_id, form)
        return _oauth_error(
            400,
            "unsupported_grant_type",
            "grant_type must be authorization_code, refresh_token or password.",
        )

    def _grant_code(self, client_id: str, form: dict[str, str]) -> MockResponse:
        code = form.get("code", "")
        with self._lock:
            entry = self._codes.pop(code, None)
            if entry is None:
                if code in self._used_codes:
                    # A replayed code may be stolen: revoke what it produced (RFC 6749 §4.1.2).
                    self._revoke_from_code(code)
                    return _oauth_error(
                        400, "invalid_grant", "The authorization code was already used."
                    )
                return _oauth_error(400, "invalid_grant", "Unknown or expired authorization code.")
            self._used_codes.add(code)
        if self._clock() >= entry.expires_at:
            return _oauth_error(400, "invalid_grant", "The authorization code has expired.")
        if entry.client_id != client_id:
            return _oauth_error(400, "invalid_grant", "The code was issued to another client.")
        if form.get("redirect_uri", "") != entry.redirect_uri:
            return _oauth_error(
                400, "invalid_grant", "redirect_uri differs from the one used at /authorize."
            )
        verifier = form.get("code_verifier", "")
        if not verifier:
            return _oauth_error(400, "invalid_grant", "PKCE code_verifier is missing.")
        if not hmac.compare_digest(_s256(verifier), entry.challenge):
            return _oauth_error(400, "invalid_grant", "PKCE verification failed.")
        return self._issue(client_id, entry.user, code=code)

    def _grant_refresh(self, client_id: str, form: dict[str, str]) -> MockResponse:
        token = form.get("refresh_token", "")
        with self._lock:
            grant = self._refresh.pop(token, None)
        if grant is None:
            return _oauth_error(400, "invalid_grant", "Unknown, used or revoked refresh token.")
        if self._clock() >= grant.expires_at:
            return _oauth_error(400, "invalid_grant", "The refresh token has expired.")
        if grant.client_id != client_id:
            return _oauth_error(
                400, "invalid_grant", "The refresh token belongs to another client."
            )
        return self._issue(client_id, grant.user, code=grant.code)

    def _login_user(self, hint: str | None) -> str:
        """Who the auto-approved login is: the user ``hint`` names, else the first user."""
        creds = self._credentials
        user = creds.user(hint) if hint else None
        return user.username if user is not None else creds.username

    def _grant_password(self, client_id: str, form: dict[str, str]) -> MockResponse:
        creds = self._credentials
        username = form.get("username", "")
        password = form.get("password", "")
        users = creds.users or ()
        known = {u.username: u.password for u in users} or {creds.username: creds.password}
        expected = known.get(username, "")
        ok = bool(expected) and hmac.compare_digest(password.encode(), expected.encode())
        if not ok:
            return _oauth_error(400, "invalid_grant", "The user name or password is incorrect.")
        return self._issue(client_id, username)

    def _issue(self, client_id: str, user: str, *, code: str | None = None) -> MockResponse:
        now = self._clock()
        access = _new_token(32)
        refresh = _new_token(24)
        with self._lock:
            self._access[access] = _Grant(client_id, user, now + self.token_lifetime, code)
            self._refresh[refresh] = _Grant(client_id, user, now + REFRESH_LIFETIME, code)
        body = {
            "access_token": access,
            "token_type": "bearer",
            "expires_in": max(0, math.floor(self.token_lifetime)),
            "refresh_token": refresh,
            "two_factor_state": "None",
        }
        return json_response(
            200,
            body,
            headers=[
                ("Cache-Control", "no-store"),
                ("Pragma", "no-cache"),
                ("Date", http_date(now)),
                ("Expires", _PAST),
            ],
        )

    def _revoke_from_code(self, code: str) -> None:
        # Caller holds the lock.
        for table in (self._access, self._refresh):
            for token in [t for t, g in table.items() if g.code == code]:
                del table[token]
