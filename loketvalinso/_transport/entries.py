"""The on-disk format of cache values: framed, checksummed bytes, never pickles.

An entry (a stored response), all integers big-endian::

    b"LVC\\x01" | u32 header_len | 32 bytes sha256(header) | header (JSON) | body

The JSON header holds ``v``, ``status``, ``url`` (redacted), ``request_time``,
``response_time``, ``headers`` (``[[name, value], ...]`` without secrets or hop-by-hop fields),
``body_len`` and ``body_sha256`` (of the body as received). Version 2 adds ``codec`` (``"lz4"``,
an LZ4 block) and ``stored_len``: bodies of 4 KiB and more are stored compressed, which makes a
~230 KB JSON page ~30 KB, small enough for the SQLite index itself (no file to create). Both
versions are read; the digest is always checked on the decompressed body.

An extra (a blob kept next to an entry, e.g. its parsed page as Arrow IPC)::

    b"LVX\\x01" | u32 header_len | sha256(header) | header | data

with ``name``, ``entry`` (the entry's ``body_sha256``), ``len`` and ``sha256`` in the header.

:class:`SafeDisk` is the diskcache serialiser: it refuses to pickle anything on the way in and
to unpickle anything on the way out. A value that fails any check here raises
:class:`CorruptEntryError`; the store then drops it and treats it as a miss.

:class:`SQLiteIndex` is diskcache's ``Cache`` (the SQLite index of the values) with one change:
it keeps every connection it opens (one per thread that uses it), so that ``close()`` closes
them all, not only the calling thread's.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import sqlite3
import struct
import threading
from collections.abc import Mapping, Sequence
from typing import Any

import diskcache
import lz4.block
import orjson

from loketvalinso._transport.freshness import CacheEntry, storable_headers
from loketvalinso.errors import ConfigurationError

__all__ = [
    "CorruptEntryError",
    "PiecesReader",
    "SQLiteIndex",
    "SafeDisk",
    "UnsafeValueError",
    "decode_entry",
    "encode_entry",
]

ENTRY_MAGIC = b"LVC\x01"
EXTRA_MAGIC = b"LVX\x01"
PREFIX = struct.Struct(">4sI32s")
FORMAT_VERSION = 1
#: Entries with a compressed body (``codec``/``stored_len`` in the header).
_COMPRESSED_VERSION = 2
_READABLE_VERSIONS = frozenset({FORMAT_VERSION, _COMPRESSED_VERSION})
#: Bodies at least this long are stored LZ4-compressed (when that saves a tenth or more).
_COMPRESS_MIN = 4096
#: Largest entry header :func:`peek_entry` reads (headers are a few hundred bytes).
_MAX_PEEK = 1 << 20


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


class SQLiteIndex(diskcache.Cache):
    """diskcache's ``Cache`` whose SQLite connections can all be closed at once.

    diskcache opens one connection per thread (thread-local) and ``close()`` closes the calling
    thread's only, so the connections of a load's worker threads stayed open, three file handles
    each, for as long as the object and the threads lived. Here every connection is opened with
    ``check_same_thread=False`` and kept in a list; :meth:`close` closes all of them and forgets
    the thread-local ones, so a thread that uses the index afterwards opens a new one.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._connections: list[tuple[int, sqlite3.Connection]] = []
        self._connections_lock = threading.Lock()
        super().__init__(*args, **kwargs)

    @property
    def _con(self) -> sqlite3.Connection:
        local = self._local
        con = getattr(local, "con", None)
        pid = os.getpid()
        if con is not None and getattr(local, "pid", None) == pid:
            return con
        # as diskcache does: a new connection per thread, and after a fork
        con = sqlite3.connect(
            os.path.join(self._directory, diskcache.core.DBNAME),
            timeout=self._timeout,
            isolation_level=None,
            check_same_thread=False,
        )
        with self._connections_lock:
            self._connections.append((pid, con))
        local.con, local.pid = con, pid
        try:
            settings = con.execute("SELECT key, value FROM Settings").fetchall()
        except sqlite3.OperationalError:
            pass
        else:
            # Some SQLite pragmas hold per connection.
            for key, value in settings:
                if key.startswith("sqlite_"):
                    self.reset(key, value, update=False)
        return con

    def close(self) -> None:
        """Close every connection this index opened in this process (reopened on next use)."""
        pid = os.getpid()
        with self._connections_lock:
            mine = [con for owner, con in self._connections if owner == pid]
            self._connections = []
            self._local = threading.local()
        for con in mine:
            with contextlib.suppress(sqlite3.Error):
                con.close()

    @property
    def open_connections(self) -> int:
        """How many connections are open (for tests and ``cache info``)."""
        with self._connections_lock:
            return len(self._connections)


def _frame(magic: bytes, header: Mapping[str, Any], payload: bytes) -> bytes:
    return frame_lead(magic, header) + payload


def frame_lead(magic: bytes, header: Mapping[str, Any]) -> bytes:
    """What :func:`_frame` puts before the payload."""
    head = orjson.dumps(dict(header))
    return PREFIX.pack(magic, len(head), hashlib.sha256(head).digest()) + head


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


def blob_pieces(data: object) -> list[bytes]:
    """``data`` (bytes-like, or a sequence of them) as a list of ``bytes`` pieces."""
    blob_types = (bytes, bytearray, memoryview)
    pieces = [data] if isinstance(data, blob_types) else data
    if isinstance(pieces, Sequence) and all(isinstance(piece, blob_types) for piece in pieces):
        return [piece if type(piece) is bytes else bytes(piece) for piece in pieces]
    msg = f"extra data must be bytes (or a sequence of bytes pieces), not {type(data).__name__}"
    raise ConfigurationError(msg)


def unframe(magic: bytes, data: object) -> tuple[dict[str, Any], memoryview]:
    if not isinstance(data, bytes):
        msg = f"value is {type(data).__name__}, not bytes"
        raise CorruptEntryError(msg)
    if len(data) < PREFIX.size:
        msg = "value is truncated (no header)"
        raise CorruptEntryError(msg)
    got_magic, head_len, head_digest = PREFIX.unpack_from(data)
    if got_magic != magic:
        msg = "unknown value format"
        raise CorruptEntryError(msg)
    view = memoryview(data)
    head = view[PREFIX.size : PREFIX.size + head_len]
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
    return header, view[PREFIX.size + head_len :]


def _check_payload(payload: memoryview, length: object, digest: object) -> bytes:
    return check_view(payload, length, digest).tobytes()


def check_view(payload: memoryview, length: object, digest: object) -> memoryview:
    if length != len(payload):
        msg = f"payload is {len(payload)} bytes, header says {length}"
        raise CorruptEntryError(msg)
    if hashlib.sha256(payload).hexdigest() != digest:
        msg = "payload checksum mismatch"
        raise CorruptEntryError(msg)
    return payload


def encode_entry_digest(entry: CacheEntry, digest: str | None = None) -> tuple[bytes, str]:
    body = entry.body
    if digest is None:
        digest = hashlib.sha256(body).hexdigest()
    header: dict[str, Any] = {
        "v": FORMAT_VERSION,
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
    return _frame(ENTRY_MAGIC, header, payload), digest


def _entry_body(header: Mapping[str, Any], payload: memoryview) -> bytes:
    """The body of an entry, decompressed if needed and checked against its length and digest."""
    if header.get("v") == FORMAT_VERSION:
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
    check_view(memoryview(body), length, header.get("body_sha256"))
    return body


def decode_entry_digest(data: object) -> tuple[CacheEntry, str]:
    header, payload = unframe(ENTRY_MAGIC, data)
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


def peek_entry(raw: Any) -> tuple[CacheEntry, str] | None:
    """The entry without its body, and its body digest, from only the header of a stored value
    (bytes, or a file diskcache opened: it is closed); None when it is unreadable."""
    try:
        if isinstance(raw, bytes):
            head = raw[: PREFIX.size + _MAX_PEEK]
        else:
            with raw:
                prefix = raw.read(PREFIX.size)
                if len(prefix) < PREFIX.size:
                    return None
                _, head_len, _ = PREFIX.unpack_from(prefix)
                if head_len > _MAX_PEEK:
                    return None
                head = prefix + raw.read(head_len)
        header, _ = unframe(ENTRY_MAGIC, bytes(head))
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
    return (entry, digest) if isinstance(digest, str) else None


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
    return encode_entry_digest(entry)[0]


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
    return decode_entry_digest(data)[0]
