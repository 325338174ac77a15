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
    │   ├── ConflictError          409     (also a Loket ``ConcurrencyViolation`` message)
    │   ├── ValidationError        422     Valinso field errors in .errors; Loket ``BrokenBusinessRule``
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
    └── CacheWarning                       stale entry served offline, corrupt entry dropped

No message built here ever contains a secret: URLs pass through :func:`redact_url`, which drops
query values such as ``code``, ``client_secret``, ``access_token`` and ``api_key``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

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
    }
)


def redact_url(url: object) -> str:
    """Return ``url`` as text with every secret query value replaced by ``***``."""
    text = str(url)
    try:
        parts = urlsplit(text)
    except ValueError:
        return "<unparsable url>"
    if not parts.query:
        return text
    pairs = [
        (k, "***" if k.lower() in SENSITIVE_PARAMS else v)
        for k, v in parse_qsl(parts.query, keep_blank_values=True)
    ]
    return urlunsplit(parts._replace(query=urlencode(pairs, safe="*,:'/$ ")))


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
    """

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
    """409: the object changed since it was read (Loket ConcurrencyViolation)."""


class ValidationError(ApiError):
    """422 / BrokenBusinessRule: the request was understood but its data is invalid.

    ``errors`` maps each field to its list of messages (Valinso 422 bodies; Loket messages
    with ``properties``).
    """

    def __init__(
        self, message: str, *, errors: Mapping[str, Iterable[str]] | None = None, **kwargs: Any
    ) -> None:
        self.errors: dict[str, list[str]] = {k: list(v) for k, v in (errors or {}).items()}
        super().__init__(message, **kwargs)


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
    """A stale entry was served offline, or a corrupt entry was dropped."""


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
