"""The writable half of the mock Loket API: the writes a team lead makes, with the real rules.

Served (see :data:`WRITE_ENDPOINTS`):

- ``PUT …/leaverequests/{leaveRequestId}``: change a leave request. Only while it is submitted
  (``Ingediend``); afterwards only ``commentHandler`` may change (the description's rule).
- ``PATCH …/employments/leaverequests``: the multi-patch ``[{id, action}]``. Transitions as the
  description lists them: submitted → ``accept`` (``Toegekend``; the hours are booked in the leave
  ledger, so the balances follow) or ``reject`` (``Afgewezen``); rejected → ``reopen``
  (``Ingediend`` again); anything else is refused for that id. Each id is handled on its own:
  the others are applied. When any action failed the answer is **400** with one message per
  failed id (its ``id`` set), as the OpenAPI description says; otherwise 200.
- ``POST …/employments/{employmentId}/leaverequests``: submit a leave request. The published
  description documents no such operation; the public Python SDK uses it, so the mock serves it
  with the body of the documented PUT. More hours than the balance of that leave type still
  holds is accepted with a ``Warning`` message (the 201 carries it).
- ``PUT …/employees/{employeeId}`` (2018-12-31, 2021-03-29): an employee's details.
- ``POST …/employments/{employmentId}/leave``, ``PUT`` and ``DELETE …/leave/{leaveId}``: the
  leave ledger (corrections by hand; leave booked from a request cannot be changed there).

Every ``PUT`` honours ``If-Match``: a tag that is not the resource's current ETag gets **409**
with a ``ConcurrencyViolation`` message (no ``If-Match``: the write goes through). Every write
changes the resource's ETag, even one that changes no value. A body that breaks a rule gets
**400** with ``BrokenBusinessRule`` messages (``properties`` name the fields), in the
description's shape ``{version, messages, content: {}}``; nothing is changed then.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

import orjson
import polars as pl

from loketvalinso.mock._http import MockResponse, http_date, json_response
from loketvalinso.mock.loket_resources import (
    CACHEABLE_LIFETIME,
    OBSOLETE_DATES,
    RESOURCES,
    Resource,
)
from loketvalinso.mock.world import (
    CREATION_MANUAL,
    CREATION_REQUEST,
    LEAVE_TYPE_NAMES,
    STATUS_ACCEPTED,
    STATUS_REJECTED,
    STATUS_SUBMITTED,
    UNIT_TYPE,
    World,
)
from loketvalinso.mock.world_edits import edit_rows, merge_changes, row_of

if TYPE_CHECKING:
    from loketvalinso.mock.loket import _Ctx
    from loketvalinso.mock.state import WorldState

__all__ = ["MOCK_USER_ID", "WRITE_ENDPOINTS", "LoketWriteHandlers", "Refused"]

_V2018 = ("2018-01-01",)
_EMPLOYEE_VERSIONS = ("2018-12-31", "2021-03-29")
LEAVE_REQUEST = "/providers/employers/employees/employments/leaverequests/{leaveRequestId}"
LEAVE_REQUESTS = "/providers/employers/employees/employments/leaverequests"
CREATE_LEAVE_REQUEST = "/providers/employers/employees/employments/{employmentId}/leaverequests"
EMPLOYEE = "/providers/employers/employees/{employeeId}"
LEAVE = "/providers/employers/employees/employments/{employmentId}/leave"
LEAVE_ENTRY = "/providers/employers/employees/employments/leave/{leaveId}"

#: (method, path template) → (the versions of its answer, the handler's method name).
WRITE_ENDPOINTS: dict[tuple[str, str], tuple[tuple[str, ...], str]] = {
    ("PUT", LEAVE_REQUEST): (_V2018, "_put_leave_request"),
    ("PATCH", LEAVE_REQUESTS): (_V2018, "_patch_leave_requests"),
    ("POST", CREATE_LEAVE_REQUEST): (_V2018, "_post_leave_request"),
    ("PUT", EMPLOYEE): (_EMPLOYEE_VERSIONS, "_put_employee"),
    ("POST", LEAVE): (_V2018, "_post_leave"),
    ("PUT", LEAVE_ENTRY): (_V2018, "_put_leave"),
    ("DELETE", LEAVE_ENTRY): ((), "_delete_leave"),
}
#: The ``handledBy`` of what the mock's user handles (a Loket user, not an employee).
MOCK_USER_ID = str(uuid.uuid5(uuid.NAMESPACE_URL, "loketvalinso-mock-user"))
_ACTIONS = ("accept", "reject", "reopen")
_MAX_COMMENT = 4000
_MAX_UNITS = 2000.0


class Refused(Exception):
    """A write the mock answers with an error (the response is ready)."""

    def __init__(self, response: MockResponse) -> None:
        super().__init__(response.status)
        self.response = response


def _message(
    description: str,
    *,
    code: int,
    kind: str = "BrokenBusinessRule",
    entity: str | None = None,
    properties: tuple[str, ...] = (),
) -> dict[str, Any]:
    return {
        "code": code,
        "description": description,
        "id": entity,
        "properties": list(properties),
        "type": kind,
    }


def _version(version: str) -> dict[str, Any]:
    return {"obsoleteDate": OBSOLETE_DATES.get(version), "resourceVersion": version}


def _refuse(status: int, messages: list[dict[str, Any]], version: str) -> Refused:
    """400/409 in the description's error shape: ``{version, messages, content: {}}``."""
    return Refused(
        json_response(status, {"version": _version(version), "messages": messages, "content": {}})
    )


class _Rules:
    """Collects the broken rules of one body (every rule runs, as the real API reports all)."""

    def __init__(self, entity: str | None) -> None:
        self.entity = entity
        self.messages: list[dict[str, Any]] = []

    def broken(self, description: str, code: int, *properties: str) -> None:
        self.messages.append(
            _message(description, code=code, entity=self.entity, properties=properties)
        )

    def check(self, version: str) -> None:
        if self.messages:
            raise _refuse(400, self.messages, version)

    def date(self, body: Mapping[str, Any], name: str, code: int, *, required: bool) -> date | None:
        raw = body.get(name)
        if raw is None:
            if required:
                self.broken(f"{name} is required (YYYY-MM-DD).", code, name)
            return None
        try:
            if not isinstance(raw, str) or len(raw) < 10:
                raise ValueError(raw)
            return date.fromisoformat(raw[:10])
        except ValueError:
            self.broken(f"{name} must be a date (YYYY-MM-DD), got {raw!r}.", code, name)
            return None

    def text(
        self, body: Mapping[str, Any], name: str, code: int, *, limit: int, required: bool = False
    ) -> str | None:
        raw = _at(body, name)
        if raw is None or raw == "":
            if required:
                self.broken(f"{name} is required.", code, name)
            return None
        if not isinstance(raw, str):
            self.broken(f"{name} must be text.", code, name)
            return None
        if len(raw) > limit:
            self.broken(f"{name} is longer than {limit} characters.", code, name)
            return None
        return raw


def _at(body: Mapping[str, Any], dotted: str) -> Any:
    value: Any = body
    for name in dotted.split("."):
        if not isinstance(value, Mapping):
            return None
        value = value.get(name)
    return value


def _now_us(clock: Callable[[], float]) -> int:
    return int(clock() * 1_000_000)


class LoketWriteHandlers:
    """The write handlers of :class:`~loketvalinso.mock.loket.LoketApi` (mixed into it)."""

    if TYPE_CHECKING:
        _state: WorldState
        world: World
        _clock: Callable[[], float]
        _position: dict[str, dict[str, int]]
        _employer_accessible: dict[str, bool]

        def _encoded_rows(self, resource: Resource, version: str) -> list[bytes]: ...
        def _revision(self, frame: str, key: Any) -> int: ...
        @staticmethod
        def _etag(item: bytes, version: str, revision: int) -> str: ...

    # -- shared ---------------------------------------------------------------------------------

    def _body(self, ctx: _Ctx, *, array: bool = False) -> Any:
        version = ctx.version or _V2018[0]
        try:
            body = orjson.loads(ctx.req.body) if ctx.req.body.strip() else None
        except orjson.JSONDecodeError:
            body = None
        kind = list if array else dict
        if not isinstance(body, kind):
            what = "a JSON array" if array else "a JSON object"
            raise _refuse(
                400,
                [_message(f"The request body must be {what}.", code=1100, kind="Exception")],
                version,
            )
        return body

    def _item(self, resource: Resource, row_id: str, version: str) -> bytes:
        return self._encoded_rows(resource, version)[self._position[resource.name][row_id]]

    def _current_etags(
        self, resource: Resource, row_id: str, versions: tuple[str, ...]
    ) -> set[str]:
        revision = self._revision(resource.frame, row_id)
        return {self._etag(self._item(resource, row_id, v), v, revision) for v in versions}

    def _check_if_match(
        self, ctx: _Ctx, resource: Resource, row_id: str, versions: tuple[str, ...], label: str
    ) -> None:
        sent = ctx.req.headers.get("if-match")
        if sent is None:
            return
        tags = {t.strip().removeprefix("W/") for t in sent.split(",")}
        if "*" in tags or tags & self._current_etags(resource, row_id, versions):
            return
        message = _message(
            f"{label} {row_id} was changed since it was read: the If-Match header no longer "
            "represents its current state. Read it again (GET), resolve the differences and try "
            "again.",
            code=1409,
            kind="ConcurrencyViolation",
            entity=row_id,
        )
        raise _refuse(409, [message], ctx.version or _V2018[0])

    def _written(
        self,
        ctx: _Ctx,
        resource: Resource,
        row_id: str,
        *,
        status: int = 200,
        messages: list[dict[str, Any]] | None = None,
    ) -> MockResponse:
        """The resource as it is now: ``{content, version, messages}`` with its new ETag."""
        version = ctx.version or _V2018[0]
        item = self._item(resource, row_id, version)
        etag = self._etag(item, version, self._revision(resource.frame, row_id))
        body = b'{"content":%s,"version":%s,"messages":%s}' % (
            item,
            orjson.dumps(_version(version)),
            orjson.dumps(messages or []),
        )
        return MockResponse(
            status,
            [
                ("Content-Type", f"application/json;version={version}"),
                ("Date", http_date(ctx.now)),
                ("Expires", http_date(ctx.now - CACHEABLE_LIFETIME)),
                ("ETag", etag),
            ],
            body,
        )

    def _employer_leave_types(self, employer_id: str) -> dict[int, bool]:
        """Leave type key → enabled, of an employer."""
        types = self.world.leave_types.filter(pl.col("employer_id") == employer_id)
        return dict(zip(types["leave_type_key"].to_list(), types["enabled"].to_list(), strict=True))

    def _leave_fields(
        self, body: Mapping[str, Any], employer_id: str, rules: _Rules, *, comment: str
    ) -> dict[str, Any]:
        """The world columns of a leave request or ledger body, after its rules."""
        start = rules.date(body, "startDate", 1101, required=True)
        end = rules.date(body, "endDate", 1102, required=True)
        if start is not None and end is not None:
            if end < start:
                rules.broken("endDate must not be before startDate.", 1103, "startDate", "endDate")
            elif start.year != end.year:
                rules.broken(
                    "Leave must lie within one calendar year; split it per year.",
                    1104,
                    "startDate",
                    "endDate",
                )
        units = body.get("numberOfUnits")
        if isinstance(units, bool) or not isinstance(units, int | float):
            rules.broken(
                "numberOfUnits (hours) is required and must be a number.", 1105, "numberOfUnits"
            )
            units = None
        elif not 0 < units <= _MAX_UNITS:
            rules.broken(
                f"numberOfUnits must be above 0 and at most {_MAX_UNITS:g} hours.",
                1105,
                "numberOfUnits",
            )
        accrual = body.get("isAccrual", False)
        if not isinstance(accrual, bool):
            rules.broken("isAccrual must be true or false.", 1106, "isAccrual")
        key = _at(body, "leaveType.key")
        types = self._employer_leave_types(employer_id)
        if isinstance(key, bool) or not isinstance(key, int):
            rules.broken(
                "leaveType.key is required (a leave type of the employer).", 1107, "leaveType.key"
            )
            key = None
        elif not types.get(key, False):
            rules.broken(
                f"Leave type {key} does not exist for this employer or is not enabled.",
                1107,
                "leaveType.key",
            )
        text = rules.text(body, comment, 1108, limit=_MAX_COMMENT)
        return {
            "start_date": start,
            "end_date": end,
            "number_of_units": None if units is None else float(units),
            "is_accrual": accrual if isinstance(accrual, bool) else False,
            "leave_type_key": key,
            "leave_type": LEAVE_TYPE_NAMES.get(key) if isinstance(key, int) else None,
            "unit_type_key": UNIT_TYPE[0],
            "unit_type": UNIT_TYPE[1],
            "comment_handler" if comment == "commentHandler" else "comment": text,
        }

    # -- leave requests -------------------------------------------------------------------------

    def _put_leave_request(self, ctx: _Ctx, leaveRequestId: str) -> MockResponse:
        resource = RESOURCES["leave_requests"]
        self._check_if_match(ctx, resource, leaveRequestId, _V2018, "Leave request")
        body = self._body(ctx)
        current = row_of(self.world, "leave_requests", leaveRequestId)
        assert current is not None  # the access check found it
        rules = _Rules(leaveRequestId)
        fields = self._leave_fields(body, current["employer_id"], rules, comment="commentHandler")
        if fields["is_accrual"]:
            rules.broken("A leave request cannot be an accrual.", 1106, "isAccrual")
        if current["leave_request_status_key"] != STATUS_SUBMITTED[0]:
            changed = [
                api
                for api, column in (
                    ("startDate", "start_date"),
                    ("endDate", "end_date"),
                    ("numberOfUnits", "number_of_units"),
                    ("leaveType.key", "leave_type_key"),
                )
                if fields[column] is not None and fields[column] != current[column]
            ]
            if changed:
                rules.broken(
                    f"The leave request has status {current['leave_request_status']}: only "
                    "commentHandler can be changed once it was handled.",
                    1110,
                    *changed,
                )
        rules.check(ctx.version)
        update = {k: v for k, v in fields.items() if k not in ("unit_type_key", "unit_type")}
        self._state.apply(
            lambda w: (*edit_rows(w, "leave_requests", update={leaveRequestId: update}), None)
        )
        return self._written(ctx, resource, leaveRequestId)

    def _post_leave_request(self, ctx: _Ctx, employmentId: str) -> MockResponse:
        employment = row_of(self.world, "employments", employmentId)
        assert employment is not None
        body = self._body(ctx)
        rules = _Rules(None)
        fields = self._leave_fields(
            body, employment["employer_id"], rules, comment="commentHandler"
        )
        if fields["is_accrual"]:
            rules.broken("A leave request cannot be an accrual.", 1106, "isAccrual")
        start, end = fields["start_date"], fields["end_date"]
        if (
            start is not None
            and end is not None
            and (
                start < employment["start_date"]
                or (employment["end_date"] is not None and end > employment["end_date"])
            )
        ):
            rules.broken(
                "The leave lies (partly) outside the employment.", 1111, "startDate", "endDate"
            )
        rules.check(ctx.version)
        request_id = str(uuid.uuid4())
        now = _now_us(self._clock)
        row = {
            **fields,
            "id": request_id,
            "employer_id": employment["employer_id"],
            "employment_id": employmentId,
            "employee_id": employment["employee_id"],
            "leave_request_status_key": STATUS_SUBMITTED[0],
            "leave_request_status": STATUS_SUBMITTED[1],
            "submitted_on": datetime.fromtimestamp(now / 1e6, UTC),
            "handled_time": None,
            "handled_by_id": None,
            "comment_employee": None,
            "currently_available_units": self._available(employmentId, fields),
        }
        self._state.apply(lambda w: (*edit_rows(w, "leave_requests", add=[row]), None))
        warnings = []
        available = row["currently_available_units"]
        if available is not None and fields["number_of_units"] > available:
            warnings.append(
                _message(
                    f"The leave request asks {fields['number_of_units']:g} hours; "
                    f"{available:g} are available for this leave type this year.",
                    code=1150,
                    kind="Warning",
                    entity=request_id,
                    properties=("numberOfUnits",),
                )
            )
        return self._written(
            ctx, RESOURCES["leave_requests"], request_id, status=201, messages=warnings
        )

    def _available(self, employment_id: str, fields: Mapping[str, Any]) -> float | None:
        start = fields["start_date"]
        if start is None:
            return None
        hit = self.world.leave_balances.filter(
            (pl.col("employment_id") == employment_id)
            & (pl.col("year") == start.year)
            & (pl.col("leave_type_key") == fields["leave_type_key"])
        )
        return hit["balance"][0] if hit.height else None

    def _patch_leave_requests(self, ctx: _Ctx) -> MockResponse:
        version = ctx.version or _V2018[0]
        body = self._body(ctx, array=True)
        rules = _Rules(None)
        actions: list[tuple[str, str]] = []
        for i, item in enumerate(body):
            entity, action = (
                (item.get("id"), item.get("action")) if isinstance(item, dict) else (None, None)
            )
            if not isinstance(entity, str) or not entity:
                rules.broken(f"Item {i}: id (a leave request id) is required.", 1120, "id")
            elif action not in _ACTIONS:
                rules.broken(
                    f"Item {i}: action must be one of {', '.join(_ACTIONS)}, got {action!r}.",
                    1121,
                    "action",
                )
            else:
                actions.append((entity.strip("{}()").lower(), action))
        rules.check(version)  # a malformed body is refused as a whole
        failed: list[dict[str, Any]] = []

        def edit(world: World) -> tuple[World, Any, None]:
            new: World = world
            changes: dict[str, frozenset[Any]] = {}
            for entity, action in actions:
                problem = self._transition_problem(new, entity, action)
                if problem is not None:
                    failed.append(problem)
                    continue
                new, change = self._transition(new, entity, action)
                changes = merge_changes(changes, change)
            return new, changes, None

        self._state.apply(edit)
        if failed:
            return json_response(
                400, {"version": _version(version), "messages": failed, "content": {}}
            )
        return json_response(
            200,
            {"version": _version(version), "messages": [], "content": {}},
            content_type=f"application/json;version={version}",
        )

    def _transition_problem(self, world: World, entity: str, action: str) -> dict[str, Any] | None:
        row = row_of(world, "leave_requests", entity)
        if row is None or not self._employer_accessible.get(row["employer_id"], False):
            return _message(
                f"Leave request {entity} does not exist.", code=1404, kind="NotFound", entity=entity
            )
        status = row["leave_request_status_key"]
        allowed = {
            STATUS_SUBMITTED[0]: ("accept", "reject"),
            STATUS_REJECTED[0]: ("reopen",),
        }.get(status, ())
        if action in allowed:
            return None
        possible = " or ".join(allowed) if allowed else "no change"
        return _message(
            f"The leave request has status {row['leave_request_status']}: {action} is not "
            f"possible ({possible} is).",
            code=1122,
            entity=entity,
            properties=("action",),
        )

    def _transition(self, world: World, entity: str, action: str) -> tuple[World, Any]:
        row = row_of(world, "leave_requests", entity)
        assert row is not None
        now = max(
            datetime.fromtimestamp(self._clock(), UTC),
            row["submitted_on"] or datetime.fromtimestamp(0, UTC),
        )
        if action == "reopen":
            status, handled_time, handled_by = STATUS_SUBMITTED, None, None
        else:
            status = STATUS_ACCEPTED if action == "accept" else STATUS_REJECTED
            handled_time, handled_by = now, MOCK_USER_ID
        world, changes = edit_rows(
            world,
            "leave_requests",
            update={
                entity: {
                    "leave_request_status_key": status[0],
                    "leave_request_status": status[1],
                    "handled_time": handled_time,
                    "handled_by_id": handled_by,
                }
            },
        )
        if action == "accept":
            booked = {
                "id": str(uuid.uuid4()),
                "employer_id": row["employer_id"],
                "employment_id": row["employment_id"],
                "start_date": row["start_date"],
                "end_date": row["end_date"],
                "number_of_units": row["number_of_units"],
                "unit_type_key": row["unit_type_key"],
                "unit_type": row["unit_type"],
                "is_accrual": False,
                "leave_type_key": row["leave_type_key"],
                "leave_type": row["leave_type"],
                "comment": None,
                "related_leave_request_id": entity,
                "means_of_creation_key": CREATION_REQUEST[0],
                "means_of_creation": CREATION_REQUEST[1],
            }
            world, booking = edit_rows(world, "leave", add=[booked])
            changes = merge_changes(changes, booking)
        return world, changes

    # -- employees ------------------------------------------------------------------------------

    def _put_employee(self, ctx: _Ctx, employeeId: str) -> MockResponse:
        resource = RESOURCES["employees"]
        self._check_if_match(ctx, resource, employeeId, _EMPLOYEE_VERSIONS, "Employee")
        body = self._body(ctx)
        rules = _Rules(employeeId)
        number = body.get("employeeNumber")
        if isinstance(number, bool) or not isinstance(number, int) or number < 1:
            rules.broken(
                "employeeNumber is required (a whole number above 0).", 1201, "employeeNumber"
            )
        first = rules.text(body, "personalDetails.firstName", 1202, limit=28)
        initials = rules.text(body, "personalDetails.initials", 1203, limit=6, required=True)
        prefix = rules.text(body, "personalDetails.prefix", 1204, limit=10)
        last = rules.text(body, "personalDetails.lastName", 1205, limit=25, required=True)
        personal = body.get("personalDetails")
        born = rules.date(
            personal if isinstance(personal, dict) else {}, "dateOfBirth", 1206, required=True
        )
        gender = _at(body, "personalDetails.gender.key")
        if gender not in (1, 2, 3):
            rules.broken(
                "personalDetails.gender.key must be 1, 2 or 3.", 1207, "personalDetails.gender.key"
            )
        address = body.get("address")
        street = rules.text(
            body, "address.street", 1208, limit=24, required=isinstance(address, dict)
        )
        house = _at(body, "address.houseNumber")
        if address is not None and (
            isinstance(house, bool) or not isinstance(house, int) or house < 1
        ):
            rules.broken(
                "address.houseNumber must be a whole number above 0.", 1209, "address.houseNumber"
            )
        postal = rules.text(
            body, "address.postalCode", 1210, limit=8, required=isinstance(address, dict)
        )
        city = rules.text(body, "address.city", 1211, limit=24, required=isinstance(address, dict))
        contact = {}
        for api, column in (
            ("phoneNumber", "phone_number"),
            ("mobilePhoneNumber", "mobile_phone_number"),
            ("emailAddress", "email_address"),
            *(
                (
                    ("businessPhoneNumber", "business_phone_number"),
                    ("businessMobilePhoneNumber", "business_mobile_phone_number"),
                    ("businessEmailAddress", "business_email_address"),
                )
                if ctx.version >= "2021-03-29"
                else ()
            ),
        ):
            value = rules.text(body, f"contactInformation.{api}", 1212, limit=255)
            if value is not None and "email" in column and "@" not in value:
                rules.broken(
                    f"contactInformation.{api} is not an e-mail address.",
                    1213,
                    f"contactInformation.{api}",
                )
            contact[column] = value
        distance = _at(body, "travel.travelDistanceToWork")
        if distance is not None and (
            isinstance(distance, bool) or not isinstance(distance, int) or distance < 0
        ):
            rules.broken(
                "travel.travelDistanceToWork must be a whole number of km.",
                1214,
                "travel.travelDistanceToWork",
            )
        excluded = body.get("exclusionFromAbsenceStatus", False)
        if not isinstance(excluded, bool):
            rules.broken(
                "exclusionFromAbsenceStatus must be true or false.",
                1215,
                "exclusionFromAbsenceStatus",
            )
        rules.check(ctx.version)
        full_last = f"{prefix} {last}" if prefix else last
        update = {
            "employee_number": number,
            "first_name": first,
            "initials": initials,
            "prefix": prefix,
            "last_name": last,
            "formatted_name": f"{(first or initials or '?')[0]}. {full_last}",
            "date_of_birth": born,
            "aow_date": _plus_years(born, 67),
            "gender_key": gender,
            "gender": ("Man", "Vrouw", "Onbekend")[int(gender) - 1],
            "address_street": street,
            "address_house_number": house if address is not None else None,
            "address_postal_code": postal,
            "address_city": city,
            **contact,
            "travel_distance_to_work": distance,
            "exclusion_from_absence_status": excluded,
        }
        self._state.apply(lambda w: (*edit_rows(w, "employees", update={employeeId: update}), None))
        return self._written(ctx, resource, employeeId)

    # -- the leave ledger -----------------------------------------------------------------------

    def _post_leave(self, ctx: _Ctx, employmentId: str) -> MockResponse:
        employment = row_of(self.world, "employments", employmentId)
        assert employment is not None
        rules = _Rules(None)
        fields = self._leave_fields(
            self._body(ctx), employment["employer_id"], rules, comment="comment"
        )
        rules.check(ctx.version)
        leave_id = str(uuid.uuid4())
        row = {
            **fields,
            "id": leave_id,
            "employer_id": employment["employer_id"],
            "employment_id": employmentId,
            "related_leave_request_id": None,
            "means_of_creation_key": CREATION_MANUAL[0],
            "means_of_creation": CREATION_MANUAL[1],
        }
        self._state.apply(lambda w: (*edit_rows(w, "leave", add=[row]), None))
        return self._written(ctx, RESOURCES["leave"], leave_id, status=201)

    def _booked_from_request(self, leave: Mapping[str, Any], version: str) -> None:
        if leave["related_leave_request_id"] is not None:
            message = _message(
                "This leave was booked from a leave request; change or reject the request instead.",
                code=1301,
                entity=leave["id"],
            )
            raise _refuse(400, [message], version)

    def _put_leave(self, ctx: _Ctx, leaveId: str) -> MockResponse:
        resource = RESOURCES["leave"]
        self._check_if_match(ctx, resource, leaveId, _V2018, "Leave")
        current = row_of(self.world, "leave", leaveId)
        assert current is not None
        self._booked_from_request(current, ctx.version)
        rules = _Rules(leaveId)
        fields = self._leave_fields(
            self._body(ctx), current["employer_id"], rules, comment="comment"
        )
        rules.check(ctx.version)
        self._state.apply(lambda w: (*edit_rows(w, "leave", update={leaveId: fields}), None))
        return self._written(ctx, resource, leaveId)

    def _delete_leave(self, ctx: _Ctx, leaveId: str) -> MockResponse:
        version = _V2018[0]
        current = row_of(self.world, "leave", leaveId)
        assert current is not None
        self._booked_from_request(current, version)
        self._state.apply(lambda w: (*edit_rows(w, "leave", remove=[leaveId]), None))
        return json_response(200, {"version": _version(version), "messages": [], "content": {}})


def _plus_years(day: date | None, years: int) -> date | None:
    if day is None:
        return None
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February
        return day.replace(year=day.year + years, day=28)
