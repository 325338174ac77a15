"""The Loket.nl dialect: environments, resource versions, the catalogue, named loaders.

>>> loket = Loket(environment="production", client_id="...", client_secret="...",
...               redirect_uri="https://example.org/callback")
>>> loket.authorization_url()        # open it, log in, then paste the redirect URL back:
>>> loket.finish_login("https://example.org/callback?code=...&state=...")
>>> loket.leave_requests(loket.employers()["id"][0], start="2025-01-01")
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import httpx
import polars as pl

from loketvalinso import frames
from loketvalinso._client import BaseClient, CacheOption, merge_params
from loketvalinso.auth import LOKET_ENVIRONMENTS, LoketAuth, LoketOAuth
from loketvalinso.catalog import Endpoint, get_catalog
from loketvalinso.errors import ConfigurationError, ObsoleteVersionWarning, VersionError
from loketvalinso.http import check_url_security
from loketvalinso.loadreport import LoadReport
from loketvalinso.paging import PageNumberPaging, ParsedPage, paginate
from loketvalinso.responses import process_loket_messages, raise_for_response
from loketvalinso.retry import RetryPolicy

if TYPE_CHECKING:
    from loketvalinso.mock import MockServer

__all__ = ["RESOURCES", "Loket"]

#: The named loaders' endpoints (path templates of the real API).
RESOURCES: dict[str, str] = {
    "employers": "/providers/employers",
    "employer": "/providers/employers/{employerId}",
    "payroll_administrations": "/providers/employers/{employerId}/payrolladministrations",
    "departments": "/providers/employers/{employerId}/departments",
    "functions": "/providers/employers/{employerId}/functions",
    "employees": "/providers/employers/{employerId}/employees",
    "employments": "/providers/employers/{employerId}/employees/employments",
    "leave_types": "/providers/employers/{employerId}/leavetypes",
    "leave_requests": "/providers/employers/{employerId}/employees/employments/leaverequests",
    "employment_leave_requests": (
        "/providers/employers/employees/employments/{employmentId}/leaverequests"
    ),
    "leave": "/providers/employers/employees/employments/{employmentId}/leave",
    "leave_balances": "/providers/employers/{employerId}/leavebalances",
    "employment_leave_balances": (
        "/providers/employers/employees/employments/{employmentId}/leavebalances"
    ),
    "absences": "/providers/employers/employees/{employeeId}/absences",
    "national_holidays": "/providers/employers/{employerId}/nationalholidays",
    "leave_calendar": (
        "/providers/employers/{employerId}/employees/employments/calendar/leaverequests"
    ),
}

_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_SNAKE_RE = re.compile(r"(?<!^)(?=[A-Z])")


def _iso_date(value: str | date | datetime | None, *, name: str) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, str) and _DATE_RE.match(value):
        try:
            return date.fromisoformat(value).isoformat()
        except ValueError:
            pass
    msg = f"{name} must be a date, datetime or 'YYYY-MM-DD' string, not {value!r}"
    raise ConfigurationError(msg)


def _snake(name: str) -> str:
    return _SNAKE_RE.sub("_", name).lower()


def _param_names(entry: Endpoint) -> list[str]:
    return [p[0] for p in entry["path_params"]]


class Loket(BaseClient):
    """A client of the Loket.nl API V2 that returns typed Polars DataFrames.

    Parameters
    ----------
    environment
        ``"production"``, ``"acceptance"`` or ``"test"`` (sets the API and OAuth URLs), or None
        with explicit ``base_url``/``token_url``.
    base_url, token_url, authorize_url
        Explicit URLs (any server, e.g. the embedded mock).
    client_id, client_secret, redirect_uri
        The OAuth client. Log in with :meth:`authorization_url` + :meth:`finish_login`, or
        :meth:`login_password` where the password grant is enabled.
    access_token, refresh_token
        Tokens obtained elsewhere (``access_token`` alone works until it expires).
    version
        Default resource-version date: each resource is served in its newest version on or
        before it. None = the newest documented version of each resource.
    versions
        Per-resource choices, by loader name or path template, e.g. ``{"employees": "2018-12-31"}``.
    cache
        True (the user cache folder), a folder, a :class:`~loketvalinso.cache.DiskCache`, or False.
    offline
        Serve only from the cache (stale entries with a warning).
    progress
        Progress bars: True, False or None (only when interactive).
    max_concurrency
        Pages (and employments/employees in walks) fetched at once.
    page_size
        ``pageSize`` sent to the API (its default is 250).
    strict
        Raise instead of warn when paging stop rules disagree.
    """

    def __init__(
        self,
        *,
        environment: str | None = None,
        base_url: str | None = None,
        token_url: str | None = None,
        authorize_url: str | None = None,
        client_id: str | None = None,
        client_secret: str | None = None,
        redirect_uri: str | None = None,
        access_token: str | None = None,
        refresh_token: str | None = None,
        username: str | None = None,
        password: str | None = None,
        version: str | date | None = None,
        versions: Mapping[str, str | date] | None = None,
        cache: CacheOption = True,
        offline: bool = False,
        progress: bool | None = None,
        max_concurrency: int = 8,
        page_size: int = 250,
        strict: bool = False,
        transport: httpx.BaseTransport | None = None,
        allow_insecure: bool = False,
        on_token: Callable[[dict[str, Any]], None] | None = None,
        timeout: float = 30.0,
        retry: RetryPolicy | None = None,
    ) -> None:
        if environment is not None:
            if environment not in LOKET_ENVIRONMENTS:
                choices = ", ".join(sorted(LOKET_ENVIRONMENTS))
                msg = f"unknown Loket environment {environment!r}; choose one of {choices}"
                raise ConfigurationError(msg)
            env = LOKET_ENVIRONMENTS[environment]
            base_url = base_url or env.api_url
            token_url = token_url or env.token_url
            authorize_url = authorize_url or env.authorize_url
        if base_url is None:
            msg = "Loket needs environment='production'|'acceptance'|'test' or base_url=..."
            raise ConfigurationError(msg)
        check_url_security(base_url, allow_insecure=allow_insecure)
        if token_url is not None:
            check_url_security(token_url, allow_insecure=allow_insecure)
        if not isinstance(page_size, int) or page_size < 1:
            msg = f"page_size must be a positive integer, not {page_size!r}"
            raise ConfigurationError(msg)
        self.environment = environment
        self.page_size = page_size
        self.default_version = _iso_date(version, name="version") if version else None
        self.oauth = LoketOAuth(
            token_url=token_url or "",
            authorize_url=authorize_url,
            client_id=client_id or "",
            client_secret=client_secret,
            redirect_uri=redirect_uri,
            transport=transport,
            on_token=on_token,
        )
        if access_token is not None or refresh_token is not None:
            self.oauth.set_tokens(access_token=access_token, refresh_token=refresh_token)
        if username is not None and password is not None:
            self.oauth.login_password(username, password)
        self._catalog = get_catalog()
        self.versions: dict[str, str] = {}
        for resource, chosen in (versions or {}).items():
            self.set_version(resource, chosen)
        super().__init__(
            base_url=base_url,
            auth=LoketAuth(self.oauth),
            identity=self._identity_for_cache,
            cache=cache,
            offline=offline,
            progress=progress,
            max_concurrency=max_concurrency,
            strict=strict,
            transport=transport,
            timeout=timeout,
            retry=retry,
        )

    # -- login ---------------------------------------------------------------------------------

    def _identity_for_cache(self) -> str:
        return self.oauth.identity

    @classmethod
    def from_mock(
        cls, server: MockServer, *, flow: str = "authorization_code", **options: Any
    ) -> Loket:
        """A client logged in to the embedded mock through its real OAuth flow.

        ``flow`` is ``"authorization_code"`` (PKCE, the default) or ``"password"``.
        """
        creds = server.credentials
        options.setdefault("transport", server.transport if server.in_process else None)
        loket = cls(
            base_url=server.loket_url,
            token_url=server.token_url,
            authorize_url=server.authorize_url,
            client_id=creds.client_id,
            client_secret=creds.client_secret,
            redirect_uri=creds.redirect_uri,
            **options,
        )
        if flow == "password":
            loket.login_password(creds.username, creds.password)
        elif flow == "authorization_code":
            # The mock auto-approves /authorize and redirects with the code, standing in for
            # the user's browser.
            with httpx.Client(transport=server.transport, follow_redirects=False) as browser:
                answer = browser.get(loket.authorization_url())
            location = answer.headers.get("location")
            if answer.status_code not in (302, 303) or not location:
                msg = f"the mock's /authorize did not redirect (status {answer.status_code})"
                raise ConfigurationError(msg)
            loket.finish_login(location)
        else:
            msg = f"flow must be 'authorization_code' or 'password', not {flow!r}"
            raise ConfigurationError(msg)
        return loket

    def authorization_url(self) -> str:
        """The URL to open in a browser to log in (authorization code flow with PKCE)."""
        return self.oauth.authorization_url()

    def finish_login(self, redirect_url_or_code: str) -> None:
        """Finish the login with the URL the browser was redirected to (or the bare code)."""
        self.oauth.finish_login(redirect_url_or_code)

    def login_password(self, username: str, password: str) -> None:
        """Log in with the password grant (enabled for few clients only)."""
        self.oauth.login_password(username, password)

    @property
    def logged_in(self) -> bool:
        return self.oauth.has_token

    # -- versions and catalogue ----------------------------------------------------------------

    def catalog(self) -> pl.DataFrame:
        """Every GET endpoint of the API: path, operation id, versions, envelope, paging."""
        return self._catalog.endpoints()

    def _entry(self, path: str) -> Endpoint:
        return self._catalog.find(path)

    def set_version(self, resource: str, version: str | date | None) -> None:
        """Choose the version date for one resource (loader name or path template)."""
        template = RESOURCES.get(resource, resource)
        entry = self._entry(template)
        if version is None:
            self.versions.pop(entry["path"], None)
            return
        self._catalog.resolve_version(entry, _iso_date(version, name="version"))  # validates
        self.versions[entry["path"]] = _iso_date(version, name="version") or ""

    def resource_versions(self, resource: str) -> list[str]:
        """The documented versions of a resource (loader name or path template)."""
        return list(self._entry(RESOURCES.get(resource, resource)).versions)

    def resolve_version(self, resource: str, version: str | date | None = None) -> str:
        """The version that a request for ``resource`` would be served in."""
        entry = self._entry(RESOURCES.get(resource, resource))
        return self._version_for(entry, version)

    def _version_for(self, entry: Endpoint, version: str | date | None) -> str:
        if version is not None:
            requested = (
                _iso_date(version, name="version") if not isinstance(version, str) else version
            )
            if isinstance(requested, str) and not _DATE_RE.match(requested):
                msg = (
                    f"version must be a date 'YYYY-MM-DD', not {version!r}; "
                    f"{entry['path']} has versions {', '.join(entry['versions'])}"
                )
                raise VersionError(msg)
        else:
            requested = self.versions.get(entry["path"]) or self.default_version
        return self._catalog.resolve_version(entry, requested)

    # -- the generic loader --------------------------------------------------------------------

    def get(
        self,
        path: str,
        /,
        *,
        params: Mapping[str, Any] | None = None,
        version: str | date | None = None,
        raw_names: bool = False,
        **path_params: Any,
    ) -> pl.DataFrame:
        """Load any GET endpoint of the Loket API that returns JSON, as a DataFrame.

        Parameters
        ----------
        path
            A path template (``/providers/employers/{employerId}/departments``) with its
            parameters as keywords (``employerId=`` or ``employer_id=``), or a concrete path.
        params
            Query parameters (``filter``, ``orderBy``, ``referenceDate``, ...). Paging
            parameters are managed for you.
        version
            Resource version date (newest on or before it); None = the client's choice.
        raw_names
            Keep the API's field names instead of snake_case.
        """
        entry = self._entry(path)
        concrete = self._fill_path(entry, path, path_params)
        return self._load(entry, concrete, params=params, version=version, raw_names=raw_names)

    def _fill_path(self, entry: Endpoint, path: str, path_params: Mapping[str, Any]) -> str:
        given = {k: v for k, v in path_params.items() if v is not None}
        template_parts = entry["path"].strip("/").split("/")
        path_parts = path.strip("/").split("/")
        values: dict[str, str] = {}
        for t_part, p_part in zip(template_parts, path_parts, strict=False):
            if t_part.startswith("{") and not p_part.startswith("{"):
                values[t_part[1:-1]] = p_part
        for name in _param_names(entry):
            for key in (name, _snake(name)):
                if key in given:
                    values[name] = str(given.pop(key))
        if given:
            msg = (
                f"unknown path parameter(s) {', '.join(sorted(given))} for {entry['path']}; "
                f"it takes {', '.join(_param_names(entry)) or 'none'}"
            )
            raise ConfigurationError(msg)
        missing = [n for n in _param_names(entry) if n not in values]
        if missing:
            msg = f"{entry['path']} needs {', '.join(missing)}: pass them as keywords"
            raise ConfigurationError(msg)
        out = entry["path"]
        for name, value in values.items():
            out = out.replace("{" + name + "}", quote(value, safe=""))
        return out

    def _load(
        self,
        entry: Endpoint,
        concrete_path: str,
        *,
        params: Mapping[str, Any] | None = None,
        version: str | date | None = None,
        raw_names: bool = False,
        path_ids: Mapping[str, str] | None = None,
        label: str | None = None,
        explode: Sequence[str] | None = None,
    ) -> pl.DataFrame:
        if entry["kind"] != "json":
            msg = (
                f"{entry['path']} returns a file ({entry['kind']}), not JSON data; "
                "download it with httpx using loket.http_client"
            )
            raise ConfigurationError(msg)
        served = self._version_for(entry, version)
        ids = dict(path_ids or self._path_ids(entry, concrete_path))
        spec = frames.schema_for(entry, served, raw_names=raw_names, explode=explode)
        label = label or entry["operation_id"] or entry["path"]

        def work(report: LoadReport) -> pl.DataFrame:
            return self._fetch_frame(entry, concrete_path, spec, served, params, ids, report)

        return self._run_load(label, self.base_url + concrete_path, work)

    @staticmethod
    def _path_ids(entry: Endpoint, concrete_path: str) -> dict[str, str]:
        ids: dict[str, str] = {}
        for t_part, p_part in zip(
            entry["path"].strip("/").split("/"), concrete_path.strip("/").split("/"), strict=False
        ):
            if t_part.startswith("{"):
                ids[t_part[1:-1]] = p_part
        return ids

    def _fetch_frame(
        self,
        entry: Endpoint,
        concrete_path: str,
        spec: Any,
        served: str,
        params: Mapping[str, Any] | None,
        ids: Mapping[str, str],
        report: LoadReport,
        *,
        max_concurrency: int | None = None,
        progress: bool | None = None,
    ) -> pl.DataFrame:
        headers = {"Accept": f"application/json;version={served}"}

        parse = frames.page_parser(spec, path_ids=dict(ids), cache=self._cache)

        pages = paginate(
            self._http,
            concrete_path,
            strategy=PageNumberPaging(page_size=self.page_size) if entry["paging"] else None,
            parse=parse,
            params=merge_params(params),
            headers=headers,
            max_concurrency=max_concurrency or self.max_concurrency,
            strict=self.strict,
            progress=self.progress if progress is None else progress,
            report=report,
            raise_for_response=lambda r: raise_for_response(r, api="loket"),
            label=entry["operation_id"] or entry["path"],
        )
        self._note_versions(pages, report, entry)
        frames_ = [p.data for p in pages if p.data is not None and len(p.data)]
        return frames.concat_pages(frames_, spec=spec) if frames_ else frames.empty_frame(spec)

    def _note_versions(
        self, pages: Sequence[ParsedPage], report: LoadReport, entry: Endpoint
    ) -> None:
        warned = False
        for page in pages:
            process_loket_messages(page.meta.messages, url=self.base_url + entry["path"])
            version = page.meta.version or {}
            obsolete = version.get("obsoleteDate")
            if obsolete and not warned:
                warned = True
                text = (
                    f"{entry['path']} was served in resource version {version.get('resourceVersion')}, "
                    f"which becomes obsolete on {obsolete}; newer versions: "
                    f"{', '.join(v for v in entry['versions'] if v > str(version.get('resourceVersion')))}"
                    " — pass version=... or set loket.set_version()"
                )
                warnings.warn(text, ObsoleteVersionWarning, stacklevel=4)
                report.add_warning(text)

    # -- walks over many parents ---------------------------------------------------------------

    def _walk(
        self,
        template: str,
        parent_param: str,
        parent_ids: Iterable[str],
        *,
        label: str,
        params: Mapping[str, Any] | None = None,
        version: str | date | None = None,
        extra_ids: Mapping[str, Mapping[str, str]] | None = None,
    ) -> pl.DataFrame:
        """Load ``template`` once per parent id, ``max_concurrency`` parents at a time."""
        entry = self._entry(template)
        served = self._version_for(entry, version)
        spec = frames.schema_for(entry, served)
        parents = list(dict.fromkeys(parent_ids))

        def work(report: LoadReport) -> pl.DataFrame:
            def one(parent: str) -> pl.DataFrame:
                path = entry["path"].replace("{" + parent_param + "}", quote(parent, safe=""))
                ids = {parent_param: parent, **(extra_ids or {}).get(parent, {})}
                sub = LoadReport(label=label, url=self.base_url + path)
                frame = self._fetch_frame(
                    entry, path, spec, served, params, ids, sub, max_concurrency=1, progress=False
                )
                report.merge(sub)
                return frame

            if not parents:
                return frames.empty_frame(spec)
            with ThreadPoolExecutor(max_workers=min(self.max_concurrency, len(parents))) as pool:
                parts = list(pool.map(one, parents))
            parts = [p for p in parts if p.height]
            return frames.concat_pages(parts, spec=spec) if parts else frames.empty_frame(spec)

        return self._run_load(label, self.base_url + entry["path"], work)

    # -- named loaders -------------------------------------------------------------------------

    def _named(
        self,
        resource: str,
        *,
        params: Mapping[str, Any] | None = None,
        version: str | date | None = None,
        **path_params: Any,
    ) -> pl.DataFrame:
        entry = self._entry(RESOURCES[resource])
        concrete = self._fill_path(entry, entry["path"], path_params)
        return self._load(entry, concrete, params=params, version=version, label=resource)

    def employers(
        self, *, version: str | date | None = None, filter: str | None = None
    ) -> pl.DataFrame:
        """The employers the logged-in user may see."""
        return self._named("employers", version=version, params={"filter": filter})

    def employer(self, employer_id: str, *, version: str | date | None = None) -> pl.DataFrame:
        """One employer (a one-row DataFrame)."""
        return self._named("employer", version=version, employerId=employer_id)

    def payroll_administrations(
        self, employer_id: str, *, version: str | date | None = None
    ) -> pl.DataFrame:
        return self._named("payroll_administrations", version=version, employerId=employer_id)

    def departments(self, employer_id: str, *, version: str | date | None = None) -> pl.DataFrame:
        return self._named("departments", version=version, employerId=employer_id)

    def functions(self, employer_id: str, *, version: str | date | None = None) -> pl.DataFrame:
        return self._named("functions", version=version, employerId=employer_id)

    def employees(
        self,
        employer_id: str,
        *,
        version: str | date | None = None,
        filter: str | None = None,
    ) -> pl.DataFrame:
        """Employees of an employer; ``version`` picks 2018-12-31 or 2021-03-29 (the default)."""
        return self._named(
            "employees", version=version, params={"filter": filter}, employerId=employer_id
        )

    def employments(
        self, employer_id: str, *, version: str | date | None = None, filter: str | None = None
    ) -> pl.DataFrame:
        """Employments of an employer, with ``employer_id`` and ``employee_id`` columns."""
        frame = self._named(
            "employments", version=version, params={"filter": filter}, employerId=employer_id
        )
        if "employee_id" in frame.columns:
            return frame
        return (
            frame.with_columns(pl.col("employee_id_meta").alias("employee_id"))
            if ("employee_id_meta" in frame.columns)
            else frame
        )

    def leave_types(self, employer_id: str, *, version: str | date | None = None) -> pl.DataFrame:
        return self._named("leave_types", version=version, employerId=employer_id)

    def leave_requests(
        self,
        employer_id: str | None = None,
        *,
        employment_id: str | None = None,
        start: str | date | None = None,
        end: str | date | None = None,
        filter: str | None = None,
        version: str | date | None = None,
    ) -> pl.DataFrame:
        """Leave requests of an employer (or of one employment) overlapping [start, end].

        ``start``/``end`` become the API's ``filter`` (``endDate ge start and startDate le end``).
        """
        start_s, end_s = _iso_date(start, name="start"), _iso_date(end, name="end")
        if start_s and end_s and start_s > end_s:
            msg = f"start ({start_s}) is after end ({end_s}); swap them"
            raise ConfigurationError(msg)
        clauses = [c for c in (filter,) if c]
        if start_s:
            clauses.append(f"endDate ge '{start_s}'")
        if end_s:
            clauses.append(f"startDate le '{end_s}'")
        params = {"filter": " and ".join(clauses) if clauses else None}
        if employment_id is not None:
            return self._named(
                "employment_leave_requests",
                version=version,
                params=params,
                employmentId=employment_id,
            )
        if employer_id is None:
            msg = "leave_requests needs an employer_id (or employment_id=...)"
            raise ConfigurationError(msg)
        return self._named("leave_requests", version=version, params=params, employerId=employer_id)

    def leave(
        self,
        employer_id: str,
        *,
        employment_ids: Iterable[str] | None = None,
        version: str | date | None = None,
    ) -> pl.DataFrame:
        """The leave ledger (accruals and taken leave) of every employment of an employer.

        The API has no employer-wide leave list, so this walks the employments concurrently.
        """
        if employment_ids is None:
            employment_ids = self._named("employments", employerId=employer_id)["id"].to_list()
        ids = list(employment_ids)
        frame = self._walk(
            RESOURCES["leave"],
            "employmentId",
            ids,
            label="leave",
            version=version,
            extra_ids={i: {"employerId": employer_id} for i in ids},
        )
        return frame

    def leave_balances(
        self,
        employer_id: str,
        reference_date: str | date | None = None,
        *,
        leave_types: Sequence[int] | None = None,
        version: str | date | None = None,
    ) -> pl.DataFrame:
        """Leave balances per employment × year × leave type (``leaveBalance[]`` exploded)."""
        params: dict[str, Any] = {"referenceDate": _iso_date(reference_date, name="reference_date")}
        if leave_types is not None:
            params["leaveType"] = [int(t) for t in leave_types]
        return self._named("leave_balances", version=version, params=params, employerId=employer_id)

    def absences(
        self,
        employer_id: str,
        *,
        employee_ids: Iterable[str] | None = None,
        version: str | date | None = None,
    ) -> pl.DataFrame:
        """Sick-leave absences of every employee of an employer (walks employees).

        ``start_date``/``end_date`` come from ``progress.startDate`` and
        ``progress.endOfAbsence.date``.
        """
        if employee_ids is None:
            employee_ids = self._named("employees", employerId=employer_id)["id"].to_list()
        ids = list(employee_ids)
        frame = self._walk(
            RESOURCES["absences"],
            "employeeId",
            ids,
            label="absences",
            version=version,
            extra_ids={i: {"employerId": employer_id} for i in ids},
        )
        return _absence_dates(frame)

    def national_holidays(
        self, employer_id: str, *, version: str | date | None = None
    ) -> pl.DataFrame:
        return self._named("national_holidays", version=version, employerId=employer_id)

    def leave_calendar(
        self,
        employer_id: str,
        start: str | date,
        end: str | date,
        *,
        version: str | date | None = None,
    ) -> pl.DataFrame:
        """Submitted (not yet handled) leave requests per employee, from the calendar endpoint."""
        start_s, end_s = _iso_date(start, name="start"), _iso_date(end, name="end")
        if start_s and end_s and start_s > end_s:
            msg = f"start ({start_s}) is after end ({end_s}); swap them"
            raise ConfigurationError(msg)
        return self._named(
            "leave_calendar",
            version=version,
            params={"startDate": start_s, "endDate": end_s},
            employerId=employer_id,
        )


def _absence_dates(frame: pl.DataFrame) -> pl.DataFrame:
    """Add ``start_date``/``end_date`` from the nested progress fields (the item has none)."""
    renames = {
        "progress_start_date": "start_date",
        "progress_end_of_absence_date": "end_date",
    }
    exprs = [
        pl.col(src).alias(dst)
        for src, dst in renames.items()
        if src in frame.columns and dst not in frame.columns
    ]
    return frame.with_columns(exprs) if exprs else frame
