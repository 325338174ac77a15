"""Authentication: Loket OAuth 2.0 (authorization code + PKCE, refresh, password) and the Valinso api-key.

Loket, in a notebook::

    oauth = LoketOAuth(token_url=env.token_url, authorize_url=env.authorize_url,
                       client_id="...", client_secret="...", redirect_uri="https://.../callback")
    oauth.authorization_url()            # open it, log in, copy the URL you are sent back to
    oauth.finish_login("https://.../callback?code=...&state=...")
    client = build_client(base_url=env.api_url, auth=LoketAuth(oauth))

Valinso::

    client = build_client(base_url=valinso_base_url("head"), auth=ValinsoAuth(api_key))

The library never writes a token to a file. With ``token_store="keyring"`` the login (the refresh
token) and who is logged in are remembered in the operating system's keyring
(:mod:`~loketvalinso._transport.token_store`); ``on_token=`` hands every token set to your own
code. Secrets (client secret, password, tokens, api key) are held in :class:`Secret` boxes so no
repr, ``str()``, log line or exception message ever shows them.

Who is logged in
----------------
The cache keys every entry by a hash of the *user*, not of the login, so a new login of the same
user (after a kernel restart) finds yesterday's entries and two users never share one:
:class:`LoketAuth` asks the API's ``GET /user`` once per login, before the first request that
needs it, and the hash of the user's e-mail address (with the token URL and client id) is the
identity (:meth:`LoketOAuth.learn_user`). It is remembered with the login, so an ``offline=True``
client knows it without the network. Nothing here touches the network until a request needs a
token: a password login given to the constructor happens on the first load.

The ``loketvalinso.auth`` logger says at INFO when a login, a refresh or the ``GET /user``
question happens (never a token).
"""

from __future__ import annotations

import base64
import hashlib
import logging
import secrets
import threading
import time
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx

from loketvalinso._transport.client import check_url_security
from loketvalinso._transport.credentials import clean_credential
from loketvalinso._transport.keys import make_identity
from loketvalinso._transport.limits import DEFAULT_DEADLINE, DEFAULT_MAX_BODY_BYTES
from loketvalinso._transport.responses import error_from_transport
from loketvalinso._transport.token_endpoint import LOGIN_HOW, read_token_answer, token_client
from loketvalinso._transport.token_store import TokenStore, resolve_token_store
from loketvalinso.errors import (
    CacheMissError,
    ConfigurationError,
    LoginRequiredError,
    LoketValinsoWarning,
    redact_url,
)

__all__ = ["LOGIN_HOW", "LoketOAuth", "Secret"]

_log = logging.getLogger("loketvalinso.auth")

#: Who each login is, learned this process (login key → identity; both non-secret hashes): a
#: client built offline after an online one of the same login knows whose entries to read.
_KNOWN_USERS: dict[str, str] = {}
_KNOWN_USERS_LOCK = threading.Lock()
_KNOWN_USERS_MAX = 256


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
        ``expires_in``, ``expires_at``...), to keep tokens your own way.
    token_store : "keyring", TokenStore or None
        Remember the login (the newest refresh token) and who is logged in, in the operating
        system's keyring (``"keyring"``, the ``[keyring]`` extra) or any object with
        ``load``/``save``/``delete``. A remembered login is used at once (no browser step);
        tokens given to :meth:`set_tokens` replace it. Needs ``token_url`` and ``client_id``.
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
        token_store: str | TokenStore | None = None,
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
        #: a non-secret hash naming the current login (user name or first token), or None
        self._login_key: str | None = None
        #: who is logged in (from GET /user, or remembered with the login), a non-secret hash
        self._user_identity: str | None = None
        #: whether _user_identity names the user (not this login, as when /user could not say)
        self._user_known = False
        #: a password login to do when a token is first needed (user name, password)
        self._password: tuple[str, Secret] | None = None
        #: Number of refresh_token grants sent (for load reports and tests).
        self.refresh_count = 0
        #: Whether the login was restored from the token store.
        self.remembered = False
        self._token_store = resolve_token_store(token_store)
        self._account = f"{self.client_id} {self.token_url}"
        if self._token_store is not None:
            if not (self.token_url and self.client_id):
                msg = (
                    "token_store needs token_url= and client_id= (or an environment=): a login "
                    "is remembered per client and server"
                )
                raise ConfigurationError(msg)
            self._restore()

    # -- public state ----------------------------------------------------------------------

    def __repr__(self) -> str:
        tokens = self._tokens
        if tokens.access is None and tokens.refresh is None:
            status = "logged_in=False"
            if self._password is not None:
                status += ", password login on first use"
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
    def login_pending(self) -> bool:
        """Whether a password login waits for the first request that needs a token."""
        return self._password is not None and not self.logged_in

    @property
    def token_store(self) -> TokenStore | None:
        """Where the login is remembered (None: nowhere but in memory)."""
        return self._token_store

    @property
    def can_refresh(self) -> bool:
        """Whether a refresh token is held and a token endpoint is known to use it."""
        return self._tokens.refresh is not None and bool(self.token_url and self.client_id)

    @property
    def expires_at(self) -> float | None:
        """Unix time at which the access token expires (None if unknown)."""
        return self._tokens.expires_at

    @property
    def identity(self) -> str | None:
        """Who is logged in, as a stable non-secret hash for cache keys; None until known.

        Known once :class:`LoketAuth` asked ``GET /user`` (:meth:`learn_user`), when the login
        was remembered with it (``token_store``), or when this process already learned it for
        the same login. Refreshes keep it; a new login asks again. Never contains a token.
        """
        if self._user_identity is not None:
            return self._user_identity
        key = self._login_key
        if key is None:
            return None
        with _KNOWN_USERS_LOCK:
            return _KNOWN_USERS.get(key)

    @property
    def login_identity(self) -> str:
        """The identity of this login when the API cannot say who is logged in: a hash of the
        token URL, client id and the user name (password grant) or the login's first token."""
        return self._login_key or make_identity(self.token_url, self.client_id, "anonymous")

    def learn_user(self, user: Mapping[str, Any] | None, *, namespace: str = "") -> str:
        """Take who is logged in from a ``GET /user`` body's ``content``; return the identity.

        The identity is ``sha256(token_url or namespace, client_id, e-mail address)``: the
        address is the user's unique login name at Loket (``/user`` has no id). It is remembered
        with the login. Without an address (``user`` None: the question failed) this login's
        own :attr:`login_identity` is used for this session, and not remembered.
        """
        contact = user.get("contactInformation") if isinstance(user, Mapping) else None
        email = contact.get("emailAddress") if isinstance(contact, Mapping) else None
        if not isinstance(email, str) or not email.strip():
            identity = self.login_identity
            _log.info(
                "Loket did not say who is logged in: the cache is keyed by this login, so a "
                "new login will not find its entries"
            )
            self._user_identity, self._user_known = identity, False
            return identity
        identity = make_identity(
            self.token_url or namespace, self.client_id, "user:" + email.strip().lower()
        )
        self._user_identity, self._user_known = identity, True
        if self._login_key is not None:
            with _KNOWN_USERS_LOCK:
                _KNOWN_USERS[self._login_key] = identity
                while len(_KNOWN_USERS) > _KNOWN_USERS_MAX:
                    del _KNOWN_USERS[next(iter(_KNOWN_USERS))]
        _log.info("Loket user identified: cache identity %s…", identity[:12])
        self._remember()
        return identity

    def offline_identity(self) -> str:
        """Who is logged in, without the network (for ``offline=True``).

        Raises
        ------
        CacheMissError
            This client cannot know whose cached responses to read.
        """
        identity = self.identity
        if identity is None:
            msg = (
                "offline=True, but this client does not know which Loket user's cached "
                "responses to read: log in once online with token_store='keyring' (the login and "
                "the user are remembered), or build the offline client in the session that "
                "loaded the data"
            )
            raise CacheMissError(msg)
        return identity

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
        if tokens.refresh is None and tokens.access is None and self._password is not None:
            return self._password_login_now()
        if tokens.refresh is None:
            if tokens.access is None:
                msg = f"not logged in to Loket. {LOGIN_HOW}"
                raise LoginRequiredError(msg)
            if self._expired(tokens):
                msg = (
                    f"the Loket access token has expired and there is no refresh token. {LOGIN_HOW}"
                )
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
        self._password = None
        self._store(tokens, login=None)
        _log.info("logged in to Loket (authorization code) at %s", redact_url(self.token_url))

    def login_password(self, username: str, password: str) -> None:
        """Log in with the password grant (only enabled for some clients by Loket).

        Raises
        ------
        LoginRequiredError
            The user name or password was refused.
        """
        self.defer_password_login(username, password)
        self._password_login_now(force=True)

    def defer_password_login(self, username: str, password: str) -> None:
        """Log in with the password grant when a token is first needed (no request now)."""
        if not username or not password:
            msg = "login_password() needs a user name and a password"
            raise ConfigurationError(msg)
        username = clean_credential(username, what="the user name", header=False)
        password = clean_credential(password, what="the password", header=False, strip=False)
        self._password = (username, Secret(password))
        # who this login is can be known before it happens (offline, from this process)
        self._login_key = make_identity(self.token_url, self.client_id, f"user:{username}")

    def _password_login_now(self, *, force: bool = False) -> str:
        with self._refresh_lock:
            current = self._tokens
            if not force and current.access is not None and not self._due(current):
                return current.access.reveal()  # another thread logged in meanwhile
            if self._password is None:
                msg = f"not logged in to Loket. {LOGIN_HOW}"
                raise LoginRequiredError(msg)
            username, secret = self._password
            data = {"grant_type": "password", "username": username, "password": secret.reveal()}
            tokens = self._request_token(data, grant="password")
            stored = self._store(tokens, login=f"user:{username}")
            _log.info("logged in to Loket (password grant) at %s", redact_url(self.token_url))
            assert stored.access is not None
            return stored.access.reveal()

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
        self._password = None
        self.remembered = False
        self._store(payload, login=None, notify=False)

    def forget(self) -> None:
        """Log out here: drop the tokens, who is logged in, and the remembered login (keyring).

        The server's tokens are not revoked (Loket documents no revocation endpoint); the refresh
        token simply is no longer kept anywhere.
        """
        with self._refresh_lock:
            self._tokens = _Tokens(None, None, None)
            self._password = None
            self._user_identity, self._user_known = None, False
            self._login_key = None
            self.remembered = False
            if self._token_store is not None:
                self._token_store.delete(self._account)
        _log.info("forgot the Loket login of client %s", self.client_id or "(none)")

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

    def _restore(self) -> None:
        """Take up the login remembered in the token store, if there is one (no request)."""
        assert self._token_store is not None
        record = self._token_store.load(self._account)
        if not record:
            return
        refresh = record.get("refresh_token")
        identity = record.get("identity")
        if isinstance(refresh, str) and refresh:
            self._tokens = _Tokens(None, Secret(refresh), None)
        if isinstance(identity, str) and len(identity) == 64:
            self._user_identity, self._user_known = identity, True
            self._login_key = identity  # the remembered user is this login
        self.remembered = True
        _log.info(
            "using the Loket login remembered for client %s (%s)",
            self.client_id,
            "refresh token and user" if refresh else "user only: log in to load online",
        )

    def _remember(self, *, drop_token: bool = False) -> None:
        """Keep the newest refresh token and who is logged in in the token store."""
        store = self._token_store
        if store is None:
            return
        refresh = None if drop_token else self._tokens.refresh
        identity = self._user_identity if self._user_known else None
        if refresh is None and not drop_token:
            return  # nothing worth keeping (an access token alone expires within the hour)
        record = {"refresh_token": refresh.reveal() if refresh else None, "identity": identity}
        try:
            store.save(self._account, record)
        except ConfigurationError as exc:
            # A load goes on without it; the next session logs in again.
            warnings.warn(LoketValinsoWarning(f"{exc}; the login is not remembered"), stacklevel=3)
        else:
            _log.debug("remembered the Loket login of client %s", self.client_id)

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
                msg = f"the Loket session cannot be renewed: there is no refresh token. {LOGIN_HOW}"
                raise LoginRequiredError(msg)
            self.refresh_count += 1
            _log.info(
                "refreshing the Loket access token (refresh %d of this client) at %s",
                self.refresh_count,
                redact_url(self.token_url),
            )
            data = {"grant_type": "refresh_token", "refresh_token": current.refresh.reveal()}
            payload = self._request_token(data, grant="refresh_token")
            if not payload.get("refresh_token"):
                # No rotation: the old refresh token stays valid.
                payload["refresh_token"] = current.refresh.reveal()
            stored = self._store(payload, login=None, keep_identity=True)
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
            msg = f"the Loket login did not succeed ({params['error']}{detail}). {LOGIN_HOW}"
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
        return token_client(
            token_url=self.token_url,
            transport=self._transport,
            timeout=self._timeout,
            deadline=self._deadline,
            max_body_bytes=self._max_body_bytes,
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
            purpose = "to refresh the token" if grant == "refresh_token" else "to log in"
            what = (
                f"reaching the Loket token endpoint {purpose} (offline=True works from the cache)"
            )
            raise error_from_transport(exc, url=self.token_url, what=what) from exc
        try:
            return read_token_answer(response.status_code, content, grant=grant, url=self.token_url)
        except LoginRequiredError as exc:
            if grant == "refresh_token":
                # The refresh token is dead: forget it so later calls fail fast, not hammer /token.
                self._tokens = replace(self._tokens, refresh=None)
                self._remember(drop_token=True)
                _log.info("the Loket refresh token was refused (HTTP %s)", exc.status)
            raise

    def _store(
        self,
        payload: Mapping[str, Any],
        *,
        login: str | None,
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
            # a new login: who it is must be learned again (GET /user)
            if login is None:
                first = refresh or access or ""
                login = "token:" + hashlib.sha256(str(first).encode()).hexdigest()
            self._login_key = make_identity(self.token_url, self.client_id, login)
            self._user_identity, self._user_known = None, False
            self.remembered = False
        self._remember()
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
