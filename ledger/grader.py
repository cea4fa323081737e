"""The grading service: compute each enterprise's or farm's grade for a period and append it.

Grades are computed from the accounts' own state (the entries they cite) and the cited
method, exactly as the ledger rechecks them; a run with nothing changed appends nothing.
"""

import hashlib
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from crypto.canonical import canonical_json
from crypto.keys import Signer
from crypto.records import sign_submission
from ledger.domain import agricultural, industrial
from ledger.domain.common import check_period, year_before
from ledger.domain.grading import agri_grade, industrial_grade
from ledger.domain.reference import METHODS_ACCOUNT
from ledger.errors import LedgerError
from ledger.ledger import Ledger, Receipt
from ledger.log.recorder import LogRecorder

Kind = Literal["industrial", "agri"]


@dataclass(frozen=True)
class RunResult:
    """What a run appended, what it left as it was, and what the ledger refused."""

    appended: list[Receipt]
    unchanged: int
    refused: list[LedgerError]


def _period_end(period: str) -> str:
    if "-Q" not in period:
        return f"{period}-12-31"
    return f"{period[:4]}-{('03-31', '06-30', '09-30', '12-31')[int(period[-1]) - 1]}"


def _industrial_grades(
    accounts: dict[str, Any], method: Any, period: str
) -> dict[str, dict[str, Any]]:
    figures = {a: acc.state.figures(period) for a, acc in accounts.items()}
    figures = {a: f for a, f in figures.items() if f is not None}
    totals: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for account_id, (co2e, value, _) in figures.items():
        total = totals[accounts[account_id].state.registered["industry"]]
        total[0] += co2e
        total[1] += value
    grades = {}
    for account_id, (co2e, value, inputs) in figures.items():
        state = accounts[account_id].state
        code = state.registered["industry"]
        before = state.figures(year_before(period))
        previous = (before[0], before[1]) if before else None
        grade = industrial_grade(
            method.body, co2e, value, totals[code][0], totals[code][1], previous
        )
        grades[account_id] = {
            "period": period,
            "grade": grade,
            "method": method.cite,
            "co2e_g": co2e,
            "value_fen": value,
            "industry": code,
            "industry_co2e_g": totals[code][0],
            "industry_value_fen": totals[code][1],
            "previous": {"co2e_g": previous[0], "value_fen": previous[1]} if previous else None,
            "inputs": inputs,
        }
    return grades


def _agri_grades(accounts: dict[str, Any], method: Any, period: str) -> dict[str, dict[str, Any]]:
    grades = {}
    for account_id, account in accounts.items():
        figures = account.state.figures(period)
        if figures is None:
            continue
        reduction, emission, inputs = figures
        grades[account_id] = {
            "period": period,
            "grade": agri_grade(method.body, reduction, emission),
            "method": method.cite,
            "reduction_g": reduction,
            "emission_g": emission,
            "inputs": inputs,
        }
    return grades


KINDS: dict[str, tuple[str, str, Any]] = {
    "industrial": (industrial.PREFIX, industrial.METHOD, _industrial_grades),
    "agri": (agricultural.PREFIX, agricultural.METHOD, _agri_grades),
}


class Grader:
    """Appends GradeAssigned entries signed by the grading service's key."""

    def __init__(self, ledger: Ledger, log: LogRecorder, signer: Signer) -> None:
        self.ledger = ledger
        self.log = log
        self.signer = signer

    def grades(self, kind: Kind, period: str) -> dict[str, dict[str, Any]]:
        """The grade each account with data in `period` should have, by account id."""
        check_period(period, "period")
        prefix, method_name, compute = KINDS[kind]
        methods = self.ledger.system.now()[METHODS_ACCOUNT]
        method = methods.current(method_name, _period_end(period), "period")
        loaded = self.ledger.accounts.get_many(self.log.accounts(prefix))
        accounts = {a: acc for a, acc in loaded.items() if acc and acc.state.registered}
        return compute(accounts, method, period)

    def run(self, kind: Kind, period: str) -> RunResult:
        """Append every grade that differs from the account's latest for the period."""
        wanted = self.grades(kind, period)
        current = self.ledger.accounts.get_many(wanted)
        wires = []
        for account_id, data in sorted(wanted.items()):
            state = current[account_id].state
            latest = state.latest_grade.get(period)
            if latest is not None and state.grades[latest] == data:
                continue
            wires.append(self._wire(account_id, data))
        results = self.ledger.submit_batch(wires) if wires else []
        appended = [r for r in results if isinstance(r, Receipt)]
        refused = [r for r in results if isinstance(r, LedgerError)]
        return RunResult(appended, len(wanted) - len(wires), refused)

    def _wire(self, account_id: str, data: dict[str, Any]) -> dict[str, Any]:
        digest = hashlib.sha256(canonical_json(data)).hexdigest()[:24]
        submission = {
            "account": account_id,
            "type": "GradeAssigned",
            "data": data,
            "key": self.signer.key_id,
            "at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "id": f"grade:{data['period']}:{digest}",
        }
        return sign_submission(self.signer, submission)
