"""Parsed frames kept next to the cache entries they were parsed from.

A page whose body the cache served (fresh, revalidated or stale) is not parsed again: its frame
was kept as an extra of the cache entry, tied to the body's sha256 and named after everything that
shapes the frame (the spec, the path ids, the Polars version). Page 1 of every load is kept that
way. After a clean walk of a paged listing whose pages were all stored, pages 2.. are kept
together as one blob next to page 1, with each page's cache key and body digest, so a warm load
whose pages are all still fresh and unchanged needs one request instead of one per page
(:meth:`FrameCache.cached_listing`).

Blobs are bytes, never pickles: ``u32 len | meta JSON | Arrow IPC stream(s)``. Everything kept
here is an optimisation: a blob that is missing, stale or does not decode is a miss, and the page
is parsed from its body. Writes go to the cache's one background writer.

The store is reached through the :class:`FrameStore` protocol (the cache's
:class:`~loketvalinso.cache.DiskCache` implements it).
"""

from __future__ import annotations

import hashlib
import io
import itertools
import math
import struct
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import orjson
import polars as pl

from loketvalinso._frames.spec import FrameSpec
from loketvalinso._load.pages import PageMeta, ParsedPage, meta_dict
from loketvalinso._load.pools import PARSE_THREADS, on_parse_thread, parse_pool
from loketvalinso._transport.background import submit_background_write

__all__ = ["FrameCache", "FrameStore", "decode_parsed", "encode_listing_pieces", "encode_parsed"]


class FrameStore(Protocol):
    """What the frame cache needs of the response cache: extras tied to an entry's body, and a
    quick way to confirm that many entries are still the ones stored and still fresh."""

    def get_extra_view(
        self, key: str, name: str, *, entry_sha256: str | None = None
    ) -> memoryview | None: ...

    def set_extra(
        self,
        key: str,
        name: str,
        data: bytes | Sequence[bytes],
        *,
        entry_sha256: str | None = None,
    ) -> bool: ...

    def listing_stamps(
        self, keys: list[str], digests: list[str] | None = None
    ) -> dict[str, tuple[float, float]] | None: ...

    def stamps_hold(self, stamps: Mapping[str, tuple[float, float]]) -> bool: ...

    def fresh_digest(self, key: str) -> str | None: ...


#: A kept page: the page, its cache key and its body's sha256.
StoredPage = tuple[ParsedPage, str, str]


#: Bump when the layout of the cached parsed pages changes (old ones are then ignored).
_PARSED_FORMAT = 5
_META_LEN = struct.Struct(">I")
#: Cache outcomes whose body is the stored one (so a frame kept next to it still holds).
_REUSABLE = frozenset({"hit", "revalidated", "stale"})
#: Arrow IPC compression of a cached listing's frames (smaller files: less to read and hash).
#: zstd: smaller than LZ4 and read back as fast, and the blob's copies while it is written cost
#: less peak memory; it is written in the background.
LISTING_COMPRESSION = "zstd"
#: Rows per Arrow IPC stream in a cached listing (whole pages): Polars buffers a whole stream
#: while writing it (several times the frame in one stream, less than the frame in streams of
#: this size), and a warm load reads the streams on the parse threads.
LISTING_STREAM_ROWS = 12_500
#: A listing of this many rows or more is kept in at least :data:`PARSE_THREADS` streams.
LISTING_SPLIT_ROWS = 2_000


def _spec_fingerprint(spec: FrameSpec, path_ids: Mapping[str, str] | None) -> str:
    """A name for the parsed-page extra: changes whenever the frame it holds would differ."""
    h = hashlib.sha256()
    for part in (
        f"lv-frame-{_PARSED_FORMAT}",
        spec.api,
        spec.envelope,
        spec.name,
        str(spec.version),
        repr(list(spec.schema.items())),
        repr(sorted(spec.known_paths)),
        repr(spec.any_paths),
        repr([(c, str(e)) for c, e in spec.explodes]),
        repr([(c, str(e)) for c, e in spec.outputs]),
        repr([(i, str(e)) for i, e, _ in spec.fast]),
        repr(spec.wrapped),
        repr(spec.body_keys),
        repr(sorted((path_ids or {}).items())),
        pl.__version__,
    ):
        data = part.encode("utf-8", "surrogatepass")
        h.update(len(data).to_bytes(8, "big"))
        h.update(data)
    return h.hexdigest()[:40]


def encode_parsed(
    meta: dict[str, Any], frame: pl.DataFrame, *, compression: str = "uncompressed"
) -> bytes:
    """A parsed page as bytes: ``u32 len | meta JSON | Arrow IPC stream`` (no pickle)."""
    head = orjson.dumps(meta)
    sink = io.BytesIO()
    sink.write(_META_LEN.pack(len(head)))
    sink.write(head)
    frame.write_ipc_stream(sink, compression=compression)  # type: ignore[call-overload]
    return sink.getvalue()


def encode_listing_pieces(
    head: dict[str, Any],
    frames: Sequence[pl.DataFrame],
    *,
    stream_rows: int = LISTING_STREAM_ROWS,
    compression: str = LISTING_COMPRESSION,
) -> list[bytes]:
    """Pages as the pieces of one blob: ``u32 len | head JSON | Arrow IPC streams`` of about
    ``stream_rows`` rows (whole pages); ``head["streams"]`` lists their byte lengths
    (:func:`decode_parsed`). Written one after the other (``DiskCache.set_extra`` takes them
    so), the blob is never held twice (joined, then framed) at the load's memory peak."""
    parts: list[bytes] = []
    rows = sum(f.height for f in frames)
    streams = max(1, math.ceil(rows / max(stream_rows, 1)))
    if rows >= LISTING_SPLIT_ROWS:
        streams = max(streams, PARSE_THREADS)
    # streams of equal size (whole pages): a warm load reads them side by side, so the longest
    # one sets the time
    group = max(1, math.ceil(len(frames) / streams))
    for start in range(0, len(frames), group):
        sink = io.BytesIO()
        part = pl.concat(frames[start : start + group], how="vertical", rechunk=False)
        part.write_ipc_stream(sink, compression=compression)  # type: ignore[call-overload]
        parts.append(sink.getvalue())
    meta = orjson.dumps({**head, "streams": [len(p) for p in parts]})
    return [_META_LEN.pack(len(meta)) + meta, *parts]


def decode_parsed(
    blob: bytes | memoryview, *, parallel: bool = False
) -> tuple[dict[str, Any], pl.DataFrame]:
    """The inverse of :func:`encode_parsed`; raises ``ValueError`` on a malformed blob.

    ``parallel``: read a listing's streams on the parse threads (each read is single-threaded
    and releases the GIL); ignored on a parse thread itself, which must not wait on its pool.
    """
    view = memoryview(blob)
    (n,) = _META_LEN.unpack_from(view)
    meta = orjson.loads(view[_META_LEN.size : _META_LEN.size + n])
    if not isinstance(meta, dict):
        raise ValueError("parsed page meta is not an object")
    data = view[_META_LEN.size + n :]
    lengths = meta.get("streams")
    if lengths is None:
        return meta, pl.read_ipc_stream(io.BytesIO(data))
    if not isinstance(lengths, list) or sum(lengths) != len(data) or not lengths:
        raise ValueError("parsed listing streams do not add up")
    ends = list(itertools.accumulate(lengths))
    streams = [data[end - length : end] for length, end in zip(lengths, ends, strict=True)]

    def read(stream: memoryview) -> pl.DataFrame:
        return pl.read_ipc_stream(io.BytesIO(stream))

    if parallel and len(streams) > 1 and not on_parse_thread():
        parts = list(parse_pool().map(read, streams))
    else:
        parts = [read(stream) for stream in streams]
    return meta, pl.concat(parts, how="vertical", rechunk=False)


class FrameCache:
    """The frames of one resource version (one :class:`FrameSpec` and path ids) in a store.

    Parameters
    ----------
    store : FrameStore
        The client's response cache.
    spec, path_ids
        What the frames are parsed with: part of every blob's name, so a blob made with another
        spec, other path ids or another Polars version is never read back.
    """

    def __init__(
        self, store: FrameStore, spec: FrameSpec, path_ids: Mapping[str, str] | None = None
    ) -> None:
        self.store = store
        fingerprint = _spec_fingerprint(spec, path_ids)
        self.page_name = "frame-" + fingerprint
        self.listing_name = "pages-" + fingerprint

    def page(self, key: str, digest: str, state: str | None) -> ParsedPage | None:
        """The frame kept for the body ``digest`` under ``key``, if that body was served from
        the cache (``state`` hit, revalidated or stale) and its frame is still there."""
        if state not in _REUSABLE:
            return None
        blob = self.store.get_extra_view(key, self.page_name, entry_sha256=digest)
        if blob is None:
            return None
        try:
            meta, frame = decode_parsed(blob)
        except Exception:  # a blob that does not decode is a miss: the body is parsed instead
            return None
        return ParsedPage(meta=PageMeta(**meta), data=frame)

    def keep_page(self, key: str, digest: str, page: ParsedPage) -> None:
        """Keep a finished page next to its cache entry, written in the background."""
        # a frame of its own: the caller keeps using its frame while this is written, and a
        # Polars frame used from two threads at once can deadlock
        frame, meta, name, store = (
            page.data.clone(),
            meta_dict(page.meta),
            self.page_name,
            self.store,
        )

        def write() -> None:
            store.set_extra(key, name, encode_parsed(meta, frame), entry_sha256=digest)

        submit_background_write(write)

    def remember_listing(self, pages: Sequence[StoredPage]) -> bool:
        """Keep pages 2.. of a walked listing next to page 1 (``pages`` in page order, page 1
        first). Returns whether it went to the writer, which skips a listing whose pages differ
        in columns (extra fields on some pages only: they keep their per-page extras).

        Readers in this process wait for pending writes (``get_extra_view`` does), and clients
        flush on ``close()`` and at interpreter exit.
        """
        if len(pages) < 2:
            return False
        _, first_key, first_digest = pages[0]
        rest = list(pages[1:])
        if not all(isinstance(p.data, pl.DataFrame) for p, _, _ in rest):
            return False
        parts = [p.data.clone() for p, _, _ in rest]  # frames of its own (see keep_page)
        rows = [[p.page, key, digest, meta_dict(p.meta)] for p, key, digest in rest]
        keys = [key for _, key, _ in rest]
        digests = [digest for _, _, digest in rest]
        store, name = self.store, self.listing_name

        def write() -> None:
            # Polars compares the schemas natively (DataFrame.schema builds Python dtypes)
            try:
                pl.concat(parts, how="vertical", rechunk=False)
            except (pl.exceptions.SchemaError, pl.exceptions.ShapeError):
                return
            head: dict[str, Any] = {"v": _PARSED_FORMAT, "pages": rows}
            # One query confirms the whole listing on a warm load (DiskCache.stamps_hold).
            stamps = store.listing_stamps(keys, digests)
            if stamps:
                head["stamps"] = {k: list(v) for k, v in stamps.items()}
            pieces = encode_listing_pieces(head, parts)
            store.set_extra(first_key, name, pieces, entry_sha256=first_digest)

        submit_background_write(write)
        return True

    def cached_listing(
        self, first_key: str, first_digest: str, total_pages: int
    ) -> list[StoredPage] | None:
        """Pages 2..``total_pages`` from the blob kept next to page 1, if every one of them is
        still stored, fresh and holds the same body; else None."""
        store = self.store
        blob = store.get_extra_view(first_key, self.listing_name, entry_sha256=first_digest)
        if blob is None:
            return None
        try:
            head, frame = decode_parsed(blob, parallel=True)
        except Exception:
            return None
        rows = head.get("pages") if head.get("v") == _PARSED_FORMAT else None
        if not isinstance(rows, list) or len(rows) != total_pages - 1:
            return None
        stamps = head.get("stamps")
        confirmed = (
            isinstance(stamps, dict)
            and len(stamps) == len(rows)
            and all(key in stamps for _, key, _, _ in rows)
            and store.stamps_hold({k: (float(t), float(d)) for k, (t, d) in stamps.items()})
        )
        out: list[StoredPage] = []
        offset = 0
        for index, key, digest, meta in rows:
            # Without valid stamps every page's header is read to confirm it.
            if not confirmed and store.fresh_digest(key) != digest:
                return None
            n = int(meta["item_count"])
            page = ParsedPage(meta=PageMeta(**meta), data=frame.slice(offset, n), page=index)
            out.append((page, key, digest))
            offset += n
        if offset != frame.height:
            return None
        return out
