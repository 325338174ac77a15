"""Altair charts of vends (Valinso) and leave (Loket): a DataFrame in, an Altair chart out.

Every function takes the Polars frames the loaders return (or the mock's world frames, which have
the same columns), aggregates them **in Polars first**, and hands Altair only the small aggregated
frame, so no chart carries more than a few thousand rows however many vends or requests go in.
Charts never call the network. They need the ``charts`` extra::

    pip install "loketvalinso[charts]"

Conventions shared by all charts
--------------------------------
* **Revenue** is ``price × quantity`` (``price`` is the unit price) summed over vends with
  ``status == "success"`` only; failed and refunded vends earn nothing. A frame without a
  ``status`` column is taken to hold successful vends only. Vend counts count successful vends.
* **Local time**: vend timestamps (UTC) are converted to ``Europe/Amsterdam`` before they are
  cut into days, hours and weekdays; naive timestamps are taken to be UTC. Leave requests'
  ``submitted_on`` is treated the same way.
* **Months** are calendar months, shown by their first day (``month``). Leave hours of a request
  are spread pro rata over its calendar days (see :func:`leave_hours_by_month`).
* Leave-request charts do not use the employee column, so frames naming it ``employee_id`` (the
  world) or ``submitted_by_id`` (the loader) both work.
* Every mark has a tooltip; the overview charts (:func:`vends_overview`, :func:`leave_trends`,
  :func:`sick_leave_rate`) carry an interval selection named ``brush`` on the time axis that
  filters the linked breakdowns (drag on the time series; double-click clears it). The
  breakdowns' data is aggregated per day (or month) × category in Polars and re-aggregated by
  Vega-Lite under the brush filter.
* An empty input (or nothing left after filtering) gives a valid chart whose title says
  "no data"; a missing column raises :class:`ValueError` naming it.

Charts are plain (unconfigured) Altair charts, so they can be concatenated, themed, saved or
rendered (``vl_convert.vegalite_to_svg(chart.to_json())``) freely.
"""

from __future__ import annotations

from loketvalinso.charts._leave import (
    leave_balance_distribution,
    leave_hours_by_month,
    leave_requests_by_status,
    leave_trends,
    sick_leave_rate,
)
from loketvalinso.charts._offline import enable_offline_rendering

# LOCAL_TZ is public; the sizes and colours of every chart stay importable from here too.
from loketvalinso.charts._shared import ACCENT as ACCENT
from loketvalinso.charts._shared import COLOR as COLOR
from loketvalinso.charts._shared import HEIGHT as HEIGHT
from loketvalinso.charts._shared import LOCAL_TZ
from loketvalinso.charts._shared import MAX_ROWS as MAX_ROWS
from loketvalinso.charts._shared import PANEL_WIDTH as PANEL_WIDTH
from loketvalinso.charts._shared import SCHEME as SCHEME
from loketvalinso.charts._shared import WEEKDAYS as WEEKDAYS
from loketvalinso.charts._shared import WIDTH as WIDTH
from loketvalinso.charts._vends import (
    device_comparison,
    payment_mix,
    top_products,
    vends_daily,
    vends_heatmap,
    vends_overview,
)

__all__ = [
    "LOCAL_TZ",
    "device_comparison",
    "enable_offline_rendering",
    "leave_balance_distribution",
    "leave_hours_by_month",
    "leave_requests_by_status",
    "leave_trends",
    "payment_mix",
    "sick_leave_rate",
    "top_products",
    "vends_daily",
    "vends_heatmap",
    "vends_overview",
]
