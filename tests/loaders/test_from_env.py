"""Configuration from the environment (and a ``.env``), and clients that send nothing until a
load needs it: a password login waits, an unreachable server is a ``NetworkError``."""

from __future__ import annotations

import socket
import warnings

import polars as pl
import pytest

import loketvalinso as lv
from loketvalinso._config import read_environment
from loketvalinso.errors import ConfigurationError, NetworkError

SIZES = lv.mock.WorldSizes(employers=1, employees=20, devices=3, vends=100)


@pytest.fixture(scope="module")
def mock():
    with lv.mock.serve(seed=9, sizes=SIZES) as m:
        yield m


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # nothing listens once it is closed


def test_loket_from_env_reads_the_documented_variables(clean_env, mock):
    creds = mock.credentials
    clean_env.setenv("LOKET_ENVIRONMENT", "Acceptance")
    clean_env.setenv("LOKET_CLIENT_ID", creds.client_id)
    clean_env.setenv("LOKET_CLIENT_SECRET", creds.client_secret)
    clean_env.setenv("LOKET_REDIRECT_URI", creds.redirect_uri)
    before = len(mock.app.requests)
    with lv.Loket.from_env(cache=False) as loket:
        assert loket.environment == "acceptance"
        assert loket.base_url == "https://api.loket-acc.nl/v2"
        assert loket.oauth.client_id == creds.client_id
        assert loket.oauth.redirect_uri == creds.redirect_uri
        assert "client_id=" + creds.client_id in loket.authorization_url()
        text = repr(loket) + loket._repr_html_()
    assert creds.client_secret not in text and "acceptance" in text and "logged_in" in text
    assert len(mock.app.requests) == before


def test_keywords_win_and_a_token_from_the_environment_loads(clean_env, mock):
    token_client = lv.Loket.from_mock(mock, flow="password", cache=False)
    token = token_client.oauth.access_token
    clean_env.setenv("LOKET_ENVIRONMENT", "production")
    clean_env.setenv("LOKET_BASE_URL", mock.loket_url)
    clean_env.setenv("LOKET_ACCESS_TOKEN", token)
    with lv.Loket.from_env(cache=False, progress=False, page_size=5) as loket:
        assert loket.page_size == 5 and loket.base_url == mock.loket_url
        employers = loket.employers()
        assert token not in repr(loket)
    assert (
        employers["id"].to_list()
        == mock.world.employers.filter(pl.col("accessible"))["id"].to_list()
    )
    token_client.close()


def test_a_dotenv_file_is_read_and_the_environment_wins(clean_env, tmp_path):
    pytest.importorskip("dotenv")
    (tmp_path / ".env").write_text(
        "VALINSO_API_KEY=from-dotenv-key\nVALINSO_VERSION=2.0.0\nOTHER=ignored\n"
    )
    clean_env.setenv("VALINSO_VERSION", "head")
    env = read_environment()
    assert env == {"VALINSO_API_KEY": "from-dotenv-key", "VALINSO_VERSION": "head"}
    with lv.Valinso.from_env(cache=False) as valinso:
        assert valinso.version == "head" and valinso.base_url.endswith("/api/head/valinso_api")
        assert "from-dotenv-key" not in repr(valinso) + valinso._repr_html_()
    assert read_environment(dotenv=False) == {"VALINSO_VERSION": "head"}
    with pytest.raises(ConfigurationError, match=r"no \.env file"):
        read_environment(tmp_path / "missing.env")


def test_valinso_from_env_loads(clean_env, mock):
    clean_env.setenv("VALINSO_API_KEY", mock.credentials.valinso_api_key)
    clean_env.setenv("VALINSO_BASE_URL", mock.valinso_url)
    with lv.Valinso.from_env(cache=False, progress=False) as valinso:
        assert valinso.devices().height == mock.world.devices.height


def test_missing_variables_say_which_to_set(clean_env):
    with pytest.raises(ConfigurationError, match="LOKET_ENVIRONMENT") as info:
        lv.Loket.from_env(dotenv=False)
    assert "LOKET_CLIENT_ID" in str(info.value)
    clean_env.setenv("LOKET_ENVIRONMENT", "test")
    with pytest.raises(ConfigurationError, match="no credential"):
        lv.Loket.from_env(dotenv=False)
    with pytest.raises(ConfigurationError, match="VALINSO_API_KEY"):
        lv.Valinso.from_env(dotenv=False)
    clean_env.setenv("LOKET_ENVIRONMENT", "staging")
    clean_env.setenv("LOKET_CLIENT_ID", "c")
    with pytest.raises(ConfigurationError, match="unknown Loket environment"):
        lv.Loket.from_env(dotenv=False)


def test_token_store_keyring_without_a_backend_is_a_clear_error(clean_env):
    keyring = pytest.importorskip("keyring")
    from keyring.backends import fail

    previous = keyring.get_keyring()
    keyring.set_keyring(fail.Keyring())
    try:
        clean_env.setenv("LOKET_ENVIRONMENT", "production")
        clean_env.setenv("LOKET_CLIENT_ID", "c")
        clean_env.setenv("LOKET_TOKEN_STORE", "keyring")
        with pytest.raises(ConfigurationError, match="no backend"):
            lv.Loket.from_env(dotenv=False)
    finally:
        keyring.set_keyring(previous)


# -- nothing is sent until a load needs it ------------------------------------------------------


def test_a_password_login_waits_for_the_first_load(mock, tmp_path):
    creds = mock.credentials
    options = {
        "base_url": mock.loket_url,
        "token_url": mock.token_url,
        "client_id": creds.client_id,
        "client_secret": creds.client_secret,
        "username": creds.username,
        "password": creds.password,
        "cache": tmp_path / "c",
        "keep_for_offline": True,
        "progress": False,
    }
    before = len(mock.app.requests)
    loket = lv.Loket(**options)
    assert len(mock.app.requests) == before  # built: nothing sent
    assert not loket.logged_in and "password login on the first load" in repr(loket)
    employers = loket.employers()
    paths = [r.path for r in mock.app.requests[before:]]
    assert paths == ["/token", "/v2/user", "/v2/providers/employers"]
    loket.close()
    # offline in the same session: the user is known, the login is not needed
    offline = lv.Loket(**{**options, "keep_for_offline": False, "offline": True})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", lv.CacheWarning)  # stale: served offline
        assert offline.employers().equals(employers)
    assert len(mock.app.requests) == before + 3
    offline.close()


def test_an_unreachable_server_is_a_network_error(tmp_path):
    port = closed_port()
    loket = lv.Loket(
        base_url=f"http://127.0.0.1:{port}/v2",
        token_url=f"http://127.0.0.1:{port}/token",
        client_id="client",
        client_secret="secret-value-123",
        username="someone",
        password="pass-word-456",
        cache=tmp_path / "c",
        retry=lv.RetryPolicy(max_attempts=1),
    )
    with pytest.raises(NetworkError, match="token endpoint") as info:
        loket.employers()
    assert "secret-value-123" not in str(info.value) and "pass-word-456" not in str(info.value)
    loket.close()
    token = lv.Loket(
        base_url=f"http://127.0.0.1:{port}/v2",
        access_token="tok",
        cache=tmp_path / "c",
        retry=lv.RetryPolicy(max_attempts=1),
    )
    with pytest.raises(NetworkError):
        token.employers()  # GET /user fails first: still the toolkit's error
    token.close()
