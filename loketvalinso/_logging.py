"""The ``loketvalinso`` logger tree, and one call to see it in a notebook.

=========================  =======  ======================================================
logger                     level    what it says
=========================  =======  ======================================================
``loketvalinso.retry``     INFO     every retry, every pause a 429 / ``Retry-After``
                                    imposes, every give-up
``loketvalinso.auth``      INFO     logins, token refreshes, who is logged in (never a
                                    token)
``loketvalinso.load``      INFO     each load's page plan and why its paging stopped
``loketvalinso.cache``     DEBUG    every cache decision (hit, reused, revalidated, miss,
                                    stored or not)
=========================  =======  ======================================================

URLs are redacted (:func:`~loketvalinso.errors.redact_url`). The package's root logger has a
:class:`logging.NullHandler`, so nothing is printed unless the application configures logging
or calls :func:`enable_logging`.
"""

from __future__ import annotations

import logging
import sys
from typing import TextIO

from loketvalinso.errors import ConfigurationError

__all__ = ["ROOT_LOGGER", "enable_logging"]

#: The root of the package's logger tree.
ROOT_LOGGER = "loketvalinso"
_FORMAT = "%(asctime)s %(levelname)-5s %(name)s: %(message)s"


class _OwnHandler(logging.StreamHandler):
    """The handler :func:`enable_logging` adds (so a second call replaces it)."""


def enable_logging(level: int | str = "INFO", *, stream: TextIO | None = None) -> logging.Handler:
    """Show the toolkit's log lines (in a notebook: under the cell), at ``level`` and above.

    Calling it again changes the level (the handler is replaced, never doubled). Only the
    ``loketvalinso`` loggers are affected: httpx and the rest of the application keep their
    settings.

    Parameters
    ----------
    level
        ``"DEBUG"`` (cache decisions too), ``"INFO"`` (retries, 429 waits, token refreshes,
        page plans), ``"WARNING"``, … or a :mod:`logging` level number.
    stream
        Where to write (default: ``sys.stderr``).

    Returns
    -------
    logging.Handler
        The handler added to the ``loketvalinso`` logger.

    Examples
    --------
    >>> import loketvalinso as lv
    >>> lv.enable_logging("INFO")  # doctest: +SKIP
    """
    if isinstance(level, str):
        name = level.strip().upper()
        numeric = logging.getLevelName(name)
        if not isinstance(numeric, int):
            msg = f"unknown logging level {level!r}: use DEBUG, INFO, WARNING or ERROR"
            raise ConfigurationError(msg)
        level = numeric
    root = logging.getLogger(ROOT_LOGGER)
    for handler in [h for h in root.handlers if isinstance(h, _OwnHandler)]:
        root.removeHandler(handler)
    handler = _OwnHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(logging.Formatter(_FORMAT, datefmt="%H:%M:%S"))
    handler.setLevel(level)
    root.addHandler(handler)
    root.setLevel(level)
    return handler


logging.getLogger(ROOT_LOGGER).addHandler(logging.NullHandler())
