"""The demo's report.html, opened from disk in Chromium with every non-local request blocked."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.slow]

# For each .chart container: the marks Vega drew for data (children of mark groups that sit in
# the chart's own scope/frame, not in an axis or legend), the SVGs/canvases, and any error text.
CHART_STATE_JS = """
() => [...document.querySelectorAll('.chart')].map((c) => {
  const marks = {};
  for (const g of c.querySelectorAll('g.role-mark')) {
    if (g.closest('.role-axis, .role-legend, .role-title')) continue;
    const kind = [...g.classList].find((x) => x.startsWith('mark-')) || 'mark-?';
    marks[kind] = (marks[kind] || 0) + g.children.length;
  }
  return {
    name: c.dataset.chart || c.id,
    svgs: c.querySelectorAll('svg').length,
    canvases: c.querySelectorAll('canvas').length,
    marks,
    total: Object.values(marks).reduce((a, b) => a + b, 0),
    text: c.querySelector('svg, canvas') ? '' : c.textContent.slice(0, 300),
  };
})
"""


@pytest.fixture(scope="session")
def demo_report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo written once per session (~12 s): mock → loads → charts → report.html."""
    pytest.importorskip("vl_convert", reason="the report needs the [charts] extra")
    from loketvalinso.report import run_demo

    out = tmp_path_factory.mktemp("demo")
    result = run_demo(out=out, progress=False, log=lambda _text: None)
    assert result.report.exists()
    return result.report


def _chart_states(page: Any) -> list[dict[str, Any]]:
    return page.evaluate(CHART_STATE_JS)


def test_report_renders_every_chart_offline(guarded_page, shoot, demo_report: Path) -> None:
    page, guard = guarded_page
    page.goto(demo_report.as_uri(), wait_until="load")
    expected = page.locator(".chart").count()
    assert expected >= 5, f"the report has only {expected} .chart containers"

    # Every container gets its SVG (vegaEmbed renderer "svg") with data marks, or says why not.
    page.wait_for_function(
        """(n) => {
          const cs = [...document.querySelectorAll('.chart')];
          return cs.length === n && cs.every((c) =>
            c.querySelector('svg g.role-mark, canvas') || /fail|error/i.test(c.textContent));
        }""",
        arg=expected,
        timeout=60_000,
    )
    page.wait_for_timeout(300)  # let the last charts finish their marks
    states = _chart_states(page)
    shot = shoot(page, "report")

    empty = [s for s in states if s["total"] == 0 and s["canvases"] == 0]
    assert not empty, f"charts without marks: {empty} (screenshot: {shot})"
    for state in states:
        assert state["svgs"] + state["canvases"] >= 1, state
    assert not any("failed" in s["text"] for s in states), states
    guard.assert_clean()
    assert guard.local_requests >= 1  # the report itself came through the (file://) route


def test_report_has_no_remote_references(demo_report: Path) -> None:
    """No <script src>/<link href> to a CDN: the Vega bundle is inline."""
    import re

    text = demo_report.read_text(encoding="utf-8")
    remote = re.findall(r"""<(?:script|link)[^>]+(?:src|href)=["']?(https?:)?//""", text, re.I)
    assert not remote, f"report.html loads {len(remote)} remote script(s)/stylesheet(s)"
    assert "vegaEmbed" in text
