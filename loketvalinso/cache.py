"""The disk cache of HTTP responses, for users who manage it themselves.

>>> import loketvalinso as lv
>>> cache = lv.cache.DiskCache("~/lv-cache", offline=False)
>>> loket = lv.Loket(environment="production", cache=cache, ...)
>>> lv.cache.cache_info("~/lv-cache")["entries"]

Clients open the default folder themselves (``cache=True``); pass a folder or a
:class:`DiskCache` to choose another, and ``cache=False`` for none. ``loketvalinso cache
info|clear`` does the same from a terminal.
"""

from __future__ import annotations

from loketvalinso._transport.manage import cache_clear, cache_info
from loketvalinso._transport.store import DiskCache, default_directory

__all__ = ["DiskCache", "cache_clear", "cache_info", "default_directory"]
