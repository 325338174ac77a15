"""The demo: load from the embedded mock, chart, and write an offline report + snapshots.

``loketvalinso demo --out data/demo`` starts the mock over real HTTP, logs in to Loket through
the OAuth authorization-code flow, loads vends and leave data, and writes:

* ``report.html`` — every chart, with the Vega JavaScript embedded (renders with no network);
* ``charts/<name>.svg`` and ``charts/<name>.png``;
* ``<frame>.parquet`` — every loaded frame, with its provenance in the Parquet metadata.
"""

from __future__ import annotations

import html
import json
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl

from loketvalinso import snapshots

__all__ = ["DemoResult", "load_demo_frames", "render_report", "run_demo", "write_report"]


@dataclass
class DemoResult:
    out: Path
    report: Path
    charts: dict[str, dict[str, Path]] = field(default_factory=dict)
    parquet: dict[str, Path] = field(default_factory=dict)
    rows: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0


def load_demo_frames(
    server: Any, *, progress: bool | None = None, cache: Any = False
) -> tuple[dict[str, pl.DataFrame], dict[str, Any]]:
    """Load the demo's frames from a running mock; returns (frames, provenance per frame)."""
    from loketvalinso.loket import Loket
    from loketvalinso.valinso import Valinso

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
                ("employments", lambda e: loket.employments(e)),
                ("departments", lambda e: loket.departments(e)),
                ("leave_requests", lambda e: loket.leave_requests(e)),
                ("leave_balances", lambda e: loket.leave_balances(e)),
                ("absences", lambda e: loket.absences(e)),
            ):
                per_employer.setdefault(name, []).append(load(employer_id))
                reports.setdefault(name, []).append(loket.last_load)
        for name, parts in per_employer.items():
            frames[name] = pl.concat(parts, how="diagonal_relaxed")
            first = reports[name][0]
            for other in reports[name][1:]:
                first.merge(other)
            provenance[name] = first
    return frames, provenance


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

        javascript = vl_convert.javascript_bundle()
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
    # json.dumps + escaping "</" keeps a spec from closing the <script> element early.
    spec_json = json.dumps(dict(specs)).replace("</", "<\\/")
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
also saved next to this file as Parquet, with the same provenance in its metadata.</p>
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


def run_demo(
    *,
    out: str | Path = "data/demo",
    seed: int = 42,
    progress: bool | None = True,
    log: Callable[[str], None] | None = None,
) -> DemoResult:
    """The main job: mock → OAuth login → loads → charts → report.html + PNG/SVG + Parquet."""
    from loketvalinso import mock

    say = log or (
        lambda text: print(
            text, file=sys.stderr if text.startswith("  ") else sys.stdout, flush=True
        )
    )
    started = time.perf_counter()
    say(f"starting the embedded mock (seed {seed}) over HTTP on loopback …")
    with mock.serve(seed=seed) as server:
        say(f"  mock on {server.url}; logging in through OAuth (authorization code + PKCE)")
        frames, provenance = load_demo_frames(server, progress=progress)
    for name, frame in frames.items():
        say(f"  loaded {name}: {frame.height:,} rows")
    result = write_report(frames, provenance, out, log=say)
    result.seconds = time.perf_counter() - started
    say(f"wrote {result.report}")
    say(f"wrote {len(result.charts)} charts as SVG and PNG in {Path(out) / 'charts'}")
    say(f"wrote {len(result.parquet)} Parquet snapshots in {Path(out)} (provenance in metadata)")
    say(f"done in {result.seconds:.1f} s")
    return result
