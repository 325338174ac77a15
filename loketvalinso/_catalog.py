"""The Loket resource catalogue: every operation of the API, its versions and schemas.

GET operations (:attr:`Catalog.entries`) carry their response item schema per version; write
operations (POST/PUT/PATCH/DELETE, :attr:`Catalog.writes`) their request body schema per version.

The catalogue is derived from the published OpenAPI description by ``scripts/derive_catalog.py``
and shipped as ``_data/loket_catalog.json`` (the format is described in that script). It is read
once, lazily, on first use.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from functools import cache
from importlib import resources
from typing import Any, NamedTuple
from urllib.parse import quote

import polars as pl

from loketvalinso._dates import ISO_DATE, iso_date
from loketvalinso.errors import ConfigurationError, VersionError

__all__ = [
    "Catalog",
    "Endpoint",
    "FilledPath",
    "Node",
    "fill_path",
    "get_catalog",
    "requested_version",
    "snake_case",
    "version_date",
]

Endpoint = dict[str, Any]


class Node(NamedTuple):
    """One field of an item schema, as ``scripts/derive_catalog.py`` writes it.

    ``extra`` is, for an object, the index of its property list in :attr:`Catalog.nodes` (or
    the list itself); for an array, the node of its items; else None. ``read_only`` is 1 for a
    request body field the description marks ``readOnly`` (the server fills it).
    """

    name: str
    type: str
    format: str | None
    nullable: int
    extra: Any
    read_only: int = 0


def _node(raw: Sequence[Any]) -> Node:
    extra = raw[4]
    if raw[1] == "array" and isinstance(extra, list | tuple):
        extra = _node(extra)  # the item node
    elif isinstance(extra, list | tuple):
        extra = [_node(child) for child in extra]  # an object's properties, inline
    return Node(raw[0], raw[1], raw[2], raw[3], extra, raw[5] if len(raw) > 5 else 0)


class FilledPath(NamedTuple):
    """A concrete request path and the path parameter values it was filled with."""

    path: str
    ids: dict[str, str]


def fill_path(template: str, path: str, params: Mapping[str, Any]) -> FilledPath:
    """Fill the ``{param}`` segments of ``template`` once, keeping the values.

    Values come from ``params`` (by the API's name, ``employerId``, or in snake_case,
    ``employer_id``) or from ``path`` itself when it is already concrete in those segments.

    Raises
    ------
    ConfigurationError
        An unknown or a missing path parameter, or a value that is no id: empty, ``.`` or
        ``..`` (the request would leave the resource's path), or holding a control character.
        Every other value is percent-encoded, so a ``/`` in it stays inside its segment.
    """
    names = [seg[1:-1] for seg in template.strip("/").split("/") if seg.startswith("{")]
    given = {k: v for k, v in params.items() if v is not None}
    values: dict[str, str] = {}
    for t_part, p_part in zip(
        template.strip("/").split("/"), path.strip("/").split("/"), strict=False
    ):
        if t_part.startswith("{") and not p_part.startswith("{"):
            values[t_part[1:-1]] = p_part
    for name in names:
        for key in (name, snake_case(name)):
            if key in given:
                values[name] = str(given.pop(key))
    if given:
        msg = (
            f"unknown path parameter(s) {', '.join(sorted(given))} for {template}; "
            f"it takes {', '.join(names) or 'none'}"
        )
        raise ConfigurationError(msg)
    missing = [n for n in names if n not in values]
    if missing:
        msg = f"{template} needs {', '.join(missing)}: pass them as keywords"
        raise ConfigurationError(msg)
    for name, value in values.items():
        _check_id(template, name, value)
    out = template
    for name, value in values.items():
        out = out.replace("{" + name + "}", quote(value, safe=""))
    return FilledPath(out, {name: values[name] for name in names})


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _check_id(template: str, name: str, value: str) -> None:
    """Refuse a path parameter value that is no id, before any request is sent."""
    if not value.strip() or value.strip() in (".", "..") or _CONTROL.search(value):
        what = "empty" if not value.strip() else f"{value!r}, which is not an id"
        msg = (
            f"{name} for {template} is {what}: pass the id as the API gives it (e.g. "
            "loket.employers()['id'][0])"
        )
        raise ConfigurationError(msg)


def snake_case(name: str) -> str:
    """``employerId`` → ``employer_id``; ``IBAN`` → ``iban`` (the same rule as the derive script)."""
    s = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", name)
    s = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", s)
    return re.sub(r"[^0-9a-zA-Z]+", "_", s).strip("_").lower()


class Catalog:
    """The derived Loket catalogue.

    Parameters
    ----------
    data : dict, optional
        An already loaded catalogue document; by default the packaged one.
    """

    def __init__(self, data: dict[str, Any] | None = None) -> None:
        if data is None:
            text = resources.files("loketvalinso").joinpath("_data/loket_catalog.json").read_text()
            data = json.loads(text)
        self.source: dict[str, Any] = data["source"]
        self.nodes: list[list[Node]] = [[_node(p) for p in props] for props in data["nodes"]]
        self.entries: list[Endpoint] = data["endpoints"]
        for entry in self.entries:
            entry["schemas"] = {k: _node(v) for k, v in entry["schemas"].items()}
        self._by_op = {e["operation_id"]: e for e in self.entries if e["operation_id"]}
        self._by_path = {e["path"]: e for e in self.entries}
        for e in self.entries:
            if "spec_path" in e:
                self._by_path.setdefault(e["spec_path"], e)
        # literal segments are tried before {param} segments (x-hasEquivalentPaths)
        self._templates = _templates(self.entries)
        self.writes: list[Endpoint] = data.get("writes", [])
        for write in self.writes:
            write["schemas"] = {k: _node(v) for k, v in write["schemas"].items()}
        self._writes_by_method: dict[str, list[tuple[list[str], Endpoint]]] = {}
        for method in ("POST", "PUT", "PATCH", "DELETE"):
            chosen = [w for w in self.writes if w["method"] == method]
            self._writes_by_method[method] = _templates(chosen)

    # -- discovery -------------------------------------------------------------------------------
    def endpoints(self) -> pl.DataFrame:
        """Every operation as a DataFrame (what ``loket.catalog()`` shows), GETs first per path.

        Returns
        -------
        polars.DataFrame
            Columns ``method, path, operation_id, tag, kind, envelope, paging, etag, versions,
            path_params, query_params, media_types, success``. For a write, ``versions`` are the
            versions of its request body, ``kind`` is ``json`` (a JSON body), ``multipart``,
            ``binary`` or null (no body), ``etag`` says whether its answer carries an ETag and
            ``success`` lists the documented 2xx statuses.
        """
        rows = [(e, "GET") for e in self.entries] + [(w, w["method"]) for w in self.writes]
        order = {"GET": 0, "POST": 1, "PUT": 2, "PATCH": 3, "DELETE": 4}
        rows.sort(key=lambda r: (r[0]["path"], order[r[1]]))
        return pl.DataFrame(
            {
                "method": [m for _, m in rows],
                "path": [e["path"] for e, _ in rows],
                "operation_id": [e["operation_id"] for e, _ in rows],
                "tag": [e["tag"] for e, _ in rows],
                "kind": [e["kind"] if m == "GET" else e["body"] for e, m in rows],
                "envelope": [e.get("envelope") for e, _ in rows],
                "paging": [e.get("paging", False) for e, _ in rows],
                "etag": [e["etag"] for e, _ in rows],
                "versions": [e["versions"] + e["undated_versions"] for e, _ in rows],
                "path_params": [[p[0] for p in e["path_params"]] for e, _ in rows],
                "query_params": [[q[0] for q in e["query_params"]] for e, _ in rows],
                "media_types": [e.get("media_types", []) for e, _ in rows],
                "success": [e.get("success", [200]) for e, _ in rows],
            },
            schema={
                "method": pl.String,
                "path": pl.String,
                "operation_id": pl.String,
                "tag": pl.String,
                "kind": pl.String,
                "envelope": pl.String,
                "paging": pl.Boolean,
                "etag": pl.Boolean,
                "versions": pl.List(pl.String),
                "path_params": pl.List(pl.String),
                "query_params": pl.List(pl.String),
                "media_types": pl.List(pl.String),
                "success": pl.List(pl.Int32),
            },
        )

    def find_write(self, method: str, path_or_operation_id: str) -> Endpoint:
        """The write operation ``method`` of an operationId, a path template or a concrete path.

        Raises
        ------
        ConfigurationError
            When the API documents no such operation (the message names the methods the path
            has).
        """
        method = method.upper()
        key = path_or_operation_id.strip()
        for write in self.writes:
            if write["method"] == method and key in (write["operation_id"], write["path"]):
                return write
        segs = _segments(key)
        found = _match(self._writes_by_method.get(method, []), segs)
        if found is not None:
            return found
        others = sorted(
            {
                m
                for m, templates in self._writes_by_method.items()
                if _match(templates, segs) is not None
            }
            | ({"GET"} if _match(self._templates, segs) is not None else set())
        )
        has = f"; it documents {', '.join(others)} for that path" if others else ""
        msg = (
            f"the Loket API documents no {method} for {key!r}{has}; "
            "see loket.catalog() for the operations that exist"
        )
        raise ConfigurationError(msg)

    def find(self, path_or_operation_id: str) -> Endpoint:
        """The entry for an operationId, a path template, or a concrete path.

        A concrete path (``/providers/employers/1234…/employees``) matches the template whose
        literal segments match, trying literal segments before ``{param}`` segments. A leading
        ``/v2`` and a query string are ignored.

        Raises
        ------
        ConfigurationError
            When nothing matches.
        """
        key = path_or_operation_id.strip()
        if key in self._by_op:
            return self._by_op[key]
        path = _clean(key)
        if path in self._by_path:
            return self._by_path[path]
        entry = _match(self._templates, _segments(key))
        if entry is not None:
            return entry
        msg = (
            f"no Loket GET endpoint matches {key!r}; "
            "see loket.catalog() for the paths and operationIds that exist"
        )
        raise ConfigurationError(msg)

    def node(self, ref: int) -> list[Node]:
        """The property list of an interned object node."""
        return self.nodes[ref]

    # -- versions --------------------------------------------------------------------------------
    def resolve_version(
        self,
        entry: Endpoint,
        requested: str | date | None = None,
        *,
        default_date: str | date | None = None,
    ) -> str:
        """The resource version to ask for.

        Parameters
        ----------
        entry
            A catalogue entry (see :meth:`find`).
        requested
            ``None`` for the client default, a ``date`` or ``"YYYY-MM-DD"`` (the newest version on
            or before it, as the server picks), or an exact non-date label of the entry
            (``"SSO_gebruiker"``).
        default_date
            Used when ``requested`` is None; when both are None, the newest documented version
            (never the spec's misleading ``2018-01-01`` example).

        Raises
        ------
        VersionError
            A malformed date, or a date before the first version; the message lists the versions.
        """
        dated: list[str] = entry["versions"]
        undated: list[str] = entry["undated_versions"]
        every = dated + undated
        if not every:
            msg = f"{entry['path']} returns a file, not a versioned JSON resource"
            raise VersionError(msg)
        if requested is None:
            requested = default_date
        if requested is None:
            return dated[-1] if dated else undated[-1]
        if isinstance(requested, datetime):
            requested = requested.date()
        if isinstance(requested, date):
            text = requested.isoformat()
        else:
            text = str(requested).strip()
            if text in every:
                return text
            try:
                if not ISO_DATE.match(text):
                    raise ValueError(text)
                date.fromisoformat(text)
            except ValueError:
                msg = (
                    f"malformed resource version {requested!r} for {entry['path']}: "
                    f"give a date as YYYY-MM-DD; versions: {', '.join(every)}"
                )
                raise VersionError(msg) from None
        if not dated:
            return undated[-1]
        on_or_before = [v for v in dated if v <= text]
        if not on_or_before:
            msg = f"no version of {entry['path']} on or before {text}; versions: {', '.join(every)}"
            raise VersionError(msg)
        return on_or_before[-1]

    def schema_label(self, entry: Endpoint, version: str | date | None) -> str:
        """The key of ``entry['schemas']`` to use for a served/requested ``version``.

        An exact label wins; otherwise the newest dated schema on or before it; a served date
        later than every dated version of an entry that also has an undated (placeholder)
        version maps to that placeholder.
        """
        schemas = entry["schemas"]
        if version is not None and str(version) in schemas:
            return str(version)
        label = self.resolve_version(entry, version)
        dated = entry["versions"]
        if entry["undated_versions"] and dated and label == dated[-1] and version is not None:
            text = version.isoformat() if isinstance(version, date) else str(version)
            if text > dated[-1]:
                return entry["undated_versions"][-1]
        return label


def _clean(path: str) -> str:
    """A path without its query, trailing ``/`` and leading ``/v2``, starting with ``/``."""
    path = path.split("?", 1)[0].rstrip("/")
    if path.startswith("/v2/"):
        path = path[3:]
    return path if path.startswith("/") else "/" + path


def _segments(path: str) -> list[str]:
    return _clean(path).strip("/").split("/")


def _templates(entries: Sequence[Endpoint]) -> list[tuple[list[str], Endpoint]]:
    """Entries with their template's segments, literal segments before ``{param}`` segments."""
    return sorted(
        ((e["path"].strip("/").split("/"), e) for e in entries),
        key=lambda t: [s.startswith("{") for s in t[0]],
    )


def _match(templates: Sequence[tuple[list[str], Endpoint]], segs: list[str]) -> Endpoint | None:
    for tsegs, entry in templates:
        if len(tsegs) == len(segs) and all(
            t.startswith("{") or t.lower() == s.lower() for t, s in zip(tsegs, segs, strict=True)
        ):
            return entry
    return None


@cache
def get_catalog() -> Catalog:
    """The packaged catalogue, loaded once."""
    return Catalog()


def version_date(value: str | date | datetime | None) -> str | None:
    """A client-wide version date as ``YYYY-MM-DD`` (VersionError when malformed)."""
    if value is None:
        return None
    try:
        return iso_date(value, name="version")
    except ConfigurationError:
        msg = (
            f"malformed resource version {value!r}: give a date as YYYY-MM-DD (each resource "
            "is then served in its newest version on or before it)"
        )
        raise VersionError(msg) from None


def requested_version(entry: Endpoint, version: str | date) -> str:
    """``version`` as text: a ``YYYY-MM-DD`` date or an exact (undated) version label."""
    if isinstance(version, str) and version in entry["undated_versions"]:
        return version
    if isinstance(version, datetime):
        return version.date().isoformat()
    if isinstance(version, date):
        return version.isoformat()
    if isinstance(version, str) and ISO_DATE.match(version.strip()):
        return version.strip()  # an impossible date (2021-02-30) is refused by the catalogue
    every = entry["versions"] + entry["undated_versions"]
    msg = (
        f"malformed resource version {version!r} for {entry['path']}: give a date as "
        f"YYYY-MM-DD; versions: {', '.join(every) or 'none (not a JSON resource)'}"
    )
    raise VersionError(msg)
