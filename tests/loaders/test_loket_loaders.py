"""The Loket named loaders against the mock's ground truth (``world``): ids and values.

The world names columns short (``first_name``); the loaders use the full flattened API paths
(``personal_details_first_name``). The mappings below are written by hand from the API's field
tree, so a renamed or mis-flattened column fails here.
"""

from __future__ import annotations

import warnings
from datetime import date

import polars as pl
import pytest
from polars.testing import assert_frame_equal

import loketvalinso as lv
from loketvalinso._frames.spec import schema_for
from loketvalinso.errors import (
    CacheWarning,
    ConfigurationError,
    ObsoleteVersionWarning,
    PermissionDeniedError,
)
from loketvalinso.mock.world import leave_balances_at
from tests.conftest import password_token

# world column → loader column (identity where not listed)
EMPLOYEES = {
    "first_name": "personal_details_first_name",
    "initials": "personal_details_initials",
    "prefix": "personal_details_prefix",
    "last_name": "personal_details_last_name",
    "formatted_name": "personal_details_formatted_name",
    "date_of_birth": "personal_details_date_of_birth",
    "aow_date": "personal_details_aow_date",
    "gender_key": "personal_details_gender_key",
    "gender": "personal_details_gender",
    "email_address": "contact_information_email_address",
    "phone_number": "contact_information_phone_number",
    "mobile_phone_number": "contact_information_mobile_phone_number",
    "business_email_address": "contact_information_business_email_address",
    "business_phone_number": "contact_information_business_phone_number",
    "business_mobile_phone_number": "contact_information_business_mobile_phone_number",
    "travel_distance_to_work": "travel_travel_distance_to_work",
}
BUSINESS = [
    "contact_information_business_email_address",
    "contact_information_business_phone_number",
    "contact_information_business_mobile_phone_number",
]
LEAVE_TYPES = {
    "balance_exceeds_year": "leave_type_balance_exceeds_year",
    "employee_can_request_increase": "leave_type_employee_can_request_increase",
    "enabled": "leave_type_enabled",
}
ABSENCES = {"current_incapacity_percentage": "progress_current_incapacity_percentage"}
HOLIDAYS = {
    "date_in_current_year": "national_holiday_date_in_current_year",
    "enabled": "national_holiday_enabled",
}


def compare(
    loaded: pl.DataFrame,
    truth: pl.DataFrame,
    columns: list[str],
    *,
    mapping: dict[str, str] | None = None,
    key: str = "id",
) -> None:
    """``loaded`` (renamed to world names) equals ``truth`` on ``columns``, row for row by key."""
    mapping = mapping or {}
    got = loaded.select(pl.col(mapping.get(c, c)).alias(c) for c in columns).sort(key)
    want = truth.select(columns).sort(key)
    # nullable strings with minLength 1: the API sends null for an empty string
    want = want.with_columns(
        pl.when(pl.col(c) == "").then(None).otherwise(pl.col(c)).alias(c)
        for c, d in want.schema.items()
        if d == pl.String
    )
    assert got.height == want.height
    assert_frame_equal(got, want, check_dtypes=False, check_exact=False, abs_tol=0.006)


@pytest.fixture(scope="module")
def mock(world):
    return lv.mock.in_process(seed=42, world=world)


@pytest.fixture(scope="module")
def loket(mock):
    client = lv.Loket.from_mock(mock, flow="password", cache=False, progress=False)
    yield client
    client.close()


@pytest.fixture(scope="module")
def employer_id(world) -> str:
    return world.employers.filter(pl.col("accessible"))["id"][0]


def of(frame: pl.DataFrame, employer_id: str) -> pl.DataFrame:
    return frame.filter(pl.col("employer_id") == employer_id)


# -- one loader at a time ------------------------------------------------------------------------


def test_employers_are_the_accessible_ones(loket, world) -> None:
    df = loket.employers()
    cols = [c for c in world.employers.columns if c != "accessible"]
    compare(df, world.employers.filter(pl.col("accessible")), cols)
    hidden = world.employers.filter(~pl.col("accessible"))["id"][0]
    with pytest.raises(PermissionDeniedError):
        loket.employer(hidden)
    one = loket.employer(df["id"][0])
    assert one["company_name"].to_list() == df["company_name"][:1].to_list()


def test_payroll_departments_functions(loket, world, employer_id) -> None:
    pa = loket.payroll_administrations(employer_id)
    compare(
        pa, of(world.payroll_administrations, employer_id), world.payroll_administrations.columns
    )
    deps = loket.departments(employer_id)
    compare(deps, of(world.departments, employer_id), world.departments.columns)
    funs = loket.functions(employer_id)
    compare(funs, of(world.functions, employer_id), world.functions.columns, key="key")
    assert funs.columns[:2] == ["employer_id", "key"]


def test_employees_both_versions(loket, world, employer_id) -> None:
    truth = of(world.employees, employer_id)
    new = loket.employees(employer_id)
    assert loket.last_load.versions == {"2021-03-29"}
    compare(new, truth, truth.columns, mapping=EMPLOYEES)
    assert set(BUSINESS) <= set(new.columns)
    with pytest.warns(ObsoleteVersionWarning, match="2021-09-29"):
        old = loket.employees(employer_id, version="2018-12-31")
    assert loket.last_load.versions == {"2018-12-31"}
    assert loket.last_load.obsolete_dates == {"2021-09-29"}
    assert not set(BUSINESS) & set(old.columns)
    old_cols = [c for c in truth.columns if not c.startswith("business_")]
    compare(old, truth, old_cols, mapping=EMPLOYEES)
    assert set(new.columns) - set(old.columns) == set(BUSINESS)


def test_employments(loket, world, employer_id) -> None:
    df = loket.employments(employer_id)
    truth = of(world.employments, employer_id)
    cols = [
        c for c in truth.columns if c not in ("department_id", "function_key", "hours_per_week")
    ]
    compare(df, truth, cols)
    assert df.columns[:3] == ["employer_id", "employee_id", "id"]
    assert "department_id" not in df.columns


def test_employments_with_department(loket, world, employer_id) -> None:
    df = loket.employments(employer_id, with_department=True)
    truth = of(world.employments, employer_id)
    compare(df, truth, ["id", "department_id", "function_key"])
    names = world.departments.select(pl.col("id").alias("department_id"), "description")
    want = truth.join(names, on="department_id", how="left").select("id", "description").sort("id")
    assert df.sort("id")["department"].to_list() == want["description"].to_list()
    funs = world.functions.select("key", "description")
    want = truth.join(funs, left_on="function_key", right_on="key", how="left").sort("id")
    assert df.sort("id")["function"].to_list() == want["description"].to_list()
    assert df.columns[:7] == [
        "employer_id", "employee_id", "id", "department_id", "department", "function_key", "function",
    ]  # fmt: skip
    assert loket.last_load.requests == 2  # employments + organisational entities, merged


def test_organizational_entities_reference_date(loket, world, employer_id) -> None:
    early = date(2018, 1, 1)
    df = loket.organizational_entities(employer_id, reference_date=early)
    truth = of(world.employments, employer_id).filter(pl.col("start_date") <= early)
    assert sorted(df["employment_id"]) == sorted(truth["id"])
    got = df.select(
        pl.col("employment_id").alias("id"),
        pl.col("organizational_entity_department_key").alias("department_id"),
        pl.col("organizational_entity_function_key").alias("function_key"),
    )
    compare(got, truth, ["id", "department_id", "function_key"])
    # not started yet on that date: no department
    later = loket.employments(employer_id, with_department=True, reference_date=early)
    started = set(truth["id"])
    assert later.filter(~pl.col("id").is_in(started))["department_id"].null_count() == (
        later.height - len(started)
    )


def test_leave_types_and_holidays(loket, world, employer_id) -> None:
    compare(
        loket.leave_types(employer_id),
        of(world.leave_types, employer_id),
        world.leave_types.columns,
        mapping=LEAVE_TYPES,
    )
    compare(
        loket.national_holidays(employer_id),
        of(world.national_holidays, employer_id),
        world.national_holidays.columns,
        mapping=HOLIDAYS,
    )


REQUEST_COLS = [
    "id", "employee_id", "start_date", "end_date", "number_of_units", "unit_type_key",
    "unit_type", "is_accrual", "leave_type_key", "leave_type", "leave_request_status_key",
    "leave_request_status", "submitted_on", "handled_time", "handled_by_id", "comment_employee",
    "comment_handler", "currently_available_units",
]  # fmt: skip


def test_leave_requests_employer_wide(loket, world, employer_id) -> None:
    df = loket.leave_requests(employer_id)
    compare(df, of(world.leave_requests, employer_id), ["employer_id", *REQUEST_COLS])
    assert df.columns[:3] == ["employer_id", "employee_id", "id"]
    assert df["employee_id"].to_list() == df["submitted_by_id"].to_list()


def test_leave_requests_start_end_overlap(loket, world, employer_id) -> None:
    start, end = date(2025, 7, 1), date(2025, 7, 31)
    df = loket.leave_requests(employer_id, start=start, end=end)
    truth = of(world.leave_requests, employer_id)
    # overlap, selected independently: not (ends before start or starts after end)
    overlap = truth.filter(~((pl.col("end_date") < start) | (pl.col("start_date") > end)))
    assert 0 < overlap.height < truth.height
    compare(df, overlap, REQUEST_COLS)
    only = loket.leave_requests(employer_id, start=start, end=end, filter="leaveType.key eq 16")
    compare(only, overlap.filter(pl.col("leave_type_key") == 16), REQUEST_COLS)


def test_leave_requests_per_employment(loket, world, employer_id) -> None:
    employment = of(world.leave_requests, employer_id)["employment_id"][0]
    df = loket.leave_requests(employment_id=employment)
    truth = world.leave_requests.filter(pl.col("employment_id") == employment)
    compare(df, truth, ["employment_id", *REQUEST_COLS])
    assert df.columns[:3] == ["employment_id", "employee_id", "id"]


LEAVE_COLS = [
    "id", "employer_id", "employment_id", "start_date", "end_date", "number_of_units",
    "unit_type_key", "unit_type", "is_accrual", "leave_type_key", "leave_type", "comment",
    "related_leave_request_id",
]  # fmt: skip


def test_leave_ledger_walks_employments(loket, world, employer_id) -> None:
    df = loket.leave(employer_id)
    compare(df, of(world.leave, employer_id), LEAVE_COLS)
    assert df.columns[:3] == ["employer_id", "employment_id", "id"]
    n_employments = of(world.employments, employer_id).height
    assert loket.last_load.requests >= n_employments + 1


BALANCE_COLS = [
    "employment_id", "employer_id", "employee_id", "year", "leave_type_key", "leave_type",
    "balance_previous_year", "accrual", "usage_through_reference_date",
    "usage_after_reference_date", "usage_total", "expires", "balance",
]  # fmt: skip


def _balances_truth(world, employer_id: str, reference: date) -> pl.DataFrame:
    year = reference.year
    active = of(world.employments, employer_id).filter(
        (pl.col("start_date") <= date(year, 12, 31))
        & (pl.col("end_date").is_null() | (pl.col("end_date") >= date(year, 1, 1)))
    )
    return (
        leave_balances_at(world, reference)
        .filter(pl.col("year") == year)
        .filter(pl.col("employment_id").is_in(active["id"].implode()))
        .with_columns(k=pl.col("employment_id") + ":" + pl.col("leave_type_key").cast(pl.String))
    )


def _balances_loaded(df: pl.DataFrame) -> pl.DataFrame:
    return df.rename({"id": "employment_id"}).with_columns(
        k=pl.col("employment_id") + ":" + pl.col("leave_type_key").cast(pl.String)
    )


def test_leave_balances_all_types_by_default(loket, world, employer_id) -> None:
    df = loket.leave_balances(employer_id)
    truth = _balances_truth(world, employer_id, world.reference_date)
    assert truth["leave_type_key"].n_unique() > 1
    compare(_balances_loaded(df), truth, ["k", *BALANCE_COLS], key="k")
    # the world's own balances frame agrees for that year
    direct = of(world.leave_balances, employer_id).filter(
        pl.col("year") == world.reference_date.year
    )
    assert sorted(direct["employment_id"] + direct["leave_type_key"].cast(pl.String)) == sorted(
        df["id"] + df["leave_type_key"].cast(pl.String)
    )


def test_leave_balances_other_date_and_narrowed(loket, world, employer_id) -> None:
    reference = date(2025, 6, 15)
    df = loket.leave_balances(employer_id, reference, leave_types=[15])
    truth = _balances_truth(world, employer_id, reference).filter(pl.col("leave_type_key") == 15)
    assert truth.height
    compare(_balances_loaded(df), truth, ["k", *BALANCE_COLS], key="k")


ABSENCE_COLS = [
    "id", "employer_id", "employee_id", "start_date", "end_date", "cause_of_absence_key",
    "cause_of_absence", "current_incapacity_percentage", "is_work_related_illness",
    "is_recovered_within_two_weeks", "is_disrupted_employment_relationship",
]  # fmt: skip


def test_absences_walk_employees(loket, world, employer_id) -> None:
    df = loket.absences(employer_id)
    compare(df, of(world.absences, employer_id), ABSENCE_COLS, mapping=ABSENCES)
    assert df.columns[:5] == ["employer_id", "employee_id", "id", "start_date", "end_date"]
    assert df["end_date"].null_count() == of(world.absences, employer_id)["end_date"].null_count()


def test_leave_calendar(loket, world, employer_id) -> None:
    start, end = date(2026, 1, 1), date(2026, 12, 31)
    df = loket.leave_calendar(employer_id, start, end)
    truth = of(world.leave_requests, employer_id).filter(
        (pl.col("leave_request_status").str.to_lowercase() == "ingediend")
        & ~((pl.col("end_date") < start) | (pl.col("start_date") > end))
    )
    cols = ["employment_id", "employee_id", "start_date", "end_date"]
    assert sorted(df.select(cols).rows()) == sorted(truth.select(cols).rows())


# -- empty results keep the full schema --------------------------------------------------------


def test_empty_results_have_the_full_schema(loket, world, employer_id) -> None:
    cases = {
        "employees": (
            lambda: loket.employees(employer_id),
            lambda: loket.employees(employer_id, filter="employeeNumber eq -1"),
        ),
        "leave_requests": (
            lambda: loket.leave_requests(employer_id),
            lambda: loket.leave_requests(employer_id, start="1990-01-01", end="1990-12-31"),
        ),
        "leave": (
            lambda: loket.leave(employer_id, employment_ids=of(world.employments, employer_id)["id"][:3]),
            lambda: loket.leave(employer_id, employment_ids=[]),
        ),
        "absences": (
            lambda: loket.absences(employer_id, employee_ids=of(world.absences, employer_id)["employee_id"][:3]),
            lambda: loket.absences(employer_id, employee_ids=[]),
        ),
        "balances": (
            lambda: loket.leave_balances(employer_id, leave_types=[16]),
            lambda: loket.leave_balances(employer_id, leave_types=[]),
        ),
        "employments": (
            lambda: loket.employments(employer_id, with_department=True),
            lambda: loket.employments(employer_id, with_department=True, filter="payrollId eq -1"),
        ),
        "calendar": (
            lambda: loket.leave_calendar(employer_id, "2026-01-01", "2026-12-31"),
            lambda: loket.leave_calendar(employer_id, "1990-01-01", "1990-01-02"),
        ),
    }  # fmt: skip
    for name, (full, empty) in cases.items():
        a, b = full(), empty()
        assert a.height > 0, name
        assert b.height == 0, name
        assert b.schema == a.schema, name


def test_generic_get_matches_named_and_orders_columns(loket, employer_id) -> None:
    named = loket.departments(employer_id)
    generic = loket.get("/providers/employers/{employerId}/departments", employer_id=employer_id)
    assert_frame_equal(named, generic)
    spec = schema_for("/providers/employers/{employerId}/departments")
    rest = [c for c in spec.schema.names() if c not in ("employer_id", "id")]
    assert generic.columns == ["employer_id", "id", *rest]


def test_get_page_size_param_and_page_number_refused(loket, mock, world, employer_id) -> None:
    before = mock.app.count(path_prefix="/v2/providers/employers/" + employer_id + "/employees")
    df = loket.get(
        "/providers/employers/{employerId}/employees",
        employer_id=employer_id,
        params={"pageSize": 50},
    )
    after = mock.app.count(path_prefix="/v2/providers/employers/" + employer_id + "/employees")
    n = of(world.employees, employer_id).height
    assert df.height == n
    assert after - before == -(-n // 50)
    with pytest.raises(ConfigurationError, match="pageNumber"):
        loket.get(
            "/providers/employers/{employerId}/employees",
            employer_id=employer_id,
            params={"pageNumber": 2},
        )


def test_served_version_fetches_one_item(loket, mock, employer_id) -> None:
    n = len(mock.app.requests)
    got = loket.served_version("employees", employer_id=employer_id)
    assert got == {"resource_version": "2021-03-29", "obsolete_date": None}
    assert len(mock.app.requests) == n + 1
    last = mock.app.requests[-1]
    assert "pageSize=1" in last.query and "pageNumber=1" in last.query
    old = loket.served_version("employees", employer_id=employer_id, version="2020-01-01")
    assert old == {"resource_version": "2018-12-31", "obsolete_date": "2021-09-29"}
    detail = loket.served_version("employer", employer_id=employer_id)
    assert detail == {"resource_version": "2018-01-01", "obsolete_date": None}


# -- over real HTTP ------------------------------------------------------------------------------


def test_over_real_http(served_mock, world, employer_id) -> None:
    with lv.Loket.from_mock(served_mock, cache=False, progress=False) as loket:
        compare(
            loket.employers(), world.employers.filter(pl.col("accessible")), ["id", "company_name"]
        )
        compare(loket.leave(employer_id), of(world.leave, employer_id), LEAVE_COLS)


def test_keep_for_offline_then_offline(world, employer_id, tmp_path) -> None:
    with lv.mock.serve(seed=42, world=world) as m:
        common = {
            "base_url": m.loket_url,
            "token_url": m.token_url,
            "client_id": m.credentials.client_id,
            "access_token": password_token(m, transport=m.transport),
            "cache": tmp_path / "cache",
            "progress": False,
        }
        with lv.Loket(**common) as plain:
            plain.leave_requests(employer_id)
        with pytest.raises(lv.errors.CacheMissError), lv.Loket(**common, offline=True) as off:
            off.leave_requests(employer_id)  # nothing was kept: list pages are not reusable
        with lv.Loket(**common, keep_for_offline=True) as online:
            first = online.leave_requests(employer_id)
        n = len(m.app.requests)
        with (
            lv.Loket(**common, offline=True) as offline,
            warnings.catch_warnings(record=True) as seen,
        ):
            warnings.simplefilter("always")
            again = offline.leave_requests(employer_id)
        assert len(m.app.requests) == n  # zero requests
        assert any(issubclass(w.category, CacheWarning) for w in seen)
        assert_frame_equal(again, first)
    with pytest.raises(ConfigurationError, match="keep_for_offline"):
        lv.Loket(
            base_url="http://127.0.0.1:1/v2", access_token="t", cache=False, keep_for_offline=True
        )
