"""Every exception and warning loketvalinso raises, in one tree.

::

    LoketValinsoError                      base of everything raised here
    ├── ConfigurationError (ValueError)    bad input caught before any request
    │   └── VersionError                   a resource version that does not exist / malformed date
    ├── ApiError                           the server said no: .status, .url, .messages
    │   ├── BadRequestError        400     (JSON or text/plain body)
    │   ├── AuthenticationError    401     bad/expired token, wrong or missing api-key
    │   │   └── LoginRequiredError         no way to get a token without the user (log in again)
    │   ├── PermissionDeniedError  403
    │   ├── NotFoundError          404     (also a Loket ``NotFound`` message)
    │   ├── ConflictError          409     (also ``ConcurrencyViolation``): .current, .diff
    │   ├── ValidationError        422     .errors (item, field, message); Loket ``BrokenBusinessRule``
    │   ├── RateLimitedError       429     retries exhausted; .retry_after
    │   └── ServerError            5xx     retries exhausted (also a Loket ``Exception`` message)
    ├── NetworkError                       connection/timeout errors after the retries ran out
    ├── PaginationError                    stop rules disagree (strict mode) or the page cap was hit
    ├── ResponseFormatError                malformed/truncated JSON, unexpected envelope
    │   └── SchemaDriftError               data off the schema (strict mode; see the warning)
    └── CacheMissError                     ``offline=True`` and nothing cached for the request

    LoketValinsoWarning (UserWarning)
    ├── LoketWarning                       a Loket ``Warning`` message
    │   └── ObsoleteVersionWarning         the served resource version has an ``obsoleteDate``
    ├── PaginationWarning                  stop rules disagree (non-strict mode)
    ├── SchemaDriftWarning                 values coerced or nulled, fields undeclared or missing
    ├── CacheWarning                       stale entry served offline, corrupt entry dropped,
    │                                      cache folder unusable (loading goes on without it)
    └── PartialWriteWarning                some actions of one write failed (see the outcomes)

Every :class:`ApiError` names the first error message of the answer: ``code``, ``description``
and ``entity_id`` (the Loket message's ``id``: which entity of a multi-write it is about).

No message built here ever contains a secret: URLs pass through :func:`redact_url`, which drops
a user name and password (``user:pass@host``) and query values such as ``code``,
``client_secret``, ``access_token``, ``api_key``, ``key`` and ``sig``; text from a lower layer
(an ``httpx`` exception) passes through :func:`redact_text`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

if TYPE_CHECKING:
    import polars as pl

__all__ = [
    "ApiError",
    "AuthenticationError",
    "BadRequestError",
    "CacheMissError",
    "CacheWarning",
    "ConfigurationError",
    "ConflictError",
    "LoginRequiredError",
    "LoketValinsoError",
    "LoketValinsoWarning",
    "LoketWarning",
    "NetworkError",
    "NotFoundError",
    "ObsoleteVersionWarning",
    "PaginationError",
    "PaginationWarning",
    "PartialWriteWarning",
    "PermissionDeniedError",
    "RateLimitedError",
    "ResponseFormatError",
    "SchemaDriftError",
    "SchemaDriftWarning",
    "ServerError",
    "ValidationError",
    "VersionError",
]

#: Query parameters whose values are secrets (compared case-insensitively).
SENSITIVE_PARAMS = frozenset(
    {
        "code",
        "client_secret",
        "access_token",
        "refresh_token",
        "password",
        "api_key",
        "api-key",
        "apikey",
        "token",
        "code_verifier",
        "id_token",
        "key",
        "x-api-key",
        "secret",
        "sig",
        "signature",
    }
)

# A URL inside free text: a scheme, ``://`` and everything up to a space or a quote.
_URL_IN_TEXT = re.compile(r"\b[A-Za-z][A-Za-z0-9+.-]*://[^\s'\"<>()]*[^\s'\"<>().,;:!?]")
# A credential after its scheme word (``Bearer abc``), or a quoted bytes value: how httpx and h11
# quote a header value they refuse (``Illegal header value b'Bearer abc\\n'``).
_CREDENTIAL_IN_TEXT = re.compile(r"\b(Bearer|Basic|Digest)\s+[^\s'\",]+", re.IGNORECASE)
_BYTES_IN_TEXT = re.compile(r"""\bb(['"]).*?(?<!\\)\1""")


def _redact_pairs(text: str) -> str:
    pairs = parse_qsl(text, keep_blank_values=True)
    if not any(k.lower() in SENSITIVE_PARAMS for k, _ in pairs):
        return text
    redacted = [(k, "***" if k.lower() in SENSITIVE_PARAMS else v) for k, v in pairs]
    return urlencode(redacted, safe="*,:'/$ ")


def redact_url(url: object) -> str:
    """Return ``url`` as text without its user name and password (``***@host``) and with every
    secret query value (also in the fragment, where implicit OAuth flows put tokens) replaced
    by ``***``."""
    text = str(url)
    try:
        parts = urlsplit(text)
    except ValueError:
        return "<unparsable url>"
    netloc = parts.netloc
    if "@" in netloc:
        netloc = "***@" + netloc.rpartition("@")[2]
    query = _redact_pairs(parts.query) if parts.query else parts.query
    fragment = _redact_pairs(parts.fragment) if "=" in parts.fragment else parts.fragment
    if (netloc, query, fragment) == (parts.netloc, parts.query, parts.fragment):
        return text
    return urlunsplit(parts._replace(netloc=netloc, query=query, fragment=fragment))


def redact_text(text: object) -> str:
    """``text`` (e.g. a lower layer's exception message) with every URL in it redacted
    (:func:`redact_url`), credentials after ``Bearer``/``Basic`` and quoted bytes values (how
    httpx quotes a header value it refuses) replaced by ``***``."""
    out = _URL_IN_TEXT.sub(lambda m: redact_url(m.group(0)), str(text))
    out = _CREDENTIAL_IN_TEXT.sub(lambda m: f"{m.group(1)} ***", out)
    return _BYTES_IN_TEXT.sub(lambda m: f"b{m.group(1)}***{m.group(1)}", out)


class LoketValinsoError(Exception):
    """Base class of every error raised by loketvalinso."""


class ConfigurationError(LoketValinsoError, ValueError):
    """Bad input caught before any request was sent (what was wrong and what to do)."""


class VersionError(ConfigurationError):
    """A resource version that is malformed or does not exist for the resource."""


class ApiError(LoketValinsoError):
    """The server answered with an error.

    Attributes
    ----------
    status : int
        HTTP status code (or the status implied by a Loket message type).
    url : str
        The request URL, with secret query values redacted.
    messages : list[dict]
        Loket ``messages[]`` entries or ``[{"description": text}]`` for other bodies.
    code : int or str or None
        The ``code`` of the first error message (Loket message codes; None when absent).
    description : str or None
        The ``description`` of that message.
    entity_id : str or None
        The ``id`` of that message: the entity it is about (multi-writes name each one).
    outcomes : polars.DataFrame or None
        For a write of many entities that failed for every one: the outcome of each.
    """

    outcomes: pl.DataFrame | None = None

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        url: object = None,
        messages: Sequence[Mapping[str, Any]] | None = None,
        hint: str | None = None,
    ) -> None:
        self.status = status
        self.url = redact_url(url) if url is not None else None
        self.messages = [dict(m) for m in (messages or [])]
        self.hint = hint
        first = _first_error(self.messages)
        self.code: Any = first.get("code")
        self.description: str | None = first.get("description")
        self.entity_id: str | None = first.get("id")
        text = message
        if self.url:
            text = f"{text} (url: {self.url})"
        if hint:
            text = f"{text}. {hint}"
        super().__init__(text)


class BadRequestError(ApiError):
    """400: the server could not process the request."""


class AuthenticationError(ApiError):
    """401: the token or api-key was refused. Do not retry with the same credentials."""


class LoginRequiredError(AuthenticationError):
    """The session cannot continue without the user logging in again."""


class PermissionDeniedError(ApiError):
    """403: the user may not see this resource (or a wrong Valinso api-key)."""


class NotFoundError(ApiError):
    """404: the resource does not exist."""


class ConflictError(ApiError):
    """409: the object changed since it was read (Loket ConcurrencyViolation).

    A conflicting ``PUT`` of a client fills in what the user needs to resolve it:

    Attributes
    ----------
    current : polars.DataFrame or None
        The server's state now (read once after the 409), one row in the columns of a read.
    diff : polars.DataFrame or None
        ``column, sent, current``: every column whose value sent differs from the server's
        (values as JSON text).
    sent : dict or None
        The JSON body that was refused.
    etag : str or None
        The server's ETag now: a ``PUT`` with it (the client remembers it) overwrites.
    """

    current: pl.DataFrame | None = None
    diff: pl.DataFrame | None = None
    sent: Any = None
    etag: str | None = None


_ITEM_KEY = re.compile(r"^(?:items)?\[(\d+)\](?:\.(.+))?$")


def _errors_frame(errors: Mapping[str, Iterable[str]], *, item_offset: int = 0) -> pl.DataFrame:
    """Field errors ``{key: [messages]}`` as rows ``item, field, message``.

    Keys such as ``items[3].price`` (Valinso batches) give ``item`` 3 (plus ``item_offset``) and
    ``field`` ``price``; other keys are fields with a null ``item``.
    """
    import polars as pl  # here, so that importing the error tree stays light

    rows: dict[str, list[Any]] = {"item": [], "field": [], "message": []}
    for key, messages in errors.items():
        match = _ITEM_KEY.match(str(key))
        item = int(match.group(1)) + item_offset if match else None
        field = match.group(2) if match else str(key)
        for message in messages:
            rows["item"].append(item)
            rows["field"].append(field)
            rows["message"].append(str(message))
    return pl.DataFrame(
        rows, schema={"item": pl.Int64(), "field": pl.String(), "message": pl.String()}
    )


class ValidationError(ApiError):
    """422 / BrokenBusinessRule: the request was understood but its data is invalid.

    Attributes
    ----------
    errors : polars.DataFrame
        One row per message: ``item`` (the index of the batch item it is about, where the API
        says so; null otherwise), ``field`` and ``message``.
    field_errors : dict[str, list[str]]
        The same as the API keyed them: field (``items[3].price`` for a batch item, a Loket
        message property, or ``"__all__"``) → messages.
    created : polars.DataFrame or None
        For a write sent in batches: what earlier batches created before this one was refused.
    """

    created: pl.DataFrame | None = None

    def __init__(
        self, message: str, *, errors: Mapping[str, Iterable[str]] | None = None, **kwargs: Any
    ) -> None:
        self.field_errors: dict[str, list[str]] = {k: list(v) for k, v in (errors or {}).items()}
        self.errors: pl.DataFrame = _errors_frame(self.field_errors)
        super().__init__(message, **kwargs)

    def offset_items(self, offset: int) -> ValidationError:
        """Count ``errors.item`` from ``offset`` (a batch's first item in the whole input)."""
        self.errors = _errors_frame(self.field_errors, item_offset=offset)
        return self


class RateLimitedError(ApiError):
    """429 after the retry budget was spent."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: Any) -> None:
        self.retry_after = retry_after
        super().__init__(message, **kwargs)


class ServerError(ApiError):
    """5xx after the retry budget was spent."""


class _LocatedError(LoketValinsoError):
    """An error that names where it happened: the URL (secrets redacted) and the page."""

    def __init__(self, message: str, *, url: object = None, page: int | None = None) -> None:
        self.url = redact_url(url) if url is not None else None
        self.page = page
        where = ", ".join(
            p
            for p in (f"url: {self.url}" if self.url else "", f"page: {page}" if page else "")
            if p
        )
        super().__init__(f"{message} ({where})" if where else message)


class NetworkError(_LocatedError):
    """The server could not be reached or did not answer in time, after every retry.

    The original ``httpx`` exception is the ``__cause__``.
    """


class PaginationError(_LocatedError):
    """The paging stop rules disagree (strict mode), or a page cap was reached."""


class ResponseFormatError(_LocatedError):
    """A body that is not what the protocol promises: bad JSON, truncated, wrong envelope."""


class SchemaDriftError(ResponseFormatError):
    """Data off the declared (Loket) or assumed (Valinso) schema, with ``strict=True``.

    Without ``strict`` the load returns its frame and issues a :class:`SchemaDriftWarning`
    instead; ``client.last_load.drift`` lists what drifted either way.
    """


class CacheMissError(LoketValinsoError):
    """``offline=True`` and the cache holds nothing for this request."""


class LoketValinsoWarning(UserWarning):
    """Base class of every warning issued by loketvalinso."""


class LoketWarning(LoketValinsoWarning):
    """A ``Warning`` message in a Loket response."""


class ObsoleteVersionWarning(LoketWarning):
    """The served resource version has an ``obsoleteDate``: move to a newer version."""


class PaginationWarning(LoketValinsoWarning):
    """The paging stop rules disagreed; the result may be incomplete (see the message)."""


class SchemaDriftWarning(LoketValinsoWarning):
    """A load received data off the schema: values coerced or set to null, fields the schema
    does not declare, or declared/assumed fields that never arrived. The frame keeps every row;
    ``client.last_load.drift`` has the counts and examples."""


class CacheWarning(LoketValinsoWarning):
    """A stale entry was served offline, a corrupt entry was dropped, or the cache folder cannot
    be used (the client goes on without it)."""


class PartialWriteWarning(LoketValinsoWarning):
    """Some actions of one write failed while others succeeded (e.g. a status change of many
    leave requests): the returned outcomes say which."""


#: Loket message types that report a failure (the rest are warnings).
_ERROR_TYPES = ("NotFound", "ConcurrencyViolation", "BrokenBusinessRule", "Exception")


def _first_error(messages: Sequence[Mapping[str, Any]]) -> Mapping[str, Any]:
    """The first message of an error type, else the first message, else ``{}``."""
    for message in messages:
        if message.get("type") in _ERROR_TYPES:
            return message
    return messages[0] if messages else {}


_BY_STATUS: dict[int, type[ApiError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    422: ValidationError,
    429: RateLimitedError,
}


def error_for_status(status: int) -> type[ApiError]:
    """The :class:`ApiError` subclass for an HTTP status code."""
    if status in _BY_STATUS:
        return _BY_STATUS[status]
    if status >= 500:
        return ServerError
    return ApiError
