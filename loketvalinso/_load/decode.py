"""The decoders the loaders hand the walk (:class:`~loketvalinso._load.pages.PageDecoder`).

* :class:`FrameDecoder` — typed frames: each body is decoded on the parse pool and left
  unconverted where it can be, so that the walk converts many pages of a load in one query
  (:func:`~loketvalinso._frames.parse.convert_raw`).
* :class:`UntypedDecoder` — an endpoint with no known fields (Valinso ad-hoc paths): every item
  field becomes a column, typed from its values.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from concurrent.futures import Future

from loketvalinso._frames.parse import convert_raw, is_raw, parse_page, parse_untyped_page
from loketvalinso._frames.spec import FrameSpec
from loketvalinso._load.pages import PageContext, PageMeta, ParsedPage
from loketvalinso._load.pools import parse_pool

__all__ = ["FrameDecoder", "UntypedDecoder"]


class FrameDecoder:
    """Pages of one resource version as typed frames, built on the parse pool.

    Parameters
    ----------
    spec : FrameSpec
        The resource version's schema (``schema_for`` / ``valinso_spec``).
    path_ids : Mapping, optional
        Path parameter values added as columns.
    """

    def __init__(self, spec: FrameSpec, path_ids: Mapping[str, str] | None = None) -> None:
        self.spec = spec
        self.path_ids = dict(path_ids or {})

    def decode(self, body: bytes, context: PageContext) -> ParsedPage:
        """Decode ``body`` on the parse pool; its frame may be left unconverted."""
        meta, frame = (
            parse_pool()
            .submit(
                parse_page,
                body,
                self.spec,
                path_ids=self.path_ids,
                url=context.url,
                page=context.page,
                convert=False,
            )
            .result()
        )
        return ParsedPage(meta=PageMeta(**meta), data=frame, page=context.page)

    def convert(self, pages: Sequence[ParsedPage]) -> None:
        """Convert the unconverted pages together (in place, page order kept); what a page's
        conversion found off the schema joins its ``meta.drift``."""
        raw = [page for page in pages if is_raw(page.data)]
        if not raw:
            return
        converted = convert_raw([p.data for p in raw], self.spec, self.path_ids)
        for page, frame in zip(raw, converted, strict=True):
            drift = page.data.drift
            page.data = frame
            if drift:
                page.meta = dataclasses.replace(page.meta, drift=[*page.meta.drift, *drift])

    def convert_later(self, pages: Sequence[ParsedPage]) -> Future[None]:
        """:meth:`convert` on the parse pool."""
        return parse_pool().submit(self.convert, list(pages))


class UntypedDecoder:
    """Pages of an endpoint with no known fields; every page is converted as it is decoded."""

    def decode(self, body: bytes, context: PageContext) -> ParsedPage:
        """The page's items as a frame typed from their values."""
        meta, frame = parse_untyped_page(body, url=context.url, page=context.page)
        return ParsedPage(meta=PageMeta(**meta), data=frame, page=context.page)

    def convert(self, pages: Sequence[ParsedPage]) -> None:
        """Nothing to do: every page is converted already."""

    def convert_later(self, pages: Sequence[ParsedPage]) -> Future[None]:
        """Nothing to do: a finished future."""
        done: Future[None] = Future()
        done.set_result(None)
        return done
