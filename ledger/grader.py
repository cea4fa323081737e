"""The grading service: compute each enterprise's or farm's grade for a period and append it.

Grades are computed from the accounts' own state (the entries they cite) and the cited
method, exactly as the ledger rechecks them; a run with nothing changed appends nothing.
"""

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple

from crypto.canonical import CanonicalError
from crypto.keys import Signer
from crypto.records import Receipt
from ledger.account import Account
from ledger.domain import agricultural, industrial
from ledger.domain.common import check_period, period_end
from ledger.domain.grading import agri_grade, grade_submission, industrial_grade
from ledger.domain.reference import METHODS_ACCOUNT, AgriGrading, IndustrialGrading, Published
from ledger.errors import Invalid, LedgerError
from ledger.history import state_before
from ledger.ledger import Ledger
from ledger.storage.base import LogRecorder

Kind = Literal["industrial", "agri"]


@dataclass(frozen=True)
class RunResult:
    """What a run appended, what it left as it was, and what the ledger refused."""

    appended: list[Receipt]
    unchanged: int
    refused: list[LedgerError]
    incomplete: LedgerError | None = None  # storage failed after the request was recorded


def _industrial_grades(
    accounts: dict[str, Account], log: LogRecorder, method: Published, period: str, as_of: int
) -> dict[str, dict[str, Any]]:
    """Each enterprise's own figures as they are now; the rest of its industry as the log had
    it below `as_of`, which the grade records so evidence can show the same benchmark."""
    at_cut = {a: state_before(log, a, as_of)[0] for a in log.accounts(industrial.PREFIX)}
    cut_figures: dict[str, dict[str, tuple[int, int]]] = defaultdict(dict)
    for account_id, state in at_cut.items():
        figures = state.figures(period) if state.registered else None
        if figures is not None:
            cut_figures[state.registered["industry"]][account_id] = figures[:2]
    grades = {}
    earlier = _Earlier(log, period)
    for account_id, account in accounts.items():
        figures = account.state.figures(period)
        if figures is None:
            continue
        co2e, value, inputs = figures
        code = account.state.registered["industry"]
        others = [f for other, f in cut_figures[code].items() if other != account_id]
        industry_co2e = co2e + sum(f[0] for f in others)
        industry_value = value + sum(f[1] for f in others)
        body = method.body_as(IndustrialGrading)
        previous = industrial.previous_figures(account.state, period, body)
        grade = industrial_grade(body, co2e, value, industry_co2e, industry_value, previous)
        grades[account_id] = {
            "period": period,
            "grade": grade,
            "method": method.cite,
            "co2e_g": co2e,
            "value_fen": value,
            "industry": code,
            "industry_co2e_g": industry_co2e,
            "industry_value_fen": industry_value,
            "previous": {"co2e_g": previous[0], "value_fen": previous[1]} if previous else None,
            "inputs": inputs,
            "as_of": as_of,
        }
        latest = account.state.latest_grade.get(period)
        recorded = account.state.grades[latest] if latest else None
        own = recorded is not None and (recorded["co2e_g"], recorded["value_fen"]) == (co2e, value)
        if recorded is not None and own:
            benchmark = (recorded["industry_co2e_g"], recorded["industry_value_fen"])
            if benchmark != (industry_co2e, industry_value):
                now = {o: at_cut[o] for o in cut_figures[code] if o != account_id}
                cause = earlier.moved(now, recorded["as_of"], code, account_id)
                grades[account_id]["cause"] = cause
    return grades


class _Earlier:
    """Other firms' states at earlier cuts of the log, each replayed once."""

    def __init__(self, log: LogRecorder, period: str) -> None:
        self.log, self.period = log, period
        self.states: dict[tuple[str, int], Any] = {}

    def _state(self, account: str, below: int) -> Any:
        if (account, below) not in self.states:
            self.states[account, below] = state_before(self.log, account, below)[0]
        return self.states[account, below]

    def moved(self, now: dict[str, Any], below: int, code: str, own: str) -> list[str]:
        """The input entries of the industry's other firms that are in one cut and not the
        other: readings and output values that arrived, or were reversed, since `below`."""
        then = {
            account: self._state(account, below)
            for account in self.log.accounts(industrial.PREFIX)
            if account != own
        }
        then = {a: s for a, s in then.items() if s.registered and s.registered["industry"] == code}
        changed: set[str] = set()
        for account in set(now) | set(then):
            changed |= _inputs(now.get(account), self.period) ^ _inputs(
                then.get(account), self.period
            )
        return sorted(changed)


def _inputs(state: Any, period: str) -> set[str]:
    figures = state.figures(period) if state is not None and state.registered else None
    return set(figures[2]) if figures else set()


def _agri_grades(
    accounts: dict[str, Account], _: LogRecorder, method: Published, period: str, __: int
) -> dict[str, dict[str, Any]]:
    grades = {}
    for account_id, account in accounts.items():
        figures = account.state.figures(period)
        if figures is None:
            continue
        reduction, emission, inputs = figures
        grades[account_id] = {
            "period": period,
            "grade": agri_grade(method.body_as(AgriGrading), reduction, emission),
            "method": method.cite,
            "reduction_g": reduction,
            "emission_g": emission,
            "inputs": inputs,
        }
    return grades


def _same(recorded: dict[str, Any], wanted: dict[str, Any]) -> bool:
    """Whether a recorded grade says what a new one would, whatever cut each was taken at."""
    ignored = {"as_of": None, "cause": None}
    return {**recorded, **ignored} == {**wanted, **ignored}


# an account's grade data by account id, from the registered accounts of a kind
Grades = Callable[[dict[str, Account], LogRecorder, Published, str, int], dict[str, dict[str, Any]]]
KINDS: dict[str, tuple[str, str, Grades]] = {
    "industrial": (industrial.PREFIX, industrial.METHOD, _industrial_grades),
    "agri": (agricultural.PREFIX, agricultural.METHOD, _agri_grades),
}


class Proposals(NamedTuple):
    """The grades a run would append (by account id), and how many are already recorded."""

    changed: dict[str, dict[str, Any]]
    unchanged: int


class Grading:
    """What the grades should be, from the accounts and the log; signs nothing."""

    def __init__(self, ledger: Ledger, log: LogRecorder) -> None:
        self.ledger = ledger
        self.log = log

    def grades(self, kind: Kind, period: str, as_of: int) -> dict[str, dict[str, Any]]:
        """The grade each account with data in `period` should have, by account id, with
        the industry benchmark taken from the log below index `as_of`."""
        check_period(period, "period")
        prefix, method_name, compute = KINDS[kind]
        methods = self.ledger.system.now()[METHODS_ACCOUNT]
        method = methods.current(method_name, period_end(period), "period")
        loaded = self.ledger.accounts.get_many(self.log.accounts(prefix))
        accounts = {a: acc for a, acc in loaded.items() if acc and acc.state.registered}
        return compute(accounts, self.log, method, period, as_of)

    def proposals(self, kind: Kind, period: str, as_of: int) -> Proposals:
        """Every grade that differs (but for `as_of`) from the account's latest."""
        wanted = self.grades(kind, period, as_of)
        current = self.ledger.accounts.get_many(wanted)
        changed = {}
        for account_id, data in sorted(wanted.items()):
            account = current[account_id]
            assert account is not None  # wanted has registered accounts only, which stay
            latest = account.state.latest_grade.get(period)
            if latest is None or not _same(account.state.grades[latest], data):
                changed[account_id] = data
        return Proposals(changed, len(wanted) - len(changed))


class Grader(Grading):
    """Appends GradeAssigned entries signed by the grading service's key."""

    def __init__(self, ledger: Ledger, log: LogRecorder, signer: Signer) -> None:
        super().__init__(ledger, log)
        self.signer = signer

    def run(self, kind: Kind, period: str, as_of: int) -> RunResult:
        """Append every grade that differs (but for `as_of`) from the account's latest."""
        changed, unchanged = self.proposals(kind, period, as_of)
        wires = []
        unsignable: list[LedgerError] = []
        for account_id, data in changed.items():
            try:
                wires.append(grade_submission(self.signer, account_id, data))
            except CanonicalError as error:  # totals beyond 2^53: report it, grade the rest
                unsignable.append(Invalid(f"{account_id}: {error}", "period"))
        results = self.ledger.submit_batch(wires) if wires else []
        appended = [r for r in results if isinstance(r, Receipt)]
        refused = unsignable + [r for r in results if isinstance(r, LedgerError)]
        return RunResult(appended, unchanged, refused)
