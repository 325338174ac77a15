"""Schemathesis against the mock's Loket API, over real HTTP, with a real token.

The spec (``../shared/specs/loket-openapi.json``) is restricted to the GET JSON endpoints the mock
serves (``mock.loket.ENDPOINTS``). Generated path ids are replaced by real ones half the time (so
the handlers, not just the 404 branch, are fuzzed), and the Accept header is a valid version half
the time. Checks: never a 5xx, and every 2xx body conforms to the documented response schema.
"""

from __future__ import annotations

import json

import pytest

import loketvalinso as lv
from tests.conftest import OPENAPI_PATH, require_specs

schemathesis = pytest.importorskip("schemathesis", reason="schemathesis is in the [dev] extra")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from loketvalinso.mock.loket import ENDPOINTS  # noqa: E402


def _schema():
    require_specs()
    # The spec's GUID pattern allows upper-case hex only, yet its own examples (and the real API)
    # use lower case: accept both, as the repo's other contract tests do.
    raw = json.loads(OPENAPI_PATH.read_text().replace("[0-9A-F]", "[0-9A-Fa-f]"))
    raw["paths"] = {
        path: {"get": item["get"]}
        for path, item in raw["paths"].items()
        if path in ENDPOINTS and "get" in item
    }
    return schemathesis.openapi.from_dict(raw)


def _operations():
    if not OPENAPI_PATH.exists():
        return [pytest.param(None, marks=pytest.mark.skip(reason=f"{OPENAPI_PATH} is absent"))]
    return [pytest.param(op.ok().path, id=op.ok().path) for op in _schema().get_all_operations()]


@pytest.fixture(scope="module")
def served(small_world):
    with lv.mock.serve(seed=7, world=small_world) as m:
        loket = lv.Loket.from_mock(m, flow="password", cache=False)
        yield m, loket.oauth.access_token


@pytest.mark.timeout(120)
@pytest.mark.parametrize("path", _operations())
def test_mock_never_5xx_and_2xx_bodies_conform(served, small_world, path):
    from schemathesis.checks import not_a_server_error
    from schemathesis.specs.openapi.checks import response_schema_conformance

    m, token = served
    schema = _schema()
    operation = next(r.ok() for r in schema.get_all_operations() if r.ok().path == path)
    real_ids = {
        "employerId": small_world.employers["id"].to_list(),
        "employeeId": small_world.employees["id"].to_list()[:5],
        "employmentId": small_world.employments["id"].to_list()[:5],
    }
    versions = ENDPOINTS[path]

    @settings(
        max_examples=25, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck)
    )
    @given(case=operation.as_strategy(), data=st.data())
    def run(case, data):
        for name in list(case.path_parameters or {}):
            if name in real_ids and data.draw(st.booleans(), label=f"real {name}"):
                case.path_parameters[name] = data.draw(st.sampled_from(real_ids[name]))
        headers = dict(case.headers or {})
        headers["Authorization"] = f"Bearer {token}"
        if data.draw(st.booleans(), label="valid Accept"):
            headers["Accept"] = f"application/json;version={data.draw(st.sampled_from(versions))}"
        case.headers = headers
        response = case.call(base_url=m.loket_url, timeout=10)
        assert response.status_code < 500, (
            response.status_code,
            response.text[:300],
            case.formatted_path,
        )
        case.validate_response(response, checks=[not_a_server_error, response_schema_conformance])

    run()
