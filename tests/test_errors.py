"""Redaction: every URL shown or stored loses its user name, password and secret query values;
a lower layer's text loses URLs, credentials and the header values it quotes."""

from __future__ import annotations

import pytest

from loketvalinso.errors import SENSITIVE_PARAMS, ApiError, NetworkError, redact_text, redact_url


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://user:pa55word@api.test/v2/x", "https://***@api.test/v2/x"),
        ("https://only-user@api.test:8443/x?a=1", "https://***@api.test:8443/x?a=1"),
        (
            "https://api.test/x?key=K&sig=S&signature=G&id_token=I&secret=Z&b=2",
            "https://api.test/x?key=***&sig=***&signature=***&id_token=***&secret=***&b=2",
        ),
        (
            "https://api.test/cb#access_token=T&state=s",
            "https://api.test/cb#access_token=***&state=s",
        ),
        ("https://api.test/x?Api-Key=K", "https://api.test/x?Api-Key=***"),
        ("https://api.test/x?b=2&a=1", "https://api.test/x?b=2&a=1"),  # untouched when clean
        ("/v2/x?code=C", "/v2/x?code=***"),
    ],
)
def test_redact_url(url, shown):
    assert redact_url(url) == shown


def test_every_issue_named_query_parameter_is_secret():
    assert {"key", "secret", "sig", "signature", "id_token"} <= SENSITIVE_PARAMS


def test_redact_text_takes_urls_credentials_and_quoted_header_values_out():
    text = (
        "LocalProtocolError: Illegal header value b'Bearer tok-123\\n' "
        "(url: https://u:pw-9@h.test/x?key=k-1&a=1), page: 2. Authorization: Basic dXM6cHc="
    )
    out = redact_text(text)
    for secret in ("tok-123", "pw-9", "k-1", "dXM6cHc="):
        assert secret not in out
    assert "(url: https://***@h.test/x?key=***&a=1), page: 2." in out
    assert "b'***'" in out and "Basic ***" in out


def test_errors_store_and_show_urls_redacted():
    api = ApiError("no", status=400, url="https://u:pw-1@h.test/x?sig=s-1")
    net = NetworkError("down", url="https://u:pw-2@h.test/x?id_token=t-2", page=3)
    for error in (api, net):
        assert "pw-" not in str(error) and "pw-" not in str(error.url)
        assert "s-1" not in str(error) and "t-2" not in str(error)
