"""Read-side periods: a year `YYYY`, a quarter `YYYY-Qn` or a month `YYYY-MM`, and the SQL
that picks a period's rows from a column holding months (and, for quarterly figures such as
output value, quarters)."""

import re
from typing import Any

from ledger.errors import Invalid

READ_PERIOD = re.compile(r"([0-9]{4})(?:-(Q[1-4]|0[1-9]|1[0-2]))?")
GRANULARITIES = ("month", "quarter", "year")


def check_read_period(text: str, field: str = "period") -> str:
    """A year, quarter or month, or Invalid naming the field."""
    if not READ_PERIOD.fullmatch(text):
        raise Invalid(f"{text!r} is not a period (YYYY, YYYY-Qn or YYYY-MM)", field)
    return text


def months_of_quarter(quarter: str) -> list[str]:
    first = (int(quarter[-1]) - 1) * 3 + 1
    return [f"{quarter[:4]}-{month:02d}" for month in range(first, first + 3)]


def period_filter(period: str | None, column: str = "period") -> tuple[str, list[Any]]:
    """SQL matching rows of `period` in `column` (months and quarters): a month is itself, a
    quarter is itself and its three months, a year everything in it; None matches all."""
    if period is None:
        return "1 = 1", []
    if "-Q" in period:
        keys = [period, *months_of_quarter(period)]
        return f"{column} IN (?, ?, ?, ?)", keys
    if "-" in period:
        return f"{column} = ?", [period]
    return f"({column} = ? OR {column} LIKE ?)", [period, f"{period}-%"]


def roll_up(key: str, granularity: str) -> str:
    """The period of `granularity` holding a row's key (a month, or a quarter for quarterly
    figures): 2026-08 -> 2026-Q3 -> 2026. A quarter's figures have no month: they stay."""
    if granularity == "year":
        return key[:4]
    if granularity == "quarter" and "-Q" not in key:
        return f"{key[:4]}-Q{(int(key[5:7]) - 1) // 3 + 1}"
    return key
