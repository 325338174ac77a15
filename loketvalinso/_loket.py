"""The Loket.nl dialect: environments, resource versions, the catalogue, named loaders.

>>> loket = Loket(environment="production", client_id="...", client_secret="...",
...               redirect_uri="https://example.org/callback")
>>> loket.authorization_url()        # open it, log in, then paste the redirect URL back:
>>> loket.finish_login("https://example.org/callback?code=...&state=...")
>>> loket.leave_requests(loket.employers()["id"][0], start="2025-01-01")

The named loaders are here; the machinery they load with (login, versions, the generic loader,
walks, and the writes of :mod:`~loketvalinso._loket_writes` and
:mod:`~loketvalinso._loket_leave_writes`) is :class:`~loketvalinso._loket_base.LoketBase`. Every loader takes ``version=`` (the
resource version date) and ``cache_ttl=`` (seconds a stored response may be reused although the
server forbids it, for this call; 0 = the server's word).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date
from typing import Any

import polars as pl

from loketvalinso._dates import iso_date
from loketvalinso._frames.spec import empty_frame, schema_for
from loketvalinso._loket_base import LoketBase
from loketvalinso._loket_resources import RESOURCES, absence_dates, arrange
from loketvalinso.errors import ConfigurationError

__all__ = ["Loket"]


class Loket(LoketBase):
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
    username, password
        A password-grant login (enabled for few clients), done on the first load: building a
        client never touches the network.
    token_store
        ``"keyring"`` remembers the login (the newest refresh token) and who is logged in in the
        operating system's keyring (the ``[keyring]`` extra), so a restarted kernel is logged in
        again with no browser step, and ``offline=True`` knows whose cached responses to read;
        any object with ``load``/``save``/``delete`` works too. None: nothing is remembered.
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
    cache_ttl
        Seconds for which a stored response may be reused although the server forbids it
        (Loket list pages say "do not reuse"): opt-in, the explicit override; every loader also
        takes ``cache_ttl=`` per call. ``last_load.reused_pages`` names the rows it served.
        None (default): the server's word.
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

    def employers(
        self,
        *,
        version: str | date | None = None,
        cache_ttl: float | None = None,
        filter: str | None = None,
    ) -> pl.DataFrame:
        """The employers the logged-in user may see (others are not listed)."""
        return self._named(
            "employers", version=version, params={"filter": filter}, cache_ttl=cache_ttl
        )

    def employer(
        self, employer_id: str, *, version: str | date | None = None, cache_ttl: float | None = None
    ) -> pl.DataFrame:
        """One employer (a one-row DataFrame).

        Raises
        ------
        PermissionDeniedError
            The user may not see that employer (403).
        NotFoundError
            No such employer.
        """
        return self._named("employer", version=version, employerId=employer_id, cache_ttl=cache_ttl)

    def payroll_administrations(
        self, employer_id: str, *, version: str | date | None = None, cache_ttl: float | None = None
    ) -> pl.DataFrame:
        """Payroll administrations of an employer, with an ``employer_id`` column."""
        return self._named(
            "payroll_administrations", version=version, employerId=employer_id, cache_ttl=cache_ttl
        )

    def departments(
        self, employer_id: str, *, version: str | date | None = None, cache_ttl: float | None = None
    ) -> pl.DataFrame:
        """Departments of an employer (``sub_department_of_key`` = the parent's id)."""
        return self._named(
            "departments", version=version, employerId=employer_id, cache_ttl=cache_ttl
        )

    def functions(
        self, employer_id: str, *, version: str | date | None = None, cache_ttl: float | None = None
    ) -> pl.DataFrame:
        """Functions of an employer; a function is identified by ``key`` (a uuid)."""
        return self._named(
            "functions", version=version, employerId=employer_id, cache_ttl=cache_ttl
        )

    def employees(
        self,
        employer_id: str,
        *,
        version: str | date | None = None,
        cache_ttl: float | None = None,
        filter: str | None = None,
    ) -> pl.DataFrame:
        """Employees of an employer; ``version`` picks 2018-12-31 or 2021-03-29 (the default).

        2021-03-29 adds ``contact_information_business_email_address``,
        ``…_business_phone_number`` and ``…_business_mobile_phone_number``.
        """
        return self._named(
            "employees",
            version=version,
            params={"filter": filter},
            employerId=employer_id,
            cache_ttl=cache_ttl,
        )

    def employments(
        self,
        employer_id: str,
        *,
        with_department: bool = False,
        reference_date: str | date | None = None,
        version: str | date | None = None,
        cache_ttl: float | None = None,
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
            "employments",
            version=version,
            params={"filter": filter},
            employerId=employer_id,
            cache_ttl=cache_ttl,
        )
        # employee_id (from the nested employee) is the join key users reach for first
        frame = arrange(frame, ["employer_id", "employee_id"])
        if not with_department:
            return frame
        first = self.last_load
        org = self.organizational_entities(
            employer_id, reference_date=reference_date, cache_ttl=cache_ttl
        )
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
        cache_ttl: float | None = None,
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
            "organizational_entities",
            version=version,
            params=params,
            employerId=employer_id,
            cache_ttl=cache_ttl,
        )
        return arrange(frame, ["employer_id", "employment_id"])

    def leave_types(
        self, employer_id: str, *, version: str | date | None = None, cache_ttl: float | None = None
    ) -> pl.DataFrame:
        """Leave types of an employer (``leave_type_key`` is what balances are asked by)."""
        return self._named(
            "leave_types", version=version, employerId=employer_id, cache_ttl=cache_ttl
        )

    def leave_requests(
        self,
        employer_id: str | None = None,
        *,
        employment_id: str | None = None,
        start: str | date | None = None,
        end: str | date | None = None,
        filter: str | None = None,
        version: str | date | None = None,
        cache_ttl: float | None = None,
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
                cache_ttl=cache_ttl,
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
                "leave_requests",
                version=version,
                params=params,
                employerId=employer_id,
                cache_ttl=cache_ttl,
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
        cache_ttl: float | None = None,
    ) -> pl.DataFrame:
        """The leave ledger (accruals and taken leave) of every employment of an employer.

        The API has no employer-wide leave list, so this walks the employments concurrently
        (``max_concurrency`` at a time). Columns ``employer_id``, ``employment_id`` lead.
        """
        first = None
        if employment_ids is None:
            employment_ids = self._named(
                "employments", employerId=employer_id, cache_ttl=cache_ttl
            )["id"].to_list()
            first = self.last_load
        frame = self._walk(
            RESOURCES["leave"],
            "employmentId",
            list(employment_ids),
            label="leave",
            version=version,
            cache_ttl=cache_ttl,
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
        cache_ttl: float | None = None,
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
            types = (
                self.leave_types(employer_id, cache_ttl=cache_ttl)["leave_type_key"]
                .drop_nulls()
                .unique()
            )
            leave_types = sorted(types.to_list())
            first = self.last_load
        params: dict[str, Any] = {"referenceDate": iso_date(reference_date, name="reference_date")}
        keys = [int(t) for t in leave_types]
        if keys:
            params["leaveType"] = keys
            frame = self._named(
                "leave_balances",
                version=version,
                params=params,
                employerId=employer_id,
                cache_ttl=cache_ttl,
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
        cache_ttl: float | None = None,
    ) -> pl.DataFrame:
        """Sick-leave absences of every employee of an employer (walks employees).

        ``start_date``/``end_date`` come from ``progress.startDate`` and
        ``progress.endOfAbsence.date`` (null while ongoing). Columns ``employer_id``,
        ``employee_id`` lead.
        """
        first = None
        if employee_ids is None:
            employee_ids = self._named("employees", employerId=employer_id, cache_ttl=cache_ttl)[
                "id"
            ].to_list()
            first = self.last_load
        frame = self._walk(
            RESOURCES["absences"],
            "employeeId",
            list(employee_ids),
            label="absences",
            version=version,
            cache_ttl=cache_ttl,
            constant_columns={"employer_id": employer_id},
        )
        frame = arrange(absence_dates(frame), ["employer_id", "employee_id", "id"])
        self._merged_report(first, "absences", frame.height)
        return frame

    def national_holidays(
        self, employer_id: str, *, version: str | date | None = None, cache_ttl: float | None = None
    ) -> pl.DataFrame:
        """National holidays of an employer, with their date in the current year."""
        return self._named(
            "national_holidays", version=version, employerId=employer_id, cache_ttl=cache_ttl
        )

    def leave_calendar(
        self,
        employer_id: str,
        start: str | date,
        end: str | date,
        *,
        version: str | date | None = None,
        cache_ttl: float | None = None,
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
            cache_ttl=cache_ttl,
            version=version,
            params={"startDate": start_s, "endDate": end_s},
            employerId=employer_id,
        )
        return arrange(frame, ["employer_id", "employee_id", "employment_id"])
