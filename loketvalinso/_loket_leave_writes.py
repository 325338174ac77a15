"""The leave-request flows of :class:`~loketvalinso.Loket`: create, change, accept/reject/reopen.

>>> loket.create_leave_request(employment_id, start="2026-12-28", end="2026-12-31", hours=32,
...                            leave_type=15)
>>> loket.update_leave_request(request_id, hours=24)              # If-Match: the ETag read
>>> loket.set_leave_request_status(pending["id"], "accept")      # one outcome row per id

Built on the generic writes of :mod:`~loketvalinso._loket_writes`. The status change of many
requests is one multi-patch; its answer is turned into one outcome per id whether the server
answers 400 for a partly failed call (the OpenAPI description) or 200 (the API guide).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from datetime import date
from typing import Any

import httpx
import polars as pl

from loketvalinso._catalog import fill_path
from loketvalinso._dates import iso_date
from loketvalinso._json import loads
from loketvalinso._loket_writes import RELATED_COLLECTIONS, LoketWrites
from loketvalinso._transport.responses import (
    LOKET_ERROR_TYPES,
    error_from_loket_messages,
    error_from_response,
)
from loketvalinso._writes import dry_run_of
from loketvalinso.errors import BadRequestError, ConfigurationError, PartialWriteWarning

__all__ = ["ACTIONS", "OUTCOME_SCHEMA", "LeaveRequestWrites"]

LEAVE_REQUEST = "/providers/employers/employees/employments/leaverequests/{leaveRequestId}"
LEAVE_REQUEST_STATUS = "/providers/employers/employees/employments/leaverequests"
#: Where leave requests are created. The published description documents no POST for leave
#: requests (employees submit them in self-service); the public Python SDK posts here, with the
#: body of the documented PUT, and so does this toolkit (the mock serves it).
CREATE_LEAVE_REQUEST = "/providers/employers/employees/employments/{employmentId}/leaverequests"

#: The actions of the leave-request multi-patch (``leaveRequestStatus`` transitions).
ACTIONS = ("accept", "reject", "reopen")
#: The columns of :meth:`LeaveRequestWrites.set_leave_request_status`.
OUTCOME_SCHEMA = {
    "id": pl.String(),
    "action": pl.String(),
    "outcome": pl.String(),
    "message_type": pl.String(),
    "message": pl.String(),
    "code": pl.Int64(),
}


class LeaveRequestWrites(LoketWrites):
    """Leave-request flows (mixed into :class:`~loketvalinso.Loket`)."""

    def create_leave_request(
        self,
        employment_id: str,
        *,
        start: str | date,
        end: str | date,
        hours: float,
        leave_type: int,
        comment: str | None = None,
        is_accrual: bool = False,
        version: str | date | None = None,
        dry_run: bool = False,
    ) -> Any:
        """Submit a leave request for an employment (status ``submitted``).

        Parameters
        ----------
        employment_id
            The employment the leave is for.
        start, end
            First and last day (``YYYY-MM-DD`` or dates).
        hours
            ``numberOfUnits``: the hours requested (more than 0).
        leave_type
            The leave type's key (``leave_type_key`` of :meth:`leave_types`).
        comment
            ``commentHandler``.

        Returns
        -------
        polars.DataFrame
            The new leave request (one row, ``id`` assigned by the server).

        Notes
        -----
        The published API description has no POST for leave requests (employees submit them
        in self-service); this sends ``POST …/employments/{employmentId}/leaverequests`` with
        the body of the documented PUT, as the public Loket SDK for Python does. A server
        without it answers 404 or 405.
        """
        start_s = iso_date(start, name="start")
        end_s = iso_date(end, name="end")
        if start_s is None or end_s is None:
            msg = "create_leave_request needs start= and end= (YYYY-MM-DD)"
            raise ConfigurationError(msg)
        if start_s > end_s:
            msg = f"start ({start_s}) is after end ({end_s}); swap them"
            raise ConfigurationError(msg)
        body = {
            "startDate": start_s,
            "endDate": end_s,
            "numberOfUnits": _hours(hours),
            "isAccrual": bool(is_accrual),
            "leaveType": {"key": _leave_type(leave_type)},
            "commentHandler": comment,
        }
        return self._write(
            "POST",
            CREATE_LEAVE_REQUEST,
            body,
            {"employmentId": employment_id},
            version=version,
            dry_run=dry_run,
            template=CREATE_LEAVE_REQUEST,
            schema_of=self._catalog.find_write("PUT", LEAVE_REQUEST),
        )

    def update_leave_request(
        self,
        leave_request_id: str,
        *,
        start: str | date | None = None,
        end: str | date | None = None,
        hours: float | None = None,
        leave_type: int | None = None,
        is_accrual: bool | None = None,
        comment: str | None = None,
        if_match: str | bool | None = None,
        version: str | date | None = None,
        dry_run: bool = False,
    ) -> Any:
        """Change a leave request; the fields left as None keep their values.

        Builds on this client's last read of the request (its ETag goes in ``If-Match``); a
        request never read is read first. The API allows changes only while a request is
        ``submitted`` (afterwards only ``comment``): it refuses others with a
        ``BrokenBusinessRule`` (:class:`~loketvalinso.errors.ValidationError`).

        Raises
        ------
        ConflictError
            Someone changed the request since it was read (see :meth:`put`).
        """
        changes: dict[str, Any] = {}
        if start is not None:
            changes["start_date"] = iso_date(start, name="start")
        if end is not None:
            changes["end_date"] = iso_date(end, name="end")
        if hours is not None:
            changes["number_of_units"] = _hours(hours)
        if leave_type is not None:
            changes["leave_type_key"] = _leave_type(leave_type)
        if is_accrual is not None:
            changes["is_accrual"] = bool(is_accrual)
        if comment is not None:
            changes["comment_handler"] = comment
        if not changes:
            msg = "update_leave_request: nothing to change (give start=, end=, hours=, …)"
            raise ConfigurationError(msg)
        ids = {"leaveRequestId": leave_request_id}
        filled = fill_path(LEAVE_REQUEST, LEAVE_REQUEST, ids)
        if self._read_of(filled) is None and if_match is None:
            if dry_run:
                msg = (
                    f"dry run of a change to leave request {leave_request_id}: it was not read "
                    "in this client, so the body and If-Match are not known yet. Read it first "
                    "(loket.get(...) of the leave request), then dry-run again"
                )
                raise ConfigurationError(msg)
            self.get(LEAVE_REQUEST, leaveRequestId=leave_request_id)
        return self.put(
            LEAVE_REQUEST, changes, version=version, if_match=if_match, dry_run=dry_run, **ids
        )

    def set_leave_request_status(
        self,
        ids: Any,
        action: str,
        *,
        version: str | date | None = None,
        dry_run: bool = False,
    ) -> Any:
        """Accept, reject or reopen many leave requests in one call; one outcome row per id.

        Parameters
        ----------
        ids
            Leave request ids: a list, a Series, or a DataFrame with an ``id`` column.
        action
            ``"accept"`` or ``"reject"`` (a submitted request) or ``"reopen"`` (a rejected one).

        Returns
        -------
        polars.DataFrame
            ``id, action, outcome, message_type, message, code``: ``outcome`` is ``"changed"``
            or ``"failed"`` (with the server's message for that id), whatever the status code
            (the description answers 400 when any action fails, the API guide 200 when one
            succeeds). A partly failed call warns (:class:`~loketvalinso.errors.PartialWriteWarning`).

        Raises
        ------
        ValidationError, NotFoundError, …
            Only when every action failed; ``.outcomes`` holds the table.
        ConfigurationError
            An unknown action, or ids that are not strings.
        """
        if action not in ACTIONS:
            msg = f"action must be one of {', '.join(ACTIONS)}, not {action!r}"
            raise ConfigurationError(msg)
        wanted = _ids_of(ids)
        if not wanted:
            return pl.DataFrame(schema=OUTCOME_SCHEMA)
        body = [{"id": i, "action": action} for i in wanted]
        entry = self._catalog.find_write("PATCH", LEAVE_REQUEST_STATUS)
        filled = fill_path(entry["path"], entry["path"], {})
        label = self._write_version(entry, version, None)
        request = self._request("PATCH", entry, filled, label, body)
        if dry_run:
            return dry_run_of(request, auth_headers=("authorization",))
        what = f"{action} {len(wanted)} leave request(s)"
        response = self._send(request, what, RELATED_COLLECTIONS["leaverequest"])
        for leave_request_id in wanted:
            self._forget_read(
                fill_path(LEAVE_REQUEST, LEAVE_REQUEST, {"leaveRequestId": leave_request_id})
            )
        return _outcomes(response, wanted, action)


# -- helpers ------------------------------------------------------------------------------------


def _hours(hours: Any) -> float:
    if isinstance(hours, bool) or not isinstance(hours, int | float) or not hours > 0:
        msg = f"hours must be a number above 0, not {hours!r}"
        raise ConfigurationError(msg)
    return float(hours)


def _leave_type(leave_type: Any) -> int:
    if isinstance(leave_type, bool) or not isinstance(leave_type, int):
        msg = (
            f"leave_type must be a leave type key (an int: leave_type_key of "
            f"loket.leave_types(employer_id)), not {leave_type!r}"
        )
        raise ConfigurationError(msg)
    return leave_type


def _ids_of(ids: Any) -> list[str]:
    """Leave request ids from a list, a Series or a frame's ``id`` column (order kept, once)."""
    if isinstance(ids, pl.DataFrame):
        if "id" not in ids.columns:
            msg = f"a frame of leave requests needs an id column; it has {', '.join(ids.columns)}"
            raise ConfigurationError(msg)
        ids = ids.get_column("id")
    if isinstance(ids, pl.Series):
        ids = ids.to_list()
    if isinstance(ids, str):
        ids = [ids]
    out: list[str] = []
    for value in ids:
        if not isinstance(value, str) or not value.strip():
            msg = f"leave request ids are uuid strings, got {value!r}"
            raise ConfigurationError(msg)
        out.append(value.strip())
    return list(dict.fromkeys(out))


def _norm(entity_id: Any) -> str:
    return str(entity_id).strip("{}()").lower()


def _outcomes(response: httpx.Response, wanted: list[str], action: str) -> pl.DataFrame:
    """One row per id from a multi-patch answer.

    An id with an error message of its own failed. The others changed, unless the call was
    refused as a whole (an error status with no message naming any id): then every id failed
    with the general message. A 5xx says nothing per id and raises.
    """
    status = response.status_code
    if status >= 500:
        hint = (
            "Some actions may have been applied all the same: load the leave requests to see "
            "their status before sending it again (writes are never repeated automatically)"
        )
        raise error_from_response(response, api="loket", hint=hint)
    try:
        body = loads(response.content) if response.content.strip() else {}
    except ValueError:
        body = None
    raw = body.get("messages") if isinstance(body, dict) else None
    messages = [m for m in raw or [] if isinstance(m, Mapping)]
    by_id: dict[str, list[Mapping[str, Any]]] = {}
    general: list[Mapping[str, Any]] = []
    for message in messages:
        if message.get("id"):
            by_id.setdefault(_norm(message["id"]), []).append(message)
        else:
            general.append(message)
    named = any(_norm(i) in by_id for i in wanted)
    refused = status >= 400 and not named
    refusal = next((m for m in general if m.get("type") in LOKET_ERROR_TYPES), None)
    rows = []
    for leave_request_id in wanted:
        own = by_id.get(_norm(leave_request_id), [])
        error = next((m for m in own if m.get("type") in LOKET_ERROR_TYPES), None)
        if error is None and refused:
            error = refusal or {"type": "Exception", "description": f"Loket answered {status}"}
        shown = error or next(iter(own), None)
        rows.append(
            {
                "id": leave_request_id,
                "action": action,
                "outcome": "failed" if error is not None else "changed",
                "message_type": shown.get("type") if shown else None,
                "message": shown.get("description") if shown else None,
                "code": _code(shown.get("code")) if shown else None,
            }
        )
    frame = pl.DataFrame(rows, schema=OUTCOME_SCHEMA)
    failed = frame.filter(pl.col("outcome") == "failed").height
    if failed == frame.height:
        url = response.request.url
        found = error_from_loket_messages(messages, status=status, url=url) if named else None
        error_obj = found or error_from_response(response, api="loket")
        if error_obj.status is None or error_obj.status < 400:
            error_obj = BadRequestError(str(error_obj), status=status, url=url, messages=messages)
        error_obj.outcomes = frame
        error_obj.args = (
            f"every one of the {failed} actions ({action}) failed: {error_obj.args[0]}",
        )
        raise error_obj
    if failed:
        warnings.warn(
            PartialWriteWarning(
                f"{failed} of {frame.height} leave request actions ({action}) failed; the others "
                "were applied: see the outcome and message columns"
            ),
            stacklevel=3,
        )
    return frame


def _code(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None
