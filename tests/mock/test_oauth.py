"""The mock's Loket OAuth server: auth code + PKCE, refresh rotation, password grant, 401s.

Flows run over real HTTP (``lv.mock.serve``); expiry uses a fake clock on an in-process
:class:`OAuthServer`, and once over HTTP with a 1 s token lifetime.
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
import time
from urllib.parse import parse_qs, urlsplit

import httpx
import orjson
import pytest

import loketvalinso as lv
from loketvalinso.mock._http import MockRequest
from loketvalinso.mock.oauth import AUTH_DENIED, OAuthServer
from loketvalinso.mock.world import Credentials

TOKEN_PATTERN = re.compile(r"^[\w-]+$")  # the spec's Authorization header: ^Bearer\s[\w-]+$
ACCEPT = {"Accept": "application/json;version=2018-01-01"}


def _pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
    return verifier, challenge.rstrip(b"=").decode()


@pytest.fixture(scope="module")
def server(world):
    with lv.mock.serve(seed=42, world=world) as m:
        yield m


@pytest.fixture
def http(server) -> httpx.Client:
    with httpx.Client(base_url=server.url, follow_redirects=False, timeout=10) as client:
        yield client


def _authorize(
    http: httpx.Client, creds: Credentials, challenge: str, **extra: str
) -> httpx.Response:
    params = {
        "response_type": "code",
        "client_id": creds.client_id,
        "redirect_uri": creds.redirect_uri,
        "state": "xyz-state",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    } | extra
    return http.get("/authorize", params=params)


def _location_query(response: httpx.Response) -> dict[str, str]:
    assert response.status_code == 302, response.text
    return {k: v[0] for k, v in parse_qs(urlsplit(response.headers["location"]).query).items()}


def _code_grant(http: httpx.Client, creds: Credentials, code: str, verifier: str, **extra: str):
    data = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": creds.redirect_uri,
        "code_verifier": verifier,
        "client_id": creds.client_id,
        "client_secret": creds.client_secret,
    } | extra
    return http.post("/token", data=data)


def _api(http: httpx.Client, token: str | None) -> httpx.Response:
    headers = dict(ACCEPT)
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    return http.get("/v2/providers/employers", headers=headers)


def test_authorization_code_with_pkce(http: httpx.Client, server) -> None:
    creds = server.credentials
    verifier, challenge = _pkce()
    redirect = _authorize(http, creds, challenge)
    location = redirect.headers["location"]
    assert location.startswith(creds.redirect_uri)
    query = _location_query(redirect)
    assert query["state"] == "xyz-state"
    token = _code_grant(http, creds, query["code"], verifier)
    assert token.status_code == 200, token.text
    body = token.json()
    assert set(body) == {
        "access_token",
        "token_type",
        "expires_in",
        "refresh_token",
        "two_factor_state",
    }
    assert body["token_type"] == "bearer"
    assert body["two_factor_state"] == "None"
    assert body["expires_in"] == 3600
    assert TOKEN_PATTERN.match(body["access_token"]) and TOKEN_PATTERN.match(body["refresh_token"])
    assert token.headers["cache-control"] == "no-store"
    assert _api(http, body["access_token"]).status_code == 200


def test_code_is_one_time_and_reuse_revokes(http: httpx.Client, server) -> None:
    creds = server.credentials
    verifier, challenge = _pkce()
    code = _location_query(_authorize(http, creds, challenge))["code"]
    first = _code_grant(http, creds, code, verifier).json()
    again = _code_grant(http, creds, code, verifier)
    assert again.status_code == 400
    assert again.json()["error"] == "invalid_grant"
    # A replayed code may be stolen: what it produced no longer works.
    assert _api(http, first["access_token"]).status_code == 401
    refreshed = http.post(
        "/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": first["refresh_token"],
            "client_id": creds.client_id,
            "client_secret": creds.client_secret,
        },
    )
    assert refreshed.status_code == 400


@pytest.mark.parametrize(
    ("tamper", "description"),
    [
        ({"code_verifier": "wrong-verifier-" + "x" * 40}, "PKCE verification failed"),
        ({"code_verifier": ""}, "code_verifier is missing"),
        ({"redirect_uri": "http://127.0.0.1/elsewhere"}, "redirect_uri"),
    ],
)
def test_code_grant_failures(http: httpx.Client, server, tamper, description) -> None:
    creds = server.credentials
    verifier, challenge = _pkce()
    code = _location_query(_authorize(http, creds, challenge))["code"]
    response = _code_grant(http, creds, code, verifier, **tamper)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"
    assert description in response.json()["error_description"]


def test_authorize_rejects_wrong_client_and_redirect(http: httpx.Client, server) -> None:
    creds = server.credentials
    _, challenge = _pkce()
    wrong_client = _authorize(http, creds, challenge, client_id="someone-else")
    assert wrong_client.status_code == 400
    assert wrong_client.json()["error"] == "unauthorized_client"
    assert "location" not in wrong_client.headers
    wrong_redirect = _authorize(http, creds, challenge, redirect_uri="https://evil.example/cb")
    assert wrong_redirect.status_code == 400
    assert "location" not in wrong_redirect.headers


@pytest.mark.parametrize(
    "params",
    [{"code_challenge": ""}, {"code_challenge_method": "plain"}, {"response_type": "token"}],
)
def test_authorize_errors_redirect_with_state(http: httpx.Client, server, params) -> None:
    creds = server.credentials
    _, challenge = _pkce()
    query = _location_query(_authorize(http, creds, challenge, **params))
    assert query["error"] in {"invalid_request", "unsupported_response_type"}
    assert query["state"] == "xyz-state"
    assert "code" not in query


def test_refresh_rotates(http: httpx.Client, server) -> None:
    creds = server.credentials
    first = _password(http, creds).json()
    data = {
        "grant_type": "refresh_token",
        "refresh_token": first["refresh_token"],
        "client_id": creds.client_id,
        "client_secret": creds.client_secret,
    }
    second = http.post("/token", data=data)
    assert second.status_code == 200
    new = second.json()
    assert new["refresh_token"] != first["refresh_token"]
    assert new["access_token"] != first["access_token"]
    assert _api(http, new["access_token"]).status_code == 200
    old = http.post("/token", data=data)  # the old refresh token is spent
    assert old.status_code == 400
    assert old.json()["error"] == "invalid_grant"
    unknown = http.post("/token", data=data | {"refresh_token": "never-issued"})
    assert unknown.status_code == 400
    assert unknown.json()["error"] == "invalid_grant"


def _password(http: httpx.Client, creds: Credentials, **extra: str) -> httpx.Response:
    data = {
        "grant_type": "password",
        "username": creds.username,
        "password": creds.password,
        "client_id": creds.client_id,
        "client_secret": creds.client_secret,
    } | extra
    return http.post("/token", data=data)


def test_password_grant_and_client_auth(http: httpx.Client, server) -> None:
    creds = server.credentials
    assert _password(http, creds).status_code == 200
    wrong_password = _password(http, creds, password="not-it")
    assert wrong_password.status_code == 400
    assert wrong_password.json()["error"] == "invalid_grant"
    wrong_secret = _password(http, creds, client_secret="not-it")
    assert wrong_secret.status_code == 400
    assert wrong_secret.json()["error"] == "invalid_client"
    # HTTP Basic client authentication, and the docs' ``client_Id`` spelling.
    basic = http.post(
        "/token",
        data={"grant_type": "password", "username": creds.username, "password": creds.password},
        auth=(creds.client_id, creds.client_secret),
    )
    assert basic.status_code == 200
    bad_basic = http.post(
        "/token",
        data={"grant_type": "password", "username": creds.username, "password": creds.password},
        auth=(creds.client_id, "nope"),
    )
    assert bad_basic.status_code == 401
    assert bad_basic.json()["error"] == "invalid_client"
    spelled = http.post(
        "/token",
        data={
            "grant_type": "password",
            "username": creds.username,
            "password": creds.password,
            "client_Id": creds.client_id,
            "client_secret": creds.client_secret,
        },
    )
    assert spelled.status_code == 200
    unsupported = _password(http, creds, grant_type="client_credentials")
    assert unsupported.status_code == 400
    assert unsupported.json()["error"] == "unsupported_grant_type"
    assert http.get("/token").status_code == 405


def test_secrets_never_in_error_bodies(http: httpx.Client, server) -> None:
    creds = server.credentials
    responses = [
        _password(http, creds, password="wrong"),
        _password(http, creds, client_secret="wrong"),
        http.post(
            "/token",
            data={"grant_type": "refresh_token", "refresh_token": "abc"},
            auth=(creds.client_id, creds.client_secret),
        ),
    ]
    for response in responses:
        text = response.text
        for secret in (creds.client_secret, creds.password, "wrong"):
            assert secret not in text
    assert creds.client_secret not in repr(server.app.oauth)


@pytest.mark.parametrize(
    "header",
    [None, "Bearer", "Bearer not-a-token", "Basic abc", "bearer"],
)
def test_api_401_shape(http: httpx.Client, header: str | None) -> None:
    headers = dict(ACCEPT)
    if header is not None:
        headers["Authorization"] = header
    response = http.get("/v2/providers/employers", headers=headers)
    assert response.status_code == 401
    assert response.json() == AUTH_DENIED
    assert response.headers["content-type"].startswith("application/json")


def test_token_expires_over_http(world) -> None:
    with (
        lv.mock.serve(seed=42, world=world, token_lifetime=1) as m,
        httpx.Client(base_url=m.url) as http,
    ):
        body = _password(http, m.credentials).json()
        assert body["expires_in"] == 1
        assert _api(http, body["access_token"]).status_code == 200
        time.sleep(1.2)
        expired = _api(http, body["access_token"])
        assert expired.status_code == 401
        assert expired.json() == AUTH_DENIED
        refreshed = http.post(
            "/token",
            data={
                "grant_type": "refresh_token",
                "refresh_token": body["refresh_token"],
                "client_id": m.credentials.client_id,
                "client_secret": m.credentials.client_secret,
            },
        )
        assert _api(http, refreshed.json()["access_token"]).status_code == 200


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


CREDS = Credentials(
    client_id="cid",
    client_secret="csecret",
    redirect_uri="http://127.0.0.1:8765/callback",
    username="user",
    password="pw",
    valinso_api_key="k",
)


def _token_request(server: OAuthServer, **form: str):
    body = "&".join(f"{k}={v}" for k, v in form.items()).encode()
    req = MockRequest.build(
        "POST",
        "/token",
        headers={"content-type": "application/x-www-form-urlencoded"},
        body=body,
    )
    return server.handle(req)


def test_expiry_with_fake_clock() -> None:
    clock = FakeClock()
    server = OAuthServer(CREDS, token_lifetime=60, clock=clock)
    response = _token_request(
        server,
        grant_type="password",
        username="user",
        password="pw",
        client_id="cid",
        client_secret="csecret",
    )
    body = orjson.loads(response.body)
    assert body["expires_in"] == 60
    assert server.user_for(f"Bearer {body['access_token']}") == "user"
    assert server.user_for(f"bearer {body['access_token']}") == "user"
    clock.now += 59.9
    assert server.user_for(f"Bearer {body['access_token']}") == "user"
    clock.now += 0.2
    assert server.user_for(f"Bearer {body['access_token']}") is None
    # Refresh tokens outlive access tokens.
    refreshed = _token_request(
        server,
        grant_type="refresh_token",
        refresh_token=body["refresh_token"],
        client_id="cid",
        client_secret="csecret",
    )
    assert refreshed.status == 200
    # An authorization code expires too.
    verifier, challenge = _pkce()
    redirect = server.handle(
        MockRequest.build(
            "GET",
            "/authorize",
            f"response_type=code&client_id=cid&redirect_uri={CREDS.redirect_uri}"
            f"&state=s&code_challenge={challenge}&code_challenge_method=S256",
        )
    )
    code = parse_qs(urlsplit(redirect.header("Location")).query)["code"][0]
    clock.now += 3600
    late = _token_request(
        server,
        grant_type="authorization_code",
        code=code,
        redirect_uri=CREDS.redirect_uri,
        code_verifier=verifier,
        client_id="cid",
        client_secret="csecret",
    )
    assert late.status == 400
    assert orjson.loads(late.body)["error"] == "invalid_grant"
