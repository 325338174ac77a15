"""Generate the notebooks in ``notebooks/`` (committed without outputs).

    python scripts/make_notebooks.py          # (re)write them
    python scripts/make_notebooks.py --check  # exit 1 when a committed notebook is out of date

Every notebook starts with ``USE_REAL_APIS = False``: against the embedded mock it runs top to
bottom with no network; set it to True to use the real APIs with credentials from environment
variables (never typed into a notebook). Cell ids are derived from the notebook and cell
position, so regenerating gives the same bytes.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from textwrap import dedent

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

NOTEBOOKS_DIR = Path(__file__).resolve().parents[1] / "notebooks"

Cell = tuple[str, str]  # ("md" | "code", source)


def md(text: str) -> Cell:
    return ("md", dedent(text).strip())


def code(text: str) -> Cell:
    return ("code", dedent(text).strip())


REAL_APIS_NOTE = md(
    """
    > **Real APIs.** Set `USE_REAL_APIS = True` in the first cell. Credentials come from
    > environment variables, never from the notebook: `LOKET_ENVIRONMENT` (production,
    > acceptance or test), `LOKET_ACCESS_TOKEN` (or use the login widget of
    > `01_quickstart.ipynb`), `VALINSO_API_KEY` and optionally `VALINSO_BASE_URL`.
    """
)


def connect(sizes: str, *, loket: bool = True, valinso: bool = True, extra: str = "") -> Cell:
    """The cell that builds the clients: the embedded mock, or the real APIs."""
    real, mock = [], []
    if loket:
        real.append(
            'loket = lv.Loket(environment=os.environ.get("LOKET_ENVIRONMENT", "production"),\n'
            '                 access_token=os.environ["LOKET_ACCESS_TOKEN"])'
        )
        mock.append("loket = lv.Loket.from_mock(server, cache=False)  # OAuth login, over HTTP")
    if valinso:
        real.append(
            'valinso = lv.Valinso(api_key=os.environ["VALINSO_API_KEY"],\n'
            '                     base_url=os.environ.get("VALINSO_BASE_URL"))'
        )
        mock.append("valinso = lv.Valinso.from_mock(server, cache=False)")
    indent = "    "
    real_src = "\n".join(indent + line for block in real for line in block.splitlines())
    mock_src = "\n".join(indent + line for line in mock)
    return (
        "code",
        "if USE_REAL_APIS:\n"
        "    server = None\n"
        f"{real_src}\n"
        "else:\n"
        f"    # A small seeded world keeps this quick; the demo uses the full one.\n"
        f"    server = lv.mock.serve(seed=42, sizes=lv.mock.WorldSizes({sizes}){extra})\n"
        f"{mock_src}\n"
        'print("using", "the real APIs" if USE_REAL_APIS else f"the embedded mock on {server.url}")',
    )


def setup(*, stdlib: str = "", third_party: str = "") -> Cell:
    """The first code cell: the imports a notebook uses (and no others), then the switch."""
    groups = [
        "\n".join(filter(None, ["import os", stdlib])),
        third_party,
        "import loketvalinso as lv",
    ]
    switch = (
        "USE_REAL_APIS = False  # True: the real Loket.nl and Valinso APIs (see the note below)\n\n"
        "renderer = lv.charts.enable_offline_rendering()  # charts render with no CDN"
    )
    return ("code", "\n\n".join(filter(None, [*groups, switch])))


CLOSE = code(
    """
    if server is not None:
        server.close()
    """
)

QUICKSTART: list[Cell] = [
    md(
        """
        # Quickstart: Loket.nl and Valinso as Polars DataFrames

        This notebook logs in to both APIs, loads a first few frames, looks at what a load did,
        and draws a chart. It runs against the **embedded mock** of both APIs (real HTTP on
        this machine, a seeded synthetic world), so it needs no account and no network.
        """
    ),
    setup(),
    REAL_APIS_NOTE,
    md(
        """
        ## 1. Log in with the widgets

        `LoketLogin` picks the environment, takes the client id and secret, and shows the
        Loket login link; after logging in you paste the URL your browser lands on (this works
        even when the kernel runs on a server). `ValinsoLogin` takes the api key and tests it.
        Every secret field is **cleared right after use**, so a saved notebook keeps none.

        With the embedded mock the login page is followed for you: the cell clicks the buttons.
        """
    ),
    code(
        """
        from IPython.display import display

        if USE_REAL_APIS:
            server = None
            login = lv.widgets.LoketLogin(
                environment=os.environ.get("LOKET_ENVIRONMENT", "production"),
                client_id=os.environ.get("LOKET_CLIENT_ID", ""),
                redirect_uri=os.environ.get("LOKET_REDIRECT_URI", ""),
            )
            valinso_login = lv.widgets.ValinsoLogin(version="head")
        else:
            server = lv.mock.serve(
                seed=42, sizes=lv.mock.WorldSizes(employers=2, employees=60, vends=20_000)
            )
            login = lv.widgets.LoketLogin(mock=server, client_options={"cache": False})
            valinso_login = lv.widgets.ValinsoLogin(mock=server, client_options={"cache": False})
            login.login_button.click()  # what clicking "Log in" does
            valinso_login.test_button.click()  # what clicking "Test connection" does
        display(login, valinso_login)
        """
    ),
    code(
        """
        loket, valinso = login.client, valinso_login.client
        if loket is None or valinso is None:
            raise RuntimeError("log in with the widgets above first, then run the cells below")
        loket, valinso
        """
    ),
    md(
        """
        Without widgets, in code: `lv.Loket.from_mock(server)` logs in to the mock through the
        same OAuth flow; for a real environment use
        `lv.Loket(environment="production", client_id=..., redirect_uri=...)`, open
        `loket.authorization_url()` and call `loket.finish_login(pasted_url)`.

        ## 2. First frames

        Every loader returns a typed Polars DataFrame. Loket items do not carry their parent
        ids, so the loaders add them (`employer_id` here).
        """
    ),
    code(
        """
        employers = loket.employers()
        employer_id = employers["id"][0]
        employers.select("id", "company_name")
        """
    ),
    code(
        """
        employees = loket.employees(employer_id)
        employees.select("employer_id", "id", "employee_number", "personal_details_formatted_name").head()
        """
    ),
    md(
        """
        `last_load` says what the load did: requests and pages, rows, cache use, retries, the
        **resource version** the server served, warnings and time.
        """
    ),
    code("loket.last_load"),
    code(
        """
        vends = valinso.vends()
        print(f"{vends.height:,} vends from {vends['timestamp'].min()} to {vends['timestamp'].max()}")
        vends.head()
        """
    ),
    code("valinso.last_load"),
    md(
        """
        ## 3. A chart

        Charts take DataFrames (never the network), aggregate in Polars and return Altair
        charts. Drag on the time series to filter the breakdowns.
        """
    ),
    code("lv.charts.vends_daily(vends)"),
    md(
        """
        ## Next

        * `02_vends.ipynb` — vends by day, hour, product, payment type and location.
        * `03_leave_trends.ipynb` — leave requests, ledger, balances and sick leave.
        * `04_caching_and_versions.ipynb` — the cache, offline work, resource versions and the
          drift report of data off the schema.
        * `loketvalinso demo` writes all charts into one offline `report.html`.
        """
    ),
    CLOSE,
]

VENDS: list[Cell] = [
    md(
        """
        # Vends: when, what, how paid, and where

        A year of vends from the Valinso API: revenue per day, the weekly rhythm, the best
        sellers, the payment mix and the differences between locations. Revenue is
        `price × quantity` over successful vends; times are shown in Europe/Amsterdam.
        """
    ),
    setup(stdlib="from datetime import timedelta", third_party="import polars as pl"),
    REAL_APIS_NOTE,
    connect("employers=1, employees=10, vends=15_000", loket=False),
    md("## The catalogue: devices, products and locations"),
    code(
        """
        devices, products, locations = valinso.devices(), valinso.products(), valinso.locations()
        print(f"{devices.height} devices at {locations.height} locations, {products.height} products")
        devices.head()
        """
    ),
    md(
        """
        ## Loading vends, with filters

        `since`/`until` take dates, datetimes or unix seconds and are sent to the API as
        `from`/`to`; `device_id` asks for one machine only. The filters run on the server, so
        a month of one device is a small download.
        """
    ),
    code(
        """
        vends = valinso.vends()
        last = vends["timestamp"].max()
        month = valinso.vends(since=last - timedelta(days=30), until=last)
        one_device = valinso.vends(device_id=int(devices["id"][0]))
        print(f"all: {vends.height:,}  last 30 days: {month.height:,}  device {devices['id'][0]}: {one_device.height:,}")
        assert month["timestamp"].min() >= last - timedelta(days=30)
        assert one_device["device_id"].n_unique() == 1
        """
    ),
    code(
        """
        vends.group_by("status").agg(pl.len().alias("vends")).sort("vends", descending=True)
        """
    ),
    md(
        """
        ## Revenue per day

        Revenue and count per day with a 7-day rolling mean. Drag on the upper chart to choose
        days.
        """
    ),
    code("lv.charts.vends_daily(vends)"),
    md("## The weekly rhythm: hour × weekday"),
    code("lv.charts.vends_heatmap(vends)"),
    md("## Top products"),
    code("lv.charts.top_products(vends, products=products)"),
    md("## Payment mix"),
    code("lv.charts.payment_mix(vends)"),
    md("## Per location"),
    code('lv.charts.device_comparison(vends, devices=devices, locations=locations, by="location")'),
    md(
        """
        The same numbers in Polars, for a table: revenue per location over the last 30 days.
        """
    ),
    code(
        """
        (
            month.filter(pl.col("status") == "success")
            .join(devices.select(pl.col("id").alias("device_id"), "location_id"), on="device_id", how="left", suffix="_device")
            .group_by("location_id")
            .agg(revenue=(pl.col("price") * pl.col("quantity")).sum(), vends=pl.len())
            .sort("revenue", descending=True)
            .head(10)
        )
        """
    ),
    md(
        """
        ## Everything linked

        One overview: drag on the days to filter products, locations and payment types.
        """
    ),
    code(
        "lv.charts.vends_overview(vends, products=products, devices=devices, locations=locations)"
    ),
    CLOSE,
]

LEAVE: list[Cell] = [
    md(
        """
        # Leave trends: requests, the ledger, balances and sick leave

        From the Loket API: leave requests over two years (summer and Christmas peaks), the
        leave ledger (accruals and leave taken), balances per employee and year, and sick-leave
        absences (a winter peak) as a rate per month and department. At the end the frames are
        saved as Parquet snapshots and the analysis is re-run from them, with no server.
        """
    ),
    setup(stdlib="from datetime import timedelta", third_party="import polars as pl"),
    REAL_APIS_NOTE,
    connect("employers=1, employees=80, vends=1_000", valinso=False),
    code(
        """
        employer_id = loket.employers()["id"][0]
        employments = lv.report.employments_with_department(loket, employer_id)
        departments = loket.departments(employer_id)
        print(f"{employments.height} employments in {departments.height} departments")
        """
    ),
    md(
        """
        ## Leave requests

        `start`/`end` become the API's `filter` (requests overlapping the period).
        """
    ),
    code(
        """
        requests = loket.leave_requests(employer_id)
        provenance = {"leave_requests": loket.last_load}  # for the snapshots at the end
        print(f"{requests.height:,} leave requests from {requests['start_date'].min()} to {requests['end_date'].max()}")
        (
            requests.group_by("leave_request_status")
            .agg(pl.len().alias("requests"), pl.col("number_of_units").sum().alias("units"))
            .sort("requests", descending=True)
        )
        """
    ),
    code(
        """
        start = requests["start_date"].max() - timedelta(days=90)
        recent = loket.leave_requests(employer_id, start=start)
        print(f"{recent.height} requests overlap the last 90 days")
        """
    ),
    code("lv.charts.leave_hours_by_month(requests)"),
    code("lv.charts.leave_requests_by_status(requests)"),
    md(
        """
        ## The leave ledger

        There is no employer-wide ledger in the API: `loket.leave(employer_id)` walks the
        employments concurrently and adds `employment_id` to every row.
        """
    ),
    code(
        """
        ledger = loket.leave(employer_id)
        (
            ledger.group_by("leave_type", "is_accrual")
            .agg(pl.col("number_of_units").sum().round(1).alias("units"), pl.len().alias("entries"))
            .sort("leave_type", "is_accrual")
        )
        """
    ),
    md("## Balances"),
    code(
        """
        balances = loket.leave_balances(employer_id)
        balances.select("employee_id", "year", "leave_type", "accrual", "usage_total", "balance").head()
        """
    ),
    code("lv.charts.leave_balance_distribution(balances)"),
    md(
        """
        ## Sick leave

        Absences per employee (the loader walks the employees); the rate is sick person-days
        over employed person-days per month, per department under the brush.
        """
    ),
    code(
        """
        absences = loket.absences(employer_id)
        provenance["absences"] = loket.last_load
        print(f"{absences.height} absences")
        lv.charts.sick_leave_rate(absences, employments, departments=departments)
        """
    ),
    md("## Everything linked: drag on the months"),
    code(
        "lv.charts.leave_trends(requests, absences=absences, employments=employments, departments=departments)"
    ),
    md(
        """
        ## Reproducible: the same analysis from Parquet snapshots

        `lv.snapshots.save` writes each frame with its provenance (source URL, resource
        version, load time, rows) in the Parquet metadata; `lv.snapshots.load` reads them back
        with **no server**. Point `SNAPSHOTS` at a folder you keep (or at the demo's
        `data/demo`) to share the exact data behind a report.
        """
    ),
    code(
        """
        import tempfile

        SNAPSHOTS = tempfile.mkdtemp(prefix="leave-snapshots-")
        lv.snapshots.save(
            {"leave_requests": requests, "absences": absences, "employments": employments,
             "departments": departments},
            SNAPSHOTS,
            provenance=provenance,
        )
        if server is not None:
            server.close()  # from here on there is no server
        """
    ),
    code(
        """
        snap = lv.snapshots.load(SNAPSHOTS)
        snap.describe()  # where each frame came from, in which version, when
        """
    ),
    code(
        """
        assert snap["leave_requests"].equals(requests)
        lv.charts.sick_leave_rate(snap["absences"], snap["employments"], departments=snap["departments"])
        """
    ),
]

CACHE: list[Cell] = [
    md(
        """
        # Caching, offline work, resource versions and schema drift

        Loket says "in most cases caching is not allowed": its list pages come with an
        `Expires` in the past, so the cache keeps them only to **revalidate** (ETag, 304) or
        for offline work you ask for. Here the mock is started with `expires=2`, announcing
        two seconds of freshness, to show a cache hit, a 304 and expiry. Then: offline mode,
        the resource versions Loket serves, with their `obsoleteDate` warnings, and what a load
        reports when the data arrives off the schema.
        """
    ),
    setup(stdlib="from datetime import date", third_party="import polars as pl"),
    REAL_APIS_NOTE,
    code(
        """
        import tempfile
        import time
        import warnings

        from loketvalinso.cache import cache_info

        CACHE_DIR = tempfile.mkdtemp(prefix="loketvalinso-cache-")  # your own folder: cache=True
        SIZES = lv.mock.WorldSizes(employers=1, employees=40, vends=1_000)
        """
    ),
    code(
        """
        if USE_REAL_APIS:
            server = None
            loket = lv.Loket(environment=os.environ.get("LOKET_ENVIRONMENT", "production"),
                             access_token=os.environ["LOKET_ACCESS_TOKEN"], cache=CACHE_DIR)
        else:
            # expires=2: list pages are fresh for two seconds (the real API: not at all)
            server = lv.mock.serve(seed=42, sizes=SIZES, expires=2)
            # the password grant gives a login identity that stays the same across sessions
            loket = lv.Loket.from_mock(server, flow="password", cache=CACHE_DIR, keep_for_offline=True)
        employer_id = loket.employers()["id"][0]
        """
    ),
    md("## A miss, a hit, and expiry"),
    code(
        """
        loket.employees(employer_id)
        print("first: ", loket.last_load)
        loket.employees(employer_id)
        print("again: ", loket.last_load)
        time.sleep(2.5)
        loket.employees(employer_id)
        print("later: ", loket.last_load)  # expired: fetched again
        """
    ),
    md(
        """
        ## Revalidation: 304 Not Modified

        Details carry an `ETag`. Asked again, the cache sends `If-None-Match` and the server
        answers `304` with no body: the cached bytes are used.
        """
    ),
    code(
        """
        loket.employer(employer_id)
        loket.employer(employer_id)
        print(loket.last_load)
        assert USE_REAL_APIS or loket.last_load.revalidations == 1
        """
    ),
    md("`loketvalinso cache info` in a terminal shows the same as:"),
    code("cache_info(CACHE_DIR)"),
    md(
        """
        ## Offline

        `offline=True` serves from the cache only (stale entries with a warning) and never
        touches the network: here the server is stopped first. The client needs the same login
        identity as the one that filled the cache.
        """
    ),
    code(
        """
        if not USE_REAL_APIS:
            offline = lv.Loket.from_mock(server, flow="password", cache=CACHE_DIR, offline=True)
            server.close()
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                staff = offline.employees(employer_id)
            print(f"{staff.height} employees, from the cache, with the server down")
            print(offline.last_load)
            for w in caught:
                print("warning:", w.message)
            server = lv.mock.serve(seed=42, sizes=SIZES)  # back online
            loket = lv.Loket.from_mock(server, cache=False)
            employer_id = loket.employers()["id"][0]
        """
    ),
    md(
        """
        ## Resource versions

        Each Loket resource has documented versions; a client asks for the newest by default
        (`Accept: application/json;version=...`). A date picks the newest version on or before
        it. The response says which version was served, and whether it has an `obsoleteDate`.
        """
    ),
    code(
        """
        print("employees versions:", loket.catalog().filter(pl.col("path").str.ends_with("/{employerId}/employees"))["versions"].to_list())
        print("default:", loket.resolve_version("employees"))
        print("on 2019-01-01:", loket.resolve_version("employees", "2019-01-01"))
        """
    ),
    code(
        """
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            old = loket.employees(employer_id, version="2019-01-01")
        print(loket.last_load)
        for w in caught:
            print(type(w.message).__name__, ":", w.message)
        """
    ),
    code(
        """
        print("default: ", loket.served_version("employees", employer_id=employer_id))
        print("asked for 2019-01-01: ", loket.served_version("employees", employer_id=employer_id, version="2019-01-01"))
        """
    ),
    md(
        """
        `set_version` changes the client's choice for one resource; the `VersionPicker`
        widget does the same with a date picker, and *Check* shows what is served, with a
        warning badge for an obsolete version.
        """
    ),
    code(
        """
        picker = lv.widgets.VersionPicker(loket, employer_id=employer_id)
        picker.date.value = date(2019, 1, 1)  # what picking a date does
        picker.apply_button.click()
        picker.check_button.click()
        picker
        """
    ),
    code(
        """
        print(loket.resolve_version("employees"))
        loket.set_version("employees", None)  # back to the newest
        print(loket.resolve_version("employees"))
        """
    ),
    md(
        """
        ## Data off the schema: the drift report

        Real servers do not always send what their description says: numbers as text, a
        renamed field, an id past the integer range. A load keeps every row anyway; what
        arrived off the schema is coerced where its meaning is clear, set to null where it is
        not, and counted in `last_load.drift` (one row per column, with up to three examples),
        with one `SchemaDriftWarning` per load. `strict=True` raises `SchemaDriftError`
        instead. Here the mock sends Valinso's `quantity` as `qty` and Loket's fractions as
        text (`schema_drift=True`).
        """
    ),
    code(
        """
        if USE_REAL_APIS:
            drifting, valinso = None, lv.Valinso(api_key=os.environ["VALINSO_API_KEY"],
                                                base_url=os.environ.get("VALINSO_BASE_URL"))
        else:
            drifting = lv.mock.serve(seed=42, sizes=SIZES, schema_drift=True)
            valinso = lv.Valinso.from_mock(drifting, cache=False)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            vends = valinso.vends()
        for w in caught:
            print(type(w.message).__name__, ":", w.message)
        valinso.last_load  # the drift table is part of the report
        """
    ),
    code(
        """
        valinso.last_load.drift  # no rows when nothing drifted
        """
    ),
    md(
        """
        Nothing was lost: the vends' quantities are in the extra column `qty`, and `quantity`
        is empty. Loket's numbers sent as text are read as numbers, and counted as coerced:
        """
    ),
    code(
        """
        if not USE_REAL_APIS:
            loket = lv.Loket.from_mock(drifting, cache=False)
        requests = loket.leave_requests(employer_id)
        print(requests.select("number_of_units", "currently_available_units").describe())
        loket.last_load.drift.select("column", "declared", "arrived", "coerced", "nulled", "examples")
        """
    ),
    code(
        """
        if drifting is not None:
            try:
                lv.Valinso.from_mock(drifting, cache=False, strict=True).vends()
            except lv.SchemaDriftError as exc:
                print("strict:", exc)
            drifting.close()
        """
    ),
    CLOSE,
]

WRITE_BACK: list[Cell] = [
    md(
        """
        # Write back, safely: approve leave, resolve a conflict, send vends

        Reading is half the job: a team lead who looks at pending leave wants to approve it
        here. This notebook approves one department's pending leave requests (a dry run first,
        then for real, with an outcome per request), shows what happens when a colleague changed
        a request since it was read, and sends a batch of vends of which one is invalid.

        Every write is sent once (never repeated after it may have reached the server),
        `PUT` sends `If-Match` with the ETag of what was read, and a write drops what the cache
        held of what it changed, so the next read is fresh.
        """
    ),
    setup(
        stdlib="import warnings\nfrom datetime import UTC, datetime",
        third_party="import polars as pl\nfrom IPython.display import display",
    ),
    REAL_APIS_NOTE,
    md(
        """
        > **Writes change data.** With the real APIs this notebook only makes dry runs until
        > you set `SEND = True` yourself.
        """
    ),
    connect("employers=2, employees=60, vends=2_000"),
    code(
        """
        SEND = not USE_REAL_APIS  # real APIs: dry runs only, until you decide otherwise
        employer_id = loket.employers()["id"][0]
        """
    ),
    md(
        """
        ## 1. One department's pending leave

        Leave requests name the employee who submitted them; the employments name each
        employee's department (`with_department=True`). Status key 1 is *Ingediend*
        (submitted).
        """
    ),
    code(
        """
        requests = loket.leave_requests(employer_id)
        departments = (
            loket.employments(employer_id, with_department=True)
            .select("employee_id", "department")
            .unique("employee_id")
        )
        pending = requests.filter(pl.col("leave_request_status_key") == 1).join(
            departments, on="employee_id", how="left"
        )
        department = pending["department"].drop_nulls().mode().sort()[0]
        to_approve = pending.filter(pl.col("department") == department)
        print(f"{to_approve.height} pending leave requests in {department}")
        to_approve.select("id", "submitted_by_formatted_name", "start_date", "end_date", "number_of_units")
        """
    ),
    md(
        """
        ### A dry run first

        `dry_run=True` returns the exact request (method, URL, headers with the credentials
        masked, JSON body) and sends nothing.
        """
    ),
    code('loket.set_leave_request_status(to_approve, "accept", dry_run=True)'),
    md(
        """
        ### Then for real

        Meanwhile a colleague rejects one of them (with the mock, a second client does it here).
        The status change of many requests is one call; it returns **one row per request**,
        whatever the status code, and warns when some failed: a partly failed call is never
        reported as a success.
        """
    ),
    code(
        """
        if not USE_REAL_APIS:
            colleague = lv.Loket.from_mock(server, cache=False)
            colleague.set_leave_request_status(to_approve["id"].tail(1), "reject")

        if SEND:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                outcome = loket.set_leave_request_status(to_approve, "accept")
            for w in caught:
                print(type(w.message).__name__, ":", w.message)
            display(outcome)
        """
    ),
    md("The next read goes to the server again (the write dropped the cached listing):"),
    code(
        """
        now = loket.leave_requests(employer_id).filter(pl.col("id").is_in(to_approve["id"].to_list()))
        now.group_by("leave_request_status").len()
        """
    ),
    md(
        """
        ## 2. A conflict, shown and resolved

        A `PUT` replaces a resource. The client remembers the ETag of every detail it reads
        (`loket.last_load.etag`, `loket.etag(path, ...)`) and sends it in `If-Match`: when
        someone changed the resource since, the server answers 409 and nothing is overwritten.
        The error carries the server's state now and, per column, what you sent against it.
        """
    ),
    code(
        """
        LEAVE_REQUEST = "/providers/employers/employees/employments/leaverequests/{leaveRequestId}"
        request_id = requests.filter(pl.col("leave_request_status_key") == 1)["id"][-1]
        mine = loket.get(LEAVE_REQUEST, leave_request_id=request_id)
        print("read, ETag", loket.last_load.etag)

        if not USE_REAL_APIS:  # a colleague edits it in between
            theirs = colleague.get(LEAVE_REQUEST, leave_request_id=request_id)
            colleague.put(LEAVE_REQUEST, theirs.with_columns(comment_handler=pl.lit("Kan dit een dag korter?")),
                          leave_request_id=request_id)

        edited = mine.with_columns(number_of_units=pl.col("number_of_units") - 8)
        try:
            if SEND:
                loket.put(LEAVE_REQUEST, edited, leave_request_id=request_id)
        except lv.ConflictError as err:
            conflict = err
            print(err)
            display(err.diff)
        """
    ),
    md(
        """
        To resolve it, take the server's state (`conflict.current`, just read, so the client
        now holds its ETag), apply your change to it, and put that:
        """
    ),
    code(
        """
        if SEND and not USE_REAL_APIS:
            merged = conflict.current.with_columns(number_of_units=pl.col("number_of_units") - 8)
            print(loket.put(LEAVE_REQUEST, merged, leave_request_id=request_id, dry_run=True))
            resolved = loket.put(LEAVE_REQUEST, merged, leave_request_id=request_id)
            display(resolved.select("id", "number_of_units", "comment_handler"))
        """
    ),
    md(
        """
        `loket.put/post/patch/delete(path, body, **ids)` work for every write operation the API
        documents (`loket.catalog()` lists them with their method). A body is the API's JSON or
        the columns a read returns: they are put back into the API's nesting, so get → change a
        column → put is a round trip (read-only columns are left out).
        """
    ),
    code(
        """
        writes = loket.catalog().filter(pl.col("method") != "GET")
        print(writes.group_by("method").len().sort("method"))
        employee = loket.get("/providers/employers/employees/{employeeId}", employee_id=mine["submitted_by_id"][0])
        print(loket.put("/providers/employers/employees/{employeeId}",
                        employee.with_columns(address_city=pl.lit("Utrecht")),
                        employee_id=employee["id"][0], dry_run=True))
        """
    ),
    md(
        """
        ## 3. A batch of vends with an invalid item

        `post_vends` takes a DataFrame (or dicts) in the columns `vends()` returns and sends them
        in batches. Valinso refuses a batch with `422` and the errors of every field: they come
        back as a table naming the item (its position in what you gave), the field and the
        message.
        """
    ),
    code(
        """
        batch = valinso.vends().head(5).with_columns(
            timestamp=pl.lit(datetime(2026, 9, 30, 12, tzinfo=UTC), dtype=pl.Datetime("us", "UTC"))
        )
        batch = batch.with_columns(
            quantity=pl.when(pl.int_range(pl.len()) == 3).then(0).otherwise(pl.col("quantity"))
        )  # item 3: a quantity of 0
        try:
            if SEND:
                valinso.post_vends(batch)
        except lv.ValidationError as err:
            print(err)
            display(err.errors)
        """
    ),
    code(
        """
        if SEND:
            created = valinso.post_vends(batch.with_columns(pl.col("quantity").clip(1)))
            display(created.select("id", "device_id", "product_id", "quantity", "price", "timestamp"))
        """
    ),
    CLOSE,
]

NOTEBOOKS: dict[str, list[Cell]] = {
    "01_quickstart.ipynb": QUICKSTART,
    "02_vends.ipynb": VENDS,
    "03_leave_trends.ipynb": LEAVE,
    "04_caching_and_versions.ipynb": CACHE,
    "05_write_back.ipynb": WRITE_BACK,
}


def build(name: str, cells: list[Cell]) -> nbformat.NotebookNode:
    nb = new_notebook()
    nb.metadata = {
        "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
        "language_info": {"name": "python"},
    }
    stem = name.split("_", 1)[0]
    for i, (kind, source) in enumerate(cells):
        cell = new_markdown_cell(source) if kind == "md" else new_code_cell(source)
        cell.id = f"nb{stem}-{i:02d}"
        nb.cells.append(cell)
    nbformat.validate(nb)
    return nb


def render(name: str, cells: list[Cell]) -> str:
    return nbformat.writes(build(name, cells)) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only check they are up to date")
    parser.add_argument("--out", type=Path, default=NOTEBOOKS_DIR)
    args = parser.parse_args(argv)
    stale = []
    args.out.mkdir(parents=True, exist_ok=True)
    for name, cells in NOTEBOOKS.items():
        path = args.out / name
        text = render(name, cells)
        if args.check:
            if not path.exists() or path.read_text() != text:
                stale.append(name)
        else:
            path.write_text(text)
            print(f"wrote {path}")
    if stale:
        print(f"out of date: {', '.join(stale)}; run python scripts/make_notebooks.py")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
