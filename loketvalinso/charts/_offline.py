"""Rendering charts in Jupyter with no network access."""

from __future__ import annotations

from loketvalinso.charts._shared import _alt


def enable_offline_rendering() -> str:
    """Show charts in Jupyter with no network access (no CDN): returns the renderer used.

    Altair's default notebook renderer loads the Vega JavaScript from a CDN. This switches to
    the ``jupyter`` renderer with the bundle inlined from vl-convert (interactive; needs
    ``anywidget``), or else to the static ``svg`` renderer (vl-convert, no JavaScript).
    """
    alt = _alt()
    try:
        import anywidget  # noqa: F401
    except ImportError:
        alt.renderers.enable("svg")
        return "svg"
    alt.renderers.enable("jupyter", offline=True)
    # Charts built as alt.JupyterChart(...) directly ignore the renderer's offline flag.
    jupyter_chart = getattr(alt, "JupyterChart", None)
    if jupyter_chart is not None and hasattr(jupyter_chart, "enable_offline"):
        jupyter_chart.enable_offline()
    return "jupyter"
