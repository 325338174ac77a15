"""The schema of the mock's world: the ground truth every test compares loads against.

Column names follow the loaders' conventions so a test can compare a load with the world directly:
snake_case; a metadata object ``{key, value}`` named ``field`` becomes ``field_key`` + ``field``;
path ids the API items lack (``employer_id``, ``employment_id``, ``employee_id``) are columns.
Every frame of :class:`~loketvalinso.mock.world.World` has exactly the columns below, in this
order, with these dtypes (``world.py`` may add frames, never drop or rename these columns).
Ids of Loket entities are lower-case UUID strings; Valinso ids are integers.
"""

from __future__ import annotations

import polars as pl

UTC = "UTC"
DT = pl.Datetime("us", UTC)

LOKET_SCHEMAS: dict[str, dict[str, pl.DataType]] = {
    # GET /providers/employers (+ detail). ``accessible`` False = the user gets 403 for it
    # (it is not listed by /providers/employers either).
    "employers": {
        "id": pl.String(),
        "employer_number": pl.Int32(),
        "company_name": pl.String(),
        "chamber_of_commerce_number": pl.String(),
        "address_street": pl.String(),
        "address_house_number": pl.Int32(),
        "address_postal_code": pl.String(),
        "address_city": pl.String(),
        "contact_information_email_address": pl.String(),
        "contact_information_website": pl.String(),
        "legal_form_key": pl.Int32(),
        "legal_form": pl.String(),
        "sbi_key": pl.Int32(),
        "sbi": pl.String(),
        "sbi_sbi_code": pl.String(),
        "accessible": pl.Boolean(),
    },
    "payroll_administrations": {
        "id": pl.String(),
        "employer_id": pl.String(),
        "name": pl.String(),
        "description": pl.String(),
        "client_number": pl.Int32(),
        "group_code": pl.Int32(),
        "start_date": pl.Date(),
        "end_date": pl.Date(),
        "payroll_period_type_key": pl.Int32(),
        "payroll_period_type": pl.String(),
    },
    "departments": {
        "id": pl.String(),
        "employer_id": pl.String(),
        "code": pl.Int32(),
        "description": pl.String(),
        "email_leave_request": pl.String(),
        "sub_department_of_key": pl.String(),  # parent department id or null
    },
    # Functions are identified by ``key`` (a uuid) in the real API, not ``id``.
    "functions": {
        "key": pl.String(),
        "employer_id": pl.String(),
        "description": pl.String(),
        "group": pl.String(),
    },
    "employees": {
        "id": pl.String(),
        "employer_id": pl.String(),
        "employee_number": pl.Int32(),
        "first_name": pl.String(),
        "initials": pl.String(),
        "prefix": pl.String(),
        "last_name": pl.String(),
        "formatted_name": pl.String(),
        "date_of_birth": pl.Date(),
        "aow_date": pl.Date(),
        "gender_key": pl.Int32(),
        "gender": pl.String(),
        "address_street": pl.String(),
        "address_house_number": pl.Int32(),
        "address_postal_code": pl.String(),
        "address_city": pl.String(),
        "email_address": pl.String(),
        "phone_number": pl.String(),
        "mobile_phone_number": pl.String(),
        # only served in resource version 2021-03-29 (contactInformation.business*)
        "business_email_address": pl.String(),
        "business_phone_number": pl.String(),
        "business_mobile_phone_number": pl.String(),
        "exclusion_from_absence_status": pl.Boolean(),
        "travel_distance_to_work": pl.Int32(),
    },
    # One row per employment; employees may have several (re-hired), some ended.
    "employments": {
        "id": pl.String(),
        "employer_id": pl.String(),
        "employee_id": pl.String(),
        "payroll_administration_id": pl.String(),
        "department_id": pl.String(),
        "function_key": pl.String(),
        "start_date": pl.Date(),
        "end_date": pl.Date(),
        "income_relationship_number": pl.Int32(),
        "payroll_id": pl.Int32(),
        "employment_duration_type_key": pl.Int32(),
        "employment_duration_type": pl.String(),
        "type_of_employee_key": pl.Int32(),
        "type_of_employee": pl.String(),
        "hours_per_week": pl.Float64(),
        "is_on_call_employment": pl.Boolean(),
    },
    # GET /providers/employers/{employerId}/leavetypes; leave_type_key 1 (bovenwettelijk),
    # 15 (wettelijk), 16 (Verlof) at least.
    "leave_types": {
        "id": pl.String(),
        "employer_id": pl.String(),
        "leave_type_key": pl.Int32(),
        "leave_type": pl.String(),
        "balance_exceeds_year": pl.Boolean(),
        "employee_can_request_increase": pl.Boolean(),
        "enabled": pl.Boolean(),
    },
    # Status keys/values: 1 ingediend, 2 toegekend, 3 afgewezen (the mock's choice, documented).
    "leave_requests": {
        "id": pl.String(),
        "employer_id": pl.String(),
        "employment_id": pl.String(),
        "employee_id": pl.String(),
        "start_date": pl.Date(),
        "end_date": pl.Date(),
        "number_of_units": pl.Float64(),  # hours
        "unit_type_key": pl.Int32(),
        "unit_type": pl.String(),
        "is_accrual": pl.Boolean(),
        "leave_type_key": pl.Int32(),
        "leave_type": pl.String(),
        "leave_request_status_key": pl.Int32(),
        "leave_request_status": pl.String(),
        "submitted_on": DT,
        "handled_time": DT,
        "handled_by_id": pl.String(),
        "comment_employee": pl.String(),
        "comment_handler": pl.String(),
        "currently_available_units": pl.Float64(),
    },
    # The ledger (GET …/employments/{employmentId}/leave): accruals (is_accrual, positive hours)
    # and taken leave (not accrual, positive hours, related_leave_request_id set for taken leave
    # that came from an accepted request).
    "leave": {
        "id": pl.String(),
        "employer_id": pl.String(),
        "employment_id": pl.String(),
        "start_date": pl.Date(),
        "end_date": pl.Date(),
        "number_of_units": pl.Float64(),
        "unit_type_key": pl.Int32(),
        "unit_type": pl.String(),
        "is_accrual": pl.Boolean(),
        "leave_type_key": pl.Int32(),
        "leave_type": pl.String(),
        "comment": pl.String(),
        "related_leave_request_id": pl.String(),
        "means_of_creation_key": pl.Int32(),
        "means_of_creation": pl.String(),
    },
    # One row per employment × year × leave type, as of World.reference_date. Adds up from the
    # ledger: balance = balance_previous_year + accrual - usage_total - expires, where usage_total
    # = usage_through_reference_date + usage_after_reference_date (taken leave of that year).
    "leave_balances": {
        "employment_id": pl.String(),
        "employer_id": pl.String(),
        "employee_id": pl.String(),
        "year": pl.Int32(),
        "leave_type_key": pl.Int32(),
        "leave_type": pl.String(),
        "balance_previous_year": pl.Float64(),
        "accrual": pl.Float64(),
        "usage_through_reference_date": pl.Float64(),
        "usage_after_reference_date": pl.Float64(),
        "usage_total": pl.Float64(),
        "expires": pl.Float64(),
        "balance": pl.Float64(),
    },
    # Sick leave; start_date = progress.startDate, end_date = progress.endOfAbsence.date (null
    # while ongoing). Winter peaks.
    "absences": {
        "id": pl.String(),
        "employer_id": pl.String(),
        "employee_id": pl.String(),
        "employment_id": pl.String(),
        "start_date": pl.Date(),
        "end_date": pl.Date(),
        "cause_of_absence_key": pl.Int32(),
        "cause_of_absence": pl.String(),
        "current_incapacity_percentage": pl.Int32(),
        "is_work_related_illness": pl.Boolean(),
        "is_recovered_within_two_weeks": pl.Boolean(),
        "is_disrupted_employment_relationship": pl.Boolean(),
        "end_of_absence_reason_key": pl.Int32(),
        "end_of_absence_reason": pl.String(),
    },
    # GET /providers/employers/{employerId}/nationalholidays: one row per employer × holiday
    # (key, name) with its date in the world's "current year" (the year of reference_date).
    "national_holidays": {
        "id": pl.String(),
        "employer_id": pl.String(),
        "national_holiday_key": pl.Int32(),
        "national_holiday": pl.String(),
        "date_in_current_year": pl.Date(),
        "enabled": pl.Boolean(),
    },
}

VALINSO_SCHEMAS: dict[str, dict[str, pl.DataType]] = {
    # The 422 example's fields (client_id, name, email, phone) are the location's.
    "locations": {
        "id": pl.Int64(),
        "client_id": pl.Int64(),
        "name": pl.String(),
        "email": pl.String(),
        "phone": pl.String(),
        "address": pl.String(),
        "city": pl.String(),
        "latitude": pl.Float64(),
        "longitude": pl.Float64(),
    },
    "devices": {
        "id": pl.Int64(),
        "location_id": pl.Int64(),
        "name": pl.String(),
        "serial_number": pl.String(),
        "model": pl.String(),
        "status": pl.String(),
        "installed_at": DT,
    },
    "products": {
        "id": pl.Int64(),
        "name": pl.String(),
        "category": pl.String(),
        "price": pl.Decimal(10, 2),
        "currency": pl.String(),
    },
    # Sorted by id; id increases with timestamp. price is the unit price; the line total is
    # price × quantity.
    "vends": {
        "id": pl.Int64(),
        "device_id": pl.Int64(),
        "product_id": pl.Int64(),
        "location_id": pl.Int64(),
        "selection": pl.String(),
        "quantity": pl.Int32(),
        "price": pl.Decimal(10, 2),
        "currency": pl.String(),
        "payment_type": pl.String(),  # cash | card | mobile | contactless
        "status": pl.String(),  # success | failed | refunded
        "timestamp": DT,
    },
}

ALL_SCHEMAS = {**LOKET_SCHEMAS, **VALINSO_SCHEMAS}
