"""Error responses of both APIs become the right exception, with a clear message and no secret."""

from __future__ import annotations

import warnings

import httpx
import pytest

from loketvalinso._transport.extensions import ATTEMPTS as ATTEMPTS_EXTENSION
from loketvalinso._transport.responses import (
    GENERAL_ERRORS_KEY,
    check_loket_messages,
    check_valinso_payload,
    error_from_response,
    parse_json,
    raise_for_response,
)
from loketvalinso.errors import (
    ApiError,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    LoketValinsoWarning,
    LoketWarning,
    NotFoundError,
    PermissionDeniedError,
    RateLimitedError,
    ResponseFormatError,
    ServerError,
    ValidationError,
)

URL = "https://api.loket.nl/v2/providers/employers?access_token=SECRET-TOKEN&pageNumber=2"


def resp(
    status: int, *, json=None, text=None, content=None, headers=None, url=URL, extensions=None
):
    request = httpx.Request("GET", url)
    kwargs = {}
    if json is not None:
        kwargs["json"] = json
    elif text is not None:
        kwargs["text"] = text
    elif content is not None:
        kwargs["content"] = content
    return httpx.Response(
        status, headers=headers, request=request, extensions=extensions or {}, **kwargs
    )


def msg(type_: str, description: str, *, code: int = 1, properties=None, id_=None):
    return {
        "type": type_,
        "description": description,
        "code": code,
        "properties": properties or [],
        "id": id_,
    }


def raised(response, api="loket", **kwargs) -> ApiError:
    with pytest.raises(ApiError) as info:
        raise_for_response(response, api=api, **kwargs)
    return info.value


def test_success_does_not_raise():
    for status in (200, 201, 204, 304):
        assert raise_for_response(resp(status), api="loket") is None


def test_loket_401_message_body():
    error = raised(resp(401, json={"message": "Authorization has been denied for this request."}))
    assert type(error) is AuthenticationError
    assert error.status == 401
    assert "Authorization has been denied" in str(error)
    assert "Log in again" in str(error)
    assert error.messages == [{"description": "Authorization has been denied for this request."}]


def test_loket_403_message_body():
    error = raised(resp(403, json={"message": "Insufficient rights for this activity"}))
    assert type(error) is PermissionDeniedError
    assert "Insufficient rights" in str(error)


def test_url_is_named_and_redacted():
    error = raised(resp(404, json={"message": "gone"}))
    assert "SECRET-TOKEN" not in str(error)
    assert "SECRET-TOKEN" not in repr(error)
    assert "pageNumber=2" in str(error)
    assert "access_token=***" in error.url


def test_broken_business_rule_becomes_validation_error_with_field_errors():
    body = {
        "messages": [
            msg(
                "BrokenBusinessRule",
                "Start date must be before end date",
                properties=["startDate", "endDate"],
            ),
            msg("BrokenBusinessRule", "Too many units", properties=["numberOfUnits"]),
            msg("BrokenBusinessRule", "The employment has ended"),
            msg("Warning", "just saying"),
        ],
        "content": None,
    }
    error = raised(resp(400, json=body))
    assert type(error) is ValidationError
    assert error.status == 400
    assert error.field_errors["startDate"] == ["Start date must be before end date (code 1)"]
    assert error.field_errors["endDate"] == ["Start date must be before end date (code 1)"]
    assert error.field_errors["numberOfUnits"] == ["Too many units (code 1)"]
    assert error.field_errors[GENERAL_ERRORS_KEY] == ["The employment has ended (code 1)"]
    # the same as a frame: one row per field and message, no batch item
    assert error.errors.columns == ["item", "field", "message"]
    assert error.errors.height == 4 and error.errors["item"].null_count() == 4
    # the first error message names itself on the error
    assert (error.code, error.description) == (1, "Start date must be before end date")
    assert len(error.messages) == 4
    assert "Too many units" in str(error)


def test_not_found_message():
    body = {"messages": [msg("NotFound", "Employer not found", code=404)], "_embedded": []}
    error = raised(resp(404, json=body))
    assert type(error) is NotFoundError
    assert "Employer not found" in str(error)


def test_not_found_message_wins_over_status():
    body = {"messages": [msg("NotFound", "Employment not found")]}
    assert type(raised(resp(400, json=body))) is NotFoundError


def test_concurrency_violation_becomes_conflict():
    body = {
        "messages": [msg("ConcurrencyViolation", "The object was changed by someone else")],
        "content": None,
    }
    error = raised(resp(409, json=body))
    assert type(error) is ConflictError
    assert "load it again" in str(error)


@pytest.mark.parametrize(
    ("status", "cls"), [(500, ServerError), (503, ServerError), (400, BadRequestError)]
)
def test_exception_message_by_status(status, cls):
    error = raised(resp(status, json={"messages": [msg("Exception", "Unexpected failure")]}))
    assert type(error) is cls
    assert error.status == status


def test_server_error_mentions_attempts():
    error = raised(resp(503, text="", extensions={ATTEMPTS_EXTENSION: 5}))
    assert type(error) is ServerError
    assert "after 5 attempts" in str(error)


def test_loket_text_plain_400():
    response = resp(
        400, text="This API only accepts SSL connections", headers={"Content-Type": "text/plain"}
    )
    error = raised(response)
    assert type(error) is BadRequestError
    assert "only accepts SSL" in str(error)


def test_html_error_page_keeps_status_class():
    error = raised(
        resp(
            502, text="<html><body>Bad gateway</body></html>", headers={"Content-Type": "text/html"}
        )
    )
    assert type(error) is ServerError
    assert "Bad gateway" in str(error)


def test_empty_error_body_uses_reason_phrase():
    error = raised(resp(404))
    assert type(error) is NotFoundError
    assert "Not Found" in str(error)


def test_long_bodies_are_shortened():
    error = raised(resp(500, text="x" * 5000))
    assert len(str(error)) < 1000


def test_rate_limited_with_retry_after():
    error = raised(resp(429, json={"message": "slow down"}, headers={"Retry-After": "12"}))
    assert type(error) is RateLimitedError
    assert error.retry_after == 12.0


def test_valinso_text_result():
    url = "https://vps3.valinso.nl/api/head/valinso_api/device/9"
    error = raised(
        resp(404, json={"code": 404, "result": "Item not found"}, url=url), api="valinso"
    )
    assert type(error) is NotFoundError
    assert "Item not found" in str(error)
    assert "device/9" in str(error)


def test_valinso_422_field_errors():
    body = {
        "code": 422,
        "result": {
            "errors": {
                "client_id": ["Client cannot be blank."],
                "email": [
                    "E-mail is not a valid email address.",
                    "E-mail is too long (maximum is 100 characters).",
                ],
            }
        },
    }
    error = raised(resp(422, json=body), api="valinso")
    assert type(error) is ValidationError
    assert error.errors.rows() == [
        (None, "client_id", "Client cannot be blank."),
        (None, "email", "E-mail is not a valid email address."),
        (None, "email", "E-mail is too long (maximum is 100 characters)."),
    ]
    assert error.field_errors == {
        "client_id": ["Client cannot be blank."],
        "email": [
            "E-mail is not a valid email address.",
            "E-mail is too long (maximum is 100 characters).",
        ],
    }
    assert "client_id: Client cannot be blank." in str(error)


@pytest.mark.parametrize(
    ("status", "cls"), [(401, AuthenticationError), (403, PermissionDeniedError)]
)
def test_valinso_wrong_key_hint(status, cls):
    error = raised(resp(status, json={"code": status, "result": "Invalid API key"}), api="valinso")
    assert type(error) is cls
    assert "check the api-key" in str(error)
    assert error.hint and error.hint.startswith("check the api-key")


def test_custom_hint_replaces_default():
    error = raised(resp(401, json={"message": "no"}), hint="try again tomorrow")
    assert str(error).endswith("try again tomorrow")


def test_valinso_429_and_5xx():
    assert (
        type(raised(resp(429, json={"code": 429, "result": "Too many"}), api="valinso"))
        is RateLimitedError
    )
    assert (
        type(raised(resp(500, json={"code": 500, "result": "boom"}), api="valinso")) is ServerError
    )


def test_error_from_response_rejects_unknown_api():
    with pytest.raises(ValueError, match="api must be"):
        error_from_response(resp(400), api="other")  # type: ignore[arg-type]


def test_check_valinso_payload_code_mismatch():
    check_valinso_payload({"code": 200, "result": []})
    with pytest.raises(NotFoundError, match="gone"):
        check_valinso_payload({"code": 404, "result": "gone"}, url="https://x.test/a")
    with pytest.raises(ValidationError) as info:
        check_valinso_payload({"code": 422, "result": {"errors": {"name": "too long"}}})
    assert info.value.field_errors == {"name": ["too long"]}


def test_loket_2xx_warnings_become_python_warnings():
    body = {"messages": [msg("Warning", "Leave exceeds balance", id_="abc")], "content": {}}
    with pytest.warns(LoketWarning, match="Leave exceeds balance") as record:
        check_loket_messages(body, url=URL, status=200)
    text = str(record[0].message)
    assert "abc" in text
    assert "SECRET-TOKEN" not in text


def test_loket_2xx_error_messages_raise():
    body = {"messages": [msg("BrokenBusinessRule", "Not allowed", properties=["x"])]}
    with pytest.raises(ValidationError) as info:
        check_loket_messages(body, url=URL, status=200)
    assert info.value.field_errors == {"x": ["Not allowed (code 1)"]}


def test_loket_2xx_without_messages_is_quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("error", LoketValinsoWarning)
        check_loket_messages({"messages": [], "_embedded": []})
        check_loket_messages({"_embedded": []})
        check_loket_messages(None)


def test_parse_json_ok():
    assert parse_json(resp(200, json={"a": 1})) == {"a": 1}


def test_parse_json_truncated_names_url_and_page():
    response = resp(
        200,
        content=b'{"_embedded": [{"id": 1}, {"id"',
        headers={"Content-Type": "application/json"},
    )
    with pytest.raises(ResponseFormatError) as info:
        parse_json(response, page=3)
    text = str(info.value)
    assert "truncated" in text
    assert "page: 3" in text
    assert "api.loket.nl" in text
    assert "SECRET-TOKEN" not in text


def test_parse_json_html_and_empty():
    with pytest.raises(ResponseFormatError, match="not JSON"):
        parse_json(resp(200, text="<html>login</html>", headers={"Content-Type": "text/html"}))
    with pytest.raises(ResponseFormatError, match="empty"):
        parse_json(resp(200, content=b""))


def test_parse_json_cut_off_stream():
    class Cut(httpx.SyncByteStream):
        def __iter__(self):
            yield b'{"a":'
            raise httpx.RemoteProtocolError("incomplete body")

    response = httpx.Response(200, stream=Cut(), request=httpx.Request("GET", URL))
    with pytest.raises(ResponseFormatError, match="cut off"):
        parse_json(response)


# -- failures below HTTP -----------------------------------------------------------------------


def test_a_header_that_cannot_be_sent_is_a_configuration_error_not_the_network():
    from loketvalinso._transport.responses import error_from_transport
    from loketvalinso.errors import ConfigurationError

    exc = httpx.LocalProtocolError("Illegal header value b'Bearer s3cr3t-token\\n'")
    error = error_from_transport(exc, url="https://x.test/v2/a?access_token=s3cr3t-token")
    assert isinstance(error, ConfigurationError)
    text = str(error)
    assert "s3cr3t-token" not in text and "This is not the network" in text
    assert "line break or control character" in text


def test_transport_failures_are_network_errors_with_the_text_redacted():
    from loketvalinso._transport.responses import error_from_transport
    from loketvalinso.errors import NetworkError

    exc = httpx.ProxyError("407 from http://proxyuser:pr0xy-pass@proxy.test:3128 for key=k3y")
    error = error_from_transport(exc, url="https://x.test/a?key=k3y-value", what="vends", page=2)
    assert isinstance(error, NetworkError) and error.page == 2
    assert "pr0xy-pass" not in str(error) and "k3y-value" not in str(error)
    assert "***@proxy.test:3128" in str(error) and "did not answer after every retry" in str(error)
    slow = error_from_transport(httpx.ReadTimeout("timed out"), url="https://x.test/a")
    assert isinstance(slow, NetworkError) and "did not answer in time" in str(slow)
    broken = error_from_transport(httpx.DecodingError("bad gzip"), url="https://x.test/a")
    assert type(broken).__name__ == "ResponseFormatError"
