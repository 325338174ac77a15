"""The cache from a terminal: ``loketvalinso cache info|clear``, also on a broken cache.

:func:`cache_info` says what a cache folder holds and, when it cannot be used, what is wrong
(read without writing). :func:`cache_clear` empties it; an index too damaged for SQLite is
removed with the stored values, so the documented way out of a broken cache always works.
"""

from __future__ import annotations

import os
import sqlite3
import warnings
from pathlib import Path
from typing import Any

from loketvalinso._transport import background
from loketvalinso._transport.folder import (
    STORE_ERRORS,
    UnusableCacheError,
    existing_cache_folder,
    inspect_folder,
    reason,
    reset_folder,
    resolve_directory,
)
from loketvalinso._transport.store import DiskCache
from loketvalinso.errors import CacheWarning

__all__ = ["cache_clear", "cache_info"]


def _empty_info(path: Path, problem: str | None = None) -> dict[str, Any]:
    return {
        "directory": str(path),
        "exists": False,
        "entries": 0,
        "extras": 0,
        "size_bytes": 0,
        "size_limit": None,
        "offline": False,
        "problem": problem,
    }


def _damaged(exc: BaseException) -> bool:
    """Whether ``exc`` (or what caused it) says the SQLite index itself is damaged."""
    cause = exc.__cause__ if isinstance(exc, UnusableCacheError) else exc
    # OperationalError (a subclass) is a locked, full or read-only database, not a damaged one
    return isinstance(cause, sqlite3.DatabaseError) and not isinstance(
        cause, sqlite3.OperationalError
    )


def cache_info(directory: str | os.PathLike[str] | None = None) -> dict[str, Any]:
    """:meth:`DiskCache.info` for ``directory`` (default folder), without creating it.

    Returns
    -------
    dict
        As :meth:`DiskCache.info`; ``exists`` is ``False`` (and counts 0) for a missing folder.
        ``problem`` says what is wrong with a cache that cannot be used (a damaged index, a
        folder that cannot be read or written) and what to do; the counts are then read
        without writing, or None when they cannot be.
    """
    background.flush_background_writes()  # responses this process stored a moment ago are counted
    named = resolve_directory(directory)
    try:
        folder = existing_cache_folder(named)
    except OSError as exc:
        return _empty_info(named, f"the folder cannot be read: {reason(exc)}")
    if folder is None:
        return _empty_info(named)
    try:
        with DiskCache(folder, size_limit=None) as cache:
            return cache.info()
    except UnusableCacheError as exc:
        problem = str(exc)
    except STORE_ERRORS as exc:
        problem = f"the cache in {folder} cannot be used: {reason(exc, folder)}"
    info = {**_empty_info(folder, problem), "exists": True}
    try:
        info.update(inspect_folder(folder))
    except OSError:
        info.update(entries=None, extras=None, size_bytes=None)
    return info


def cache_clear(directory: str | os.PathLike[str] | None = None) -> int:
    """Empty the cache in ``directory`` (default folder); returns the number of responses removed.

    A damaged index (SQLite cannot read it) is removed with the stored values, nothing else of
    the folder: the cache starts empty, a :class:`~loketvalinso.errors.CacheWarning` says so,
    and the number returned is that of the stored value files removed.

    Raises
    ------
    UnusableCacheError
        The folder cannot be written (read-only, permissions): nothing was removed.
    """
    background.flush_background_writes()  # nothing this process is still writing survives the clear
    folder = existing_cache_folder(resolve_directory(directory))
    if folder is None:
        return 0
    try:
        with DiskCache(folder, size_limit=None) as cache:
            return cache.clear()
    except (UnusableCacheError, *STORE_ERRORS) as exc:
        if not _damaged(exc):
            if isinstance(exc, UnusableCacheError):
                raise
            msg = f"the cache in {folder} cannot be cleared: {reason(exc, folder)}"
            raise UnusableCacheError(msg) from exc
        detail = exc.__cause__ if isinstance(exc, UnusableCacheError) else exc
        removed = reset_folder(folder)
    warnings.warn(
        CacheWarning(
            f"the cache index in {folder} was damaged ({detail}): removed it and {removed} "
            "stored files; the cache starts empty"
        ),
        stacklevel=2,
    )
    return removed
