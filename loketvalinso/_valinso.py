"""The Valinso dialect: api-key auth, head/2.0.0 base URLs, offset/limit paging, loaders.

What the public documentation states: the ``api-key`` header, the base URLs, the
``{code, result, paging}`` envelope, ``offset``/``limit``, ``GET /device/{id}``, ``GET /vends``,
``POST /vends {"items": [...]}``, error bodies and 422 field errors, unix timestamps. The writes
(``post_vends``, ``put``, ``delete``) are in :mod:`~loketvalinso._valinso_writes`.
What this module assumes (no public field list exists): ``GET /devices``, ``/products``,
``/locations``, the vend fields below, and the ``device_id``/``from``/``to`` filters. Unknown
fields are kept as extra columns; a missing assumed field is a null column, never an error.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Mapping
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

import httpx
import polars as pl

from loketvalinso._client import BaseClient, CacheOption, merge_params
from loketvalinso._config import read_environment, valinso_options
from loketvalinso._dates import unix_seconds
from loketvalinso._frames.parse import concat_pages
from loketvalinso._frames.spec import VALINSO_FIELDS, FrameSpec, empty_frame, valinso_spec
from loketvalinso._load.decode import UntypedDecoder
from loketvalinso._load.frame_cache import FrameCache
from loketvalinso._load.pages import PageDecoder, ParsedPage
from loketvalinso._load.report import LoadReport
from loketvalinso._load.strategies import OffsetLimitPaging
from loketvalinso._load.stream import PageSink
from loketvalinso._load.walk import paginate
from loketvalinso._transport.auth_flows import ValinsoAuth
from loketvalinso._transport.client import check_url_security
from loketvalinso._transport.environments import VALINSO_VERSIONS, valinso_base_url
from loketvalinso._transport.limits import DEFAULT_DEADLINE, DEFAULT_MAX_BODY_BYTES
from loketvalinso._transport.responses import raise_for_response
from loketvalinso._transport.retry import RetryPolicy
from loketvalinso._valinso_paths import api_path, device_id_of
from loketvalinso._valinso_writes import ValinsoWrites
from loketvalinso.errors import ConfigurationError

if TYPE_CHECKING:
    from loketvalinso.mock import MockServer

__all__ = ["Valinso"]

_raise_for_valinso = functools.partial(raise_for_response, api="valinso")


class Valinso(ValinsoWrites, BaseClient):
    """A client of the Valinso vending API that returns typed Polars DataFrames.

    Parameters
    ----------
    api_key
        The key from Valinso support, sent in the ``api-key`` header (never stored).
    version
        ``"head"`` (the latest) or ``"2.0.0"`` (pinned); ignored when ``base_url`` is given.
    base_url
        An explicit base URL (e.g. the embedded mock's ``valinso_url``).
    allow_insecure
        Allow plain ``http://`` to a host that is not this machine.
    cache, offline, progress, max_concurrency, strict
        As for :class:`~loketvalinso.Loket`.
    limit
        Items per page requested (``limit``).
    keep_for_offline
        Also store responses the server marks as not reusable, so that a later
        ``offline=True`` session with the same cache folder can load them (with a
        :class:`~loketvalinso.errors.CacheWarning`). The data stays on disk in a folder only you
        can read (mode 0700); such entries are still never served while online.
    cache_ttl
        Seconds for which a stored response may be reused although the server forbids it
        (opt-in, the explicit override); every loader also takes ``cache_ttl=`` per call
        (0 = the server's word). None (default): the server's word.
    timeout, deadline, max_body_bytes
        As for :class:`~loketvalinso.Loket`.
    """

    def __init__(
        self,
        *,
        api_key: str,
        version: str = "head",
        base_url: str | None = None,
        allow_insecure: bool = False,
        cache: CacheOption = True,
        offline: bool = False,
        progress: bool | None = None,
        max_concurrency: int = 8,
        limit: int = 1000,
        strict: bool = False,
        keep_for_offline: bool = False,
        cache_ttl: float | None = None,
        transport: httpx.BaseTransport | None = None,
        timeout: float | None = 30.0,
        retry: RetryPolicy | None = None,
        deadline: float = DEFAULT_DEADLINE,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    ) -> None:
        if base_url is None:
            if version not in VALINSO_VERSIONS:
                msg = f"version must be one of {', '.join(VALINSO_VERSIONS)}, not {version!r}"
                raise ConfigurationError(msg)
            base_url = valinso_base_url(version)
        check_url_security(
            base_url, allow_insecure=allow_insecure, allow_userinfo=False, name="base_url"
        )
        if not isinstance(limit, int) or limit < 1:
            msg = f"limit must be a positive integer, not {limit!r}"
            raise ConfigurationError(msg)
        self.version = version
        self.limit = limit
        self._auth = ValinsoAuth(api_key)
        super().__init__(
            base_url=base_url,
            auth=self._auth,
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

    @classmethod
    def from_env(cls, *, dotenv: bool | str = True, **options: Any) -> Valinso:
        """A client configured from ``VALINSO_API_KEY``, ``VALINSO_BASE_URL`` and
        ``VALINSO_VERSION`` (and a ``.env`` file when python-dotenv is installed; the
        environment wins over it, keywords in ``options`` over both). No request is sent.

        Raises
        ------
        ConfigurationError
            ``VALINSO_API_KEY`` is not set.
        """
        env = read_environment(dotenv)
        return cls(**{**valinso_options(env), **options})

    def _repr_fields(self) -> list[tuple[str, str]]:
        return [
            ("version", self.version),
            ("base_url", self.base_url),
            ("api_key", "set (never shown)"),
        ]

    @classmethod
    def from_mock(cls, server: MockServer, *, version: str = "head", **options: Any) -> Valinso:
        """A client of the embedded mock's Valinso API with the mock's key."""
        options.setdefault("transport", server.transport if server.in_process else None)
        return cls(
            api_key=server.credentials.valinso_api_key,
            base_url=server.valinso_url_for(version),
            version=version,
            **options,
        )

    # -- loaders -------------------------------------------------------------------------------

    def _walk_list(
        self,
        path: str,
        spec: FrameSpec | None,
        params: Mapping[str, Any] | None,
        report: LoadReport,
        label: str,
        *,
        sink: PageSink | None = None,
        strict: bool | None = None,
        extensions: Mapping[str, Any] | None = None,
    ) -> list[ParsedPage]:
        decoder: PageDecoder
        frame_cache: FrameCache | None
        if spec is None:
            decoder, frame_cache = UntypedDecoder(), None
        else:
            decoder, frame_cache = self._frames_for(spec)
        return paginate(
            self._http,
            path,
            strategy=OffsetLimitPaging(limit=self.limit),
            decoder=decoder,
            raise_for_response=_raise_for_valinso,
            frame_cache=frame_cache,
            params=merge_params(params),
            extensions=extensions,
            max_concurrency=self.max_concurrency,
            strict=self.strict if strict is None else strict,
            progress=self.progress,
            report=report,
            label=label,
            sink=sink,
        )

    def _load_list(
        self,
        path: str,
        spec: FrameSpec | None,
        *,
        params: Mapping[str, Any] | None = None,
        label: str,
        cache_ttl: float | None = None,
    ) -> pl.DataFrame:
        extensions = self._request_extensions(cache_ttl)

        def work(report: LoadReport) -> pl.DataFrame:
            pages = self._walk_list(path, spec, params, report, label, extensions=extensions)
            parts = [p.data for p in pages if p.data is not None and len(p.data)]
            if spec is None:
                return concat_pages(parts)
            return concat_pages(parts, spec=spec) if parts else empty_frame(spec)

        return self._run_load(label, self.base_url + path, work, spec=spec, resource=label)

    @staticmethod
    def _vend_params(
        since: int | float | date | datetime | str | None,
        until: int | float | date | datetime | str | None,
        device_id: int | None,
    ) -> dict[str, Any]:
        start = unix_seconds(since, name="since")
        stop = unix_seconds(until, name="until")
        if start is not None and stop is not None and start > stop:
            msg = f"since ({since!r}) is after until ({until!r}); swap them"
            raise ConfigurationError(msg)
        device = None if device_id is None else device_id_of(device_id)
        return {"from": start, "to": stop, "device_id": device}

    def vends(
        self,
        *,
        since: int | float | date | datetime | str | None = None,
        until: int | float | date | datetime | str | None = None,
        device_id: int | None = None,
        cache_ttl: float | None = None,
    ) -> pl.DataFrame:
        """Vends in [since, until), optionally of one device.

        ``since``/``until`` take dates (midnight UTC), datetimes (naive = UTC), ISO strings or
        unix seconds. ``timestamp`` is ``Datetime("us", "UTC")``; ``price`` is the unit price.
        """
        params = self._vend_params(since, until, device_id)
        return self._load_list(
            "/vends", valinso_spec("vends"), params=params, label="vends", cache_ttl=cache_ttl
        )

    def iter_vends(
        self,
        *,
        since: int | float | date | datetime | str | None = None,
        until: int | float | date | datetime | str | None = None,
        device_id: int | None = None,
        batch_rows: int = 100_000,
        strict: bool | None = None,
    ) -> Iterator[pl.DataFrame]:
        """:meth:`vends` as frames of about ``batch_rows`` rows, for data bigger than memory.

        The pages stream through: memory holds the pages on the wire and a few batches, never
        the whole result. Frames come in the server's order (ascending ``id``), with the schema
        of :meth:`vends` (a page off the schema is decoded tolerantly, as in :meth:`vends`); a
        load with no vends yields one empty frame. The load's report, with its drift, is
        ``last_load`` once the iterator is exhausted. Stopping early (``break``) cancels the
        pages not yet requested.

        Parameters
        ----------
        since, until, device_id
            As for :meth:`vends`.
        batch_rows
            Rows per frame (pages are never split, so a frame may hold up to a page more).
        strict
            Raise :class:`~loketvalinso.errors.PaginationError` instead of warning when the
            paging stop rules disagree, and :class:`~loketvalinso.errors.SchemaDriftError`
            instead of a :class:`~loketvalinso.errors.SchemaDriftWarning` when the data left
            the schema (None: the client's ``strict``). Both are known only once the frames
            were taken: a consumer that keeps what it got (a dataset) wants ``True``.

        Examples
        --------
        >>> for batch in valinso.iter_vends(since="2026-01-01"):
        ...     batch.write_parquet(f"vends-{batch['id'][0]}.parquet")
        """
        params = self._vend_params(since, until, device_id)
        spec = valinso_spec("vends")

        def walk(report: LoadReport, sink: PageSink) -> None:
            self._walk_list("/vends", spec, params, report, "vends", sink=sink, strict=strict)

        return self._iterate_load(
            "vends",
            self.base_url + "/vends",
            walk,
            batch_rows=batch_rows,
            spec=spec,
            strict=strict,
            concat=functools.partial(concat_pages, spec=spec),
            empty=functools.partial(empty_frame, spec),
        )

    def devices(self, *, cache_ttl: float | None = None) -> pl.DataFrame:
        """The vending devices (``cache_ttl``: see :meth:`get`)."""
        return self._load_list(
            "/devices", valinso_spec("devices"), label="devices", cache_ttl=cache_ttl
        )

    def products(self, *, cache_ttl: float | None = None) -> pl.DataFrame:
        """The product catalogue."""
        return self._load_list(
            "/products", valinso_spec("products"), label="products", cache_ttl=cache_ttl
        )

    def locations(self, *, cache_ttl: float | None = None) -> pl.DataFrame:
        """The locations devices stand at."""
        return self._load_list(
            "/locations", valinso_spec("locations"), label="locations", cache_ttl=cache_ttl
        )

    def device(self, device_id: int, *, cache_ttl: float | None = None) -> pl.DataFrame:
        """One device (a one-row DataFrame); a missing id raises NotFoundError."""
        path = f"/device/{device_id_of(device_id)}"
        return self._load_list(path, valinso_spec("devices"), label="device", cache_ttl=cache_ttl)

    def get(
        self,
        path: str,
        params: Mapping[str, Any] | None = None,
        *,
        cache_ttl: float | None = None,
    ) -> pl.DataFrame:
        """Any GET endpoint whose ``result`` is an object or a list, as a DataFrame.

        Known resources (``/vends``, ``/devices``, ``/device/{id}``, ``/products``,
        ``/locations``) get their typed columns; for any other path every field of the items
        becomes a column, typed from the values (nested values as JSON text). ``cache_ttl``:
        seconds a stored response may be reused although the server forbids it (for this
        call; None = the client's ``cache_ttl``, 0 = the server's word).
        """
        path = api_path(path)
        first = path.strip("/").split("/", 1)[0]
        known = {"device": "devices"}.get(first, first)
        spec = valinso_spec(known) if known in VALINSO_FIELDS else None
        return self._load_list(path, spec, params=params, label=path, cache_ttl=cache_ttl)
