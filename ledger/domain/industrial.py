"""Industrial carbon accounts `ind:<unified social credit code>`: metered energy -> grades."""

import re
from dataclasses import dataclass, field
from typing import Annotated, Literal

import msgspec

from ledger.domain import graded
from ledger.domain.common import (
    Applied,
    Context,
    Effect,
    Quantity,
    Rules,
    check_leaf_hashes,
    check_period,
    co2e_grams,
    event_rule,
    period_before,
    period_of,
    year_before,
)
from ledger.domain.grading import industrial_grade
from ledger.domain.reference import IndustrialFactors, IndustrialGrading
from ledger.errors import Conflict, Invalid

PREFIX = "ind:"
FACTORS = "industrial-factors"
METHOD = "industrial-grading"
INDUSTRY = re.compile(r"[A-T][0-9]{2}")
CREDIT_CODE = re.compile(r"[0-9A-Z]{18}")


class EnterpriseRegistered(msgspec.Struct, forbid_unknown_fields=True):
    name: str
    industry: str
    district: str


class EnergyReadingRecorded(msgspec.Struct, forbid_unknown_fields=True, rename={"from_": "from"}):
    meter: str
    energy: Literal["electricity", "steam", "natural_gas", "raw_coal", "water"]
    quantity: Quantity
    unit: Literal["Wh", "MJ", "L", "g"]
    from_: str
    to: str


class ProcessOutputRecorded(msgspec.Struct, forbid_unknown_fields=True, rename={"from_": "from"}):
    """A product whose making emits CO2 itself (cement clinker, quicklime, flat glass ...)."""

    product: str
    quantity: Quantity
    unit: Literal["g"]
    from_: str
    to: str


class OutputValueReported(msgspec.Struct, forbid_unknown_fields=True):
    period: str
    value_fen: Quantity


class Previous(msgspec.Struct, forbid_unknown_fields=True):
    co2e_g: int
    value_fen: int


class GradeAssigned(msgspec.Struct, forbid_unknown_fields=True):
    period: str
    grade: Literal["dark_green", "light_green", "yellow", "red"]
    method: str
    co2e_g: int
    value_fen: int
    industry: str
    industry_co2e_g: int
    industry_value_fen: int
    previous: Previous | None
    inputs: list[str]
    as_of: Annotated[int, msgspec.Meta(ge=0)]  # the benchmark is of the log below this index
    # a regrade with the firm's own figures unchanged: the other firms' entries whose arrival
    # or reversal since the last grade moved the industry benchmark (a correction elsewhere)
    cause: list[str] = msgspec.field(default_factory=list)


@dataclass(frozen=True)
class Reading:
    meter: str
    energy: str
    start: str
    end: str
    co2e_g: int
    scope3: bool


@dataclass
class EnterpriseAccount(graded.GradedAccount):
    readings: dict[str, Reading] = field(default_factory=dict)
    outputs: dict[str, tuple[str, int]] = field(default_factory=dict)  # leaf -> (period, fen)

    def live_readings(self, period: str) -> dict[str, Reading]:
        return {
            leaf: r
            for leaf, r in self.readings.items()
            if leaf not in self.reversed and not r.scope3 and period_of(r.end, period)
        }

    def live_output(self, period: str) -> tuple[str, int] | None:
        for leaf, (reported, fen) in self.outputs.items():
            if reported == period and leaf not in self.reversed:
                return leaf, fen
        return None

    def figures(self, period: str) -> tuple[int, int, list[str]] | None:
        """(co2e_g, value_fen, input leaf hashes) of a period with readings and output value."""
        readings = self.live_readings(period)
        output = self.live_output(period)
        if not readings or output is None or output[1] <= 0:
            return None
        co2e = sum(r.co2e_g for r in readings.values())
        return co2e, output[1], sorted([*readings, output[0]])


def _decide_registered(
    account: EnterpriseAccount, data: EnterpriseRegistered, context: Context
) -> Effect:
    if not CREDIT_CODE.fullmatch(context.account[len(PREFIX) :]):
        raise Invalid(
            "an enterprise account is ind:<18-character credit code>", "submission.account"
        )
    if not INDUSTRY.fullmatch(data.industry):
        raise Invalid("industry must be a GB/T 4754 code such as C26", "submission.data.industry")
    graded.check_registration(account, data.name, data.district, "enterprise")
    return {}


def _decide_reading(
    account: EnterpriseAccount, data: EnergyReadingRecorded, context: Context
) -> Effect:
    graded.check_measurement(account, data.from_, data.to, data.quantity, context)
    table = context.factors.current(FACTORS, data.to, "submission.data.to")
    factor = table.body_as(IndustrialFactors).energies.get(data.energy)
    if factor is None:
        raise Invalid(f"{table.cite} has no factor for {data.energy}", "submission.data.energy")
    if data.unit != factor.unit:
        raise Invalid(
            f"{data.energy} is metered in {factor.unit}, not {data.unit}", "submission.data.unit"
        )
    _check_overlap(account, data.meter, data.energy, data.from_, data.to)
    grams = co2e_grams(data.quantity, factor.co2e_ug_per_unit)
    key = "scope3_co2e_g" if factor.scope3 else "co2e_g"
    return {key: grams, "rules": table.cite}


def _check_overlap(account: EnterpriseAccount, meter: str, what: str, start: str, end: str) -> None:
    """Conflict if a live reading of the same meter and energy (or product) overlaps."""
    for leaf, reading in account.readings.items():
        same_meter = (reading.meter, reading.energy) == (meter, what)
        overlaps = reading.start <= end and start <= reading.end
        if same_meter and overlaps and leaf not in account.reversed:
            raise Conflict(
                f"{meter} already has {what} for {reading.start}..{reading.end}",
                "submission.data.from",
            )


MAX_CAUSES = 1000
PROCESS = "process"  # the "meter" of a product's process emissions


def _decide_process(
    account: EnterpriseAccount, data: ProcessOutputRecorded, context: Context
) -> Effect:
    graded.check_measurement(account, data.from_, data.to, data.quantity, context)
    table = context.factors.current(FACTORS, data.to, "submission.data.to")
    factor = table.body_as(IndustrialFactors).products.get(data.product)
    if factor is None:
        raise Invalid(
            f"{table.cite} has no process factor for {data.product}", "submission.data.product"
        )
    _check_overlap(account, PROCESS, data.product, data.from_, data.to)
    return {"co2e_g": co2e_grams(data.quantity, factor.co2e_ug_per_unit), "rules": table.cite}


def _decide_output(
    account: EnterpriseAccount, data: OutputValueReported, context: Context
) -> Effect:
    account.check_registered(context)
    check_period(data.period, "submission.data.period")
    if "-Q" not in data.period:
        raise Invalid("output value is reported per quarter, YYYY-Qn", "submission.data.period")
    if data.value_fen < 0:
        raise Invalid("`value_fen` must not be negative", "submission.data.value_fen")
    if account.live_output(data.period) is not None:
        raise Conflict(
            f"output value for {data.period} is reported; reverse it first",
            "submission.data.period",
        )
    return {"period": data.period, "value_fen": data.value_fen}


def _decide_reversed(
    account: EnterpriseAccount, data: graded.EntryReversed, context: Context
) -> Effect:
    account.check_registered(context)
    reversible: dict[str, Reading | tuple[str, int]] = {**account.readings, **account.outputs}
    target = account.check_reversible(data.entry, reversible)
    if isinstance(target, Reading):
        key = "scope3_co2e_g" if target.scope3 else "co2e_g"
        return {"reverses": data.entry, key: -target.co2e_g, "on": target.end}
    period, fen = target
    return {"reverses": data.entry, "period": period, "value_fen": -fen}


def previous_figures(
    account: EnterpriseAccount, period: str, method: IndustrialGrading
) -> tuple[int, int] | None:
    """(co2e_g, value_fen) the vertical comparison uses: the same period a year earlier, or
    the sums over the trailing periods that have figures; None if there is none."""
    if method.vertical == "same_period_last_year":
        before = account.figures(year_before(period))
        return (before[0], before[1]) if before else None
    totals, earlier = [0, 0], period
    for _ in range(method.trailing_periods):
        earlier = period_before(earlier)
        figures = account.figures(earlier)
        if figures is not None:
            totals = [totals[0] + figures[0], totals[1] + figures[1]]
    return (totals[0], totals[1]) if totals[1] > 0 else None


def expected_grade(
    account: EnterpriseAccount, data: GradeAssigned, method: IndustrialGrading
) -> str:
    """The grade the cited method gives these figures (checked against the account's own)."""
    previous = (data.previous.co2e_g, data.previous.value_fen) if data.previous else None
    return industrial_grade(
        method, data.co2e_g, data.value_fen, data.industry_co2e_g, data.industry_value_fen, previous
    )


def _decide_grade(account: EnterpriseAccount, data: GradeAssigned, context: Context) -> Effect:
    method, (co2e, value, _) = graded.grade_basis(
        account, data, context, METHOD, "no readings and output value"
    )
    if (data.co2e_g, data.value_fen) != (co2e, value):
        raise Invalid(
            f"this account's {data.period} figures are {co2e} g, {value} fen",
            "submission.data.co2e_g",
        )
    industry = account.check_registered(context)["industry"]  # grade_basis has checked it
    if data.industry != industry:
        raise Invalid(f"the enterprise is in {industry}", "submission.data.industry")
    body = method.body_as(IndustrialGrading)
    previous = None if data.previous is None else (data.previous.co2e_g, data.previous.value_fen)
    if previous != previous_figures(account, data.period, body):
        raise Invalid(
            f"`previous` must be the firm's {body.vertical.replace('_', ' ')} as {data.method}"
            " defines it, or null without one",
            "submission.data.previous",
        )
    check_leaf_hashes(data.cause, "submission.data.cause")
    if data.cause != sorted(set(data.cause)) or len(data.cause) > MAX_CAUSES:
        raise Invalid(
            f"`cause` lists at most {MAX_CAUSES} leaf hashes, sorted, once each",
            "submission.data.cause",
        )
    if data.industry_value_fen <= 0 or data.industry_co2e_g < 0:
        raise Invalid("industry totals must be positive", "submission.data.industry_value_fen")
    grade = expected_grade(account, data, method.body_as(IndustrialGrading))
    if grade != data.grade:
        raise Invalid(f"{data.method} gives {grade} for these figures", "submission.data.grade")
    return {}


def _register(account: EnterpriseAccount, entry: Applied[EnterpriseRegistered]) -> None:
    account.registered = msgspec.to_builtins(entry.data)


def _record_reading(account: EnterpriseAccount, entry: Applied[EnergyReadingRecorded]) -> None:
    data = entry.data
    scope3 = "scope3_co2e_g" in entry.effect
    grams = entry.effect["scope3_co2e_g" if scope3 else "co2e_g"]
    account.readings[entry.leaf_hash] = Reading(
        data.meter, data.energy, data.from_, data.to, grams, scope3
    )


def _record_process(account: EnterpriseAccount, entry: Applied[ProcessOutputRecorded]) -> None:
    data = entry.data
    account.readings[entry.leaf_hash] = Reading(
        PROCESS, data.product, data.from_, data.to, entry.effect["co2e_g"], False
    )


def _record_output(account: EnterpriseAccount, entry: Applied[OutputValueReported]) -> None:
    account.outputs[entry.leaf_hash] = (entry.data.period, entry.data.value_fen)


def _reverse(account: EnterpriseAccount, entry: Applied[graded.EntryReversed]) -> None:
    account.reversed.add(entry.data.entry)


AUTHORITY = frozenset({"authority"})
RULES: Rules = {
    "EnterpriseRegistered": event_rule(
        PREFIX, AUTHORITY, EnterpriseRegistered, _decide_registered, _register
    ),
    "EnergyReadingRecorded": event_rule(
        PREFIX, frozenset({"meter"}), EnergyReadingRecorded, _decide_reading, _record_reading
    ),
    "ProcessOutputRecorded": event_rule(
        PREFIX,
        frozenset({"meter", "authority"}),
        ProcessOutputRecorded,
        _decide_process,
        _record_process,
    ),
    "OutputValueReported": event_rule(
        PREFIX,
        frozenset({"meter", "authority"}),
        OutputValueReported,
        _decide_output,
        _record_output,
    ),
    "EntryReversed": event_rule(
        PREFIX, frozenset({"meter", "authority"}), graded.EntryReversed, _decide_reversed, _reverse
    ),
    **graded.grade_rules(PREFIX, GradeAssigned, _decide_grade, "enterprise", "ent"),
}
ACCOUNT_KINDS = {PREFIX: EnterpriseAccount}
