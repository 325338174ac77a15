"""Paging strategies: pure rules, no I/O, one small class per paging protocol.

The walk asks a strategy for the first request's params, a :class:`PagePlan` from page 1
(:meth:`PagingStrategy.plan`), each later page's params, whether there is a next page when no
total was announced, and the cross-checks of every page against the plan
(:meth:`PagingStrategy.check_page`). A strategy holds only configuration, so one instance serves
many loads at once.

A new paging style is a new subclass here: its docstring shows the response it expects.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, NamedTuple

from loketvalinso._load.pages import PageMeta
from loketvalinso.errors import ConfigurationError

__all__ = [
    "NoPaging",
    "OffsetLimitPaging",
    "PageNumberPaging",
    "PagePlan",
    "PageProblem",
    "PagingStrategy",
]


@dataclass(frozen=True, slots=True)
class PagePlan:
    """How the pages of one load are laid out, worked out from page 1.

    Attributes
    ----------
    step : int
        Items per full page, as the server pages.
    total_items : int or None
        Items announced in total.
    total_pages : int or None
        Pages to fetch in total; ``None`` means walk one page after another.
    """

    step: int
    total_items: int | None
    total_pages: int | None


class PageProblem(NamedTuple):
    """A disagreement found on one page: ``drop`` leaves the page out of the result, ``stop``
    fetches no further pages."""

    kind: str
    text: str
    drop: bool
    stop: bool


class PagingStrategy:
    """The common frame of a paging protocol.

    A strategy holds only configuration, so one instance can serve many loads at once. The walk
    asks it for the first request's params, a :class:`PagePlan` from page 1 (:meth:`plan`, the
    ``update_state`` of this design), each page's params, and :meth:`has_next_page` when it walks
    without totals; :meth:`check_page` holds the cross-checks shared by all protocols, built on
    :meth:`position`, :meth:`expected_position` and :meth:`total_of`.
    """

    #: Name of the quantity :meth:`position` reads, for messages.
    position_name = "position"

    def first_params(self) -> dict[str, Any]:
        """Query params of page 1."""
        raise NotImplementedError

    def is_paged(self, meta: PageMeta) -> bool:
        """Whether the response carries paging information at all."""
        raise NotImplementedError

    def plan(self, first: PageMeta) -> tuple[PagePlan, list[str]]:
        """The plan for the whole load from page 1, and page 1's inner contradictions."""
        raise NotImplementedError

    def page_params(self, index: int, plan: PagePlan) -> dict[str, Any]:
        """Query params of the page at 1-based ``index``."""
        raise NotImplementedError

    def position(self, meta: PageMeta) -> int | None:
        """Where the server says this page is (page number, offset); ``None`` if not said."""
        raise NotImplementedError

    def expected_position(self, index: int, plan: PagePlan) -> int:
        """Where page ``index`` should be."""
        raise NotImplementedError

    def total_of(self, meta: PageMeta) -> int | None:
        """The total the page announces (compared across pages to detect drift)."""
        raise NotImplementedError

    def has_next_page(self, meta: PageMeta, index: int, plan: PagePlan) -> bool:
        """Walking without totals: is there a page after page ``index``? (Only a full page says
        yes; an empty or short page ends the walk.)"""
        return meta.item_count > 0 and meta.item_count >= plan.step

    def describe(self, index: int, plan: PagePlan) -> str:
        """Page ``index`` in words, for messages."""
        return f"page {index}"

    def check_page(
        self, meta: PageMeta, index: int, plan: PagePlan, first_total: int | None
    ) -> list[PageProblem]:
        """Cross-check one page against the plan (an empty list when it agrees)."""
        problems: list[PageProblem] = []
        where = self.describe(index, plan)
        got = self.position(meta)
        want = self.expected_position(index, plan)
        if got is not None and got != want:
            if index == 1:
                # the first answer to a load: nothing earlier to repeat, so its items are kept
                # (no later page is trusted to line up with it)
                text = (
                    f"asked for {where} but the server answered {self.position_name} {got}; "
                    f"its {meta.item_count} items are kept and paging stops"
                )
                problems.append(PageProblem("position", text, False, True))
                return problems
            text = (
                f"asked for {where} but the server answered {self.position_name} {got}; "
                f"its {meta.item_count} items are left out and paging stops"
            )
            problems.append(PageProblem("position", text, True, True))
            return problems
        total = self.total_of(meta)
        if index > 1 and first_total is not None and total is not None and total != first_total:
            text = (
                f"the announced total changed from {first_total} to {total} at {where}: the "
                "data changed during the load, items may be missing or repeated"
            )
            problems.append(PageProblem("drift", text, False, False))
        n = meta.item_count
        last = plan.total_pages
        if last is not None and index < last:
            if n == 0:
                text = (
                    f"{where} is empty although the server announced {last} pages"
                    + (f" ({plan.total_items} items)" if plan.total_items is not None else "")
                    + "; paging stops"
                )
                problems.append(PageProblem("empty", text, False, True))
            elif n < plan.step:
                text = (
                    f"{where} holds {n} items, fewer than the page size {plan.step}, "
                    f"but is not the last of {last} pages"
                )
                problems.append(PageProblem("short", text, False, False))
        if n > plan.step:
            text = f"{where} holds {n} items, more than the page size {plan.step}"
            problems.append(PageProblem("overfull", text, False, False))
        return problems


class PageNumberPaging(PagingStrategy):
    """Loket page-number paging: ``pageNumber`` (1-based) and ``pageSize``.

    Expects::

        {"_embedded": [...], "currentPage": 1, "pageSize": 250, "totalPages": 3,
         "totalSize": 650, "version": {...}, "messages": [...]}

    (or ``content`` instead of ``_embedded``). Without any of ``currentPage``/``totalPages``/
    ``totalSize`` the response is a single page. With ``totalPages`` or ``totalSize`` the
    remaining pages are known after page 1; with neither, pages are walked until a short page.

    Parameters
    ----------
    page_size : int, default 250
        Items per page to ask for (the server may answer with another ``pageSize``; its own
        numbers rule).
    page_param, size_param : str
        The query parameter names.
    """

    position_name = "currentPage"

    def __init__(
        self,
        page_size: int = 250,
        *,
        page_param: str = "pageNumber",
        size_param: str = "pageSize",
    ) -> None:
        if isinstance(page_size, bool) or not isinstance(page_size, int) or page_size < 1:
            msg = f"page_size must be a positive integer, got {page_size!r}"
            raise ConfigurationError(msg)
        self.page_size = page_size
        self.page_param = page_param
        self.size_param = size_param

    def __repr__(self) -> str:
        return f"PageNumberPaging(page_size={self.page_size})"

    def first_params(self) -> dict[str, Any]:
        return {self.page_param: 1, self.size_param: self.page_size}

    def is_paged(self, meta: PageMeta) -> bool:
        return (
            meta.current_page is not None
            or meta.total_pages is not None
            or meta.total_size is not None
        )

    def plan(self, first: PageMeta) -> tuple[PagePlan, list[str]]:
        issues: list[str] = []
        step = first.page_size if first.page_size and first.page_size > 0 else self.page_size
        by_size = None
        if first.total_size is not None:
            by_size = max(math.ceil(first.total_size / step), 1)
        pages = max(first.total_pages, 1) if first.total_pages is not None else None
        if pages is not None and by_size is not None and pages != by_size:
            issues.append(
                f"page 1 announces totalPages={first.total_pages} but totalSize="
                f"{first.total_size} at pageSize={step} makes {by_size} pages"
            )
        candidates = [p for p in (pages, by_size) if p is not None]
        total_pages = max(candidates) if candidates else None
        return PagePlan(step=step, total_items=first.total_size, total_pages=total_pages), issues

    def page_params(self, index: int, plan: PagePlan) -> dict[str, Any]:
        return {self.page_param: index, self.size_param: self.page_size}

    def position(self, meta: PageMeta) -> int | None:
        return meta.current_page

    def expected_position(self, index: int, plan: PagePlan) -> int:
        return index

    def total_of(self, meta: PageMeta) -> int | None:
        return meta.total_size if meta.total_size is not None else meta.total_pages


class OffsetLimitPaging(PagingStrategy):
    """Valinso offset/limit paging: ``offset`` (items skipped) and ``limit``.

    Expects::

        {"code": 200, "result": [...], "paging": {"total": 12, "offset": 10, "limit": 20}}

    Without ``paging`` the response is a single page. With ``paging.total`` the remaining offsets
    are known after page 1; without it, pages are walked until a short page. A first page shorter
    than both the limit and the total is taken as the server's own cap on the page size.

    Parameters
    ----------
    limit : int, default 1000
        Items per page to ask for.
    offset_param, limit_param : str
        The query parameter names.
    """

    position_name = "offset"

    def __init__(
        self,
        limit: int = 1000,
        *,
        offset_param: str = "offset",
        limit_param: str = "limit",
    ) -> None:
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            msg = f"limit must be a positive integer, got {limit!r}"
            raise ConfigurationError(msg)
        self.limit = limit
        self.offset_param = offset_param
        self.limit_param = limit_param

    def __repr__(self) -> str:
        return f"OffsetLimitPaging(limit={self.limit})"

    def first_params(self) -> dict[str, Any]:
        return {self.offset_param: 0, self.limit_param: self.limit}

    def is_paged(self, meta: PageMeta) -> bool:
        return meta.total is not None or meta.offset is not None or meta.limit is not None

    def plan(self, first: PageMeta) -> tuple[PagePlan, list[str]]:
        step = first.limit if first.limit and first.limit > 0 else self.limit
        if first.total is None:
            return PagePlan(step=step, total_items=None, total_pages=None), []
        n = first.item_count
        if 0 < n < min(step, first.total):
            step = n  # the server caps the page size below the limit asked for
        pages = max(math.ceil(first.total / step), 1)
        return PagePlan(step=step, total_items=first.total, total_pages=pages), []

    def page_params(self, index: int, plan: PagePlan) -> dict[str, Any]:
        return {self.offset_param: (index - 1) * plan.step, self.limit_param: plan.step}

    def position(self, meta: PageMeta) -> int | None:
        return meta.offset

    def expected_position(self, index: int, plan: PagePlan) -> int:
        return (index - 1) * plan.step

    def total_of(self, meta: PageMeta) -> int | None:
        return meta.total

    def describe(self, index: int, plan: PagePlan) -> str:
        return f"page {index} (offset {(index - 1) * plan.step})"


class NoPaging(PagingStrategy):
    """No paging: one request without paging params; the response is the whole result.

    For endpoints that declare no paging (``strategy=None`` in :func:`paginate` means this).
    Any paging fields the response still carries are ignored.
    """

    def __repr__(self) -> str:
        return "NoPaging()"

    def first_params(self) -> dict[str, Any]:
        return {}

    def is_paged(self, meta: PageMeta) -> bool:
        return False
