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


def _charts(frames: Mapping[str, pl.DataFrame]) -> dict[str, Any]:
    from loketvalinso import charts

    return {
        "vends_overview": charts.vends_overview(
            frames["vends"],
            products=frames.get("products"),
            devices=frames.get("devices"),
            locations=frames.get("locations"),
        ),
        "vends_heatmap": charts.vends_heatmap(frames["vends"]),
        "top_products": charts.top_products(frames["vends"], products=frames.get("products")),
        "location_comparison": charts.device_comparison(
            frames["vends"],
            devices=frames.get("devices"),
            locations=frames.get("locations"),
            by="location",
        ),
        "payment_mix": charts.payment_mix(frames["vends"]),
        "leave_trends": charts.leave_trends(
            frames["leave_requests"],
            absences=frames.get("absences"),
            employments=frames.get("employments"),
            departments=frames.get("departments"),
        ),
        "leave_hours_by_month": charts.leave_hours_by_month(frames["leave_requests"]),
        "leave_requests_by_status": charts.leave_requests_by_status(frames["leave_requests"]),
        "sick_leave_rate": charts.sick_leave_rate(
            frames["absences"], frames["employments"], departments=frames.get("departments")
        ),
        "leave_balance_distribution": charts.leave_balance_distribution(frames["leave_balances"]),
    }


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
) -> str:
    """One self-contained HTML page: the Vega bundle inline, one ``<div>`` per chart spec."""
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
<p>Generated {generated} by loketvalinso. Data comes from the sources below; every frame is
also saved next to this file as Parquet, with the same provenance in its metadata
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
) -> DemoResult:
    """Charts, report.html, SVG/PNG per chart and Parquet per frame into ``out``."""
    import vl_convert

    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    result = DemoResult(out=folder, report=folder / "report.html")
    result.parquet = snapshots.save(frames, folder, provenance=provenance)
    result.rows = {name: frame.height for name, frame in frames.items()}
    stored = {name: snapshots.provenance_of(path) for name, path in result.parquet.items()}
    charts = _charts(frames)
    specs = {name: chart.to_dict() for name, chart in charts.items()}
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
    result.report.write_text(render_report(specs, title=title, provenance=stored))
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
    out: str | Path,
    *,
    title: str = "loketvalinso report (from snapshots)",
    images: bool = True,
) -> DemoResult:
    """Rebuild the report from Parquet snapshots (a demo's output folder), with no server.

    The provenance of each frame is carried over, so the new report says where the data came
    from and when it was loaded.
    """
    snap = snapshots.load(snapshot_dir)
    return write_report(dict(snap.frames), snap.provenance, out, title=title, images=images)
