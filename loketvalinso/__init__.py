"""loketvalinso: the Loket.nl and Valinso APIs as typed Polars DataFrames, from Jupyter.

>>> import loketvalinso as lv
>>> with lv.mock.serve(seed=42) as m:              # the embedded mock, real HTTP on loopback
...     loket = lv.Loket.from_mock(m)
...     requests = loket.leave_requests(loket.employers()["id"][0])
...     lv.Dataset("data/store").sync(lv.Valinso.from_mock(m), "vends")   # a local dataset

The user-facing modules are ``errors`` (the exception tree), ``cache`` (``DiskCache``),
``mock``, ``charts``, ``widgets``, ``snapshots`` and ``report``; every other module is private
(``_``). ``enable_logging(level)`` shows the toolkit's log lines (retries, 429 waits, token
refreshes, page plans; cache decisions at DEBUG). Submodules load on first use, so ``import loketvalinso`` stays cheap and the optional
extras (widgets, charts) are only imported when asked for.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from loketvalinso import errors
from loketvalinso._logging import enable_logging
from loketvalinso._version import __version__
from loketvalinso.errors import (
    ApiError,
    AuthenticationError,
    BadRequestError,
    CacheMissError,
    CacheWarning,
    ConfigurationError,
    ConflictError,
    LoginRequiredError,
    LoketValinsoError,
    LoketValinsoWarning,
    LoketWarning,
    NetworkError,
    NotFoundError,
    ObsoleteVersionWarning,
    PaginationError,
    PaginationWarning,
    PartialWriteWarning,
    PermissionDeniedError,
    RateLimitedError,
    ResponseFormatError,
    SchemaDriftError,
    SchemaDriftWarning,
    ServerError,
    ValidationError,
    VersionError,
)

_LAZY_ATTRS = {
    "Dataset": "loketvalinso._dataset",
    "Loket": "loketvalinso._loket",
    "RetryPolicy": "loketvalinso._transport.retry",
    "Valinso": "loketvalinso._valinso",
}
_LAZY_MODULES = {"cache", "charts", "mock", "report", "snapshots", "widgets"}

__all__ = [
    "ApiError",
    "AuthenticationError",
    "BadRequestError",
    "CacheMissError",
    "CacheWarning",
    "ConfigurationError",
    "ConflictError",
    "Dataset",
    "LoginRequiredError",
    "Loket",
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
    "RetryPolicy",
    "SchemaDriftError",
    "SchemaDriftWarning",
    "ServerError",
    "ValidationError",
    "Valinso",
    "VersionError",
    "__version__",
    "cache",
    "charts",
    "enable_logging",
    "errors",
    "mock",
    "report",
    "snapshots",
    "widgets",
]


if TYPE_CHECKING:
    from loketvalinso import cache, charts, mock, report, snapshots, widgets
    from loketvalinso._dataset import Dataset
    from loketvalinso._loket import Loket
    from loketvalinso._transport.retry import RetryPolicy
    from loketvalinso._valinso import Valinso


def __getattr__(name: str) -> Any:
    if name in _LAZY_ATTRS:
        value = getattr(importlib.import_module(_LAZY_ATTRS[name]), name)
    elif name in _LAZY_MODULES:
        value = importlib.import_module(f"loketvalinso.{name}")
    else:
        msg = f"module 'loketvalinso' has no attribute {name!r}"
        raise AttributeError(msg)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
