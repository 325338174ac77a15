"""The cache's folder: where it is, that only the user can read it, and what to do when it breaks.

The folder a user names is resolved strictly (:func:`resolve_directory`): an empty path is
refused (it would mean the working directory), ``~`` and ``$VARS`` are expanded only when they
can be, and a variable that is not set is an error, not a folder named ``$UNSET``.

The toolkit keeps its cache in a folder it made itself, marked with a small file
(:data:`MARKER`), mode 0700. It never changes the mode of a folder it did not make: named an
existing folder of the user's (their home, the working directory, a shared folder), it puts the
cache in a subfolder of its own (:data:`SUBFOLDER`) instead (:func:`cache_folder`). An existing
folder that is empty and already private is taken as it is.

When the SQLite index is damaged, :func:`inspect_folder` reads what it can without writing and
:func:`reset_folder` removes the index and the stored values (nothing else), so that
``loketvalinso cache info|clear`` work on a broken cache too.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import os
import re
import sqlite3
import stat
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol, TypeVar
from urllib.parse import quote

import diskcache
import platformdirs

from loketvalinso.errors import CacheMissError, CacheWarning, ConfigurationError

__all__ = [
    "INDEX",
    "MARKER",
    "STORE_ERRORS",
    "SUBFOLDER",
    "UnusableCacheError",
    "cache_folder",
    "default_directory",
    "existing_cache_folder",
    "guarded",
    "inspect_folder",
    "path_error",
    "reason",
    "reset_folder",
    "resolve_directory",
]

#: The file that says "the toolkit made this folder" (and may keep it private).
MARKER = ".loketvalinso-cache"
#: The subfolder the cache goes in when the folder named is someone else's.
SUBFOLDER = "loketvalinso-cache"
#: diskcache's SQLite index, and the files SQLite keeps beside it.
INDEX = "cache.db"
_INDEX_FILES = (INDEX, f"{INDEX}-wal", f"{INDEX}-shm", f"{INDEX}-journal")
_MARKER_TEXT = (
    "This folder is a loketvalinso cache, made by the toolkit (mode 700).\n"
    "Empty it with: loketvalinso cache clear --dir <this folder>\n"
)
#: ``$NAME`` or ``${NAME}`` in a path.
_VARIABLE = re.compile(r"\$(\w+)|\$\{([^}]*)\}")
#: Errors that mean the path itself cannot be a folder (not a permission or a full disk).
_PATH_ERRNOS = frozenset(
    {errno.ENOTDIR, errno.EEXIST, errno.ENAMETOOLONG, errno.EINVAL, errno.ELOOP, errno.ENOENT}
)


#: What a cache that cannot be used raises: SQLite (a damaged index, a full disk, a read-only
#: folder), the file system, and diskcache giving up on a locked database.
STORE_ERRORS = (sqlite3.Error, OSError, diskcache.Timeout)


class UnusableCacheError(ConfigurationError):
    """The cache folder cannot be opened or written (permissions, a full or read-only disk, a
    damaged index). Clients catch it, warn once and load without the cache."""


def _writable(folder: Path) -> bool:
    try:
        read_only = bool(os.statvfs(folder).f_flag & os.ST_RDONLY)
    except (OSError, AttributeError):
        read_only = False
    return not read_only and os.access(folder, os.W_OK)


def reason(exc: BaseException, folder: Path | None = None) -> str:
    """What went wrong, in words, with what to do about it (``folder``: the cache folder, to
    tell a read-only one from other failures SQLite reports alike)."""
    text = str(exc).strip() or type(exc).__name__
    if isinstance(exc, OSError) and exc.strerror:
        text = exc.strerror
    lowered = text.lower()
    if isinstance(exc, sqlite3.DatabaseError) and (
        "not a database" in lowered or "malformed" in lowered or "corrupt" in lowered
    ):
        return f"its index is damaged ({text}); run `loketvalinso cache clear` to reset it"
    if "disk is full" in lowered or (isinstance(exc, OSError) and exc.errno == errno.ENOSPC):
        return f"the disk is full ({text}); free some space, or pass cache=<another folder>"
    if (
        "readonly" in lowered
        or "read-only" in lowered
        or isinstance(exc, PermissionError)
        or (folder is not None and folder.is_dir() and not _writable(folder))
    ):
        return (
            f"it cannot be written ({text}); make it writable, or pass cache=<another folder> "
            "(or cache=False)"
        )
    return f"{type(exc).__name__}: {text}; pass cache=<another folder>, or cache=False"


class SwitchesOff(Protocol):
    """A cache that turns itself off when its folder fails (the store's ``DiskCache``)."""

    offline: bool

    @property
    def directory(self) -> Path: ...

    @property
    def failure(self) -> str | None: ...

    def switch_off(self, exc: BaseException) -> None: ...


_T = TypeVar("_T")


def guarded(default: Any) -> Callable[[Callable[..., _T]], Callable[..., _T]]:
    """Run a cache method; when the folder fails it (:data:`STORE_ERRORS`), the cache switches
    itself off (one :class:`~loketvalinso.errors.CacheWarning`) and this and every later call
    returns ``default``: a miss, nothing stored. Offline, where nothing else can answer, it
    raises :class:`~loketvalinso.errors.CacheMissError` instead."""

    def wrap(method: Callable[..., _T]) -> Callable[..., _T]:
        @functools.wraps(method)
        def run(self: SwitchesOff, *args: Any, **kwargs: Any) -> Any:
            if self.failure is None:
                try:
                    return method(self, *args, **kwargs)
                except STORE_ERRORS as exc:
                    self.switch_off(exc)
            if self.offline:
                msg = (
                    f"offline: no response can be served, the cache in {self.directory} cannot "
                    f"be read: {self.failure}"
                )
                raise CacheMissError(msg)
            return default

        return run

    return wrap


def default_directory() -> Path:
    """The default cache folder: ``platformdirs.user_cache_dir("loketvalinso")``."""
    return Path(platformdirs.user_cache_dir("loketvalinso"))


def resolve_directory(directory: str | os.PathLike[str] | None) -> Path:
    """The folder a user named: ``None`` is the default one; ``~`` and ``$VARS`` expanded.

    Raises
    ------
    ConfigurationError
        An empty path, a variable that is not set (or empty), a ``~user`` that does not exist,
        or something that is not a path.
    """
    if directory is None:
        return default_directory()
    try:
        raw = os.fspath(directory)
    except TypeError:
        msg = f"the cache folder must be a path, not {type(directory).__name__}"
        raise ConfigurationError(msg) from None
    text = os.fsdecode(raw)
    if not text.strip():
        msg = (
            "the cache folder is an empty path (that would be the working directory): pass a "
            "folder such as cache='~/lv-cache', cache=True for the default one, or cache=False"
        )
        raise ConfigurationError(msg)
    if "\0" in text:
        msg = "the cache folder path contains a NUL character"
        raise ConfigurationError(msg)
    for match in _VARIABLE.finditer(text):
        name = match.group(1) or match.group(2)
        if not os.environ.get(name):
            msg = (
                f"the cache folder {text!r} uses ${name}, which is not set (or empty): set the "
                "environment variable, or write the folder out"
            )
            raise ConfigurationError(msg)
    expanded = os.path.expandvars(os.path.expanduser(text))
    if expanded.startswith("~"):
        msg = f"cannot expand {text!r}: there is no such user or home folder; write the folder out"
        raise ConfigurationError(msg)
    return Path(expanded)


def path_error(path: Path, exc: OSError) -> ConfigurationError | None:
    """A ConfigurationError when ``exc`` says ``path`` cannot be a folder at all (a file in the
    way, a name too long); None when the folder is fine but unusable now (permissions, a full
    or read-only disk), which the client survives without its cache."""
    if exc.errno not in _PATH_ERRNOS:
        return None
    reason = exc.strerror or type(exc).__name__
    msg = f"cannot make the cache folder {path} ({reason}): pass another folder, or cache=False"
    return ConfigurationError(msg)


def _private(path: Path) -> bool:
    return os.name == "nt" or not stat.S_IMODE(path.stat().st_mode) & 0o077


def _owned(path: Path) -> bool:
    """Whether the toolkit made ``path``: its marker, or (a cache from before the marker) its
    index."""
    return (path / MARKER).is_file() or (path / INDEX).is_file()


def _mark(path: Path) -> None:
    marker = path / MARKER
    if not marker.exists():
        marker.write_text(_MARKER_TEXT)


def _keep_private(path: Path) -> None:
    """Tighten a folder the toolkit made back to 0700 (someone opened it up)."""
    if _private(path):
        return
    mode = stat.S_IMODE(path.stat().st_mode)
    try:
        path.chmod(0o700)
    except OSError as exc:
        msg = (
            f"cache directory {path} is readable by other users (mode {mode:o}) and cannot be "
            "made private; pass a directory you own"
        )
        raise ConfigurationError(msg) from exc
    warnings.warn(
        CacheWarning(
            f"cache directory {path} was accessible to other users (mode {mode:o}); tightened "
            "it to 700"
        ),
        stacklevel=4,
    )


def _make(path: Path) -> Path:
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    if not path.is_dir():  # pragma: no cover - mkdir raised already
        raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), str(path))
    if os.name != "nt" and not _private(path):  # made by another process meanwhile, or umask
        path.chmod(0o700)
    _mark(path)
    return path


def cache_folder(path: Path) -> Path:
    """The folder the cache of ``path`` lives in, made (private, marked) if needed.

    ``path`` itself when the toolkit made it, when it does not exist yet, or when it is empty
    and private already; else the subfolder :data:`SUBFOLDER` inside it, so that a folder of
    the user's keeps its mode and its contents.

    Raises
    ------
    ConfigurationError
        ``path`` (or the subfolder) exists and is not a folder.
    OSError
        The folder cannot be made (see :func:`path_error`).
    """
    if path.exists() and not path.is_dir():
        msg = f"cache directory {path} exists and is not a folder; pass another directory"
        raise ConfigurationError(msg)
    if not path.exists():
        return _make(path)
    if _owned(path):
        _keep_private(path)
        _mark(path)
        return path
    if _private(path) and not any(path.iterdir()):
        return _make(path)  # empty and private: nothing of anyone else's is in it
    sub = path / SUBFOLDER
    if sub.exists() and not sub.is_dir():
        msg = f"{sub} exists and is not a folder; pass another cache directory"
        raise ConfigurationError(msg)
    if sub.exists():
        _keep_private(sub)
    return _make(sub)


def existing_cache_folder(path: Path) -> Path | None:
    """Where the cache of ``path`` is, without making anything (None: there is none)."""
    if not path.is_dir():
        return None
    if _owned(path):
        return path
    sub = path / SUBFOLDER
    return sub if sub.is_dir() else None


def _size(folder: Path) -> int:
    total = 0
    for root, _, files in os.walk(folder):
        for name in files:
            with contextlib.suppress(OSError):
                total += os.stat(os.path.join(root, name)).st_size
    return total


def inspect_folder(folder: Path) -> dict[str, Any]:
    """What a cache folder holds, read without writing (for a folder that cannot be opened).

    Returns
    -------
    dict
        ``entries`` and ``extras`` (None when the index cannot be read) and ``size_bytes``.
    """
    counts: dict[str, Any] = {"entries": None, "extras": None}
    index = folder / INDEX
    for mode in ("ro", "ro&immutable=1"):
        try:
            con = sqlite3.connect(f"file:{quote(str(index))}?mode={mode}", uri=True)
        except sqlite3.Error:
            continue
        try:
            ((extras,),) = con.execute("SELECT COUNT(*) FROM Cache WHERE key LIKE 'x/%'").fetchall()
            ((every,),) = con.execute("SELECT COUNT(*) FROM Cache").fetchall()
        except sqlite3.Error:
            continue
        finally:
            con.close()
        counts = {"entries": int(every) - int(extras), "extras": int(extras)}
        break
    return {**counts, "size_bytes": _size(folder)}


def reset_folder(folder: Path) -> int:
    """Remove a cache's index and stored values from ``folder`` (nothing else); the number of
    stored value files removed. For an index too damaged to open."""
    removed = 0
    for name in _INDEX_FILES:
        with contextlib.suppress(FileNotFoundError):
            (folder / name).unlink()
    # diskcache keeps big values in files two hex levels down: ab/cd/<name>.val
    for value in folder.glob("[0-9a-f][0-9a-f]/[0-9a-f][0-9a-f]/*.val"):
        with contextlib.suppress(FileNotFoundError):
            value.unlink()
            removed += 1
    for sub in sorted(folder.glob("[0-9a-f][0-9a-f]/[0-9a-f][0-9a-f]"), reverse=True):
        with contextlib.suppress(OSError):
            sub.rmdir()
    for top in folder.glob("[0-9a-f][0-9a-f]"):
        with contextlib.suppress(OSError):
            top.rmdir()
    return removed
