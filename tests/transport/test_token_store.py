"""A remembered login: the refresh token and the user's identity in the keyring (an in-memory
backend here), taken up by the next client with no request; refused backends say what to do."""

from __future__ import annotations

import builtins
import json

import httpx
import pytest

keyring = pytest.importorskip("keyring")

from loketvalinso._transport.auth import LoketOAuth  # noqa: E402
from loketvalinso._transport.auth_flows import LoketAuth  # noqa: E402
from loketvalinso._transport.client import build_client  # noqa: E402
from loketvalinso._transport.token_store import (  # noqa: E402
    KEYRING_SERVICE,
    KeyringTokenStore,
    resolve_token_store,
)
from loketvalinso.errors import ConfigurationError, LoginRequiredError  # noqa: E402
from tests.keyring_backend import DictTokenStore, MemoryKeyring  # noqa: E402
from tests.transport.test_auth import (  # noqa: E402
    API_URL,
    PASSWORD,
    TOKEN_URL,
    FakeLoket,
    browser_login,
    make_oauth,
)


@pytest.fixture
def memory_keyring():
    previous = keyring.get_keyring()
    backend = MemoryKeyring()
    keyring.set_keyring(backend)
    yield backend
    keyring.set_keyring(previous)


def stored(backend: MemoryKeyring) -> dict:
    (text,) = backend.data.values()
    return json.loads(text)


def load_once(server: FakeLoket, oauth: LoketOAuth) -> None:
    auth = LoketAuth(oauth, user_url=API_URL + "/user")
    transport = httpx.MockTransport(server.handler)
    with build_client(base_url=API_URL, auth=auth, transport=transport) as client:
        assert client.get("/x").status_code == 200


def test_a_login_is_remembered_and_taken_up_without_a_request(memory_keyring, server, clock):
    first = make_oauth(server, clock, token_store="keyring")
    assert not first.logged_in and not first.remembered  # nothing remembered yet
    first.finish_login(browser_login(server, first, "ann@example.test"))
    load_once(server, first)  # GET /user: the identity joins the refresh token
    record = stored(memory_keyring)
    key = next(iter(memory_keyring.data))
    assert key == f"{KEYRING_SERVICE}\0my-client {TOKEN_URL}"
    assert record["refresh_token"] in server.refresh and record["identity"] == first.identity
    grants = list(server.grants)

    again = make_oauth(server, clock, token_store="keyring")  # a restarted kernel
    assert server.grants == grants  # building asked nothing
    assert again.remembered and again.logged_in and again.identity == first.identity
    load_once(server, again)
    assert server.grants == [*grants, "refresh_token"]  # one refresh, no browser login
    assert server.user_calls == 1  # who it is came from the keyring
    assert stored(memory_keyring)["refresh_token"] in server.refresh  # the rotated one


def test_refused_refresh_keeps_who_but_not_the_token(memory_keyring, server, clock):
    oauth = make_oauth(server, clock, token_store="keyring")
    oauth.finish_login(browser_login(server, oauth, "bo@example.test"))
    load_once(server, oauth)
    server.refresh.clear()  # the server forgot every refresh token (expired)
    restored = make_oauth(server, clock, token_store="keyring")
    with pytest.raises(LoginRequiredError, match="refused"):
        restored.refresh()
    record = stored(memory_keyring)
    assert record["refresh_token"] is None and record["identity"] == oauth.identity
    later = make_oauth(server, clock, token_store="keyring")
    assert not later.logged_in and later.identity == oauth.identity  # offline still knows


def test_forget_removes_the_remembered_login(memory_keyring, server, clock):
    oauth = make_oauth(server, clock, token_store="keyring")
    oauth.login_password("cy@example.test", PASSWORD)
    assert memory_keyring.data
    oauth.forget()
    assert memory_keyring.data == {} and not oauth.logged_in and oauth.identity is None
    assert not make_oauth(server, clock, token_store="keyring").remembered


def test_an_access_token_alone_does_not_replace_a_remembered_login(memory_keyring, server, clock):
    oauth = make_oauth(server, clock, token_store="keyring")
    oauth.login_password("di@example.test", PASSWORD)
    before = dict(memory_keyring.data)
    other = make_oauth(server, clock, token_store="keyring")
    other.set_tokens(access_token="given-elsewhere")
    assert memory_keyring.data == before


def test_store_needs_a_client_and_a_token_url(memory_keyring):
    with pytest.raises(ConfigurationError, match="token_url"):
        LoketOAuth(token_store="keyring")
    with pytest.raises(ConfigurationError, match="'keyring'"):
        resolve_token_store("file")
    with pytest.raises(ConfigurationError, match="load"):
        resolve_token_store(42)  # type: ignore[arg-type]


def test_no_backend_and_plain_files_are_refused():
    previous = keyring.get_keyring()
    try:
        from keyring.backends import fail

        keyring.set_keyring(fail.Keyring())
        with pytest.raises(ConfigurationError, match="no backend") as info:
            KeyringTokenStore()
        assert "never falls back to a plain file" in str(info.value)

        class PlaintextKeyring(MemoryKeyring):
            pass

        keyring.set_keyring(PlaintextKeyring())
        with pytest.raises(ConfigurationError, match="plain file"):
            KeyringTokenStore()
    finally:
        keyring.set_keyring(previous)


def test_without_the_keyring_package_the_message_names_the_extra(monkeypatch):
    real_import = builtins.__import__

    def no_keyring(name, *args, **kwargs):
        if name == "keyring" or name.startswith("keyring."):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_keyring)
    with pytest.raises(ConfigurationError, match=r"loketvalinso\[keyring\]"):
        KeyringTokenStore()


def test_any_object_with_load_save_delete_is_a_store(server, clock):
    box = DictTokenStore()
    oauth = make_oauth(server, clock, token_store=box)
    oauth.login_password("ed@example.test", PASSWORD)
    load_once(server, oauth)
    (record,) = box.records.values()
    assert record["identity"] == oauth.identity
    assert make_oauth(server, clock, token_store=box).identity == oauth.identity
