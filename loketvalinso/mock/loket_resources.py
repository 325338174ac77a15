"""What the mock Loket API serves: its endpoints, their resource versions and resources.

- :data:`ENDPOINTS` and :data:`IMAGE_ENDPOINTS`: every path served, with its versions;
- :data:`RESOURCES`: the world frames served row for row (see :class:`Resource`): which renderer
  of :class:`~loketvalinso.mock.loket_render.LoketRenderer` writes an item, and which *query
  frame* (lower-cased API dot path → world column) ``filter``/``orderBy`` see;
- :data:`LISTS` and :data:`DETAILS`: which endpoint serves which resource; :data:`PATH_IDS`:
  which path parameter names a row of which resource;
- the columns of the listings computed per query parameters, and the paging limits.

The handler (:mod:`loketvalinso.mock.loket`) does the serving.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any

import polars as pl

from loketvalinso.mock.loket_render import EMPLOYEE_META_COLS, LoketRenderer
from loketvalinso.mock.world import World

__all__ = [
    "CACHEABLE_LIFETIME",
    "CALENDAR_COLUMNS",
    "DEFAULT_PAGE_SIZE",
    "DETAILS",
    "EMPLOYER_BALANCE_COLUMNS",
    "ENDPOINTS",
    "FORBIDDEN",
    "IMAGE_ENDPOINTS",
    "LISTS",
    "MAX_PAGE_SIZE",
    "OBSOLETE_DATES",
    "ORGANIZATIONAL_ENTITY_COLUMNS",
    "PATH_IDS",
    "RESOURCES",
    "Resource",
    "list_scope",
    "query_frame",
    "select_columns",
    "with_employee",
]

DEFAULT_PAGE_SIZE = 250
MAX_PAGE_SIZE = 1000
#: Seconds of freshness announced on images and reference lists (the only cacheable resources).
CACHEABLE_LIFETIME = 86_400
FORBIDDEN = {
    "message": "Insufficient rights for this request, reason "
    '"User doesn\'t have rechten to perform activity for the given Id."'
}

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
    "/providers/employers/employees/employments/leave/{leaveId}": _V2018,
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


def _employee_meta_columns(prefix: str) -> dict[str, str]:
    """Query columns of an employee summary joined in under ``prefix`` (:func:`with_employee`)."""
    return {f"{prefix}.{api}": f"{prefix}.{api}" for api in EMPLOYEE_META_COLS}


@dataclass(frozen=True, slots=True)
class Resource:
    """A world frame served row for row: each row is one list item, and maybe one detail.

    - ``name``: the key of its cached renders, query frame and selections;
    - ``frame``: the :class:`~loketvalinso.mock.world.World` attribute served;
    - ``columns``: its query frame (what ``filter``/``orderBy`` see): lower-cased API dot path,
      or a private ``_…`` scope column → world column;
    - ``render``: an unbound :class:`~loketvalinso.mock.loket_render.LoketRenderer` method,
      (renderer, world row) → API item; also given the served version when ``versioned``;
    - ``employee_prefix``: the employee summary columns are joined in under this prefix first;
    - ``reference``: a reference list, whose pages may be kept a day (``Expires``).
    """

    name: str
    frame: str
    columns: Mapping[str, str]
    render: Callable[..., dict[str, Any]]
    versioned: bool = False
    employee_prefix: str | None = None
    reference: bool = False


def _declare_resources() -> dict[str, Resource]:
    """Every resource :data:`LISTS` and :data:`DETAILS` serve (see :class:`Resource`)."""
    employer_scope = {"_employer_id": "employer_id"}
    address = {  # the fields the renderer's address fills from the world
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
    render = LoketRenderer
    resources = (
        Resource(
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
            render.employer,
        ),
        Resource(
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
            render.payroll_administration,
        ),
        Resource(
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
            render.department,
        ),
        Resource(
            "functions",
            "functions",
            {"key": "key", "description": "description", "group": "group", **employer_scope},
            render.function,
        ),
        Resource(
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
            render.employee,
            versioned=True,
        ),
        Resource(
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
            render.employment,
            employee_prefix="employee",
        ),
        Resource(
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
            render.leave_request,
            employee_prefix="submittedby",
        ),
        Resource(
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
            render.leave,
        ),
        Resource(
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
            partial(render.balance, employer_wide=False),
        ),
        Resource(
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
            render.leave_type,
            reference=True,
        ),
        Resource(
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
            render.absence,
        ),
        Resource(
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
            render.national_holiday,
            reference=True,
        ),
    )
    return {resource.name: resource for resource in resources}


RESOURCES: dict[str, Resource] = _declare_resources()

#: Path parameters that name one row: parameter → (its resource, what 404 messages call it). The
#: row's employer decides 403 on every path that carries the parameter.
PATH_IDS: dict[str, tuple[str, str]] = {
    "employerId": ("employers", "Employer"),
    "employeeId": ("employees", "Employee"),
    "employmentId": ("employments", "Employment"),
    "leaveRequestId": ("leave_requests", "Leave request"),
    "leaveId": ("leave", "Leave"),
}

#: List endpoints: path template → resource. A page holds the resource's rows whose scope column
#: (:func:`list_scope`) equals the path's id, or is true on a path without an id.
LISTS: dict[str, str] = {
    "/providers/employers": "employers",
    "/providers/employers/{employerId}/payrolladministrations": "payroll_administrations",
    "/providers/employers/{employerId}/departments": "departments",
    "/providers/employers/{employerId}/functions": "functions",
    "/providers/employers/{employerId}/employees": "employees",
    "/providers/employers/{employerId}/employees/employments": "employments",
    "/providers/employers/{employerId}/employees/employments/leaverequests": "leave_requests",
    "/providers/employers/employees/employments/{employmentId}/leaverequests": "leave_requests",
    "/providers/employers/employees/employments/{employmentId}/leave": "leave",
    "/providers/employers/employees/employments/{employmentId}/leavebalances": (
        "employment_leave_balances"
    ),
    "/providers/employers/{employerId}/leavetypes": "leave_types",
    "/providers/employers/employees/{employeeId}/absences": "absences",
    "/providers/employers/{employerId}/nationalholidays": "national_holidays",
}
#: A list path's id → the scope column of its rows (every resource listed under it has one).
_LIST_SCOPES = {
    "employerId": "_employer_id",
    "employmentId": "_employment_id",
    "employeeId": "_employee_id",
}
_PATH_PARAM = re.compile(r"\{(\w+)\}")


def list_scope(template: str) -> str:
    """The scope column of list path ``template``: its id's, or ``_accessible`` without an id."""
    ids = _PATH_PARAM.findall(template)
    return _LIST_SCOPES[ids[0]] if ids else "_accessible"


#: Detail endpoints: path template → resource; the row is the one the path's id names.
DETAILS: dict[str, str] = {
    "/providers/employers/{employerId}": "employers",
    "/providers/employers/employees/{employeeId}": "employees",
    "/providers/employers/employees/employments/{employmentId}": "employments",
    "/providers/employers/employees/employments/leaverequests/{leaveRequestId}": "leave_requests",
    "/providers/employers/employees/employments/leave/{leaveId}": "leave",
}

# -- listings computed per query parameters: their query frames (over world employments) -------

#: ``…/{employerId}/leavebalances`` (employee summary joined in under ``employee``).
EMPLOYER_BALANCE_COLUMNS = {
    "id": "id",
    **_employee_meta_columns("employee"),
    "startdate": "start_date",
    "enddate": "end_date",
    "incomerelationshipnumber": "income_relationship_number",
    "payrolladministration.id": "payroll_administration_id",
    "organizationalentity.department.key": "department_id",
    "organizationalentity.function.key": "function_key",
}
#: ``…/{employerId}/actualorganizationalentities``.
ORGANIZATIONAL_ENTITY_COLUMNS = {
    "employmentid": "id",
    "organizationalentity.startdate": "start_date",
    "organizationalentity.enddate": "end_date",
    "organizationalentity.department.key": "department_id",
    "organizationalentity.function.key": "function_key",
}
#: ``…/calendar/leaverequests`` (employee summary joined in under ``employee``).
CALENDAR_COLUMNS = {
    "employee.id": "employee_id",
    "employee.formattedname": "employee.formattedname",
    "employment.id": "id",
    "department.key": "department_id",
}

# -- query frames (columns = lower-cased API dot paths) ---------------------------------------


def select_columns(frame: pl.DataFrame, mapping: Mapping[str, str]) -> pl.DataFrame:
    """``frame``'s columns renamed per ``mapping`` (query column → world column)."""
    return frame.select(*[pl.col(src).alias(name) for name, src in mapping.items()])


def with_employee(world: World, frame: pl.DataFrame, prefix: str) -> pl.DataFrame:
    """``frame`` with the employee summary of its ``employee_id`` joined in under ``prefix``."""
    summary = world.employees.select(
        pl.col("id").alias("_employee_key"),
        *[pl.col(src).alias(f"{prefix}.{api}") for api, src in EMPLOYEE_META_COLS.items()],
    )
    return frame.join(
        summary, left_on="employee_id", right_on="_employee_key", how="left", maintain_order="left"
    )


def query_frame(world: World, resource: Resource) -> pl.DataFrame:
    """The query frame of ``resource`` (without the row index the handler adds)."""
    frame = getattr(world, resource.frame)
    if resource.employee_prefix is not None:
        frame = with_employee(world, frame, resource.employee_prefix)
    return select_columns(frame, resource.columns)
