"""Agricultural carbon accounts `agr:<code>`: reductions, sinks and emissions -> green list."""

from dataclasses import dataclass, field
from typing import Literal

import msgspec

from ledger.domain import graded
from ledger.domain.common import (
    Applied,
    Context,
    Effect,
    Quantity,
    Rules,
    co2e_grams,
    event_rule,
    period_of,
)
from ledger.domain.grading import agri_grade
from ledger.domain.reference import AgriFactors, AgriGrading
from ledger.domain.retirement import EXCHANGE, ReductionRetired, Retiring, decide_retired, retire
from ledger.errors import Invalid

PREFIX = "agr:"
FACTORS = "agri-factors"
METHOD = "agri-grading"


class FarmRegistered(msgspec.Struct, forbid_unknown_fields=True):
    name: str
    kind: Literal["grain", "pig", "fertiliser"]
    district: str


class AgriActivityRecorded(msgspec.Struct, forbid_unknown_fields=True, rename={"from_": "from"}):
    activity: str
    quantity: Quantity
    unit: str
    from_: str
    to: str


class GradeAssigned(msgspec.Struct, forbid_unknown_fields=True):
    period: str
    grade: Literal["dark_green", "mid_green", "light_green", "none"]
    method: str
    reduction_g: int
    emission_g: int
    inputs: list[str]


@dataclass(frozen=True)
class Activity:
    end: str
    reduction_g: int
    emission_g: int


@dataclass
class FarmAccount(graded.GradedAccount, Retiring):
    activities: dict[str, Activity] = field(default_factory=dict)

    def reduction(self, period: str) -> int:
        """The period's reductions and sinks (emissions do not offset them: what is sold is
        what the farm reduced)."""
        figures = self.figures(period)
        return figures[0] if figures else 0

    def figures(self, period: str) -> tuple[int, int, list[str]] | None:
        """(reduction_g, emission_g, input leaf hashes) of a period with activity."""
        live = {
            leaf: a
            for leaf, a in self.activities.items()
            if leaf not in self.reversed and period_of(a.end, period)
        }
        if not live:
            return None
        reduction = sum(a.reduction_g for a in live.values())
        emission = sum(a.emission_g for a in live.values())
        return reduction, emission, sorted(live)


def _decide_retired(account: FarmAccount, data: ReductionRetired, context: Context) -> Effect:
    account.check_registered(context)
    return decide_retired(account, data)


def _decide_registered(account: FarmAccount, data: FarmRegistered, context: Context) -> Effect:
    graded.check_registration(account, data.name, data.district, "farm")
    return {}


def _decide_activity(account: FarmAccount, data: AgriActivityRecorded, context: Context) -> Effect:
    graded.check_measurement(account, data.from_, data.to, data.quantity, context)
    table = context.factors.current(FACTORS, data.to, "submission.data.to")
    factors = table.body_as(AgriFactors)
    factor = factors.activities.get(data.activity)
    if factor is None:
        known = ", ".join(sorted(factors.activities))
        raise Invalid(
            f"unknown activity {data.activity!r}; one of {known}", "submission.data.activity"
        )
    farm = account.check_registered(context)["kind"]
    if factor.farms is not None and farm not in factor.farms:
        items = ", ".join(
            sorted(n for n, f in factors.activities.items() if farm in (f.farms or []))
        )
        raise Invalid(
            f"a {farm} farm does not report {data.activity} ({table.cite}: it reports {items})",
            "submission.data.activity",
        )
    if data.unit != factor.unit:
        raise Invalid(
            f"{data.activity} is counted in {factor.unit}, not {data.unit}", "submission.data.unit"
        )
    grams = 0 if factor.kind == "record" else co2e_grams(data.quantity, factor.co2e_ug_per_unit)
    emission = grams if factor.kind == "emission" else 0
    return {"reduction_g": grams - emission, "emission_g": emission, "rules": table.cite}


def _decide_reversed(account: FarmAccount, data: graded.EntryReversed, context: Context) -> Effect:
    account.check_registered(context)
    target = account.check_reversible(data.entry, account.activities)
    account.check_reversal(target.end, target.reduction_g)
    return {
        "reverses": data.entry,
        "reduction_g": -target.reduction_g,
        "emission_g": -target.emission_g,
        "on": target.end,
    }


def _decide_grade(account: FarmAccount, data: GradeAssigned, context: Context) -> Effect:
    method, (reduction, emission, _) = graded.grade_basis(
        account, data, context, METHOD, "no activity"
    )
    if (data.reduction_g, data.emission_g) != (reduction, emission):
        raise Invalid(
            f"this farm's {data.period} figures are {reduction} g, {emission} g",
            "submission.data.reduction_g",
        )
    grade = agri_grade(method.body_as(AgriGrading), reduction, emission)
    if grade != data.grade:
        raise Invalid(f"{data.method} gives {grade} for these figures", "submission.data.grade")
    return {}


def _register(account: FarmAccount, entry: Applied[FarmRegistered]) -> None:
    account.registered = msgspec.to_builtins(entry.data)


def _record_activity(account: FarmAccount, entry: Applied[AgriActivityRecorded]) -> None:
    effect = entry.effect
    account.activities[entry.leaf_hash] = Activity(
        entry.data.to, effect["reduction_g"], effect["emission_g"]
    )


def _reverse(account: FarmAccount, entry: Applied[graded.EntryReversed]) -> None:
    account.reversed.add(entry.data.entry)


AUTHORITY = frozenset({"authority"})
RULES: Rules = {
    "FarmRegistered": event_rule(PREFIX, AUTHORITY, FarmRegistered, _decide_registered, _register),
    "AgriActivityRecorded": event_rule(
        PREFIX, frozenset({"agri"}), AgriActivityRecorded, _decide_activity, _record_activity
    ),
    "EntryReversed": event_rule(
        PREFIX, frozenset({"agri", "authority"}), graded.EntryReversed, _decide_reversed, _reverse
    ),
    "ReductionRetired": event_rule(PREFIX, EXCHANGE, ReductionRetired, _decide_retired, retire),
    **graded.grade_rules(PREFIX, GradeAssigned, _decide_grade, "farm", "farm"),
}
ACCOUNT_KINDS = {PREFIX: FarmAccount}
