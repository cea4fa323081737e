"""What every rule gets: the submission's context, the applied entry, dates, periods, arithmetic."""

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Annotated, Any, Generic, TypeVar

import msgspec

from ledger.errors import Invalid

if TYPE_CHECKING:  # reference.py builds on this module
    from ledger.domain.reference import ReferenceBook

HEX_HASH = re.compile(r"[0-9a-f]{64}")
Quantity = Annotated[int, msgspec.Meta(ge=0, le=10**15)]  # base units; 10^15 Wh is 1 TWh
PERIOD = re.compile(r"([0-9]{4})(?:-Q([1-4]))?")  # ASCII digits only


@dataclass(frozen=True)
class Context:
    """What a decision may look at besides its own account's state."""

    account: str
    key_id: str
    at: str
    factors: "ReferenceBook"  # factor tables
    methods: "ReferenceBook"  # grading methods
    others: tuple[Any, ...] = ()  # for a person-wide rule: the person's accounts elsewhere

    @property
    def key_name(self) -> str:
        return self.key_id.split("+", 1)[0]


State = TypeVar("State")  # an account kind's state
Data = TypeVar("Data")  # an event type's data: a msgspec.Struct schema
DataOut = TypeVar("DataOut", covariant=True)

Effect = dict[str, int | str]  # what a decision adds to the entry: figures, dates, citations


@dataclass(frozen=True)
class Applied(Generic[DataOut]):
    """An entry as its account's state sees it when applying it."""

    type: str
    data: DataOut
    effect: dict[str, Any]  # the entry's `effect`, as parsed from its JSON
    leaf_hash: str
    key_id: str


Decide = Callable[[State, Data, Context], Effect]
Evolve = Callable[[State, Applied[Data]], None]


@dataclass(frozen=True)
class EventRule(Generic[State, Data]):
    """What the ledger needs to accept and apply one event type on one kind of account."""

    account_prefix: str
    roles: frozenset[str]
    schema: type[Data]
    decide: Decide[State, Data]
    evolve: Evolve[State, Data]
    person_wide: bool = False  # decided with the same person's accounts at other banks


Rules = dict[str, EventRule[Any, Any]]  # by event type; each rule's state and data types differ


def event_rule(
    account_prefix: str,
    roles: frozenset[str],
    schema: type[Data],
    decide: Decide[State, Data],
    evolve: Evolve[State, Data],
    person_wide: bool = False,
) -> EventRule[Any, Any]:
    """An EventRule for a Rules table, its parts checked to agree on state and data types
    (an EventRule(...) written straight into the table would take them as Any)."""
    return EventRule(account_prefix, roles, schema, decide, evolve, person_wide)


def parse_date(text: str, field: str) -> date:
    """A YYYY-MM-DD date, or Invalid naming the field."""
    if not re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", text):
        raise Invalid(f"{text!r} is not a YYYY-MM-DD date", field)
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise Invalid(f"{text!r} is not a real date", field) from None


def check_period(text: str, field: str) -> str:
    """A period: a year `YYYY` or a quarter `YYYY-Qn`."""
    if not PERIOD.fullmatch(text):
        raise Invalid(f"{text!r} is not a period (YYYY or YYYY-Qn)", field)
    return text


def period_end(period: str) -> str:
    """The last day (YYYY-MM-DD) of a checked period."""
    if "-Q" not in period:
        return f"{period}-12-31"
    return f"{period[:4]}-{('03-31', '06-30', '09-30', '12-31')[int(period[-1]) - 1]}"


def period_of(day: str, period: str) -> bool:
    """Whether the date `day` (YYYY-MM-DD) falls in `period` (YYYY or YYYY-Qn)."""
    match = PERIOD.fullmatch(period)
    if match is None or day[:4] != match.group(1):
        return False
    quarter = match.group(2)
    return quarter is None or (int(day[5:7]) - 1) // 3 + 1 == int(quarter)


def quarter_of(day: str) -> str:
    """The period `YYYY-Qn` holding a YYYY-MM-DD date."""
    return f"{day[:4]}-Q{(int(day[5:7]) - 1) // 3 + 1}"


def period_before(period: str) -> str:
    """The period before a quarter (2026-Q1 -> 2025-Q4) or a year (2026 -> 2025)."""
    year, _, quarter = period.partition("-Q")
    if not quarter:
        return str(int(year) - 1)
    return f"{year}-Q{int(quarter) - 1}" if quarter != "1" else f"{int(year) - 1}-Q4"


def year_before(period: str) -> str:
    """The same period a year earlier."""
    return f"{int(period[:4]) - 1:04d}{period[4:]}"


MAX_GRAMS = 10**12  # a million tonnes in one reading: beyond it, the quantity is a mistake


def co2e_grams(quantity: int, ug_per_unit: int) -> int:
    """Grams CO2e of `quantity` base units at `ug_per_unit` micrograms each, rounded half up.

    One entry may not exceed MAX_GRAMS, so that period totals stay exact integers (< 2^53)."""
    grams = (quantity * ug_per_unit + 500_000) // 1_000_000
    if grams > MAX_GRAMS:
        raise Invalid(
            f"{grams} g CO2e in one entry is over {MAX_GRAMS}", "submission.data.quantity"
        )
    return grams


def check_leaf_hash(text: str, field: str) -> str:
    if not HEX_HASH.fullmatch(text):
        raise Invalid("must be a leaf hash: 64 lowercase hex digits", field)
    return text


def check_leaf_hashes(texts: list[str], field: str) -> None:
    """Each of a list of leaf hashes, a refusal naming the one at fault (`field[i]`)."""
    for position, text in enumerate(texts):
        check_leaf_hash(text, f"{field}[{position}]")
