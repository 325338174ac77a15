"""The mock Loket.nl API V2: the endpoints that matter for data exploration, as the real API serves them.

What it reproduces (see ``specs/NOTES.md`` of the project and the API's own description):

- **Auth**: every ``/v2`` request needs ``Authorization: Bearer <token>`` from the mock's
  :class:`~loketvalinso.mock.oauth.OAuthServer`; otherwise 401
  ``{"message": "Authorization has been denied for this request."}``. Entities of an employer the
  user may not see answer 403 ``{"message": "Insufficient rights …"}``, also through child ids.
- **Resource versions**: ``Accept: application/json;version=YYYY-MM-DD`` is mandatory; the newest
  version on or before that date is served (:data:`ENDPOINTS` lists them); the response has
  ``Content-Type: application/json;version=<served>`` and ``version{resourceVersion, obsoleteDate}``.
- **Envelopes**: lists ``{_embedded, currentPage, pageSize, totalPages, totalSize, version,
  messages}``; details ``{content, version, messages}`` with an ``ETag`` (``If-None-Match`` → 304).
- **Paging** ``pageNumber``/``pageSize`` (default 250, maximum :data:`MAX_PAGE_SIZE`), ``filter`` and
  ``orderBy`` (see :mod:`loketvalinso.mock.loket_query`); the default order is the world's (stable).
- **Caching**: ``Expires`` on every response; in the past for ordinary resources, a day ahead for
  images and reference lists (leave types, national holidays); ``Date`` too.

Performance: each entity is rendered to JSON once per resource version (lazily, on first use) and
kept as ``bytes``; a page is a join of those bytes. Selections (scope + filter + order) are computed
with Polars on a per-resource *query frame* and cached, so a page walk costs one selection.
"""

from __future__ import annotations

import hashlib
import re
import struct
import threading
import time
import uuid
import zlib
from collections import OrderedDict
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass
from datetime import date
from functools import partial
from typing import Any, cast

import orjson
import polars as pl

from loketvalinso.mock._http import MockRequest, MockResponse, Router, http_date, json_response
from loketvalinso.mock.loket_query import QueryError, apply_query
from loketvalinso.mock.oauth import AUTH_DENIED, OAuthServer
from loketvalinso.mock.world import World, leave_balances_at

__all__ = [
    "DEFAULT_PAGE_SIZE",
    "ENDPOINTS",
    "FORBIDDEN",
    "MAX_PAGE_SIZE",
    "OBSOLETE_DATES",
    "LoketApi",
    "negotiate_version",
]

DEFAULT_PAGE_SIZE = 250
MAX_PAGE_SIZE = 1000
#: Seconds of freshness announced on images and reference lists (the only cacheable resources).
CACHEABLE_LIFETIME = 86_400
FORBIDDEN = {
    "message": "Insufficient rights for this request, reason "
    '"User doesn\'t have rechten to perform activity for the given Id."'
}
_JSON = "application/json"

_EMPLOYEES_VERSIONS = ("2018-12-31", "2021-03-29")
_V2018 = ("2018-01-01",)

#: Every JSON GET endpoint served (path template without ``/v2``) → its documented resource
#: versions, oldest first. Hard-coded from the spec (a test checks them against it).
ENDPOINTS: dict[str, tuple[str, ...]] = {
    "/providers/employers": _V2018,
    "/providers/employers/{employerId}": _V2018,
    "/providers/employers/{employerId}/payrolladministrations": _V2018,
    "/providers/employers/{employerId}/departments": _V2018,
    "/providers/employers/{employerId}/functions": _V2018,
    "/providers/employers/{employerId}/employees": _EMPLOYEES_VERSIONS,
    "/providers/employers/employees/{employeeId}": _EMPLOYEES_VERSIONS,
    "/providers/employers/{employerId}/employees/employments": ("2019-12-16",),
    "/providers/employers/employees/employments/{employmentId}": ("2019-12-16",),
    "/providers/employers/{employerId}/employees/employments/leaverequests": _V2018,
    "/providers/employers/employees/employments/{employmentId}/leaverequests": _V2018,
    "/providers/employers/employees/employments/leaverequests/{leaveRequestId}": _V2018,
    "/providers/employers/employees/employments/{employmentId}/leave": _V2018,
    "/providers/employers/{employerId}/leavebalances": _V2018,
    "/providers/employers/employees/employments/{employmentId}/leavebalances": _V2018,
    "/providers/employers/{employerId}/leavetypes": _V2018,
    "/providers/employers/employees/{employeeId}/absences": ("2020-03-16",),
    "/providers/employers/{employerId}/nationalholidays": _V2018,
    "/providers/employers/{employerId}/employees/employments/calendar/leaverequests": _V2018,
    "/providers/employers/{employerId}/actualorganizationalentities": _V2018,
}
#: Image endpoints (no JSON version; ``Accept`` is not checked).
IMAGE_ENDPOINTS = (
    "/providers/employers/employees/{employeeId}/photo",
    "/providers/employers/employees/{employeeId}/photo/{version}",
    "/providers/employers/{employerId}/logo",
    "/providers/employers/{employerId}/logo/{version}",
)
#: (resource version) → obsoleteDate: six months after the newer version was introduced.
OBSOLETE_DATES: dict[str, str] = {"2018-12-31": "2021-09-29"}

_ACCEPT_VERSION = re.compile(
    r"application/json\s*;\s*version\s*=\s*\"?([^\s\";,]*)\"?", re.IGNORECASE
)
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_ID_BRACES = "{}()"

_NL = {"key": 530, "value": "Nederland", "isoCode": "NL"}
_HOURS = {"key": 1, "value": "Uren"}


class _ApiError(Exception):
    def __init__(self, response: MockResponse) -> None:
        super().__init__(response.status)
        self.response = response


def _message(description: str, *, code: int, kind: str) -> dict[str, Any]:
    return {"code": code, "description": description, "id": None, "properties": [], "type": kind}


def _bad_request(description: str, *, code: int, version: str, listing: bool = True) -> _ApiError:
    # The spec's 400 body: {version, messages[]} plus ``_embedded: []`` on list endpoints.
    body: dict[str, Any] = {
        "version": {"obsoleteDate": OBSOLETE_DATES.get(version), "resourceVersion": version},
        "messages": [_message(description, code=code, kind="Exception")],
    }
    if listing:
        body["_embedded"] = []
    return _ApiError(json_response(400, body))


def _not_found(description: str) -> _ApiError:
    body = {"messages": [_message(description, code=404, kind="NotFound")], "content": None}
    return _ApiError(json_response(404, body))


def negotiate_version(accept: str | None, versions: tuple[str, ...]) -> str:
    """The version served for an ``Accept`` header: the newest of ``versions`` on or before its date.

    Raises
    ------
    ValueError
        The header is missing, has no ``application/json;version=YYYY-MM-DD``, the date is not a
        valid date, or it lies before the first version. The message says what to send.
    """
    example = f"Accept: application/json;version={versions[-1]}"
    if not accept or not accept.strip():
        msg = f"The Accept header is mandatory on this resource; send e.g. '{example}'."
        raise ValueError(msg)
    m = _ACCEPT_VERSION.search(accept)
    if m is None:
        msg = (
            f"The Accept header {accept!r} names no resource version; "
            f"send e.g. '{example}' (versions: {', '.join(versions)})."
        )
        raise ValueError(msg)
    asked = m.group(1)
    try:
        if not _DATE.match(asked):
            raise ValueError(asked)
        date.fromisoformat(asked)
    except ValueError:
        msg = f"The version {asked!r} in the Accept header is not a date (YYYY-MM-DD); send e.g. '{example}'."
        raise ValueError(msg) from None
    chosen = [v for v in versions if v <= asked]
    if not chosen:
        msg = (
            f"No version of this resource exists on or before {asked}; the first is {versions[0]} "
            f"(versions: {', '.join(versions)})."
        )
        raise ValueError(msg)
    return chosen[-1]


def _normalize_id(value: str) -> str:
    return value.strip(_ID_BRACES).lower()


def _meta(key: Any, value: Any) -> dict[str, Any] | None:
    return None if key is None else {"key": key, "value": value}


def _nz(value: str | None) -> str | None:
    # Nullable strings with minLength 1 in the spec: an empty string must become null.
    return value or None


def _r2(value: float | None) -> float | None:
    return None if value is None else round(float(value), 2)


def _png(seed: str) -> bytes:
    """A tiny deterministic 8×8 PNG, coloured from ``seed``."""
    r, g, b = hashlib.sha256(seed.encode()).digest()[:3]
    raw = b"".join(b"\x00" + bytes((r, g, b)) * 8 for _ in range(8))

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))

    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", 8, 8, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(raw, 9))
        + chunk(b"IEND", b"")
    )


@dataclass(frozen=True, slots=True)
class _Route:
    template: str
    versions: tuple[str, ...]  # empty: not a versioned JSON resource
    fn: Callable[..., MockResponse]

    def __call__(self, *args: Any, **kwargs: Any) -> MockResponse:  # Router's Handler protocol
        return self.fn(*args, **kwargs)


@dataclass(frozen=True, slots=True)
class _Ctx:
    req: MockRequest
    now: float
    version: str


class _Lru:
    """A small thread-safe LRU map (selections and parameter-dependent renders)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._data: OrderedDict[Any, Any] = OrderedDict()
        self._lock = threading.Lock()

    def get_or_make(self, key: Any, make: Callable[[], Any]) -> Any:
        with self._lock:
            if key in self._data:
                self._data.move_to_end(key)
                return self._data[key]
        value = make()  # outside the lock: concurrent misses may both compute, harmlessly
        with self._lock:
            self._data[key] = value
            while len(self._data) > self.size:
                self._data.popitem(last=False)
        return value


#: The employee summary (``employee``, ``submittedBy``) in query frames: API field → world column.
_EMPLOYEE_META_COLS = {
    "id": "id",
    "employeenumber": "employee_number",
    "formattedname": "formatted_name",
    "firstname": "first_name",
    "initials": "initials",
    "prefix": "prefix",
    "lastname": "last_name",
    "dateofbirth": "date_of_birth",
}


def _employee_meta_columns(prefix: str) -> dict[str, str]:
    """Query columns of an employee summary joined in under ``prefix`` (``LoketApi._with_employee``)."""
    return {f"{prefix}.{api}": f"{prefix}.{api}" for api in _EMPLOYEE_META_COLS}


@dataclass(frozen=True, slots=True)
class _Resource:
    """A world frame served row for row: each row is one list item, and maybe one detail.

    - ``name``: the key of its cached renders, query frame and selections;
    - ``frame``: the :class:`~loketvalinso.mock.world.World` attribute served;
    - ``columns``: its query frame (what ``filter``/``orderBy`` see): lower-cased API dot path,
      or a private ``_…`` scope column → world column;
    - ``render``: world row → API item; also given the served version when ``versioned``;
    - ``employee_prefix``: the employee summary columns are joined in under this prefix first;
    - ``reference``: a reference list, whose pages may be kept a day (``Expires``);
    - ``id_param``: the path parameter that names one row (detail endpoints, and whose employer
      decides 403 on every path that carries it); ``label`` names such a row in 404 messages.
    """

    name: str
    frame: str
    columns: Mapping[str, str]
    render: Callable[..., dict[str, Any]]
    versioned: bool = False
    employee_prefix: str | None = None
    reference: bool = False
    id_param: str | None = None
    label: str = ""


#: List endpoints: path template → (resource, scope column). A page holds the resource's rows whose
#: scope column equals the path's id; on a path without an id, the rows where it is true.
_LISTS: dict[str, tuple[str, str]] = {
    "/providers/employers": ("employers", "_accessible"),
    "/providers/employers/{employerId}/payrolladministrations": (
        "payroll_administrations",
        "_employer_id",
    ),
    "/providers/employers/{employerId}/departments": ("departments", "_employer_id"),
    "/providers/employers/{employerId}/functions": ("functions", "_employer_id"),
    "/providers/employers/{employerId}/employees": ("employees", "_employer_id"),
    "/providers/employers/{employerId}/employees/employments": ("employments", "_employer_id"),
    "/providers/employers/{employerId}/employees/employments/leaverequests": (
        "leave_requests",
        "_employer_id",
    ),
    "/providers/employers/employees/employments/{employmentId}/leaverequests": (
        "leave_requests",
        "_employment_id",
    ),
    "/providers/employers/employees/employments/{employmentId}/leave": ("leave", "_employment_id"),
    "/providers/employers/employees/employments/{employmentId}/leavebalances": (
        "employment_leave_balances",
        "_employment_id",
    ),
    "/providers/employers/{employerId}/leavetypes": ("leave_types", "_employer_id"),
    "/providers/employers/employees/{employeeId}/absences": ("absences", "_employee_id"),
    "/providers/employers/{employerId}/nationalholidays": ("national_holidays", "_employer_id"),
}
#: Detail endpoints: path template → resource; the row is the one the path's id names.
_DETAILS: dict[str, str] = {
    "/providers/employers/{employerId}": "employers",
    "/providers/employers/employees/{employeeId}": "employees",
    "/providers/employers/employees/employments/{employmentId}": "employments",
    "/providers/employers/employees/employments/leaverequests/{leaveRequestId}": "leave_requests",
}


class LoketApi:
    """The mock Loket API over a :class:`~loketvalinso.mock.world.World`.

    Parameters
    ----------
    world
        The ground truth served.
    oauth
        Checks the bearer token of every request.
    faults
        The fault injector (``drift_offset``, ``listing_key``, ``expires_seconds``); ``None``: none.
    clock
        Wall clock for ``Date``/``Expires``.
    """

    def __init__(
        self,
        world: World,
        *,
        oauth: OAuthServer,
        faults: Any = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.world = world
        self._oauth = oauth
        self._faults = faults
        self._clock = clock
        self._lock = threading.RLock()
        self._encoded: dict[tuple[str, str], list[bytes]] = {}
        self._qframes: dict[str, pl.DataFrame] = {}
        self._parts: dict[tuple[Hashable, str], dict[Any, pl.DataFrame]] = {}
        self._selections = _Lru(1024)
        self._param_renders = _Lru(32)
        self._images = _Lru(256)
        self._resources = self._declare_resources()
        self._build_indexes()
        self._router = Router()
        self._register()

    def __repr__(self) -> str:
        return f"LoketApi(seed={self.world.seed!r}, endpoints={len(ENDPOINTS)})"

    # -- set-up ------------------------------------------------------------------------------

    def _declare_resources(self) -> dict[str, _Resource]:
        """Every resource :data:`_LISTS` and :data:`_DETAILS` serve (see :class:`_Resource`)."""
        employer_scope = {"_employer_id": "employer_id"}
        address = {  # the fields _render_address fills from the world
            "address.street": "address_street",
            "address.housenumber": "address_house_number",
            "address.postalcode": "address_postal_code",
            "address.city": "address_city",
        }
        leave_entry = {  # the fields leave and leave requests have in common
            "id": "id",
            "startdate": "start_date",
            "enddate": "end_date",
            "numberofunits": "number_of_units",
            "unittype.key": "unit_type_key",
            "unittype.value": "unit_type",
            "isaccrual": "is_accrual",
            "leavetype.key": "leave_type_key",
            "leavetype.value": "leave_type",
        }
        resources = (
            _Resource(
                "employers",
                "employers",
                {
                    "id": "id",
                    "employernumber": "employer_number",
                    "companyname": "company_name",
                    "chamberofcommercenumber": "chamber_of_commerce_number",
                    **address,
                    "contactinformation.emailaddress": "contact_information_email_address",
                    "contactinformation.website": "contact_information_website",
                    "legalform.key": "legal_form_key",
                    "legalform.value": "legal_form",
                    "sbi.key": "sbi_key",
                    "sbi.value": "sbi",
                    "sbi.sbicode": "sbi_sbi_code",
                    "_accessible": "accessible",
                },
                self._render_employer,
                id_param="employerId",
                label="Employer",
            ),
            _Resource(
                "payroll_administrations",
                "payroll_administrations",
                {
                    "id": "id",
                    "name": "name",
                    "description": "description",
                    "clientnumber": "client_number",
                    "groupcode": "group_code",
                    "startdate": "start_date",
                    "enddate": "end_date",
                    "payrollperiodtype.key": "payroll_period_type_key",
                    "payrollperiodtype.value": "payroll_period_type",
                    **employer_scope,
                },
                self._render_payroll_administration,
            ),
            _Resource(
                "departments",
                "departments",
                {
                    "id": "id",
                    "code": "code",
                    "description": "description",
                    "emailleaverequest": "email_leave_request",
                    "subdepartmentof.key": "sub_department_of_key",
                    **employer_scope,
                },
                self._render_department,
            ),
            _Resource(
                "functions",
                "functions",
                {"key": "key", "description": "description", "group": "group", **employer_scope},
                self._render_function,
            ),
            _Resource(
                "employees",
                "employees",
                {
                    "id": "id",
                    "employeenumber": "employee_number",
                    "personaldetails.firstname": "first_name",
                    "personaldetails.initials": "initials",
                    "personaldetails.prefix": "prefix",
                    "personaldetails.lastname": "last_name",
                    "personaldetails.formattedname": "formatted_name",
                    "personaldetails.dateofbirth": "date_of_birth",
                    "personaldetails.aowdate": "aow_date",
                    "personaldetails.gender.key": "gender_key",
                    "personaldetails.gender.value": "gender",
                    **address,
                    "contactinformation.emailaddress": "email_address",
                    "contactinformation.phonenumber": "phone_number",
                    "contactinformation.mobilephonenumber": "mobile_phone_number",
                    "exclusionfromabsencestatus": "exclusion_from_absence_status",
                    "travel.traveldistancetowork": "travel_distance_to_work",
                    **employer_scope,
                },
                self._render_employee,
                versioned=True,
                id_param="employeeId",
                label="Employee",
            ),
            _Resource(
                "employments",
                "employments",
                {
                    "id": "id",
                    **_employee_meta_columns("employee"),
                    "startdate": "start_date",
                    "enddate": "end_date",
                    "incomerelationshipnumber": "income_relationship_number",
                    "payrollid": "payroll_id",
                    "payrolladministration.id": "payroll_administration_id",
                    "employmentdurationtype.key": "employment_duration_type_key",
                    "employmentdurationtype.value": "employment_duration_type",
                    "typeofemployee.key": "type_of_employee_key",
                    "typeofemployee.value": "type_of_employee",
                    "isoncallemployment": "is_on_call_employment",
                    **employer_scope,
                    "_employee_id": "employee_id",
                },
                self._render_employment,
                employee_prefix="employee",
                id_param="employmentId",
                label="Employment",
            ),
            _Resource(
                "leave_requests",
                "leave_requests",
                {
                    **leave_entry,
                    "leaverequeststatus.key": "leave_request_status_key",
                    "leaverequeststatus.value": "leave_request_status",
                    "currentlyavailableunits": "currently_available_units",
                    "commentemployee": "comment_employee",
                    "commenthandler": "comment_handler",
                    **_employee_meta_columns("submittedby"),
                    "submittedon": "submitted_on",
                    "handledby.id": "handled_by_id",
                    "handledtime": "handled_time",
                    **employer_scope,
                    "_employment_id": "employment_id",
                },
                self._render_leave_request,
                employee_prefix="submittedby",
                id_param="leaveRequestId",
                label="Leave request",
            ),
            _Resource(
                "leave",
                "leave",
                {
                    **leave_entry,
                    "comment": "comment",
                    "relatedleaverequest.id": "related_leave_request_id",
                    "origin.meansofcreation.key": "means_of_creation_key",
                    "origin.meansofcreation.value": "means_of_creation",
                    "_employment_id": "employment_id",
                },
                self._render_leave,
            ),
            _Resource(
                "employment_leave_balances",
                "leave_balances",
                {
                    "year": "year",
                    "leavetype.key": "leave_type_key",
                    "leavetype.value": "leave_type",
                    "balancepreviousyear": "balance_previous_year",
                    "accrual": "accrual",
                    "usagethroughtoday": "usage_through_reference_date",
                    "usageaftertoday": "usage_after_reference_date",
                    "usagetotal": "usage_total",
                    "expires": "expires",
                    "balance": "balance",
                    "_employment_id": "employment_id",
                },
                partial(self._render_balance, employer_wide=False),
            ),
            _Resource(
                "leave_types",
                "leave_types",
                {
                    "id": "id",
                    "leavetype.key": "leave_type_key",
                    "leavetype.value": "leave_type",
                    "leavetype.balanceexceedsyear": "balance_exceeds_year",
                    "leavetype.employeecanrequestincrease": "employee_can_request_increase",
                    "leavetype.enabled": "enabled",
                    **employer_scope,
                },
                self._render_leave_type,
                reference=True,
            ),
            _Resource(
                "absences",
                "absences",
                {
                    "id": "id",
                    "causeofabsence.key": "cause_of_absence_key",
                    "causeofabsence.value": "cause_of_absence",
                    "isworkrelatedillness": "is_work_related_illness",
                    "isrecoveredwithintwoweeks": "is_recovered_within_two_weeks",
                    "isdisruptedemploymentrelationship": "is_disrupted_employment_relationship",
                    "progress.startdate": "start_date",
                    "progress.currentincapacitypercentage": "current_incapacity_percentage",
                    "progress.endofabsence.date": "end_date",
                    "progress.endofabsence.reason.key": "end_of_absence_reason_key",
                    "progress.endofabsence.reason.value": "end_of_absence_reason",
                    "_employee_id": "employee_id",
                },
                self._render_absence,
            ),
            _Resource(
                "national_holidays",
                "national_holidays",
                {
                    "id": "id",
                    "nationalholiday.key": "national_holiday_key",
                    "nationalholiday.value": "national_holiday",
                    "nationalholiday.dateincurrentyear": "date_in_current_year",
                    "nationalholiday.enabled": "enabled",
                    **employer_scope,
                },
                self._render_national_holiday,
                reference=True,
            ),
        )
        return {resource.name: resource for resource in resources}

    def _build_indexes(self) -> None:
        w = self.world

        def mapping(frame: pl.DataFrame, key: str, value: str) -> dict[Any, Any]:
            return dict(zip(frame[key].to_list(), frame[value].to_list(), strict=True))

        def positions(frame: pl.DataFrame, key: str = "id") -> dict[str, int]:
            return {v: i for i, v in enumerate(frame[key].to_list())}

        self._employer_accessible: dict[str, bool] = mapping(w.employers, "id", "accessible")
        # Path ids: the resource whose row each names, that row's position and its employer (an
        # employer is its own).
        self._id_resource = {r.id_param: r for r in self._resources.values() if r.id_param}
        self._position: dict[str, dict[str, int]] = {}
        self._employer_of: dict[str, dict[str, str]] = {}
        for resource in self._id_resource.values():
            frame = getattr(w, resource.frame)
            self._position[resource.name] = positions(frame)
            owner = "id" if resource.name == "employers" else "employer_id"
            self._employer_of[resource.name] = mapping(frame, "id", owner)
        emp_cols = list(_EMPLOYEE_META_COLS.values())
        self._employee_meta: dict[str, dict[str, Any]] = {
            row["id"]: self._render_employee_meta(row)
            for row in w.employees.select(emp_cols).iter_rows(named=True)
        }
        self._department_meta = {
            row["id"]: {"key": row["id"], "code": row["code"], "description": row["description"]}
            for row in w.departments.iter_rows(named=True)
        }
        self._function_meta = {
            row["key"]: {
                "key": row["key"],
                "description": row["description"],
                "group": row["group"],
            }
            for row in w.functions.iter_rows(named=True)
        }
        self._payroll_meta = {
            row["id"]: {
                "id": row["id"],
                "name": row["name"],
                "description": row["description"],
                "clientNumber": row["client_number"],
            }
            for row in w.payroll_administrations.iter_rows(named=True)
        }
        self._balance_exceeds_year = {
            (row["employer_id"], row["leave_type_key"]): bool(row["balance_exceeds_year"])
            for row in w.leave_types.iter_rows(named=True)
        }
        self._employer_address = {
            row["id"]: self._render_address(row, province=False)
            for row in w.employers.iter_rows(named=True)
        }

    def _register(self) -> None:
        handlers: dict[str, Callable[..., MockResponse]] = {
            "/providers/employers/{employerId}/leavebalances": self._employer_leave_balances,
            "/providers/employers/{employerId}/employees/employments/calendar/leaverequests": (
                self._calendar_leave_requests
            ),
            "/providers/employers/{employerId}/actualorganizationalentities": (
                self._actual_organizational_entities
            ),
        }
        for template, (name, scope_column) in _LISTS.items():
            handlers[template] = partial(self._list_rows, self._resources[name], scope_column)
        for template, name in _DETAILS.items():
            handlers[template] = partial(self._detail_row, self._resources[name])
        # In ENDPOINTS order: of two equally good matches the router takes the first added.
        for template, versions in ENDPOINTS.items():
            self._router.add("GET", template, _Route(template, versions, handlers[template]))
        for template in IMAGE_ENDPOINTS:
            fn = self._photo if "photo" in template else self._logo
            self._router.add("GET", template, _Route(template, (), fn))

    # -- the request cycle -----------------------------------------------------------------

    def handle(self, request: MockRequest) -> MockResponse:
        """Answer one ``/v2/...`` request."""
        now = self._clock()
        try:
            response = self._dispatch(request, now)
        except _ApiError as exc:
            response = exc.response
        if response.header("Date") is None:
            response.set_header("Date", http_date(now))
        if response.header("Expires") is None:
            response.set_header("Expires", http_date(now - CACHEABLE_LIFETIME))
        return response

    def _dispatch(self, req: MockRequest, now: float) -> MockResponse:
        path = req.path
        if path.lower().startswith("/v2"):
            path = path[3:]
        if self._oauth.user_for(req.headers.get("authorization")) is None:
            return json_response(401, AUTH_DENIED, headers=[("WWW-Authenticate", "Bearer")])
        match = self._router.match(req.method, path)
        if match is None:
            raise _not_found(f"No resource at {req.path}.")
        if match is False:
            return json_response(
                405,
                {"message": f"The requested resource does not support http method '{req.method}'."},
                headers=[("Allow", "GET")],
            )
        handler, raw_params = match  # type: ignore[misc]
        route = cast(_Route, handler)
        params = {k: _normalize_id(v) for k, v in raw_params.items()}
        # Existence and rights come before the version check, as on the real API (its version
        # only matters when the body is written).
        self._check_access(params)
        version = ""
        if route.versions:
            try:
                version = negotiate_version(req.headers.get("accept"), route.versions)
            except ValueError as exc:
                raise _bad_request(
                    str(exc),
                    code=1001,
                    version=route.versions[-1],
                    listing=not route.template.endswith("}"),
                ) from None
        return route.fn(_Ctx(req, now, version), **params)

    # -- access checks -----------------------------------------------------------------------

    def _check_employer(self, employer_id: str) -> None:
        accessible = self._employer_accessible.get(employer_id)
        if accessible is None:
            raise _not_found(f"Employer {employer_id} does not exist.")
        if not accessible:
            raise _ApiError(json_response(403, FORBIDDEN))

    def _check_access(self, params: Mapping[str, str]) -> None:
        """404 for a path id that names nothing, 403 when its employer is not the user's.

        Run for every route before its handler, so handlers need no checks of their own.
        """
        for name, value in params.items():
            resource = self._id_resource.get(name)
            if resource is None:
                continue  # not an id (an image's version)
            employer_id = self._employer_of[resource.name].get(value)
            if employer_id is None:
                raise _not_found(f"{resource.label} {value} does not exist.")
            self._check_employer(employer_id)

    # -- envelopes ---------------------------------------------------------------------------

    @staticmethod
    def _version_bytes(version: str) -> bytes:
        return orjson.dumps(
            {"obsoleteDate": OBSOLETE_DATES.get(version), "resourceVersion": version}
        )

    def _json_ok(self, ctx: _Ctx, body: bytes, *, expires: float, extra=()) -> MockResponse:
        return MockResponse(
            200,
            [
                ("Content-Type", f"{_JSON};version={ctx.version}"),
                ("Date", http_date(ctx.now)),
                ("Expires", http_date(expires)),
                *extra,
            ],
            body,
        )

    def _detail(self, ctx: _Ctx, item: bytes) -> MockResponse:
        etag = '"' + hashlib.blake2b(item + ctx.version.encode(), digest_size=16).hexdigest() + '"'
        expires = ctx.now - CACHEABLE_LIFETIME
        inm = ctx.req.headers.get("if-none-match")
        if inm is not None:
            tags = {t.strip().removeprefix("W/") for t in inm.split(",")}
            if etag in tags or "*" in tags:
                return MockResponse(
                    304,
                    [("ETag", etag), ("Date", http_date(ctx.now)), ("Expires", http_date(expires))],
                    b"",
                )
        body = (
            b'{"content":'
            + item
            + b',"version":'
            + self._version_bytes(ctx.version)
            + b',"messages":[]}'
        )
        return self._json_ok(ctx, body, expires=expires, extra=[("ETag", etag)])

    def _page_params(self, ctx: _Ctx) -> tuple[int, int]:
        req = ctx.req

        def integer(name: str, default: int) -> int:
            raw = req.param(name)
            if raw is None or raw == "":
                return default
            try:
                return int(raw)
            except ValueError:
                raise _bad_request(
                    f"{name} must be a whole number, got {raw!r}.", code=1002, version=ctx.version
                ) from None

        page_number = integer("pageNumber", 1)
        page_size = integer("pageSize", DEFAULT_PAGE_SIZE)
        if page_number < 1:
            raise _bad_request(
                f"pageNumber must be 1 or more, got {page_number}.", code=1003, version=ctx.version
            )
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            raise _bad_request(
                f"pageSize must be between 1 and {MAX_PAGE_SIZE} (the maximum), got {page_size}.",
                code=1004,
                version=ctx.version,
            )
        return page_number, page_size

    def _list(
        self,
        ctx: _Ctx,
        selection: list[int],
        encoded: list[bytes],
        *,
        reference: bool = False,
    ) -> MockResponse:
        page_number, page_size = self._page_params(ctx)
        drift = 0
        if self._faults is not None and selection:
            drift = self._faults.drift_offset(self._faults.listing_key(ctx.req))
        real = len(selection)
        total = real + drift
        start = (page_number - 1) * page_size
        stop = min(start + page_size, total)
        items = [encoded[i] for i in selection[start : min(stop, real)]]
        for n in range(max(start, real), stop):
            items.append(self._phantom(encoded[selection[-1]], n))
        total_pages = -(-total // page_size)
        body = b"".join(
            (
                b'{"_embedded":[',
                b",".join(items),
                b'],"currentPage":%d,"pageSize":%d,"totalPages":%d,"totalSize":%d,"version":'
                % (page_number, page_size, total_pages, total),
                self._version_bytes(ctx.version),
                b',"messages":[]}',
            )
        )
        override = None if self._faults is None else self._faults.expires_seconds
        if override is not None:
            expires = ctx.now + override
        elif reference:
            expires = ctx.now + CACHEABLE_LIFETIME
        else:
            expires = ctx.now - CACHEABLE_LIFETIME
        return self._json_ok(ctx, body, expires=expires)

    @staticmethod
    def _phantom(template: bytes, n: int) -> bytes:
        # A row that "appeared" mid-walk (drift fault): a copy of the last row under a new id.
        item = orjson.loads(template)
        new_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"loketvalinso-drift-{n}"))
        for key in ("id", "key"):
            if isinstance(item.get(key), str):
                item[key] = new_id
        return orjson.dumps(item)

    # -- cached renders and selections --------------------------------------------------------

    def _encoded_for(
        self, resource: str, version: str, build: Callable[[], list[bytes]]
    ) -> list[bytes]:
        key = (resource, version)
        found = self._encoded.get(key)
        if found is not None:
            return found
        with self._lock:
            found = self._encoded.get(key)
            if found is None:
                found = build()
                self._encoded[key] = found
        return found

    def _qframe(self, resource: str, build: Callable[[], pl.DataFrame]) -> pl.DataFrame:
        found = self._qframes.get(resource)
        if found is not None:
            return found
        with self._lock:
            found = self._qframes.get(resource)
            if found is None:
                found = build().with_row_index("_i")
                self._qframes[resource] = found
        return found

    def _partition(
        self, resource: Hashable, frame: pl.DataFrame, column: str, value: Any
    ) -> pl.DataFrame:
        key = (resource, column)
        parts = self._parts.get(key)
        if parts is None:
            with self._lock:
                parts = self._parts.get(key)
                if parts is None:
                    parts = {k[0]: df for k, df in frame.partition_by(column, as_dict=True).items()}
                    self._parts[key] = parts
        found = parts.get(value)
        return found if found is not None else frame.clear()

    def _select(
        self, ctx: _Ctx, resource: Hashable, frame: pl.DataFrame, scope: tuple[str, Any] | None
    ) -> list[int]:
        """Row positions of ``frame`` in ``scope``, filtered and ordered per the request.

        ``resource`` names ``frame`` in the selection cache (and its partitions by ``scope``).
        """
        flt = ctx.req.param("filter")
        order = ctx.req.param("orderBy")
        key = (resource, scope, flt or None, order or None)

        def make() -> list[int]:
            part = frame if scope is None else self._partition(resource, frame, *scope)
            try:
                selected = apply_query(part, filter=flt, order_by=order)
            except QueryError as exc:
                raise _bad_request(str(exc), code=1010, version=ctx.version) from None
            return selected["_i"].to_list()

        return self._selections.get_or_make(key, make)

    # -- renderers -----------------------------------------------------------------------------

    @staticmethod
    def _render_employee_meta(row: Mapping[str, Any]) -> dict[str, Any]:
        return {
            "id": row["id"],
            "employeeNumber": row["employee_number"],
            "formattedName": row["formatted_name"],
            "firstName": _nz(row["first_name"]),
            "initials": row["initials"],
            "prefix": _nz(row["prefix"]),
            "lastName": row["last_name"],
            "prefixPartner": None,
            "lastNamePartner": None,
            "dateOfBirth": row["date_of_birth"],
            "photo": f"/v2/providers/employers/employees/{row['id']}/photo",
        }

    @staticmethod
    def _render_address(row: Mapping[str, Any], *, province: bool) -> dict[str, Any] | None:
        if row["address_street"] is None:
            return None
        address = {
            "street": row["address_street"],
            "houseNumber": row["address_house_number"],
            "houseNumberAddition": None,
            "postalCode": row["address_postal_code"],
            "city": row["address_city"],
            "location": None,
            "country": dict(_NL),
            "furtherIndication": None,
        }
        if province:
            address["province"] = None
        return address

    @staticmethod
    def _dump_rows(
        frame: pl.DataFrame, render: Callable[[dict[str, Any]], dict[str, Any]]
    ) -> list[bytes]:
        dumps = orjson.dumps
        return [dumps(render(row)) for row in frame.iter_rows(named=True)]

    def _render_employer(self, row: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": row["id"],
            "employerNumber": row["employer_number"],
            "companyName": row["company_name"],
            "chamberOfCommerceNumber": row["chamber_of_commerce_number"],
            "address": self._render_address(row, province=True),
            "deviatingPostalAddress": None,
            "contact": None,
            "contactInformation": {
                "emailAddress": row["contact_information_email_address"],
                "phoneNumber": None,
                "faxNumber": None,
                "website": row["contact_information_website"],
            },
            "legalForm": _meta(row["legal_form_key"], row["legal_form"]),
            "branch": None,
            "sbi": None
            if row["sbi_key"] is None
            else {"key": row["sbi_key"], "value": row["sbi"], "sbiCode": row["sbi_sbi_code"]},
            "providerSettings": {
                "administrationNumber": None,
                "groupCode": None,
                "parentEmployerForConsolidatedOverviews": None,
                "sendEmailWhenSalarySlipIsAvailable": False,
            },
            "employerLogo": f"/v2/providers/employers/{row['id']}/logo",
            "providerLogo": None,
        }

    def _render_payroll_administration(self, row: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": row["id"],
            "name": row["name"],
            "shortName": None,
            "description": row["description"],
            "clientNumber": row["client_number"],
            "administrationNumber": None,
            "groupCode": row["group_code"],
            "startDate": row["start_date"],
            "endDate": row["end_date"],
            "payrollPeriodType": {
                "key": row["payroll_period_type_key"],
                "value": row["payroll_period_type"],
            },
            "cao": {"key": 0, "value": "Geen cao"},
            "loonmodel": {"key": 1, "value": "Standaard loonmodel"},
            "groupClassification": None,
            "payrollTaxesNumber": None,
            "claTaxReturnCBSCode": None,
            "address": self._employer_address.get(row["employer_id"]),
            "deviatingPostalAddress": None,
            "contact": None,
        }

    def _render_department(self, row: dict[str, Any]) -> dict[str, Any]:
        parent = row["sub_department_of_key"]
        return {
            "id": row["id"],
            "code": row["code"],
            "description": row["description"],
            "emailLeaveRequest": row["email_leave_request"],
            "subDepartmentOf": self._department_meta.get(parent) if parent is not None else None,
        }

    @staticmethod
    def _render_function(row: dict[str, Any]) -> dict[str, Any]:
        return {"key": row["key"], "description": row["description"], "group": row["group"]}

    def _render_employee(self, row: dict[str, Any], version: str) -> dict[str, Any]:
        contact: dict[str, Any] = {
            "phoneNumber": row["phone_number"],
            "mobilePhoneNumber": row["mobile_phone_number"],
            "faxNumber": None,
            "emailAddress": row["email_address"],
        }
        if version >= "2021-03-29":
            contact["businessEmailAddress"] = row["business_email_address"]
            contact["businessPhoneNumber"] = row["business_phone_number"]
            contact["businessMobilePhoneNumber"] = row["business_mobile_phone_number"]
        return {
            "id": row["id"],
            "employeeNumber": row["employee_number"],
            "personalDetails": {
                "firstName": _nz(row["first_name"]),
                "initials": row["initials"],
                "prefix": _nz(row["prefix"]),
                "lastName": row["last_name"],
                "prefixPartner": None,
                "lastNamePartner": None,
                "formattedName": row["formatted_name"],
                "howToFormatLastName": {"key": 1, "value": "Eigen naam"},
                "dateOfBirth": row["date_of_birth"],
                "dateOfDeath": None,
                "placeOfBirth": None,
                "aowDate": row["aow_date"],
                "gender": {"key": row["gender_key"], "value": row["gender"]},
                "civilStatus": None,
                "nationality": None,
                "title": None,
                "photo": f"/v2/providers/employers/employees/{row['id']}/photo",
            },
            "address": self._render_address(row, province=False),
            "deviatingPostalAddress": None,
            "contactInformation": contact,
            "identityDocument": None,
            "travel": {"travelDistanceToWork": row["travel_distance_to_work"]},
            "exclusionFromAbsenceStatus": bool(row["exclusion_from_absence_status"]),
            "statusEmployeeSelfService": None,
            "revokeEmployeeSelfServiceAccessOn": None,
        }

    def _render_employment(self, row: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": row["id"],
            "employee": self._employee_meta.get(row["employee_id"]),
            "startDate": row["start_date"],
            "endDate": row["end_date"],
            "historicalStartDate": None,
            "incomeRelationshipNumber": row["income_relationship_number"],
            "payrollId": row["payroll_id"],
            "payrollAdministration": self._payroll_meta.get(row["payroll_administration_id"]),
            "nonPayrollAdministration": None,
            "employmentDurationType": _meta(
                row["employment_duration_type_key"], row["employment_duration_type"]
            ),
            "employmentContractType": None,
            "employmentCategoryType": {"key": 1, "value": "Normaal"},
            "typeOfEmployee": _meta(row["type_of_employee_key"], row["type_of_employee"]),
            "isOnCallEmployment": bool(row["is_on_call_employment"]),
            "endOfEmploymentReason": None,
            "endOfEmploymentReasonTaxAuthorities": None,
            "endOfEmploymentDueToIllness": None,
            "cancellationPeriodTimeUnit": None,
            "cancellationPeriodEmployee": None,
            "cancellationPeriodEmployer": None,
            "cancellationNoticeDate": None,
            "startCancellationNoticePeriod": None,
            "startDateContractOfIndefiniteDuration": None,
            "emailLeaveRequest": None,
            "commissionUntilDate": None,
            **{f"commissionUntilDate{n}": None for n in range(1, 7)},
            "calculateWorkingHours": True,
            "deviatingCLAExternalParty": None,
            "deviatingCLATaxReturn": None,
            "employeeProfileId": None,
            "essMutationSet": {"key": 1, "value": "Standaard"},
            "exemptionInsuranceObligation": {"key": 1, "value": "Geen vrijstelling"},
            "exemptionPremiumWaiverMarginalLabour": False,
            "exemptionWorkRelatedExpenseScheme": False,
            "firstDayNotification": None,
            "hasOnCallAppearanceObligation": None,
            "isAnonymousEmployee": False,
            "isDirectorAndMajorShareholder": None,
            "isFamilyOfOwner": None,
            "isGemoedsbezwaardEmployeeInsurance": False,
            "isGemoedsbezwaardNationalInsurance": False,
            "isPreviousOwner": None,
            "linkedEmployment": None,
            "namePayslip": None,
            "participation55plusRegulationUWV": False,
            "periodPayGradeAdjustment": None,
            "professionCode": None,
            "sendToExternalParty": None,
            "signalPayGradeAdjustment": False,
            "specialIncomeRatio": None,
            "temporaryTaxExemption": {"key": 1, "value": "Geen"},
            "typeOfParticipation": None,
            "vacationCoupons": None,
            "valueOfParticipation": None,
            "wachtgeldOldRegulation": False,
            "writtenEmploymentContract": True,
        }

    def _handler_meta(self, handler_id: str | None) -> dict[str, Any] | None:
        if handler_id is None:
            return None
        employee = self._employee_meta.get(handler_id)
        if employee is not None:
            return {
                "id": handler_id,
                "formattedName": employee["formattedName"],
                "initials": employee["initials"],
                "prefix": employee["prefix"],
                "lastName": employee["lastName"],
            }
        # Handlers are Loket users, not necessarily employees of the world.
        return {
            "id": handler_id,
            "formattedName": "Beheerder, M.",
            "initials": "M.",
            "prefix": None,
            "lastName": "Beheerder",
        }

    def _render_leave_request(self, row: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": row["id"],
            "startDate": row["start_date"],
            "endDate": row["end_date"],
            "numberOfUnits": _r2(row["number_of_units"]),
            "unitType": _meta(row["unit_type_key"], row["unit_type"]),
            "isAccrual": bool(row["is_accrual"]),
            "leaveType": {"key": row["leave_type_key"], "value": row["leave_type"]},
            "leaveRequestStatus": {
                "key": row["leave_request_status_key"],
                "value": row["leave_request_status"],
            },
            "currentlyAvailableUnits": _r2(row["currently_available_units"]),
            "commentEmployee": row["comment_employee"],
            "commentHandler": row["comment_handler"],
            "submittedBy": self._employee_meta.get(row["employee_id"]),
            "submittedOn": row["submitted_on"],
            "handledBy": self._handler_meta(row["handled_by_id"]),
            "handledTime": row["handled_time"],
        }

    def _render_leave(self, row: dict[str, Any]) -> dict[str, Any]:
        related = row["related_leave_request_id"]
        return {
            "id": row["id"],
            "startDate": row["start_date"],
            "endDate": row["end_date"],
            "numberOfUnits": _r2(row["number_of_units"]),
            "unitType": _meta(row["unit_type_key"], row["unit_type"]),
            "isAccrual": bool(row["is_accrual"]),
            "leaveType": {
                "key": row["leave_type_key"],
                "value": row["leave_type"],
                "balanceExceedsYear": self._balance_exceeds_year.get(
                    (row["employer_id"], row["leave_type_key"]), False
                ),
            },
            "comment": row["comment"],
            "origin": {
                "meansOfCreation": _meta(row["means_of_creation_key"], row["means_of_creation"])
                or {"key": 1, "value": "Handmatig"},
                "leavePolicy": None,
            },
            "relatedLeave": None,
            "relatedLeaveRequest": None if related is None else {"id": related},
        }

    def _render_balance(self, row: dict[str, Any], *, employer_wide: bool) -> dict[str, Any]:
        through, after = (
            ("usageThroughReferenceDate", "usageAfterReferenceDate")
            if employer_wide
            else ("usageThroughToday", "usageAfterToday")
        )
        item = {
            "year": row["year"],
            "leaveType": {
                "key": row["leave_type_key"],
                "value": row["leave_type"],
                "balanceExceedsYear": self._balance_exceeds_year.get(
                    (row["employer_id"], row["leave_type_key"]), False
                ),
            },
            "balancePreviousYear": _r2(row["balance_previous_year"]),
            "accrual": _r2(row["accrual"]),
            through: _r2(row["usage_through_reference_date"]),
            after: _r2(row["usage_after_reference_date"]),
            "usageTotal": _r2(row["usage_total"]),
            "expires": _r2(row["expires"]),
            "balance": _r2(row["balance"]),
        }
        if not employer_wide:
            item["unitType"] = dict(_HOURS)
        return item

    def _render_absence(self, row: dict[str, Any]) -> dict[str, Any]:
        end_reason = _meta(row["end_of_absence_reason_key"], row["end_of_absence_reason"])
        end_of_absence = None
        if row["end_date"] is not None or end_reason is not None:
            end_of_absence = {
                "date": row["end_date"],
                "reason": end_reason or {"key": 1, "value": "Hersteld"},
            }
        return {
            "id": row["id"],
            "causeOfAbsence": {
                "key": row["cause_of_absence_key"],
                "value": row["cause_of_absence"],
            },
            "accidentType": None,
            "expectedDuration": None,
            "isWorkRelatedIllness": bool(row["is_work_related_illness"]),
            "isRecoveredWithinTwoWeeks": bool(row["is_recovered_within_two_weeks"]),
            "isDisruptedEmploymentRelationship": bool(row["is_disrupted_employment_relationship"]),
            "isHospitalised": None,
            "isThirdPartyLiability": None,
            "hasMobilityIssue": None,
            "hoursWorkedOnFirstDayOfAbsence": None,
            "expectedDateOfChildbirth": None,
            "expectedEndDateOfMaternityLeave": None,
            "comments": None,
            "progress": {
                "startDate": row["start_date"],
                "currentIncapacityPercentage": row["current_incapacity_percentage"],
                "endOfAbsence": end_of_absence,
            },
            "contactInformation": None,
            "caseManager": None,
            "reintegration": None,
            "actionToBeTakenByOccupationalHealthAndSafetyService": {"key": 1, "value": "Geen"},
        }

    @staticmethod
    def _render_leave_type(row: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": row["id"],
            "leaveType": {
                "key": row["leave_type_key"],
                "value": row["leave_type"],
                "balanceExceedsYear": bool(row["balance_exceeds_year"]),
                "employeeCanRequestIncrease": bool(row["employee_can_request_increase"]),
                "enabled": bool(row["enabled"]),
            },
            "deviations": None,
        }

    @staticmethod
    def _render_national_holiday(row: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": row["id"],
            "nationalHoliday": {
                "key": row["national_holiday_key"],
                "value": row["national_holiday"],
                "dateInCurrentYear": row["date_in_current_year"],
                "enabled": bool(row["enabled"]),
            },
            "deviations": None,
        }

    # -- query frames (columns = lower-cased API dot paths) -----------------------------------

    @staticmethod
    def _cols(mapping: Mapping[str, str | pl.Expr]) -> list[pl.Expr]:
        return [
            (pl.col(src) if isinstance(src, str) else src).alias(name)
            for name, src in mapping.items()
        ]

    def _employee_meta_frame(self, prefix: str) -> pl.DataFrame:
        return self.world.employees.select(
            pl.col("id").alias("_employee_key"),
            *[pl.col(src).alias(f"{prefix}.{api}") for api, src in _EMPLOYEE_META_COLS.items()],
        )

    def _with_employee(self, frame: pl.DataFrame, prefix: str) -> pl.DataFrame:
        return frame.join(
            self._employee_meta_frame(prefix),
            left_on="employee_id",
            right_on="_employee_key",
            how="left",
            maintain_order="left",
        )

    # -- endpoints over one resource (see _LISTS and _DETAILS) ---------------------------------

    def _list_rows(
        self, resource: _Resource, scope_column: str, ctx: _Ctx, **path_ids: str
    ) -> MockResponse:
        """A page of ``resource``'s rows whose ``scope_column`` is the path's id (or true)."""
        scope = (scope_column, next(iter(path_ids.values()), True))
        selection = self._select(ctx, resource.name, self._query_frame(resource), scope)
        encoded = self._encoded_rows(resource, ctx.version)
        return self._list(ctx, selection, encoded, reference=resource.reference)

    def _detail_row(self, resource: _Resource, ctx: _Ctx, **path_ids: str) -> MockResponse:
        """The row of ``resource`` the path's id names (access checks have found it)."""
        (row_id,) = path_ids.values()
        encoded = self._encoded_rows(resource, ctx.version)
        return self._detail(ctx, encoded[self._position[resource.name][row_id]])

    def _query_frame(self, resource: _Resource) -> pl.DataFrame:
        def build() -> pl.DataFrame:
            frame = getattr(self.world, resource.frame)
            if resource.employee_prefix is not None:
                frame = self._with_employee(frame, resource.employee_prefix)
            return frame.select(*self._cols(resource.columns))

        return self._qframe(resource.name, build)

    def _encoded_rows(self, resource: _Resource, version: str) -> list[bytes]:
        frame = getattr(self.world, resource.frame)
        render = resource.render
        if resource.versioned:
            render = partial(render, version=version)
        return self._encoded_for(resource.name, version, lambda: self._dump_rows(frame, render))

    def _list_computed(
        self,
        ctx: _Ctx,
        key: tuple[Any, ...],
        compute: Callable[[], tuple[list[bytes], pl.DataFrame]],
    ) -> MockResponse:
        """A page of a listing computed per query parameters: ``key`` names one computation."""
        encoded, frame = self._param_renders.get_or_make(key, compute)
        selection = self._select(ctx, key, frame, None)
        return self._list(ctx, selection, encoded)

    def _balances_at(self, reference_date: date) -> pl.DataFrame:
        """The world's balances as of ``reference_date`` (the world owns the ledger maths)."""
        return self._param_renders.get_or_make(
            ("balances_at", reference_date), lambda: leave_balances_at(self.world, reference_date)
        )

    def _employer_leave_balances(self, ctx: _Ctx, employerId: str) -> MockResponse:
        reference = self._reference_date(ctx, code=1020)
        types: list[int] = []
        for raw in ctx.req.params("leaveType"):
            for part in raw.split(","):
                if part.strip():
                    try:
                        types.append(int(part))
                    except ValueError:
                        raise _bad_request(
                            f"leaveType must be whole numbers (leaveType.key), got {part!r}.",
                            code=1021,
                            version=ctx.version,
                        ) from None
        leave_types = tuple(sorted(set(types or [16])))
        return self._list_computed(
            ctx,
            ("balances", employerId, reference, leave_types),
            lambda: self._render_employer_balances(employerId, reference, leave_types),
        )

    def _render_employer_balances(
        self, employer_id: str, reference: date, leave_types: tuple[int, ...]
    ) -> tuple[list[bytes], pl.DataFrame]:
        year = reference.year
        employments = self.world.employments.filter(
            (pl.col("employer_id") == employer_id)
            & (pl.col("start_date") <= date(year, 12, 31))
            & (pl.col("end_date").is_null() | (pl.col("end_date") >= date(year, 1, 1)))
        )
        balances = (
            self._balances_at(reference)
            .filter(
                (pl.col("employer_id") == employer_id)
                & (pl.col("year") == year)
                & pl.col("leave_type_key").is_in(list(leave_types))
            )
            .sort(["employment_id", "leave_type_key"], maintain_order=True)
        )
        by_employment: dict[str, list[dict[str, Any]]] = {}
        for row in balances.iter_rows(named=True):
            by_employment.setdefault(row["employment_id"], []).append(
                self._render_balance(row, employer_wide=True)
            )
        encoded: list[bytes] = []
        for row in employments.iter_rows(named=True):
            department = self._department_meta.get(row["department_id"])
            function = self._function_meta.get(row["function_key"])
            encoded.append(
                orjson.dumps(
                    {
                        "id": row["id"],
                        "employee": self._employee_meta.get(row["employee_id"]),
                        "startDate": row["start_date"],
                        "endDate": row["end_date"],
                        "historicalStartDate": None,
                        "incomeRelationshipNumber": row["income_relationship_number"],
                        "payrollAdministration": self._payroll_meta.get(
                            row["payroll_administration_id"]
                        ),
                        "nonPayrollAdministration": None,
                        "organizationalEntity": {
                            "startDate": row["start_date"],
                            "endDate": row["end_date"],
                            "department": department,
                            "function": function,
                            "standardFunction": None,
                            "deviatingFunctionDescription": None,
                            "deviatingFunctionGroup": None,
                            "placeOfEmployment": None,
                        },
                        "leaveBalance": by_employment.get(row["id"], []),
                    }
                )
            )
        frame = self._with_employee(employments, "employee").select(
            *self._cols(
                {
                    "id": "id",
                    **{f"employee.{api}": f"employee.{api}" for api in _EMPLOYEE_META_COLS},
                    "startdate": "start_date",
                    "enddate": "end_date",
                    "incomerelationshipnumber": "income_relationship_number",
                    "payrolladministration.id": "payroll_administration_id",
                    "organizationalentity.department.key": "department_id",
                    "organizationalentity.function.key": "function_key",
                }
            )
        )
        return encoded, frame.with_row_index("_i")

    def _reference_date(self, ctx: _Ctx, *, code: int) -> date:
        """``referenceDate`` of the request, or the world's "today"."""
        raw = ctx.req.param("referenceDate")
        if not raw:
            return self.world.reference_date
        try:
            return date.fromisoformat(raw[:10])
        except ValueError:
            raise _bad_request(
                f"referenceDate must be a date (YYYY-MM-DD), got {raw!r}.",
                code=code,
                version=ctx.version,
            ) from None

    def _actual_organizational_entities(self, ctx: _Ctx, employerId: str) -> MockResponse:
        """``GET …/{employerId}/actualorganizationalentities``: one item per employment.

        The world gives each employment one organisational entity spanning the whole
        employment, so the actual one on ``referenceDate`` is that one. The mock's choices:
        employments that start after the reference date are left out; an employment that
        ended before it keeps its last (only) entity, so ended employments still name their
        department.
        """
        reference = self._reference_date(ctx, code=1040)
        return self._list_computed(
            ctx,
            ("organizational_entities", employerId, reference),
            lambda: self._render_organizational_entities(employerId, reference),
        )

    def _render_organizational_entities(
        self, employer_id: str, reference: date
    ) -> tuple[list[bytes], pl.DataFrame]:
        employments = self.world.employments.filter(
            (pl.col("employer_id") == employer_id) & (pl.col("start_date") <= reference)
        )
        encoded: list[bytes] = []
        for row in employments.iter_rows(named=True):
            entity: dict[str, Any] = {
                "id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"loketvalinso-orgentity-{row['id']}")),
                "startDate": row["start_date"],
                "endDate": row["end_date"],
            }
            # department/function are not nullable in the spec: left out when the world has none
            department = self._department_meta.get(row["department_id"])
            if department is not None:
                entity["department"] = department
            function = self._function_meta.get(row["function_key"])
            if function is not None:
                entity["function"] = function
            entity.update(
                standardFunction=None,
                deviatingFunctionDescription=None,
                deviatingFunctionGroup=None,
                placeOfEmployment=None,
                internalTelephoneExtensionNumber=None,
            )
            encoded.append(
                orjson.dumps({"employmentId": row["id"], "organizationalEntity": entity})
            )
        frame = employments.select(
            *self._cols(
                {
                    "employmentid": "id",
                    "organizationalentity.startdate": "start_date",
                    "organizationalentity.enddate": "end_date",
                    "organizationalentity.department.key": "department_id",
                    "organizationalentity.function.key": "function_key",
                }
            )
        )
        return encoded, frame.with_row_index("_i")

    def _calendar_leave_requests(self, ctx: _Ctx, employerId: str) -> MockResponse:
        bounds: list[date] = []
        for name in ("startDate", "endDate"):
            raw = ctx.req.param(name)
            if not raw:
                raise _bad_request(
                    f"The query parameter {name} (YYYY-MM-DD) is required.",
                    code=1030,
                    version=ctx.version,
                )
            try:
                bounds.append(date.fromisoformat(raw))
            except ValueError:
                raise _bad_request(
                    f"{name} must be a date (YYYY-MM-DD), got {raw!r}.",
                    code=1031,
                    version=ctx.version,
                ) from None
        start, end = bounds
        if end < start:
            raise _bad_request(
                "endDate must not be before startDate.", code=1032, version=ctx.version
            )
        return self._list_computed(
            ctx,
            ("calendar", employerId, start, end),
            lambda: self._render_calendar(employerId, start, end),
        )

    def _render_calendar(
        self, employer_id: str, start: date, end: date
    ) -> tuple[list[bytes], pl.DataFrame]:
        requests = self.world.leave_requests.filter(
            (pl.col("employer_id") == employer_id)
            & (pl.col("leave_request_status").str.to_lowercase() == "ingediend")
            & (pl.col("start_date") <= end)
            & (pl.col("end_date") >= start)
        ).sort(["start_date", "id"])
        calendars: dict[str, list[dict[str, Any]]] = {}
        for row in requests.select("employment_id", "start_date", "end_date").iter_rows(named=True):
            calendars.setdefault(row["employment_id"], []).append(
                {"startDate": row["start_date"], "endDate": row["end_date"], "details": None}
            )
        employments = self.world.employments.filter(pl.col("id").is_in(list(calendars)))
        employments = self._with_employee(employments, "employee")
        encoded = []
        for row in employments.iter_rows(named=True):
            encoded.append(
                orjson.dumps(
                    {
                        "employee": {
                            "id": row["employee_id"],
                            "formattedName": row["employee.formattedname"],
                        },
                        "employment": {"id": row["id"]},
                        "department": self._department_meta.get(row["department_id"]),
                        "calendar": calendars[row["id"]],
                    }
                )
            )
        frame = employments.select(
            *self._cols(
                {
                    "employee.id": "employee_id",
                    "employee.formattedname": "employee.formattedname",
                    "employment.id": "id",
                    "department.key": "department_id",
                }
            )
        ).with_row_index("_i")
        return encoded, frame

    def _photo(self, ctx: _Ctx, employeeId: str, version: str | None = None) -> MockResponse:
        return self._image(ctx, f"employee:{employeeId}")

    def _logo(self, ctx: _Ctx, employerId: str, version: str | None = None) -> MockResponse:
        return self._image(ctx, f"employer:{employerId}")

    def _image(self, ctx: _Ctx, seed: str) -> MockResponse:
        body = self._images.get_or_make(seed, lambda: _png(seed))
        return MockResponse(
            200,
            [
                ("Content-Type", "image/png"),
                ("Date", http_date(ctx.now)),
                ("Expires", http_date(ctx.now + CACHEABLE_LIFETIME)),
                ("Cache-Control", f"private, max-age={CACHEABLE_LIFETIME}"),
            ],
            body,
        )
