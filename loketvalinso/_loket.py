"""The Loket.nl dialect: environments, resource versions, the catalogue, named loaders.

Writes (POST/PUT/PATCH/DELETE, ETags) are in :mod:`~loketvalinso._loket_writes`, the
leave-request flows in :mod:`~loketvalinso._loket_leave_writes`; both are mixed into
:class:`Loket`.

>>> loket = Loket(environment="production", client_id="...", client_secret="...",
...               redirect_uri="https://example.org/callback")
>>> loket.authorization_url()        # open it, log in, then paste the redirect URL back:
>>> loket.finish_login("https://example.org/callback?code=...&state=...")
>>> loket.leave_requests(loket.employers()["id"][0], start="2025-01-01")
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import date
from typing import TYPE_CHECKING, Any

import httpx
import orjson
import polars as pl

from loketvalinso._catalog import (
    Endpoint,
    FilledPath,
    fill_path,
    get_catalog,
    requested_version,
    version_date,
)
from loketvalinso._client import BaseClient, CacheOption, merge_params
from loketvalinso._dates import iso_date
from loketvalinso._frames.parse import concat_pages
from loketvalinso._frames.spec import FrameSpec, empty_frame, schema_for
from loketvalinso._load.pages import ParsedPage
from loketvalinso._load.pools import map_bounded
from loketvalinso._load.report import LoadReport
from loketvalinso._load.strategies import PageNumberPaging
from loketvalinso._load.walk import paginate
from loketvalinso._loket_leave_writes import LeaveRequestWrites
from loketvalinso._loket_resources import (
    RESOURCES,
    absence_dates,
    arrange,
    check_paging_params,
    page_size_param,
)
from loketvalinso._transport.auth import LOKET_ENVIRONMENTS, LoketAuth, LoketOAuth
from loketvalinso._transport.client import check_url_security
from loketvalinso._transport.limits import DEFAULT_DEADLINE, DEFAULT_MAX_BODY_BYTES, check_timeout
from loketvalinso._transport.responses import (
    check_loket_messages,
    error_from_transport,
    raise_for_response,
)
from loketvalinso._transport.retry import RetryPolicy
from loketvalinso.errors import (
    ConfigurationError,
    ObsoleteVersionWarning,
    ResponseFormatError,
)

if TYPE_CHECKING:
    from loketvalinso.mock import MockServer

__all__ = ["Loket"]

_raise_for_loket = functools.partial(raise_for_response, api="loket")


class Loket(LeaveRequestWrites, BaseClient):
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
    keep_for_offline
        Also store responses the server marks as not reusable (Loket list pages carry an
        ``Expires`` in the past, so by default nothing of them is stored), so that a later
        ``offline=True`` session with the same cache folder can load them (with a
        :class:`~loketvalinso.errors.CacheWarning`). This keeps HR data (names, leave, sick
        leave) on disk, in a folder only you can read (mode 0700); such entries are still never
        served while online. Needs a cache (not ``cache=False``).
    timeout
        Seconds to wait for a connection or for the next piece of an answer (None: no limit
        but the deadline).
    deadline
        Seconds one request may take in all, retries and the body streaming in included
        (default 5 minutes): a server that trickles its answer cannot hold a load for ever.
    max_body_bytes
        Largest response body accepted, decompressed (default 64 MiB, far above any real page);
        a larger one is a :class:`~loketvalinso.errors.ResponseFormatError`.
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
        keep_for_offline: bool = False,
        transport: httpx.BaseTransport | None = None,
        allow_insecure: bool = False,
        on_token: Callable[[dict[str, Any]], None] | None = None,
        timeout: float | None = 30.0,
        retry: RetryPolicy | None = None,
        deadline: float = DEFAULT_DEADLINE,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
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
        check_url_security(
            base_url, allow_insecure=allow_insecure, allow_userinfo=False, name="base_url"
        )
        if token_url is not None:
            check_url_security(token_url, allow_insecure=allow_insecure, name="token_url")
        if not isinstance(page_size, int) or page_size < 1:
            msg = f"page_size must be a positive integer, not {page_size!r}"
            raise ConfigurationError(msg)
        self.environment = environment
        self.page_size = page_size
        self.default_version = version_date(version)
        self.oauth = LoketOAuth(
            token_url=token_url or "",
            authorize_url=authorize_url,
            client_id=client_id or "",
            client_secret=client_secret,
            redirect_uri=redirect_uri,
            transport=transport,
            on_token=on_token,
            timeout=check_timeout(timeout),
            deadline=deadline,
            max_body_bytes=max_body_bytes,
        )
        if access_token is not None or refresh_token is not None:
            self.oauth.set_tokens(access_token=access_token, refresh_token=refresh_token)
        if username is not None and password is not None:
            self.oauth.login_password(username, password)
        self._catalog = get_catalog()
        self._init_writes()
        self.versions: dict[str, str] = {}
        for resource, chosen in (versions or {}).items():
            self.set_version(resource, chosen)
        super().__init__(
            base_url=base_url,
            auth=LoketAuth(self.oauth),
            cache=cache,
            offline=offline,
            keep_for_offline=keep_for_offline,
            progress=progress,
            max_concurrency=max_concurrency,
            strict=strict,
            transport=transport,
            timeout=timeout,
            retry=retry,
            deadline=deadline,
            max_body_bytes=max_body_bytes,
        )

    def close(self) -> None:
        """Write what the cache still holds and close the connections (the token client's too)."""
        try:
            super().close()
        finally:
            self.oauth.close()

    # -- login ---------------------------------------------------------------------------------

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
        """Every operation of the API, GET and write: method, path, operation id, versions, …
        (see :meth:`~loketvalinso._catalog.Catalog.endpoints`)."""
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
        text = requested_version(entry, version)
        self._catalog.resolve_version(entry, text)  # validates: VersionError listing versions
        self.versions[entry["path"]] = text

    def resource_versions(self, resource: str) -> list[str]:
        """The documented versions of a resource (loader name or path template)."""
        return list(self._entry(RESOURCES.get(resource, resource))["versions"])

    def resolve_version(self, resource: str, version: str | date | None = None) -> str:
        """The version that a request for ``resource`` would be served in."""
        entry = self._entry(RESOURCES.get(resource, resource))
        return self._version_for(entry, version)

    def _version_for(self, entry: Endpoint, version: str | date | None) -> str:
        if version is not None:
            requested: str | None = requested_version(entry, version)
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
            Query parameters (``filter``, ``orderBy``, ``referenceDate``, ...). The walk owns
            paging: ``pageSize`` is taken as the page size to ask for (instead of the client's
            ``page_size``), every page is loaded; ``pageNumber`` is refused.
        version
            Resource version date (newest on or before it); None = the client's choice.
        raw_names
            Keep the API's field names instead of snake_case.

        Returns
        -------
        polars.DataFrame
            Path ids first, then ``id``/``key``, then the item's fields in catalogue order;
            the catalogue's dtypes, also when no rows come back. A detail's ``ETag`` is
            remembered (``last_load.etag``, :meth:`etag`): a :meth:`put` of it sends it.

        Raises
        ------
        ConfigurationError
            An unknown path, a missing path parameter, or ``pageNumber`` in ``params``.
        VersionError
            A malformed version or one before the resource's first version.
        """
        entry = self._entry(path)
        filled = fill_path(entry["path"], path, path_params)
        return self._load(entry, filled, params=params, version=version, raw_names=raw_names)

    def _load(
        self,
        entry: Endpoint,
        filled: FilledPath,
        *,
        params: Mapping[str, Any] | None = None,
        version: str | date | None = None,
        raw_names: bool = False,
        label: str | None = None,
    ) -> pl.DataFrame:
        check_paging_params(params)
        if entry["kind"] != "json":
            msg = (
                f"{entry['path']} returns a file ({entry['kind']}), not JSON data; the toolkit "
                "loads JSON resources only"
            )
            raise ConfigurationError(msg)
        served = self._version_for(entry, version)
        spec = schema_for(entry, served, raw_names=raw_names)
        label = label or entry["operation_id"] or entry["path"]
        lead = [c for _, c in spec.path_columns]

        def work(report: LoadReport) -> pl.DataFrame:
            frame = self._fetch_frame(entry, filled, spec, served, params, report)
            return arrange(frame, lead)

        frame = self._run_load(label, self.base_url + filled.path, work, spec=spec)
        if not raw_names and not params:
            self._remember_read(entry, filled, served, frame)  # its ETag, for a PUT of it
        return frame

    def _fetch_frame(
        self,
        entry: Endpoint,
        filled: FilledPath,
        spec: FrameSpec,
        served: str,
        params: Mapping[str, Any] | None,
        report: LoadReport,
        *,
        max_concurrency: int | None = None,
        progress: bool | None = None,
    ) -> pl.DataFrame:
        decoder, frame_cache = self._frames_for(spec, filled.ids)
        query = merge_params(params)
        page_size = self.page_size
        if entry["paging"] and "pageSize" in query:
            # The walk sends pageSize on every page: a user's pageSize picks the page size
            # rather than being sent twice.
            page_size = page_size_param(query.pop("pageSize"))

        pages = paginate(
            self._http,
            filled.path,
            strategy=PageNumberPaging(page_size=page_size) if entry["paging"] else None,
            decoder=decoder,
            raise_for_response=_raise_for_loket,
            frame_cache=frame_cache,
            params=query,
            headers={"Accept": f"application/json;version={served}"},
            max_concurrency=max_concurrency or self.max_concurrency,
            strict=self.strict,
            progress=self.progress if progress is None else progress,
            report=report,
            label=entry["operation_id"] or entry["path"],
        )
        self._note_versions(pages, report, entry)
        frames_ = [p.data for p in pages if p.data is not None and len(p.data)]
        return concat_pages(frames_, spec=spec) if frames_ else empty_frame(spec)

    def _note_versions(
        self, pages: Sequence[ParsedPage], report: LoadReport, entry: Endpoint
    ) -> None:
        warned = False
        for page in pages:
            check_loket_messages(page.meta.messages, url=self.base_url + entry["path"])
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
        constant_columns: Mapping[str, str] | None = None,
    ) -> pl.DataFrame:
        """Load ``template`` once per parent id, ``max_concurrency`` parents at a time.

        ``constant_columns`` (e.g. ``{"employer_id": ...}``) are added as leading String
        columns: the items of per-employment/per-employee endpoints name no employer.
        """
        check_paging_params(params)
        entry = self._entry(template)
        served = self._version_for(entry, version)
        spec = schema_for(entry, served)
        parents = list(dict.fromkeys(parent_ids))
        constants = dict(constant_columns or {})
        lead = [*constants, *(c for _, c in spec.path_columns)]

        def finish(frame: pl.DataFrame) -> pl.DataFrame:
            frame = frame.with_columns(
                pl.lit(v, pl.String()).alias(k) for k, v in constants.items()
            )
            return arrange(frame, lead)

        def work(report: LoadReport) -> pl.DataFrame:
            def one(parent: str) -> pl.DataFrame:
                filled = fill_path(entry["path"], entry["path"], {parent_param: parent})
                sub = LoadReport(label=label, url=self.base_url + filled.path)
                frame = self._fetch_frame(
                    entry, filled, spec, served, params, sub, max_concurrency=1, progress=False
                )
                report.merge(sub)
                return frame

            parts = [p for p in map_bounded(one, parents, self.max_concurrency) if p.height]
            frame = concat_pages(parts, spec=spec) if parts else empty_frame(spec)
            return finish(frame)

        return self._run_load(label, self.base_url + entry["path"], work, spec=spec)

    # -- what the server serves ----------------------------------------------------------------

    def served_version(
        self,
        resource: str,
        /,
        *,
        version: str | date | None = None,
        params: Mapping[str, Any] | None = None,
        **path_params: Any,
    ) -> dict[str, str | None]:
        """The resource version the server serves for ``resource``, from one small request.

        Asks for a single item (``pageSize=1``, first page only; list endpoints are not walked)
        and reads the envelope's ``version``.

        Parameters
        ----------
        resource
            A loader name (``"employees"``), a path template or a concrete path.
        version
            The version date to ask for; None = the client's choice for that resource.
        params
            Extra query parameters the endpoint requires (``startDate``/``endDate`` of the
            calendar, for example).
        **path_params
            The path parameters (``employer_id=...`` or ``employerId=...``).

        Returns
        -------
        dict
            ``{"resource_version": "2021-03-29", "obsolete_date": None}`` (``None`` when the
            server does not say).
        """
        check_paging_params(params, allow_size=False)
        template = RESOURCES.get(resource, resource)
        entry = self._entry(template)
        filled = fill_path(entry["path"], template, path_params)
        served = self._version_for(entry, version)
        query = merge_params(params)
        if entry["paging"]:
            query.update(pageNumber=1, pageSize=1)
        self._check_open()
        try:
            response = self._http.get(
                filled.path, params=query, headers={"Accept": f"application/json;version={served}"}
            )
        except httpx.HTTPError as exc:
            url = self.base_url + filled.path
            raise error_from_transport(exc, url=url, what=entry["path"]) from exc
        raise_for_response(response, api="loket")
        try:
            body = orjson.loads(response.content)
        except orjson.JSONDecodeError as exc:
            msg = f"{entry['path']} answered with malformed JSON: {exc}"
            raise ResponseFormatError(msg, url=str(response.url)) from exc
        got = body.get("version") if isinstance(body, dict) else None
        got = got if isinstance(got, dict) else {}
        return {
            "resource_version": got.get("resourceVersion"),
            "obsolete_date": got.get("obsoleteDate"),
        }

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
        filled = fill_path(entry["path"], entry["path"], path_params)
        return self._load(entry, filled, params=params, version=version, label=resource)

    def _merged_report(self, earlier: LoadReport | None, label: str, rows: int) -> None:
        """Make ``last_load`` cover a loader that made several loads (``earlier`` + the last)."""
        last = self.last_load
        if earlier is None or last is None or earlier is last:
            return
        merged = LoadReport(label=label, url=earlier.url)
        merged.merge(earlier)
        merged.merge(last)
        merged.label = label
        merged.rows = rows  # merge() keeps the worst status of the two
        self.last_load = merged

    def employers(
        self, *, version: str | date | None = None, filter: str | None = None
    ) -> pl.DataFrame:
        """The employers the logged-in user may see (others are not listed)."""
        return self._named("employers", version=version, params={"filter": filter})

    def employer(self, employer_id: str, *, version: str | date | None = None) -> pl.DataFrame:
        """One employer (a one-row DataFrame).

        Raises
        ------
        PermissionDeniedError
            The user may not see that employer (403).
        NotFoundError
            No such employer.
        """
        return self._named("employer", version=version, employerId=employer_id)

    def payroll_administrations(
        self, employer_id: str, *, version: str | date | None = None
    ) -> pl.DataFrame:
        """Payroll administrations of an employer, with an ``employer_id`` column."""
        return self._named("payroll_administrations", version=version, employerId=employer_id)

    def departments(self, employer_id: str, *, version: str | date | None = None) -> pl.DataFrame:
        """Departments of an employer (``sub_department_of_key`` = the parent's id)."""
        return self._named("departments", version=version, employerId=employer_id)

    def functions(self, employer_id: str, *, version: str | date | None = None) -> pl.DataFrame:
        """Functions of an employer; a function is identified by ``key`` (a uuid)."""
        return self._named("functions", version=version, employerId=employer_id)

    def employees(
        self,
        employer_id: str,
        *,
        version: str | date | None = None,
        filter: str | None = None,
    ) -> pl.DataFrame:
        """Employees of an employer; ``version`` picks 2018-12-31 or 2021-03-29 (the default).

        2021-03-29 adds ``contact_information_business_email_address``,
        ``…_business_phone_number`` and ``…_business_mobile_phone_number``.
        """
        return self._named(
            "employees", version=version, params={"filter": filter}, employerId=employer_id
        )

    def employments(
        self,
        employer_id: str,
        *,
        with_department: bool = False,
        reference_date: str | date | None = None,
        version: str | date | None = None,
        filter: str | None = None,
    ) -> pl.DataFrame:
        """Employments of an employer, with ``employer_id`` and ``employee_id`` columns.

        Parameters
        ----------
        employer_id
            The employer.
        with_department
            Also load :meth:`organizational_entities` and add ``department_id``,
            ``department`` (its description), ``function_key`` and ``function`` (its
            description), joined on the employment id; null where the employment has none.
            (The employments resource itself names no department.)
        reference_date
            With ``with_department``: the date the organisation is taken at (None = the
            server's today).
        version, filter
            The employments resource version; an API ``filter``.
        """
        frame = self._named(
            "employments", version=version, params={"filter": filter}, employerId=employer_id
        )
        # employee_id (from the nested employee) is the join key users reach for first
        frame = arrange(frame, ["employer_id", "employee_id"])
        if not with_department:
            return frame
        first = self.last_load
        org = self.organizational_entities(employer_id, reference_date=reference_date)
        pick = org.select(
            pl.col("employment_id").alias("id"),
            pl.col("organizational_entity_department_key").alias("department_id"),
            pl.col("organizational_entity_department_description").alias("department"),
            pl.col("organizational_entity_function_key").alias("function_key"),
            pl.col("organizational_entity_function_description").alias("function"),
        ).unique("id", keep="first", maintain_order=True)
        added = [c for c in pick.columns if c != "id"]
        frame = frame.drop([c for c in added if c in frame.columns]).join(
            pick, on="id", how="left", maintain_order="left"
        )
        frame = arrange(frame, ["employer_id", "employee_id", "id", *added])
        self._merged_report(first, "employments", frame.height)
        return frame

    def organizational_entities(
        self,
        employer_id: str,
        reference_date: str | date | None = None,
        *,
        version: str | date | None = None,
        filter: str | None = None,
    ) -> pl.DataFrame:
        """The organisational entity (department, function, …) of each employment at a date.

        From ``GET /providers/employers/{employerId}/actualorganizationalentities``; one row per
        employment, ``employment_id`` first, nested fields as
        ``organizational_entity_department_key`` / ``…_description``,
        ``organizational_entity_function_key`` / ``…_description``, ….

        Parameters
        ----------
        reference_date
            The date the organisation is taken at (``referenceDate``); None = the server's today.
        """
        params = {
            "referenceDate": iso_date(reference_date, name="reference_date"),
            "filter": filter,
        }
        frame = self._named(
            "organizational_entities", version=version, params=params, employerId=employer_id
        )
        return arrange(frame, ["employer_id", "employment_id"])

    def leave_types(self, employer_id: str, *, version: str | date | None = None) -> pl.DataFrame:
        """Leave types of an employer (``leave_type_key`` is what balances are asked by)."""
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

        ``start``/``end`` become the API's ``filter`` (``endDate ge start and startDate le end``),
        combined with ``filter`` by ``and``. Employer-wide loads get an ``employee_id`` column
        (the ``submitted_by_id`` of the request: the items name no employment); per-employment
        loads get ``employment_id``.
        """
        start_s, end_s = iso_date(start, name="start"), iso_date(end, name="end")
        if start_s and end_s and start_s > end_s:
            msg = f"start ({start_s}) is after end ({end_s}); swap them"
            raise ConfigurationError(msg)
        clauses = [f"({filter})" if filter and (start_s or end_s) else filter] if filter else []
        if start_s:
            clauses.append(f"endDate ge '{start_s}'")
        if end_s:
            clauses.append(f"startDate le '{end_s}'")
        params = {"filter": " and ".join(clauses) if clauses else None}
        if employment_id is not None:
            frame = self._named(
                "employment_leave_requests",
                version=version,
                params=params,
                employmentId=employment_id,
            )
            lead = ["employment_id"]
        elif employer_id is None:
            msg = "leave_requests needs an employer_id (or employment_id=...)"
            raise ConfigurationError(msg)
        else:
            frame = self._named(
                "leave_requests", version=version, params=params, employerId=employer_id
            )
            lead = ["employer_id"]
        if "submitted_by_id" in frame.columns and "employee_id" not in frame.columns:
            # eager, without the query engine (a with_columns runs a query)
            frame = frame.hstack([frame.get_column("submitted_by_id").alias("employee_id")])
        return arrange(frame, [*lead, "employee_id"])

    def leave(
        self,
        employer_id: str,
        *,
        employment_ids: Iterable[str] | None = None,
        version: str | date | None = None,
    ) -> pl.DataFrame:
        """The leave ledger (accruals and taken leave) of every employment of an employer.

        The API has no employer-wide leave list, so this walks the employments concurrently
        (``max_concurrency`` at a time). Columns ``employer_id``, ``employment_id`` lead.
        """
        first = None
        if employment_ids is None:
            employment_ids = self._named("employments", employerId=employer_id)["id"].to_list()
            first = self.last_load
        frame = self._walk(
            RESOURCES["leave"],
            "employmentId",
            list(employment_ids),
            label="leave",
            version=version,
            constant_columns={"employer_id": employer_id},
        )
        self._merged_report(first, "leave", frame.height)
        return frame

    def leave_balances(
        self,
        employer_id: str,
        reference_date: str | date | None = None,
        *,
        leave_types: Sequence[int] | None = None,
        version: str | date | None = None,
    ) -> pl.DataFrame:
        """Leave balances per employment × leave type in the year of ``reference_date``.

        ``leaveBalance[]`` is exploded to one row per employment × year × leave type (an
        employment without any balance has no row).

        Parameters
        ----------
        reference_date
            Splits usage into ``usage_through_reference_date`` / ``usage_after_reference_date``
            and picks the year; None = the server's today.
        leave_types
            Leave type keys (``leave_type_key``) to load; None = every leave type of the
            employer (loaded first with :meth:`leave_types`; the API alone would answer only
            for its default type).
        """
        first = None
        if leave_types is None:
            types = self.leave_types(employer_id)["leave_type_key"].drop_nulls().unique()
            leave_types = sorted(types.to_list())
            first = self.last_load
        params: dict[str, Any] = {"referenceDate": iso_date(reference_date, name="reference_date")}
        keys = [int(t) for t in leave_types]
        if keys:
            params["leaveType"] = keys
            frame = self._named(
                "leave_balances", version=version, params=params, employerId=employer_id
            )
        else:
            # No leave types, no balances; asking without leaveType would get the API default.
            entry = self._entry(RESOURCES["leave_balances"])
            frame = empty_frame(schema_for(entry, self._version_for(entry, version)))
        if "leave_type_key" in frame.columns:
            frame = frame.filter(pl.col("leave_type_key").is_not_null())
        frame = arrange(frame, ["employer_id", "employee_id", "id", "year", "leave_type_key"])
        if self.last_load is not None:
            self.last_load.rows = frame.height
        self._merged_report(first, "leave_balances", frame.height)
        return frame

    def absences(
        self,
        employer_id: str,
        *,
        employee_ids: Iterable[str] | None = None,
        version: str | date | None = None,
    ) -> pl.DataFrame:
        """Sick-leave absences of every employee of an employer (walks employees).

        ``start_date``/``end_date`` come from ``progress.startDate`` and
        ``progress.endOfAbsence.date`` (null while ongoing). Columns ``employer_id``,
        ``employee_id`` lead.
        """
        first = None
        if employee_ids is None:
            employee_ids = self._named("employees", employerId=employer_id)["id"].to_list()
            first = self.last_load
        frame = self._walk(
            RESOURCES["absences"],
            "employeeId",
            list(employee_ids),
            label="absences",
            version=version,
            constant_columns={"employer_id": employer_id},
        )
        frame = arrange(absence_dates(frame), ["employer_id", "employee_id", "id"])
        self._merged_report(first, "absences", frame.height)
        return frame

    def national_holidays(
        self, employer_id: str, *, version: str | date | None = None
    ) -> pl.DataFrame:
        """National holidays of an employer, with their date in the current year."""
        return self._named("national_holidays", version=version, employerId=employer_id)

    def leave_calendar(
        self,
        employer_id: str,
        start: str | date,
        end: str | date,
        *,
        version: str | date | None = None,
    ) -> pl.DataFrame:
        """Submitted (not yet handled) leave requests per employment in [start, end].

        One row per calendar entry (``calendar[]`` exploded): ``employee_id``,
        ``employment_id``, the department, ``start_date``/``end_date``.
        """
        start_s, end_s = iso_date(start, name="start"), iso_date(end, name="end")
        if start_s and end_s and start_s > end_s:
            msg = f"start ({start_s}) is after end ({end_s}); swap them"
            raise ConfigurationError(msg)
        frame = self._named(
            "leave_calendar",
            version=version,
            params={"startDate": start_s, "endDate": end_s},
            employerId=employer_id,
        )
        return arrange(frame, ["employer_id", "employee_id", "employment_id"])
