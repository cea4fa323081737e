"""Registries as pages: enterprises, farms, a bank's accounts and disputes, each filtered and
ordered by a key that doubles as the cursor (the last key of a page; the next page is after it)."""

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from projections.views import ReadModels

MAX_PAGE = 1000


@dataclass(frozen=True)
class Page:
    """One page of a list, and the cursor of the next (None on the last page)."""

    items: list[dict[str, Any]]
    next_cursor: str | None

    def to_json(self) -> dict[str, Any]:
        return {"items": self.items, "next_cursor": self.next_cursor}


def every_item(read: Callable[[str | None], Page]) -> list[dict[str, Any]]:
    """All items of a paginated read (`read(cursor)`), page after page."""
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        page = read(cursor)
        items += page.items
        if page.next_cursor is None:
            return items
        cursor = page.next_cursor


def _page(rows: list[dict[str, Any]], limit: int, key: str) -> Page:
    """A page of `limit` rows from `limit + 1` fetched: the extra one says a next page exists."""
    items = rows[:limit]
    more = len(rows) > limit
    return Page(items, str(items[-1][key]) if more and items else None)


@dataclass(frozen=True)
class GradedFilter:
    """Filters of a graded registry: where, what, and the grade held for a period."""

    district: str | None = None
    category: str | None = None  # an enterprise's industry, a farm's kind
    period: str | None = None  # adds each account's grade for the period
    grade: str | None = None  # only accounts holding this grade for `period`
    search: str | None = None  # names containing this text


def like_escaped(text: str) -> str:
    """`text` matched literally inside a LIKE pattern (escape character: backslash)."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


REGISTRIES = {"enterprises": ("industry", "ind"), "farms": ("kind", "agr")}


def graded_registry(
    views: ReadModels, name: str, where: GradedFilter, cursor: str | None, limit: int
) -> Page:
    """Enterprises or farms in account order, filtered; with `period`, each one's grade for
    it (null if ungraded)."""
    category, _ = REGISTRIES[name]
    clauses, params = ["r.account > ?"], [cursor or ""]
    for column, value in (("r.district", where.district), (f"r.{category}", where.category)):
        if value is not None:
            clauses.append(f"{column} = ?")
            params.append(value)
    if where.grade is not None:
        clauses.append("c.grade = ?")
        params.append(where.grade)
    if where.search is not None:
        clauses.append("r.name LIKE ? ESCAPE '\\'")
        params.append(f"%{like_escaped(where.search)}%")
    columns = ["account", "name", category, "district", "grade"]
    rows = views.query(
        columns,
        f"SELECT r.account, r.name, r.{category}, r.district, c.grade FROM {{{name}}} r"
        " LEFT JOIN {current_grades} c ON c.account = r.account AND c.period = ?"
        f" WHERE {' AND '.join(clauses)} ORDER BY r.account LIMIT ?",
        [where.period or "", *params, limit + 1],
    )
    if where.period is None:
        rows = [{k: v for k, v in row.items() if k != "grade"} for row in rows]
    return _page(rows, limit, "account")


PERSONAL = ("points", "co2e_g", "issued", "redeemed", "entries")


def bank_accounts(views: ReadModels, bank: str, cursor: str | None, limit: int) -> Page:
    """A bank's (or platform's) personal accounts in account order, with their totals."""
    prefix = f"per:{bank}:"
    columns = ("account", "pid", *PERSONAL)
    rows = views.query(
        columns,
        f"SELECT {', '.join(columns)} FROM {{balances}}"
        " WHERE account > ? AND account < ? ORDER BY account LIMIT ?",
        [max(cursor or "", prefix), f"per:{bank};", limit + 1],  # ';' sorts after ':'
    )
    return _page(rows, limit, "account")


DISPUTE_COLUMNS = (
    "position",
    "leaf_hash",
    "account",
    "grade",
    "reason",
    "evidence",
    "recorded_at",
    "outcome",
    "note",
    "decided_at",
)


def disputes(
    views: ReadModels, account: str | None, status: str | None, cursor: str | None, limit: int
) -> Page:
    """Disputes in the order they were filed, open (no decision yet) or decided, of one
    account or all."""
    clauses = ["d.position > ?"]
    params: list[Any] = [int(cursor or 0)]
    if account is not None:
        clauses.append("d.account = ?")
        params.append(account)
    if status == "open":
        clauses.append("r.outcome IS NULL")
    elif status == "decided":
        clauses.append("r.outcome IS NOT NULL")
    rows = views.query(
        DISPUTE_COLUMNS,
        "SELECT d.position, d.leaf_hash, d.account, d.grade, d.reason, d.evidence,"
        " d.recorded_at, r.outcome, r.note, r.recorded_at"
        " FROM {disputes} d LEFT JOIN {resolutions} r ON r.dispute = d.leaf_hash"
        f" WHERE {' AND '.join(clauses)} ORDER BY d.position LIMIT ?",
        [*params, limit + 1],
    )
    for row in rows:
        row["evidence"] = json.loads(row["evidence"])
        row["outcome"] = row["outcome"] or "open"
    return _page(rows, limit, "position")


RETIREMENT_COLUMNS = (
    "position",
    "leaf_hash",
    "account",
    "period",
    "retired_g",
    "ref",
    "exchange",
    "recorded_at",
)


def retirements(views: ReadModels, exchange: str | None, cursor: str | None, limit: int) -> Page:
    """Reductions retired, in log order: by one exchange's keys (`exchange.<org>`) or all."""
    clauses = ["position > ?"]
    params: list[Any] = [int(cursor or 0)]
    if exchange is not None:
        clauses.append("exchange = ?")
        params.append(exchange)
    rows = views.query(
        RETIREMENT_COLUMNS,
        f"SELECT {', '.join(RETIREMENT_COLUMNS)} FROM {{retirements}}"
        f" WHERE {' AND '.join(clauses)} ORDER BY position LIMIT ?",
        [*params, limit + 1],
    )
    return _page(rows, limit, "position")
