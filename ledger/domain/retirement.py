"""Retiring reductions: an exchange sells on part of an account's reduction of a quarter, and
no gram of it is ever retired twice (nor reversed once retired)."""

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Annotated

import msgspec

from ledger.domain.common import MAX_GRAMS, Applied, Effect, check_period, quarter_of
from ledger.errors import Conflict, Invalid

EXCHANGE = frozenset({"exchange"})


class ReductionRetired(msgspec.Struct, forbid_unknown_fields=True):
    """An exchange retires (sells on) part of an account's reduction of a quarter: once only."""

    period: str
    quantity_g: Annotated[int, msgspec.Meta(ge=1, le=MAX_GRAMS)]
    ref: str


@dataclass
class Retiring(ABC):
    """An account whose reductions an exchange may retire, quarter by quarter."""

    retired: dict[str, int] = field(default_factory=dict)  # quarter -> grams retired
    retirement_refs: set[str] = field(default_factory=set)

    @abstractmethod
    def reduction(self, period: str) -> int:
        """The period's live reductions (and sinks) in grams: what may be sold."""

    def retired_in(self, period: str) -> int:
        """Grams retired from the period's quarters (a year holds four)."""
        return sum(g for q, g in self.retired.items() if period in (q, q.partition("-")[0]))

    def unretired(self, period: str) -> int:
        return self.reduction(period) - self.retired_in(period)

    def check_reversal(self, day: str, reduction_g: int) -> None:
        """Refuse reversing `reduction_g` grams dated `day` where that quarter's reduction
        would fall below what an exchange has already retired from it."""
        quarter = quarter_of(day)
        if reduction_g > 0 and self.unretired(quarter) < reduction_g:
            raise Conflict(
                f"{self.retired_in(quarter)} g of {quarter}'s reduction is retired; reversing"
                f" {reduction_g} g would leave less than that",
                "submission.data.entry",
            )


def decide_retired(account: Retiring, data: ReductionRetired) -> Effect:
    """At most the quarter's unretired reduction, under a reference not used before."""
    check_period(data.period, "submission.data.period")
    if "-Q" not in data.period:
        raise Invalid("a reduction is retired per quarter, YYYY-Qn", "submission.data.period")
    if not data.ref or len(data.ref) > 128:
        raise Invalid(
            "give the exchange's reference for the lot (1-128 characters)", "submission.data.ref"
        )
    if data.ref in account.retirement_refs:
        raise Conflict(f"ref {data.ref!r} is already retired here", "submission.data.ref")
    unretired = account.unretired(data.period)
    if data.quantity_g > unretired:
        raise Conflict(
            f"{data.period} has {unretired} g of reduction not yet retired; cannot retire"
            f" {data.quantity_g} g",
            "submission.data.quantity_g",
        )
    return {"period": data.period, "retired_g": data.quantity_g}


def retire(account: Retiring, entry: Applied[ReductionRetired]) -> None:
    period = entry.data.period
    account.retired[period] = account.retired.get(period, 0) + entry.effect["retired_g"]
    account.retirement_refs.add(entry.data.ref)
