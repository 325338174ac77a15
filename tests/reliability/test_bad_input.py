"""Bad input: every mistake gets a typed error whose message says what was wrong and what to do."""

from __future__ import annotations

import time

import httpx
import pytest

import loketvalinso as lv
from loketvalinso._transport.retry import RetryPolicy
from loketvalinso.errors import (
    AuthenticationError,
    BadRequestError,
    ConfigurationError,
    LoginRequiredError,
    PermissionDeniedError,
    ValidationError,
    VersionError,
)

from .conftest import data_requests

pytestmark = pytest.mark.timeout(30)


@pytest.fixture(scope="module")
def mock(small_world):
    with lv.mock.serve(seed=7, world=small_world) as server:
        yield server


@pytest.fixture(scope="module")
def loket(mock):
    client = lv.Loket.from_mock(mock, cache=False, progress=False)
    yield client
    client.close()


@pytest.fixture(scope="module")
def valinso(mock):
    client = lv.Valinso.from_mock(mock, cache=False, progress=False)
    yield client
    client.close()


def _new_requests(mock, before: int) -> list:
    return list(mock.app.requests[before:])


# -- credentials -----------------------------------------------------------------------------------


@pytest.mark.parametrize("key", ["", "   ", None])
def test_empty_api_key_fails_before_any_request(mock, key):
    before = len(mock.app.requests)
    with pytest.raises(ConfigurationError, match=r"api_key is required.*Valinso support"):
        lv.Valinso(api_key=key, base_url=mock.valinso_url, cache=False)  # type: ignore[arg-type]
    assert _new_requests(mock, before) == []


def test_wrong_api_key_fails_fast_with_one_request_and_no_retry(mock):
    # A generous retry policy: a wrong key must still not be retried.
    valinso = lv.Valinso(
        api_key="wrong-key-123",
        base_url=mock.valinso_url,
        cache=False,
        progress=False,
        retry=RetryPolicy(max_attempts=5),
    )
    before = len(mock.app.requests)
    started = time.monotonic()
    with pytest.raises((AuthenticationError, PermissionDeniedError)) as info:
        valinso.vends()
    elapsed = time.monotonic() - started
    sent = _new_requests(mock, before)
    assert elapsed < 1.0
    assert len(sent) == 1 and sent[0].status in (401, 403)
    text = str(info.value)
    assert "api-key" in text and "Valinso support" in text and "api_key=" in text
    assert "wrong-key-123" not in text


def test_api_key_with_line_break_is_refused_before_sending(mock):
    with pytest.raises(ConfigurationError, match=r"line break.*copy it again"):
        lv.Valinso(api_key="abc\ndef", base_url=mock.valinso_url, cache=False)


def test_expired_refresh_token_asks_to_log_in_again(mock):
    creds = mock.credentials
    loket = lv.Loket(
        base_url=mock.loket_url,
        token_url=mock.token_url,
        client_id=creds.client_id,
        client_secret=creds.client_secret,
        refresh_token="expired-or-revoked-refresh-token",
        cache=False,
        progress=False,
    )
    before = len(mock.app.requests)
    with pytest.raises(LoginRequiredError) as info:
        loket.employers()
    text = str(info.value)
    assert "refresh token was refused" in text
    assert "Log in again" in text and "authorization_url()" in text and "finish_login" in text
    assert "expired-or-revoked-refresh-token" not in text
    sent = _new_requests(mock, before)
    assert [r.path for r in sent] == ["/token"]  # one refresh attempt, no data request
    # The dead refresh token is forgotten: the next call fails at once, without a request.
    with pytest.raises(LoginRequiredError, match="Log in again"):
        loket.employers()
    assert len(_new_requests(mock, before)) == 1


def test_really_expired_refresh_token_after_real_login(small_world):
    """A refresh token the server has expired (fake clock) gives LoginRequiredError too."""
    clock = [time.time()]
    app = lv.mock.MockApp(
        small_world, faults=lv.mock.FaultConfig(token_lifetime=60), clock=lambda: clock[0]
    )
    transport = lv.mock.server.InProcessTransport(app)
    server = lv.mock.MockServer(url=lv.mock.IN_PROCESS_URL, app=app, transport=transport)
    loket = lv.Loket.from_mock(server, cache=False, progress=False)
    loket.employers()
    clock[0] += 400 * 86_400  # far beyond any refresh token's lifetime
    loket.oauth._clock = lambda: clock[0]  # the client's clock moves too: the token is due
    with pytest.raises(LoginRequiredError, match="Log in again"):
        loket.employers()


def test_forbidden_employer_says_what_to_do(loket, small_world):
    forbidden = small_world.employers.filter(~small_world.employers["accessible"])["id"][0]
    with pytest.raises(PermissionDeniedError) as info:
        loket.departments(forbidden)
    text = str(info.value)
    assert info.value.status == 403
    assert forbidden in text  # the URL names the employer
    assert "Insufficient rights" in text
    assert "ask the Loket administrator" in text


# -- resources and versions ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path", ["/providers/employers/{employerId}/nonsense", "/nope", "providers/employeez"]
)
def test_unknown_resource_path(loket, mock, employer_id, path):
    before = len(mock.app.requests)
    with pytest.raises(ConfigurationError) as info:
        loket.get(path, employerId=employer_id) if "{" in path else loket.get(path)
    text = str(info.value)
    assert "no Loket GET endpoint matches" in text and path.strip("/") in text
    assert "loket.catalog()" in text
    assert _new_requests(mock, before) == []


@pytest.mark.parametrize("version", ["2021-13-45", "yesterday", "29-03-2021", "2021/03/29"])
def test_malformed_version_date(loket, mock, employer_id, version):
    before = len(mock.app.requests)
    with pytest.raises(VersionError) as info:
        loket.employees(employer_id, version=version)
    text = str(info.value)
    assert repr(version) in text or version in text
    assert "YYYY-MM-DD" in text
    assert _new_requests(mock, before) == []


def test_version_that_does_not_exist_for_the_resource(loket, mock, employer_id):
    before = len(mock.app.requests)
    with pytest.raises(VersionError) as info:
        loket.employees(employer_id, version="2010-01-01")
    text = str(info.value)
    assert "2010-01-01" in text
    assert "2018-12-31" in text and "2021-03-29" in text  # it lists the versions that exist
    assert _new_requests(mock, before) == []
    with pytest.raises(VersionError, match="2018-12-31"):
        loket.set_version("employees", "2001-01-01")


def test_since_after_until(valinso, loket, employer_id):
    with pytest.raises(ConfigurationError, match=r"since .* is after until .*swap them"):
        valinso.vends(since="2025-06-01", until="2025-01-01")
    with pytest.raises(ConfigurationError, match=r"start .* is after end .*swap them"):
        loket.leave_requests(employer_id, start="2025-06-01", end="2025-01-01")
    with pytest.raises(ConfigurationError, match="since must be"):
        valinso.vends(since="next tuesday")


# -- server answers that are not JSON / not valid --------------------------------------------------


def _text_400(request: httpx.Request) -> httpx.Response:
    return httpx.Response(
        400,
        text="Invalid filter: unexpected token 'eq' at position 4",
        headers={"content-type": "text/plain"},
    )


@pytest.mark.parametrize("api", ["loket", "valinso"])
def test_non_json_400_text_is_quoted(api):
    calls: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return _text_400(request)

    transport = httpx.MockTransport(handler)
    if api == "loket":
        client = lv.Loket(
            base_url="https://api.loket.nl/v2",
            access_token="tok",
            cache=False,
            progress=False,
            transport=transport,
        )
        load = client.employers
    else:
        client = lv.Valinso(api_key="k", cache=False, progress=False, transport=transport)
        load = client.vends
    with pytest.raises(BadRequestError) as info:
        load()
    text = str(info.value)
    assert "answered 400" in text
    assert "Invalid filter: unexpected token 'eq' at position 4" in text
    assert "page" in text and "https://" in text
    assert len(calls) == 1  # a 400 is not retried


def test_invalid_422_post_keeps_every_field_message(valinso):
    with pytest.raises(ValidationError) as info:
        valinso.post("/locations", {"client_id": 0, "email": "x" * 120, "phone": "abc"})
    errors = info.value.field_errors
    assert errors["email"] == [
        "E-mail is not a valid email address.",
        "E-mail is too long (maximum is 100 characters).",
    ]
    assert set(errors) >= {"client_id", "name", "email", "phone"}
    for field, messages in errors.items():
        assert messages, field
        for message in messages:
            assert message in str(info.value)
    with pytest.raises(ValidationError) as vinfo:
        valinso.create_vends([{"device_id": -1, "price": "abc"}, 5])
    assert "items[1]" in vinfo.value.field_errors
    assert any(k.startswith("items[0].") for k in vinfo.value.field_errors)
    assert set(vinfo.value.errors["item"]) == {0, 1}


def test_invalid_post_is_never_retried(mock):
    valinso = lv.Valinso.from_mock(mock, cache=False, progress=False)
    before = len(mock.app.requests)
    with pytest.raises(ValidationError):
        valinso.post("/locations", {})
    assert len(_new_requests(mock, before)) == 1


# -- insecure URLs ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "make",
    [
        lambda: lv.Loket(base_url="http://api.loket.nl/v2", access_token="t", cache=False),
        lambda: lv.Loket(
            base_url="https://api.loket.nl/v2",
            token_url="http://oauth.loket.nl/token",
            client_id="c",
            cache=False,
        ),
        lambda: lv.Valinso(
            api_key="k", base_url="http://vps3.valinso.nl/api/head/valinso_api", cache=False
        ),
        lambda: lv.Loket(base_url="http://10.0.0.5/v2", access_token="t", cache=False),
    ],
    ids=["loket-api", "loket-token", "valinso", "private-ip"],
)
def test_plain_http_to_a_non_loopback_host_is_refused(make):
    with pytest.raises(ConfigurationError) as info:
        make()
    text = str(info.value)
    assert (
        "refusing plain http://" in text
        and "Use https://" in text
        and "allow_insecure=True" in text
    )


def test_plain_http_to_loopback_is_fine(mock):
    assert lv.Valinso(api_key="k", base_url=mock.valinso_url, cache=False).base_url.startswith(
        "http://127."
    )


# -- page size -------------------------------------------------------------------------------------


def test_page_size_above_the_server_maximum_surfaces_its_message(mock, employer_id):
    loket = lv.Loket.from_mock(mock, cache=False, progress=False, page_size=5000)
    before = len(mock.app.requests)
    with pytest.raises(BadRequestError) as info:
        loket.employees(employer_id)
    text = str(info.value)
    assert "pageSize must be between 1 and 1000" in text and "5000" in text
    assert "pageSize=5000" in text  # the URL
    sent = data_requests(mock.app, "/v2/")
    assert len(_new_requests(mock, before)) == 1 and sent[-1].status == 400


@pytest.mark.parametrize("size", [0, -1, "100"])
def test_page_size_nonsense_is_refused_locally(mock, size):
    with pytest.raises(ConfigurationError, match="page_size must be a positive integer"):
        lv.Loket(base_url=mock.loket_url, access_token="t", cache=False, page_size=size)


# -- inputs that once escaped the error tree -------------------------------------------------------


def test_values_that_once_raised_raw_errors_are_configuration_errors_sent_nowhere(
    mock, loket, valinso, employer_id
):
    before = len(mock.app.requests)
    cases = [
        (lambda: valinso.vends(since=float("nan")), "since must be a finite number"),
        (lambda: valinso.vends(until=float("inf")), "until must be a finite number"),
        (lambda: valinso.device("1/../x"), "device_id must be a whole number"),
        (lambda: valinso.device(-3), "device_id must be a whole number"),
        (lambda: valinso.vends(device_id="7; drop"), "device_id must be a whole number"),
        (lambda: valinso.get("../../x"), "'.' or '..' segment"),
        (lambda: valinso.get("/vends/%2e%2e/%2E%2E/x"), "'.' or '..' segment"),
        (lambda: valinso.get("/vends?limit=5"), "pass query parameters as params="),
        (lambda: valinso.get(""), "a Valinso path such as '/devices' is needed"),
        (lambda: valinso.post("/../x", {}), "'.' or '..' segment"),
        (lambda: loket.departments(""), "employerId for /providers/employers/{employerId}"),
        (lambda: loket.departments("  "), "is empty"),
        (lambda: loket.departments(".."), "'..', which is not an id"),
        (lambda: loket.get("/providers/employers/../departments"), "'..', which is not an id"),
        (lambda: loket.leave_requests(employer_id="a\nb"), "which is not an id"),
        (
            lambda: lv.Valinso(api_key="k", base_url=mock.valinso_url, timeout=-1, cache=False),
            "timeout must be a positive number",
        ),
        (
            lambda: lv.Loket(base_url=mock.loket_url, access_token="t", deadline=0, cache=False),
            "deadline must be a positive number",
        ),
        (
            lambda: lv.Valinso(
                api_key="k", base_url=mock.valinso_url, max_body_bytes=-1, cache=False
            ),
            "max_body_bytes must be a positive number",
        ),
    ]
    for call, words in cases:
        with pytest.raises(ConfigurationError) as info:
            call()
        assert words in str(info.value), (words, str(info.value))
    assert _new_requests(mock, before) == []  # every one refused before a request


def test_a_closed_client_says_so(mock):
    client = lv.Valinso.from_mock(mock, cache=False, progress=False)
    client.close()
    before = len(mock.app.requests)
    for call in (client.devices, lambda: client.post("/locations", {"name": "x"})):
        with pytest.raises(ConfigurationError, match="client is closed"):
            call()
    assert _new_requests(mock, before) == []
