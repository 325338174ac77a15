"""Loket writes: POST/PUT/PATCH/DELETE over the catalogue, ETags, and the leave-request flows.

>>> row = loket.get("/providers/employers/employees/employments/leaverequests/{leaveRequestId}",
...                 leave_request_id=request_id)                 # the client keeps its ETag
>>> row = row.with_columns(comment_handler=pl.lit("Fijne vakantie!"))
>>> loket.put("/providers/employers/employees/employments/leaverequests/{leaveRequestId}", row,
...           leave_request_id=request_id)                       # If-Match: that ETag
>>> loket.set_leave_request_status(pending["id"], "accept")     # one row per id

A body is the API's JSON, or a dict / one-row DataFrame in the columns a read returns: it is put
back into the API's nesting by the schema of the operation's request body
(:mod:`~loketvalinso._frames.unflatten`). A ``PUT`` sends ``If-Match`` with the ETag of the
client's last read of that resource, and columns a body leaves out keep the values of that
read. Writes are sent once (never retried once they may have reached the server), and drop the
cache's entries of what they changed. ``dry_run=True`` returns the request instead of sending it.
"""

from __future__ import annotations

import threading
import warnings
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any

import httpx
import orjson
import polars as pl

from loketvalinso._catalog import Catalog, Endpoint, FilledPath, fill_path
from loketvalinso._dates import iso_date
from loketvalinso._frames.parse import parse_page
from loketvalinso._frames.spec import schema_for
from loketvalinso._frames.unflatten import BodyShape, body_shape, json_value
from loketvalinso._transport.responses import (
    LOKET_ERROR_TYPES,
    check_loket_messages,
    error_from_loket_messages,
    error_from_response,
)
from loketvalinso._transport.store import DiskCache
from loketvalinso._writes import build_write, dry_run_of, send_write
from loketvalinso.errors import (
    BadRequestError,
    ConfigurationError,
    ConflictError,
    LoketValinsoError,
    PartialWriteWarning,
    ResponseFormatError,
)

if TYPE_CHECKING:
    from loketvalinso._load.report import LoadReport

__all__ = ["ACTIONS", "OUTCOME_SCHEMA", "LoketWrites"]

LEAVE_REQUEST = "/providers/employers/employees/employments/leaverequests/{leaveRequestId}"
LEAVE_REQUEST_STATUS = "/providers/employers/employees/employments/leaverequests"
#: Where leave requests are created. The published description documents no POST for leave
#: requests (employees submit them in self-service); the public Python SDK posts here, with the
#: body of the documented PUT, and so does this toolkit (the mock serves it).
CREATE_LEAVE_REQUEST = "/providers/employers/employees/employments/{employmentId}/leaverequests"

#: The actions of the leave-request multi-patch (``leaveRequestStatus`` transitions).
ACTIONS = ("accept", "reject", "reopen")
#: The columns of :meth:`LoketWrites.set_leave_request_status`.
OUTCOME_SCHEMA = {
    "id": pl.String(),
    "action": pl.String(),
    "outcome": pl.String(),
    "message_type": pl.String(),
    "message": pl.String(),
    "code": pl.Int64(),
}
#: Collections a write of one changes besides its own: an accepted leave request is booked
#: leave and changes balances; an employee is embedded in employments and leave requests.
RELATED_COLLECTIONS = {
    "leaverequest": ("c/leave", "c/leavebalance"),
    "leave": ("c/leavebalance", "c/leaverequest"),
    "employee": ("c/employment", "c/leaverequest"),
}
#: Columns the loaders add to what the API sends (never part of a body).
LOADER_COLUMNS = frozenset({"employer_id", "employee_id", "employment_id"})
#: Detail reads remembered per client (ETag, the row read, its version).
MAX_READS = 4096


@dataclass(frozen=True, slots=True)
class _Read:
    """The client's last read of one resource: what a ``PUT`` of it builds on."""

    etag: str | None
    frame: pl.DataFrame
    version: str


def _key(path: str) -> str:
    """The memory key of a concrete path: lower case, ids without braces."""
    return "/".join(p.strip("{}()") for p in path.lower().split("/"))


class LoketWrites:
    """The write half of :class:`~loketvalinso.Loket` (mixed into it)."""

    if TYPE_CHECKING:
        _http: httpx.Client
        _catalog: Catalog
        base_url: str
        offline: bool
        versions: dict[str, str]
        default_version: str | None
        last_load: LoadReport | None

        @property
        def cache(self) -> DiskCache | None: ...

        def get(
            self, path: str, /, *, params: Mapping[str, Any] | None = ..., **path_params: Any
        ) -> pl.DataFrame: ...

    def _init_writes(self) -> None:
        self._reads: OrderedDict[str, _Read] = OrderedDict()
        self._reads_lock = threading.Lock()

    # -- what was read -------------------------------------------------------------------------

    def _remember_read(
        self, entry: Endpoint, filled: FilledPath, served: str, frame: pl.DataFrame
    ) -> None:
        """Keep a detail's ETag and row (called after every load)."""
        if entry["envelope"] != "content" or frame.height != 1 or not entry["path"].endswith("}"):
            return
        etag = self.last_load.etag if self.last_load is not None else None
        with self._reads_lock:
            self._reads[_key(filled.path)] = _Read(etag, frame, served)
            self._reads.move_to_end(_key(filled.path))
            while len(self._reads) > MAX_READS:
                self._reads.popitem(last=False)

    def _read_of(self, filled: FilledPath) -> _Read | None:
        with self._reads_lock:
            return self._reads.get(_key(filled.path))

    def _forget_read(self, filled: FilledPath) -> None:
        with self._reads_lock:
            self._reads.pop(_key(filled.path), None)

    def etag(self, path: str, /, **path_params: Any) -> str | None:
        """The ETag of this client's last read of a resource (None: not read, or no ETag).

        Parameters
        ----------
        path
            A detail path template (with its ids as keywords) or a concrete path.
        """
        entry = self._catalog.find(path)
        read = self._read_of(fill_path(entry["path"], path, path_params))
        return None if read is None else read.etag

    # -- the generic writes --------------------------------------------------------------------

    def post(
        self,
        path: str,
        /,
        body: Any = None,
        *,
        version: str | date | None = None,
        dry_run: bool = False,
        **path_params: Any,
    ) -> Any:
        """POST ``body`` to any documented POST operation.

        Parameters
        ----------
        path
            The path template (ids as keywords: ``employment_id=``) or a concrete path.
        body
            The API's JSON (a dict, or a list for array bodies), or a dict / one-row DataFrame
            in the columns a read returns (``leave_type_key``, ``start_date``, …); a
            DataFrame of many rows for an array body.
        version
            The request body's resource version (newest on or before it); None = the client's
            choice for the resource.
        dry_run
            Return the request (:class:`~loketvalinso._writes.DryRun`) without sending it.

        Returns
        -------
        polars.DataFrame or object
            The created resource as a one-row DataFrame (typed like a read of it) when the
            answer has one, else the answer's ``content`` (None when empty).

        Raises
        ------
        ConfigurationError
            The API documents no POST there, a body field that does not exist.
        ValidationError, ConflictError, NotFoundError, …
            The server's refusal: ``BrokenBusinessRule`` → ValidationError with ``errors``;
            every error carries the message ``code``, ``description`` and ``entity_id``.
        """
        return self._write("POST", path, body, path_params, version=version, dry_run=dry_run)

    def put(
        self,
        path: str,
        /,
        body: Any = None,
        *,
        version: str | date | None = None,
        if_match: str | bool | None = None,
        dry_run: bool = False,
        **path_params: Any,
    ) -> Any:
        """PUT a resource: replace it with ``body``, safely.

        ``PUT`` replaces the whole resource, so columns ``body`` leaves out keep the values of
        this client's last read of it: read a detail, change a column, put it back.

        Parameters
        ----------
        path, body, version, dry_run
            As for :meth:`post`. Read-only columns of a read (``leave_request_status``,
            ``submitted_by_*``, …) are left out of the body; changing one is an error.
        if_match
            None (default): send ``If-Match`` with the ETag of this client's last read of the
            resource (a resource never read raises: read it first). ``False``: overwrite
            blindly, without ``If-Match``. A string: that ETag.

        Returns
        -------
        polars.DataFrame or object
            The resource as the server now holds it (one row), when the answer has it. Its new
            ETag is remembered, so the next ``put`` builds on it.

        Raises
        ------
        ConflictError
            The resource changed since it was read (409). Never retried: the error carries the
            server's state now (``.current``, read once), the columns that differ from what
            was sent (``.diff``) and the new ETag; a second ``put`` overwrites with your values.
        ConfigurationError
            Not read in this client (and ``if_match`` not given), a read-only column changed,
            or an unknown field.
        """
        return self._write(
            "PUT", path, body, path_params, version=version, if_match=if_match, dry_run=dry_run
        )

    def patch(
        self,
        path: str,
        /,
        body: Any = None,
        *,
        version: str | date | None = None,
        dry_run: bool = False,
        **path_params: Any,
    ) -> Any:
        """PATCH a resource (a partial change, an action such as ``…/terminate``, or a
        multi-patch). Sent once, never retried. Arguments and result as for :meth:`post`."""
        return self._write("PATCH", path, body, path_params, version=version, dry_run=dry_run)

    def delete(
        self,
        path: str,
        /,
        *,
        version: str | date | None = None,
        dry_run: bool = False,
        **path_params: Any,
    ) -> Any:
        """DELETE a resource; returns the answer's ``content`` (usually None)."""
        return self._write("DELETE", path, None, path_params, version=version, dry_run=dry_run)

    # -- the one write path --------------------------------------------------------------------

    def _write(
        self,
        method: str,
        path: str,
        body: Any,
        path_params: Mapping[str, Any],
        *,
        version: str | date | None,
        if_match: str | bool | None = None,
        dry_run: bool,
        template: str | None = None,
        schema_of: Endpoint | None = None,
    ) -> Any:
        """Send one write. ``template``/``schema_of``: an operation the description lacks
        (:data:`CREATE_LEAVE_REQUEST`) sent with the request schema of another."""
        entry = schema_of if schema_of is not None else self._catalog.find_write(method, path)
        filled = fill_path(template or entry["path"], path, path_params)
        read = self._read_of(filled) if method in ("PUT", "PATCH") else None
        label = self._write_version(entry, version, read)
        what = f"{method} {template or entry['path']}"
        sent: Any = None
        shape: BodyShape | None = None
        if entry["body"] == "json" and label is not None and label in entry["schemas"]:
            shape = body_shape(
                entry["schemas"][label], self._catalog.nodes, what=f"the {what} body"
            )
            if body is None:
                msg = f"{what} needs a body: the API's JSON, or the columns a read returns"
                raise ConfigurationError(msg)
            sent = self._body(
                shape, body, read if method == "PUT" else None, what, template or entry["path"]
            )
            _check_required(entry, label, sent, what)
        elif body is not None:
            kind = entry["body"] or "no body"
            msg = f"{what} takes {kind}, not a JSON body; leave body out"
            raise ConfigurationError(msg)
        headers = {"Accept": self._accept(entry, label, filled)}
        if sent is not None and label is not None:
            headers["Content-Type"] = _content_type(label)
        etag = self._if_match(method, entry, filled, read, if_match, what)
        if etag is not None:
            headers["If-Match"] = etag
        request = build_write(
            self._http,
            method,
            filled.path,
            body=sent,
            headers=headers,
            content_type=headers.get("Content-Type", "application/json"),
        )
        if dry_run:
            return dry_run_of(request, auth_headers=("authorization",))
        if self.offline:
            msg = f"{what}: this client is offline (offline=True); writes need the server"
            raise ConfigurationError(msg)
        response = send_write(
            self._http, request, cache=self.cache, also_changes=_related(filled.path), label=what
        )
        try:
            return self._answer(method, entry, filled, label, response, template=template)
        except ConflictError as exc:
            if method == "PUT" and shape is not None:
                self._explain_conflict(exc, shape, sent, filled, template or entry["path"])
            raise

    def _body(
        self, shape: BodyShape, body: Any, read: _Read | None, what: str, template: str
    ) -> Any:
        """The JSON to send: ``body`` in the API's nesting, a PUT completed from ``read``."""
        ignore = self._not_in_body(shape, template)
        if shape.is_array:
            rows = body.iter_rows(named=True) if isinstance(body, pl.DataFrame) else body
            if isinstance(rows, Mapping) or not isinstance(rows, Iterable):
                msg = f"{shape.what} is a list: give a list of objects or a DataFrame"
                raise ConfigurationError(msg)
            return [
                shape.body(shape.columns(row, ignore=ignore, index=i)) for i, row in enumerate(rows)
            ]
        columns = shape.columns(body, ignore=ignore)
        if read is not None:
            before = shape.columns(read.frame, ignore=ignore)
            _check_read_only(shape, columns, before, what)
            columns = {**before, **columns}
        return shape.body(columns)

    def _not_in_body(self, shape: BodyShape, template: str) -> set[str]:
        """Columns a read of the resource returns that are no field of the body (path ids,
        the ids loaders add, fields only the GET has): left out without complaint."""
        ignore = set(LOADER_COLUMNS)
        get = self._get_entry(template)
        if get is not None:
            for label in get["schemas"]:
                ignore.update(schema_for(get, label).columns)
        return ignore.difference(shape.fields)

    def _write_version(
        self, entry: Endpoint, version: str | date | None, read: _Read | None
    ) -> str | None:
        every = entry["versions"] + entry["undated_versions"]
        if not every:
            return None
        if version is not None:
            return self._catalog.resolve_version(entry, version)
        if read is not None and read.version in every:
            return read.version  # a PUT builds on the read: same version, same fields
        chosen = self.versions.get(entry["path"]) or self.default_version
        return self._catalog.resolve_version(entry, chosen)

    def _accept(self, entry: Endpoint, label: str | None, filled: FilledPath) -> str:
        answers = entry.get("response_versions") or []
        if answers:
            text = label if label and label[:1].isdigit() else None
            return f"application/json;version={_on_or_before(answers, text)}"
        if label and label[:1].isdigit():
            return f"application/json;version={label}"
        get = self._get_entry(entry["path"])
        if get is not None and get["versions"]:
            return f"application/json;version={get['versions'][-1]}"
        return "application/json"

    def _get_entry(self, template: str) -> Endpoint | None:
        """The GET of the same path template, if the API documents one."""
        try:
            found = self._catalog.find(template)
        except ConfigurationError:
            return None
        return found if found["path"] == template and found["kind"] == "json" else None

    def _if_match(
        self,
        method: str,
        entry: Endpoint,
        filled: FilledPath,
        read: _Read | None,
        if_match: str | bool | None,
        what: str,
    ) -> str | None:
        if method != "PUT" or if_match is False:
            return None
        if isinstance(if_match, str):
            return if_match
        if if_match is True and (read is None or read.etag is None):
            msg = f"{what}: if_match=True but no ETag was read for {filled.path}; read it first"
            raise ConfigurationError(msg)
        if read is not None:
            return read.etag
        get = self._get_entry(entry["path"])
        if get is None or get["envelope"] != "content":
            return None  # nothing to read: the API gives no ETag for it
        msg = (
            f"{what}: {filled.path} was not read in this client, so there is no ETag to send in "
            "If-Match and a change made by someone else would be overwritten unseen: read it "
            f"first (loket.get({entry['path']!r}, …)), or pass if_match=False to overwrite "
            "blindly"
        )
        raise ConfigurationError(msg)

    # -- answers -------------------------------------------------------------------------------

    def _answer(
        self,
        method: str,
        entry: Endpoint,
        filled: FilledPath,
        label: str | None,
        response: httpx.Response,
        *,
        template: str | None,
    ) -> Any:
        """The written resource from a 2xx; the typed error otherwise."""
        url = str(response.request.url)
        if response.status_code >= 400:
            hint = None
            if response.status_code >= 500 and method in ("POST", "PATCH"):
                hint = (
                    "The request may have been applied all the same: read the resource to see "
                    "before sending it again (writes are never repeated automatically)"
                )
            raise error_from_response(response, api="loket", hint=hint)
        if not response.content.strip():
            if method == "DELETE":
                self._forget_read(filled)
            return None
        try:
            body = orjson.loads(response.content)
        except orjson.JSONDecodeError as exc:
            msg = f"{method} answered {response.status_code} with a body that is not JSON: {exc}"
            raise ResponseFormatError(msg, url=url) from exc
        check_loket_messages(body, url=url, status=response.status_code, stacklevel=4)
        if method == "DELETE":
            self._forget_read(filled)
        content = body.get("content") if isinstance(body, dict) else None
        get = self._get_entry(template or entry["path"])
        if not isinstance(content, dict) or not content or get is None:
            return content
        served = (body.get("version") or {}).get("resourceVersion") or label
        spec = schema_for(get, served)
        _, frame = parse_page(response.content, spec, path_ids=filled.ids, url=url)
        etag = response.headers.get("etag")
        if method == "PUT" and etag and frame.height == 1:
            with self._reads_lock:
                self._reads[_key(filled.path)] = _Read(etag, frame, str(served))
        elif method == "PUT":
            self._forget_read(filled)  # no new ETag: the next PUT must read again
        return frame

    def _explain_conflict(
        self,
        exc: ConflictError,
        shape: BodyShape,
        sent: Any,
        filled: FilledPath,
        template: str,
    ) -> None:
        """Read the resource once and put its state and the differing columns on ``exc``."""
        exc.sent = sent
        try:
            current = self.get(filled.path)
        except LoketValinsoError as reread:
            exc.args = (f"{exc.args[0]}; reading it again failed too: {reread}",)
            return
        exc.current = current
        exc.etag = self.etag(template, **filled.ids)
        ignore = set(current.columns).difference(shape.fields)
        now = shape.flat_json(shape.columns(current, ignore=ignore))
        wanted = shape.flat_json(shape.columns(sent))
        rows = [
            (column, _text(value), _text(now.get(column)))
            for column, value in wanted.items()
            if value != now.get(column)
        ]
        exc.diff = pl.DataFrame(
            rows,
            schema={"column": pl.String, "sent": pl.String, "current": pl.String},
            orient="row",
        )
        said = exc.description or "the resource changed since it was read"
        code = f" (code {exc.code})" if exc.code is not None else ""
        exc.args = (
            f"Loket answered {exc.status}: {said}{code}. It was read again: "
            f"{exc.diff.height} column(s) differ from what was sent (.diff; the server's state "
            "is in .current and its ETag is now remembered). put() again to overwrite with your "
            f"values, or apply your change to .current and put that (url: {exc.url})",
        )

    # -- leave requests ------------------------------------------------------------------------

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
        headers = {"Accept": self._accept(entry, label, filled)}
        if label is not None:
            headers["Content-Type"] = _content_type(label)
        request = build_write(
            self._http,
            "PATCH",
            filled.path,
            body=body,
            headers=headers,
            content_type=headers.get("Content-Type", "application/json"),
        )
        if dry_run:
            return dry_run_of(request, auth_headers=("authorization",))
        if self.offline:
            msg = "set_leave_request_status: this client is offline (offline=True)"
            raise ConfigurationError(msg)
        response = send_write(
            self._http,
            request,
            cache=self.cache,
            also_changes=RELATED_COLLECTIONS["leaverequest"],
            label=f"{action} {len(wanted)} leave request(s)",
        )
        for leave_request_id in wanted:
            self._forget_read(
                fill_path(LEAVE_REQUEST, LEAVE_REQUEST, {"leaveRequestId": leave_request_id})
            )
        return _outcomes(response, wanted, action)


# -- helpers ------------------------------------------------------------------------------------


def _related(path: str) -> tuple[str, ...]:
    from loketvalinso._transport.keys import collection_tag

    return RELATED_COLLECTIONS.get(collection_tag(path)[2:], ())


def _content_type(label: str) -> str:
    return f"application/json;version={label}" if label[:1].isdigit() else "application/json"


def _on_or_before(versions: list[str], text: str | None) -> str:
    if text is None:
        return versions[-1]
    chosen = [v for v in versions if v <= text]
    return chosen[-1] if chosen else versions[0]


def _text(value: Any) -> str | None:
    return None if value is None else orjson.dumps(value).decode()


def _check_required(entry: Endpoint, label: str, sent: Any, what: str) -> None:
    required = entry.get("required", {}).get(label) or []
    items = sent if isinstance(sent, list) else [sent]
    for index, item in enumerate(items):
        missing = [name for name in required if isinstance(item, dict) and item.get(name) is None]
        if missing:
            where = f"item {index} of " if isinstance(sent, list) else ""
            msg = f"{where}the {what} body lacks {', '.join(missing)} (required by the API)"
            raise ConfigurationError(msg)


def _check_read_only(
    shape: BodyShape, given: Mapping[str, Any], before: Mapping[str, Any], what: str
) -> None:
    """A read-only column changed from what was read: the server would ignore it silently."""
    for column, value in given.items():
        field = shape.fields.get(column)
        if field is None or not field.read_only or column not in before:
            continue
        if json_value(field.node, value) != json_value(field.node, before[column]):
            hint = (
                " (use set_leave_request_status)"
                if column.startswith("leave_request_status")
                else ""
            )
            msg = (
                f"{column} is read-only in the {what} body: the server sets it{hint}. It was "
                f"{_text(json_value(field.node, before[column]))} when read, and is now "
                f"{_text(json_value(field.node, value))}"
            )
            raise ConfigurationError(msg)


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
        body = orjson.loads(response.content) if response.content.strip() else {}
    except orjson.JSONDecodeError:
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
