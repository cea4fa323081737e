"""The change feed: what happened to an account, in log order, as its principal is told it
(grades assigned or changed and why, disputes filed and decided, green list joined or
dropped, points issued and redeemed); the position is the cursor and the idempotency key."""

import json
from typing import Any

from projections.registries import Page
from projections.views import ReadModels

COLUMNS = ("position", "account", "kind", "leaf_hash", "recorded_at", "data")


def feed(
    views: ReadModels, owner: str | None, account: str | None, cursor: int, limit: int
) -> Page:
    """Items after position `cursor`: of one principal's accounts (`owner`, e.g. bank:b01),
    of one account, or of all (the regulator)."""
    clauses = ["position > ?"]
    params: list[Any] = [cursor]
    for column, value in (("owner", owner), ("account", account)):
        if value is not None:
            clauses.append(f"{column} = ?")
            params.append(value)
    rows = views.query(
        COLUMNS,
        f"SELECT {', '.join(COLUMNS)} FROM {{feed}} WHERE {' AND '.join(clauses)}"
        " ORDER BY position LIMIT ?",
        [*params, limit + 1],
    )
    items = [_item(views, row) for row in rows[:limit]]
    more = len(rows) > limit
    return Page(items, str(items[-1]["position"]) if more else None)


def _item(views: ReadModels, row: dict[str, Any]) -> dict[str, Any]:
    item = {**row, "data": json.loads(row["data"])}
    if row["kind"] == "grade_assigned":
        item["data"] |= _change(views, row["account"], item["data"], row["position"])
    return item


def _change(
    views: ReadModels, account: str, grade: dict[str, Any], position: int
) -> dict[str, Any]:
    """What a grade changed: the grade it replaced for the period (null for the first) and,
    for a farm, whether it joined or left the green list."""
    earlier = views.query(
        ("grade",),
        "SELECT grade FROM {grades} WHERE account = ? AND period = ? AND position < ?"
        " ORDER BY position DESC LIMIT 1",
        [account, grade["period"], position],
    )
    previous = earlier[0]["grade"] if earlier else None
    change: dict[str, Any] = {"previous_grade": previous}
    if account.startswith("agr:"):
        listed, was = grade["grade"] != "none", previous not in (None, "none")
        change["green_list"] = (
            "joined" if listed and not was else "dropped" if was and not listed else None
        )
    return change
