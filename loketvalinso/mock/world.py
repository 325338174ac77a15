"""The mock's seeded, coherent world: the ground truth for demos and tests.

(INTERFACE STUB — the generator is being written; keep these names.)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

import polars as pl

from loketvalinso.mock.schema import LOKET_SCHEMAS, VALINSO_SCHEMAS


@dataclass(frozen=True, slots=True)
class Credentials:
    """What a user of the mock logs in with. ``repr`` hides the secrets."""

    client_id: str
    client_secret: str = field(repr=False)
    redirect_uri: str
    username: str
    password: str = field(repr=False)
    valinso_api_key: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class WorldSizes:
    employers: int = 3
    employees: int = 600
    leave_years: int = 2
    leave_requests_per_employee_year: float = 8.0
    devices: int = 50
    locations: int = 15
    products: int = 40
    vends: int = 200_000


@dataclass(frozen=True)
class World:
    seed: int
    sizes: WorldSizes
    reference_date: date
    credentials: Credentials
    employers: pl.DataFrame
    payroll_administrations: pl.DataFrame
    departments: pl.DataFrame
    functions: pl.DataFrame
    employees: pl.DataFrame
    employments: pl.DataFrame
    leave_types: pl.DataFrame
    leave_requests: pl.DataFrame
    leave: pl.DataFrame
    leave_balances: pl.DataFrame
    absences: pl.DataFrame
    national_holidays: pl.DataFrame
    locations: pl.DataFrame
    devices: pl.DataFrame
    products: pl.DataFrame
    vends: pl.DataFrame


def build_world(seed: int = 42, sizes: WorldSizes | None = None) -> World:
    raise NotImplementedError


__all__ = ["LOKET_SCHEMAS", "VALINSO_SCHEMAS", "Credentials", "World", "WorldSizes", "build_world"]
