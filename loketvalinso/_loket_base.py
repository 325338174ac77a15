"""The Loket client without its named loaders: login, environments, resource versions, the
catalogue, the generic loader (:meth:`LoketBase.get`) and walks over many parents.

:class:`~loketvalinso.Loket` (in :mod:`loketvalinso._loket`) adds the named loaders. Writes
(POST/PUT/PATCH/DELETE, ETags) are in :mod:`~loketvalinso._loket_writes`, the leave-request
flows in :mod:`~loketvalinso._loket_leave_writes`; both are mixed in here.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import date
from typing import TYPE_CHECKING, Any, Self
from urllib.parse import urlencode

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
from loketvalinso._config import loket_options, read_environment
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
    arrange,
    check_paging_params,
    page_size_param,
)
from loketvalinso._transport.auth import LoketOAuth
from loketvalinso._transport.auth_flows import USER_PATH, LoketAuth
from loketvalinso._transport.client import check_url_security
from loketvalinso._transport.environments import LOKET_ENVIRONMENTS
from loketvalinso._transport.limits import DEFAULT_DEADLINE, DEFAULT_MAX_BODY_BYTES, check_timeout
from loketvalinso._transport.responses import (
    check_loket_messages,
    error_from_transport,
    raise_for_response,
)
from loketvalinso._transport.retry import RetryPolicy
from loketvalinso._transport.token_store import TokenStore
from loketvalinso.errors import (
    ConfigurationError,
    ObsoleteVersionWarning,
    ResponseFormatError,
)

if TYPE_CHECKING:
    from loketvalinso.mock import MockServer

__all__ = ["LoketBase"]

_raise_for_loket = functools.partial(raise_for_response, api="loket")


class LoketBase(LeaveRequestWrites, BaseClient):
    """What :class:`~loketvalinso.Loket` is made of but its named loaders: the login, resource
    versions, the catalogue, the generic loader, walks over many parents and the writes. Its
    parameters are documented on :class:`~loketvalinso.Loket`."""

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
        cache_ttl: float | None = None,
        token_store: str | TokenStore | None = None,
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
            client_id=client_id,
            client_secret=client_secret,
            redirect_uri=redirect_uri,
            transport=transport,
            on_token=on_token,
            token_store=token_store,
            timeout=check_timeout(timeout),
            deadline=deadline,
            max_body_bytes=max_body_bytes,
        )
        if access_token is not None or refresh_token is not None:
            self.oauth.set_tokens(access_token=access_token, refresh_token=refresh_token)
        if username is not None and password is not None:
            self.oauth.defer_password_login(username, password)
        self._catalog = get_catalog()
        self._init_writes()
        self.versions: dict[str, str] = {}
        for resource, chosen in (versions or {}).items():
            self.set_version(resource, chosen)
        # Only the cache needs to know who is asking (it keys entries by the user).
        user_url = None if cache is False else base_url.rstrip("/") + USER_PATH
        super().__init__(
            base_url=base_url,
            auth=LoketAuth(self.oauth, user_url=user_url, offline=offline),
            cache=cache,
            offline=offline,
            keep_for_offline=keep_for_offline,
            progress=progress,
            max_concurrency=max_concurrency,
            strict=strict,
            transport=transport,
            timeout=timeout,
            retry=retry,
            cache_ttl=cache_ttl,
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
    def from_env(cls, *, dotenv: bool | str = True, **options: Any) -> Self:
        """A client configured from environment variables (and a ``.env`` file).

        Reads ``LOKET_ENVIRONMENT`` (or ``LOKET_BASE_URL``, ``LOKET_TOKEN_URL``,
        ``LOKET_AUTHORIZE_URL``), ``LOKET_CLIENT_ID``, ``LOKET_CLIENT_SECRET``,
        ``LOKET_REDIRECT_URI``, ``LOKET_ACCESS_TOKEN``, ``LOKET_REFRESH_TOKEN`` and
        ``LOKET_TOKEN_STORE`` (``keyring``); a ``.env`` file found from the working folder up
        when python-dotenv is installed (the environment wins). Keywords in ``options`` win over
        both. No request is sent: with a client id and no token, log in with
        :meth:`authorization_url` and :meth:`finish_login` (or keep the login with
        ``token_store="keyring"``).

        Raises
        ------
        ConfigurationError
            Neither an environment nor a base URL is set, or no credential is.
        """
        env = read_environment(dotenv)
        return cls(**{**loket_options(env), **options})

    @classmethod
    def from_mock(
        cls,
        server: MockServer,
        *,
        flow: str = "authorization_code",
        user: str | None = None,
        **options: Any,
    ) -> Self:
        """A client logged in to the embedded mock through its real OAuth flow.

        ``flow`` is ``"authorization_code"`` (PKCE, the default) or ``"password"``; ``user``
        picks one of the mock's users (``server.credentials.users``) for the authorization-code
        flow (default: the first).
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
            link = loket.authorization_url()
            if user is not None:
                link += "&" + urlencode({"login_hint": user})
            with httpx.Client(transport=server.transport, follow_redirects=False) as browser:
                answer = browser.get(link)
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
        """Whether a token (or a refresh token, e.g. a remembered login) is held."""
        return self.oauth.logged_in

    def forget_login(self) -> None:
        """Log out here: drop the tokens and the login remembered in the keyring (if any)."""
        self.oauth.forget()

    def _repr_fields(self) -> list[tuple[str, str]]:
        oauth = self.oauth
        if self.offline:
            state = "offline: " + (
                "the user is known" if oauth.identity else "the user is unknown (log in online)"
            )
        elif oauth.logged_in:
            state = "yes, remembered in the keyring" if oauth.remembered else "yes"
        elif oauth.login_pending:
            state = "password login on the first load"
        else:
            state = "no: authorization_url(), then finish_login(<the URL you land on>)"
        version = self.default_version or "the newest documented of each resource"
        if self.versions:
            version += f" ({len(self.versions)} resource(s) pinned)"
        return [
            ("environment", self.environment or "custom"),
            ("base_url", self.base_url),
            ("logged_in", state),
            ("version", version),
        ]

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
        cache_ttl: float | None = None,
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
        cache_ttl
            Seconds for which a stored response may be reused although the server forbids it
            (an explicit override, for this call); None = the client's ``cache_ttl``, 0 = the
            server's word. Every named loader takes it too.
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
        return self._load(
            entry, filled, params=params, version=version, cache_ttl=cache_ttl, raw_names=raw_names
        )

    def _load(
        self,
        entry: Endpoint,
        filled: FilledPath,
        *,
        params: Mapping[str, Any] | None = None,
        version: str | date | None = None,
        cache_ttl: float | None = None,
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
        extensions = self._request_extensions(cache_ttl)

        def work(report: LoadReport) -> pl.DataFrame:
            frame = self._fetch_frame(entry, filled, spec, served, params, report, extensions)
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
        extensions: Mapping[str, Any],
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
            extensions=extensions,
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
        cache_ttl: float | None = None,
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
        extensions = self._request_extensions(cache_ttl)
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
                    entry,
                    filled,
                    spec,
                    served,
                    params,
                    sub,
                    extensions,
                    max_concurrency=1,
                    progress=False,
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
        cache_ttl: float | None = None,
        **path_params: Any,
    ) -> pl.DataFrame:
        entry = self._entry(RESOURCES[resource])
        filled = fill_path(entry["path"], entry["path"], path_params)
        return self._load(
            entry, filled, params=params, version=version, cache_ttl=cache_ttl, label=resource
        )

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
