"""Turn HTTP responses into data or into the right exception from :mod:`loketvalinso.errors`.

Four entry points:

* :func:`raise_for_response` — raise the typed :class:`~loketvalinso.errors.ApiError` for an error
  status (Loket and Valinso bodies both understood); do nothing for a success.
* :func:`error_from_transport` — the error for an ``httpx`` failure below HTTP (no answer, a
  header that could not be sent), its text redacted.
* :func:`parse_json` — the JSON body of a success, or :class:`~loketvalinso.errors.ResponseFormatError`
  naming the URL (and page) when the body is not JSON, is empty, or was cut off.
* :func:`check_loket_messages` / :func:`check_valinso_payload` — the in-body signals of a 2xx:
  Loket ``Warning`` messages become :class:`~loketvalinso.errors.LoketWarning` warnings and error
  message types become exceptions; a Valinso envelope whose ``code`` is an error raises.

Error messages never contain secrets: URLs are redacted by the error classes, request headers are
never quoted, and server text is shortened.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import httpx
import orjson

from loketvalinso._json import dumps_text
from loketvalinso._transport import extensions as ext
from loketvalinso._transport.retry import parse_retry_after, retry_info
from loketvalinso.errors import (
    ApiError,
    BadRequestError,
    ConfigurationError,
    ConflictError,
    LoketValinsoError,
    LoketWarning,
    NetworkError,
    NotFoundError,
    ResponseFormatError,
    ServerError,
    ValidationError,
    error_for_status,
    redact_text,
    redact_url,
)

__all__ = [
    "GENERAL_ERRORS_KEY",
    "LOKET_ERROR_TYPES",
    "Api",
    "check_loket_messages",
    "check_valinso_payload",
    "error_from_loket_messages",
    "error_from_response",
    "error_from_transport",
    "parse_json",
    "process_loket_messages",
    "raise_for_response",
]

Api = Literal["loket", "valinso"]

#: ``ValidationError.errors`` key for Loket messages that name no property.
GENERAL_ERRORS_KEY = "__all__"

#: Loket message types that mean the request failed, most specific first.
LOKET_ERROR_TYPES = ("NotFound", "ConcurrencyViolation", "BrokenBusinessRule", "Exception")

#: Longest piece of server text quoted in an error message.
_MAX_TEXT = 500

_HINTS: dict[tuple[str, int], str] = {
    ("loket", 401): (
        "The access token was refused. Log in again (authorization_url() then finish_login(...), "
        "or login_password(...)), or check that the token belongs to this environment"
    ),
    ("loket", 403): (
        "The user or the client lacks the right (activity) for this request, or the employer "
        "lacks the module; ask the Loket administrator of this employer"
    ),
    ("valinso", 401): (
        "check the api-key: Valinso refused it. Keys are issued by Valinso support; pass the "
        "exact key as api_key=... (no quotes or spaces) and use the matching host"
    ),
    ("valinso", 403): (
        "check the api-key: Valinso refused it for this resource. Keys are issued by Valinso "
        "support; pass the exact key as api_key=... and use the matching host"
    ),
}


def raise_for_response(
    response: httpx.Response, *, api: Api, hint: str | None = None, page: int | None = None
) -> None:
    """Raise the typed error for an error response; return None for 1xx/2xx/3xx.

    Parameters
    ----------
    response : httpx.Response
        A response whose body can be read (it is read here if it was streamed).
    api : {"loket", "valinso"}
        Which dialect the body speaks.
    hint : str, optional
        What the user should do; replaces the built-in hint for 401/403.
    page : int, optional
        Page number, named in a ResponseFormatError.

    Raises
    ------
    ApiError
        The subclass that matches the status and the body (see :func:`error_from_response`).
    """
    if response.status_code < 400:
        return
    raise error_from_response(response, api=api, hint=hint, page=page)


def error_from_response(
    response: httpx.Response, *, api: Api, hint: str | None = None, page: int | None = None
) -> ApiError:
    """The exception (not raised) that describes the error ``response``.

    Loket: ``{"message": ...}`` (401/403); ``messages[]`` whose types pick the class
    (``NotFound`` → NotFoundError, ``ConcurrencyViolation`` → ConflictError, ``BrokenBusinessRule`` →
    ValidationError with ``.errors``, ``Exception`` → ServerError for 5xx else BadRequestError);
    ``text/plain`` bodies (400s) quoted. Valinso: ``{"code", "result": text}`` and the 422
    ``{"result": {"errors": {field: [messages]}}}`` → ValidationError with ``.errors``. Bodies that
    cannot be parsed fall back to the class for the status, quoting the start of the body.
    """
    if api not in ("loket", "valinso"):
        msg = f"api must be 'loket' or 'valinso', got {api!r}"
        raise ValueError(msg)
    status = response.status_code
    url = _url_of(response)
    hint = hint if hint is not None else _HINTS.get((api, status))
    attempts, retry_after_ext = retry_info(response.extensions)
    body, text = _read_body(response)

    extra: dict[str, Any] = {}
    if status == 429:
        retry_after = parse_retry_after(
            response.headers.get("retry-after"), date=response.headers.get("date")
        )
        extra["retry_after"] = retry_after if retry_after is not None else retry_after_ext
    after = f" after {attempts} attempts" if attempts > 1 else ""
    name = "Loket" if api == "loket" else "Valinso"

    if api == "loket" and isinstance(body, Mapping):
        messages = body.get("messages")
        if isinstance(messages, list) and messages:
            error = error_from_loket_messages(
                messages, status=status, url=url, hint=hint, suffix=after
            )
            if error is not None:
                return error
        if isinstance(body.get("message"), str):
            cls = error_for_status(status)
            return cls(
                f"{name} answered {status}{after}: {_short(body['message'])}",
                status=status,
                url=url,
                messages=[{"description": body["message"]}],
                hint=hint,
                **extra,
            )
    if api == "valinso" and isinstance(body, Mapping) and "result" in body:
        result = body["result"]
        if isinstance(result, Mapping) and isinstance(result.get("errors"), Mapping):
            errors = _field_errors(result["errors"])
            return ValidationError(
                f"{name} rejected the request ({status}): {_summarise(errors)}",
                errors=errors,
                status=status,
                url=url,
                messages=[{"property": k, "description": m} for k, v in errors.items() for m in v],
                hint=hint,
            )
        description = result if isinstance(result, str) else _short(_compact(result))
        cls = error_for_status(status)
        return cls(
            f"{name} answered {status}{after}: {_short(description)}",
            status=status,
            url=url,
            messages=[{"description": description}],
            hint=hint,
            **extra,
        )

    # No recognised envelope: quote the text (text/plain 400s carry the reason there).
    cls = error_for_status(status)
    snippet = _short(text.strip()) if text.strip() else response.reason_phrase or "no body"
    return cls(
        f"{name} answered {status}{after}: {snippet}",
        status=status,
        url=url,
        messages=[{"description": text.strip()}] if text.strip() else [],
        hint=hint,
        **extra,
    )


def error_from_transport(
    exc: httpx.HTTPError, *, url: object, what: str = "the request", page: int | None = None
) -> LoketValinsoError:
    """The error (not raised) for ``exc``, an httpx failure below HTTP, after any retries.

    A header value that could not be sent (``LocalProtocolError``: a line break or control
    character in a token, a key or a header) is a :class:`~loketvalinso.errors.ConfigurationError`,
    not the network's fault; a body that does not decode is a
    :class:`~loketvalinso.errors.ResponseFormatError`; the rest (no connection, no answer in
    time, a connection dropped) is a :class:`~loketvalinso.errors.NetworkError`. httpx's text
    is quoted only through :func:`~loketvalinso.errors.redact_text`: it can hold a header value
    or a proxy URL with its password.
    """
    kind = type(exc).__name__
    where = f"url: {redact_url(url)}" + (f", page: {page}" if page else "")
    if isinstance(exc, httpx.LocalProtocolError):
        msg = (
            f"{what} could not be sent: a request header holds a character HTTP does not allow "
            "(a line break or control character in a token, an api key or a header value). "
            f"This is not the network: check the credentials and headers you passed ({where})"
        )
        return ConfigurationError(msg)
    if isinstance(exc, httpx.UnsupportedProtocol | httpx.InvalidURL):
        msg = f"{what}: the URL cannot be requested ({kind}: {redact_text(exc)}) ({where})"
        return ConfigurationError(msg)
    if isinstance(exc, httpx.DecodingError):
        msg = f"{what}: the response body does not decode ({kind}: {_short(redact_text(exc))})"
        return ResponseFormatError(msg, url=url, page=page)
    detail = _short(redact_text(exc)) or "no answer"
    if isinstance(exc, httpx.TimeoutException):
        advice = (
            "the server did not answer in time, after every retry (raise timeout=, or try later)"
        )
    else:
        advice = (
            "the server did not answer after every retry (check the network, or raise timeout=)"
        )
    msg = f"{what}: {kind}: {detail}; {advice}"
    return NetworkError(msg, url=url, page=page)


def error_from_loket_messages(
    messages: Sequence[Mapping[str, Any]],
    *,
    status: int | None = None,
    url: object = None,
    hint: str | None = None,
    suffix: str = "",
) -> ApiError | None:
    """The exception for Loket ``messages[]`` holding an error type, or None if none does.

    The most specific error type present decides the class: ``NotFound`` → NotFoundError (404),
    ``ConcurrencyViolation`` → ConflictError (409), ``BrokenBusinessRule`` → ValidationError (its
    ``errors`` maps each message property — or ``"__all__"`` — to descriptions), ``Exception`` →
    ServerError when the status is 5xx, else BadRequestError.
    """
    items = [m for m in messages if isinstance(m, Mapping)]
    by_type: dict[str, list[Mapping[str, Any]]] = {}
    for message in items:
        by_type.setdefault(str(message.get("type") or ""), []).append(message)
    kind = next((t for t in LOKET_ERROR_TYPES if t in by_type), None)
    if kind is None:
        return None
    chosen = by_type[kind]
    text = "; ".join(_describe(m) for m in chosen)
    where = f"Loket answered {status}{suffix}" if status else "Loket reported an error"
    common: dict[str, Any] = {"url": url, "messages": items, "hint": hint}
    if kind == "NotFound":
        return NotFoundError(f"{where}: {text}", status=status or 404, **common)
    if kind == "ConcurrencyViolation":
        return ConflictError(
            f"{where}: {text} (the object changed since it was read: load it again)",
            status=status or 409,
            **common,
        )
    if kind == "BrokenBusinessRule":
        errors: dict[str, list[str]] = {}
        for message in chosen:
            description = _describe(message)
            properties = [p for p in (message.get("properties") or []) if isinstance(p, str) and p]
            for key in properties or [GENERAL_ERRORS_KEY]:
                errors.setdefault(key, []).append(description)
        return ValidationError(f"{where}: {text}", errors=errors, status=status or 422, **common)
    if status is not None and status >= 500:
        return ServerError(f"{where}: {text}", status=status, **common)
    return BadRequestError(f"{where}: {text}", status=status or 400, **common)


def check_loket_messages(
    payload: Any, *, url: object = None, status: int | None = None, stacklevel: int = 2
) -> None:
    """Handle the ``messages[]`` of a successful Loket response.

    ``Warning`` messages (and unknown types) become :class:`LoketWarning` warnings; error types
    (``BrokenBusinessRule``, ``NotFound``, ``ConcurrencyViolation``, ``Exception``) raise like
    :func:`error_from_loket_messages`. ``payload`` is the parsed body (or its messages list).
    """
    messages = payload.get("messages") if isinstance(payload, Mapping) else payload
    if not isinstance(messages, list) or not messages:
        return
    error = error_from_loket_messages(messages, status=status, url=url)
    if error is not None:
        raise error
    where = f" (url: {redact_url(url)})" if url is not None else ""
    for message in messages:
        if not isinstance(message, Mapping):
            continue
        kind = message.get("type") or "Warning"
        label = "Loket warning" if kind == "Warning" else f"Loket {kind} message"
        entity = f" [id {_text(message['id'])}]" if message.get("id") else ""
        warnings.warn(
            LoketWarning(f"{label}{entity}: {_describe(message)}{where}"),
            stacklevel=stacklevel + 1,
        )


#: The name the client modules use.
process_loket_messages = check_loket_messages


def check_valinso_payload(payload: Any, *, url: object = None) -> None:
    """Raise when a Valinso envelope's ``code`` says error although the HTTP status did not."""
    if not isinstance(payload, Mapping):
        return
    code = payload.get("code")
    if isinstance(code, int) and not isinstance(code, bool) and code >= 400:
        result = payload.get("result")
        if isinstance(result, Mapping) and isinstance(result.get("errors"), Mapping):
            errors = _field_errors(result["errors"])
            msg = f"Valinso rejected the request (code {code}): {_summarise(errors)}"
            raise ValidationError(msg, errors=errors, status=code, url=url)
        text = result if isinstance(result, str) else _compact(result)
        cls = error_for_status(code)
        msg = f"Valinso answered code {code}: {_short(text)}"
        raise cls(msg, status=code, url=url, messages=[{"description": text}])


def parse_json(response: httpx.Response, *, page: int | None = None) -> Any:
    """The parsed JSON body of ``response``.

    Raises
    ------
    ResponseFormatError
        The body is empty, not JSON (e.g. an HTML error page), or cut off; the message names the
        URL, the page, the content type and the body size.
    """
    url = _url_of(response)
    if ext.JSON in response.extensions:
        # Already parsed (and validated) by the RetryTransport.
        return response.extensions[ext.JSON]
    try:
        content = response.read()
    except httpx.TransportError as exc:
        msg = f"the response body was cut off while reading ({type(exc).__name__})"
        raise ResponseFormatError(msg, url=url, page=page) from exc
    ctype = response.headers.get("content-type", "")
    if not content.strip():
        msg = f"expected a JSON body, got an empty one (status {response.status_code})"
        raise ResponseFormatError(msg, url=url, page=page)
    try:
        return orjson.loads(content)
    except orjson.JSONDecodeError as exc:
        declared = response.headers.get("content-length")
        cut = declared is not None and declared.isdigit() and int(declared) > len(content)
        what = "truncated" if cut or ctype.startswith("application/json") else "not JSON"
        msg = (
            f"the body is {what} ({len(content)} bytes, content-type {ctype or 'none'!r}, "
            f"status {response.status_code}): {exc}"
        )
        raise ResponseFormatError(msg, url=url, page=page) from exc


# -- helpers ---------------------------------------------------------------------------------


def _url_of(response: httpx.Response) -> object:
    try:
        return response.request.url
    except RuntimeError:
        return None


def _read_body(response: httpx.Response) -> tuple[Any, str]:
    """``(parsed JSON or None, text)`` of an error body, never raising."""
    try:
        content = response.read()
    except httpx.HTTPError:
        return None, ""
    if not content:
        return None, ""
    try:
        text = content.decode(response.encoding or "utf-8", errors="replace")
    except LookupError:
        text = content.decode("utf-8", errors="replace")
    try:
        return orjson.loads(content), text
    except orjson.JSONDecodeError:
        return None, text


def _text(value: Any) -> str:
    """A value from a body as text: strings as they are, anything else as compact JSON (a
    server's value may be nested deeper than ``str()`` goes)."""
    return value if isinstance(value, str) else _compact(value)


def _describe(message: Mapping[str, Any]) -> str:
    description = _text(message.get("description") or message.get("type") or "no description")
    code = message.get("code")
    if code in (None, ""):
        return _short(description)
    return f"{_short(description)} (code {_short(_text(code), 80)})"


def _field_errors(raw: Mapping[str, Any]) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    for key, value in raw.items():
        if isinstance(value, str):
            errors[str(key)] = [value]
        elif isinstance(value, list):
            errors[str(key)] = [_text(v) for v in value]
        else:
            errors[str(key)] = [_text(value)]
    return errors


def _summarise(errors: Mapping[str, Sequence[str]]) -> str:
    if not errors:
        return "no details given"
    return _short("; ".join(f"{field}: {' '.join(msgs)}" for field, msgs in errors.items()))


def _compact(value: Any) -> str:
    try:
        return dumps_text(value)
    except (TypeError, ValueError):  # not JSON, or nested deeper than can be written
        return f"<{type(value).__name__} nested too deep to show>"


def _short(text: str, limit: int = _MAX_TEXT) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
