"""The login and version widgets, driven headless through their real ipywidgets objects."""

from __future__ import annotations

import json
import re
import warnings
from collections.abc import Iterator
from datetime import date
from html import unescape
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

pytest.importorskip("ipywidgets")

import ipywidgets
from ipywidgets import embed

import loketvalinso as lv
from loketvalinso.widgets import MOCK, LoketLogin, ValinsoLogin, VersionPicker

pytestmark = pytest.mark.timeout(60)

SMALL = lv.mock.WorldSizes(
    employers=2, employees=40, vends=2_000, devices=6, locations=3, products=8
)


@pytest.fixture(scope="module")
def server() -> Iterator[lv.mock.MockServer]:
    with lv.mock.serve(seed=7, sizes=SMALL) as m:
        yield m


def _widget_state(root: ipywidgets.Widget) -> str:
    """Everything a saved notebook could keep of these widgets, as one string."""
    parts = [json.dumps(w.get_state(), default=str) for w in lv.widgets.widget_tree(root)]
    parts.append(json.dumps(ipywidgets.Widget.get_manager_state(), default=str))
    parts.append(json.dumps(embed.embed_data(views=[root]), default=str))
    return "\n".join(parts)


def _assert_no_secret(root: ipywidgets.Widget, *secrets: str) -> None:
    state = _widget_state(root)
    for secret in secrets:
        assert secret and secret not in state, "a secret is left in the widget state"


def _link(login: LoketLogin) -> str:
    match = re.search(r'href="([^"]+)"', login.auth_link.value)
    assert match, login.auth_link.value
    return unescape(match.group(1))


# -- LoketLogin ---------------------------------------------------------------------------------


def test_mock_login_end_to_end_over_http(server) -> None:
    login = LoketLogin(mock=server, client_options={"cache": False, "progress": False})
    assert login.environment.value == MOCK
    assert login.client_secret.disabled and not login.logged_in
    login.login_button.click()
    assert login.logged_in, login.status.value
    assert "✔" in login.status.value and "embedded mock" in login.status.value
    assert login.client.base_url.startswith("http://127.0.0.1:")
    assert login.client.employers().height == SMALL.employers
    _assert_no_secret(login.widget, server.credentials.client_secret, server.credentials.password)


def test_real_environment_shows_the_authorization_link() -> None:
    login = LoketLogin(environment="production", client_options={"cache": False})
    login.client_id.value = "my-client"
    login.client_secret.value = "s3cret-not-to-keep"
    login.redirect_uri.value = "https://example.org/callback"
    login.login_button.click()
    url = urlsplit(_link(login))
    assert (url.scheme, url.netloc, url.path) == ("https", "oauth.loket.nl", "/authorize")
    query = {k: v[0] for k, v in parse_qs(url.query).items()}
    assert query["response_type"] == "code"
    assert query["client_id"] == "my-client"
    assert query["redirect_uri"] == "https://example.org/callback"
    assert query["code_challenge_method"] == "S256"
    assert len(query["code_challenge"]) >= 43 and query["state"]
    assert not login.finish_button.disabled and not login.logged_in
    assert login.client_secret.value == ""
    _assert_no_secret(login.widget, "s3cret-not-to-keep")


@pytest.mark.parametrize(
    ("environment", "host"), [("acceptance", "oauth.loket-acc.nl"), ("test", "oauth.loket-test.nl")]
)
def test_each_environment_links_to_its_oauth_host(environment: str, host: str) -> None:
    login = LoketLogin(
        environment=environment, client_id="c", redirect_uri="https://example.org/cb"
    )
    login.login_button.click()
    assert urlsplit(_link(login)).netloc == host


def test_pasting_the_redirect_url_logs_in_and_clears_every_secret(server) -> None:
    creds = server.credentials
    login = LoketLogin(
        environment="production",
        client_options={
            "base_url": server.loket_url,
            "token_url": server.token_url,
            "authorize_url": server.authorize_url,
            "cache": False,
            "progress": False,
        },
    )
    login.client_id.value = creds.client_id
    login.client_secret.value = creds.client_secret
    login.redirect_uri.value = creds.redirect_uri
    login.login_button.click()
    link = _link(login)
    assert link.startswith(server.authorize_url)
    # The user's browser: the mock approves the login and redirects with the code.
    answer = httpx.get(link, follow_redirects=False)
    assert answer.status_code in (302, 303)
    redirected = answer.headers["location"]
    code = parse_qs(urlsplit(redirected).query)["code"][0]
    login.redirect.value = redirected
    login.finish_button.click()
    assert login.logged_in, login.status.value
    assert "logged in to production" in login.status.value
    assert login.client.employers().height == SMALL.employers
    assert login.redirect.value == "" and login.client_secret.value == ""
    assert login.finish_button.disabled and login.auth_link.value == ""
    tokens = login.client.oauth._tokens
    secrets = [creds.client_secret, redirected, code]
    if tokens is not None and tokens.access is not None:
        secrets.append(tokens.access.reveal())
    _assert_no_secret(login.widget, *secrets)


def test_a_wrong_redirect_is_an_error_and_is_cleared(server) -> None:
    login = LoketLogin(
        environment="production",
        client_id=server.credentials.client_id,
        redirect_uri=server.credentials.redirect_uri,
        client_options={
            "base_url": server.loket_url,
            "token_url": server.token_url,
            "authorize_url": server.authorize_url,
            "cache": False,
        },
    )
    login.finish_button.click()
    assert "Log in first" in login.status.value
    login.login_button.click()
    login.redirect.value = f"{server.credentials.redirect_uri}?code=forged-code-123&state=bogus"
    login.finish_button.click()
    assert not login.logged_in
    assert "✖" in login.status.value and "state" in login.status.value
    assert login.redirect.value == ""
    _assert_no_secret(login.widget, "forged-code-123")


def test_missing_client_id_is_an_error_and_the_secret_is_cleared() -> None:
    login = LoketLogin(environment="acceptance")
    login.client_secret.value = "typed-too-early"
    login.login_button.click()
    assert not login.logged_in and "client id" in login.status.value
    assert login.auth_link.value == ""
    _assert_no_secret(login.widget, "typed-too-early")


def test_changing_environment_abandons_a_pending_login() -> None:
    login = LoketLogin(environment="test", client_id="c", redirect_uri="https://example.org/cb")
    login.login_button.click()
    assert login.auth_link.value and not login.finish_button.disabled
    login.environment.value = MOCK
    assert login.auth_link.value == "" and login.finish_button.disabled
    assert login.client_id.disabled


# -- ValinsoLogin -------------------------------------------------------------------------------


def test_valinso_wrong_key_then_right_key(server) -> None:
    login = ValinsoLogin(mock=server, client_options={"cache": False, "progress": False})
    login.api_key.value = "definitely-wrong-key"
    login.test_button.click()
    assert login.client is None and not login.connected
    assert "✖" in login.status.value
    assert "api-key" in login.status.value or "api key" in login.status.value
    assert login.api_key.value == ""
    _assert_no_secret(login.widget, "definitely-wrong-key")

    key = server.credentials.valinso_api_key
    login.api_key.value = key
    login.test_button.click()
    assert login.connected, login.status.value
    assert f"{SMALL.devices} devices" in login.status.value
    assert login.client.vends().height > 0
    assert login.api_key.value == ""
    _assert_no_secret(login.widget, key)


def test_valinso_base_url_and_version(server) -> None:
    login = ValinsoLogin(version="2.0.0", client_options={"cache": False, "progress": False})
    login.base_url.value = server.valinso_url_for("2.0.0")
    login.api_key.value = server.credentials.valinso_api_key
    login.test_button.click()
    assert login.connected, login.status.value
    assert "/api/2.0.0/" in login.client.base_url


def test_valinso_real_version_needs_a_key() -> None:
    login = ValinsoLogin(version="head")
    login.test_button.click()
    assert not login.connected and "api key" in login.status.value


# -- VersionPicker ------------------------------------------------------------------------------


@pytest.fixture
def loket(server):
    client = lv.Loket.from_mock(server, cache=False, progress=False)
    yield client
    client.close()


def test_version_picker_apply_and_check(loket) -> None:
    picker = VersionPicker(loket)
    assert picker.resource.value == "employees"
    assert loket.resolve_version("employees") == "2021-03-29"
    assert "<b>2021-03-29</b>" in picker.versions.value
    assert "2018-12-31" in picker.versions.value

    picker.date.value = date(2019, 1, 1)
    picker.apply_button.click()
    assert loket.resolve_version("employees") == "2018-12-31"
    assert "<b>2018-12-31</b>" in picker.versions.value
    with warnings.catch_warnings():
        # The badge replaces the ObsoleteVersionWarning; only our own warnings are errors here,
        # so an unrelated warning from another thread or the GC cannot fail the test.
        warnings.simplefilter("error", lv.LoketValinsoWarning)
        picker.check_button.click()
    assert "served resourceVersion 2018-12-31" in picker.served.value
    assert "obsolete on" in picker.served.value

    picker.date.value = date(2021, 3, 29)
    picker.apply_button.click()
    assert loket.resolve_version("employees") == "2021-03-29"
    picker.check_button.click()
    assert "served resourceVersion 2021-03-29" in picker.served.value
    assert "obsolete" not in picker.served.value

    picker.date.value = None
    picker.apply_button.click()
    assert loket.resolve_version("employees") == "2021-03-29"
    assert not loket.versions


def test_version_picker_other_resources(loket) -> None:
    picker = VersionPicker(loket)
    assert "employer" not in picker.resource.options
    for name in ("absences", "leave", "departments", "leave_calendar"):
        picker.resource.value = name
        assert loket.resolve_version(name) in picker.versions.value
        picker.check_button.click()
        assert f"served resourceVersion {loket.resolve_version(name)}" in picker.served.value


def test_version_picker_rejects_a_date_before_every_version(loket) -> None:
    picker = VersionPicker(loket)
    picker.date.value = date(2000, 1, 1)
    picker.apply_button.click()
    assert "✖" in picker.served.value
    assert loket.resolve_version("employees") == "2021-03-29"


def test_widgets_render_as_mimebundles(server) -> None:
    for widget in (LoketLogin(mock=server), ValinsoLogin(mock=server)):
        bundle = widget._repr_mimebundle_()
        assert "application/vnd.jupyter.widget-view+json" in bundle


# -- pre-filled from the environment; a login remembered on this computer ----------------------


@pytest.fixture
def memory_keyring():
    keyring = pytest.importorskip("keyring")
    from tests.keyring_backend import MemoryKeyring

    previous = keyring.get_keyring()
    backend = MemoryKeyring()
    keyring.set_keyring(backend)
    yield backend
    keyring.set_keyring(previous)


def _mock_urls(server) -> dict:
    return {
        "base_url": server.loket_url,
        "token_url": server.token_url,
        "authorize_url": server.authorize_url,
        "cache": False,
        "progress": False,
    }


def _browser_finish(login: LoketLogin) -> None:
    login.redirect.value = httpx.get(_link(login), follow_redirects=False).headers["location"]
    login.finish_button.click()


def test_loket_login_prefills_from_the_environment_and_never_shows_the_secret(clean_env, server):
    creds = server.credentials
    clean_env.setenv("LOKET_ENVIRONMENT", "acceptance")
    clean_env.setenv("LOKET_CLIENT_ID", creds.client_id)
    clean_env.setenv("LOKET_REDIRECT_URI", creds.redirect_uri)
    clean_env.setenv("LOKET_CLIENT_SECRET", creds.client_secret)
    login = LoketLogin(client_options=_mock_urls(server))
    assert login.environment.value == "acceptance"
    assert (login.client_id.value, login.redirect_uri.value) == (
        creds.client_id,
        creds.redirect_uri,
    )
    assert login.client_secret.value == "" and "LOKET_CLIENT_SECRET" in (
        login.client_secret.placeholder
    )
    login.login_button.click()  # the secret field is empty: the variable's value is used
    _browser_finish(login)
    assert login.logged_in, login.status.value
    assert login.client.employers().height == SMALL.employers
    _assert_no_secret(login.widget, creds.client_secret)
    login.client.close()


def test_remember_then_a_new_login_needs_no_browser_and_forget_removes_it(
    clean_env, server, memory_keyring
):
    creds = server.credentials
    options = _mock_urls(server)

    def new_login() -> LoketLogin:
        login = LoketLogin(
            environment="production",
            client_id=creds.client_id,
            redirect_uri=creds.redirect_uri,
            client_options=options,
        )
        login.client_secret.value = creds.client_secret
        return login

    first = new_login()
    assert not first.remember.value
    first.remember.value = True
    first.login_button.click()
    _browser_finish(first)
    assert first.logged_in and "remembered on this computer" in first.status.value
    first.client.employers()
    assert len(memory_keyring.data) == 1
    authorized = server.app.count(path_prefix="/authorize")

    second = new_login()  # e.g. after a kernel restart
    second.remember.value = True
    second.login_button.click()
    assert second.logged_in, second.status.value
    assert "login remembered on this computer" in second.status.value
    assert second.auth_link.value == "" and second.finish_button.disabled
    assert second.client.employers().height == SMALL.employers
    assert server.app.count(path_prefix="/authorize") == authorized  # no browser step
    stored = json.loads(next(iter(memory_keyring.data.values())))
    _assert_no_secret(second.widget, creds.client_secret, stored["refresh_token"])

    second.forget_button.click()
    assert memory_keyring.data == {} and not second.logged_in
    third = new_login()
    third.remember.value = True
    third.login_button.click()
    assert not third.logged_in and _link(third)  # the browser step again
    first.client.close()


def test_remember_with_no_keyring_backend_says_so(clean_env, server):
    keyring = pytest.importorskip("keyring")
    from keyring.backends import fail

    previous = keyring.get_keyring()
    keyring.set_keyring(fail.Keyring())
    try:
        clean_env.setenv("LOKET_TOKEN_STORE", "keyring")
        login = LoketLogin(
            environment="production",
            client_id=server.credentials.client_id,
            redirect_uri=server.credentials.redirect_uri,
            client_options=_mock_urls(server),
        )
        assert login.remember.value  # ticked by LOKET_TOKEN_STORE
        login.client_secret.value = server.credentials.client_secret
        login.login_button.click()
    finally:
        keyring.set_keyring(previous)
    assert not login.logged_in and "no backend" in login.status.value
    assert login.client_secret.value == ""


def test_valinso_login_prefills_from_the_environment(clean_env, server):
    clean_env.setenv("VALINSO_BASE_URL", server.valinso_url)
    clean_env.setenv("VALINSO_API_KEY", server.credentials.valinso_api_key)
    login = ValinsoLogin(client_options={"cache": False, "progress": False})
    assert login.version.value == "head" and login.base_url.value == server.valinso_url
    assert "VALINSO_API_KEY" in login.api_key.placeholder
    login.test_button.click()
    assert login.connected, login.status.value
    _assert_no_secret(login.widget, server.credentials.valinso_api_key)
    login.client.close()
