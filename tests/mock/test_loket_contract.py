"""Contract: every Loket body the mock serves, and every write body the toolkit sends, validates
against the real OpenAPI description.

For each endpoint in :data:`loketvalinso.mock.loket.ENDPOINTS` and each of its versions, the 200 body
is validated with ``jsonschema`` against the response schema of the same path, method and content
type (``application/json;version=…``) in ``../shared/specs/loket-openapi.json``.

The spec is OpenAPI 3.0, not JSON Schema; the conversion (:func:`to_json_schema`) does only this:

- ``nullable: true`` → the value may also be ``null`` (JSON Schema has no ``nullable``);
- ``allOf`` envelope parts are merged into one object schema, and every object schema gets
  ``additionalProperties: false``, so a field the spec does not have (a typo, a wrong version's
  field) fails — stricter than the spec, on purpose;
- uuid ``pattern``s (upper-case hex only, ``^[{(]?[0-9A-F]{8}…``) are matched case-insensitively
  (NOTES.md, "Two more quirks": the description's own examples are lower-case);
- ``minimum`` on objects/arrays and ``pattern`` on numbers are left in: JSON Schema applies those
  keywords only to numbers/strings, so they are inert there. Non-standard formats (``metadata``,
  ``url``, ``enum``, ``JSON``, ``emailAddress``) are left in too: a format checker ignores formats
  it does not know.

The format checker enforces ``date`` as ``YYYY-MM-DD`` (the spec's own examples are date-times,
which a real server does not send) and ``date-time`` as ISO 8601 with an offset.

Writes: the toolkit's writes run against a fresh in-process mock through a recording transport;
each request body is validated against the operation's ``requestBody`` schema for the content
type sent, with ``readOnly`` fields forbidden (they are the server's), and each answer against
the operation's response schema for its status. The one write the description lacks (``POST
…/{employmentId}/leaverequests``, which the public SDK uses) is held to the documented PUT body
and to the leave request's GET schema.
"""

from __future__ import annotations

import copy
import re
from datetime import date, datetime
from pathlib import Path
from typing import Any

import httpx
import orjson
import polars as pl
import pytest

from tests.conftest import password_token

SPECS_DIR = Path(__file__).resolve().parents[2].parent / "shared" / "specs"
OPENAPI = SPECS_DIR / "loket-openapi.json"

jsonschema = pytest.importorskip("jsonschema")

pytestmark = pytest.mark.skipif(
    not OPENAPI.exists(),
    reason=f"{OPENAPI} is absent: the Loket OpenAPI description lives outside the repository",
)

_UUID_PATTERN = re.compile(r"^\^\[\{\(\]\?\[0-9A-F\]")


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    return orjson.loads(OPENAPI.read_bytes())  # 6 MB: once per module


def _merge_all_of(schema: dict[str, Any]) -> dict[str, Any]:
    merged: dict[str, Any] = {"type": "object", "properties": {}}
    required: list[str] = []
    for part in schema["allOf"]:
        part = _merge_all_of(part) if "allOf" in part else part
        merged["properties"].update(part.get("properties", {}))
        required += part.get("required", [])
    if required:
        merged["required"] = required
    return merged


def to_json_schema(schema: dict[str, Any], *, write: bool = False) -> dict[str, Any]:
    """An OpenAPI 3.0 schema object as a strict JSON Schema (see the module docstring).

    ``write``: the schema of a request body, where ``readOnly`` properties may not be sent.
    """
    schema = copy.copy(schema)
    if "allOf" in schema:
        schema = _merge_all_of(schema)
    nullable = schema.pop("nullable", False)
    if "properties" in schema:
        schema["properties"] = {
            k: to_json_schema(v, write=write)
            for k, v in schema["properties"].items()
            if not (write and v.get("readOnly") is True)
        }
        schema["additionalProperties"] = False
    if isinstance(schema.get("items"), dict):
        schema["items"] = to_json_schema(schema["items"], write=write)
    pattern = schema.get("pattern")
    if isinstance(pattern, str) and _UUID_PATTERN.match(pattern):
        schema["pattern"] = "(?i)" + pattern
    if nullable:
        return {"anyOf": [schema, {"type": "null"}]}
    return schema


def _format_checker() -> Any:
    checker = jsonschema.FormatChecker()

    @checker.checks("date", raises=ValueError)
    def is_date(value: object) -> bool:
        if not isinstance(value, str):
            return True
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
            raise ValueError(f"{value!r} is not YYYY-MM-DD")
        date.fromisoformat(value)
        return True

    @checker.checks("date-time", raises=ValueError)
    def is_date_time(value: object) -> bool:
        if not isinstance(value, str):
            return True
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        if parsed.tzinfo is None:
            raise ValueError(f"{value!r} has no UTC offset")
        return True

    return checker


def _validator(spec: dict[str, Any], template: str, version: str) -> Any:
    content = spec["paths"][template]["get"]["responses"]["200"]["content"]
    media = f"application/json;version={version}"
    assert media in content, f"{template}: the spec has no {media} response"
    schema = to_json_schema(content[media]["schema"])
    cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft7Validator)
    return cls(schema, format_checker=_format_checker())


@pytest.fixture(scope="module")
def mock(world):
    import loketvalinso as lv

    return lv.mock.in_process(seed=42, world=world)


@pytest.fixture(scope="module")
def client(mock) -> httpx.Client:
    http = httpx.Client(transport=mock.transport, base_url=mock.url)
    token = password_token(mock, transport=mock.transport)
    http.headers["Authorization"] = f"Bearer {token}"
    return http


def _ids(world) -> dict[str, str]:
    employers = world.employers.filter(pl.col("accessible"))
    employer_id = employers["id"][0]
    # An employment with leave requests, ledger rows and balances; an employee with an absence
    # that has ended (so endOfAbsence is filled) — the richest bodies.
    absence = world.absences.filter(
        pl.col("end_date").is_not_null() & (pl.col("employer_id") == employer_id)
    ).row(0, named=True)
    request = world.leave_requests.filter(
        pl.col("handled_by_id").is_not_null() & (pl.col("employer_id") == employer_id)
    ).row(0, named=True)
    leave = world.leave.filter(pl.col("employment_id") == request["employment_id"]).row(
        0, named=True
    )
    return {
        "employerId": employer_id,
        "employeeId": absence["employee_id"],
        "employmentId": request["employment_id"],
        "leaveRequestId": request["id"],
        "leaveId": leave["id"],
    }


def test_world_function_groups_fit_the_spec(world) -> None:
    assert world.functions["group"].str.len_chars().max() <= 5


def _cases() -> list[tuple[str, str]]:
    from loketvalinso.mock.loket import ENDPOINTS

    return [(template, version) for template, versions in ENDPOINTS.items() for version in versions]


def test_versions_table_matches_the_spec(spec: dict[str, Any]) -> None:
    from loketvalinso.mock.loket import ENDPOINTS, IMAGE_ENDPOINTS

    for template, versions in ENDPOINTS.items():
        content = spec["paths"][template]["get"]["responses"]["200"]["content"]
        documented = sorted(
            ct.split("version=", 1)[1]
            for ct in content
            if ct.startswith("application/json;version=")
        )
        assert list(versions) == documented, template
    for template in IMAGE_ENDPOINTS:
        assert "image/png" in spec["paths"][template]["get"]["responses"]["200"]["content"]


@pytest.mark.parametrize(("template", "version"), _cases())
def test_body_validates_against_spec(
    spec: dict[str, Any],
    client: httpx.Client,
    world,
    template: str,
    version: str,
) -> None:
    ids = _ids(world)
    path = "/v2" + template.format(**ids)
    params: dict[str, str] = {"pageSize": "1000"}
    if template.endswith("/calendar/leaverequests"):
        params |= {"startDate": "2026-01-01", "endDate": "2026-12-31"}
    if template.endswith("{employerId}/leavebalances"):
        params |= {"leaveType": "1,15,16"}
    response = client.get(
        path, params=params, headers={"Accept": f"application/json;version={version}"}
    )
    assert response.status_code == 200, response.text[:500]
    assert response.headers["content-type"] == f"application/json;version={version}"
    body = response.json()
    items = body.get("_embedded")
    assert items or body.get("content"), f"{path}: nothing to validate"
    errors = sorted(
        (e for e in _validator(spec, template, version).iter_errors(body)),
        key=lambda e: list(e.absolute_path),
    )
    described = [f"{list(e.absolute_path)}: {e.message[:200]}" for e in errors[:10]]
    assert not errors, f"{template} {version}: {len(errors)} errors\n" + "\n".join(described)


def test_error_bodies_match_the_spec(spec: dict[str, Any], client: httpx.Client, world) -> None:
    # The 400 schema is {version, messages[], content}; 401/403 are {message}.
    ids = _ids(world)
    template = "/providers/employers/{employerId}/employees/employments/leaverequests"
    responses = spec["paths"][template]["get"]["responses"]
    bad = client.get(
        "/v2" + template.format(**ids),
        params={"filter": "nonsense eq 1"},
        headers={"Accept": "application/json;version=2018-01-01"},
    )
    assert bad.status_code == 400
    schema400 = to_json_schema(responses["400"]["content"]["application/json"]["schema"])
    jsonschema.validate(bad.json(), schema400, format_checker=_format_checker())
    hidden = world.employers.filter(~pl.col("accessible"))["id"][0]
    forbidden = client.get(
        f"/v2/providers/employers/{hidden}/employees/employments/leaverequests",
        headers={"Accept": "application/json;version=2018-01-01"},
    )
    assert forbidden.status_code == 403
    schema403 = to_json_schema(responses["403"]["content"]["application/json"]["schema"])
    jsonschema.validate(forbidden.json(), schema403)
    anonymous = httpx.Client(transport=client._transport, base_url=client.base_url)
    denied = anonymous.get("/v2" + template.format(**ids))
    assert denied.status_code == 401
    schema401 = to_json_schema(responses["401"]["content"]["application/json"]["schema"])
    jsonschema.validate(denied.json(), schema401)


# -- writes ----------------------------------------------------------------------------------

LEAVE_REQUEST = "/providers/employers/employees/employments/leaverequests/{leaveRequestId}"
LEAVE_REQUESTS = "/providers/employers/employees/employments/leaverequests"
EMPLOYEE = "/providers/employers/employees/{employeeId}"
LEAVE = "/providers/employers/employees/employments/{employmentId}/leave"
LEAVE_ENTRY = "/providers/employers/employees/employments/leave/{leaveId}"
#: The write the description lacks → (the operation whose body it sends, the GET of its answer).
UNDOCUMENTED = {
    ("POST", "/providers/employers/employees/employments/{employmentId}/leaverequests"): (
        ("put", LEAVE_REQUEST),
        LEAVE_REQUEST,
    )
}


class Recorder(httpx.BaseTransport):
    """Passes requests on and keeps every write with its answer."""

    def __init__(self, inner: httpx.BaseTransport) -> None:
        self.inner = inner
        self.writes: list[tuple[httpx.Request, int, str, bytes]] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self.inner.handle_request(request)
        if request.method != "GET":
            content = response.read()
            self.writes.append(
                (request, response.status_code, response.headers.get("content-type", ""), content)
            )
        return response


def _template(spec: dict[str, Any], method: str, path: str) -> str:
    """The spec path whose segments match ``path`` for ``method`` (literal segments first)."""
    segs = path.removeprefix("/v2").strip("/").split("/")
    best: tuple[int, str] | None = None
    for template, ops in spec["paths"].items():
        t = template.strip("/").split("/")
        if method.lower() not in ops or len(t) != len(segs):
            continue
        hits = 0
        for a, b in zip(t, segs, strict=True):
            if a.startswith("{"):
                continue
            if a.lower() != b.lower():
                break
            hits += 1
        else:
            if best is None or hits > best[0]:
                best = (hits, template)
    for (m, template), _ in UNDOCUMENTED.items():
        t = template.strip("/").split("/")
        if (
            m == method
            and len(t) == len(segs)
            and all(a.startswith("{") or a == b for a, b in zip(t, segs, strict=True))
        ):
            return template
    assert best is not None, f"the description has no {method} {path}"
    return best[1]


@pytest.fixture(scope="module")
def recorded(world) -> list[tuple[httpx.Request, int, str, bytes]]:
    """Every kind of write the toolkit makes, with the mock's answers (a fresh world)."""
    import warnings

    import loketvalinso as lv

    m = lv.mock.in_process(seed=42, world=world)
    recorder = Recorder(m.transport)
    token = password_token(m, transport=m.transport)

    def client() -> Any:
        return lv.Loket(
            base_url=m.loket_url,
            access_token=token,
            transport=recorder,
            cache=False,
            progress=False,
        )

    loket, other = client(), client()
    ids = _ids(world)
    requests = world.leave_requests.filter(
        (pl.col("employer_id") == ids["employerId"]) & (pl.col("leave_request_status_key") == 1)
    )["id"].to_list()
    first = requests[0]
    row = loket.get(LEAVE_REQUEST, leave_request_id=first)
    stale = other.get(LEAVE_REQUEST, leave_request_id=first)
    loket.put(LEAVE_REQUEST, row.with_columns(comment_handler=pl.lit("Fijne dagen")),
              leave_request_id=first)  # fmt: skip
    with pytest.raises(lv.ConflictError):  # 409
        other.put(LEAVE_REQUEST, stale, leave_request_id=first)
    with pytest.raises(lv.ValidationError):  # 400 BrokenBusinessRule
        loket.put(LEAVE_REQUEST, {"end_date": "2000-01-01"}, leave_request_id=first)
    accepted = world.leave_requests.filter(pl.col("leave_request_status_key") == 2)["id"][0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", lv.PartialWriteWarning)
        loket.set_leave_request_status([*requests[1:3], accepted], "accept")  # 400, per id
    loket.set_leave_request_status(requests[3:5], "reject")  # 200
    loket.create_leave_request(
        ids["employmentId"], start="2026-12-28", end="2026-12-29", hours=8, leave_type=15
    )
    for version in ("2018-12-31", "2021-03-29"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", lv.ObsoleteVersionWarning)  # 2018-12-31, on purpose
            employee = loket.get(EMPLOYEE, employee_id=ids["employeeId"], version=version)
        loket.put(EMPLOYEE, employee.with_columns(personal_details_first_name=pl.lit("Anna")),
                  employee_id=ids["employeeId"])  # fmt: skip
    created = loket.post(
        LEAVE,
        {"start_date": "2026-10-05", "end_date": "2026-10-05", "number_of_units": 8,
         "is_accrual": True, "leave_type_key": 16, "comment": "compensatie"},
        employment_id=ids["employmentId"],
    )  # fmt: skip
    leave_id = created["id"][0]
    entry = loket.get(LEAVE_ENTRY, leave_id=leave_id)
    loket.put(LEAVE_ENTRY, entry.with_columns(number_of_units=pl.lit(6.0)), leave_id=leave_id)
    loket.delete(LEAVE_ENTRY, leave_id=leave_id)
    booked = m.world.leave.filter(pl.col("related_leave_request_id").is_not_null())["id"][0]
    with pytest.raises(lv.ValidationError):  # 400: booked from a request
        loket.delete(LEAVE_ENTRY, leave_id=booked)
    return recorder.writes


def test_writes_cover_every_answer(spec: dict[str, Any], recorded) -> None:
    seen = {
        (r.method, _template(spec, r.method, r.url.path), status) for r, status, _, _ in recorded
    }
    assert seen >= {
        ("PUT", LEAVE_REQUEST, 200),
        ("PUT", LEAVE_REQUEST, 409),
        ("PUT", LEAVE_REQUEST, 400),
        ("PATCH", LEAVE_REQUESTS, 400),
        ("PATCH", LEAVE_REQUESTS, 200),
        ("POST", "/providers/employers/employees/employments/{employmentId}/leaverequests", 201),
        ("PUT", EMPLOYEE, 200),
        ("POST", LEAVE, 201),
        ("PUT", LEAVE_ENTRY, 200),
        ("DELETE", LEAVE_ENTRY, 200),
        ("DELETE", LEAVE_ENTRY, 400),
    }


def test_write_bodies_validate_against_spec(spec: dict[str, Any], recorded) -> None:
    checked = 0
    for request, _, _, _ in recorded:
        template = _template(spec, request.method, request.url.path)
        method, body_of = request.method.lower(), template
        if (request.method, template) in UNDOCUMENTED:
            (method, body_of), _ = UNDOCUMENTED[(request.method, template)]
        documented = spec["paths"][body_of][method].get("requestBody")
        if documented is None:
            assert not request.content, f"{request.method} {template} takes no body"
            continue
        sent_type = request.headers["content-type"]
        content = documented["content"]
        media = next(
            (c for c in content if c.replace("applicationjson", "application/json") == sent_type),
            None,
        )
        assert media is not None, (
            f"{request.method} {template}: {sent_type} is not in {list(content)}"
        )
        schema = to_json_schema(content[media]["schema"], write=True)
        errors = [
            f"{list(e.absolute_path)}: {e.message[:200]}"
            for e in jsonschema.Draft7Validator(
                schema, format_checker=_format_checker()
            ).iter_errors(orjson.loads(request.content))
        ]
        assert not errors, f"{request.method} {template}\n" + "\n".join(errors[:10])
        checked += 1
    assert checked >= 10


def test_write_answers_validate_against_spec(spec: dict[str, Any], recorded) -> None:
    for request, status, content_type, content in recorded:
        template = _template(spec, request.method, request.url.path)
        if (request.method, template) in UNDOCUMENTED:
            _, get = UNDOCUMENTED[(request.method, template)]
            answers = {"201": spec["paths"][get]["get"]["responses"]["200"]}
        else:
            answers = spec["paths"][template][request.method.lower()]["responses"]
        assert str(status) in answers, f"{request.method} {template}: {status} is not documented"
        declared = answers[str(status)].get("content") or {}
        assert content_type in declared, f"{request.method} {template} {status}: {content_type}"
        schema = to_json_schema(declared[content_type]["schema"])
        errors = [
            f"{list(e.absolute_path)}: {e.message[:200]}"
            for e in jsonschema.Draft7Validator(
                schema, format_checker=_format_checker()
            ).iter_errors(orjson.loads(content))
        ]
        assert not errors, f"{request.method} {template} {status}\n" + "\n".join(errors[:10])
