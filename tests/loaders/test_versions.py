"""Resource versions: per-call ``version=``, the client default, ``versions={}``/``set_version``,
what ``last_load`` reports, and the errors for versions that do not exist."""

from __future__ import annotations

import warnings

import polars as pl
import pytest

import loketvalinso as lv
from loketvalinso.errors import ObsoleteVersionWarning, VersionError

BUSINESS = "contact_information_business_email_address"


@pytest.fixture(scope="module")
def mock(world):
    return lv.mock.in_process(seed=42, world=world)


@pytest.fixture(scope="module")
def employer_id(world) -> str:
    return world.employers.filter(pl.col("accessible"))["id"][0]


def _client(mock, **options):
    return lv.Loket.from_mock(mock, flow="password", cache=False, progress=False, **options)


def _load_employees(client, employer_id, **kw) -> pl.DataFrame:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ObsoleteVersionWarning)
        return client.employees(employer_id, **kw)


def test_client_default_date(mock, employer_id) -> None:
    with _client(mock, version="2020-06-01") as old:
        df = _load_employees(old, employer_id)
        assert old.last_load.versions == {"2018-12-31"}
        assert old.last_load.obsolete_dates == {"2021-09-29"}
        assert BUSINESS not in df.columns
        # the default date also picks the (only) version of other resources
        old.employments(employer_id)
        assert old.last_load.versions == {"2019-12-16"}


def test_versions_mapping_and_set_version(mock, employer_id) -> None:
    with _client(mock, versions={"employees": "2019-01-01"}) as c:
        assert BUSINESS not in _load_employees(c, employer_id).columns
        c.set_version("employees", None)
        assert BUSINESS in c.employees(employer_id).columns
        assert c.last_load.versions == {"2021-03-29"}
        c.set_version("/providers/employers/{employerId}/employees", "2018-12-31")
        assert c.resolve_version("employees") == "2018-12-31"
        # a per-call version wins over the per-resource one
        assert BUSINESS in c.employees(employer_id, version="2021-03-29").columns


def test_obsolete_version_warns(mock, employer_id) -> None:
    with _client(mock) as c, pytest.warns(ObsoleteVersionWarning, match="2021-03-29"):
        c.employees(employer_id, version="2018-12-31")


@pytest.mark.parametrize(
    ("version", "fragment"),
    [("yesterday", "malformed"), ("2021-02-30", "malformed"), ("2017-01-01", "on or before")],
)
def test_bad_versions_list_the_existing_ones(mock, employer_id, version, fragment) -> None:
    with _client(mock) as c:
        for call in (
            lambda: c.employees(employer_id, version=version),
            lambda: c.set_version("employees", version),
        ):
            with pytest.raises(VersionError, match=fragment) as info:
                call()
            assert "2018-12-31" in str(info.value) and "2021-03-29" in str(info.value)


def test_malformed_client_default(mock) -> None:
    with pytest.raises(VersionError, match="YYYY-MM-DD"):
        _client(mock, version="2021/03/29")
    with pytest.raises(VersionError, match="2019-12-16"):
        _client(mock, versions={"employments": "2018-01-01"})


def test_every_named_loader_takes_version(mock, employer_id) -> None:
    with _client(mock) as c:
        assert c.departments(employer_id, version="2030-01-01").height
        assert c.last_load.versions == {"2018-01-01"}
        with pytest.raises(VersionError):
            c.absences(employer_id, employee_ids=[], version="2019-01-01")
        with pytest.raises(VersionError):
            c.leave_balances(employer_id, leave_types=[16], version="2010-01-01")


def test_resource_versions_lists_the_documented_versions() -> None:
    import loketvalinso as lv

    loket = lv.Loket(base_url="http://mock.local/v2", access_token="t", cache=False)
    assert loket.resource_versions("employees") == ["2018-12-31", "2021-03-29"]
    assert loket.resource_versions("employments") == ["2019-12-16"]
    assert loket.resource_versions("/providers/employers/employees/{employeeId}/absences") == [
        "2020-03-16"
    ]
