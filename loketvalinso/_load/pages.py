"""What the walk hands around: a page's envelope, a parsed page, and the decoder it parses with.

The walk (:mod:`~loketvalinso._load.walk`) fetches bodies and decides when to stop; a
:class:`PageDecoder` turns each body into a :class:`ParsedPage`. The decoders of this package
are in :mod:`~loketvalinso._load.decode`; tests bring their own.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field, fields
from typing import Any, Protocol

import httpx

__all__ = ["PageContext", "PageDecoder", "PageMeta", "ParsedPage", "meta_dict"]


@dataclass(frozen=True, slots=True)
class PageMeta:
    """The envelope of one page: its item count, its paging numbers, version and messages.

    Loket fills ``current_page``/``page_size``/``total_pages``/``total_size``; Valinso fills
    ``offset``/``limit``/``total``. Fields the response does not carry stay ``None``. ``drift``
    holds what the page brought off the schema (records of
    :mod:`~loketvalinso._frames.drift`, JSON values only: the frame cache keeps them with the
    page); the walk adds them to the load report.
    """

    item_count: int = 0
    current_page: int | None = None
    page_size: int | None = None
    total_pages: int | None = None
    total_size: int | None = None
    offset: int | None = None
    limit: int | None = None
    total: int | None = None
    version: dict[str, Any] | None = None
    messages: list[dict[str, Any]] = field(default_factory=list)
    drift: list[dict[str, Any]] = field(default_factory=list)


def meta_dict(meta: PageMeta) -> dict[str, Any]:
    """``meta`` as a plain dict (``PageMeta(**meta_dict(meta)) == meta``)."""
    return {f.name: getattr(meta, f.name) for f in fields(meta)}


@dataclass(frozen=True, slots=True)
class PageContext:
    """What a decoder may want to know about the page it decodes.

    Attributes
    ----------
    url : str
        The request URL, secrets redacted (for error messages).
    page : int
        The 1-based page index the walk asked for.
    headers : httpx.Headers
        The response headers (``Content-Type`` carries the Loket resource version).
    status_code : int
        The HTTP status.
    """

    url: str
    page: int
    headers: httpx.Headers = field(default_factory=httpx.Headers)
    status_code: int = 200


@dataclass(slots=True)
class ParsedPage:
    """One parsed page: its envelope and its items.

    ``data`` is what the decoder built: a Polars DataFrame, a decoded page still to be converted
    (see :meth:`PageDecoder.convert`), or whatever a test decoder returns;
    ``meta.item_count`` is the number of items served. ``page`` is the 1-based index the walk
    asked for (the walk sets it).
    """

    meta: PageMeta
    data: Any
    page: int = 1


class PageDecoder(Protocol):
    """Turns response bodies into pages, for the walk.

    ``decode`` runs on the walk's fetch threads, once per body. It may leave ``data``
    unconverted; the walk then hands the pages it keeps to ``convert`` (all at the end) or to
    ``convert_later`` (in batches while later pages are still on the wire), and reads no page's
    ``data`` until that is done.
    """

    def decode(self, body: bytes, context: PageContext) -> ParsedPage:
        """One body as a page (its items possibly unconverted)."""
        ...

    def convert(self, pages: Sequence[ParsedPage]) -> None:
        """Convert the unconverted pages among ``pages`` together, in place."""
        ...

    def convert_later(self, pages: Sequence[ParsedPage]) -> Future[None]:
        """:meth:`convert` in the background; the future is done when the pages are."""
        ...
