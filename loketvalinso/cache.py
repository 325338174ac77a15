"""An Expires/Cache-Control/ETag-aware disk cache for GET responses, as an httpx transport.

The freshness rules live in :mod:`loketvalinso.freshness` (pure functions); this module adds the
storage and the I/O:

* :class:`DiskCache` — a private folder (mode 0700, under ``platformdirs.user_cache_dir`` unless
  given) holding a :mod:`diskcache` SQLite index. Keys are ``str`` (a sha256 hex digest) and
  values are ``bytes`` in the framed format below; the :class:`SafeDisk` serialiser refuses to
  pickle anything on the way in and refuses to unpickle anything on the way out.
* :class:`CacheTransport` — ``DiskCache.wrap(inner, identity=...)``: serves fresh entries from
  disk, revalidates stale ones with ``If-None-Match``/``If-Modified-Since``, stores what RFC 9111
  lets it store, and with ``offline=True`` never touches the network. New responses are stored
  with ``DiskCache.set(..., later=True)``: encoded at once, held in memory as compressed bytes,
  and written by one background thread, several per SQLite transaction, once the load in progress
  has returned (:mod:`loketvalinso.background`; sooner past ``MAX_HOLD_SECONDS`` or
  ``MAX_HOLD_BYTES`` held). Until then every cache of the process on that folder answers them
  from memory, and ``flush()``, ``close()`` and interpreter exit write what is pending.

On-disk value format (version 1), all integers big-endian::

    b"LVC\\x01" | u32 header_len | 32 bytes sha256(header) | header (JSON) | body

The JSON header holds ``v``, ``status``, ``url`` (redacted), ``request_time``,
``response_time``, ``headers`` (``[[name, value], ...]`` without secrets or hop-by-hop fields),
``body_len`` and ``body_sha256`` (of the body as received). Version 2 adds ``codec`` (``"lz4"``,
an LZ4 block) and ``stored_len``: bodies of 4 KiB and more are stored compressed, which makes a
~230 KB JSON page ~30 KB, small enough for the SQLite index itself (no file to create). Both
versions are read; the digest is always checked on the decompressed body. Extras (for example the parsed page as Arrow IPC) are stored
under ``x/<entry key>/<name>`` as ``b"LVX\\x01" | u32 header_len | sha256(header) | header | data``
with ``name``, ``entry`` (the entry's ``body_sha256``), ``len`` and ``sha256``; every item of an
entry carries the entry key as its diskcache tag, so deleting the entry drops its extras. An
extra whose ``entry`` digest differs from the current entry's body is ignored.

A value that fails any check (magic, lengths, digests, JSON, a pickled or non-bytes value) is
deleted with a :class:`~loketvalinso.errors.CacheWarning` and treated as a miss.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import os
import re
import stat
import string
import struct
import threading
import time
import warnings
import weakref
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import diskcache
import httpx
import lz4.block
import orjson
import platformdirs

from loketvalinso.background import urgent, wait_until_quiet
from loketvalinso.errors import CacheMissError, CacheWarning, ConfigurationError, redact_url
from loketvalinso.freshness import (
    CacheEntry,
    conditional_headers,
    current_age,
    freshness_lifetime,
    is_fresh,
    is_storable,
    refresh_from_304,
    should_store,
    storable_headers,
)

__all__ = [
    "CACHE_BODY_EXTENSION",
    "CACHE_EXTENSION",
    "CACHE_KEY_EXTENSION",
    "PAGE_SIBLINGS_EXTENSION",
    "CacheEntry",
    "CacheTransport",
    "CorruptEntryError",
    "DiskCache",
    "SafeDisk",
    "UnsafeValueError",
    "cache_clear",
    "cache_info",
    "cache_key",
    "decode_entry",
    "default_directory",
    "encode_entry",
    "make_identity",
    "normalize_accept",
    "normalize_url",
]

#: ``response.extensions`` key: ``"hit"``, ``"revalidated"``, ``"miss"`` or ``"stale"``.
CACHE_EXTENSION = "loketvalinso.cache"
#: ``response.extensions`` key holding the entry key (for :meth:`DiskCache.set_extra`).
CACHE_KEY_EXTENSION = "loketvalinso.cache_key"
#: ``response.extensions`` key holding the sha256 hex digest of the body the cache stored or
#: served (absent when the response was not stored); pass it as ``entry_sha256`` to
#: :meth:`DiskCache.set_extra`/:meth:`DiskCache.get_extra` so an extra is tied to that body.
CACHE_BODY_EXTENSION = "loketvalinso.body_sha256"

_log = logging.getLogger("loketvalinso.cache")

_ENTRY_MAGIC = b"LVC\x01"
_EXTRA_MAGIC = b"LVX\x01"
_PREFIX = struct.Struct(">4sI32s")
_FORMAT_VERSION = 1
#: Entries with a compressed body (``codec``/``stored_len`` in the header).
_COMPRESSED_VERSION = 2
_READABLE_VERSIONS = frozenset({_FORMAT_VERSION, _COMPRESSED_VERSION})
#: Bodies at least this long are stored LZ4-compressed (when that saves a tenth or more).
_COMPRESS_MIN = 4096
_EXTRA_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
_DEFAULT_SIZE_LIMIT = 2**30
_MEMO_SIZE = 8192
#: Largest entry header :meth:`DiskCache.fresh_digest` reads (headers are a few hundred bytes).
_MAX_PEEK = 1 << 20

#: ``request.extensions`` key the pager sets on the requests of pages 2.. of a listing whose
#: page 1 was a miss (``loketvalinso.paging.PageSiblings``): see ``CacheTransport._absent``.
PAGE_SIBLINGS_EXTENSION = "loketvalinso.page_siblings"

#: ``request.extensions`` key (``loketvalinso.retry.REFETCH_EXTENSION``) set on a retry after a
#: broken 2xx body: fetch from the origin, never answer from (or revalidate) the stored entry.
_REFETCH_EXTENSION = "loketvalinso.refetch"

#: Response fields that describe the encoded body; dropped when the body is handed on decoded.
_ENCODING_HEADERS = frozenset({"content-encoding", "content-length", "transfer-encoding"})
#: Request fields that make a GET something this cache should not answer or store.
_BYPASS_REQUEST_HEADERS = ("if-none-match", "if-modified-since", "if-match", "range")


# --------------------------------------------------------------------------- background writes

_WRITER: Any = None
_WRITER_NAME = "loketvalinso-cache-writer"
_PENDING_WRITES: set[Any] = set()
_WRITER_LOCK = threading.Lock()


def submit_background_write(write: Callable[[], None]) -> None:
    """Run ``write`` on the one background cache writer thread (created on first use).

    Writes run in submission order, so a listing kept after its pages is written after them.
    What is written this way is an optimisation: an exception is logged and dropped.
    """
    global _WRITER
    with _WRITER_LOCK:
        if _WRITER is None:
            import atexit
            from concurrent.futures import ThreadPoolExecutor

            _WRITER = ThreadPoolExecutor(1, thread_name_prefix=_WRITER_NAME)
            atexit.register(flush_background_writes)

        submitted = time.monotonic()

        def guarded() -> None:
            try:
                # held while a load is in progress (see loketvalinso.background), for
                # MAX_HOLD_SECONDS after it was submitted at most: a long load's work is done
                # that long after it came in, not that long after the job before it
                held_for = time.monotonic() - submitted
                wait_until_quiet(timeout=MAX_HOLD_SECONDS - held_for, give_up=_holding_too_much)
                write()
            except Exception as exc:
                _log.debug("a background cache write failed: %s", type(exc).__name__)

        future = _WRITER.submit(guarded)
        _PENDING_WRITES.add(future)
    future.add_done_callback(_forget_write)


def _forget_write(future: Any) -> None:
    with _WRITER_LOCK:
        _PENDING_WRITES.discard(future)


def flush_background_writes(timeout: float | None = 60.0) -> None:
    """Wait until every background cache write submitted so far is done (or ``timeout``)."""
    from concurrent.futures import wait

    if not _PENDING_WRITES or threading.current_thread().name.startswith(_WRITER_NAME):
        return  # nothing pending, or called by a write itself (it would wait for itself)
    with _WRITER_LOCK:
        pending = list(_PENDING_WRITES)
    if pending:
        with urgent():  # the writer does not wait for walks in progress meanwhile
            wait(pending, timeout=timeout)


#: Entries the background writer writes per SQLite transaction (it checks for walks in progress
#: between transactions).
WRITE_BATCH = 32
#: Seconds at most that the background writer holds a piece of work back while loads are in
#: progress, counted from when it came in (for pending entries, from the oldest one).
MAX_HOLD_SECONDS = 30.0
#: Bytes of encoded entries the caches of this process may hold back, pending, before the writer
#: writes them walk or no walk (about 500 MB of JSON pages at the usual 1:6 compression).
MAX_HOLD_BYTES = 80 * 2**20
_held_bytes = 0
_held_lock = threading.Lock()


def _hold(delta: int) -> None:
    global _held_bytes
    with _held_lock:
        _held_bytes += delta


def _holding_too_much() -> bool:
    return _held_bytes > MAX_HOLD_BYTES


# Every open DiskCache of this process, by folder: a cache reads (and flushes) what the others
# on its folder hold pending, so two clients on one folder see each other's pages at once,
# though the writer holds them back while a load is in progress.
_CACHES_BY_FOLDER: dict[Path, weakref.WeakSet[DiskCache]] = {}
_CACHES_LOCK = threading.Lock()


# --------------------------------------------------------------------------- serialisation


class UnsafeValueError(ValueError):
    """A stored key or value that is not raw bytes/str/int/float (e.g. a pickle): refused."""


class CorruptEntryError(ValueError):
    """A stored value that fails the format checks (tampered, truncated or foreign)."""


class SafeDisk(diskcache.Disk):
    """A :class:`diskcache.Disk` that never pickles and never unpickles.

    Keys and values must be ``bytes``, ``str``, ``int`` or ``float`` (stored natively by
    diskcache). Anything else is refused with :class:`TypeError` when stored, and a row whose
    mode says "pickle" (or whose key is not raw) raises :class:`UnsafeValueError` instead of
    being loaded.
    """

    _NATIVE = (bytes, str, int, float)

    def put(self, key: Any) -> tuple[Any, bool]:
        if type(key) not in self._NATIVE:
            msg = f"cache keys must be bytes/str/int/float, not {type(key).__name__}"
            raise TypeError(msg)
        return super().put(key)

    def get(self, key: Any, raw: bool) -> Any:
        if not raw:
            msg = "refusing to unpickle a cache key"
            raise UnsafeValueError(msg)
        return super().get(key, raw)

    def store(self, value: Any, read: bool, key: Any = diskcache.core.UNKNOWN) -> Any:
        if read and type(value) is PiecesReader:
            return super().store(value, read, key=key)
        if read or type(value) not in self._NATIVE:
            msg = f"cache values must be bytes/str/int/float, not {type(value).__name__}"
            raise TypeError(msg)
        return super().store(value, read, key=key)

    def fetch(self, mode: int, filename: str | None, value: Any, read: bool) -> Any:
        if mode not in (diskcache.core.MODE_RAW, diskcache.core.MODE_BINARY):
            msg = f"refusing to load a cache value stored with mode {mode} (not raw bytes)"
            raise UnsafeValueError(msg)
        return super().fetch(mode, filename, value, read)


def _frame(magic: bytes, header: Mapping[str, Any], payload: bytes) -> bytes:
    return _frame_lead(magic, header) + payload


def _frame_lead(magic: bytes, header: Mapping[str, Any]) -> bytes:
    """What :func:`_frame` puts before the payload."""
    head = orjson.dumps(dict(header))
    return _PREFIX.pack(magic, len(head), hashlib.sha256(head).digest()) + head


class PiecesReader:
    """A value diskcache copies into its file piece by piece (``set(..., read=True)``), so a
    blob made of pieces is never joined into one buffer. :class:`SafeDisk` reads no other
    file-like value."""

    def __init__(self, pieces: Sequence[bytes]) -> None:
        self._pieces = list(reversed(pieces))

    def read(self, size: int = -1) -> bytes:
        while self._pieces:
            piece = self._pieces.pop()
            if not piece:
                continue
            if 0 <= size < len(piece):
                self._pieces.append(piece[size:])
                return piece[:size]
            return piece
        return b""


def _blob_pieces(data: object) -> list[bytes]:
    """``data`` (bytes-like, or a sequence of them) as a list of ``bytes`` pieces."""
    blob_types = (bytes, bytearray, memoryview)
    pieces = [data] if isinstance(data, blob_types) else data
    if isinstance(pieces, Sequence) and all(isinstance(piece, blob_types) for piece in pieces):
        return [piece if type(piece) is bytes else bytes(piece) for piece in pieces]
    msg = f"extra data must be bytes (or a sequence of bytes pieces), not {type(data).__name__}"
    raise ConfigurationError(msg)


def _unframe(magic: bytes, data: object) -> tuple[dict[str, Any], memoryview]:
    if not isinstance(data, bytes):
        msg = f"value is {type(data).__name__}, not bytes"
        raise CorruptEntryError(msg)
    if len(data) < _PREFIX.size:
        msg = "value is truncated (no header)"
        raise CorruptEntryError(msg)
    got_magic, head_len, head_digest = _PREFIX.unpack_from(data)
    if got_magic != magic:
        msg = "unknown value format"
        raise CorruptEntryError(msg)
    view = memoryview(data)
    head = view[_PREFIX.size : _PREFIX.size + head_len]
    if len(head) != head_len:
        msg = "value is truncated (short header)"
        raise CorruptEntryError(msg)
    if hashlib.sha256(head).digest() != head_digest:
        msg = "header checksum mismatch"
        raise CorruptEntryError(msg)
    try:
        header = orjson.loads(head)
    except orjson.JSONDecodeError as exc:
        msg = "header is not JSON"
        raise CorruptEntryError(msg) from exc
    if not isinstance(header, dict) or header.get("v") not in _READABLE_VERSIONS:
        msg = "unsupported header version"
        raise CorruptEntryError(msg)
    return header, view[_PREFIX.size + head_len :]


def _check_payload(payload: memoryview, length: object, digest: object) -> bytes:
    return _check_view(payload, length, digest).tobytes()


def _check_view(payload: memoryview, length: object, digest: object) -> memoryview:
    if length != len(payload):
        msg = f"payload is {len(payload)} bytes, header says {length}"
        raise CorruptEntryError(msg)
    if hashlib.sha256(payload).hexdigest() != digest:
        msg = "payload checksum mismatch"
        raise CorruptEntryError(msg)
    return payload


def _encode_entry(entry: CacheEntry, digest: str | None = None) -> tuple[bytes, str]:
    body = entry.body
    if digest is None:
        digest = hashlib.sha256(body).hexdigest()
    header: dict[str, Any] = {
        "v": _FORMAT_VERSION,
        "status": entry.status,
        "url": entry.url,
        "request_time": entry.request_time,
        "response_time": entry.response_time,
        "headers": [[k, v] for k, v in storable_headers(entry.headers)],
        "body_len": len(body),
        "body_sha256": digest,
    }
    payload = body
    if len(body) >= _COMPRESS_MIN:
        packed = lz4.block.compress(body, store_size=False)
        if len(packed) <= len(body) * 0.9:
            header.update(v=_COMPRESSED_VERSION, codec="lz4", stored_len=len(packed))
            payload = packed
    return _frame(_ENTRY_MAGIC, header, payload), digest


def _entry_body(header: Mapping[str, Any], payload: memoryview) -> bytes:
    """The body of an entry, decompressed if needed and checked against its length and digest."""
    if header.get("v") == _FORMAT_VERSION:
        return _check_payload(payload, header.get("body_len"), header.get("body_sha256"))
    length = header.get("body_len")
    if header.get("codec") != "lz4" or header.get("stored_len") != len(payload):
        msg = "unknown codec or stored length mismatch"
        raise CorruptEntryError(msg)
    if not isinstance(length, int) or length < 0:
        msg = "header says no body length"
        raise CorruptEntryError(msg)
    try:
        body = lz4.block.decompress(payload, uncompressed_size=length)
    except lz4.block.LZ4BlockError as exc:
        msg = "compressed body does not decompress"
        raise CorruptEntryError(msg) from exc
    _check_view(memoryview(body), length, header.get("body_sha256"))
    return body


def _decode_entry(data: object) -> tuple[CacheEntry, str]:
    header, payload = _unframe(_ENTRY_MAGIC, data)
    body = _entry_body(header, payload)
    try:
        entry = CacheEntry(
            status=int(header["status"]),
            headers=tuple((str(k), str(v)) for k, v in header["headers"]),
            body=body,
            request_time=float(header["request_time"]),
            response_time=float(header["response_time"]),
            url=str(header.get("url", "")),
        )
    except (KeyError, TypeError, ValueError) as exc:
        msg = "header fields are missing or malformed"
        raise CorruptEntryError(msg) from exc
    return entry, str(header["body_sha256"])


def encode_entry(entry: CacheEntry) -> bytes:
    """Serialise ``entry`` to the framed on-disk format (secrets and hop-by-hop fields removed).

    Parameters
    ----------
    entry : CacheEntry
        The response to store.

    Returns
    -------
    bytes
        ``b"LVC\\x01" | u32 header_len | sha256(header) | JSON header | body``.
    """
    return _encode_entry(entry)[0]


def decode_entry(data: bytes) -> CacheEntry:
    """Parse and verify a value made by :func:`encode_entry`.

    Parameters
    ----------
    data : bytes
        The stored value.

    Returns
    -------
    CacheEntry

    Raises
    ------
    CorruptEntryError
        Wrong magic or version, truncated, a checksum mismatch, or malformed header fields.
    """
    return _decode_entry(data)[0]


# --------------------------------------------------------------------------- keys

_UNRESERVED = frozenset(string.ascii_letters + string.digits + "-._~")
_PERCENT = re.compile(r"%([0-9A-Fa-f]{2})")
_PATH_SAFE = "/:@!$&'()*+,;=-._~%"
_QUERY_SAFE = "/:@!$'()*+,;?-._~%"
_DEFAULT_PORTS = {"http": 80, "https": 443}


def _normalize_component(text: str, safe: str) -> str:
    def fix(match: re.Match[str]) -> str:
        char = chr(int(match.group(1), 16))
        return char if char in _UNRESERVED else "%" + match.group(1).upper()

    return quote(_PERCENT.sub(fix, text), safe=safe)


def normalize_url(url: httpx.URL | str) -> str:
    """A canonical form of ``url`` for cache keys.

    Scheme and host are lower-cased, a default port and any user-info or fragment are dropped,
    an empty path becomes ``/``, percent-encoding is normalised (unreserved characters decoded,
    hex digits upper-cased, unsafe characters encoded, ``+`` in the query read as a space) and
    query parameters are sorted by name (values of a repeated name keep their order).

    Parameters
    ----------
    url : httpx.URL or str
        An absolute URL.

    Returns
    -------
    str
    """
    return _join_url(*_url_parts(url))


def _url_parts(url: httpx.URL | str) -> tuple[str, str, str, list[tuple[str, str]]]:
    """:func:`normalize_url` before the join: scheme, netloc, path and the query's
    ``(name, "=" + value)`` pairs, each normalised, in their order."""
    parts = urlsplit(str(url))
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if ":" in host:
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError:
        port = None
    netloc = host if port is None or _DEFAULT_PORTS.get(scheme) == port else f"{host}:{port}"
    path = _normalize_component(parts.path or "/", _PATH_SAFE)
    pairs: list[tuple[str, str]] = []
    for piece in parts.query.split("&"):
        if not piece:
            continue
        # form encoding: "+" is a space in a query ("%2B" is a plus sign)
        name, sep, value = piece.replace("+", "%20").partition("=")
        name = _normalize_component(name, _QUERY_SAFE)
        pairs.append((name, sep + _normalize_component(value, _QUERY_SAFE)))
    return scheme, netloc, path, pairs


def _join_url(scheme: str, netloc: str, path: str, pairs: list[tuple[str, str]]) -> str:
    pairs = sorted(pairs, key=lambda pair: pair[0])
    query = "&".join(name + value for name, value in pairs)
    return urlunsplit((scheme, netloc, path, query, ""))


_PLAIN_NAME = re.compile(r"[A-Za-z0-9._~-]+")


def _merged_urls(url: httpx.URL, page_params: Sequence[Mapping[str, Any]]) -> list[str]:
    """``normalize_url(url.copy_merge_params(params))`` for each of ``page_params``.

    Paging parameters (the same plain names on every page, int values: ``pageNumber``,
    ``offset``, ``limit``) are merged into one parse of ``url``: ~5 µs a URL instead of ~40 µs.
    httpx re-encodes the whole query when it merges (``'`` becomes ``%27``, ``flag`` becomes
    ``flag=``), so the first page is also merged by httpx, and the quick way is kept only when
    the two agree. Other parameters are merged by httpx.
    """
    if not page_params:
        return []
    names = set(page_params[0])
    plain = all(_PLAIN_NAME.fullmatch(name) for name in names) and all(
        set(params) == names and all(type(value) is int for value in params.values())
        for params in page_params
    )
    if plain:
        scheme, netloc, path, pairs = _url_parts(url)
        kept = [pair for pair in pairs if pair[0] not in names]  # a merged name loses them all
        out = [
            _join_url(scheme, netloc, path, kept + [(n, f"={v}") for n, v in params.items()])
            for params in page_params
        ]
        if out[0] == normalize_url(url.copy_merge_params(page_params[0])):
            return out
    return [normalize_url(url.copy_merge_params(params)) for params in page_params]


def normalize_accept(accept: str | None) -> str:
    """A canonical ``Accept`` value: lower-cased, whitespace around ``,`` ``;`` ``=`` removed."""
    if not accept:
        return ""
    ranges = []
    for media_range in accept.lower().split(","):
        params = [p.strip().replace(" ", "") for p in media_range.split(";")]
        ranges.append(";".join(p for p in params if p))
    return ",".join(r for r in ranges if r)


def cache_key(method: str, url: httpx.URL | str, *, accept: str | None, identity: str) -> str:
    """The cache key of a request: sha256 over method, URL, ``Accept`` and caller identity.

    Parameters
    ----------
    method : str
        Request method.
    url : httpx.URL or str
        Request URL (normalised with :func:`normalize_url`).
    accept : str or None
        The ``Accept`` header (it carries the Loket resource version).
    identity : str
        Who is asking, as an opaque string — a hash from :func:`make_identity`, never a token or
        key itself. Two identities never share entries.

    Returns
    -------
    str
        64 hexadecimal characters.

    Raises
    ------
    ConfigurationError
        When ``identity`` is empty.
    """
    if not isinstance(identity, str) or not identity:
        msg = "the cache needs a non-empty identity (use loketvalinso.cache.make_identity(...))"
        raise ConfigurationError(msg)
    return _key_of(method, normalize_url(url), normalize_accept(accept), identity)


def _key_of(method: str, normal_url: str, normal_accept: str, identity: str) -> str:
    """:func:`cache_key` from the normalised URL and ``Accept``."""
    digest = hashlib.sha256()
    for part in ("loketvalinso-cache-v1", method.upper(), normal_url, normal_accept, identity):
        _update(digest, part)
    return digest.hexdigest()


def _update(digest: Any, text: str) -> None:
    data = text.encode("utf-8", "surrogatepass")
    digest.update(len(data).to_bytes(8, "big"))
    digest.update(data)


def make_identity(*parts: str) -> str:
    """Hash what identifies a caller (e.g. base URL + client id + user name, or an API key).

    The result is safe to pass as ``identity``: it is a one-way sha256 digest, and the cache only
    ever stores a second digest over it.

    Parameters
    ----------
    *parts : str
        The identifying values, in a fixed order.

    Returns
    -------
    str
        64 hexadecimal characters.
    """
    digest = hashlib.sha256()
    _update(digest, "loketvalinso-identity-v1")
    for part in parts:
        _update(digest, str(part))
    return digest.hexdigest()


# --------------------------------------------------------------------------- folder


def default_directory() -> Path:
    """The default cache folder: ``platformdirs.user_cache_dir("loketvalinso")``."""
    return Path(platformdirs.user_cache_dir("loketvalinso"))


def _resolve(directory: str | os.PathLike[str] | None) -> Path:
    if directory is None:
        return default_directory()
    return Path(os.path.expandvars(os.path.expanduser(os.fspath(directory))))


def _ensure_private_directory(path: Path) -> None:
    if path.exists() and not path.is_dir():
        msg = f"cache directory {path} exists and is not a folder; pass another directory"
        raise ConfigurationError(msg)
    existed = path.exists()
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    if os.name == "nt":  # pragma: no cover - POSIX permissions only
        return
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        try:
            path.chmod(0o700)
        except OSError as exc:
            msg = (
                f"cache directory {path} is readable by other users (mode {mode:o}) and cannot "
                "be made private; pass a directory you own"
            )
            raise ConfigurationError(msg) from exc
        if existed:
            warnings.warn(
                CacheWarning(
                    f"cache directory {path} was accessible to other users (mode {mode:o}); "
                    "tightened it to 700"
                ),
                stacklevel=3,
            )


# --------------------------------------------------------------------------- the cache


class DiskCache:
    """A private, pickle-free disk cache of HTTP responses, shared safely between processes.

    Parameters
    ----------
    directory : str or PathLike, optional
        The folder; default ``platformdirs.user_cache_dir("loketvalinso")``. Created with mode
        0700; an existing folder open to others is tightened to 0700 with a ``CacheWarning``.
    size_limit : int or None, default 2**30
        Bytes before diskcache evicts the oldest stored items; ``None`` keeps the folder's
        current setting.
    offline : bool, default False
        Never touch the network: serve what is stored (stale entries with a ``CacheWarning``)
        and raise :class:`~loketvalinso.errors.CacheMissError` when nothing is.
    clock : callable, default time.time
        Returns the current POSIX time; tests inject a frozen clock.
    keep_unreusable : bool, default False
        Also store responses that may not be reused (lifetime 0, no validator — most Loket
        list pages), so that a later ``offline=True`` session can serve them with a warning.
        Online they are never served from the cache; ``no-store`` is always honoured.

    Raises
    ------
    ConfigurationError
        A bad ``size_limit`` or a directory that cannot be used.
    """

    def __init__(
        self,
        directory: str | os.PathLike[str] | None = None,
        *,
        size_limit: int | None = _DEFAULT_SIZE_LIMIT,
        offline: bool = False,
        clock: Callable[[], float] = time.time,
        keep_unreusable: bool = False,
    ) -> None:
        settings: dict[str, Any] = {
            "tag_index": True,
            "statistics": False,
            "eviction_policy": "least-recently-stored",
            # evict a little at a time (diskcache's default of 10 can empty a small cache at once)
            "cull_limit": 2,
            # Bodies and listings are big blobs read once a load: SQLite's default 32 MiB page
            # cache per connection (one per thread) and its 64 MiB memory map only hold copies
            # of them (~6 MB more peak memory on a cold 200k-row load).
            "sqlite_cache_size": 256,
            "sqlite_mmap_size": 0,
        }
        if size_limit is not None:
            if isinstance(size_limit, bool) or not isinstance(size_limit, int) or size_limit < 1:
                msg = f"size_limit must be a positive number of bytes, not {size_limit!r}"
                raise ConfigurationError(msg)
            settings["size_limit"] = size_limit
        self._directory = _resolve(directory)
        _ensure_private_directory(self._directory)
        self._cache = diskcache.Cache(str(self._directory), disk=SafeDisk, **settings)
        self.offline = bool(offline)
        self.clock = clock
        self.keep_unreusable = bool(keep_unreusable)
        self._memo: OrderedDict[str, str] = OrderedDict()
        self._memo_lock = threading.Lock()
        # entries stored with later=True, not yet on disk: key → (the entry without its body,
        # body digest, the encoded entry). Encoded (compressed) at once, so a walk's bodies are
        # not held while the writer waits for the walk to end (see loketvalinso.background).
        self._pending: dict[str, tuple[CacheEntry, str, bytes]] = {}
        self._pending_lock = threading.Lock()
        # monotonic time since which entries have been pending without a break (None: none are)
        self._held_since: float | None = None
        # whether a _write_in_background job is queued and has not started: one is enough
        self._writer_queued = False
        self._write_lock = threading.Lock()
        # (store_time, body digest, wall-clock time it stops being fresh or None) of each entry
        # this cache wrote, the store time read back in the writing transaction: what a
        # listing's stamps are made of (never another writer's entry)
        self._written: OrderedDict[str, tuple[float, str, float | None]] = OrderedDict()
        with _CACHES_LOCK:
            for folder in [f for f, caches in _CACHES_BY_FOLDER.items() if not caches]:
                del _CACHES_BY_FOLDER[folder]  # every cache on it is gone
            _CACHES_BY_FOLDER.setdefault(self._directory, weakref.WeakSet()).add(self)

    # -- plumbing

    @property
    def directory(self) -> Path:
        """The cache folder."""
        return self._directory

    @property
    def size_limit(self) -> int:
        """The size limit in bytes (as stored in the folder's settings)."""
        return int(self._cache.size_limit)

    def __repr__(self) -> str:
        return f"DiskCache(directory={str(self._directory)!r}, offline={self.offline})"

    def __enter__(self) -> DiskCache:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Write pending entries and close the SQLite connections (reopened on next use)."""
        try:
            self.flush()
        except Exception as exc:  # the responses were served; only their copies are lost
            warnings.warn(
                CacheWarning(f"could not write cached responses on close: {type(exc).__name__}"),
                stacklevel=2,
            )
        self._cache.close()

    # -- deferred writes

    def flush(self) -> None:
        """Write every entry stored with ``later=True`` that is not on disk yet (by this cache
        or another one of this process on the same folder)."""
        for other in self._others_pending():
            other._write_pending()
        if self._pending:
            self._write_pending()

    def _others_pending(self) -> list[DiskCache]:
        """The other caches of this process on this folder that hold pending entries."""
        with _CACHES_LOCK:
            caches = _CACHES_BY_FOLDER.get(self._directory)
            return [c for c in caches or () if c is not self and c._pending]

    def _write_in_background(self) -> None:
        """The background writer's job: everything pending, in transactions of
        :data:`WRITE_BATCH` entries, waiting before each one while a load is in progress."""
        with self._pending_lock:
            self._writer_queued = False  # what comes in from now on needs a job of its own
        while self._pending:
            # An entry waits MAX_HOLD_SECONDS at most (then the writer keeps up with a long
            # load instead of holding all of it), less with too much held.
            since = self._held_since
            held_for = time.monotonic() - since if since is not None else 0.0
            wait_until_quiet(timeout=MAX_HOLD_SECONDS - held_for, give_up=_holding_too_much)
            self._write_pending(limit=WRITE_BATCH)

    def _write_pending(self, limit: int | None = None) -> None:
        """Write what is pending (at most ``limit`` entries, oldest first) in one SQLite
        transaction (from the background writer, or from a caller that needs the stored state
        now)."""
        with self._write_lock:
            with self._pending_lock:
                items = list(self._pending.items())
            batch = dict(items if limit is None else items[:limit])
            if not batch:
                return
            try:
                with self._cache.transact(retry=True):
                    for key, (_, _, data) in batch.items():
                        self._evict_tag(key)
                        self._cache.set(key, data, tag=key, retry=True)
                    self._note_written({k: (e, d) for k, (e, d, _) in batch.items()})
            except Exception:
                for key in batch:
                    self._remember(key, None)
                raise
            finally:
                released = 0
                with self._pending_lock:
                    for key, item in batch.items():
                        if self._pending.get(key) is item:
                            del self._pending[key]
                            released += len(item[2])
                    if not self._pending:
                        self._held_since = None
                _hold(-released)

    def _pending_entry(self, key: str) -> tuple[CacheEntry, str, bytes] | None:
        """``(entry without its body, body digest, encoded entry)`` of a pending ``key``, held
        by this cache or another one on the same folder."""
        others = () if self._pending and key in self._pending else self._others_pending()
        for cache in (self, *others):
            with cache._pending_lock:
                found = cache._pending.get(key)
            if found is not None:
                return found
        return None

    def _remember(self, key: str, digest: str | None) -> None:
        with self._memo_lock:
            if digest is None:
                self._memo.pop(key, None)
                return
            self._memo[key] = digest
            self._memo.move_to_end(key)
            while len(self._memo) > _MEMO_SIZE:
                self._memo.popitem(last=False)

    def _recall(self, key: str) -> str | None:
        with self._memo_lock:
            return self._memo.get(key)

    def _drop(self, key: str, reason: str, url: object = None) -> None:
        self.flush()
        self._cache.delete(key, retry=True)
        self._cache.evict(key, retry=True)
        self._remember(key, None)
        where = f" for {redact_url(url)}" if url else ""
        warnings.warn(
            CacheWarning(f"dropped a corrupt cache entry{where} ({reason}); it will be refetched"),
            stacklevel=3,
        )

    def _fetch(self, key: str) -> object:
        """The raw stored value; raises UnsafeValueError for pickles, UnicodeError for bad text."""
        return self._cache.get(key, default=None, retry=True)

    def _load(
        self, key: str, url: object = None, *, stored: bool = True
    ) -> tuple[CacheEntry, str] | None:
        """The entry under ``key`` and its body digest (``stored=False``: only one still to be
        written, without a read from SQLite)."""
        pending = self._pending_entry(key)
        if pending is not None:
            return _decode_entry(pending[2])  # the bytes that are to be written
        if not stored:
            return None
        try:
            raw = self._fetch(key)
        except (UnsafeValueError, UnicodeError) as exc:
            self._drop(key, str(exc), url)
            return None
        if raw is None:
            self._remember(key, None)
            return None
        try:
            entry, digest = _decode_entry(raw)
        except CorruptEntryError as exc:
            self._drop(key, str(exc), url or _url_hint(raw))
            return None
        self._remember(key, digest)
        return entry, digest

    def fresh_digest(self, key: str) -> str | None:
        """The body digest of the entry under ``key`` if it is fresh now, without reading its body.

        Reads and verifies only the entry's header (magic, length, header checksum, version) and
        applies the freshness rules to its stored headers. Used to confirm that the pages of a
        cached listing are all still fresh and unchanged before serving their parsed frames;
        the body is verified whenever it is actually served.

        Returns
        -------
        str or None
            ``body_sha256`` of a fresh entry; ``None`` when absent, stale, or unreadable.
        """
        pending = self._pending_entry(key)
        if pending is not None:
            return pending[1] if is_fresh(pending[0], self.clock()) else None
        try:
            raw = self._cache.get(key, default=None, read=True, retry=True)
        except (UnsafeValueError, UnicodeError):
            return None
        if raw is None:
            return None
        try:
            if isinstance(raw, bytes):
                head = raw[: _PREFIX.size + _MAX_PEEK]
            else:
                with raw:
                    prefix = raw.read(_PREFIX.size)
                    if len(prefix) < _PREFIX.size:
                        return None
                    _, head_len, _ = _PREFIX.unpack_from(prefix)
                    if head_len > _MAX_PEEK:
                        return None
                    head = prefix + raw.read(head_len)
            header, _ = _unframe(_ENTRY_MAGIC, bytes(head))
            entry = CacheEntry(
                status=int(header["status"]),
                headers=tuple((str(k), str(v)) for k, v in header["headers"]),
                body=b"",
                request_time=float(header["request_time"]),
                response_time=float(header["response_time"]),
                url=str(header.get("url", "")),
            )
            digest = header["body_sha256"]
        except (CorruptEntryError, KeyError, TypeError, ValueError, OSError, struct.error):
            return None
        if not isinstance(digest, str) or not is_fresh(entry, self.clock()):
            return None
        return digest

    # -- entries

    def key_for(self, request: httpx.Request, *, identity: str) -> str:
        """The key of ``request`` for caller ``identity`` (see :func:`cache_key`)."""
        return cache_key(
            request.method, request.url, accept=request.headers.get("accept"), identity=identity
        )

    def get(self, key: str, *, url: object = None) -> CacheEntry | None:
        """The verified entry under ``key``, or ``None`` (a corrupt entry is dropped with a warning).

        Parameters
        ----------
        key : str
            An entry key.
        url : object, optional
            The request URL, used (redacted) in the warning about a corrupt entry.
        """
        loaded = self._load(key, url)
        return None if loaded is None else loaded[0]

    def set(
        self, key: str, entry: CacheEntry, *, keep_extras: bool = False, later: bool = False
    ) -> str:
        """Store ``entry`` under ``key``.

        Parameters
        ----------
        key : str
            An entry key.
        entry : CacheEntry
            The response; its headers are stripped of secrets and hop-by-hop fields on the way.
        keep_extras : bool, default False
            Keep the extras of the previous entry (only right when the body is unchanged, as
            after a 304); by default they are dropped.
        later : bool, default False
            Write it on the background writer (several entries per SQLite transaction) and
            return at once; until then this cache answers reads of ``key`` from memory, and
            :meth:`flush`, :meth:`close` and interpreter exit write it. The pager's fetch
            threads store pages this way, so they do not queue for SQLite's write lock.

        Returns
        -------
        str
            The sha256 hex digest of the stored body.
        """
        if later and not keep_extras:
            data, digest = _encode_entry(entry)
            head = dataclasses.replace(entry, body=b"")
            with self._pending_lock:
                replaced = self._pending.get(key)
                self._pending[key] = (head, digest, data)
                if self._held_since is None:
                    self._held_since = time.monotonic()
                queue_writer, self._writer_queued = not self._writer_queued, True
            _hold(len(data) - (len(replaced[2]) if replaced is not None else 0))
            self._remember(key, digest)
            if queue_writer:
                try:
                    submit_background_write(self._write_in_background)
                except BaseException:
                    with self._pending_lock:
                        self._writer_queued = False
                    raise
            return digest
        self.flush()
        data, digest = _encode_entry(entry)
        with self._cache.transact(retry=True):
            if not keep_extras:
                self._evict_tag(key)
            self._cache.set(key, data, tag=key, retry=True)
            self._note_written({key: (entry, digest)})
        self._remember(key, digest)
        return digest

    def _note_written(self, written: Mapping[str, tuple[CacheEntry, str]]) -> None:
        """Remember the store time, digest and freshness deadline of entries just written
        (inside their transaction)."""
        times = self._store_times(list(written)) or {}
        now = self.clock()
        with self._memo_lock:
            for key, (entry, digest) in written.items():
                if key not in times:
                    self._written.pop(key, None)
                    continue
                lifetime = freshness_lifetime(entry.headers, response_time=entry.response_time)
                deadline = None
                if lifetime is not None and lifetime > 0:
                    deadline = now + lifetime - current_age(entry, now)
                self._written[key] = (times[key], digest, deadline)
                self._written.move_to_end(key)
            while len(self._written) > _MEMO_SIZE:
                self._written.popitem(last=False)

    def _evict_tag(self, key: str) -> None:
        """Drop the entry under ``key`` and its extras, if there are any.

        Looks first with a read (no write lock): on a cold load every page is new, and eight
        fetch threads each taking SQLite's write lock just to delete nothing queue up.
        """
        try:
            found = self._cache._sql("SELECT 1 FROM Cache WHERE tag = ? LIMIT 1", (key,)).fetchall()
        except Exception:  # an unexpected diskcache layout: evict unconditionally
            found = [(1,)]
        if found:
            self._cache.evict(key, retry=True)

    # -- listing stamps: confirm many entries at once

    def _store_times(self, keys: list[str]) -> dict[str, float] | None:
        """diskcache's ``store_time`` of each key present, in one query per 500 keys."""
        try:
            sql = self._cache._sql  # diskcache's own connection (thread-local)
            out: dict[str, float] = {}
            for start in range(0, len(keys), 500):
                chunk = keys[start : start + 500]
                marks = ",".join("?" * len(chunk))
                rows = sql(
                    f"SELECT key, store_time FROM Cache WHERE raw = 1 AND key IN ({marks})",
                    chunk,
                ).fetchall()
                out.update((str(k), float(t)) for k, t in rows)
            return out
        except Exception:  # an unexpected diskcache layout: callers fall back per entry
            return None

    def listing_stamps(
        self, keys: list[str], digests: list[str] | None = None
    ) -> dict[str, tuple[float, float]] | None:
        """For entries this cache wrote: ``key → (store_time, fresh_until)``.

        A whole cached listing is later confirmed with :meth:`stamps_hold` in one query
        instead of reading every entry's header. None when any key is unknown, not fresh, or
        (with ``digests``, one per key) holds another body than the one named.
        """
        self.flush()
        with self._memo_lock:
            written = [self._written.get(k) for k in keys]
        stamps: dict[str, tuple[float, float]] = {}
        for i, (key, mark) in enumerate(zip(keys, written, strict=True)):
            if mark is None or mark[2] is None:
                return None  # not written here, or not fresh
            if digests is not None and (len(digests) != len(keys) or mark[1] != digests[i]):
                return None
            stamps[key] = (mark[0], mark[2])
        return stamps

    def stamps_hold(self, stamps: Mapping[str, tuple[float, float]]) -> bool:
        """Whether every entry is still the one stamped (same ``store_time``) and still fresh.

        A replaced, refreshed (304) or evicted entry changes or loses its ``store_time``, so
        the caller then checks entries one by one (:meth:`fresh_digest`).
        """
        now = self.clock()
        if any(now >= deadline for _, deadline in stamps.values()):
            return False
        stored = self._store_times(list(stamps))
        if stored is None:
            return False
        return all(stored.get(k) == t for k, (t, _) in stamps.items())

    def delete(self, key: str) -> bool:
        """Remove the entry under ``key`` and its extras; ``True`` when something was removed."""
        self.flush()
        removed = bool(self._cache.delete(key, retry=True))
        removed = bool(self._cache.evict(key, retry=True)) or removed
        self._remember(key, None)
        return removed

    # -- extras

    @staticmethod
    def _extra_key(key: str, name: str) -> str:
        if not isinstance(name, str) or not _EXTRA_NAME.match(name):
            msg = f"extra names are 1-64 characters of A-Z a-z 0-9 _ . -, not {name!r}"
            raise ConfigurationError(msg)
        return f"x/{key}/{name}"

    def _entry_digest(self, key: str) -> str | None:
        digest = self._recall(key)
        if digest is not None:
            return digest
        loaded = self._load(key)
        return None if loaded is None else loaded[1]

    def get_extra(self, key: str, name: str, *, entry_sha256: str | None = None) -> bytes | None:
        """The extra blob ``name`` of the entry under ``key``, if stored for its current body.

        Parameters
        ----------
        key : str
            The entry key (``response.extensions["loketvalinso.cache_key"]``).
        name : str
            The blob's name, e.g. ``"arrow"``.
        entry_sha256 : str, optional
            The digest of the body the caller holds
            (``response.extensions["loketvalinso.body_sha256"]``): only an extra made for
            exactly that body is returned (no lookup of the current entry needed).

        Returns
        -------
        bytes or None
            ``None`` when there is no entry, no such extra, or the extra belongs to another body.
        """
        data = self.get_extra_view(key, name, entry_sha256=entry_sha256)
        return None if data is None else data.tobytes()

    def get_extra_view(
        self, key: str, name: str, *, entry_sha256: str | None = None
    ) -> memoryview | None:
        """As :meth:`get_extra`, as a read-only view of the stored value (no copy of a big blob)."""
        flush_background_writes()  # an extra kept moments ago in the background is read
        extra_key = self._extra_key(key, name)
        digest = entry_sha256 if entry_sha256 is not None else self._entry_digest(key)
        if digest is None:
            return None
        try:
            raw = self._fetch(extra_key)
        except (UnsafeValueError, UnicodeError) as exc:
            self._drop(extra_key, str(exc))
            return None
        if raw is None:
            return None
        try:
            header, payload = _unframe(_EXTRA_MAGIC, raw)
            data = _check_view(payload, header.get("len"), header.get("sha256"))
        except CorruptEntryError as exc:
            self._drop(extra_key, f"extra {name!r}: {exc}")
            return None
        if header.get("name") != name or header.get("entry") != digest:
            return None
        return data

    def set_extra(
        self,
        key: str,
        name: str,
        data: bytes | bytearray | memoryview | Sequence[bytes | bytearray | memoryview],
        *,
        entry_sha256: str | None = None,
    ) -> bool:
        """Attach the blob ``name`` to the entry under ``key`` (dropped with the entry).

        Parameters
        ----------
        key : str
            The entry key.
        name : str
            1-64 characters of ``A-Z a-z 0-9 _ . -``.
        data : bytes-like, or a sequence of them
            The blob, or its pieces in order (stored as if joined; a big blob made of pieces is
            written piece by piece, never held twice).
        entry_sha256 : str, optional
            The digest of the body ``data`` was made from: the blob is attached only when the
            stored entry still holds that body (a concurrent update is not mixed up).

        Returns
        -------
        bool
            ``False`` when there is no entry to attach to (or it holds another body).
        """
        extra_key = self._extra_key(key, name)
        pieces = _blob_pieces(data)
        self.flush()
        digest = self._entry_digest(key)
        if digest is None or (entry_sha256 is not None and digest != entry_sha256):
            return False
        blob_digest = hashlib.sha256()
        for piece in pieces:
            blob_digest.update(piece)
        length = sum(len(piece) for piece in pieces)
        header = {
            "v": _FORMAT_VERSION,
            "name": name,
            "entry": digest,
            "len": length,
            "sha256": blob_digest.hexdigest(),
        }
        framed = [_frame_lead(_EXTRA_MAGIC, header), *pieces]
        # a big value goes to a file, piece by piece; a small one stays in the SQLite row
        big = len(framed[0]) + length >= self._cache.disk_min_file_size
        value = PiecesReader(framed) if big else b"".join(framed)
        self._cache.set(extra_key, value, read=big, tag=key, retry=True)
        return True

    # -- management

    def _count(self, pattern: str, negate: bool) -> int:
        sql = getattr(self._cache, "_sql", None)
        if sql is None:  # pragma: no cover - diskcache internals changed
            return len(self._cache)
        op = "NOT LIKE" if negate else "LIKE"
        ((count,),) = sql(f"SELECT COUNT(*) FROM Cache WHERE key {op} ?", (pattern,)).fetchall()
        return int(count)

    def info(self) -> dict[str, Any]:
        """What the cache holds.

        Returns
        -------
        dict
            ``directory`` (str), ``exists`` (True), ``entries`` (stored responses), ``extras``
            (extra blobs), ``size_bytes`` (disk use incl. the SQLite index), ``size_limit``,
            ``offline``.
        """
        self.flush()
        return {
            "directory": str(self._directory),
            "exists": True,
            "entries": self._count("x/%", negate=True),
            "extras": self._count("x/%", negate=False),
            "size_bytes": int(self._cache.volume()),
            "size_limit": self.size_limit,
            "offline": self.offline,
        }

    def clear(self) -> int:
        """Remove everything; returns the number of responses that were stored."""
        self.flush()
        count = self._count("x/%", negate=True)
        self._cache.clear(retry=True)
        with self._memo_lock:
            self._memo.clear()
            self._written.clear()
        return count

    def wrap(
        self, inner: httpx.BaseTransport, *, identity: str | Callable[[], str]
    ) -> CacheTransport:
        """A transport that answers GETs from this cache and sends the rest to ``inner``.

        Parameters
        ----------
        inner : httpx.BaseTransport
            The network (or in-process mock) transport.
        identity : str or callable returning str
            Who is asking (see :func:`make_identity`); never a token or key itself. A callable
            is asked on every request, for clients whose user is known only after login.
        """
        return CacheTransport(inner, cache=self, identity=identity)


def _url_hint(raw: object) -> str | None:
    """Best-effort URL from a corrupt entry's header (for the warning only)."""
    try:
        header, _ = _unframe(_ENTRY_MAGIC, raw)
    except CorruptEntryError:
        return None
    url = header.get("url")
    return url if isinstance(url, str) else None


# --------------------------------------------------------------------------- transport


def _human(seconds: float) -> str:
    seconds = max(0, int(seconds))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes} min"
    if minutes:
        return f"{minutes} min {secs} s"
    return f"{secs} s"


class CacheTransport(httpx.BaseTransport):
    """An httpx transport that answers GET requests from a :class:`DiskCache`.

    Every GET response carries ``extensions["loketvalinso.cache"]`` — ``"hit"`` (fresh, from
    disk), ``"revalidated"`` (a 304 confirmed the stored body), ``"miss"`` (from the network) or
    ``"stale"`` (offline, past its lifetime) — and ``extensions["loketvalinso.cache_key"]``.
    Other methods pass straight through (marked ``"miss"``); offline they raise
    :class:`~loketvalinso.errors.CacheMissError`.

    Parameters
    ----------
    inner : httpx.BaseTransport
        The transport that reaches the network or the mock.
    cache : DiskCache
        Where entries live; its ``offline`` and ``clock`` apply.
    identity : str or callable returning str
        The caller identity mixed into every key (a callable is asked on every request).
    """

    def __init__(
        self,
        inner: httpx.BaseTransport,
        *,
        cache: DiskCache,
        identity: str | Callable[[], str],
    ) -> None:
        if not callable(identity) and (not isinstance(identity, str) or not identity):
            msg = "the cache needs a non-empty identity (use loketvalinso.cache.make_identity(...))"
            raise ConfigurationError(msg)
        self._inner = inner
        self._cache = cache
        self._identity = identity

    @property
    def identity(self) -> str:
        """The current caller identity."""
        return self._identity() if callable(self._identity) else self._identity

    @property
    def cache(self) -> DiskCache:
        """The cache this transport uses."""
        return self._cache

    def close(self) -> None:
        """Close the inner transport."""
        self._inner.close()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        """Answer ``request`` from the cache, by revalidation, or from the network."""
        cache = self._cache
        if request.method.upper() != "GET":
            if cache.offline:
                msg = (
                    f"offline: cannot send {request.method} {redact_url(request.url)}; "
                    "the cache only answers GET requests. Use offline=False."
                )
                raise CacheMissError(msg)
            response = self._inner.handle_request(request)
            response.extensions = {**response.extensions, CACHE_EXTENSION: "miss"}
            return response

        key = cache.key_for(request, identity=self.identity)
        if cache.offline:
            loaded = cache._load(key, request.url)
            if loaded is None:
                return self._offline(request, key, None)
            return self._offline(request, key, loaded[0], digest=loaded[1])

        # A caller's own conditional or range request is forwarded untouched and not stored.
        bypass = any(name in request.headers for name in _BYPASS_REQUEST_HEADERS)
        # A retry after a broken body asks for the origin's bytes: no lookup, no revalidation
        # (a 304 would confirm the broken body); the new response replaces the entry.
        refetch = bool(request.extensions.get(_REFETCH_EXTENSION))
        if bypass or refetch:
            loaded = None
        elif key in self._absent(request):
            loaded = cache._load(key, request.url, stored=False)  # only what is yet to be written
        else:
            loaded = cache._load(key, request.url)
        entry, digest = loaded if loaded is not None else (None, None)
        if entry is not None and is_fresh(entry, cache.clock(), request_headers=request.headers):
            return self._from_entry(request, key, entry, "hit", digest=digest)

        send = request
        if entry is not None and entry.has_validator:
            headers = request.headers.copy()
            headers.update(conditional_headers(entry))
            send = httpx.Request(
                request.method, request.url, headers=headers, extensions=request.extensions
            )

        request_time = cache.clock()
        response = self._inner.handle_request(send)

        if entry is not None and send is not request and response.status_code == 304:
            try:
                response.read()
            finally:
                response.close()
            now = cache.clock()
            refreshed = refresh_from_304(entry, response.headers, now, request_time=request_time)
            if is_storable("GET", refreshed.status, refreshed.headers):
                digest = cache.set(key, refreshed, keep_extras=True)
            else:
                cache.delete(key)
                digest = None
            return self._from_entry(
                request,
                key,
                refreshed,
                "revalidated",
                extensions=response.extensions,
                digest=digest,
            )

        try:
            body = response.read()
        finally:
            response.close()
        response_time = cache.clock()
        stored: str | None = None
        if not bypass and should_store(
            "GET",
            response.status_code,
            response.headers,
            response_time=response_time,
            request_headers=request.headers,
            keep_unreusable=cache.keep_unreusable,
        ):
            stored = cache.set(
                key,
                CacheEntry(
                    status=response.status_code,
                    headers=storable_headers(response.headers),
                    body=body,
                    request_time=request_time,
                    response_time=response_time,
                    url=redact_url(request.url),
                ),
                later=True,
            )
        elif entry is not None and response.status_code == 200:
            cache.delete(key)  # superseded by a response that may not be stored
        passed_on = [
            (k, v) for k, v in response.headers.multi_items() if k.lower() not in _ENCODING_HEADERS
        ]
        extensions = {**response.extensions, CACHE_EXTENSION: "miss", CACHE_KEY_EXTENSION: key}
        if stored is not None:
            extensions[CACHE_BODY_EXTENSION] = stored
        return httpx.Response(
            response.status_code,
            headers=passed_on,
            content=body,
            request=request,
            extensions=extensions,
        )

    def _absent(self, request: httpx.Request) -> frozenset[str]:
        """Keys of ``request``'s sibling pages (``PAGE_SIBLINGS_EXTENSION``) the cache does not
        hold, found with one query by whichever page asks first.

        Looked up one by one, each page of a cold listing waited for the GIL between its SQLite
        calls while the parse threads held it (~4 % of a cold load of three leave listings).
        Pages asking while the query runs look themselves up. An entry stored after the query
        (by another process) is missed: that page is fetched and stored again.
        """
        siblings: Any = request.extensions.get(PAGE_SIBLINGS_EXTENSION)
        if siblings is None:
            return frozenset()
        absent: frozenset[str] | None = siblings.absent
        if absent is not None or not siblings.lock.acquire(blocking=False):
            return absent or frozenset()
        try:
            if siblings.absent is None:
                try:
                    siblings.absent = self._find_absent(request, siblings.page_params)
                except Exception:  # an optimisation: every page looks itself up instead
                    _log.debug("the sibling pages could not be looked up at once", exc_info=True)
                    siblings.absent = frozenset()
            return siblings.absent
        finally:
            siblings.lock.release()

    def _find_absent(
        self, request: httpx.Request, page_params: Sequence[Mapping[str, Any]]
    ) -> frozenset[str]:
        accept = normalize_accept(request.headers.get("accept"))
        keys = [
            _key_of(request.method, url, accept, self.identity)
            for url in _merged_urls(request.url, page_params)
        ]
        present = self._cache._store_times(keys)
        if present is None:
            return frozenset()
        return frozenset(keys).difference(present)

    def _offline(
        self,
        request: httpx.Request,
        key: str,
        entry: CacheEntry | None,
        *,
        digest: str | None = None,
    ) -> httpx.Response:
        if entry is None:
            msg = (
                f"offline: nothing is cached for GET {redact_url(request.url)} "
                "(for this login/API key and Accept version). Run the same load once with "
                "offline=False and the cache enabled to fill it, then work offline."
            )
            raise CacheMissError(msg)
        now = self._cache.clock()
        if is_fresh(entry, now):
            return self._from_entry(request, key, entry, "hit", digest=digest)
        age = current_age(entry, now)
        lifetime = freshness_lifetime(entry) or 0.0
        warnings.warn(
            CacheWarning(
                f"offline: serving a stale cached response for GET {redact_url(request.url)} "
                f"({_human(age)} old, stale for {_human(age - lifetime)}); go online to refresh it"
            ),
            stacklevel=2,
        )
        return self._from_entry(request, key, entry, "stale", digest=digest)

    def _from_entry(
        self,
        request: httpx.Request,
        key: str,
        entry: CacheEntry,
        state: str,
        *,
        extensions: Mapping[str, Any] | None = None,
        digest: str | None = None,
    ) -> httpx.Response:
        age = str(int(current_age(entry, self._cache.clock())))
        headers = [(k, v) for k, v in entry.headers if k.lower() != "age"] + [("age", age)]
        ext = {**(extensions or {}), CACHE_EXTENSION: state, CACHE_KEY_EXTENSION: key}
        if digest is not None:
            ext[CACHE_BODY_EXTENSION] = digest
        return httpx.Response(
            entry.status,
            headers=headers,
            content=entry.body,
            request=request,
            extensions=ext,
        )


# --------------------------------------------------------------------------- CLI helpers


def _empty_info(path: Path) -> dict[str, Any]:
    return {
        "directory": str(path),
        "exists": False,
        "entries": 0,
        "extras": 0,
        "size_bytes": 0,
        "size_limit": None,
        "offline": False,
    }


def cache_info(directory: str | os.PathLike[str] | None = None) -> dict[str, Any]:
    """:meth:`DiskCache.info` for ``directory`` (default folder), without creating it.

    Returns
    -------
    dict
        As :meth:`DiskCache.info`; ``exists`` is ``False`` (and counts 0) for a missing folder.
    """
    flush_background_writes()  # responses this process stored a moment ago are counted
    path = _resolve(directory)
    if not path.is_dir():
        return _empty_info(path)
    with DiskCache(path, size_limit=None) as cache:
        return cache.info()


def cache_clear(directory: str | os.PathLike[str] | None = None) -> int:
    """Empty the cache in ``directory`` (default folder); returns the number of responses removed."""
    flush_background_writes()  # nothing this process is still writing survives the clear
    path = _resolve(directory)
    if not path.is_dir():
        return 0
    with DiskCache(path, size_limit=None) as cache:
        return cache.clear()
