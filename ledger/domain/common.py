"""What every rule gets: the submission's context, the applied entry, dates, periods, arithmetic."""

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Annotated, Any

import msgspec

from ledger.errors import Invalid

HEX_HASH = re.compile(r"[0-9a-f]{64}")
Quantity = Annotated[int, msgspec.Meta(ge=0, le=10**15)]  # base units; 10^15 Wh is 1 TWh
PERIOD = re.compile(r"([0-9]{4})(?:-Q([1-4]))?")  # ASCII digits only


@dataclass(frozen=True)
class Context:
    """What a decision may look at besides its own account's state."""

    account: str
    key_id: str
    at: str
    factors: Any  # ReferenceBook of factor tables
    methods: Any  # ReferenceBook of grading methods

    @property
    def key_name(self) -> str:
        return self.key_id.split("+", 1)[0]


@dataclass(frozen=True)
class Applied:
    """An entry as its account's state sees it when applying it."""

    type: str
    data: Any
    effect: dict[str, Any]
    leaf_hash: str
    key_id: str


Decide = Callable[[Any, Any, Context], dict[str, Any]]
Evolve = Callable[[Any, Applied], None]


@dataclass(frozen=True)
class EventRule:
    """What the ledger needs to accept and apply one event type on one kind of account."""

    account_prefix: str
    roles: frozenset[str]
    schema: type[msgspec.Struct]
    decide: Decide
    evolve: Evolve


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
