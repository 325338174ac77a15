"""Contract: every Loket body the mock serves validates against the real OpenAPI description.

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


def to_json_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """An OpenAPI 3.0 schema object as a strict JSON Schema (see the module docstring)."""
    schema = copy.copy(schema)
    if "allOf" in schema:
        schema = _merge_all_of(schema)
    nullable = schema.pop("nullable", False)
    if "properties" in schema:
        schema["properties"] = {k: to_json_schema(v) for k, v in schema["properties"].items()}
        schema["additionalProperties"] = False
    if isinstance(schema.get("items"), dict):
        schema["items"] = to_json_schema(schema["items"])
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
    return {
        "employerId": employer_id,
        "employeeId": absence["employee_id"],
        "employmentId": request["employment_id"],
        "leaveRequestId": request["id"],
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


def test_the_current_user_validates_and_names_the_login(
    spec: dict[str, Any], client: httpx.Client, mock, world
) -> None:
    """``GET /user`` (``GetUserByToken``) answers with the user the token was issued to."""
    response = client.get("/v2/user", headers={"Accept": "application/json;version=2018-01-01"})
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json;version=2018-01-01"
    body = response.json()
    errors = [e.message[:200] for e in _validator(spec, "/user", "2018-01-01").iter_errors(body)]
    assert not errors, errors
    first, second = world.credentials.users
    assert body["content"]["contactInformation"]["emailAddress"] == first.username
    assert body["content"]["personalDetails"]["lastName"] == first.last_name
    other = password_token_of(mock, second.username, second.password)
    as_other = client.get(
        "/v2/user",
        headers={
            "Accept": "application/json;version=2018-01-01",
            "Authorization": f"Bearer {other}",
        },
    )
    assert as_other.json()["content"]["contactInformation"]["emailAddress"] == second.username
    assert client.get("/v2/user", headers={"Authorization": ""}).status_code == 401


def password_token_of(mock, username: str, password: str) -> str:
    creds = mock.credentials
    with httpx.Client(transport=mock.transport) as http:
        answer = http.post(
            f"{mock.url}/token",
            data={
                "grant_type": "password",
                "username": username,
                "password": password,
                "client_id": creds.client_id,
                "client_secret": creds.client_secret,
            },
        )
    return answer.json()["access_token"]
