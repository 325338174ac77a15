"""What the Loket named loaders load, and how their frames are laid out.

The loaders' endpoints (:data:`RESOURCES`, path templates of the real API), the paging
parameters the walk owns, and the frame shaping the loaders share: ids first
(:func:`arrange`), absence dates taken out of their nested progress.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import polars as pl

from loketvalinso.errors import ConfigurationError

__all__ = ["RESOURCES", "absence_dates", "arrange", "check_paging_params", "page_size_param"]

#: The named loaders' endpoints (path templates of the real API).
RESOURCES: dict[str, str] = {
    "employers": "/providers/employers",
    "employer": "/providers/employers/{employerId}",
    "payroll_administrations": "/providers/employers/{employerId}/payrolladministrations",
    "departments": "/providers/employers/{employerId}/departments",
    "functions": "/providers/employers/{employerId}/functions",
    "employees": "/providers/employers/{employerId}/employees",
    "employments": "/providers/employers/{employerId}/employees/employments",
    "leave_types": "/providers/employers/{employerId}/leavetypes",
    "leave_requests": "/providers/employers/{employerId}/employees/employments/leaverequests",
    "employment_leave_requests": (
        "/providers/employers/employees/employments/{employmentId}/leaverequests"
    ),
    "leave": "/providers/employers/employees/employments/{employmentId}/leave",
    "leave_balances": "/providers/employers/{employerId}/leavebalances",
    "employment_leave_balances": (
        "/providers/employers/employees/employments/{employmentId}/leavebalances"
    ),
    "absences": "/providers/employers/employees/{employeeId}/absences",
    "national_holidays": "/providers/employers/{employerId}/nationalholidays",
    "leave_calendar": (
        "/providers/employers/{employerId}/employees/employments/calendar/leaverequests"
    ),
    "organizational_entities": "/providers/employers/{employerId}/actualorganizationalentities",
}

#: Query parameters the walk owns: it sends them on every page.
PAGING_PARAMS = ("pageNumber", "pageSize")


def arrange(frame: pl.DataFrame, lead: Sequence[str]) -> pl.DataFrame:
    """Columns in analysis order: the ``lead`` ids, then ``id``/``key``, then the rest.

    The rest keep the catalogue's order, so the order is the same for every load (and for an
    empty result) of a resource version.
    """
    first = [c for c in dict.fromkeys(lead) if c in frame.columns]
    ident = [c for c in ("id", "key") if c in frame.columns and c not in first]
    taken = {*first, *ident}
    order = first + ident + [c for c in frame.columns if c not in taken]
    if order == frame.columns:
        return frame  # already in order: no query
    return frame[order]  # a projection, without the query engine


def check_paging_params(params: Mapping[str, Any] | None, *, allow_size: bool = True) -> None:
    """Refuse paging parameters the walk owns (it walks every page itself)."""
    owned = [
        k for k in (params or {}) if k in PAGING_PARAMS and (k != "pageSize" or not allow_size)
    ]
    if owned:
        msg = (
            f"{', '.join(owned)} is managed by the loader, which loads every page; leave it out "
            "(pass params={'pageSize': n} to choose the page size, or filter=... to load fewer "
            "rows)"
        )
        raise ConfigurationError(msg)


def page_size_param(value: Any) -> int:
    try:
        size = int(value)
    except (TypeError, ValueError):
        size = 0
    if isinstance(value, bool) or size < 1:
        msg = f"pageSize must be a positive integer, not {value!r}"
        raise ConfigurationError(msg)
    return size


def absence_dates(frame: pl.DataFrame) -> pl.DataFrame:
    """Add ``start_date``/``end_date`` from the nested progress fields (the item has none)."""
    renames = {
        "progress_start_date": "start_date",
        "progress_end_of_absence_date": "end_date",
    }
    exprs = [
        pl.col(src).alias(dst)
        for src, dst in renames.items()
        if src in frame.columns and dst not in frame.columns
    ]
    frame = frame.with_columns(exprs) if exprs else frame
    return arrange(frame, ["employer_id", "employee_id", "id", "start_date", "end_date"])
