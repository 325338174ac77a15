"""Progress bars for multi-page loads (``tqdm.auto``), or a silent stand-in.

:func:`make_progress` returns an object with ``update(pages=1, rows=0)``, ``set_total(n)`` and
``close()``. With ``enabled=None`` (auto) the bar shows only when the session is interactive (a
Jupyter kernel, or a terminal on stderr) and the load has more than one page; otherwise it is a
:class:`NullProgress` that does nothing.

A bar's description is a resource label (``"leave requests"``), never a URL: whatever looks like a
URL is cut down to the last segment of its path by :func:`safe_label`, so no query value (an api
key, a token) can reach the screen or a saved notebook.
"""

from __future__ import annotations

import sys
import warnings
from typing import Any, Protocol, runtime_checkable
from urllib.parse import urlsplit

__all__ = [
    "NullProgress",
    "Progress",
    "TqdmProgress",
    "is_interactive",
    "make_progress",
    "safe_label",
]

_MAX_LABEL = 48


@runtime_checkable
class Progress(Protocol):
    """What the walk needs from a progress display."""

    def update(self, pages: int = 1, rows: int = 0) -> None:
        """Count ``pages`` more pages holding ``rows`` rows."""

    def set_total(self, total_pages: int | None) -> None:
        """Set (or clear) the expected number of pages."""

    def close(self) -> None:
        """Finish the display."""


class NullProgress:
    """A progress display that shows nothing (``progress=False`` or not interactive)."""

    enabled = False
    pages = 0
    rows = 0

    def update(self, pages: int = 1, rows: int = 0) -> None:
        """Do nothing."""

    def set_total(self, total_pages: int | None) -> None:
        """Do nothing."""

    def close(self) -> None:
        """Do nothing."""

    def __enter__(self) -> NullProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class TqdmProgress:
    """A ``tqdm`` bar counting pages, with the running row count as its postfix.

    Updates are expected from one thread (the walk updates from its calling thread only).
    """

    enabled = True

    def __init__(self, bar: Any) -> None:
        self.bar = bar
        self.pages = 0
        self.rows = 0
        self._closed = False

    def update(self, pages: int = 1, rows: int = 0) -> None:
        """Count ``pages`` more pages holding ``rows`` rows."""
        self.pages += pages
        self.rows += rows
        self.bar.set_postfix_str(f"{self.rows:,} rows", refresh=False)
        self.bar.update(pages)

    def set_total(self, total_pages: int | None) -> None:
        """Set (or clear) the expected number of pages."""
        self.bar.total = total_pages
        self.bar.refresh()

    def close(self) -> None:
        """Close the bar (idempotent)."""
        if not self._closed:
            self._closed = True
            self.bar.close()

    def __enter__(self) -> TqdmProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def is_interactive() -> bool:
    """Whether a human is watching: a Jupyter kernel is running, or stderr is a terminal."""
    if "ipykernel" in sys.modules:
        try:
            from IPython import get_ipython

            shell = get_ipython()
        except Exception:
            shell = None
        if shell is not None and getattr(shell, "kernel", None) is not None:
            return True
    stream = sys.stderr
    try:
        return bool(stream is not None and stream.isatty())
    except (AttributeError, ValueError):
        return False


def safe_label(desc: object) -> str:
    """A short, secret-free description for a progress bar.

    Anything that looks like a URL (a scheme, a query or a fragment) is reduced to the last segment
    of its path: ``"https://h/v2/x/vends?api_key=..."`` becomes ``"vends"``.

    Parameters
    ----------
    desc : object
        The resource label, or whatever the caller had at hand.

    Returns
    -------
    str
        At most 48 characters, never containing a query string.
    """
    text = "" if desc is None else str(desc).strip()
    if "://" in text or "?" in text or "#" in text:
        try:
            path = urlsplit(text).path
        except ValueError:
            path = ""
        segments = [s for s in path.split("/") if s]
        text = segments[-1] if segments else ""
    text = " ".join(text.split())
    if len(text) > _MAX_LABEL:
        text = text[: _MAX_LABEL - 1] + "…"
    return text


def _tqdm_class() -> Any:
    """``tqdm.auto.tqdm``, imported late (it picks notebook or console mode when imported)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from tqdm.auto import tqdm

    return tqdm


def make_progress(
    total_pages: int | None,
    *,
    enabled: bool | None = None,
    desc: str | None = None,
    unit: str = "page",
) -> TqdmProgress | NullProgress:
    """A progress display for a load of ``total_pages`` pages.

    Parameters
    ----------
    total_pages : int or None
        The expected number of pages; ``None`` when unknown (a walk without announced totals).
    enabled : bool or None, default None
        ``True`` always shows a bar, ``False`` never; ``None`` shows one only when
        :func:`is_interactive` and the load has more than one page (or an unknown number).
    desc : str, optional
        The resource label shown left of the bar; passed through :func:`safe_label`.
    unit : str, default "page"
        The unit counted by the bar.

    Returns
    -------
    TqdmProgress or NullProgress
        Use ``update(pages=1, rows=n)`` per page and ``close()`` at the end (or ``with``).
    """
    if enabled is None:
        multi = total_pages is None or total_pages > 1
        enabled = multi and is_interactive()
    if not enabled:
        return NullProgress()
    tqdm = _tqdm_class()
    kwargs: dict[str, Any] = {
        "total": total_pages,
        "desc": safe_label(desc) or None,
        "unit": unit,
        "dynamic_ncols": True,
        "mininterval": 0.2,
    }
    try:
        bar = tqdm(**kwargs)
    except ImportError:  # notebook mode without ipywidgets: fall back to a text bar
        from tqdm.std import tqdm as std_tqdm

        bar = std_tqdm(**kwargs)
    return TqdmProgress(bar)
