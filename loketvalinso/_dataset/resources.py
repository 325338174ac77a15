"""The resources a dataset can sync: how each is keyed, partitioned and loaded."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import polars as pl

from loketvalinso._loket import Loket
from loketvalinso._valinso import Valinso
from loketvalinso.errors import ConfigurationError

__all__ = ["PER_EMPLOYER", "RESOURCES", "WHOLE", "SyncSpec", "spec_for"]


@dataclass(frozen=True)
class SyncSpec:
    """How a resource is kept: its key, its partitions, and its cursor (incremental ones)."""

    name: str
    source: str
    key: tuple[str, ...] = ("id",)
    #: Loket resources are loaded per employer and partitioned by it
    per_employer: bool = False
    #: incremental resources: the column the stored cursor is taken from
    cursor_column: str | None = None

    @property
    def partition_by(self) -> tuple[str, ...]:
        if self.cursor_column is not None:
            return ("year", "month")
        return ("employer_id",) if self.per_employer else ()


def _loket(name: str, key: tuple[str, ...] = ("id",), *, per_employer: bool = True) -> SyncSpec:
    return SyncSpec(name, "loket", key, per_employer=per_employer)


RESOURCES: dict[str, SyncSpec] = {
    "vends": SyncSpec("vends", "valinso", cursor_column="timestamp"),
    "devices": SyncSpec("devices", "valinso"),
    "products": SyncSpec("products", "valinso"),
    "locations": SyncSpec("locations", "valinso"),
    "employers": _loket("employers", per_employer=False),
    "payroll_administrations": _loket("payroll_administrations"),
    "departments": _loket("departments"),
    "functions": _loket("functions", ("key",)),
    "employees": _loket("employees"),
    "employments": _loket("employments"),
    "leave_types": _loket("leave_types"),
    "leave_requests": _loket("leave_requests"),
    "leave": _loket("leave"),
    "leave_balances": _loket("leave_balances", ("id", "year", "leave_type_key")),
    "absences": _loket("absences"),
    "national_holidays": _loket("national_holidays"),
    "organizational_entities": _loket("organizational_entities", ("employment_id",)),
}


#: the loaders of the resources loaded whole, and of those loaded per employer
WHOLE: dict[str, Callable[[Any], pl.DataFrame]] = {
    "devices": Valinso.devices,
    "products": Valinso.products,
    "locations": Valinso.locations,
    "employers": Loket.employers,
}
PER_EMPLOYER: dict[str, Callable[[Loket, str], pl.DataFrame]] = {
    "payroll_administrations": Loket.payroll_administrations,
    "departments": Loket.departments,
    "functions": Loket.functions,
    "employees": Loket.employees,
    "employments": Loket.employments,
    "leave_types": Loket.leave_types,
    "leave_requests": Loket.leave_requests,
    "leave": Loket.leave,
    "leave_balances": Loket.leave_balances,
    "absences": Loket.absences,
    "national_holidays": Loket.national_holidays,
    "organizational_entities": Loket.organizational_entities,
}


def spec_for(name: object, source: str | None = None) -> SyncSpec:
    """The spec of resource ``name`` (of ``source``'s resources, when given)."""
    choices = [n for n, s in RESOURCES.items() if source is None or s.source == source]
    spec = RESOURCES.get(name) if isinstance(name, str) else None
    if spec is None or (source is not None and spec.source != source):
        where = f" of {source.capitalize()}" if source else ""
        msg = f"no resource {name!r}{where} to sync; choose one of {', '.join(choices)}"
        raise ConfigurationError(msg)
    return spec
