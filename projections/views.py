"""Queries over the view tables, answered as plain dicts, lists and ints."""

import json
import time
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from decimal import Decimal
from typing import Any

from ledger.domain.common import period_before
from ledger.node import Node
from ledger.storage.map_tables import Select
from ledger.store import LedgerStore
from projections.periods import period_filter
from projections.recorder import ViewRecorder, open_view_recorder
from projections.tables import PREFIX, TABLES

WAIT_POLL_SECONDS = 0.02
NAMES = {table.name.removeprefix(PREFIX): table.name for table in TABLES}
PERSONAL = ("points", "co2e_g", "issued", "redeemed")
REGISTRY = {"enterprises": "industry", "farms": "kind"}  # the column beside name and district
DISPUTED = ("leaf_hash", "grade", "reason", "evidence", "recorded_at", "outcome", "note")
HISTORY = ("leaf_hash", "period", "grade", "method", "position", "seq", "recorded_at", "data")


def _dicts(columns: Sequence[str], rows: list[tuple[Any, ...]]) -> list[dict[str, Any]]:
    """Rows as dicts; SUM()s come back from PostgreSQL as Decimal, so those become int."""
    return [
        {c: int(v) if isinstance(v, Decimal) else v for c, v in zip(columns, row, strict=True)}
        for row in rows
    ]


class ReadModels(ABC):
    """Queries over the view tables; `query` says where they run."""

    @abstractmethod
    def query(
        self, columns: Sequence[str], text: str, params: Sequence[Any] = ()
    ) -> list[dict[str, Any]]:
        """Rows of `text` (tables named `{balances}` etc.) as dicts keyed by `columns`."""

    def balance(self, account: str) -> dict[str, Any] | None:
        """A personal account's balance and totals, or None if the views have not seen it."""
        columns = ("account", "bank", "pid", *PERSONAL, "entries")
        rows = self.query(
            columns, f"SELECT {', '.join(columns)} FROM {{balances}} WHERE account = ?", [account]
        )
        return rows[0] if rows else None

    def person(self, pid: str) -> dict[str, Any] | None:
        """A person's totals over their accounts at every bank, or None."""
        columns = ("pid", *PERSONAL, "accounts")
        rows = self.query(
            columns, f"SELECT {', '.join(columns)} FROM {{persons}} WHERE pid = ?", [pid]
        )
        if not rows:
            return None
        banks = self.query(
            ["bank"], "SELECT bank FROM {balances} WHERE pid = ? ORDER BY bank", [pid]
        )
        return {**rows[0], "banks": [row["bank"] for row in banks]}

    def enterprise(self, account: str) -> dict[str, Any] | None:
        """An enterprise as registered (name, industry, district), or None."""
        rows = self._registry("enterprises", "account", account)
        return rows[0] if rows else None

    def farm(self, account: str) -> dict[str, Any] | None:
        """A farm as registered (name, kind, district), or None."""
        rows = self._registry("farms", "account", account)
        return rows[0] if rows else None

    def _registry(self, name: str, column: str, value: str | None) -> list[dict[str, Any]]:
        columns = ("account", "name", REGISTRY[name], "district")
        where, params = ("1 = 1", []) if value is None else (f"{column} = ?", [value])
        return self.query(
            columns,
            f"SELECT {', '.join(columns)} FROM {{{name}}} WHERE {where} ORDER BY account",
            params,
        )

    def grade(self, account: str, period: str) -> dict[str, Any] | None:
        """The current grade of an enterprise or farm for a period: its latest GradeAssigned."""
        rows = self.query(
            ("account", "period", "grade", "leaf_hash"),
            "SELECT account, period, grade, leaf_hash FROM {current_grades}"
            " WHERE account = ? AND period = ?",
            [account, period],
        )
        return rows[0] if rows else None

    def grades(self, account: str) -> dict[str, str]:
        """The current grade of every period an account was graded for, by period."""
        rows = self.query(
            ("period", "grade"),
            "SELECT period, grade FROM {current_grades} WHERE account = ? ORDER BY period",
            [account],
        )
        return {row["period"]: row["grade"] for row in rows}

    def grade_history(self, account: str) -> list[dict[str, Any]]:
        """Every GradeAssigned of an account, in log order, with its leaf hash and data."""
        rows = self.query(
            HISTORY,
            f"SELECT {', '.join(HISTORY)} FROM {{grades}} WHERE account = ? ORDER BY position",
            [account],
        )
        disputes = self.query(
            DISPUTED,
            "SELECT d.leaf_hash, d.grade, d.reason, d.evidence, d.recorded_at, r.outcome, r.note"
            " FROM {disputes} d LEFT JOIN {resolutions} r ON r.dispute = d.leaf_hash"
            " WHERE d.account = ? ORDER BY d.recorded_at, d.leaf_hash",
            [account],
        )
        by_grade: dict[str, list[dict[str, Any]]] = {}
        for dispute in disputes:
            outcome = dispute["outcome"] or "open"  # no resolution yet
            shown = {k: dispute[k] for k in ("leaf_hash", "reason", "recorded_at")}
            evidence = json.loads(dispute["evidence"])  # document digests: GET /v1/documents/{d}
            by_grade.setdefault(dispute["grade"], []).append(
                {**shown, "evidence": evidence, "outcome": outcome, "note": dispute["note"]}
            )
        return [
            {**row, "data": json.loads(row["data"]), "disputes": by_grade.get(row["leaf_hash"], [])}
            for row in rows
        ]

    def green_list(self, period: str) -> list[dict[str, Any]]:
        """Farms whose current grade for `period` is not "none", with their grade, by account."""
        return self.query(
            ("account", "name", "kind", "district", "grade"),
            "SELECT f.account, f.name, f.kind, f.district, c.grade"
            " FROM {current_grades} c JOIN {farms} f ON f.account = c.account"
            " WHERE c.period = ? AND c.grade <> 'none' ORDER BY f.account",
            [period],
        )

    def green_list_changes(self, period: str) -> dict[str, Any]:
        """The green list of `period`, and who joined and who dropped off since the period
        before (the quarter before a quarter, the year before a year)."""
        before = period_before(period)
        now = self.green_list(period)
        was = {farm["account"] for farm in self.green_list(before)}
        listed = {farm["account"] for farm in now}
        return {
            "period": period,
            "farms": now,
            "since": before,
            "joined": sorted(listed - was),
            "dropped": sorted(was - listed),
        }

    def benchmark(self, industry: str, period: str) -> dict[str, Any]:
        """An industry's totals over its enterprises with scope 1/2 readings and output value."""
        where, params = period_filter(period, "i.period")
        (row,) = self.query(
            ("enterprises", "co2e_g", "value_fen"),
            "SELECT COUNT(*), COALESCE(SUM(co2e_g), 0), COALESCE(SUM(value_fen), 0) FROM ("
            " SELECT i.account, SUM(i.co2e_g) AS co2e_g, SUM(i.value_fen) AS value_fen"
            " FROM {industrial} i JOIN {enterprises} e ON e.account = i.account"
            f" WHERE e.industry = ? AND {where} GROUP BY i.account"
            " HAVING SUM(i.readings) > 0 AND SUM(i.value_fen) > 0) f",
            [industry, *params],
        )
        return {"industry": industry, "period": period, **row}


def as_of(node: Node, position: int) -> dict[str, Any]:
    """What a read at views position `position` reflects: the log size holding those
    entries and the smallest signed checkpoint covering it (None until one is signed), and
    whether the read models had folded entries the log did not hold yet (`ahead_of_log`:
    the figures then include entries past `log_size`, in no checkpoint so far)."""
    size = node.log.size_through(position)
    covering = node.log.checkpoint_covering(size)
    checkpoint = {"size": covering[0], "note": covering[1]} if covering else None
    integrated = node.log.max_tracking_id(node.store.name) or 0
    return {"log_size": size, "checkpoint": checkpoint, "ahead_of_log": position > integrated}


class Snapshot(ReadModels):
    """The views at one position: every query sees the same state, which `position` names."""

    def __init__(self, position: int, select: Select) -> None:
        self.position = position
        self.select = select

    def query(
        self, columns: Sequence[str], text: str, params: Sequence[Any] = ()
    ) -> list[dict[str, Any]]:
        return _dicts(columns, self.select(text, params, **NAMES))


class Views(ReadModels):
    """The read side: balances, persons, registries, grades, benchmarks, totals and feeds."""

    def __init__(self, store: LedgerStore, recorder: ViewRecorder | None = None) -> None:
        self.name = store.name
        self.store = store
        self.recorder = recorder or open_view_recorder(store)

    @classmethod
    def of(cls, node: Node) -> "Views":
        """The node's read models: on its read replica if the settings name one (its own
        store, closed by `close`), else on the node's database."""
        replica = node.settings.read_storage
        return cls(LedgerStore(env=dict(replica))) if replica is not None else cls(node.store)

    def close(self, node: Node) -> None:
        """Close the replica's store, if these views have one of their own."""
        if self.store is not node.store:
            self.store.close()

    def query(
        self, columns: Sequence[str], text: str, params: Sequence[Any] = ()
    ) -> list[dict[str, Any]]:
        return _dicts(columns, self.recorder.select(text, params, **NAMES))

    @contextmanager
    def snapshot(self) -> Iterator[Snapshot]:
        """The views at one position, for an answer that must say which."""
        with self.recorder.reading(self.name) as (position, select):
            yield Snapshot(position, select)

    def position(self) -> int:
        """The notification id of the last entry the views include (0 if none)."""
        return self.recorder.position(self.name)

    def wait_for(self, notification_id: int, timeout: float) -> bool:
        """Wait until the views include notification `notification_id`; False on timeout."""
        deadline = time.monotonic() + timeout
        while self.position() < notification_id:
            if time.monotonic() >= deadline:
                return False
            time.sleep(WAIT_POLL_SECONDS)
        return True
