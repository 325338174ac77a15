"""World rows → the items of the mock Loket API's JSON bodies, per resource version.

:class:`LoketRenderer` holds, per world, the lookups that items embed (an employment's
``employee`` summary, a department, a payroll administration, …) and renders one row to one API
item, as a dict in the spec's field order; :func:`png` draws the photos and logos. Nothing here
knows of requests: the handler (:mod:`loketvalinso.mock.loket`) picks the rows, encodes the items
and wraps them in envelopes; :mod:`loketvalinso.mock.loket_resources` declares which renderer
serves which resource.
"""

from __future__ import annotations

import hashlib
import struct
import uuid
import zlib
from collections.abc import Mapping
from typing import Any

import orjson
import polars as pl

from loketvalinso.mock.world import World

__all__ = ["EMPLOYEE_META_COLS", "LoketRenderer", "png"]

_NL = {"key": 530, "value": "Nederland", "isoCode": "NL"}
_HOURS = {"key": 1, "value": "Uren"}

#: The employee summary (``employee``, ``submittedBy``): lower-cased API field (its query column
#: under the summary's prefix) → world column.
EMPLOYEE_META_COLS = {
    "id": "id",
    "employeenumber": "employee_number",
    "formattedname": "formatted_name",
    "firstname": "first_name",
    "initials": "initials",
    "prefix": "prefix",
    "lastname": "last_name",
    "dateofbirth": "date_of_birth",
}


def _meta(key: Any, value: Any) -> dict[str, Any] | None:
    return None if key is None else {"key": key, "value": value}


def _nz(value: str | None) -> str | None:
    # Nullable strings with minLength 1 in the spec: an empty string must become null.
    return value or None


def _r2(value: float | None) -> float | None:
    return None if value is None else round(float(value), 2)


def png(seed: str) -> bytes:
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


def _render_name(row: Mapping[str, Any]) -> dict[str, Any]:
    """The name fields of an employee summary and of an employee's ``personalDetails``."""
    return {
        "firstName": _nz(row["first_name"]),
        "initials": row["initials"],
        "prefix": _nz(row["prefix"]),
        "lastName": row["last_name"],
        "prefixPartner": None,
        "lastNamePartner": None,
    }


def _render_employee_meta(row: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "employeeNumber": row["employee_number"],
        "formattedName": row["formatted_name"],
        **_render_name(row),
        "dateOfBirth": row["date_of_birth"],
        "photo": f"/v2/providers/employers/employees/{row['id']}/photo",
    }


def _lookup(frame: pl.DataFrame, key: str, fields: Mapping[str, str]) -> dict[Any, dict[str, Any]]:
    """``frame``'s rows by their ``key`` column, each as {API field: its world column's value}."""
    return {
        row[key]: {api: row[column] for api, column in fields.items()}
        for row in frame.iter_rows(named=True)
    }


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


def _render_leave_entry(row: Mapping[str, Any]) -> dict[str, Any]:
    """The first fields of leave and of leave requests."""
    return {
        "id": row["id"],
        "startDate": row["start_date"],
        "endDate": row["end_date"],
        "numberOfUnits": _r2(row["number_of_units"]),
        "unitType": _meta(row["unit_type_key"], row["unit_type"]),
        "isAccrual": bool(row["is_accrual"]),
    }


class LoketRenderer:
    """Renders the rows of one :class:`~loketvalinso.mock.world.World` to Loket API items.

    The methods named after a resource (``employer``, ``employee``, …) take one world row (a
    dict of world columns) and return its item;
    :attr:`~loketvalinso.mock.loket_resources.Resource.render` names them unbound, and the
    handler binds them to its renderer.
    """

    def __init__(self, world: World) -> None:
        emp_cols = list(EMPLOYEE_META_COLS.values())
        self._employee_meta: dict[str, dict[str, Any]] = {
            row["id"]: _render_employee_meta(row)
            for row in world.employees.select(emp_cols).iter_rows(named=True)
        }
        self._department_meta = _lookup(
            world.departments, "id", {"key": "id", "code": "code", "description": "description"}
        )
        self._function_meta = _lookup(
            world.functions, "key", {"key": "key", "description": "description", "group": "group"}
        )
        self._payroll_meta = _lookup(
            world.payroll_administrations,
            "id",
            {
                "id": "id",
                "name": "name",
                "description": "description",
                "clientNumber": "client_number",
            },
        )
        self._balance_exceeds_year = {
            (row["employer_id"], row["leave_type_key"]): bool(row["balance_exceeds_year"])
            for row in world.leave_types.iter_rows(named=True)
        }
        self._employer_address = {
            row["id"]: _render_address(row, province=False)
            for row in world.employers.iter_rows(named=True)
        }

    # -- one world row → one item (the resources of loket_resources.RESOURCES) ----------------

    def employer(self, row: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": row["id"],
            "employerNumber": row["employer_number"],
            "companyName": row["company_name"],
            "chamberOfCommerceNumber": row["chamber_of_commerce_number"],
            "address": _render_address(row, province=True),
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

    def payroll_administration(self, row: dict[str, Any]) -> dict[str, Any]:
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

    def department(self, row: dict[str, Any]) -> dict[str, Any]:
        parent = row["sub_department_of_key"]
        return {
            "id": row["id"],
            "code": row["code"],
            "description": row["description"],
            "emailLeaveRequest": row["email_leave_request"],
            "subDepartmentOf": self._department_meta.get(parent) if parent is not None else None,
        }

    def function(self, row: dict[str, Any]) -> dict[str, Any]:
        return {"key": row["key"], "description": row["description"], "group": row["group"]}

    def employee(self, row: dict[str, Any], version: str) -> dict[str, Any]:
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
                **_render_name(row),
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
            "address": _render_address(row, province=False),
            "deviatingPostalAddress": None,
            "contactInformation": contact,
            "identityDocument": None,
            "travel": {"travelDistanceToWork": row["travel_distance_to_work"]},
            "exclusionFromAbsenceStatus": bool(row["exclusion_from_absence_status"]),
            "statusEmployeeSelfService": None,
            "revokeEmployeeSelfServiceAccessOn": None,
        }

    def _employment_head(self, row: dict[str, Any]) -> dict[str, Any]:
        """The first fields of an employment, also those of an employer-wide balance item."""
        return {
            "id": row["id"],
            "employee": self._employee_meta.get(row["employee_id"]),
            "startDate": row["start_date"],
            "endDate": row["end_date"],
            "historicalStartDate": None,
            "incomeRelationshipNumber": row["income_relationship_number"],
        }

    def employment(self, row: dict[str, Any]) -> dict[str, Any]:
        return {
            **self._employment_head(row),
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

    def _leave_type(self, row: dict[str, Any]) -> dict[str, Any]:
        """The ``leaveType`` of leave and balances: with its employer's ``balanceExceedsYear``."""
        return {
            "key": row["leave_type_key"],
            "value": row["leave_type"],
            "balanceExceedsYear": self._balance_exceeds_year.get(
                (row["employer_id"], row["leave_type_key"]), False
            ),
        }

    def leave_request(self, row: dict[str, Any]) -> dict[str, Any]:
        return {
            **_render_leave_entry(row),
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

    def leave(self, row: dict[str, Any]) -> dict[str, Any]:
        related = row["related_leave_request_id"]
        return {
            **_render_leave_entry(row),
            "leaveType": self._leave_type(row),
            "comment": row["comment"],
            "origin": {
                "meansOfCreation": _meta(row["means_of_creation_key"], row["means_of_creation"])
                or {"key": 1, "value": "Handmatig"},
                "leavePolicy": None,
            },
            "relatedLeave": None,
            "relatedLeaveRequest": None if related is None else {"id": related},
        }

    def balance(self, row: dict[str, Any], *, employer_wide: bool) -> dict[str, Any]:
        through, after = (
            ("usageThroughReferenceDate", "usageAfterReferenceDate")
            if employer_wide
            else ("usageThroughToday", "usageAfterToday")
        )
        item = {
            "year": row["year"],
            "leaveType": self._leave_type(row),
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

    def absence(self, row: dict[str, Any]) -> dict[str, Any]:
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

    def leave_type(self, row: dict[str, Any]) -> dict[str, Any]:
        leave_type = {
            "key": row["leave_type_key"],
            "value": row["leave_type"],
            "balanceExceedsYear": bool(row["balance_exceeds_year"]),
            "employeeCanRequestIncrease": bool(row["employee_can_request_increase"]),
            "enabled": bool(row["enabled"]),
        }
        return {"id": row["id"], "leaveType": leave_type, "deviations": None}

    def national_holiday(self, row: dict[str, Any]) -> dict[str, Any]:
        holiday = {
            "key": row["national_holiday_key"],
            "value": row["national_holiday"],
            "dateInCurrentYear": row["date_in_current_year"],
            "enabled": bool(row["enabled"]),
        }
        return {"id": row["id"], "nationalHoliday": holiday, "deviations": None}

    # -- listings computed per query parameters: the handler picks the rows ------------------

    def employer_balances(self, employments: pl.DataFrame, balances: pl.DataFrame) -> list[bytes]:
        """One encoded item per employment, with its ``balances`` (in their order)."""
        by_employment: dict[str, list[dict[str, Any]]] = {}
        for row in balances.iter_rows(named=True):
            by_employment.setdefault(row["employment_id"], []).append(
                self.balance(row, employer_wide=True)
            )
        encoded: list[bytes] = []
        for row in employments.iter_rows(named=True):
            department = self._department_meta.get(row["department_id"])
            function = self._function_meta.get(row["function_key"])
            encoded.append(
                orjson.dumps(
                    {
                        **self._employment_head(row),
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
        return encoded

    def organizational_entities(self, employments: pl.DataFrame) -> list[bytes]:
        """One encoded item per employment: its one organisational entity."""
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
        return encoded

    @staticmethod
    def calendars(requests: pl.DataFrame) -> dict[str, list[dict[str, Any]]]:
        """Employment id → the calendar entries of its ``requests`` (in their order)."""
        calendars: dict[str, list[dict[str, Any]]] = {}
        for row in requests.select("employment_id", "start_date", "end_date").iter_rows(named=True):
            calendars.setdefault(row["employment_id"], []).append(
                {"startDate": row["start_date"], "endDate": row["end_date"], "details": None}
            )
        return calendars

    def calendar(
        self, employments: pl.DataFrame, calendars: Mapping[str, list[dict[str, Any]]]
    ) -> list[bytes]:
        """One encoded item per employment (employee summary joined in under ``employee.``)."""
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
        return encoded
