"""The mock's seeded, coherent world: the ground truth for demos and tests.

:func:`build_world` turns a seed and a :class:`WorldSizes` into a :class:`World` of Polars frames
whose columns and dtypes are exactly those of :mod:`loketvalinso.mock.schema`. The same seed and
sizes give identical frames, byte for byte, in any process on any day: nothing depends on the
clock, on ``hash()`` or on the iteration order of unordered collections. Each part of the world
(credentials, Loket, Valinso) draws from its own :class:`random.Random` stream, so changing the
number of vends does not change the employees.

The period is fixed, never "today":

* leave years ``LAST_LEAVE_YEAR - leave_years + 1 .. LAST_LEAVE_YEAR`` (2025 and 2026 by default);
* :data:`REFERENCE_DATE` 2026-09-30 is the world's "today" (balances, open absences, which
  requests are still pending);
* vends over one year, ``2025-10-01T00:00Z`` (inclusive) to ``2026-10-01T00:00Z`` (exclusive),
  with their daily rhythm in Dutch local time (CET/CEST).

Choices the real API leaves open, made here and relied on by the mock servers and tests:

* ``unit_type_key`` 1 ``"Uren"``: every leave amount is in hours.
* Leave request status 1 ``"Ingediend"``, 2 ``"Toegekend"``, 3 ``"Afgewezen"``. Requests starting
  on or before the reference date are handled (toegekend or afgewezen); later ones are mostly
  still ingediend. ``submitted_on`` lies before the start date and not after the reference date.
* Leave is requested for leave types 1, 15 and 16 only, on working days (Monday–Friday minus
  the national holidays that are days off, see :func:`dutch_national_holidays`), within one
  calendar year and within the employment's dates; hours = working days × hours per week / 5.
  Requests of one employment never overlap.
* Ledger (``leave``): one accrual row per employment × leave year × leave type 1/15/16, pro rata
  to the part of the year employed: 15 (wettelijk) accrues 4 × hours per week, 1
  (bovenwettelijk) and 16 (Verlof) an employer-specific multiple of it. One taken-leave row per
  accepted request (``related_leave_request_id`` set), and a few manual corrections (accrual or
  taken, no related request). ``means_of_creation`` 1 ``"Automatisch"`` (accruals),
  2 ``"Handmatig"`` (corrections), 3 ``"Verlofaanvraag"`` (taken leave from a request).
* Balances (:func:`leave_balances_at`), per employment × year × leave type, the year taken from a
  ledger row's ``start_date``: ``balance = balance_previous_year + accrual - usage_total -
  expires``. ``balance_previous_year`` is the same employment's balance of the year before (0 in
  the first leave year: the world has no earlier history). ``expires``: wettelijk (15) remainder
  of the previous year not used before 1 July expires (``max(0, previous - usage before 1
  July)``); bovenwettelijk (1) carries at most :data:`BOVENWETTELIJK_CARRY_CAP` hours, the rest
  expires on 1 January; Verlof (16) never expires. The balance is the year's projection: usage
  after the reference date counts in ``usage_total`` (and in ``usage_after_reference_date``).
* Employer ``accessible=False`` (the last one) is invisible to the mock's user (403); it has its
  own small staff of ``max(2, employees // 25)`` employees (none when ``employees == 0``), on
  top of ``sizes.employees`` spread over the accessible employers.
* Gender key 1 ``"Man"``, 2 ``"Vrouw"``, 3 ``"Onbekend"``; employment duration type 1
  ``"Onbepaalde tijd"``, 2 ``"Bepaalde tijd"``; payroll period type 1 ``"Maand"``, 2
  ``"Vier weken"``; cause of absence 1 ``"Ziekte"``, 2 ``"Ongeval"``; end of absence reason 1
  ``"Hersteld"``, 2 ``"Einde dienstverband"``.
* Valinso ids are integers from 1; vends are sorted by ``(timestamp, device_id)`` and numbered
  in that order, so ``id`` increases with ``timestamp``.

Frames are shared by :func:`cached_world`: treat them as read-only.
"""

from __future__ import annotations

import array
import bisect
import dataclasses
import functools
import math
import random
import string
import sys
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import polars as pl

from loketvalinso.mock.schema import DT, LOKET_SCHEMAS, VALINSO_SCHEMAS

REFERENCE_DATE = date(2026, 9, 30)
"""The world's fixed "today"."""
LAST_LEAVE_YEAR = 2026
VENDS_START = datetime(2025, 10, 1, tzinfo=UTC)
VENDS_END = datetime(2026, 10, 1, tzinfo=UTC)
"""Vends lie in ``[VENDS_START, VENDS_END)``."""
BOVENWETTELIJK_CARRY_CAP = 40.0
"""Hours of bovenwettelijk leave (key 1) that may carry into the next year."""

UNIT_TYPE = (1, "Uren")
STATUS_SUBMITTED = (1, "Ingediend")
STATUS_ACCEPTED = (2, "Toegekend")
STATUS_REJECTED = (3, "Afgewezen")
CREATION_AUTOMATIC = (1, "Automatisch")
CREATION_MANUAL = (2, "Handmatig")
CREATION_REQUEST = (3, "Verlofaanvraag")

LEAVE_TYPES: tuple[tuple[int, str], ...] = (
    (1, "Bovenwettelijk verlof"),
    (2, "Bijzonder verlof"),
    (3, "Ouderschapsverlof"),
    (4, "Zorgverlof"),
    (15, "Wettelijk verlof"),
    (16, "Verlof"),
)
LEAVE_TYPE_NAMES = dict(LEAVE_TYPES)
REQUESTABLE_LEAVE_TYPES = (15, 1, 16)
"""Leave types with accruals, requests and balances."""

_US = 1_000_000
_EPOCH = date(1970, 1, 1)


@dataclass(frozen=True, slots=True)
class MockUser:
    """A Loket user of the mock: what ``GET /user`` says about them. ``repr`` hides the password."""

    username: str  # also the e-mail address, as at Loket
    password: str = field(repr=False)
    first_name: str = ""
    last_name: str = ""
    initials: str = ""


@dataclass(frozen=True, slots=True)
class Credentials:
    """What a user of the mock logs in with. ``repr`` hides the secrets.

    ``username``/``password`` are the first of ``users``; the authorization-code flow logs in as
    the user its ``login_hint`` names (default: the first), the password grant as the user whose
    name and password it sends.
    """

    client_id: str
    client_secret: str = field(repr=False)
    redirect_uri: str
    username: str
    password: str = field(repr=False)
    valinso_api_key: str = field(repr=False)
    users: tuple[MockUser, ...] = ()

    def user(self, username: str | None) -> MockUser | None:
        """The user called ``username`` (case-insensitively), or None."""
        wanted = (username or "").strip().lower()
        return next((u for u in self.users if u.username.lower() == wanted), None)


@dataclass(frozen=True, slots=True)
class WorldSizes:
    """How big the world is. ``employees`` counts the accessible employers' staff."""

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
    """The ground truth: every frame matches :data:`~loketvalinso.mock.schema.ALL_SCHEMAS`."""

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
    leave_years: tuple[int, ...] = ()
    vends_start: datetime = VENDS_START
    vends_end: datetime = VENDS_END

    def frames(self) -> dict[str, pl.DataFrame]:
        """Every schema frame by name, in :data:`~loketvalinso.mock.schema.ALL_SCHEMAS` order."""
        return {name: getattr(self, name) for name in (*LOKET_SCHEMAS, *VALINSO_SCHEMAS)}


# --------------------------------------------------------------------------------------------
# Calendar helpers


def easter_sunday(year: int) -> date:
    """Easter Sunday of a Gregorian ``year`` (the anonymous Gregorian algorithm).

    Examples
    --------
    >>> easter_sunday(2026)
    datetime.date(2026, 4, 5)
    """
    a = year % 19
    b, c = divmod(year, 100)
    d, e = divmod(b, 4)
    f = (b + 8) // 25
    g = (b - f + 1) // 3
    h = (19 * a + b - d - g + 15) % 30
    i, k = divmod(c, 4)
    l_ = (32 + 2 * e + 2 * i - h - k) % 7
    m = (a + 11 * h + 22 * l_) // 451
    month, day = divmod(h + l_ - 7 * m + 114, 31)
    return date(year, month, day + 1)


def dutch_national_holidays(year: int) -> list[tuple[int, str, date]]:
    """The Dutch national holidays of ``year`` as ``(key, name, date)``, in key order.

    Koningsdag is 27 April, or 26 April when the 27th is a Sunday. Bevrijdingsdag (5 May) is
    listed every year; :func:`is_day_off` treats it as a day off only in lustrum years and Goede
    Vrijdag never, as most collective agreements do.
    """
    easter = easter_sunday(year)
    kings_day = date(year, 4, 27)
    if kings_day.weekday() == 6:
        kings_day = date(year, 4, 26)
    return [
        (1, "Nieuwjaarsdag", date(year, 1, 1)),
        (2, "Goede Vrijdag", easter - timedelta(days=2)),
        (3, "1e Paasdag", easter),
        (4, "2e Paasdag", easter + timedelta(days=1)),
        (5, "Koningsdag", kings_day),
        (6, "Bevrijdingsdag", date(year, 5, 5)),
        (7, "Hemelvaartsdag", easter + timedelta(days=39)),
        (8, "1e Pinksterdag", easter + timedelta(days=49)),
        (9, "2e Pinksterdag", easter + timedelta(days=50)),
        (10, "1e Kerstdag", date(year, 12, 25)),
        (11, "2e Kerstdag", date(year, 12, 26)),
    ]


@functools.cache
def _days_off(year: int) -> frozenset[date]:
    return frozenset(
        day
        for key, _, day in dutch_national_holidays(year)
        if key != 2 and (key != 6 or year % 5 == 0)
    )


def is_day_off(day: date) -> bool:
    """Whether ``day`` is a weekend day or a national holiday taken off (see above)."""
    return day.weekday() >= 5 or day in _days_off(day.year)


def working_days(start: date, end: date) -> int:
    """Number of working days (not :func:`is_day_off`) in ``[start, end]``."""
    return sum(
        1 for n in range((end - start).days + 1) if not is_day_off(start + timedelta(days=n))
    )


def _amsterdam_utc_offset_hours(day: date) -> int:
    # EU rule, at local noon: CEST from the last Sunday of March to the last Sunday of October.
    def last_sunday(month: int) -> date:
        d = date(day.year, month, 31)
        return d - timedelta(days=(d.weekday() + 1) % 7)

    return 2 if last_sunday(3) <= day < last_sunday(10) else 1


# --------------------------------------------------------------------------------------------
# Small random helpers

_TOKEN_ALPHABET = string.ascii_letters + string.digits + "-_"


def _rng(seed: int, part: str) -> random.Random:
    # A str seed is hashed with SHA-512 by random (not hash()), so streams are stable everywhere.
    return random.Random(f"loketvalinso:{seed}:{part}")


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _token(rng: random.Random, n: int, alphabet: str = _TOKEN_ALPHABET) -> str:
    return "".join(rng.choices(alphabet, k=n))


def _rand_date(rng: random.Random, lo: date, hi: date) -> date:
    return lo + timedelta(days=rng.randint(0, max(0, (hi - lo).days)))


def _poisson(rng: random.Random, lam: float) -> int:
    # Knuth's method: fine for the small rates used here.
    limit, k, p = math.exp(-lam), 0, rng.random()
    while p > limit:
        k += 1
        p *= rng.random()
    return k


def _add_years(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February
        return day.replace(year=day.year + years, day=28)


def _us(moment: datetime) -> int:
    return (moment - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)


def _day_us(day: date, seconds: int = 0) -> int:
    return ((day - _EPOCH).days * 86_400 + seconds) * _US


def _frame(name: str, cols: dict[str, list[Any]]) -> pl.DataFrame:
    """A frame of schema ``name`` from column lists (datetimes as epoch microseconds)."""
    schema = {**LOKET_SCHEMAS, **VALINSO_SCHEMAS}[name]
    series = []
    for col, dtype in schema.items():
        values = cols.get(col, [])
        if dtype == DT:
            series.append(pl.Series(col, values, dtype=pl.Int64()).cast(dtype))
        else:
            series.append(pl.Series(col, values, dtype=dtype))
    return pl.DataFrame(series)


def _slug(text: str) -> str:
    keep = [c for c in text.lower() if c.isalnum() or c == " "]
    return "".join(keep).replace(" ", "")[:24] or "bedrijf"


# --------------------------------------------------------------------------------------------
# Vocabulary

_COMPANIES = (
    (
        "Bakkerij De Gouden Korenaar B.V.",
        "1071",
        "Vervaardiging van brood en vers banketbakkerswerk",
    ),
    (
        "Van Dijk Installatietechniek B.V.",
        "4322",
        "Loodgieters- en fitterswerk; installatie van verwarming",
    ),
    ("Stichting Zorggroep Het Baken", "8710", "Verpleeghuizen"),
    (
        "De Vries & Bakker Accountants",
        "6920",
        "Accountancy, financiële administratie en belastingadvies",
    ),
    ("Transportbedrijf Smit en Zonen B.V.", "4941", "Goederenvervoer over de weg"),
    ("Hoveniersbedrijf Groen Gras V.O.F.", "8130", "Landschapsverzorging"),
    ("Mulder Metaalbewerking B.V.", "2562", "Algemene metaalbewerking"),
    ("Stichting Openbaar Onderwijs Rijnmond", "8520", "Primair onderwijs"),
    ("Koffiebranderij Het Zwarte Goud B.V.", "1083", "Verwerking van koffie en thee"),
    ("Bouwbedrijf Jansen Heerenveen B.V.", "4120", "Algemene burgerlijke en utiliteitsbouw"),
    ("Visser ICT Diensten B.V.", "6202", "Advisering op het gebied van informatietechnologie"),
    ("Restaurant De Drie Haringen V.O.F.", "5610", "Restaurants"),
)
_LEGAL_FORMS = {
    "B.V.": (4, "Besloten vennootschap"),
    "Stichting": (9, "Stichting"),
    "V.O.F.": (2, "Vennootschap onder firma"),
    "": (1, "Eenmanszaak"),
}
_STREETS = (
    "Kerkstraat", "Dorpsstraat", "Stationsweg", "Molenweg", "Schoolstraat", "Julianastraat",
    "Beatrixlaan", "Wilhelminaweg", "Nieuwstraat", "Industrieweg", "Parallelweg", "Hoofdstraat",
    "Marktplein", "Havenkade", "Prinsengracht", "Oranjelaan", "Lindelaan", "Eikenlaan",
)  # fmt: skip
_CITIES = (
    ("Amsterdam", 52.3676, 4.9041), ("Rotterdam", 51.9244, 4.4777), ("Utrecht", 52.0907, 5.1214),
    ("Den Haag", 52.0705, 4.3007), ("Eindhoven", 51.4416, 5.4697), ("Groningen", 53.2194, 6.5665),
    ("Tilburg", 51.5555, 5.0913), ("Almere", 52.3508, 5.2647), ("Breda", 51.5719, 4.7683),
    ("Nijmegen", 51.8126, 5.8372), ("Arnhem", 51.9851, 5.8987), ("Zwolle", 52.5168, 6.0830),
    ("Leiden", 52.1601, 4.4970), ("Maastricht", 50.8514, 5.6910), ("Enschede", 52.2215, 6.8937),
    ("Haarlem", 52.3874, 4.6462), ("Amersfoort", 52.1561, 5.3878), ("Delft", 52.0116, 4.3571),
    ("Apeldoorn", 52.2112, 5.9699), ("'s-Hertogenbosch", 51.6978, 5.3037),
)  # fmt: skip
_FIRST_NAMES = (
    ("Jan", 1), ("Pieter", 1), ("Kees", 1), ("Daan", 1), ("Sem", 1), ("Lucas", 1), ("Bram", 1),
    ("Thijs", 1), ("Ruben", 1), ("Mohammed", 1), ("Joost", 1), ("Willem", 1), ("Tim", 1),
    ("Anna", 2), ("Emma", 2), ("Sophie", 2), ("Julia", 2), ("Fleur", 2), ("Lotte", 2),
    ("Sanne", 2), ("Anouk", 2), ("Fatima", 2), ("Marieke", 2), ("Ingrid", 2), ("Noor", 2),
    ("Eva", 2), ("Sam", 3),
)  # fmt: skip
_LAST_NAMES = (
    ("", "Jansen"), ("de", "Jong"), ("de", "Vries"), ("van den", "Berg"), ("van", "Dijk"),
    ("", "Bakker"), ("", "Visser"), ("", "Smit"), ("", "Meijer"), ("de", "Boer"), ("", "Mulder"),
    ("de", "Groot"), ("", "Bos"), ("", "Vos"), ("", "Peters"), ("", "Hendriks"),
    ("van", "Leeuwen"), ("", "Dekker"), ("", "Brouwer"), ("de", "Wit"), ("", "Dijkstra"),
    ("", "Smits"), ("de", "Graaf"), ("van der", "Meer"), ("van der", "Linden"), ("", "Kok"),
    ("", "Jacobs"), ("", "Yilmaz"), ("el", "Amrani"), ("", "Wijaya"),
)  # fmt: skip
_DEPARTMENTS = (
    "Directie", "Financiën", "Personeelszaken", "Verkoop", "Inkoop", "Productie", "Logistiek",
    "Klantenservice", "ICT", "Facilitaire dienst", "Marketing", "Planning",
)  # fmt: skip
_SUB_DEPARTMENTS = ("Team Noord", "Team Zuid", "Binnendienst", "Buitendienst", "Nachtploeg")
_FUNCTIONS = (
    # group: a short code, as the spec's function.group allows at most 5 characters
    ("Directeur", "MGT"), ("Teamleider", "MGT"), ("Office manager", "STAF"),
    ("Medewerker administratie", "ADM"), ("Salarisadministrateur", "ADM"),
    ("Accountmanager", "COM"), ("Medewerker klantenservice", "COM"),
    ("Magazijnmedewerker", "OPS"), ("Chauffeur", "OPS"),
    ("Productiemedewerker", "OPS"), ("Monteur", "TECH"),
    ("Servicetechnicus", "TECH"), ("Planner", "STAF"), ("HR-adviseur", "STAF"),
    ("Stagiair", "OVERG"),
)  # fmt: skip
_HOURS_PER_WEEK = ((40.0, 15), (38.0, 25), (36.0, 20), (32.0, 18), (28.0, 8), (24.0, 8),
                   (20.0, 4), (16.0, 2))  # fmt: skip
_REJECT_COMMENTS = (
    "Te veel collega's afwezig in deze periode.",
    "Graag een andere week kiezen i.v.m. planning.",
    "Onvoldoende saldo.",
)
_EMPLOYEE_COMMENTS = (
    None,
    None,
    None,
    "Zomervakantie",
    "Familiebezoek",
    "Verhuizing",
    "Kerstvakantie",
)


# --------------------------------------------------------------------------------------------
# Credentials


def _credentials(seed: int) -> Credentials:
    rng = _rng(seed, "credentials")
    creds = Credentials(
        client_id="lv-" + _token(rng, 20, string.ascii_lowercase + string.digits),
        client_secret=_token(rng, 48),
        redirect_uri="http://127.0.0.1/callback",
        username=f"analist.{rng.randint(1000, 9999)}@voorbeeld.nl",
        password=_token(rng, 24),
        valinso_api_key=_token(rng, 32, "0123456789abcdef"),
    )
    # drawn after the fields above, so that they stay what they were for a seed
    first = MockUser(creds.username, creds.password, "Sanne", "de Vries", "S.")
    second = MockUser(
        f"hr.{rng.randint(1000, 9999)}@voorbeeld.nl", _token(rng, 24), "Bram", "Jansen", "B."
    )
    return dataclasses.replace(creds, users=(first, second))


# --------------------------------------------------------------------------------------------
# Loket


def _season_weight(day: date) -> float:
    # Summer holidays and Christmas dominate; March and November are quiet.
    if day.month == 12 and day.day >= 20:
        return 4.0
    if day.month == 1 and day.day <= 4:
        return 2.0
    return (0.7, 1.0, 0.45, 0.9, 1.3, 0.9, 3.0, 3.0, 0.8, 1.2, 0.55, 0.7)[day.month - 1]


def _duration_choices(day: date) -> tuple[tuple[int, ...], tuple[int, ...]]:
    if day.month in (7, 8):
        return (1, 2, 3, 5, 10, 15), (10, 10, 12, 38, 25, 5)
    if day.month == 12 and day.day >= 20:
        return (1, 2, 3, 5, 7), (10, 15, 20, 35, 20)
    return (1, 2, 3, 5, 10), (50, 22, 13, 12, 3)


def _absence_weight(day: date) -> float:
    # Flu season: December–February far above June–August.
    return (3.0, 3.0, 1.6, 1.0, 0.7, 0.45, 0.4, 0.45, 0.8, 1.1, 1.6, 2.8)[day.month - 1]


@dataclass
class _YearCalendar:
    days: list[date]
    cum: list[float]  # cumulative season weights of ``days``


@functools.cache
def _year_calendar(year: int) -> _YearCalendar:
    start = date(year, 1, 1)
    days = [
        d
        for d in (start + timedelta(days=n) for n in range(366))
        if d.year == year and not is_day_off(d)
    ]
    cum, total = [], 0.0
    for d in days:
        total += _season_weight(d)
        cum.append(total)
    return _YearCalendar(days, cum)


def _pick_index(rng: random.Random, cum: list[float], lo: int, hi: int) -> int:
    """A weighted index in ``[lo, hi)`` given cumulative weights."""
    base = cum[lo - 1] if lo else 0.0
    x = base + rng.random() * (cum[hi - 1] - base)
    return min(max(bisect.bisect_right(cum, x, lo, hi), lo), hi - 1)


class _Cols(dict[str, list[Any]]):
    def add(self, **values: Any) -> None:
        for key, value in values.items():
            self.setdefault(key, []).append(value)


def _build_loket(seed: int, sizes: WorldSizes, leave_years: tuple[int, ...]) -> dict[str, Any]:
    rng = _rng(seed, "loket")
    n_employers = sizes.employers + 1
    hidden_staff = max(2, sizes.employees // 25) if sizes.employees else 0
    # Spread staff over accessible employers with uneven, seeded shares (largest remainder).
    shares = [rng.uniform(0.5, 1.5) for _ in range(sizes.employers)]
    total = sum(shares) or 1.0
    exact = [sizes.employees * s / total for s in shares]
    counts = [int(x) for x in exact]
    order = sorted(range(sizes.employers), key=lambda i: (counts[i] - exact[i], i))
    for i in order[: sizes.employees - sum(counts)]:
        counts[i] += 1
    counts.append(hidden_staff)

    companies = list(_COMPANIES)
    rng.shuffle(companies)
    employer_numbers = sorted(rng.sample(range(10_000, 99_999), n_employers))

    c: dict[str, _Cols] = {name: _Cols() for name in LOKET_SCHEMAS}
    employment_rows: list[dict[str, Any]] = []
    managers: dict[str, list[str]] = {}
    accrual_factors: dict[str, dict[int, float]] = {}
    first_year = leave_years[0] if leave_years else LAST_LEAVE_YEAR

    for e in range(n_employers):
        name, sbi_code, sbi_text = companies[e % len(companies)]
        if e >= len(companies):
            name = f"{name} {e // len(companies) + 1}"
        legal_key = next(k for k in ("B.V.", "Stichting", "V.O.F.", "") if k in name)
        slug = _slug(name)
        employer_id = _uuid(rng)
        city = rng.choice(_CITIES)[0]
        c["employers"].add(
            id=employer_id,
            employer_number=employer_numbers[e],
            company_name=name,
            chamber_of_commerce_number=f"{rng.randint(10_000_000, 99_999_999)}",
            address_street=rng.choice(_STREETS),
            address_house_number=rng.randint(1, 250),
            address_postal_code=f"{rng.randint(1000, 9999)} {_token(rng, 2, 'ABCEGHJKLMNPRTVWXZ')}",
            address_city=city,
            contact_information_email_address=f"info@{slug}.nl",
            contact_information_website=f"https://www.{slug}.nl",
            legal_form_key=_LEGAL_FORMS[legal_key][0],
            legal_form=_LEGAL_FORMS[legal_key][1],
            sbi_key=int(sbi_code),
            sbi=sbi_text,
            sbi_sbi_code=sbi_code,
            accessible=e < sizes.employers,
        )
        # Payroll administrations: a monthly one, sometimes a four-weekly one too.
        admins = []
        for a, (period_key, period, label) in enumerate(
            [(1, "Maand", "Maandloners"), (2, "Vier weken", "4-wekenloners")][
                : 1 + (rng.random() < 0.4)
            ]
        ):
            admin_id = _uuid(rng)
            admins.append(admin_id)
            c["payroll_administrations"].add(
                id=admin_id,
                employer_id=employer_id,
                name=f"{name.split(' B.V.')[0][:30]} {label}",
                description=f"Salarisadministratie {label.lower()}",
                client_number=rng.randint(100_000, 999_999),
                group_code=rng.randint(1, 99) if a == 0 else rng.randint(100, 199),
                start_date=date(rng.randint(2012, 2020), 1, 1),
                end_date=None,
                payroll_period_type_key=period_key,
                payroll_period_type=period,
            )
        # Departments with a few sub-departments.
        departments = []
        for d, dep_name in enumerate(rng.sample(_DEPARTMENTS, rng.randint(4, 6))):
            dep_id = _uuid(rng)
            departments.append(dep_id)
            code = 100 * (d + 1)
            c["departments"].add(
                id=dep_id,
                employer_id=employer_id,
                code=code,
                description=dep_name,
                email_leave_request=f"verlof.{_slug(dep_name)}@{slug}.nl"
                if rng.random() < 0.7
                else None,
                sub_department_of_key=None,
            )
            if rng.random() < 0.35:
                for s, sub_name in enumerate(rng.sample(_SUB_DEPARTMENTS, rng.randint(1, 2))):
                    sub_id = _uuid(rng)
                    departments.append(sub_id)
                    c["departments"].add(
                        id=sub_id,
                        employer_id=employer_id,
                        code=code + 10 * (s + 1),
                        description=f"{dep_name} {sub_name}",
                        email_leave_request=None,
                        sub_department_of_key=dep_id,
                    )
        functions = []
        for fn_name, group in rng.sample(_FUNCTIONS, rng.randint(7, 11)):
            function_key = _uuid(rng)
            functions.append(function_key)
            c["functions"].add(
                key=function_key, employer_id=employer_id, description=fn_name, group=group
            )
        for lt_key, lt_name in LEAVE_TYPES:
            requestable = lt_key in REQUESTABLE_LEAVE_TYPES
            c["leave_types"].add(
                id=_uuid(rng),
                employer_id=employer_id,
                leave_type_key=lt_key,
                leave_type=lt_name,
                balance_exceeds_year=requestable,
                employee_can_request_increase=lt_key == 16,
                enabled=requestable or rng.random() < 0.6,
            )
        for hol_key, hol_name, day in dutch_national_holidays(REFERENCE_DATE.year):
            c["national_holidays"].add(
                id=_uuid(rng),
                employer_id=employer_id,
                national_holiday_key=hol_key,
                national_holiday=hol_name,
                date_in_current_year=day,
                enabled=True,
            )
        # Hours accrued per year, as multiples of hours per week, per leave type.
        accrual_factors[employer_id] = {
            15: 4.0,
            1: rng.choice((0.8, 1.0, 1.2, 1.4)),
            16: rng.choice((0.4, 0.6, 0.8)),
        }

        domain = slug + ".nl"
        for n in range(counts[e]):
            first, gender_key = rng.choice(_FIRST_NAMES)
            prefix, last = rng.choice(_LAST_NAMES)
            employee_id = _uuid(rng)
            if n < 3:
                managers.setdefault(employer_id, []).append(employee_id)
            # Employment pattern: re-hired (two, with a gap), ended, or running.
            u = rng.random()
            spans: list[tuple[date, date | None]]
            if u < 0.10:
                end1 = _rand_date(rng, date(first_year - 1, 3, 1), date(first_year, 9, 30))
                start1 = end1 - timedelta(days=rng.randint(365, 6 * 365))
                start2 = end1 + timedelta(days=rng.randint(60, 300))
                spans = [(start1, end1), (start2, None)]
            elif u < 0.25:
                start = _rand_date(rng, date(2010, 1, 1), date(first_year, 6, 30))
                lo = max(start + timedelta(days=120), date(first_year, 1, 15))
                spans = [(start, _rand_date(rng, lo, REFERENCE_DATE - timedelta(days=10)))]
            elif rng.random() < 0.75:
                spans = [(_rand_date(rng, date(2005, 1, 1), date(first_year - 1, 12, 31)), None)]
            else:
                spans = [(_rand_date(rng, date(first_year, 1, 1), date(2026, 8, 31)), None)]
            age = rng.randint(17, 50)
            dob = max(spans[0][0] - timedelta(days=age * 365 + rng.randint(0, 364)),
                      date(1960, 1, 1) + timedelta(days=rng.randint(0, 365)))  # fmt: skip
            if dob > spans[0][0] - timedelta(days=16 * 365):
                dob = spans[0][0] - timedelta(days=17 * 365 + rng.randint(0, 364))
            full_last = f"{prefix} {last}".strip()
            email_name = f"{first[0]}.{full_last.replace(' ', '')}".lower()
            c["employees"].add(
                id=employee_id,
                employer_id=employer_id,
                employee_number=n + 1,
                first_name=first,
                initials=f"{first[0]}."
                + (f"{rng.choice('ACEHJMPRW')}." if rng.random() < 0.3 else ""),
                prefix=prefix or None,
                last_name=last,
                formatted_name=f"{first[0]}. {full_last}",
                date_of_birth=dob,
                aow_date=_add_years(dob, 67),
                gender_key=gender_key,
                gender=("Man", "Vrouw", "Onbekend")[gender_key - 1],
                address_street=rng.choice(_STREETS),
                address_house_number=rng.randint(1, 300),
                address_postal_code=f"{rng.randint(1000, 9999)} {_token(rng, 2, 'ABCEGHJKLMNPRTVWXZ')}",
                address_city=rng.choice(_CITIES)[0],
                email_address=f"{email_name}{rng.randint(1, 99)}@mailbox.nl",
                phone_number=f"0{rng.randint(10, 79)}{rng.randint(1_000_000, 9_999_999)}"
                if rng.random() < 0.4
                else None,
                mobile_phone_number=f"06{rng.randint(10_000_000, 99_999_999)}",
                business_email_address=f"{email_name}@{domain}",
                business_phone_number=f"0{rng.randint(10, 79)}{rng.randint(1_000_000, 9_999_999)}"
                if rng.random() < 0.5
                else None,
                business_mobile_phone_number=f"06{rng.randint(10_000_000, 99_999_999)}"
                if rng.random() < 0.3
                else None,
                exclusion_from_absence_status=rng.random() < 0.02,
                travel_distance_to_work=rng.randint(1, 60),
            )
            for seq, (start, end) in enumerate(spans, start=1):
                hours = rng.choices(
                    [h for h, _ in _HOURS_PER_WEEK], [w for _, w in _HOURS_PER_WEEK]
                )[0]
                fixed_term = end is not None and rng.random() < 0.5
                intern = rng.random() < 0.03
                row = {
                    "id": _uuid(rng),
                    "employer_id": employer_id,
                    "employee_id": employee_id,
                    "payroll_administration_id": admins[0]
                    if len(admins) == 1 or rng.random() < 0.8
                    else admins[1],
                    "department_id": rng.choice(departments),
                    "function_key": rng.choice(functions),
                    "start_date": start,
                    "end_date": end,
                    "income_relationship_number": seq,
                    "payroll_id": (n + 1) * 10 + seq,
                    "employment_duration_type_key": 2 if fixed_term else 1,
                    "employment_duration_type": "Bepaalde tijd"
                    if fixed_term
                    else "Onbepaalde tijd",
                    "type_of_employee_key": 2 if intern else 1,
                    "type_of_employee": "Stagiair" if intern else "Personeelslid",
                    "hours_per_week": hours,
                    "is_on_call_employment": rng.random() < 0.04,
                }
                c["employments"].add(**row)
                employment_rows.append(row)

    _leave_and_absences(rng, c, employment_rows, managers, accrual_factors, sizes, leave_years)
    return {name: _frame(name, cols) for name, cols in c.items() if name != "leave_balances"}


def _leave_and_absences(
    rng: random.Random,
    c: dict[str, _Cols],
    employments: list[dict[str, Any]],
    managers: dict[str, list[str]],
    accrual_factors: dict[str, dict[int, float]],
    sizes: WorldSizes,
    leave_years: tuple[int, ...],
) -> None:
    ref = REFERENCE_DATE
    ref_us = _day_us(ref, 86_399)
    for emp in employments:
        emp_start: date = emp["start_date"]
        emp_end: date = emp["end_date"] or date(9999, 12, 31)
        hours_per_day = emp["hours_per_week"] / 5
        base = {k: emp[k] for k in ("employer_id",)}
        for year in leave_years:
            lo_day, hi_day = max(date(year, 1, 1), emp_start), min(date(year, 12, 31), emp_end)
            if lo_day > hi_day:
                continue
            share = ((hi_day - lo_day).days + 1) / (
                (date(year, 12, 31) - date(year, 1, 1)).days + 1
            )
            budget: dict[int, float] = {}
            for key in (15, 1, 16):
                factor = accrual_factors[emp["employer_id"]][key]
                budget[key] = round(factor * emp["hours_per_week"] * share, 2)
                c["leave"].add(
                    id=_uuid(rng),
                    **base,
                    employment_id=emp["id"],
                    start_date=lo_day,
                    end_date=hi_day,
                    number_of_units=budget[key],
                    unit_type_key=UNIT_TYPE[0],
                    unit_type=UNIT_TYPE[1],
                    is_accrual=True,
                    leave_type_key=key,
                    leave_type=LEAVE_TYPE_NAMES[key],
                    comment=f"Opbouw {year}",
                    related_leave_request_id=None,
                    means_of_creation_key=CREATION_AUTOMATIC[0],
                    means_of_creation=CREATION_AUTOMATIC[1],
                )
            if rng.random() < 0.04:
                accrual = rng.random() < 0.5
                c["leave"].add(
                    id=_uuid(rng),
                    **base,
                    employment_id=emp["id"],
                    start_date=_rand_date(rng, lo_day, hi_day),
                    end_date=None,
                    number_of_units=rng.choice((4.0, 8.0, 16.0)),
                    unit_type_key=UNIT_TYPE[0],
                    unit_type=UNIT_TYPE[1],
                    is_accrual=accrual,
                    leave_type_key=16 if accrual else 15,
                    leave_type=LEAVE_TYPE_NAMES[16 if accrual else 15],
                    comment="Correctie: jubileumverlof"
                    if accrual
                    else "Correctie: opgenomen zonder aanvraag",
                    related_leave_request_id=None,
                    means_of_creation_key=CREATION_MANUAL[0],
                    means_of_creation=CREATION_MANUAL[1],
                )
            # Leave requests, seasonal, on working days, never overlapping each other.
            cal = _year_calendar(year)
            lo = bisect.bisect_left(cal.days, lo_day)
            hi = bisect.bisect_right(cal.days, hi_day)
            if lo >= hi:
                continue
            lam = sizes.leave_requests_per_employee_year * (hi - lo) / len(cal.days)
            taken: list[tuple[int, int]] = []
            requests = []
            for _ in range(_poisson(rng, lam)):
                for _attempt in range(4):
                    i = _pick_index(rng, cal.cum, lo, hi)
                    values, weights = _duration_choices(cal.days[i])
                    j = min(i + rng.choices(values, weights)[0] - 1, hi - 1)
                    if all(j < a or i > b for a, b in taken):
                        break
                else:
                    continue
                start_day, end_day = cal.days[i], cal.days[j]
                # Few far-future requests have been submitted by the reference date.
                if start_day > ref and rng.random() > max(0.3, 1 - (start_day - ref).days / 120):
                    continue
                taken.append((i, j))
                requests.append((start_day, end_day, j - i + 1))
            for start_day, end_day, n_days in sorted(requests):
                _add_request(
                    rng,
                    c,
                    emp,
                    managers[emp["employer_id"]],
                    budget,
                    (start_day, end_day),
                    n_days * hours_per_day,
                    ref_us,
                )
        _add_absences(rng, c, emp, emp_start, emp_end, leave_years)


def _add_request(
    rng: random.Random,
    c: dict[str, _Cols],
    emp: dict[str, Any],
    managers: list[str],
    budget: dict[int, float],
    span: tuple[date, date],
    hours: float,
    ref_us: int,
) -> None:
    ref = REFERENCE_DATE
    start_day, end_day = span
    if start_day <= ref:
        status = STATUS_ACCEPTED if rng.random() < 0.92 else STATUS_REJECTED
    elif (start_day - ref).days <= 30:
        status = rng.choices((STATUS_ACCEPTED, STATUS_SUBMITTED, STATUS_REJECTED), (60, 35, 5))[0]
    else:
        status = rng.choices((STATUS_ACCEPTED, STATUS_SUBMITTED, STATUS_REJECTED), (30, 68, 2))[0]
    lead = rng.randint(3, 120 if start_day.month in (7, 8, 12) else 45)
    submitted_day = start_day - timedelta(days=lead)
    if submitted_day >= ref:
        submitted_day = ref - timedelta(days=rng.randint(0, 20))
    submitted_us = _day_us(submitted_day, rng.randint(7 * 3600, 22 * 3600))
    handled_us = handled_by = None
    if status != STATUS_SUBMITTED:
        limit = min(_day_us(start_day) - _US, ref_us)
        handled_us = min(submitted_us + rng.randint(1800, 4 * 86_400) * _US, limit)
        handled_us = max(handled_us, submitted_us)
        handled_by = rng.choice(managers)
    # Requests draw on the type with hours left this year, so balances stay mostly positive.
    fits = [k for k in budget if budget[k] >= hours]
    if fits:
        leave_type_key = rng.choices(fits, [budget[k] for k in fits])[0]
    else:
        leave_type_key = max(budget, key=lambda k: (budget[k], -k))
    if status == STATUS_ACCEPTED:
        budget[leave_type_key] -= hours
    request_id = _uuid(rng)
    hours = round(hours, 2)
    c["leave_requests"].add(
        id=request_id,
        employer_id=emp["employer_id"],
        employment_id=emp["id"],
        employee_id=emp["employee_id"],
        start_date=start_day,
        end_date=end_day,
        number_of_units=hours,
        unit_type_key=UNIT_TYPE[0],
        unit_type=UNIT_TYPE[1],
        is_accrual=False,
        leave_type_key=leave_type_key,
        leave_type=LEAVE_TYPE_NAMES[leave_type_key],
        leave_request_status_key=status[0],
        leave_request_status=status[1],
        submitted_on=submitted_us,
        handled_time=handled_us,
        handled_by_id=handled_by,
        comment_employee=rng.choice(_EMPLOYEE_COMMENTS),
        comment_handler=rng.choice(_REJECT_COMMENTS) if status == STATUS_REJECTED else None,
        currently_available_units=None,  # filled from the balances once they exist
    )
    if status == STATUS_ACCEPTED:
        c["leave"].add(
            id=_uuid(rng),
            employer_id=emp["employer_id"],
            employment_id=emp["id"],
            start_date=start_day,
            end_date=end_day,
            number_of_units=hours,
            unit_type_key=UNIT_TYPE[0],
            unit_type=UNIT_TYPE[1],
            is_accrual=False,
            leave_type_key=leave_type_key,
            leave_type=LEAVE_TYPE_NAMES[leave_type_key],
            comment=None,
            related_leave_request_id=request_id,
            means_of_creation_key=CREATION_REQUEST[0],
            means_of_creation=CREATION_REQUEST[1],
        )


@functools.cache
def _absence_cum(first: date, last: date) -> list[float]:
    cum, total = [], 0.0
    for n in range((last - first).days + 1):
        total += _absence_weight(first + timedelta(days=n))
        cum.append(total)
    return cum


def _add_absences(
    rng: random.Random,
    c: dict[str, _Cols],
    emp: dict[str, Any],
    emp_start: date,
    emp_end: date,
    leave_years: tuple[int, ...],
) -> None:
    ref = REFERENCE_DATE
    first = date(leave_years[0], 1, 1) if leave_years else date(ref.year, 1, 1)
    lo, hi = max(first, emp_start), min(ref, emp_end)
    if lo > hi:
        return
    n_days = (hi - lo).days + 1
    cum = _absence_cum(first, ref)
    offset = (lo - first).days
    spans: list[tuple[date, date]] = []
    for _ in range(_poisson(rng, 1.4 * n_days / 365)):
        start = first + timedelta(days=_pick_index(rng, cum, offset, offset + n_days))
        kind = rng.choices((0, 1, 2, 3), (60, 25, 10, 5))[0]
        length = rng.randint(*((1, 4), (5, 14), (15, 60), (61, 300))[kind])
        end = start + timedelta(days=length - 1)
        if any(not (end < a or start > b) for a, b in spans):
            continue
        spans.append((start, end))
    for start, end in sorted(spans):
        reason: tuple[int, str] | None = (1, "Hersteld")
        end_date: date | None = end
        if end > emp_end and emp_end <= ref:
            end_date, reason = emp_end, (2, "Einde dienstverband")
        elif end > ref:
            end_date, reason = None, None
        long = end_date is None or (end_date - start).days > 30
        accident = rng.random() < 0.05
        c["absences"].add(
            id=_uuid(rng),
            employer_id=emp["employer_id"],
            employee_id=emp["employee_id"],
            employment_id=emp["id"],
            start_date=start,
            end_date=end_date,
            cause_of_absence_key=2 if accident else 1,
            cause_of_absence="Ongeval" if accident else "Ziekte",
            current_incapacity_percentage=50 if long and rng.random() < 0.4 else 100,
            is_work_related_illness=rng.random() < 0.03,
            is_recovered_within_two_weeks=end_date is not None
            and reason == (1, "Hersteld")
            and (end_date - start).days < 14,
            is_disrupted_employment_relationship=rng.random() < 0.01,
            end_of_absence_reason_key=reason[0] if reason else None,
            end_of_absence_reason=reason[1] if reason else None,
        )


def leave_balances_at(world: World, reference_date: date) -> pl.DataFrame:
    """Leave balances computed from the ledger ``world.leave`` as of ``reference_date``.

    One row per employment × year × leave type with accruals in that year, for the world's
    leave years up to the reference date's year. See the module docstring for the rules; the
    reference date only splits usage into ``usage_through_reference_date`` and
    ``usage_after_reference_date``.

    Parameters
    ----------
    world
        The world whose ledger to sum.
    reference_date
        The date the balances are "as of".

    Returns
    -------
    pl.DataFrame
        Frame of schema ``leave_balances``.
    """
    return _balances(world.leave, world.employments, world.leave_years, reference_date)


def _balances(
    leave: pl.DataFrame, employments: pl.DataFrame, leave_years: tuple[int, ...], ref: date
) -> pl.DataFrame:
    schema = LOKET_SCHEMAS["leave_balances"]
    years = [y for y in leave_years if y <= ref.year]
    led = leave.with_columns(year=pl.col("start_date").dt.year().cast(pl.Int32())).filter(
        pl.col("year").is_in(years)
    )
    keys = ["employment_id", "year", "leave_type_key"]
    units = pl.col("number_of_units")
    accrual = led.filter(pl.col("is_accrual")).group_by(keys).agg(accrual=units.sum())
    usage = (
        led.filter(~pl.col("is_accrual"))
        .group_by(keys)
        .agg(
            usage_through_reference_date=units.filter(pl.col("start_date") <= ref).sum(),
            usage_after_reference_date=units.filter(pl.col("start_date") > ref).sum(),
            usage_before_july=units.filter(pl.col("start_date").dt.month() < 7).sum(),
        )
    )
    grid = accrual.join(usage, on=keys, how="left").with_columns(
        pl.col(
            "usage_through_reference_date", "usage_after_reference_date", "usage_before_july"
        ).fill_null(0.0)
    )
    out = []
    previous = pl.DataFrame(
        schema={"employment_id": pl.String(), "leave_type_key": pl.Int32(), "carry": pl.Float64()}
    )
    for year in years:
        current = (
            grid.filter(pl.col("year") == year)
            .join(previous, on=["employment_id", "leave_type_key"], how="left")
            .with_columns(balance_previous_year=pl.col("carry").fill_null(0.0))
            .with_columns(
                usage_total=pl.col("usage_through_reference_date")
                + pl.col("usage_after_reference_date"),
                expires=pl.when(pl.col("leave_type_key") == 15)
                .then((pl.col("balance_previous_year") - pl.col("usage_before_july")).clip(0.0))
                .when(pl.col("leave_type_key") == 1)
                .then((pl.col("balance_previous_year") - BOVENWETTELIJK_CARRY_CAP).clip(0.0))
                .otherwise(0.0),
            )
            .with_columns(
                balance=pl.col("balance_previous_year")
                + pl.col("accrual")
                - pl.col("usage_total")
                - pl.col("expires")
            )
        )
        out.append(current)
        previous = current.select("employment_id", "leave_type_key", carry=pl.col("balance"))
    if not out:
        return pl.DataFrame(schema=schema)
    result = pl.concat(out).join(
        employments.select(pl.col("id").alias("employment_id"), "employer_id", "employee_id"),
        on="employment_id",
        how="left",
    )
    floats = [name for name, dtype in schema.items() if dtype == pl.Float64()]
    return (
        result.with_columns(
            *[pl.col(name).round(2) for name in floats],
            leave_type=pl.col("leave_type_key").replace_strict(
                LEAVE_TYPE_NAMES, return_dtype=pl.String()
            ),
        )
        .select([pl.col(name).cast(dtype) for name, dtype in schema.items()])
        .sort("employer_id", "employee_id", "employment_id", "year", "leave_type_key")
    )


# --------------------------------------------------------------------------------------------
# Valinso

# (kind, label template, weekday factor Mon..Sun, hourly profile 0..23 local, summer factor)
_LOCATION_KINDS: dict[str, tuple[str, tuple[float, ...], tuple[float, ...], float]] = {
    "office": (
        "Kantoor {street} {city}",
        (1.0, 1.05, 1.0, 0.95, 0.8, 0.12, 0.08),
        (0.05, 0.02, 0.02, 0.02, 0.02, 0.05, 0.3, 1.2, 3.0, 2.2, 2.6, 2.8, 4.0, 3.2, 2.2, 2.8,
         2.0, 1.0, 0.4, 0.2, 0.15, 0.1, 0.08, 0.05),
        0.75,
    ),
    "station": (
        "Station {city} Centraal",
        (1.0, 1.0, 1.0, 1.0, 1.05, 0.8, 0.7),
        (0.3, 0.15, 0.05, 0.05, 0.1, 0.6, 2.0, 3.5, 3.2, 1.8, 1.5, 1.8, 2.4, 2.0, 1.6, 1.8,
         2.6, 3.2, 2.4, 1.5, 1.2, 1.0, 0.8, 0.5),
        1.0,
    ),
    "school": (
        "{prefix} College {city}",
        (1.0, 1.0, 0.85, 1.0, 0.9, 0.05, 0.03),
        (0.01, 0.01, 0.01, 0.01, 0.01, 0.02, 0.1, 0.8, 2.0, 2.5, 3.5, 2.0, 4.0, 3.0, 2.2, 2.0,
         1.0, 0.3, 0.1, 0.05, 0.03, 0.02, 0.01, 0.01),
        0.15,
    ),
    "hospital": (
        "Ziekenhuis {city} {prefix}",
        (1.0, 1.0, 1.0, 1.0, 1.0, 0.75, 0.7),
        (0.5, 0.35, 0.25, 0.2, 0.25, 0.4, 1.0, 2.0, 2.4, 2.4, 2.6, 2.8, 3.0, 2.6, 2.4, 2.6,
         2.2, 1.8, 1.8, 1.6, 1.4, 1.0, 0.8, 0.6),
        0.95,
    ),
    "gym": (
        "Sportcentrum {prefix} {city}",
        (1.0, 1.0, 1.0, 0.95, 0.8, 0.7, 0.6),
        (0.02, 0.01, 0.01, 0.01, 0.01, 0.05, 0.6, 1.2, 1.0, 0.9, 1.0, 1.2, 1.8, 1.2, 1.0, 1.2,
         1.8, 2.8, 3.2, 3.0, 2.4, 1.4, 0.5, 0.1),
        0.8,
    ),
    "factory": (
        "Productielocatie {city} {street}",
        (1.0, 1.0, 1.0, 1.0, 0.95, 0.3, 0.1),
        (0.2, 0.15, 0.1, 0.1, 0.2, 0.8, 2.4, 1.8, 1.6, 2.2, 1.8, 2.6, 3.0, 2.0, 2.6, 2.2, 1.6,
         1.2, 1.4, 1.8, 1.2, 0.8, 0.6, 0.4),
        0.85,
    ),
}  # fmt: skip
_PREFIXES = ("Noord", "Zuid", "Oost", "West", "Het Lyceum", "De Brug", "Het Anker", "Centrum")
_MODELS = (
    ("Necta Brio Up", "coffee", 3), ("Bianchi Lei 400", "coffee", 2),
    ("Jofemar Vision ES Plus", "snack", 6), ("Sielaff Robimat 99", "drinks", 4),
    ("FAS Faster 900", "combo", 6), ("Wurlitzer Smart Vend", "combo", 5),
    ("Necta Snakky Max", "snack", 5), ("Sanden Vendo VUE 40", "drinks", 3),
)  # fmt: skip
_KIND_CATEGORIES = {
    "coffee": ("Warme dranken",),
    "snack": ("Snacks", "Snoep", "Gezond"),
    "drinks": ("Frisdrank", "Water en sap"),
    "combo": ("Snacks", "Snoep", "Frisdrank", "Water en sap", "Gezond"),
}
_PRODUCTS = (
    ("Coca-Cola 330ml", "Frisdrank", 180, 5.0), ("Coca-Cola Zero 330ml", "Frisdrank", 180, 4.0),
    ("Fanta Orange 330ml", "Frisdrank", 180, 2.0), ("Sprite 330ml", "Frisdrank", 180, 1.5),
    ("Fernandes Red Grape 330ml", "Frisdrank", 190, 0.8), ("Red Bull 250ml", "Frisdrank", 260, 2.5),
    ("Fuze Tea Green 400ml", "Frisdrank", 210, 1.8), ("Chocomel 330ml", "Frisdrank", 200, 1.6),
    ("Spa Blauw 500ml", "Water en sap", 150, 3.5), ("Spa Rood 500ml", "Water en sap", 150, 2.0),
    ("Appelsientje Sinaas 250ml", "Water en sap", 170, 1.2), ("Innocent Smoothie", "Water en sap", 320, 0.7),
    ("Koffie zwart", "Warme dranken", 120, 6.0), ("Cappuccino", "Warme dranken", 160, 4.5),
    ("Latte macchiato", "Warme dranken", 180, 3.0), ("Espresso", "Warme dranken", 130, 2.0),
    ("Thee", "Warme dranken", 110, 2.2), ("Warme chocolademelk", "Warme dranken", 150, 1.8),
    ("Mars", "Snoep", 150, 2.5), ("Snickers", "Snoep", 150, 3.0), ("Twix", "Snoep", 150, 2.2),
    ("KitKat Chunky", "Snoep", 150, 2.0), ("Tony's Chocolonely Melk", "Snoep", 250, 1.6),
    ("Rolo", "Snoep", 140, 1.0), ("Haribo Goudbeertjes", "Snoep", 160, 1.8),
    ("Autodrop Mix", "Snoep", 170, 1.0), ("Stroopwafels 2 stuks", "Snoep", 140, 2.0),
    ("Lay's Paprika 40g", "Snacks", 140, 2.6), ("Lay's Naturel 40g", "Snacks", 140, 1.6),
    ("Doritos Nacho Cheese", "Snacks", 170, 1.4), ("Pringles Original 40g", "Snacks", 190, 1.5),
    ("Croky Bolognese", "Snacks", 140, 1.0), ("Duyvis Pinda's 60g", "Snacks", 150, 1.0),
    ("Bifi Worstje", "Snacks", 180, 0.8), ("Sultana Fruitbiscuit", "Gezond", 130, 1.5),
    ("Nature Valley Reep", "Gezond", 160, 1.0), ("Appel", "Gezond", 90, 0.8),
    ("Ontbijtkoek plak", "Gezond", 110, 1.0), ("Eat Natural Reep", "Gezond", 210, 0.7),
    ("Rijstwafels Chocola", "Gezond", 130, 0.6), ("Evergreen Volkoren", "Gezond", 120, 0.9),
    ("Melkunie Breaker Aardbei", "Frisdrank", 190, 0.9),
)  # fmt: skip


@dataclass(frozen=True)
class VendModel:
    """What vends are drawn from: the catalogue frames and each device's place and slots."""

    frames: dict[str, pl.DataFrame]
    location_kinds: list[str]
    device_location: list[int]
    device_slots: list[tuple[list[str], list[int], list[float]]]

    def vends(
        self,
        rng: random.Random,
        n: int,
        *,
        start: datetime = VENDS_START,
        end: datetime = VENDS_END,
        first_id: int = 1,
    ) -> pl.DataFrame:
        """``n`` vends in [start, end) with the world's rhythm, numbered from ``first_id``."""
        return _vends(
            rng,
            n,
            self.frames["products"],
            self.location_kinds,
            self.device_location,
            self.device_slots,
            start=start,
            end=end,
            first_id=first_id,
        )


def _build_valinso(seed: int, sizes: WorldSizes) -> dict[str, pl.DataFrame]:
    model, rng = _valinso_catalogue(seed, sizes)
    return {**model.frames, "vends": model.vends(rng, sizes.vends)}


@functools.lru_cache(maxsize=8)
def vend_model(seed: int, sizes: WorldSizes) -> VendModel:
    """The world's vend model (its catalogue is drawn again: the same seed, the same draws)."""
    return _valinso_catalogue(seed, sizes)[0]


def _valinso_catalogue(seed: int, sizes: WorldSizes) -> tuple[VendModel, random.Random]:
    rng = _rng(seed, "valinso")
    c: dict[str, _Cols] = {name: _Cols() for name in VALINSO_SCHEMAS}

    kinds = list(_LOCATION_KINDS)
    location_kinds: list[str] = []
    clients = [1000 + rng.randint(1, 899) * 10 + i for i in range(max(1, sizes.locations // 5))]
    names_seen: dict[str, int] = {}
    for i in range(sizes.locations):
        kind = kinds[i % len(kinds)] if i < len(kinds) else rng.choice(kinds)
        location_kinds.append(kind)
        city, lat, lon = rng.choice(_CITIES)
        street = rng.choice(_STREETS)
        name = _LOCATION_KINDS[kind][0].format(
            city=city, street=street, prefix=rng.choice(_PREFIXES)
        )
        names_seen[name] = names_seen.get(name, 0) + 1
        if names_seen[name] > 1:
            name = f"{name} {names_seen[name]}"
        c["locations"].add(
            id=i + 1,
            client_id=rng.choice(clients),
            name=name[:50],
            email=f"facilitair.{_slug(name)[:20]}@voorbeeld.nl",
            phone=f"0{rng.randint(10, 79)}{rng.randint(1_000_000, 9_999_999)}",
            address=f"{street} {rng.randint(1, 200)}",
            city=city,
            latitude=round(lat + rng.uniform(-0.02, 0.02), 6),
            longitude=round(lon + rng.uniform(-0.03, 0.03), 6),
        )

    # Products: a seeded subset of the catalogue, variants once it runs out.
    catalogue = list(_PRODUCTS)
    rng.shuffle(catalogue)
    products: list[tuple[str, str, int, float]] = []
    for i in range(sizes.products):
        name, category, cents, pop = catalogue[i % len(catalogue)]
        if i >= len(catalogue):
            round_ = i // len(catalogue)
            name, cents, pop = f"{name} (variant {round_ + 1})", cents + 20 * round_, pop / 2
        products.append((name, category, cents, pop))
        c["products"].add(
            id=i + 1, name=name, category=category, price=Decimal(cents) / 100, currency="EUR"
        )

    # Devices: every location gets one first, the rest go to random locations.
    device_location: list[int] = []
    device_slots: list[tuple[list[str], list[int], list[float]]] = []
    for i in range(sizes.devices):
        loc = i if i < sizes.locations else rng.randrange(sizes.locations)
        device_location.append(loc)
        model, kind, rows = rng.choice(_MODELS)
        allowed = [p for p, prod in enumerate(products) if prod[1] in _KIND_CATEGORIES[kind]]
        allowed = allowed or list(range(len(products)))
        selections, slot_products, slot_weights = [], [], []
        for r in "ABCDEF"[:rows]:
            for col in range(1, 9):
                p = rng.choice(allowed)
                selections.append(f"{r}{col}")
                slot_products.append(p)
                slot_weights.append(products[p][3] * rng.uniform(0.5, 1.5))
        device_slots.append((selections, slot_products, slot_weights))
        installed = datetime(2018, 1, 1, tzinfo=UTC) + timedelta(
            seconds=rng.randint(
                0,
                int((VENDS_START - datetime(2018, 1, 1, tzinfo=UTC)).total_seconds()) - 86_400 * 30,
            )
        )
        c["devices"].add(
            id=i + 1,
            location_id=loc + 1,
            name=f"{model.split()[0]} {i + 1:03d} {c['locations']['name'][loc]}",
            serial_number=f"VLS-{installed.year}-{rng.randint(0, 999_999):06d}",
            model=model,
            status=rng.choices(("active", "maintenance", "inactive"), (92, 6, 2))[0],
            installed_at=_us(installed.replace(microsecond=0)),
        )

    frames = {name: _frame(name, cols) for name, cols in c.items() if name != "vends"}
    return VendModel(frames, location_kinds, device_location, device_slots), rng


def _uniforms(rng: random.Random, n: int) -> pl.Series:
    """``n`` seeded uniforms in [0, 1), in bulk (4 random bytes each, little-endian everywhere)."""
    words = array.array("I")
    words.frombytes(rng.randbytes(4 * n))
    if sys.byteorder == "big":
        words.byteswap()
    return pl.Series(words.tolist(), dtype=pl.Float64()) / 2.0**32


def _draw(
    rng: random.Random, tables: list[list[float]], group: pl.Series | None = None, n: int = 0
) -> pl.Series:
    """Weighted draws, vectorised: row ``i`` picks an index into ``tables[group[i]]``.

    Each table's cumulative weights are scaled into ``[g, g + 1)`` and concatenated, so one
    ``search_sorted`` of ``group + uniform`` answers every row at once.
    """
    size = group.len() if group is not None else n
    thresholds: list[float] = []
    offsets: list[int] = []
    for g, weights in enumerate(tables):
        offsets.append(len(thresholds))
        total, acc = float(sum(weights)), 0.0
        for w in weights:
            acc += w
            thresholds.append(g + acc / total)
        thresholds[-1] = g + 1.0  # no float shortfall at the top of a table
    x = _uniforms(rng, size)
    if group is not None:
        x = x + group.cast(pl.Float64())
    picked = pl.Series(thresholds).search_sorted(x, side="right").cast(pl.Int64())
    if group is None:
        return picked
    return picked - pl.Series(offsets, dtype=pl.Int64()).gather(group)


def _vends(
    rng: random.Random,
    n: int,
    products: pl.DataFrame,
    location_kinds: list[str],
    device_location: list[int],
    device_slots: list[tuple[list[str], list[int], list[float]]],
    *,
    start: datetime = VENDS_START,
    end: datetime = VENDS_END,
    first_id: int = 1,
) -> pl.DataFrame:
    schema = VALINSO_SCHEMAS["vends"]
    if n == 0:
        return pl.DataFrame(schema=schema)
    # Local days of the period and the UTC instant of each local midnight.
    first_day = start.date()
    n_days = (end - start).days
    days = [first_day + timedelta(days=d) for d in range(n_days)]
    midnight_s = [(d - _EPOCH).days * 86_400 - 3600 * _amsterdam_utc_offset_hours(d) for d in days]

    kinds = list(_LOCATION_KINDS)
    # Device popularity: log-normal skew, busier kinds of location get more.
    kind_scale = {
        "office": 1.0,
        "station": 1.8,
        "school": 0.8,
        "hospital": 1.3,
        "gym": 0.7,
        "factory": 1.0,
    }
    device_weights = [
        rng.lognormvariate(0.0, 0.7) * kind_scale[location_kinds[loc]] for loc in device_location
    ]
    device = _draw(rng, [device_weights], n=n)
    device_kind = pl.Series(
        [kinds.index(location_kinds[loc]) for loc in device_location], dtype=pl.Int64()
    )
    kind = device_kind.gather(device)

    # Day and hour by location kind: its weekly, seasonal and holiday rhythm and its hours.
    day_tables, hour_tables = [], []
    for k in kinds:
        _, week, hours, summer = _LOCATION_KINDS[k]
        closes_on_holidays = k in ("office", "school", "factory")
        day_tables.append(
            [
                week[d.weekday()]
                * (summer if d.month in (7, 8) else 1.0)
                * (0.15 if closes_on_holidays and d in _days_off(d.year) else 1.0)
                for d in days
            ]
        )
        hour_tables.append(list(hours))
    day = _draw(rng, day_tables, kind)
    hour = _draw(rng, hour_tables, kind)
    second = (_uniforms(rng, n) * 3600).floor().cast(pl.Int64())

    # Slot (selection → product) by the device's slot popularity.
    slot = _draw(rng, [weights for _, _, weights in device_slots], device)
    slot_offsets = []
    flat_selection: list[str] = []
    flat_product: list[int] = []
    for selections, slot_products, _ in device_slots:
        slot_offsets.append(len(flat_selection))
        flat_selection.extend(selections)
        flat_product.extend(slot_products)
    flat_slot = pl.Series(slot_offsets, dtype=pl.Int64()).gather(device) + slot
    product = pl.Series(flat_product, dtype=pl.Int64()).gather(flat_slot)

    quantities = (1, 2, 3)
    payments = ("card", "contactless", "mobile", "cash")
    statuses = ("success", "failed", "refunded")
    start_s = int(start.timestamp())
    period_s = int((end - start).total_seconds())
    frame = pl.DataFrame(
        {
            "device_idx": device,
            "midnight": pl.Series(midnight_s, dtype=pl.Int64()).gather(day),
            "hour": hour,
            "second": second,
            "product_idx": product,
            "selection": pl.Series(flat_selection, dtype=pl.String()).gather(flat_slot),
            "quantity": pl.Series(quantities, dtype=pl.Int32()).gather(
                _draw(rng, [[93, 6, 1]], n=n)
            ),
            "payment_type": pl.Series(payments).gather(_draw(rng, [[44, 27, 17, 12]], n=n)),
            "status": pl.Series(statuses).gather(_draw(rng, [[965, 25, 10]], n=n)),
        }
    )
    location_ids = pl.Series([loc + 1 for loc in device_location], dtype=pl.Int64())
    # Local-day wrap-around: the first local hours of 1 October fall before VENDS_START in UTC;
    # fold them onto the end of the period, which is night time there too.
    ts = (
        (pl.col("midnight") + pl.col("hour") * 3600 + pl.col("second") - start_s) % period_s
    ) + start_s
    return (
        frame.with_columns(
            timestamp=(ts * _US).cast(DT),
            device_id=pl.col("device_idx") + 1,
            product_id=pl.col("product_idx") + 1,
            location_id=location_ids.gather(frame["device_idx"]),
            price=products["price"].gather(frame["product_idx"]),
            currency=pl.lit("EUR"),
        )
        .sort("timestamp", "device_id", "selection", maintain_order=True)
        .with_columns(id=pl.int_range(first_id, first_id + n, dtype=pl.Int64()))
        .select([pl.col(name).cast(dtype) for name, dtype in schema.items()])
    )


# --------------------------------------------------------------------------------------------
# Assembly


def _check_sizes(sizes: WorldSizes) -> None:
    for name in WorldSizes.__dataclass_fields__:
        if getattr(sizes, name) < 0:
            msg = f"WorldSizes.{name} must be >= 0, got {getattr(sizes, name)!r}"
            raise ValueError(msg)
    if sizes.employees and not sizes.employers:
        msg = "WorldSizes: employees need at least one employer (set employers >= 1)"
        raise ValueError(msg)
    if sizes.devices and not sizes.locations:
        msg = "WorldSizes: devices need at least one location (set locations >= 1)"
        raise ValueError(msg)
    if sizes.vends and not (sizes.devices and sizes.products):
        msg = "WorldSizes: vends need devices and products (set devices >= 1 and products >= 1)"
        raise ValueError(msg)


def with_available_units(requests: pl.DataFrame, balances: pl.DataFrame) -> pl.DataFrame:
    """``requests`` with ``currently_available_units`` = the balance of its employment, leave
    type and year."""
    available = balances.select(
        "employment_id",
        "leave_type_key",
        "year",
        currently_available_units=pl.col("balance"),
    )
    return (
        requests.drop("currently_available_units")
        .with_columns(year=pl.col("start_date").dt.year().cast(pl.Int32()))
        .join(
            available,
            on=["employment_id", "leave_type_key", "year"],
            how="left",
            maintain_order="left",
        )
        .select(list(LOKET_SCHEMAS["leave_requests"]))
    )


def build_world(seed: int = 42, sizes: WorldSizes | None = None) -> World:
    """Build the seeded world.

    Parameters
    ----------
    seed
        Any int; the same seed and sizes give identical frames (and identical IPC bytes).
    sizes
        How big; defaults to :class:`WorldSizes` ``()`` (3 + 1 hidden employers, 600 employees,
        leave years 2025–2026, 50 devices at 15 locations, 40 products, 200 000 vends).

    Returns
    -------
    World
        Frames matching :mod:`loketvalinso.mock.schema` exactly.

    Raises
    ------
    ValueError
        If a size is negative or sizes contradict each other (e.g. vends without devices).
    """
    sizes = sizes or WorldSizes()
    _check_sizes(sizes)
    leave_years = tuple(range(LAST_LEAVE_YEAR - sizes.leave_years + 1, LAST_LEAVE_YEAR + 1))
    loket = _build_loket(seed, sizes, leave_years)
    balances = _balances(loket["leave"], loket["employments"], leave_years, REFERENCE_DATE)
    requests = with_available_units(loket["leave_requests"], balances)
    valinso = _build_valinso(seed, sizes)
    return World(
        seed=seed,
        sizes=sizes,
        reference_date=REFERENCE_DATE,
        credentials=_credentials(seed),
        employers=loket["employers"],
        payroll_administrations=loket["payroll_administrations"],
        departments=loket["departments"],
        functions=loket["functions"],
        employees=loket["employees"],
        employments=loket["employments"],
        leave_types=loket["leave_types"],
        leave_requests=requests,
        leave=loket["leave"],
        leave_balances=balances,
        absences=loket["absences"],
        national_holidays=loket["national_holidays"],
        locations=valinso["locations"],
        devices=valinso["devices"],
        products=valinso["products"],
        vends=valinso["vends"],
        leave_years=leave_years,
    )


@functools.lru_cache(maxsize=8)
def cached_world(seed: int = 42, sizes: WorldSizes | None = None) -> World:
    """:func:`build_world`, memoised per ``(seed, sizes)``: do not mutate its frames."""
    return build_world(seed, sizes)


__all__ = [
    "LOKET_SCHEMAS",
    "REFERENCE_DATE",
    "VALINSO_SCHEMAS",
    "Credentials",
    "MockUser",
    "World",
    "WorldSizes",
    "build_world",
    "cached_world",
    "dutch_national_holidays",
    "easter_sunday",
    "leave_balances_at",
    "vend_model",
    "with_available_units",
]
