"""The cache's store: a private folder of pickle-free, checksummed responses, shared between
processes and between clients.

:class:`DiskCache` is a :mod:`diskcache` SQLite index in a folder only the user can read (mode
0700, under ``platformdirs.user_cache_dir`` unless given). Keys are ``str`` (a sha256 hex digest,
see :mod:`~loketvalinso._transport.keys`) and values are ``bytes`` in the framed format of
:mod:`~loketvalinso._transport.entries`. Extras (for example a parsed page as Arrow IPC) are
stored under ``x/<entry key>/<name>`` with the entry key as their diskcache tag, so deleting
the entry drops its extras, and an extra made for another body than the entry's current one is
ignored. An entry's own tag is its collection (``c/leaverequest``, see
:func:`~loketvalinso._transport.keys.collection_tag`): a write drops every entry of what it
changed in one indexed query (:meth:`DiskCache.drop_collections`).

New responses are stored with ``DiskCache.set(..., later=True)``: encoded at once, held in memory
as compressed bytes, and written by the one background writer, several per SQLite transaction,
once the load in progress has returned (:mod:`~loketvalinso._transport.background`; sooner past
``MAX_HOLD_SECONDS`` or ``MAX_HOLD_BYTES`` held). Until then every cache of the process on that
folder answers them from memory, and ``flush()``, ``close()`` and interpreter exit write what is
pending.

A value that fails any check (magic, lengths, digests, JSON, a pickled or non-bytes value) is
deleted with a :class:`~loketvalinso.errors.CacheWarning` and treated as a miss.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import re
import threading
import time
import warnings
import weakref
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import httpx

from loketvalinso._transport import background
from loketvalinso._transport.entries import (
    ENTRY_MAGIC,
    EXTRA_MAGIC,
    FORMAT_VERSION,
    CorruptEntryError,
    PiecesReader,
    SafeDisk,
    SQLiteIndex,
    UnsafeValueError,
    blob_pieces,
    check_view,
    decode_entry_digest,
    encode_entry_digest,
    frame_lead,
    peek_entry,
    unframe,
)
from loketvalinso._transport.folder import (
    STORE_ERRORS,
    UnusableCacheError,
    cache_folder,
    default_directory,
    guarded,
    path_error,
    reason,
    resolve_directory,
)
from loketvalinso._transport.freshness import (
    CacheEntry,
    current_age,
    freshness_lifetime,
    is_fresh,
)
from loketvalinso._transport.keys import cache_key, collection_tag
from loketvalinso.errors import CacheWarning, ConfigurationError, redact_url

__all__ = ["DiskCache", "UnusableCacheError", "default_directory"]

_T = TypeVar("_T")

_EXTRA_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
_DEFAULT_SIZE_LIMIT = 2**30
_MEMO_SIZE = 8192

# Every open DiskCache of this process, by folder: a cache reads (and flushes) what the others
# on its folder hold pending, so two clients on one folder see each other's pages at once,
# though the writer holds them back while a load is in progress.
_CACHES_BY_FOLDER: dict[Path, weakref.WeakSet[DiskCache]] = {}
_CACHES_LOCK = threading.Lock()


# -- the cache -----------------------------------------------------------------------------------


class DiskCache:
    """A private, pickle-free disk cache of HTTP responses, shared safely between processes.

    Parameters
    ----------
    directory : str or PathLike, optional
        The folder; default ``platformdirs.user_cache_dir("loketvalinso")``. ``~`` and
        ``$VARIABLES`` are expanded (an unset one is an error). Created with mode 0700 and a
        marker file; a folder the toolkit made that was opened to others is tightened back with
        a ``CacheWarning``.
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

    Notes
    -----
    A folder of the user's that the toolkit did not make keeps its mode: the cache goes in a
    private subfolder ``loketvalinso-cache`` inside it (``directory`` says where). When the
    folder fails while in use (a full disk, a damaged index, made read-only), the cache warns
    once (:class:`~loketvalinso.errors.CacheWarning`) and answers every later call with a miss.

    Raises
    ------
    ConfigurationError
        A bad ``size_limit``, or a path that cannot be a folder (empty, a file in the way, an
        unset ``$VARIABLE``).
    UnusableCacheError
        The folder cannot be opened or written now (a subclass of ConfigurationError).
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
            # of them, as peak memory.
            "sqlite_cache_size": 256,
            "sqlite_mmap_size": 0,
        }
        if size_limit is not None:
            if isinstance(size_limit, bool) or not isinstance(size_limit, int) or size_limit < 1:
                msg = f"size_limit must be a positive number of bytes, not {size_limit!r}"
                raise ConfigurationError(msg)
            settings["size_limit"] = size_limit
        named = resolve_directory(directory)
        self._directory = named
        try:
            self._directory = cache_folder(named)
            self._cache = SQLiteIndex(str(self._directory), disk=SafeDisk, **settings)
        except STORE_ERRORS as exc:
            wrong_path = path_error(named, exc) if isinstance(exc, OSError) else None
            if wrong_path is not None:
                raise wrong_path from exc
            msg = f"the cache in {self._directory} cannot be used: {reason(exc, self._directory)}"
            raise UnusableCacheError(msg) from exc
        #: why the folder stopped working (None while it works); see _guarded
        self._failure: str | None = None
        self._failure_lock = threading.Lock()
        self.offline = bool(offline)
        self.clock = clock
        self.keep_unreusable = bool(keep_unreusable)
        self._memo: OrderedDict[str, str] = OrderedDict()
        self._memo_lock = threading.Lock()
        # entries stored with later=True, not yet on disk: key → (the entry without its body,
        # body digest, the encoded entry). Encoded (compressed) at once, so a walk's bodies are
        # not held while the writer waits for the walk to end (see loketvalinso._transport.background).
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
        """Write pending entries and close every SQLite connection, of every thread (reopened
        on next use)."""
        try:
            self.flush()
        except Exception as exc:  # the responses were served; only their copies are lost
            warnings.warn(
                CacheWarning(f"could not write cached responses on close: {type(exc).__name__}"),
                stacklevel=2,
            )
        self._cache.close()

    @property
    def failure(self) -> str | None:
        """Why this cache stopped working (None while it works)."""
        return self._failure

    def switch_off(self, exc: BaseException) -> None:
        """Turn the cache off after its folder failed (``exc``): warn once, drop what is pending;
        every later call is a miss (see :func:`~loketvalinso._transport.folder.guarded`)."""
        with self._failure_lock:
            if self._failure is not None:
                return
            self._failure = reason(exc, self._directory)
        with self._pending_lock:
            released = sum(len(item[2]) for item in self._pending.values())
            self._pending.clear()
            self._held_since = None
        background.hold(-released)
        warnings.warn(
            CacheWarning(
                f"the cache in {self._directory} stopped working and is switched off for this "
                f"session ({self._failure}); loading goes on without it"
            ),
            stacklevel=4,
        )

    # -- deferred writes

    @guarded(None)
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
        :data:`~loketvalinso._transport.background.WRITE_BATCH` entries, waiting before each one while a load is in progress."""
        with self._pending_lock:
            self._writer_queued = False  # what comes in from now on needs a job of its own
        while self._pending:
            # An entry waits MAX_HOLD_SECONDS at most (then the writer keeps up with a long
            # load instead of holding all of it), less with too much held.
            since = self._held_since
            held_for = time.monotonic() - since if since is not None else 0.0
            background.wait_until_quiet(
                timeout=background.MAX_HOLD_SECONDS - held_for, give_up=background.holding_too_much
            )
            self._write_pending(limit=background.WRITE_BATCH)

    @guarded(None)
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
                    for key, (head, _, data) in batch.items():
                        self._evict_tag(key)
                        self._cache.set(key, data, tag=collection_tag(head.url), retry=True)
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
                background.hold(-released)

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

    @guarded(None)
    def load_entry(
        self, key: str, url: object = None, *, stored: bool = True
    ) -> tuple[CacheEntry, str] | None:
        """The entry under ``key`` and its body digest (``stored=False``: only one still to be
        written, without a read from SQLite)."""
        pending = self._pending_entry(key)
        if pending is not None:
            return decode_entry_digest(pending[2])  # the bytes that are to be written
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
            entry, digest = decode_entry_digest(raw)
        except CorruptEntryError as exc:
            self._drop(key, str(exc), url or _url_hint(raw))
            return None
        self._remember(key, digest)
        return entry, digest

    @guarded(None)
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
        peeked = peek_entry(raw)
        if peeked is None:
            return None
        entry, digest = peeked
        return digest if is_fresh(entry, self.clock()) else None

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
        loaded = self.load_entry(key, url)
        return None if loaded is None else loaded[0]

    @guarded(None)
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
            :meth:`flush`, :meth:`close` and interpreter exit write it. The walk's fetch
            threads store pages this way, so they do not queue for SQLite's write lock.

        Returns
        -------
        str
            The sha256 hex digest of the stored body.
        """
        if later and not keep_extras:
            data, digest = encode_entry_digest(entry)
            head = dataclasses.replace(entry, body=b"")
            with self._pending_lock:
                replaced = self._pending.get(key)
                self._pending[key] = (head, digest, data)
                if self._held_since is None:
                    self._held_since = time.monotonic()
                queue_writer, self._writer_queued = not self._writer_queued, True
            background.hold(len(data) - (len(replaced[2]) if replaced is not None else 0))
            self._remember(key, digest)
            if queue_writer:
                try:
                    background.submit_background_write(self._write_in_background)
                except BaseException:
                    with self._pending_lock:
                        self._writer_queued = False
                    raise
            return digest
        self.flush()
        data, digest = encode_entry_digest(entry)
        with self._cache.transact(retry=True):
            if not keep_extras:
                self._evict_tag(key)
            self._cache.set(key, data, tag=collection_tag(entry.url), retry=True)
            self._note_written({key: (entry, digest)})
        self._remember(key, digest)
        return digest

    def _note_written(self, written: Mapping[str, tuple[CacheEntry, str]]) -> None:
        """Remember the store time, digest and freshness deadline of entries just written
        (inside their transaction)."""
        times = self.store_times(list(written)) or {}
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
        """Drop the extras of the entry under ``key``, if there are any (the entry row itself is
        tagged with its collection, :func:`~loketvalinso._transport.keys.collection_tag`).

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

    def store_times(self, keys: list[str]) -> dict[str, float] | None:
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

    @guarded(None)
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

    @guarded(False)
    def stamps_hold(self, stamps: Mapping[str, tuple[float, float]]) -> bool:
        """Whether every entry is still the one stamped (same ``store_time``) and still fresh.

        A replaced, refreshed (304) or evicted entry changes or loses its ``store_time``, so
        the caller then checks entries one by one (:meth:`fresh_digest`).
        """
        now = self.clock()
        if any(now >= deadline for _, deadline in stamps.values()):
            return False
        stored = self.store_times(list(stamps))
        if stored is None:
            return False
        return all(stored.get(k) == t for k, (t, _) in stamps.items())

    @guarded(0)
    def drop_collections(self, tags: Sequence[str]) -> int:
        """Remove every entry (and its extras) of the collections ``tags``, for every caller.

        A write calls this with :func:`~loketvalinso._transport.keys.resource_tags` of what it
        changed, so the next read of the resource, or of a listing that holds it, goes to the
        server. Entries still waiting for the background writer are written first, then dropped.

        Returns
        -------
        int
            The number of entries removed.
        """
        wanted = set(tags)
        if not wanted:
            return 0
        self.flush()  # pending entries are written (and tagged) first
        marks = ",".join("?" * len(wanted))
        try:
            rows = self._cache._sql(
                f"SELECT key FROM Cache WHERE tag IN ({marks})", sorted(wanted)
            ).fetchall()
        except Exception:  # an unexpected diskcache layout: empty the cache rather than serve stale
            return self.clear()
        keys = {str(k) for (k,) in rows}
        for key in keys:
            self._cache.delete(key, retry=True)
            self._cache.evict(key, retry=True)
            self._remember(key, None)
            with self._memo_lock:
                self._written.pop(key, None)
        return len(keys)

    @guarded(False)
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
        loaded = self.load_entry(key)
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

    @guarded(None)
    def get_extra_view(
        self, key: str, name: str, *, entry_sha256: str | None = None
    ) -> memoryview | None:
        """As :meth:`get_extra`, as a read-only view of the stored value (no copy of a big blob)."""
        background.flush_background_writes()  # an extra kept moments ago in the background is read
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
            header, payload = unframe(EXTRA_MAGIC, raw)
            data = check_view(payload, header.get("len"), header.get("sha256"))
        except CorruptEntryError as exc:
            self._drop(extra_key, f"extra {name!r}: {exc}")
            return None
        if header.get("name") != name or header.get("entry") != digest:
            return None
        return data

    @guarded(False)
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
        pieces = blob_pieces(data)
        self.flush()
        digest = self._entry_digest(key)
        if digest is None or (entry_sha256 is not None and digest != entry_sha256):
            return False
        blob_digest = hashlib.sha256()
        for piece in pieces:
            blob_digest.update(piece)
        length = sum(len(piece) for piece in pieces)
        header = {
            "v": FORMAT_VERSION,
            "name": name,
            "entry": digest,
            "len": length,
            "sha256": blob_digest.hexdigest(),
        }
        framed = [frame_lead(EXTRA_MAGIC, header), *pieces]
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
            ``offline``, ``problem`` (why the cache stopped working, or None).
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
            "problem": self._failure,
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


def _url_hint(raw: object) -> str | None:
    """Best-effort URL from a corrupt entry's header (for the warning only)."""
    try:
        header, _ = unframe(ENTRY_MAGIC, raw)
    except CorruptEntryError:
        return None
    url = header.get("url")
    return url if isinstance(url, str) else None
