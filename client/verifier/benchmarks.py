"""A whole-log audit's recheck of each industrial grade's benchmark and cause: the industry's
totals as the log stood below the grade's `as_of`, and, for a regrade whose own figures did
not change, the other firms' inputs that arrived or were reversed between the two cuts."""

import dataclasses
from collections import OrderedDict, defaultdict
from collections.abc import Callable
from typing import Any

from client.verifier.failure import Failure
from ledger.domain.industrial import PREFIX, EnterpriseAccount

States = Callable[[str], EnterpriseAccount]  # an enterprise's replayed state, by account id
INPUTS = ("EnergyReadingRecorded", "ProcessOutputRecorded", "OutputValueReported")
Figures = dict[str, tuple[int, int, list[str]]]  # enterprise -> (co2e_g, value_fen, inputs)
CUTS_KEPT = 64  # the industries' figures kept, per cut: an industry's grades of one run


class Benchmarks:
    """Where each enterprise's inputs and reversals sit in the log, so any enterprise's
    figures can be taken at any earlier cut without replaying it again."""

    def __init__(self) -> None:
        self.added: dict[str, int] = {}  # input leaf -> its index
        self.reversed_at: dict[str, int] = {}  # reversed leaf -> the reversal's index
        self.industries: dict[str, set[str]] = defaultdict(set)  # code -> enterprises
        # (industry, period, cut) -> every enterprise's figures below the cut: final once
        # taken, as the log is replayed in order and a grade's cut is at most its own index,
        # so one grading run's grades of an industry share them
        self._cuts: OrderedDict[tuple[str, str, int], Figures] = OrderedDict()

    def note(self, account: str, kind: str, data: dict[str, Any], leaf: str, index: int) -> None:
        """Remember an entry of an enterprise that moves figures (others are ignored)."""
        if not account.startswith(PREFIX):
            return
        if kind == "EnterpriseRegistered":
            self.industries[data["industry"]].add(account)
        elif kind in INPUTS:
            self.added[leaf] = index
        elif kind == "EntryReversed":
            self.reversed_at[data["entry"]] = index

    def _at(self, state: EnterpriseAccount, cut: int) -> EnterpriseAccount:
        """The enterprise as the log below index `cut` had it."""
        return dataclasses.replace(
            state,
            readings={k: r for k, r in state.readings.items() if self.added[k] < cut},
            outputs={k: o for k, o in state.outputs.items() if self.added[k] < cut},
            reversed={k for k in state.reversed if self.reversed_at[k] < cut},
        )

    def _others(self, states: States, own: str, code: str, period: str, cut: int) -> Figures:
        """Each other enterprise of the industry with figures for `period` below `cut`."""
        key = (code, period, cut)
        figures = self._cuts.get(key)
        if figures is None:
            figures = {}
            for account in sorted(self.industries[code]):
                found = self._at(states(account), cut).figures(period)
                if found is not None:
                    figures[account] = found
            self._cuts[key] = figures
            if len(self._cuts) > CUTS_KEPT:
                self._cuts.popitem(last=False)
        return {account: found for account, found in figures.items() if account != own}

    def check(
        self,
        account: str,
        before: EnterpriseAccount,
        data: dict[str, Any],
        states: States,
        where: str,
    ) -> None:
        """The grade's industry totals and cause are what the grader computes from the log."""
        code, period, as_of = data["industry"], data["period"], data["as_of"]
        others = self._others(states, account, code, period, as_of)
        totals = (
            data["co2e_g"] + sum(f[0] for f in others.values()),
            data["value_fen"] + sum(f[1] for f in others.values()),
        )
        found = (data["industry_co2e_g"], data["industry_value_fen"])
        if totals != found:
            raise Failure("benchmark", where, "industry_co2e_g, industry_value_fen", totals, found)
        expected = self._cause(account, before, data, states, totals)
        if data.get("cause", []) != expected:
            raise Failure("cause", where, "submission.data.cause", expected, data.get("cause"))

    def _cause(
        self,
        account: str,
        before: EnterpriseAccount,
        data: dict[str, Any],
        states: States,
        totals: tuple[int, int],
    ) -> list[str]:
        """Empty unless the last grade of the period had the same own figures and another
        benchmark: then the others' inputs in one cut and not the other."""
        latest = before.latest_grade.get(data["period"])
        recorded = before.grades[latest] if latest else None
        if recorded is None or (recorded["co2e_g"], recorded["value_fen"]) != (
            data["co2e_g"],
            data["value_fen"],
        ):
            return []
        if (recorded["industry_co2e_g"], recorded["industry_value_fen"]) == totals:
            return []
        code, period = data["industry"], data["period"]
        now = self._others(states, account, code, period, data["as_of"])
        then = self._others(states, account, code, period, recorded["as_of"])
        moved: set[str] = set()
        for other in now.keys() | then.keys():
            inputs_now = set(now[other][2]) if other in now else set()
            inputs_then = set(then[other][2]) if other in then else set()
            moved |= inputs_now ^ inputs_then
        return sorted(moved)
