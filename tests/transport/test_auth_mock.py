"""Each auth flow against the embedded mock: real loopback HTTP and in-process with a frozen clock."""

from __future__ import annotations

import threading
import time
from urllib.parse import urlencode

import httpx
import pytest

import loketvalinso as lv
from loketvalinso._transport.auth import LoketOAuth
from loketvalinso._transport.auth_flows import LoketAuth, ValinsoAuth
from loketvalinso._transport.client import build_client
from loketvalinso._transport.extensions import RETRIES as RETRIES_EXTENSION
from loketvalinso._transport.responses import parse_json, raise_for_response
from loketvalinso._transport.retry import RetryPolicy
from loketvalinso.errors import AuthenticationError, LoginRequiredError, PermissionDeniedError
from loketvalinso.mock import FaultConfig, MockApp, MockServer
from loketvalinso.mock.server import InProcessTransport

EMPLOYERS = "/providers/employers"
ACCEPT = {"Accept": "application/json;version=2018-01-01"}


def loket_client(m: MockServer, oauth: LoketOAuth, **kwargs) -> httpx.Client:
    if m.in_process:
        kwargs.setdefault("transport", m.transport)
    return build_client(base_url=m.loket_url, auth=LoketAuth(oauth), headers=ACCEPT, **kwargs)


class FrozenClock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


def oauth_for(m: MockServer, **kwargs) -> LoketOAuth:
    c = m.credentials
    return LoketOAuth(
        token_url=m.token_url,
        authorize_url=m.authorize_url,
        client_id=c.client_id,
        client_secret=c.client_secret,
        redirect_uri=c.redirect_uri,
        transport=kwargs.pop("transport", None),
        **kwargs,
    )


def browser(m: MockServer, url: str) -> str:
    """The user's browser: follow /authorize (auto-approved) and return the redirect target."""
    with httpx.Client(transport=m.transport if m.in_process else None) as client:
        response = client.get(url)
    assert response.status_code == 302, response.text
    return response.headers["location"]


def token_requests(m: MockServer) -> int:
    return m.app.count(method="POST", path_prefix="/token")


@pytest.fixture
def frozen(world):
    """An in-process mock whose token clock is frozen and shared with the client."""
    clock = FrozenClock()
    app = MockApp(world, faults=FaultConfig(token_lifetime=300), clock=clock)
    m = MockServer(url=lv.mock.IN_PROCESS_URL, app=app, transport=InProcessTransport(app))
    return m, clock


# -- over real loopback HTTP ---------------------------------------------------------------


def test_authorization_code_flow_over_http(world):
    with lv.mock.serve(seed=42, world=world) as m:
        seen: list[dict] = []
        oauth = oauth_for(m, on_token=seen.append)
        redirect = browser(m, oauth.authorization_url())
        assert redirect.startswith(m.credentials.redirect_uri)
        oauth.finish_login(redirect)
        assert len(seen) == 1
        with loket_client(m, oauth) as client:
            response = client.get(EMPLOYERS)
            raise_for_response(response, api="loket")
            body = parse_json(response)
        assert body["_embedded"]
        # The code is single-use.
        with pytest.raises(LoginRequiredError):
            oauth_for(m).finish_login(redirect.split("code=")[1].split("&")[0])


def test_password_flow_over_http(world):
    with lv.mock.serve(seed=42, world=world) as m:
        oauth = oauth_for(m)
        oauth.login_password(m.credentials.username, m.credentials.password)
        with loket_client(m, oauth) as client:
            assert client.get(EMPLOYERS).status_code == 200
        with pytest.raises(LoginRequiredError, match="password was refused"):
            oauth_for(m).login_password(m.credentials.username, "not-the-password")


def test_short_token_lifetime_over_http_refreshes_once(world):
    """A real 2 s token lifetime: the token expires mid-walk and is refreshed once, no 401 seen."""
    with lv.mock.serve(seed=42, world=world, token_lifetime=2) as m:
        oauth = oauth_for(m)
        oauth.login_password(m.credentials.username, m.credentials.password)
        with loket_client(m, oauth) as client:
            statuses = []
            for _ in range(3):
                statuses.append(client.get(EMPLOYERS).status_code)
                time.sleep(0.6)
        assert statuses == [200, 200, 200]
        assert oauth.refresh_count == 1
        assert m.app.count(path_prefix="/v2") == 3  # no request was refused and repeated


def test_wrong_valinso_key_fails_fast_over_http(world):
    with lv.mock.serve(seed=42, world=world) as m:
        started = time.monotonic()
        key = "definitely-not-the-key-123"
        with build_client(base_url=m.valinso_url, auth=ValinsoAuth(key)) as client:
            response = client.get("vends", params={"limit": 1})
        with pytest.raises(
            (AuthenticationError, PermissionDeniedError), match="check the api-key"
        ) as info:
            raise_for_response(response, api="valinso")
        assert time.monotonic() - started < 1.0
        assert m.app.count(path_prefix="/api/") == 1  # no retry
        assert key not in str(info.value)
        with build_client(
            base_url=m.valinso_url, auth=ValinsoAuth(m.credentials.valinso_api_key)
        ) as client:
            ok = client.get("vends", params={"limit": 1})
        raise_for_response(ok, api="valinso")


def test_retries_against_a_rate_limited_mock(world):
    with lv.mock.serve(seed=42, world=world, rate_limit=50) as m:
        oauth = oauth_for(m)
        oauth.login_password(m.credentials.username, m.credentials.password)
        sleeps: list[float] = []

        def sleep(seconds: float) -> None:
            sleeps.append(seconds)
            time.sleep(min(seconds, 0.05))  # the mock's bucket refills fast at 50/s

        with loket_client(
            m,
            oauth,
            retry=RetryPolicy(max_attempts=40, backoff_base=0.01, backoff_max=0.05),
            sleep=sleep,
        ) as client:
            responses = [client.get(EMPLOYERS) for _ in range(80)]
        assert all(r.status_code == 200 for r in responses)
        assert any(r.extensions[RETRIES_EXTENSION] > 0 for r in responses)


# -- in-process with a frozen clock ------------------------------------------------------------


def test_code_flow_in_process(frozen):
    m, clock = frozen
    oauth = oauth_for(m, transport=m.transport, clock=clock)
    oauth.finish_login(browser(m, oauth.authorization_url()))
    with loket_client(m, oauth) as client:
        assert client.get(EMPLOYERS).status_code == 200


def test_state_mismatch_and_error_redirect_in_process(frozen):
    m, clock = frozen
    oauth = oauth_for(m, transport=m.transport, clock=clock)
    first = browser(m, oauth.authorization_url())
    oauth.authorization_url()  # a second login attempt replaces the first
    before = token_requests(m)
    with pytest.raises(LoginRequiredError, match="state"):
        oauth.finish_login(first)
    assert token_requests(m) == before


def test_token_expiring_mid_load_refreshes_once(frozen):
    m, clock = frozen
    oauth = oauth_for(m, transport=m.transport, clock=clock)
    oauth.login_password(m.credentials.username, m.credentials.password)
    before = token_requests(m)
    with loket_client(m, oauth) as client:
        bodies = []
        for _ in range(4):
            response = client.get(EMPLOYERS)
            raise_for_response(response, api="loket")
            bodies.append(parse_json(response)["_embedded"])
            clock.now += 100  # the 300 s token expires during the load
    assert all(b == bodies[0] for b in bodies)  # no data lost
    assert token_requests(m) - before == 1
    assert oauth.refresh_count == 1


def test_server_side_expiry_401_refreshes_once_and_retries(frozen):
    m, clock = frozen
    oauth = oauth_for(m, transport=m.transport, clock=clock)
    oauth.login_password(m.credentials.username, m.credentials.password)
    m.app.oauth.expire_all()  # the server forgets the token; the client still thinks it is valid
    with loket_client(m, oauth) as client:
        response = client.get(EMPLOYERS)
    assert response.status_code == 200
    assert oauth.refresh_count == 1
    statuses = [r.status for r in m.app.requests if r.path.startswith("/v2")]
    assert statuses == [401, 200]


@pytest.mark.parametrize(
    "why",
    [
        "expired",  # by the client's own clock: every thread refreshes before sending
        "refused",  # by the server only: every thread meets a 401 first
    ],
)
def test_eight_threads_on_a_dead_token_cause_one_refresh(frozen, why):
    m, clock = frozen
    oauth = oauth_for(m, transport=m.transport, clock=clock)
    oauth.login_password(m.credentials.username, m.credentials.password)
    if why == "expired":
        clock.now += 1000
    else:
        m.app.oauth.expire_all()
    before = token_requests(m)
    client = loket_client(m, oauth)
    barrier = threading.Barrier(8)
    statuses: list[int] = []

    def worker() -> None:
        barrier.wait()
        statuses.append(client.get(EMPLOYERS).status_code)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=20)
    client.close()
    assert statuses == [200] * 8
    assert token_requests(m) - before == 1


def test_refresh_rotation_and_dead_refresh_token(frozen):
    m, clock = frozen
    oauth = oauth_for(m, transport=m.transport, clock=clock)
    oauth.login_password(m.credentials.username, m.credentials.password)
    oauth.refresh()
    oauth.refresh()  # works only because the rotated refresh token was kept
    # A refresh token restored from an old session was rotated out: log in again.
    stale = oauth_for(m, transport=m.transport, clock=clock)
    stale.login_password(m.credentials.username, m.credentials.password)
    dead = stale._tokens.refresh.reveal()  # the test plays the user who saved it
    stale.refresh()
    restored = oauth_for(m, transport=m.transport, clock=clock)
    restored.set_tokens(refresh_token=dead)
    with pytest.raises(LoginRequiredError, match="Log in again"):
        _ = restored.access_token


def test_refused_token_without_refresh_token_requires_login(frozen):
    m, clock = frozen
    oauth = oauth_for(m, transport=m.transport, clock=clock)
    oauth.set_tokens("forged-access-token", refresh_token=None)
    with loket_client(m, oauth) as client, pytest.raises(LoginRequiredError):
        client.get(EMPLOYERS)


def test_identity_is_the_user_the_mock_names(frozen):
    """Two authorization-code logins of one user, and its password login, get one identity (the
    mock's GET /user names the user); the mock's second user gets another."""
    m, clock = frozen
    first, second = m.credentials.users
    identities = []
    for user, flow in ((first, "code"), (first, "code"), (first, "password"), (second, "code")):
        oauth = oauth_for(m, transport=m.transport, clock=clock)
        if flow == "code":
            hint = "&" + urlencode({"login_hint": user.username})
            oauth.finish_login(browser(m, oauth.authorization_url() + hint))
        else:
            oauth.login_password(user.username, user.password)
        auth = LoketAuth(oauth, user_url=m.loket_url + "/user")
        with build_client(
            base_url=m.loket_url, auth=auth, headers=ACCEPT, transport=m.transport
        ) as client:
            assert client.get(EMPLOYERS).status_code == 200
        identities.append(oauth.identity)
    assert identities[0] == identities[1] == identities[2]
    assert identities[3] != identities[0]
    assert m.app.count(path_prefix="/v2/user") == 4  # asked once per login
    for user in (first, second):
        assert user.password not in "".join(identities)


def test_truncated_bodies_are_fetched_again_over_http(world):
    with lv.mock.serve(seed=42, world=world, truncate_rate=0.4) as m:
        auth = ValinsoAuth(m.credentials.valinso_api_key)
        policy = RetryPolicy(max_attempts=10, backoff_base=0.001, backoff_max=0.001)
        with build_client(base_url=m.valinso_url, auth=auth, retry=policy) as client:
            responses = [client.get("vends", params={"limit": 5, "offset": i}) for i in range(15)]
        bodies = [parse_json(r) for r in responses]  # none is cut
        assert all(len(b["result"]) == 5 for b in bodies)
        assert sum(r.extensions[RETRIES_EXTENSION] for r in responses) > 0
