"""Grading runs on `sys:grading`: an authority asks for a period to be graded, on the record."""

from dataclasses import dataclass, field
from typing import Literal

import msgspec

from ledger.domain import agricultural, industrial
from ledger.domain.common import (
    Applied,
    Context,
    Effect,
    Rules,
    check_period,
    event_rule,
    period_end,
)

RUNS_ACCOUNT = "sys:grading"


class GradingRunRequested(msgspec.Struct, forbid_unknown_fields=True):
    kind: Literal["industrial", "agri"]
    period: str


@dataclass
class GradingRuns:
    runs: list[tuple[str, str, str]] = field(default_factory=list)  # (kind, period, leaf)


METHODS = {"industrial": industrial.METHOD, "agri": agricultural.METHOD}


def _decide(_: GradingRuns, data: GradingRunRequested, context: Context) -> Effect:
    check_period(data.period, "submission.data.period")
    # a run no grading method covers is refused here, before it is on the record
    context.methods.current(METHODS[data.kind], period_end(data.period), "submission.data.period")
    return {}


def _record(runs: GradingRuns, entry: Applied[GradingRunRequested]) -> None:
    runs.runs.append((entry.data.kind, entry.data.period, entry.leaf_hash))


RULES: Rules = {
    "GradingRunRequested": event_rule(
        RUNS_ACCOUNT, frozenset({"authority"}), GradingRunRequested, _decide, _record
    )
}
ACCOUNT_KINDS = {RUNS_ACCOUNT: GradingRuns}
