"""The resources a dataset can sync: how each is keyed, partitioned and loaded."""

from __future__ import annotations

from dataclasses import dataclass

from loketvalinso.errors import ConfigurationError

__all__ = ["RESOURCES", "SyncSpec", "spec_for"]


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


def spec_for(name: object, source: str | None = None) -> SyncSpec:
    """The spec of resource ``name`` (of ``source``'s resources, when given)."""
    choices = [n for n, s in RESOURCES.items() if source is None or s.source == source]
    spec = RESOURCES.get(name) if isinstance(name, str) else None
    if spec is None or (source is not None and spec.source != source):
        where = f" of {source.capitalize()}" if source else ""
        msg = f"no resource {name!r}{where} to sync; choose one of {', '.join(choices)}"
        raise ConfigurationError(msg)
    return spec
