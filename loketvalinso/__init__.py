"""loketvalinso: the Loket.nl and Valinso APIs as typed Polars DataFrames, from Jupyter.

>>> import loketvalinso as lv
>>> with lv.mock.serve(seed=42) as m:              # the embedded mock, real HTTP on loopback
...     loket = lv.Loket.from_mock(m)
...     requests = loket.leave_requests(loket.employers()["id"][0])

Submodules load on first use, so ``import loketvalinso`` stays cheap and the optional extras
(widgets, charts) are only imported when asked for.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

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
    PermissionDeniedError,
    RateLimitedError,
    ResponseFormatError,
    ServerError,
    ValidationError,
    VersionError,
)

__version__ = "0.1.0"

_LAZY_ATTRS = {
    "Loket": "loketvalinso.loket",
    "Valinso": "loketvalinso.valinso",
}
_LAZY_MODULES = {"mock", "charts", "widgets", "snapshots", "report", "cache", "frames", "paging"}

__all__ = [
    "ApiError",
    "AuthenticationError",
    "BadRequestError",
    "CacheMissError",
    "CacheWarning",
    "ConfigurationError",
    "ConflictError",
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
    "PermissionDeniedError",
    "RateLimitedError",
    "ResponseFormatError",
    "ServerError",
    "ValidationError",
    "Valinso",
    "VersionError",
    "__version__",
    "charts",
    "mock",
    "snapshots",
    "widgets",
]

if TYPE_CHECKING:
    from loketvalinso import charts, mock, snapshots, widgets
    from loketvalinso.loket import Loket
    from loketvalinso.valinso import Valinso


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
