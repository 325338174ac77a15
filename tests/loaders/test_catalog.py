"""The derived Loket catalogue: reproducible, complete, and version resolution."""

from __future__ import annotations

import csv
import subprocess
import sys
from datetime import date
from pathlib import Path

import polars as pl
import pytest

from loketvalinso._catalog import get_catalog
from loketvalinso.errors import ConfigurationError, VersionError

ROOT = Path(__file__).resolve().parents[2]
SPECS = ROOT.parent / "shared" / "specs"
needs_specs = pytest.mark.skipif(
    not (SPECS / "loket-openapi.json").exists(),
    reason="../shared/specs is absent: cannot re-derive the catalogue",
)


@needs_specs
def test_derivation_is_reproducible() -> None:
    script = ROOT / "scripts" / "derive_catalog.py"
    out = subprocess.run(
        [sys.executable, str(script), "--check"], capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stdout + out.stderr


@needs_specs
def test_counts_match_the_operations_csv() -> None:
    rows = list(csv.DictReader((SPECS / "loket-operations.csv").open()))
    json_gets = {
        r["path"]
        for r in rows
        if r["method"] == "GET" and ("_embedded" in r["envelope"] or "content" in r["envelope"])
    }
    assert len(json_gets) == 296
    cat = get_catalog()
    enveloped = {
        e.get("spec_path", e["path"])
        for e in cat.entries
        if e["kind"] == "json" and e["envelope"] != "bare"
    }
    assert enveloped == json_gets
    # three GETs answer a bare JSON array (the CSV counts them as raw); the rest are files
    assert sum(e["envelope"] == "bare" for e in cat.entries) == 3
    assert len(cat.entries) == sum(r["method"] == "GET" for r in rows) == 354


def test_catalogue_is_compact_and_packaged() -> None:
    f = ROOT / "loketvalinso" / "_data" / "loket_catalog.json"
    assert f.stat().st_size < 1_500_000


def test_endpoints_frame() -> None:
    df = get_catalog().endpoints()
    assert df.height == 663
    gets = df.filter(pl.col("method") == "GET")
    assert gets.height == 354
    assert df.schema["versions"] == pl.List(pl.String)
    row = df.filter(pl.col("operation_id") == "GetEmployeesByEmployerId").row(0, named=True)
    assert row["versions"] == ["2018-12-31", "2021-03-29"]
    assert row["envelope"] == "embedded" and row["paging"]
    assert gets.filter(pl.col("kind") == "binary").height == 55
    # a path's GET comes first, then its writes
    employee = df.filter(pl.col("path") == "/providers/employers/employees/{employeeId}")
    assert employee["method"].to_list() == ["GET", "PUT"]
    put = employee.row(1, named=True)
    assert put["versions"] == ["2018-12-31", "2021-03-29"] and put["success"] == [200]


@needs_specs
def test_write_operations_match_the_operations_csv() -> None:
    rows = list(csv.DictReader((SPECS / "loket-operations.csv").open()))
    cat = get_catalog()
    for method, count in (("POST", 113), ("PUT", 82), ("DELETE", 75), ("PATCH", 39)):
        documented = {(r["path"], r["success_status"]) for r in rows if r["method"] == method}
        derived = {
            (w.get("spec_path", w["path"]), ",".join(map(str, w["success"])))
            for w in cat.writes
            if w["method"] == method
        }
        assert len(derived) == count and derived == documented, method


def test_write_schemas() -> None:
    cat = get_catalog()
    patch = cat.find_write("patch", "/providers/employers/employees/employments/leaverequests")
    assert patch["operation_id"] == "PatchLeaveRequestsByLeaveRequestIds"
    assert patch["required"] == {"2018-01-01": ["id", "action"]}
    items = patch["schemas"]["2018-01-01"]
    assert items.type == "array" and items.extra.type == "object"
    action = next(n for n in cat.node(items.extra.extra) if n.name == "action")
    assert action.extra == {"enum": ["accept", "reject", "reopen"]}
    put = cat.find_write("PUT", "/providers/employers/employees/employments/leaverequests/X")
    fields = {n.name: n for n in cat.node(put["schemas"]["2018-01-01"].extra)}
    assert fields["commentHandler"].read_only == 0 and fields["leaveRequestStatus"].read_only
    assert put["body"] == "json" and put["response_versions"] == ["2018-01-01"]
    delete = cat.find_write("DELETE", "/providers/employers/employees/employments/leave/X")
    assert delete["body"] is None and delete["versions"] == []
    # the misspelled request type applicationjson;version=… is a JSON body all the same
    sepa = cat.find_write(
        "POST", "/providers/employers/employees/employments/X/paymentinformationsepa"
    )
    assert sepa["body"] == "json" and sepa["undated_versions"] == ["YYYY-MM-DD"]
    with pytest.raises(ConfigurationError, match="documents GET"):
        cat.find_write("POST", "/providers/employers/employees/employments/X/leaverequests")


def test_quirks() -> None:
    cat = get_catalog()
    e = cat.find("/providers/employers/conceptemployees/{conceptEmployeeId}/dossier")
    assert e["spec_path"].endswith('"')
    sig = cat.find("/providers/employers/abc/signature/report")
    assert sig["path"] == "/providers/employers/{employerId}/signature/report"
    assert sig["path_params"][0][4] == "employmerId"
    nop = cat.find("/providers/employers/payrolladministrations/X/auditTrail/PayrollPeriodData")
    assert nop["operation_id"] is None
    pp = cat.find("/providers/employers/payrolladministrations/A/payrollperiods/7/payrollresults")
    assert pp["path_params"][1][:3] == ["payrollPeriodId", "integer", "int32"]
    # literal before {param}
    assert (
        cat.find("/providers/employers/minimized")["operation_id"] == "GetEmployersMinimizedByUser"
    )
    assert cat.find("/v2/providers/employers/123")["operation_id"] == "GetEmployerByEmployerId"
    users = cat.find("/providers/employers/x/users")
    assert users["versions"] == [] and users["undated_versions"] == ["SSO_gebruiker"]
    sepa = cat.find("/providers/employers/employees/employments/x/paymentinformationsepa")
    assert sepa["versions"] == ["2018-01-01"] and sepa["undated_versions"] == ["YYYY-MM-DD"]
    lb = cat.find("GetLeaveBalancesByEmployerId")
    q = {x[0]: x for x in lb["query_params"]}
    assert q["leaveType"][4] == 1 and q["referenceDate"][2] == "date"
    prop = cat.find("/providers/employers/x/leave/proposedleavehours")
    assert {x[0]: x for x in prop["query_params"]}["startDate"][2] == "date"  # pattern: "date"
    assert cat.find("GetEmployerByEmployerId")["etag"] is True
    with pytest.raises(ConfigurationError):
        cat.find("/no/such/thing")


def test_version_resolution() -> None:
    cat = get_catalog()
    emp = cat.find("GetEmployeesByEmployerId")
    assert cat.resolve_version(emp) == "2021-03-29"
    assert cat.resolve_version(emp, "2021-03-28") == "2018-12-31"
    assert cat.resolve_version(emp, date(2030, 1, 1)) == "2021-03-29"
    assert cat.resolve_version(emp, None, default_date="2019-06-01") == "2018-12-31"
    empl = cat.find("GetEmploymentsByEmployerId")
    assert cat.resolve_version(empl) == "2019-12-16"
    with pytest.raises(VersionError, match="2019-12-16"):
        cat.resolve_version(empl, "2018-01-01")
    with pytest.raises(VersionError, match="2018-12-31, 2021-03-29"):
        cat.resolve_version(emp, "2021-13-45")
    with pytest.raises(VersionError):
        cat.resolve_version(emp, "yesterday")
    assert cat.resolve_version(cat.find("/providers/employers/x/users")) == "SSO_gebruiker"
    absn = cat.find("/providers/employers/employees/x/absences")
    assert cat.resolve_version(absn) == "2020-03-16"


def test_fill_path_refuses_values_that_are_no_id_and_encodes_the_rest() -> None:
    from loketvalinso._catalog import fill_path

    template = "/providers/employers/{employerId}/departments"
    filled = fill_path(template, template, {"employer_id": "a/b c"})
    assert filled.path == "/providers/employers/a%2Fb%20c/departments"
    assert filled.ids == {"employerId": "a/b c"}
    for bad in ("", " ", ".", "..", "x\ny", "\x00"):
        with pytest.raises(ConfigurationError, match="employerId for /providers"):
            fill_path(template, template, {"employerId": bad})
    with pytest.raises(ConfigurationError, match=r"'\.\.', which is not an id"):
        fill_path(template, "/providers/employers/../departments", {})
