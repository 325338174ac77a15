"""Test decoders: pages as lists of item dicts (orjson), for walk tests that need no frames."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import Future
from typing import Any

import orjson
import polars as pl

from loketvalinso._frames.parse import concat_pages, parse_page
from loketvalinso._frames.spec import FrameSpec
from loketvalinso._load.pages import PageContext, PageMeta, ParsedPage
from loketvalinso._transport.responses import raise_for_response
from loketvalinso.errors import ResponseFormatError

Parse = Callable[[bytes, PageContext], ParsedPage]


class JsonDecoder:
    """A :class:`~loketvalinso._load.pages.PageDecoder` around a parse function; every page is
    finished when decoded."""

    def __init__(self, parse: Parse) -> None:
        self.parse = parse

    def decode(self, body: bytes, context: PageContext) -> ParsedPage:
        return self.parse(body, context)

    def convert(self, pages: Sequence[ParsedPage]) -> None:
        pass

    def convert_later(self, pages: Sequence[ParsedPage]) -> Future[None]:
        done: Future[None] = Future()
        done.set_result(None)
        return done


def _int_or_none(value: Any) -> int | None:
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            return None
    return None


def _load_json_object(body: bytes, ctx: PageContext) -> dict[str, Any]:
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        msg = f"the response is not valid JSON ({len(body)} bytes; truncated?): {exc.msg}"
        raise ResponseFormatError(msg, url=ctx.url, page=ctx.page) from None
    if not isinstance(doc, dict):
        msg = f"expected a JSON object, got {type(doc).__name__}"
        raise ResponseFormatError(msg, url=ctx.url, page=ctx.page)
    return doc


def parse_json_page_loket(body: bytes, ctx: PageContext) -> ParsedPage:
    """A Loket page; ``data`` is the list of item dicts (``_embedded`` or ``content``)."""
    doc = _load_json_object(body, ctx)
    if "_embedded" in doc:
        items = doc["_embedded"]
    elif "content" in doc:
        content = doc["content"]
        items = content if isinstance(content, list) else ([] if content is None else [content])
    else:
        items = []
    if items is None:
        items = []
    if not isinstance(items, list):
        msg = f"expected `_embedded` to be a list, got {type(items).__name__}"
        raise ResponseFormatError(msg, url=ctx.url, page=ctx.page)
    version = doc.get("version")
    messages = doc.get("messages")
    meta = PageMeta(
        item_count=len(items),
        current_page=_int_or_none(doc.get("currentPage")),
        page_size=_int_or_none(doc.get("pageSize")),
        total_pages=_int_or_none(doc.get("totalPages")),
        total_size=_int_or_none(doc.get("totalSize")),
        version=version if isinstance(version, dict) else None,
        messages=[m for m in messages if isinstance(m, dict)] if isinstance(messages, list) else [],
    )
    return ParsedPage(meta=meta, data=items, page=ctx.page)


def parse_json_page_valinso(body: bytes, ctx: PageContext) -> ParsedPage:
    """A Valinso page; ``data`` is the list of item dicts (``result``)."""
    doc = _load_json_object(body, ctx)
    if "result" not in doc:
        msg = "expected a {code, result} object: `result` is missing"
        raise ResponseFormatError(msg, url=ctx.url, page=ctx.page)
    code = _int_or_none(doc.get("code"))
    if code is not None and not 200 <= code < 300:
        msg = f"the body says code {code} in an HTTP {ctx.status_code} response"
        raise ResponseFormatError(msg, url=ctx.url, page=ctx.page)
    result = doc["result"]
    items = result if isinstance(result, list) else ([] if result is None else [result])
    paging = doc.get("paging")
    paging = paging if isinstance(paging, dict) else {}
    meta = PageMeta(
        item_count=len(items),
        offset=_int_or_none(paging.get("offset")),
        limit=_int_or_none(paging.get("limit")),
        total=_int_or_none(paging.get("total")),
    )
    return ParsedPage(meta=meta, data=items, page=ctx.page)


def parse_pages(
    bodies: Sequence[bytes], spec: FrameSpec, *, path_ids: dict[str, str] | None = None
) -> tuple[list[dict[str, Any]], pl.DataFrame]:
    """Parse each body and concatenate: the list of page metas and one frame."""
    results = [parse_page(b, spec, path_ids=path_ids, page=i + 1) for i, b in enumerate(bodies)]
    return [m for m, _ in results], concat_pages([f for _, f in results], spec=spec)


def raise_loket(response: Any) -> None:
    """Loket's statuses → errors (what the Loket client hands the walk)."""
    raise_for_response(response, api="loket")


def raise_valinso(response: Any) -> None:
    """Valinso's statuses → errors (what the Valinso client hands the walk)."""
    raise_for_response(response, api="valinso")


#: ``paginate`` keywords for a Loket / Valinso walk of item dicts.
LOKET: dict[str, Any] = {
    "raise_for_response": raise_loket,
    "decoder": JsonDecoder(parse_json_page_loket),
}
VALINSO: dict[str, Any] = {
    "raise_for_response": raise_valinso,
    "decoder": JsonDecoder(parse_json_page_valinso),
}
