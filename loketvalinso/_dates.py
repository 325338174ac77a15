"""Dates the user gives: ``YYYY-MM-DD`` for Loket, unix seconds for Valinso. One rule each."""

from __future__ import annotations

import math
import re
from datetime import UTC, date, datetime

from loketvalinso.errors import ConfigurationError

__all__ = ["ISO_DATE", "iso_date", "unix_seconds"]

#: A calendar date as the Loket API writes it (``filter`` values, version dates).
ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def iso_date(value: str | date | datetime | None, *, name: str) -> str | None:
    """``value`` as ``YYYY-MM-DD`` (None stays None); ConfigurationError naming ``name``."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, str) and ISO_DATE.match(value):
        try:
            return date.fromisoformat(value).isoformat()
        except ValueError:
            pass
    msg = f"{name} must be a date, datetime or 'YYYY-MM-DD' string, not {value!r}"
    raise ConfigurationError(msg)


def unix_seconds(value: int | float | date | datetime | str | None, *, name: str) -> int | None:
    """Unix seconds from seconds, a date (midnight UTC) or a datetime (naive = UTC)."""
    if value is None:
        return None
    if isinstance(value, bool):
        msg = f"{name} must be a date, datetime or unix seconds, not {value!r}"
        raise ConfigurationError(msg)
    if isinstance(value, datetime):
        aware = value if value.tzinfo else value.replace(tzinfo=UTC)
        return int(aware.timestamp())
    if isinstance(value, date):
        return int(datetime(value.year, value.month, value.day, tzinfo=UTC).timestamp())
    if isinstance(value, int | float):
        if not math.isfinite(value):
            msg = f"{name} must be a finite number of unix seconds, a date or a datetime, not {value!r}"
            raise ConfigurationError(msg)
        return int(value)
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            parsed = None
        if parsed is not None:
            return unix_seconds(parsed, name=name)
    msg = f"{name} must be a date, datetime, ISO string or unix seconds, not {value!r}"
    raise ConfigurationError(msg)
