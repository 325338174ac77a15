"""Loket OAuth and Valinso api-key auth against httpx.MockTransport fakes (no sockets, fake clocks)."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import logging
import pickle
import secrets
import threading
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from loketvalinso._transport.auth import (
    LOKET_ENVIRONMENTS,
    Environment,
    LoketAuth,
    LoketOAuth,
    Secret,
    ValinsoAuth,
    loket_environment,
    valinso_base_url,
)
from loketvalinso._transport.client import build_client
from loketvalinso._transport.responses import raise_for_response
from loketvalinso.errors import (
    AuthenticationError,
    ConfigurationError,
    LoginRequiredError,
    PermissionDeniedError,
    ResponseFormatError,
    ServerError,
)

TOKEN_URL = "https://oauth.example.test/token"
AUTHORIZE_URL = "https://oauth.example.test/authorize"
API_URL = "https://api.example.test/v2"
CLIENT_SECRET = "client-secret-XYZ"
PASSWORD = "pa55-word-QQQ"
REDIRECT = "https://app.example.test/callback"


class FakeClock:
    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class FakeLoket:
    """A token endpoint (all three grants, rotating refresh tokens) and an API that checks tokens."""

    def __init__(self, clock: FakeClock, *, lifetime: float = 3600, rotate: bool = True) -> None:
        self.clock = clock
        self.lifetime = lifetime
        self.rotate = rotate
        self.lock = threading.Lock()
        self.access: dict[str, float] = {}
        self.refresh: set[str] = set()
        self.codes: dict[str, str] = {}  # code -> challenge
        self.grants: list[str] = []
        self.api_calls = 0
        self.reject_next = 0  # answer that many API calls with 401 whatever the token
        self.token_forms: list[dict[str, str]] = []

    @property
    def refreshes(self) -> int:
        return self.grants.count("refresh_token")

    def authorize(self, challenge: str) -> str:
        code = secrets.token_urlsafe(8)
        self.codes[code] = challenge
        return code

    def issue(self) -> httpx.Response:
        access, refresh = secrets.token_urlsafe(16), secrets.token_urlsafe(12)
        self.access[access] = self.clock() + self.lifetime
        self.refresh.add(refresh)
        body = {"access_token": access, "token_type": "bearer", "expires_in": self.lifetime}
        if self.rotate or len(self.refresh) == 1:
            body["refresh_token"] = refresh
        return httpx.Response(200, json=body)

    def handler(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/token":
            return self.token(request)
        return self.api(request)

    def token(self, request: httpx.Request) -> httpx.Response:
        form = {k: v[0] for k, v in parse_qs(request.content.decode()).items()}
        with self.lock:
            self.token_forms.append(form)
            self.grants.append(form["grant_type"])
            if form.get("client_secret") != CLIENT_SECRET:
                return httpx.Response(400, json={"error": "invalid_client"})
            grant = form["grant_type"]
            if grant == "password":
                if form.get("password") != PASSWORD:
                    return httpx.Response(
                        400, json={"error": "invalid_grant", "error_description": "bad credentials"}
                    )
                return self.issue()
            if grant == "authorization_code":
                challenge = self.codes.pop(form.get("code", ""), None)
                verifier = form.get("code_verifier", "")
                expected = (
                    base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
                    .rstrip(b"=")
                    .decode()
                )
                if challenge is None or challenge != expected:
                    return httpx.Response(400, json={"error": "invalid_grant"})
                return self.issue()
            if grant == "refresh_token":
                token = form.get("refresh_token", "")
                if token not in self.refresh:
                    return httpx.Response(
                        400, json={"error": "invalid_grant", "error_description": "expired"}
                    )
                if self.rotate:
                    self.refresh.discard(token)
                return self.issue()
        return httpx.Response(400, json={"error": "unsupported_grant_type"})

    def api(self, request: httpx.Request) -> httpx.Response:
        with self.lock:
            self.api_calls += 1
            header = request.headers.get("authorization", "")
            token = header.removeprefix("Bearer ")
            expires = self.access.get(token)
            if self.reject_next > 0:
                self.reject_next -= 1
                return httpx.Response(
                    401, json={"message": "Authorization has been denied for this request."}
                )
            if expires is None or self.clock() >= expires:
                return httpx.Response(
                    401, json={"message": "Authorization has been denied for this request."}
                )
            return httpx.Response(200, json={"ok": True})


@pytest.fixture
def clock():
    return FakeClock()


@pytest.fixture
def server(clock):
    return FakeLoket(clock)


def make_oauth(server: FakeLoket, clock: FakeClock, **kwargs) -> LoketOAuth:
    options = {
        "token_url": TOKEN_URL,
        "authorize_url": AUTHORIZE_URL,
        "client_id": "my-client",
        "client_secret": CLIENT_SECRET,
        "redirect_uri": REDIRECT,
        "transport": httpx.MockTransport(server.handler),
        "clock": clock,
    }
    options.update(kwargs)
    return LoketOAuth(**options)


def browser_login(server: FakeLoket, oauth: LoketOAuth) -> str:
    """What the user does: open the URL, log in, get redirected. Returns the redirect URL."""
    url = oauth.authorization_url()
    params = {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
    code = server.authorize(params["code_challenge"])
    return f"{REDIRECT}?code={code}&state={params['state']}"


def api_client(server: FakeLoket, oauth: LoketOAuth) -> httpx.Client:
    return build_client(
        base_url=API_URL, auth=LoketAuth(oauth), transport=httpx.MockTransport(server.handler)
    )


# -- environments and URLs -------------------------------------------------------------------


def test_environments():
    prod = LOKET_ENVIRONMENTS["production"]
    assert prod == Environment(
        api_url="https://api.loket.nl/v2",
        token_url="https://oauth.loket.nl/token",
        authorize_url="https://oauth.loket.nl/authorize",
    )
    assert LOKET_ENVIRONMENTS["acceptance"].api_url == "https://api.loket-acc.nl/v2"
    assert LOKET_ENVIRONMENTS["acceptance"].token_url == "https://oauth.loket-acc.nl/token"
    assert LOKET_ENVIRONMENTS["test"].api_url == "https://api.loket-test.nl/v2"
    assert LOKET_ENVIRONMENTS["test"].authorize_url == "https://oauth.loket-test.nl/authorize"
    assert all(e.token_url.startswith("https://") for e in LOKET_ENVIRONMENTS.values())
    assert loket_environment("Acc") is LOKET_ENVIRONMENTS["acceptance"]
    with pytest.raises(ConfigurationError, match="production"):
        loket_environment("staging")


def test_valinso_base_url():
    assert valinso_base_url() == "https://vps3.valinso.nl/api/head/valinso_api/"
    assert valinso_base_url("2.0.0") == "https://vps3.valinso.nl/api/2.0.0/valinso_api/"
    assert (
        valinso_base_url("head", host="vps9.valinso.nl/")
        == "https://vps9.valinso.nl/api/head/valinso_api/"
    )
    assert valinso_base_url(host="http://127.0.0.1:8800").startswith(
        "http://127.0.0.1:8800/api/head/"
    )
    for bad in ("latest", "2.0", "v2.0.0", ""):
        with pytest.raises(ConfigurationError, match="head"):
            valinso_base_url(bad)


def test_insecure_token_url_refused(server, clock):
    with pytest.raises(ConfigurationError, match="https"):
        make_oauth(server, clock, token_url="http://oauth.example.test/token")
    make_oauth(server, clock, token_url="http://oauth.example.test/token", allow_insecure=True)
    with pytest.raises(ConfigurationError, match="client_id"):
        make_oauth(server, clock, client_id=" ")


# -- authorization code + PKCE ---------------------------------------------------------------


def test_authorization_url_has_pkce_s256_and_state(server, clock):
    oauth = make_oauth(server, clock, scope="all")
    url = oauth.authorization_url()
    assert url.startswith(AUTHORIZE_URL + "?")
    params = {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
    assert params["response_type"] == "code"
    assert params["client_id"] == "my-client"
    assert params["redirect_uri"] == REDIRECT
    assert params["code_challenge_method"] == "S256"
    assert len(params["code_challenge"]) == 43
    assert len(params["state"]) >= 20
    assert params["scope"] == "all"
    assert "client_secret" not in url and CLIENT_SECRET not in url
    assert oauth.authorization_url() != url  # fresh state and verifier each time


def test_authorization_url_needs_urls(server, clock):
    with pytest.raises(ConfigurationError, match="authorize_url"):
        make_oauth(server, clock, authorize_url=None).authorization_url()
    with pytest.raises(ConfigurationError, match="redirect_uri"):
        make_oauth(server, clock, redirect_uri=None).authorization_url()


def test_finish_login_with_redirect_url(server, clock):
    seen: list[dict] = []
    oauth = make_oauth(server, clock, on_token=seen.append)
    oauth.finish_login(browser_login(server, oauth))
    assert oauth.logged_in and oauth.can_refresh
    form = server.token_forms[-1]
    assert form["grant_type"] == "authorization_code"
    assert form["redirect_uri"] == REDIRECT
    assert form["client_id"] == "my-client"
    assert len(form["code_verifier"]) >= 43
    assert len(seen) == 1 and seen[0]["access_token"] == oauth.access_token
    with api_client(server, oauth) as client:
        assert client.get("/providers/employers").json() == {"ok": True}


def test_finish_login_with_bare_code(server, clock):
    oauth = make_oauth(server, clock)
    redirect = browser_login(server, oauth)
    code = parse_qs(urlsplit(redirect).query)["code"][0]
    oauth.finish_login(f"  {code}\n")
    assert oauth.logged_in


def test_finish_login_rejects_wrong_state(server, clock):
    oauth = make_oauth(server, clock)
    redirect = browser_login(server, oauth)
    tampered = redirect.rsplit("state=", 1)[0] + "state=forged"
    with pytest.raises(LoginRequiredError, match="state"):
        oauth.finish_login(tampered)
    assert server.grants == []  # nothing was sent


def test_finish_login_after_newer_authorization_url(server, clock):
    oauth = make_oauth(server, clock)
    old = browser_login(server, oauth)
    oauth.authorization_url()  # the user started again
    with pytest.raises(LoginRequiredError, match="older login"):
        oauth.finish_login(old)


def test_finish_login_reports_error_param(server, clock):
    oauth = make_oauth(server, clock)
    oauth.authorization_url()
    with pytest.raises(LoginRequiredError, match="access_denied: The user said no"):
        oauth.finish_login(
            f"{REDIRECT}?error=access_denied&error_description=The+user+said+no&state=x"
        )


def test_finish_login_without_code(server, clock):
    oauth = make_oauth(server, clock)
    oauth.authorization_url()
    with pytest.raises(ConfigurationError, match="no 'code'"):
        oauth.finish_login(f"{REDIRECT}?state=abc")
    with pytest.raises(ConfigurationError):
        oauth.finish_login("   ")


def test_code_used_twice_requires_login(server, clock):
    oauth = make_oauth(server, clock)
    redirect = browser_login(server, oauth)
    oauth.finish_login(redirect)
    with pytest.raises(LoginRequiredError):
        oauth.finish_login(redirect)  # the state was consumed with the first login


# -- password grant ----------------------------------------------------------------------------


def test_login_password(server, clock):
    oauth = make_oauth(server, clock)
    oauth.login_password("alice", PASSWORD)
    assert server.token_forms[-1]["username"] == "alice"
    with api_client(server, oauth) as client:
        assert client.get("/x").status_code == 200


def test_login_password_refused(server, clock):
    oauth = make_oauth(server, clock)
    with pytest.raises(LoginRequiredError, match="password was refused") as info:
        oauth.login_password("alice", "wrong-password-555")
    assert "wrong-password-555" not in str(info.value)
    assert not oauth.logged_in


def test_wrong_client_secret(server, clock):
    oauth = make_oauth(server, clock, client_secret="nope-secret-777")
    with pytest.raises(AuthenticationError, match="client") as info:
        oauth.login_password("alice", PASSWORD)
    assert "nope-secret-777" not in str(info.value)
    assert not isinstance(info.value, LoginRequiredError)


def test_token_endpoint_failures(clock):
    def broken(request):
        return httpx.Response(503, text="down")

    oauth = LoketOAuth(
        token_url=TOKEN_URL, client_id="c", transport=httpx.MockTransport(broken), clock=clock
    )
    with pytest.raises(ServerError):
        oauth.login_password("a", "b")

    def garbage(request):
        return httpx.Response(200, text="<html>")

    oauth = LoketOAuth(
        token_url=TOKEN_URL, client_id="c", transport=httpx.MockTransport(garbage), clock=clock
    )
    with pytest.raises(ResponseFormatError, match="access_token"):
        oauth.login_password("a", "b")


# -- refresh ---------------------------------------------------------------------------------


def test_access_token_refreshes_within_leeway(server, clock):
    oauth = make_oauth(server, clock, leeway=30)
    oauth.login_password("alice", PASSWORD)
    first = oauth.access_token
    clock.now += 3600 - 31
    assert oauth.access_token == first
    assert server.refreshes == 0
    clock.now += 2  # now within the leeway
    second = oauth.access_token
    assert second != first
    assert server.refreshes == 1
    assert oauth.access_token == second
    assert server.refreshes == 1


def test_refresh_rotation_uses_new_refresh_token(server, clock):
    oauth = make_oauth(server, clock)
    oauth.login_password("alice", PASSWORD)
    oauth.refresh()
    oauth.refresh()  # would fail with the first (rotated-out) refresh token
    assert server.refreshes == 2
    tokens = [f["refresh_token"] for f in server.token_forms if f["grant_type"] == "refresh_token"]
    assert tokens[0] != tokens[1]


def test_refresh_without_rotation_keeps_refresh_token(clock):
    server = FakeLoket(clock, rotate=False)
    oauth = make_oauth(server, clock)
    oauth.login_password("alice", PASSWORD)
    oauth.refresh()
    oauth.refresh()
    assert server.refreshes == 2
    assert oauth.can_refresh


def test_expired_refresh_token_requires_login(server, clock):
    oauth = make_oauth(server, clock)
    oauth.login_password("alice", PASSWORD)
    server.refresh.clear()  # revoked / expired on the server
    clock.now += 7200
    with pytest.raises(LoginRequiredError, match="Log in again"):
        _ = oauth.access_token
    grants = len(server.grants)
    with pytest.raises(LoginRequiredError):
        _ = oauth.access_token
    assert len(server.grants) == grants  # the dead refresh token is not sent again


def test_not_logged_in(server, clock):
    oauth = make_oauth(server, clock)
    with pytest.raises(LoginRequiredError, match="not logged in"):
        _ = oauth.access_token
    with pytest.raises(LoginRequiredError):
        oauth.refresh()


def test_many_threads_one_refresh(server, clock):
    oauth = make_oauth(server, clock)
    oauth.login_password("alice", PASSWORD)
    clock.now += 4000  # expired
    barrier = threading.Barrier(8)
    tokens: list[str] = []

    def worker():
        barrier.wait()
        tokens.append(oauth.access_token)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=10)
    assert len(tokens) == 8
    assert len(set(tokens)) == 1
    assert server.refreshes == 1


# -- set_tokens ------------------------------------------------------------------------------


def test_set_tokens(server, clock):
    oauth = make_oauth(server, clock)
    seen: list = []
    oauth.on_token = seen.append
    oauth.set_tokens(access_token="abc-token")
    assert oauth.access_token == "abc-token"
    assert seen == []  # the caller already has these tokens
    clock.now += 10**6
    assert oauth.access_token == "abc-token"  # no expiry known: used until refused


def test_set_tokens_expired_without_refresh(server, clock):
    oauth = make_oauth(server, clock)
    oauth.set_tokens("abc-token", expires_in=60)
    clock.now += 45  # within the leeway but not expired: still used
    assert oauth.access_token == "abc-token"
    clock.now += 30
    with pytest.raises(LoginRequiredError, match="expired"):
        _ = oauth.access_token


def test_set_tokens_refresh_only(server, clock):
    oauth = make_oauth(server, clock)
    oauth.login_password("alice", PASSWORD)
    refresh = next(iter(server.refresh))
    restored = make_oauth(server, clock)
    restored.set_tokens(refresh_token=refresh)
    assert restored.access_token
    assert server.refreshes == 1
    with pytest.raises(ConfigurationError):
        restored.set_tokens()


# -- LoketAuth: 401 handling -----------------------------------------------------------------


def test_401_refreshes_once_and_retries(server, clock):
    oauth = make_oauth(server, clock)
    oauth.login_password("alice", PASSWORD)
    server.reject_next = 1
    with api_client(server, oauth) as client:
        response = client.get("/x")
    assert response.status_code == 200
    assert server.refreshes == 1
    assert server.api_calls == 2


def test_second_401_is_returned_and_raises_authentication_error(server, clock):
    oauth = make_oauth(server, clock)
    oauth.login_password("alice", PASSWORD)
    server.reject_next = 5
    with api_client(server, oauth) as client:
        response = client.get("/x")
    assert response.status_code == 401
    assert server.refreshes == 1  # exactly one refresh
    assert server.api_calls == 2  # and exactly one retry
    with pytest.raises(AuthenticationError, match="Log in again"):
        raise_for_response(response, api="loket")


def test_401_without_refresh_token_requires_login(server, clock):
    oauth = make_oauth(server, clock)
    oauth.set_tokens("revoked-token")
    with api_client(server, oauth) as client, pytest.raises(LoginRequiredError) as info:
        client.get("/x")
    assert info.value.status == 401
    assert "revoked-token" not in str(info.value)
    assert server.api_calls == 1


def test_concurrent_401s_cause_one_refresh(server, clock):
    """8 workers whose requests are refused with the same token: one refresh, all succeed."""
    oauth = make_oauth(server, clock)
    oauth.login_password("alice", PASSWORD)
    server.access.clear()  # the server forgot every access token (e.g. restarted)
    client = api_client(server, oauth)
    barrier = threading.Barrier(8)
    statuses: list[int] = []

    def worker():
        barrier.wait()
        statuses.append(client.get("/x").status_code)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=10)
    assert statuses == [200] * 8
    assert server.refreshes == 1


def test_token_expiring_mid_way_refreshes_once(server, clock):
    oauth = make_oauth(server, clock)
    oauth.login_password("alice", PASSWORD)
    with api_client(server, oauth) as client:
        for _ in range(5):
            assert client.get("/x").status_code == 200
            clock.now += 1000  # the 3600 s token expires during the walk
    assert server.refreshes == 1


# -- identity --------------------------------------------------------------------------------


def test_identity_is_stable_non_secret_and_separates_users(server, clock):
    a = make_oauth(server, clock)
    a.login_password("alice", PASSWORD)
    before = a.identity
    a.refresh()
    assert a.identity == before  # refreshes keep it
    assert len(before) == 64
    assert a.access_token not in before
    b = make_oauth(server, clock)
    b.login_password("bob", PASSWORD)
    assert b.identity != before
    a2 = make_oauth(server, clock)
    a2.login_password("alice", PASSWORD)
    assert a2.identity == before  # same user, same client, same server → same cache
    c = make_oauth(server, clock, client_id="other-client")
    c.login_password("alice", PASSWORD)
    assert c.identity != before


def test_identity_for_code_flow_is_fixed_per_login(server, clock):
    oauth = make_oauth(server, clock)
    oauth.finish_login(browser_login(server, oauth))
    ident = oauth.identity
    oauth.refresh()
    assert oauth.identity == ident
    for token in server.refresh:
        assert token not in ident


# -- secrets never shown ----------------------------------------------------------------------


def test_reprs_hide_secrets(server, clock, caplog):
    caplog.set_level(logging.DEBUG)
    oauth = make_oauth(server, clock)
    oauth.login_password("alice", PASSWORD)
    oauth.authorization_url()
    access = oauth.access_token
    refresh = next(iter(server.refresh))
    auth = LoketAuth(oauth)
    valinso = ValinsoAuth("5f4ec0c9cda34558c3c340d4c2aa50b9")
    texts = [
        repr(oauth),
        str(oauth),
        repr(auth),
        str(auth),
        repr(valinso),
        str(valinso),
        repr(vars(oauth)),
        f"{oauth}",
    ]
    with api_client(server, oauth) as client:
        client.get("/x")
    texts.append(caplog.text)
    for text in texts:
        for secret in (
            CLIENT_SECRET,
            PASSWORD,
            access,
            refresh,
            "5f4ec0c9cda34558c3c340d4c2aa50b9",
        ):
            assert secret not in text
    assert "logged_in=True" in repr(oauth)
    assert "my-client" in repr(oauth)


def test_secret_box():
    secret = Secret("hunter2")
    assert "hunter2" not in repr(secret) + str(secret) + f"{secret}" + f"{secret!r:>20}"
    assert secret.reveal() == "hunter2"
    assert secret == Secret("hunter2")
    with pytest.raises(TypeError):
        pickle.dumps(secret)
    with pytest.raises(TypeError):
        pickle.dumps(ValinsoAuth("k"))


# -- Valinso ---------------------------------------------------------------------------------


@pytest.mark.parametrize("key", ["", "   ", "\n"])
def test_valinso_empty_key_is_refused(key):
    with pytest.raises(ConfigurationError, match="api_key"):
        ValinsoAuth(key)


def test_valinso_key_header_and_identity():
    seen: list[str] = []

    def handler(request):
        seen.append(request.headers["api-key"])
        return httpx.Response(200, json={"code": 200, "result": []})

    auth = ValinsoAuth(" 5f4ec0c9cda34558c3c340d4c2aa50b9\n")
    with build_client(
        base_url=valinso_base_url(), auth=auth, transport=httpx.MockTransport(handler)
    ) as client:
        client.get("vends")
    assert seen == ["5f4ec0c9cda34558c3c340d4c2aa50b9"]
    assert auth.identity == ValinsoAuth("5f4ec0c9cda34558c3c340d4c2aa50b9").identity
    assert auth.identity != ValinsoAuth("other").identity
    assert "5f4ec0c9" not in auth.identity


@pytest.mark.parametrize(
    ("status", "cls"), [(401, AuthenticationError), (403, PermissionDeniedError)]
)
def test_valinso_wrong_key_fails_fast_without_retry(status, cls):
    calls = {"n": 0}

    def handler(request):
        calls["n"] += 1
        return httpx.Response(status, json={"code": status, "result": "Invalid API key"})

    key = "wrong-key-0000111122223333"
    with build_client(
        base_url=valinso_base_url(), auth=ValinsoAuth(key), transport=httpx.MockTransport(handler)
    ) as client:
        response = client.get("vends")
    assert calls["n"] == 1
    with pytest.raises(cls, match="check the api-key") as info:
        raise_for_response(response, api="valinso")
    assert key not in str(info.value)


def test_tokens_obtained_elsewhere_without_token_url():
    """``Loket(base_url=..., access_token=...)``: no token endpoint, so no login and no refresh."""
    oauth = LoketOAuth()
    assert not oauth.has_token
    oauth.set_tokens(access_token="given-token")
    assert oauth.has_token and oauth.logged_in
    assert oauth.access_token == "given-token"
    assert not oauth.can_refresh
    with pytest.raises(LoginRequiredError, match="no refresh token"):
        oauth.refresh()
    with pytest.raises(ConfigurationError, match="token_url"):
        oauth.login_password("a", "b")

    def refuse(request):
        return httpx.Response(
            401, json={"message": "Authorization has been denied for this request."}
        )

    client = build_client(
        base_url=API_URL, auth=LoketAuth(oauth), transport=httpx.MockTransport(refuse)
    )
    with client, pytest.raises(LoginRequiredError) as info:
        client.get("/x")
    assert "given-token" not in str(info.value)
    restored = LoketOAuth()
    restored.set_tokens(refresh_token="r-token")
    with pytest.raises(LoginRequiredError, match="token_url"):
        _ = restored.access_token


# -- credentials checked when given --------------------------------------------------------------


def test_credentials_are_stripped_and_checked_without_being_quoted():
    from loketvalinso._transport.credentials import clean_credential

    assert clean_credential("  abc.DEF-123_~+/=\r\n", what="the token") == "abc.DEF-123_~+/="
    assert clean_credential(" pass word ", what="p", header=False, strip=False) == " pass word "
    for value, kind in [
        ("ab\ncd", "line break or control character (at position 3 of 5)"),
        ("ab\x00", "line break or control character"),
        ("a\tb", "line break or control character"),
        ("abc\u00e9", "outside printable ASCII"),
        ("ab cd", "a space (at position 3 of 5)"),
        ("a\u2028b", "line break or control character"),
    ]:
        with pytest.raises(ConfigurationError) as info:
            clean_credential(value, what="the access_token")
        assert kind in str(info.value) and value not in str(info.value)
    with pytest.raises(ConfigurationError, match="is empty"):
        clean_credential(" \n", what="the access_token")
    with pytest.raises(ConfigurationError, match="must be text"):
        clean_credential(b"bytes", what="the access_token")


def test_set_tokens_strips_whitespace_and_refuses_control_characters(server, clock):
    oauth = make_oauth(server, clock)
    server.issue()
    token = next(iter(server.access))
    oauth.set_tokens(access_token=f"{token}\n", refresh_token=" r-token ")
    assert oauth.access_token == token
    with pytest.raises(ConfigurationError) as info:
        oauth.set_tokens(access_token=token[:4] + "\r" + token[4:])
    assert token[4:] not in str(info.value)
    assert oauth.access_token == token  # the refused one was not stored


def test_a_token_the_server_issues_that_no_header_can_carry_is_refused(clock):
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"access_token": "tok\nen", "expires_in": 60})

    oauth = LoketOAuth(
        token_url=TOKEN_URL,
        client_id="c",
        client_secret="s",
        transport=httpx.MockTransport(handler),
        clock=clock,
    )
    with pytest.raises(ResponseFormatError, match="unusable access_token") as info:
        oauth.login_password("user", "pw")
    assert "tok\nen" not in str(info.value) and "tok\\nen" not in str(info.value)
    assert not oauth.logged_in


def test_a_client_secret_in_the_token_url_is_sent_as_basic_and_never_shown(server, clock):
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return server.handler(request)

    oauth = LoketOAuth(
        token_url="https://c-id:s3cret-v@oauth.example.test/token",
        client_id="c-id",
        transport=httpx.MockTransport(handler),
        clock=clock,
    )
    assert "s3cret-v" not in repr(oauth) and "***@oauth.example.test" in repr(oauth)
    with contextlib.suppress(Exception):
        oauth.login_password("user", "pw")
    assert seen and seen[0].headers["authorization"].startswith("Basic ")
