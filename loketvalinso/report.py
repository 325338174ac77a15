"""The demo: load from the embedded mock, chart, and write an offline report + snapshots.

``loketvalinso demo --out data/demo`` starts the mock over real HTTP, logs in to Loket through
the OAuth authorization-code flow, loads vends and leave data, and writes:

* ``report.html`` — every chart, with the Vega JavaScript embedded (renders with no network);
* ``charts/<name>.svg`` and ``charts/<name>.png``;
* ``<frame>.parquet`` — every loaded frame, with its provenance in the Parquet metadata;
* ``store/`` — a dataset (``lv.Dataset``) of vends and leave requests that syncs keep current.
"""

from __future__ import annotations

import html
import inspect
import json
import re
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl

from loketvalinso import snapshots

__all__ = [
    "DemoResult",
    "employments_with_department",
    "frame_roles",
    "render_report",
    "report_from_snapshots",
    "run_demo",
    "write_report",
]


@dataclass
class DemoResult:
    out: Path
    report: Path
    charts: dict[str, dict[str, Path]] = field(default_factory=dict)
    parquet: dict[str, Path] = field(default_factory=dict)
    rows: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    #: charts left out, and why
    skipped: dict[str, str] = field(default_factory=dict)
    #: the dataset the demo leaves (``lv.Dataset(result.dataset)``), and its syncs
    dataset: Path | None = None
    syncs: list[Any] = field(default_factory=list)


def employments_with_department(loket: Any, employer_id: str) -> pl.DataFrame:
    """Employments with their department (``department_id``, ``department``) when the loader
    offers it (``with_department=True``), else the plain employments."""
    if "with_department" in inspect.signature(loket.employments).parameters:
        return loket.employments(employer_id, with_department=True)
    return loket.employments(employer_id)


def load_demo_frames(
    server: Any, *, progress: bool | None = None, cache: Any = False
) -> tuple[dict[str, pl.DataFrame], dict[str, Any]]:
    """Load the demo's frames from a running mock; returns (frames, provenance per frame)."""
    from loketvalinso._loket import Loket
    from loketvalinso._valinso import Valinso

    frames: dict[str, pl.DataFrame] = {}
    provenance: dict[str, Any] = {}

    def keep(name: str, client: Any, frame: pl.DataFrame) -> None:
        frames[name] = frame
        provenance[name] = client.last_load

    with Valinso.from_mock(server, progress=progress, cache=cache) as valinso:
        keep("vends", valinso, valinso.vends())
        keep("devices", valinso, valinso.devices())
        keep("products", valinso, valinso.products())
        keep("locations", valinso, valinso.locations())

    with Loket.from_mock(server, progress=progress, cache=cache) as loket:
        keep("employers", loket, loket.employers())
        per_employer: dict[str, list[pl.DataFrame]] = {}
        reports: dict[str, list[Any]] = {}
        for employer_id in frames["employers"]["id"].to_list():
            for name, load in (
                ("employments", lambda e: employments_with_department(loket, e)),
                ("departments", lambda e: loket.departments(e)),
                ("leave_requests", lambda e: loket.leave_requests(e)),
                ("leave_balances", lambda e: loket.leave_balances(e)),
                ("absences", lambda e: loket.absences(e)),
            ):
                per_employer.setdefault(name, []).append(load(employer_id))
                reports.setdefault(name, []).append(loket.last_load)
        for name, parts in per_employer.items():
            frames[name] = pl.concat(parts, how="diagonal_relaxed")
            provenance[name] = reports[name]  # one load per employer: every URL is kept
    return frames, provenance


#: what the demo keeps in its dataset
DEMO_DATASET = ("vends", "leave_requests")


def sync_demo_dataset(server: Any, folder: Path, *, progress: bool | None = None) -> list[Any]:
    """Sync the demo's resources from a running mock into the dataset in ``folder``."""
    from loketvalinso._dataset import Dataset
    from loketvalinso._loket import Loket
    from loketvalinso._valinso import Valinso

    dataset = Dataset(folder)
    with (
        Valinso.from_mock(server, progress=progress, cache=False) as valinso,
        Loket.from_mock(server, progress=progress, cache=False) as loket,
    ):
        clients = {"vends": valinso, "leave_requests": loket}
        return [dataset.sync(clients[name], name) for name in DEMO_DATASET]


#: Frame roles the charts take, and how a frame is recognised when its name differs from the
#: role: a word in its name, then the columns only that kind of frame has.
_ROLE_HINTS: dict[str, tuple[tuple[str, ...], frozenset[str]]] = {
    "vends": (("vend",), frozenset({"timestamp", "price", "quantity"})),
    "leave_requests": (
        ("leave_request", "leaverequest"),
        frozenset({"start_date", "end_date", "number_of_units"}),
    ),
    "leave_balances": (("balance",), frozenset({"balance", "year"})),
    "absences": (("absence", "sick"), frozenset({"cause_of_absence", "employee_id"})),
    "employments": (("employment",), frozenset()),
    "departments": (("department",), frozenset()),
    "products": (("product",), frozenset()),
    "devices": (("device",), frozenset()),
    "locations": (("location",), frozenset()),
}


def frame_roles(frames: Mapping[str, pl.DataFrame]) -> dict[str, str]:
    """Which frame plays each chart role: its own name, a name that contains the role's word,
    else the first frame (by name) with the role's tell-tale columns."""
    roles: dict[str, str] = {}
    taken: set[str] = set()
    for role, (words, columns) in _ROLE_HINTS.items():
        candidates = [role] if role in frames else []
        candidates += [n for n in sorted(frames) if any(w in n.lower() for w in words)]
        if columns:
            candidates += [n for n in sorted(frames) if columns <= set(frames[n].columns)]
        found = next((n for n in candidates if n not in taken), None)
        if found is not None:
            roles[role] = found
            taken.add(found)
    return roles


def _chart_plans() -> dict[str, tuple[tuple[str, ...], Callable[[dict[str, Any]], Any]]]:
    """Chart name → (the roles it needs, how it is made from the frames by role)."""
    from loketvalinso import charts

    return {
        "vends_overview": (
            ("vends",),
            lambda f: charts.vends_overview(
                f["vends"],
                products=f.get("products"),
                devices=f.get("devices"),
                locations=f.get("locations"),
            ),
        ),
        "vends_heatmap": (("vends",), lambda f: charts.vends_heatmap(f["vends"])),
        "top_products": (
            ("vends",),
            lambda f: charts.top_products(f["vends"], products=f.get("products")),
        ),
        "location_comparison": (
            ("vends",),
            lambda f: charts.device_comparison(
                f["vends"], devices=f.get("devices"), locations=f.get("locations"), by="location"
            ),
        ),
        "payment_mix": (("vends",), lambda f: charts.payment_mix(f["vends"])),
        "leave_trends": (
            ("leave_requests",),
            lambda f: charts.leave_trends(
                f["leave_requests"],
                absences=f.get("absences"),
                employments=f.get("employments"),
                departments=f.get("departments"),
            ),
        ),
        "leave_hours_by_month": (
            ("leave_requests",),
            lambda f: charts.leave_hours_by_month(f["leave_requests"]),
        ),
        "leave_requests_by_status": (
            ("leave_requests",),
            lambda f: charts.leave_requests_by_status(f["leave_requests"]),
        ),
        "sick_leave_rate": (
            ("absences", "employments"),
            lambda f: charts.sick_leave_rate(
                f["absences"], f["employments"], departments=f.get("departments")
            ),
        ),
        "leave_balance_distribution": (
            ("leave_balances",),
            lambda f: charts.leave_balance_distribution(f["leave_balances"]),
        ),
    }


def _charts(frames: Mapping[str, pl.DataFrame]) -> tuple[dict[str, Any], dict[str, str]]:
    """The charts the frames allow, and why each other chart was left out.

    Frames are matched to what the charts take by :func:`frame_roles`, so any snapshot folder
    works (not only the demo's names); a chart whose frames lack a column it needs is left out
    with the chart's own message.
    """
    roles = frame_roles(frames)
    by_role = {role: frames[name] for role, name in roles.items()}
    made: dict[str, Any] = {}
    skipped: dict[str, str] = {}
    for name, (needs, build) in _chart_plans().items():
        missing = [role for role in needs if role not in by_role]
        if missing:
            skipped[name] = f"no {' or '.join(m.replace('_', ' ') for m in missing)} frame"
            continue
        try:
            made[name] = build(by_role)
        except (ValueError, pl.exceptions.PolarsError) as exc:
            skipped[name] = str(exc).splitlines()[0][:300]
    return made, skipped


_TITLES = {
    "vends_overview": "Vends: revenue per day, with linked breakdowns (drag to select days)",
    "vends_heatmap": "Vends by hour and weekday",
    "top_products": "Top products by revenue",
    "location_comparison": "Revenue per location",
    "payment_mix": "Payment mix",
    "leave_trends": "Leave: hours per month, with linked breakdowns (drag to select months)",
    "leave_hours_by_month": "Leave hours per month by leave type",
    "leave_requests_by_status": "Leave requests by status over time",
    "sick_leave_rate": "Sick-leave rate per month and department",
    "leave_balance_distribution": "Distribution of leave balances",
}


def render_report(
    specs: Mapping[str, Mapping[str, Any]],
    *,
    title: str,
    provenance: Mapping[str, Mapping[str, Any]],
    javascript: str | None = None,
    skipped: Mapping[str, str] | None = None,
    uncharted: Mapping[str, pl.DataFrame] | None = None,
    saved_here: bool = True,
) -> str:
    """One self-contained HTML page: the Vega bundle inline, one ``<div>`` per chart spec.

    ``skipped`` lists the charts left out and why; ``uncharted`` the frames no chart takes
    (shown with their columns); ``saved_here``: the frames are saved next to the page.
    """
    if javascript is None:
        import vl_convert

        javascript = vl_convert.javascript_bundle()  # type: ignore[call-arg]
    # The bundle is inlined: it must not be able to end its own <script> element.
    javascript = re.sub(r"</(script)", r"<\\/\1", javascript, flags=re.IGNORECASE)
    rows = "".join(
        "<tr>"
        + "".join(
            f"<td>{html.escape(str(rec.get(k) or ''))}</td>"
            for k in ("name", "rows", "source_url", "resource_versions", "loaded_at")
        )
        + "</tr>"
        for rec in provenance.values()
    )
    sections = []
    for i, name in enumerate(specs):
        sections.append(
            f"<section><h2>{html.escape(_TITLES.get(name, name))}</h2>"
            f'<div class="chart" id="chart-{i}" data-chart="{html.escape(name)}"></div></section>'
        )
    if uncharted:
        listed = "".join(
            f"<tr><td>{html.escape(name)}</td><td>{frame.height:,}</td><td>"
            + html.escape(", ".join(f"{c} ({t})" for c, t in list(frame.schema.items())[:40]))
            + (" …" if frame.width > 40 else "")
            + "</td></tr>"
            for name, frame in uncharted.items()
        )
        sections.append(
            "<section><h2>Frames without a chart</h2><table><tr><th>frame</th><th>rows</th>"
            f"<th>columns</th></tr>{listed}</table></section>"
        )
    if skipped:
        listed = "".join(
            f"<li><b>{html.escape(name)}</b>: {html.escape(why)}</li>"
            for name, why in skipped.items()
        )
        sections.append(f"<section><h2>Charts left out</h2><ul>{listed}</ul></section>")
    where = (
        "every frame is also saved next to this file as Parquet, with the same provenance in its "
        "metadata"
        if saved_here
        else "the frames are the Parquet snapshots named above, with their provenance in their "
        "metadata"
    )
    # "<" only occurs inside JSON strings, where \u003c means the same; so no spec text can
    # close the <script> element early or open an HTML comment.
    spec_json = json.dumps(dict(specs)).replace("<", "\\u003c")
    generated = datetime.now(UTC).isoformat(timespec="seconds")
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>{html.escape(title)}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 1200px; color: #24292f; }}
table {{ border-collapse: collapse; font-size: 0.85rem; }}
td, th {{ border: 1px solid #d0d7de; padding: 0.25rem 0.5rem; text-align: left; }}
section {{ margin: 2rem 0; }} .chart {{ min-height: 200px; }}
</style></head><body>
<h1>{html.escape(title)}</h1>
<p>Generated {generated} by loketvalinso. Data comes from the sources below; {where}
(<code>lv.snapshots.load(folder)</code> reads them back with no server). The charts are
interactive: drag on a time axis to filter the linked panels, double-click to clear.</p>
<table><tr><th>frame</th><th>rows</th><th>source</th><th>resource version</th><th>loaded at</th></tr>
{rows}</table>
{"".join(sections)}
<script type="module">
{javascript}
</script>
<script type="module">
const specs = {spec_json};
const names = Object.keys(specs);
for (let i = 0; i < names.length; i++) {{
  window.vegaEmbed("#chart-" + i, specs[names[i]], {{actions: false, renderer: "svg"}})
    .catch((err) => {{ document.getElementById("chart-" + i).textContent = "chart failed: " + err; }});
}}
</script>
</body></html>
"""


def write_report(
    frames: Mapping[str, pl.DataFrame],
    provenance: Mapping[str, Any],
    out: str | Path,
    *,
    title: str = "loketvalinso demo report",
    images: bool = True,
    log: Callable[[str], None] = lambda _text: None,
    save_frames: bool = True,
) -> DemoResult:
    """Charts, report.html, SVG/PNG per chart and (``save_frames``) Parquet per frame into
    ``out``. Any frames work: the charts they allow are drawn (see :func:`frame_roles`), the
    others are listed with why, and frames no chart takes are listed with their columns."""
    import vl_convert

    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    result = DemoResult(out=folder, report=folder / "report.html")
    result.rows = {name: frame.height for name, frame in frames.items()}
    if save_frames:
        result.parquet = snapshots.save(frames, folder, provenance=provenance)
        stored = {name: snapshots.provenance_of(path) for name, path in result.parquet.items()}
    else:
        stored = {
            name: {"name": name, "rows": frame.height, **dict(provenance.get(name) or {})}
            for name, frame in frames.items()
        }
    charts, skipped = _charts(frames)
    specs = {name: chart.to_dict() for name, chart in charts.items()}
    roles = set(frame_roles(frames).values())
    uncharted = {name: frame for name, frame in frames.items() if name not in roles}
    if images:
        chart_dir = folder / "charts"
        chart_dir.mkdir(exist_ok=True)
        for name, spec in specs.items():
            svg = chart_dir / f"{name}.svg"
            png = chart_dir / f"{name}.png"
            svg.write_text(vl_convert.vegalite_to_svg(spec))
            png.write_bytes(vl_convert.vegalite_to_png(spec, scale=1.5))
            result.charts[name] = {"svg": svg, "png": png}
            log(f"  chart {name}")
    page = render_report(
        specs,
        title=title,
        provenance=stored,
        skipped=skipped,
        uncharted=uncharted,
        saved_here=save_frames,
    )
    result.report.write_text(page)
    result.skipped = dict(skipped)
    return result


def summary(result: DemoResult) -> str:
    """What a demo run wrote: the report, every chart image and every snapshot, one per line."""

    def rel(path: Path) -> str:
        try:
            return str(path.relative_to(result.out))
        except ValueError:
            return str(path)

    lines = [f"wrote {result.out}/ in {result.seconds:.1f} s:", f"  {rel(result.report)}"]
    for name, files in result.charts.items():
        lines.append(f"  {rel(files['svg'])}  {rel(files['png'])}  ({name})")
    for name, path in result.parquet.items():
        lines.append(f"  {rel(path)}  ({result.rows.get(name, 0):,} rows, provenance in metadata)")
    if result.dataset is not None:
        synced = ", ".join(f"{s.resource} ({s.rows:,} rows)" for s in result.syncs)
        lines.append(f"  {rel(result.dataset)}/  a dataset: {synced}")
    lines.append(f"open {result.report} in a browser (it needs no network);")
    lines.append(f"reload the data with no server: lv.snapshots.load({str(result.out)!r})")
    if result.dataset is not None:
        lines.append(
            f"keep a dataset current: lv.Dataset({str(result.dataset)!r}), or "
            f"loketvalinso sync {result.dataset} --mock --days 1"
        )
    return "\n".join(lines)


def run_demo(
    *,
    out: str | Path = "data/demo",
    seed: int = 42,
    progress: bool | None = True,
    sizes: Any = None,
    images: bool = True,
    log: Callable[[str], None] | None = None,
) -> DemoResult:
    """The main job: mock → OAuth login → loads → charts → report.html + PNG/SVG + Parquet,
    and a dataset in ``<out>/store``.

    Parameters
    ----------
    out
        Output folder (created).
    seed, sizes
        The mock world (``sizes``: a :class:`~loketvalinso.mock.WorldSizes`; default the full
        demo world: 200k vends, 600 employees).
    progress
        Progress bars while loading.
    images
        Also write SVG and PNG of every chart.
    log
        Where progress lines go (default: stdout; details on stderr).
    """
    from loketvalinso import mock

    say = log or (
        lambda text: print(
            text, file=sys.stderr if text.startswith("  ") else sys.stdout, flush=True
        )
    )
    started = time.perf_counter()
    say(f"starting the embedded mock (seed {seed}) over HTTP on loopback …")
    with mock.serve(seed=seed, sizes=sizes) as server:
        say(f"  mock on {server.url}; logging in through OAuth (authorization code + PKCE)")
        frames, provenance = load_demo_frames(server, progress=progress)
        say("  syncing the local dataset (vends, leave requests) …")
        syncs = sync_demo_dataset(server, Path(out) / "store", progress=progress)
    for name, frame in frames.items():
        say(f"  loaded {name}: {frame.height:,} rows")
    result = write_report(frames, provenance, out, images=images, log=say)
    result.dataset, result.syncs = Path(out) / "store", syncs
    result.seconds = time.perf_counter() - started
    say(summary(result))
    return result


def report_from_snapshots(
    snapshot_dir: str | Path,
    out: str | Path | None = None,
    *,
    title: str = "loketvalinso report (from snapshots)",
    images: bool = True,
) -> DemoResult:
    """Build the report from a folder of Parquet snapshots, with no server (the command
    ``loketvalinso report DIR``).

    Any snapshot names work (see :func:`write_report`); the provenance of each frame is
    carried over, so the report says where the data came from and when it was loaded.

    Parameters
    ----------
    snapshot_dir
        The folder :func:`~loketvalinso.snapshots.save` (or ``loketvalinso demo``) wrote.
    out
        Where ``report.html`` (and ``charts/``) go; default: ``snapshot_dir`` itself, whose
        Parquet files are left as they are. Another folder also gets a copy of each frame.
    """
    snap = snapshots.load(snapshot_dir)
    target = Path(snapshot_dir) if out is None else Path(out)
    same = target.resolve() == Path(snapshot_dir).resolve()
    result = write_report(
        dict(snap.frames),
        snap.provenance,
        target,
        title=title,
        images=images,
        save_frames=not same,
    )
    if same:
        result.parquet = {name: Path(snapshot_dir) / f"{name}.parquet" for name in snap.frames}
    return result
