"""Loket writes: POST/PUT/PATCH/DELETE over the catalogue, and the ETags that make them safe.

>>> row = loket.get("/providers/employers/employees/employments/leaverequests/{leaveRequestId}",
...                 leave_request_id=request_id)                 # the client keeps its ETag
>>> row = row.with_columns(comment_handler=pl.lit("Fijne vakantie!"))
>>> loket.put("/providers/employers/employees/employments/leaverequests/{leaveRequestId}", row,
...           leave_request_id=request_id)                       # If-Match: that ETag

A body is the API's JSON, or a dict / one-row DataFrame in the columns a read returns: it is put
back into the API's nesting by the schema of the operation's request body
(:mod:`~loketvalinso._frames.unflatten`). A ``PUT`` sends ``If-Match`` with the ETag of the
client's last read of that resource, and columns a body leaves out keep the values of that
read. Writes are sent once (never retried once they may have reached the server), and drop the
cache's entries of what they changed. ``dry_run=True`` returns the request instead of sending it.
The leave-request flows built on these are in :mod:`~loketvalinso._loket_leave_writes`.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any

import httpx
import orjson
import polars as pl

from loketvalinso._catalog import Catalog, Endpoint, FilledPath, fill_path
from loketvalinso._frames.parse import parse_page
from loketvalinso._frames.spec import schema_for
from loketvalinso._frames.unflatten import BodyShape, body_shape, json_value
from loketvalinso._json import loads
from loketvalinso._transport.keys import collection_tag
from loketvalinso._transport.responses import check_loket_messages, error_from_response
from loketvalinso._transport.store import DiskCache
from loketvalinso._writes import build_write, dry_run_of, send_write
from loketvalinso.errors import (
    ConfigurationError,
    ConflictError,
    LoketValinsoError,
    ResponseFormatError,
)

if TYPE_CHECKING:
    from loketvalinso._load.report import LoadReport

__all__ = ["RELATED_COLLECTIONS", "LoketWrites"]

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
        multi-patch). Sent once, never retried. Arguments and result as for :meth:`post`.

        A multi-patch that fails for some of its entities raises the error of their messages
        (each one's ``id`` in ``.messages``); :meth:`set_leave_request_status` gives an outcome
        per id instead.
        """
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
        """DELETE a resource (sent once); returns the answer's ``content`` (usually None).

        What the client read of it is forgotten, and the cache drops it and its listings.
        """
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
        (``create_leave_request``) sent with the request schema of another."""
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
        etag = self._if_match(method, entry, filled, read, if_match, what)
        request = self._request(method, entry, filled, label, sent, etag)
        if dry_run:
            return dry_run_of(request, auth_headers=("authorization",))
        response = self._send(request, what, _related(filled.path))
        try:
            return self._answer(method, entry, filled, label, response, template=template)
        except ConflictError as exc:
            if method == "PUT" and shape is not None:
                self._explain_conflict(exc, shape, sent, filled, template or entry["path"])
            raise

    def _request(
        self,
        method: str,
        entry: Endpoint,
        filled: FilledPath,
        label: str | None,
        body: Any,
        etag: str | None = None,
    ) -> httpx.Request:
        """The request of a write: ``Accept`` (the answer's version), ``Content-Type`` (the
        body's version), ``If-Match``."""
        headers = {"Accept": self._accept(entry, label)}
        content_type = _content_type(label) if label is not None else "application/json"
        if etag is not None:
            headers["If-Match"] = etag
        return build_write(
            self._http, method, filled.path, body=body, headers=headers, content_type=content_type
        )

    def _send(self, request: httpx.Request, what: str, also: Iterable[str]) -> httpx.Response:
        """Send a write once; the cache forgets what it changed (``also``: more collections)."""
        if self.offline:
            msg = f"{what}: this client is offline (offline=True); writes need the server"
            raise ConfigurationError(msg)
        return send_write(self._http, request, cache=self.cache, also_changes=also, label=what)

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
            label = self._catalog.resolve_version(entry, version)
            if read is not None and read.version in every and label != read.version:
                msg = (
                    f"{entry['method']} {entry['path']}: it was read in version {read.version}, "
                    f"and a body in {label} would lose or blank the fields that differ; read it "
                    f"with version={label!r} first, or leave version= out"
                )
                raise ConfigurationError(msg)
            return label
        if read is not None and read.version in every:
            return read.version  # a PUT builds on the read: same version, same fields
        chosen = self.versions.get(entry["path"]) or self.default_version
        return self._catalog.resolve_version(entry, chosen)

    def _accept(self, entry: Endpoint, label: str | None) -> str:
        """``Accept``: the answer's version on or before the body's (or the GET's newest)."""
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
            body = loads(response.content)  # a repeated key keeps its first value, as on reads
        except ValueError as exc:
            msg = f"{method} answered {response.status_code} with a body that is not JSON: {exc}"
            raise ResponseFormatError(msg, url=url) from exc
        check_loket_messages(body, url=url, status=response.status_code, stacklevel=4)
        if method == "DELETE":
            self._forget_read(filled)
        content = body.get("content") if isinstance(body, dict) else None
        if content in ({}, []):
            return None  # "content": {} says nothing (a DELETE, a multi-patch)
        get = self._get_entry(template or entry["path"])
        if not isinstance(content, dict) or get is None:
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


# -- helpers ------------------------------------------------------------------------------------


def _related(path: str) -> tuple[str, ...]:
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
