"""Entries -> row deltas for the view tables; pure, so a batch folds the same every time."""

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from crypto.records import Entry
from ledger.domain.common import quarter_of
from ledger.domain.personal import bank_of, person_of
from projections.tables import (
    AGRICULTURAL,
    BALANCES,
    BANK_MONTHS,
    BANKS,
    CURRENT_GRADES,
    DISPUTES,
    ENTERPRISES,
    FARMS,
    FEED,
    GRADES,
    INDUSTRIAL,
    INDUSTRIAL_INPUTS,
    INDUSTRIAL_REVERSALS,
    PERSONAL_MONTHS,
    PERSONS,
    RESOLUTIONS,
    RETIREMENTS,
    TABLES,
    Table,
)


@dataclass(frozen=True)
class LoggedEntry:
    """A ledger entry as the projections see it: its record and where it is in the event log."""

    position: int  # notification id of its event
    leaf_hash: str
    record: Entry

    @property
    def account(self) -> str:
        return self.record.account

    @property
    def type(self) -> str:
        return self.record.submission.type

    @property
    def data(self) -> dict[str, Any]:
        return self.record.submission.data

    @property
    def effect(self) -> dict[str, Any]:
        return self.record.effect


class Deltas:
    """What a batch changes: per table, per key, the sums to add and the values to write."""

    def __init__(self) -> None:
        self.rows: dict[str, dict[tuple[Any, ...], dict[str, Any]]] = {t.name: {} for t in TABLES}

    def change(self, table: Table, key: tuple[Any, ...], **columns: Any) -> None:
        """Add to the row's sums and write its other columns (the latest write wins)."""
        rows = self.rows[table.name]
        row = rows.get(key)
        if row is None:
            row = rows[key] = dict.fromkeys(table.sums, 0)
        for column, value in columns.items():
            row[column] = row[column] + value if column in table.sums else value

    def params(self, table: Table) -> list[tuple[Any, ...]]:
        """One parameter tuple per changed row, in `table.columns` order."""
        rest = table.columns[len(table.keys) :]
        return [(*key, *(row[c] for c in rest)) for key, row in self.rows[table.name].items()]


def _personal(deltas: Deltas, entry: LoggedEntry) -> None:
    bank, pid = bank_of(entry.account), person_of(entry.account)
    effect = entry.effect
    points = effect.get("points", 0)
    issued = redeemed = 0
    month = entry.record.recorded_at[:7]  # redemptions, and accounts opened, when recorded
    if entry.type == "GreenBehaviourRecorded":
        issued, month = points, entry.data["on"][:7]
    elif entry.type == "PointsRedeemed":
        redeemed = -points
    elif entry.type == "EntryReversed" and "on" in effect:
        issued, month = points, effect["on"][:7]  # a behaviour's points and CO2e taken back
    elif entry.type == "EntryReversed":
        redeemed = -points  # a reversed redemption gives its points back
    opened = int(entry.type == "AccountOpened")
    flows = {"co2e_g": effect.get("co2e_g", 0), "issued": issued, "redeemed": redeemed}
    sums = {"points": points, **flows}
    deltas.change(BALANCES, (entry.account,), bank=bank, pid=pid, entries=1, **sums)
    deltas.change(PERSONS, (pid,), accounts=opened, **sums)
    deltas.change(BANKS, (bank,), accounts=opened, **sums)
    if any(flows.values()):  # an opening moves nothing: no month row of zeros
        deltas.change(PERSONAL_MONTHS, (entry.account, month), bank=bank, pid=pid, **flows)
    deltas.change(BANK_MONTHS, (bank, month), opened=opened, **flows)
    _feed(deltas, entry, PERSONAL_FEED[entry.type], _personal_item(entry))


def _personal_item(entry: LoggedEntry) -> dict[str, Any]:
    data, effect = entry.data, entry.effect
    if entry.type == "GreenBehaviourRecorded":
        return {"behaviour": data["behaviour"], "on": data["on"], **effect}
    if entry.type == "PointsRedeemed":
        return {"points": data["points"], "use": data["use"]}
    if entry.type == "EntryReversed":
        return {"reverses": data["entry"], "points": effect["points"]}
    return {}


PERSONAL_FEED = {
    "AccountOpened": "account_opened",
    "GreenBehaviourRecorded": "points_issued",
    "PointsRedeemed": "points_redeemed",
    "EntryReversed": "entry_reversed",
}
OWNERS = {"per": "bank", "ind": "ent", "agr": "farm"}  # account kind -> its principal's kind


def owner_of(account: str) -> str:
    """The principal an account's feed items go to: its bank, enterprise or farm."""
    kind, _, rest = account.partition(":")
    code = rest.split(":")[0] if kind == "per" else rest  # per:<bank>:<pid>; agr:<code with :>
    return f"{OWNERS[kind]}:{code}"


def _feed(deltas: Deltas, entry: LoggedEntry, kind: str, data: dict[str, Any]) -> None:
    deltas.change(
        FEED,
        (entry.position,),
        owner=owner_of(entry.account),
        account=entry.account,
        kind=kind,
        leaf_hash=entry.leaf_hash,
        recorded_at=entry.record.recorded_at,
        data=_compact(data),
    )


def _compact(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def _reading(deltas: Deltas, entry: LoggedEntry, day: str, count: int) -> None:
    key = (entry.account, day[:7])
    if "co2e_g" in entry.effect:
        deltas.change(INDUSTRIAL, key, co2e_g=entry.effect["co2e_g"], readings=count)
    else:
        deltas.change(INDUSTRIAL, key, scope3_co2e_g=entry.effect["scope3_co2e_g"])


def _output(deltas: Deltas, entry: LoggedEntry, count: int) -> None:
    key = (entry.account, entry.effect["period"])
    deltas.change(INDUSTRIAL, key, value_fen=entry.effect["value_fen"], outputs=count)


def _input(deltas: Deltas, entry: LoggedEntry) -> None:
    """A reading, process output or output value, as grade evidence finds it."""
    effect = entry.effect
    if "scope3_co2e_g" in effect:
        return  # water: scope 3, not in an enterprise's figures
    output = entry.type == "OutputValueReported"
    deltas.change(
        INDUSTRIAL_INPUTS,
        (entry.leaf_hash,),
        account=entry.account,
        period=effect["period"] if output else quarter_of(entry.data["to"]),
        kind="output" if output else "reading",
        co2e_g=0 if output else effect["co2e_g"],
        value_fen=effect["value_fen"] if output else 0,
        position=entry.position,
    )


def _reading_input(deltas: Deltas, entry: LoggedEntry) -> None:
    _reading(deltas, entry, entry.data["to"], 1)
    _input(deltas, entry)


def _output_input(deltas: Deltas, entry: LoggedEntry) -> None:
    _output(deltas, entry, 1)
    _input(deltas, entry)


def _industrial_reversal(deltas: Deltas, entry: LoggedEntry) -> None:
    deltas.change(INDUSTRIAL_REVERSALS, (entry.data["entry"],), position=entry.position)
    if "period" in entry.effect:
        _output(deltas, entry, -1)
    else:
        _reading(deltas, entry, entry.effect["on"], -1)


def _enterprise(deltas: Deltas, entry: LoggedEntry) -> None:
    data = entry.data
    deltas.change(
        ENTERPRISES,
        (entry.account,),
        name=data["name"],
        industry=data["industry"],
        district=data["district"],
    )


def _farm(deltas: Deltas, entry: LoggedEntry) -> None:
    data = entry.data
    deltas.change(
        FARMS, (entry.account,), name=data["name"], kind=data["kind"], district=data["district"]
    )


def _activity(deltas: Deltas, entry: LoggedEntry, day: str, count: int) -> None:
    deltas.change(
        AGRICULTURAL,
        (entry.account, day[:7]),
        reduction_g=entry.effect["reduction_g"],
        emission_g=entry.effect["emission_g"],
        activities=count,
    )


def _grade(deltas: Deltas, entry: LoggedEntry) -> None:
    kind = entry.account.split(":", 1)[0]
    data = entry.data
    deltas.change(
        GRADES,
        (entry.leaf_hash,),
        account=entry.account,
        kind=kind,
        period=data["period"],
        grade=data["grade"],
        method=data["method"],
        position=entry.position,
        seq=entry.record.seq,
        recorded_at=entry.record.recorded_at,
        data=_compact(data),
    )
    deltas.change(
        CURRENT_GRADES,
        (entry.account, data["period"]),
        kind=kind,
        grade=data["grade"],
        leaf_hash=entry.leaf_hash,
    )
    item = {k: data[k] for k in ("period", "grade", "method")}
    _feed(
        deltas,
        entry,
        "grade_assigned",
        item | ({"cause": data["cause"]} if data.get("cause") else {}),
    )


def _disputed(deltas: Deltas, entry: LoggedEntry) -> None:
    data, when = entry.data, entry.record.recorded_at
    deltas.change(
        DISPUTES,
        (entry.leaf_hash,),
        account=entry.account,
        grade=data["grade"],
        reason=data["reason"],
        evidence=json.dumps(data["evidence"]),
        recorded_at=when,
        position=entry.position,
    )
    _feed(deltas, entry, "dispute_filed", {"grade": data["grade"], "reason": data["reason"]})


def _resolved(deltas: Deltas, entry: LoggedEntry) -> None:
    data, when = entry.data, entry.record.recorded_at
    deltas.change(
        RESOLUTIONS,
        (data["dispute"],),
        outcome=data["outcome"],
        note=data["note"],
        leaf_hash=entry.leaf_hash,
        recorded_at=when,
    )
    _feed(deltas, entry, "dispute_decided", dict(data))


def _retired(deltas: Deltas, entry: LoggedEntry) -> None:
    data = entry.data
    deltas.change(
        RETIREMENTS,
        (entry.leaf_hash,),
        account=entry.account,
        period=data["period"],
        ref=data["ref"],
        exchange=entry.record.submission.key.partition("+")[0],  # the key name: exchange.<org>
        recorded_at=entry.record.recorded_at,
        retired_g=entry.effect["retired_g"],
        position=entry.position,
    )
    item = {"period": data["period"], "retired_g": entry.effect["retired_g"], "ref": data["ref"]}
    _feed(deltas, entry, "reduction_retired", item)


Fold = Callable[[Deltas, LoggedEntry], None]
DISPUTE_FOLDS: dict[str, Fold] = {"GradeDisputed": _disputed, "DisputeResolved": _resolved}
FOLDS: dict[str, dict[str, Fold]] = {
    "per": {
        "AccountOpened": _personal,
        "GreenBehaviourRecorded": _personal,
        "PointsRedeemed": _personal,
        "EntryReversed": _personal,
        "ReductionRetired": _retired,
    },
    "ind": {
        "EnterpriseRegistered": _enterprise,
        "EnergyReadingRecorded": _reading_input,
        "ProcessOutputRecorded": _reading_input,
        "OutputValueReported": _output_input,
        "EntryReversed": _industrial_reversal,
        "GradeAssigned": _grade,
        **DISPUTE_FOLDS,
    },
    "agr": {
        "FarmRegistered": _farm,
        "AgriActivityRecorded": lambda d, e: _activity(d, e, e.data["to"], 1),
        "EntryReversed": lambda d, e: _activity(d, e, e.effect["on"], -1),
        "ReductionRetired": _retired,
        "GradeAssigned": _grade,
        **DISPUTE_FOLDS,
    },
}
"""What each entry type on each account kind changes; types not listed change nothing."""


def fold(entries: Iterable[LoggedEntry]) -> Deltas:
    """The row deltas of a batch of entries, in log order."""
    deltas = Deltas()
    for entry in entries:
        handler = FOLDS.get(entry.account.split(":", 1)[0], {}).get(entry.type)
        if handler is not None:
            handler(deltas, entry)
    return deltas
