"""The demo report: run in-process on a small world, then check every file it wrote."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import polars as pl
import pytest

pytest.importorskip("altair")
pytest.importorskip("vl_convert")

import loketvalinso as lv
from loketvalinso import report, snapshots

pytestmark = pytest.mark.timeout(120)

SMALL = lv.mock.WorldSizes(
    employers=2, employees=60, vends=8_000, devices=8, locations=4, products=10
)
CHARTS = set(report._TITLES)
FRAMES = {
    "vends",
    "devices",
    "products",
    "locations",
    "employers",
    "employments",
    "departments",
    "leave_requests",
    "leave_balances",
    "absences",
}
SPECS_RE = re.compile(r"const specs = (\{.*?\});\nconst names", re.DOTALL)


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    lines: list[str] = []
    result = report.run_demo(out=out, progress=False, sizes=SMALL, log=lines.append)
    return result, "\n".join(lines)


@pytest.fixture(scope="module")
def html_text(demo) -> str:
    return demo[0].report.read_text()


def _specs(html_text: str) -> dict:
    match = SPECS_RE.search(html_text)
    assert match, "no embedded chart specs"
    return json.loads(match.group(1))


def test_demo_writes_every_frame_and_chart(demo) -> None:
    result, _ = demo
    assert set(result.parquet) == FRAMES
    assert set(result.charts) == CHARTS
    assert result.report.name == "report.html" and result.report.exists()
    assert all(result.rows[name] > 0 for name in FRAMES)
    assert result.seconds > 0


def test_html_holds_every_charts_spec(demo, html_text) -> None:
    result, _ = demo
    specs = _specs(html_text)
    assert set(specs) == CHARTS
    # The same charts, rebuilt from the snapshots, give the same specs.
    rebuilt, skipped = report._charts(lv.snapshots.load(result.out).frames)
    assert skipped == {}
    for name, chart in rebuilt.items():
        expected = chart.to_dict()
        assert specs[name].keys() == expected.keys(), name
        assert specs[name].get("title") == expected.get("title"), name
        assert specs[name] == expected, name
    # One container per chart, and the page embeds each with vegaEmbed.
    for i in range(len(specs)):
        assert f'id="chart-{i}"' in html_text
    assert "window.vegaEmbed(" in html_text


def test_html_fetches_nothing_from_the_network(html_text) -> None:
    assert not re.search(r"<script[^>]*\bsrc\s*=", html_text, re.IGNORECASE)
    assert not re.search(r"<link\b", html_text, re.IGNORECASE)
    remote = re.compile(r"""(?:src|href|action|poster|data)\s*=\s*["']?\s*(?:https?:)?//""", re.I)
    assert not remote.search(html_text)
    assert not re.search(r"@import|url\(\s*['\"]?(?:https?:)?//", html_text, re.IGNORECASE)
    # The Vega JavaScript itself is inline.
    assert '<script type="module">' in html_text
    assert "window.vegaEmbed=" in html_text.replace(" ", "")
    # Outside the inline bundle, URLs are only text: the spec's $schema and the sources.
    bundle_end = html_text.index("</script>")
    for url in re.findall(r"https?://[^\s\"'<>]+", html_text[bundle_end:]):
        assert url.startswith(("https://vega.github.io/schema/", "http://127.0.0.1:")), url


def test_html_shows_provenance(demo, html_text) -> None:
    _result, _ = demo
    for name in FRAMES:
        assert f"<td>{name}</td>" in html_text
    assert "/v2/providers/employers" in html_text
    assert "/valinso_api/vends" in html_text


def test_every_chart_has_svg_and_png(demo) -> None:
    result, _ = demo
    for name, files in result.charts.items():
        svg, png = files["svg"], files["png"]
        assert svg.parent.name == "charts" and svg.name == f"{name}.svg"
        assert "<svg" in svg.read_text()[:500]
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_every_parquet_has_provenance(demo) -> None:
    result, _ = demo
    for name, path in result.parquet.items():
        record = snapshots.provenance_of(path)
        frame = pl.read_parquet(path)
        assert record["name"] == name
        assert record["rows"] == frame.height == result.rows[name]
        assert record["source_url"].startswith("http://127.0.0.1:"), record
        assert record["loaded_at"] and record["saved_at"]
        if record["source_url"].split("/", 3)[-1].startswith("v2"):
            assert record["resource_versions"], name  # Loket says which version it served
    versions = snapshots.provenance_of(result.parquet["employments"])
    assert versions["resource_versions"]  # Loket says which version it served


def test_no_secret_in_any_output(demo) -> None:
    result, printed = demo
    from loketvalinso.mock.world import cached_world

    creds = cached_world(42, SMALL).credentials
    secrets = [creds.client_secret, creds.password, creds.valinso_api_key]
    for path in result.out.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            for secret in secrets:
                assert secret.encode() not in data, path
    for secret in secrets:
        assert secret not in printed


def test_summary_lists_what_was_written(demo) -> None:
    _result, printed = demo
    assert "report.html" in printed
    for name in FRAMES:
        assert f"{name}.parquet" in printed
    for name in CHARTS:
        assert f"charts/{name}.svg" in printed and f"charts/{name}.png" in printed
    assert "lv.snapshots.load(" in printed


def test_employments_carry_departments_when_the_loader_offers_them(demo) -> None:
    result, _ = demo
    employments = pl.read_parquet(result.parquet["employments"])
    if "department_id" not in employments.columns:
        pytest.skip("Loket.employments(with_department=True) is not in yet")
    assert employments["department_id"].null_count() < employments.height
    specs = _specs(result.report.read_text())
    assert "no department" not in json.dumps(specs["sick_leave_rate"])


def test_report_from_snapshots_needs_no_server(demo, tmp_path) -> None:
    result, _ = demo
    rebuilt = report.report_from_snapshots(result.out, tmp_path, images=False)
    assert set(rebuilt.parquet) == FRAMES
    assert set(_specs(rebuilt.report.read_text())) == CHARTS
    before = snapshots.provenance_of(result.parquet["vends"])
    after = snapshots.provenance_of(rebuilt.parquet["vends"])
    assert after["source_url"] == before["source_url"]
    assert after["loaded_at"] == before["loaded_at"]


def test_any_snapshot_names_get_the_charts_they_allow(demo, tmp_path, capsys) -> None:
    """``loketvalinso report DIR`` on snapshots named by the user: frames are recognised by
    their columns, the charts they allow are drawn, the rest is listed; nothing is rewritten."""
    from loketvalinso._cli import main

    result, _ = demo
    loaded = snapshots.load(result.out)
    mine = {
        "sales_2026": loaded["vends"],
        "time_off": loaded["leave_requests"],
        "catalogue": loaded["products"],
    }
    folder = tmp_path / "mine"
    snapshots.save(mine, folder, provenance=loaded.provenance)
    before = {p.name: p.read_bytes() for p in folder.glob("*.parquet")}
    assert main(["report", str(folder), "--no-images"]) == 0
    printed = capsys.readouterr().out
    page = (folder / "report.html").read_text()
    drawn = set(_specs(page))
    assert drawn == CHARTS - {"sick_leave_rate", "leave_balance_distribution"}
    assert "no chart sick_leave_rate: no absences or employments frame" in printed
    assert "Frames without a chart" in page and "catalogue" in page
    assert {p.name: p.read_bytes() for p in folder.glob("*.parquet")} == before
    assert report.frame_roles(mine) == {
        "vends": "sales_2026",
        "leave_requests": "time_off",
    }
    assert main(["report", str(tmp_path / "missing")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_render_report_escapes_script_breakers() -> None:
    page = report.render_report(
        {"x": {"title": "</script><script>alert(1)</script>", "mark": "bar"}},
        title="<t>",
        provenance={},
        javascript="window.vegaEmbed = () => Promise.resolve(); // </script>",
    )
    assert page.count("</script>") == 2  # only the two elements' own end tags
    assert "<script>alert" not in page
    assert "&lt;t&gt;" in page


def test_cli_demo_help() -> None:
    from loketvalinso._cli import _build_parser

    args = _build_parser().parse_args(["demo", "--out", "x"])
    assert args.out == "x" and args.command == "demo"


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        found = shutil.which(name)
        if found:
            return found
    return None


@pytest.mark.browser
@pytest.mark.timeout(90)
def test_report_renders_from_file_url_with_no_network(demo, tmp_path) -> None:
    """Chromium opens report.html from file:// with every network request refused."""
    browser = _chromium()
    if browser is None:
        pytest.skip("no Chromium on this machine")
    result, _ = demo
    try:
        done = subprocess.run(
            [
                browser,
                "--headless=new",
                "--no-sandbox",
                "--disable-gpu",
                "--proxy-server=127.0.0.1:9",
                "--host-resolver-rules=MAP * ~NOTFOUND",
                f"--user-data-dir={tmp_path / 'profile'}",
                "--virtual-time-budget=15000",
                "--dump-dom",
                Path(result.report).resolve().as_uri(),
            ],
            capture_output=True,
            text=True,
            timeout=75,
        )
    except subprocess.TimeoutExpired:
        pytest.skip("Chromium did not finish in time on this machine")
    dom = done.stdout
    if not dom.strip():
        pytest.skip(f"Chromium printed no DOM: {done.stderr[-300:]}")
    rendered = re.findall(r'id="chart-(\d+)"[^>]*>\s*<svg', dom)
    assert len(rendered) == len(CHARTS), "not every chart rendered"
    assert "chart failed:" not in dom.replace('"chart failed: " + err', "")


def test_demo_leaves_a_dataset_equal_to_its_snapshots(demo) -> None:
    result, text = demo
    assert result.dataset == result.out / "store"
    ds = lv.Dataset(result.dataset)
    assert ds.resources() == ["leave_requests", "vends"]
    snap = lv.snapshots.load(result.out)
    assert ds.read("vends").equals(snap["vends"].sort("id"))
    requests = snap["leave_requests"].sort("id")
    assert ds.read("leave_requests").equals(requests.select(ds.read("leave_requests").columns))
    assert f"lv.Dataset({str(result.dataset)!r})" in text
