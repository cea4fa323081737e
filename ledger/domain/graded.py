"""What industrial and agricultural accounts share: registration, reversals, grades, disputes."""

from dataclasses import dataclass, field
from functools import partial
from typing import Any, Literal, Protocol, TypeVar

import msgspec

from ledger.domain.common import (
    Applied,
    Context,
    Decide,
    Effect,
    Rules,
    check_leaf_hash,
    check_leaf_hashes,
    check_period,
    event_rule,
    parse_date,
)
from ledger.domain.reference import Published
from ledger.errors import Conflict, Forbidden, Invalid

Target = TypeVar("Target")
Figures = tuple[int, int, list[str]]  # the period's two totals and its input leaf hashes


class GradeDisputed(msgspec.Struct, forbid_unknown_fields=True):
    grade: str
    reason: str
    evidence: list[str]


class DisputeResolved(msgspec.Struct, forbid_unknown_fields=True):
    dispute: str
    outcome: Literal["upheld", "rejected"]
    note: str


class EntryReversed(msgspec.Struct, forbid_unknown_fields=True):
    entry: str
    reason: str


@dataclass
class Dispute:
    grade: str  # the disputed grade's leaf
    outcome: str | None = None  # upheld or rejected, once resolved


@dataclass
class GradedAccount:
    """State common to enterprises and farms."""

    registered: dict[str, str] | None = None  # the registration's data
    reversed: set[str] = field(default_factory=set)
    grades: dict[str, dict[str, Any]] = field(default_factory=dict)  # leaf -> GradeAssigned data
    latest_grade: dict[str, str] = field(default_factory=dict)  # period -> leaf
    disputes: dict[str, Dispute] = field(default_factory=dict)  # by the dispute's leaf

    def open_dispute(self, grade: str) -> str | None:
        """The leaf of the grade's unresolved dispute, if it has one."""
        return next(
            (leaf for leaf, d in self.disputes.items() if d.grade == grade and not d.outcome),
            None,
        )

    def check_registered(self, context: Context) -> dict[str, str]:
        """The registration's data; Conflict if there is none."""
        if self.registered is None:
            raise Conflict(f"{context.account} is not registered", "submission.account")
        return self.registered

    def check_reversible(self, leaf: str, reversible: dict[str, Target]) -> Target:
        check_leaf_hash(leaf, "submission.data.entry")
        target = reversible.get(leaf)
        if target is None:
            raise Invalid("not a reversible entry of this account", "submission.data.entry")
        if leaf in self.reversed:
            raise Conflict("that entry is already reversed", "submission.data.entry")
        return target


def check_measurement(
    account: GradedAccount, start: str, end: str, quantity: int, context: Context
) -> None:
    """A reading or activity: on a registered account, a real date range ending by `at`."""
    account.check_registered(context)
    if parse_date(start, "submission.data.from") > parse_date(end, "submission.data.to"):
        raise Invalid("`from` is after `to`", "submission.data.from")
    if end > context.at[:10]:
        raise Invalid("`to` is after the submission's `at`", "submission.data.to")
    if quantity < 0:
        raise Invalid("`quantity` must not be negative", "submission.data.quantity")


def check_registration(account: GradedAccount, name: str, district: str, what: str) -> None:
    if not name or not district:
        raise Invalid("name and district are required", "submission.data.name")
    if account.registered is not None:
        raise Conflict(f"the {what} is already registered", "submission.type")


class Gradable(Protocol):
    """An account a grade can be assigned to: a registered one with figures by period."""

    def check_registered(self, context: Context) -> dict[str, str]: ...

    def figures(self, period: str) -> Figures | None: ...


class GradeClaim(Protocol):
    """What every GradeAssigned holds: the period, the cited method and the inputs."""

    period: str
    method: str
    inputs: list[str]


def cited_method(context: Context, cite: str, name: str) -> Published:
    """The published grading method a grade cites, which must be a version of `name`."""
    method = context.methods.cited(cite)
    if method is None or method.name != name:
        raise Invalid(f"{cite!r} is not a published {name}", "submission.data.method")
    return method


def decide_disputed(
    account: GradedAccount, data: GradeDisputed, context: Context, key_prefix: str
) -> Effect:
    code = context.account.split(":", 1)[1]
    if context.key_name != f"{key_prefix}.{code}":
        raise Forbidden(
            f"only key {key_prefix}.{code} may dispute grades of {context.account}",
            "submission.key",
        )
    check_leaf_hash(data.grade, "submission.data.grade")
    if data.grade not in account.grades:
        raise Invalid("not a grade of this account", "submission.data.grade")
    if (open_dispute := account.open_dispute(data.grade)) is not None:
        raise Conflict(
            f"that grade is already disputed ({open_dispute}), and the dispute is not resolved",
            "submission.data.grade",
        )
    check_leaf_hashes(data.evidence, "submission.data.evidence")
    if not data.reason:
        raise Invalid("give a reason", "submission.data.reason")
    return {}


def decide_resolved(account: GradedAccount, data: DisputeResolved, _: Context) -> Effect:
    check_leaf_hash(data.dispute, "submission.data.dispute")
    if data.dispute not in account.disputes:
        raise Invalid("not a dispute of this account", "submission.data.dispute")
    if account.disputes[data.dispute].outcome is not None:
        raise Conflict("that dispute is already resolved", "submission.data.dispute")
    return {}


def dispute(account: GradedAccount, entry: Applied[GradeDisputed]) -> None:
    account.disputes[entry.leaf_hash] = Dispute(entry.data.grade)


def resolve(account: GradedAccount, entry: Applied[DisputeResolved]) -> None:
    account.disputes[entry.data.dispute].outcome = entry.data.outcome


def assign(account: GradedAccount, entry: Applied[GradeClaim]) -> None:
    data: dict[str, Any] = msgspec.to_builtins(entry.data)
    account.grades[entry.leaf_hash] = data
    account.latest_grade[data["period"]] = entry.leaf_hash


def grade_basis(
    account: Gradable, data: GradeClaim, context: Context, method_name: str, missing: str
) -> tuple[Published, Figures]:
    """The method a GradeAssigned cites and the account's own figures for its period, with
    its inputs checked: exactly the account's live entries of the period, sorted."""
    account.check_registered(context)
    check_period(data.period, "submission.data.period")
    method = cited_method(context, data.method, method_name)
    figures = account.figures(data.period)
    if figures is None:
        raise Invalid(f"{missing} for {data.period}", "submission.data.period")
    check_grade_inputs(data.inputs, figures[2])
    return method, figures


def check_grade_inputs(inputs: list[str], expected: list[str]) -> None:
    if inputs != expected:
        raise Invalid(
            f"inputs must be this account's {len(expected)} live entries of the period, sorted",
            "submission.data.inputs",
        )


Grade = TypeVar("Grade", bound=GradeClaim)
Account = TypeVar("Account", bound=GradedAccount)


def grade_rules(
    prefix: str,
    schema: type[Grade],
    decide_grade: Decide[Account, Grade],
    role: str,
    key_prefix: str,
) -> Rules:
    """GradeAssigned (grader), GradeDisputed (the account's own key) and DisputeResolved."""
    return {
        "GradeAssigned": event_rule(prefix, frozenset({"grader"}), schema, decide_grade, assign),
        "GradeDisputed": event_rule(
            prefix,
            frozenset({role}),
            GradeDisputed,
            partial(decide_disputed, key_prefix=key_prefix),
            dispute,
        ),
        "DisputeResolved": event_rule(
            prefix, frozenset({"authority"}), DisputeResolved, decide_resolved, resolve
        ),
    }
