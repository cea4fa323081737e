"""Grade evidence: the ledger's part (the grade and all it cites, ledger/bundles.py) and, for
an industrial grade, its benchmark: the industry's other enterprises as the log stood below
the grade's `as_of`, taken from indexed read models (their inputs and the reversals of
them), never by replaying the industry; each input with its inclusion proof."""

from collections import defaultdict
from collections.abc import Callable
from typing import Any

from ledger.bundles import grade_evidence, input_items
from ledger.errors import Unavailable
from ledger.node import Node
from projections.views import ReadModels, Views

COLUMNS = ("account", "leaf_hash", "kind", "co2e_g", "value_fen")
Figures = tuple[int, int, list[str]]  # co2e_g, value_fen, input leaf hashes


def _cut(node: Node, views: Views, as_of: int) -> int:
    """The read models' position of the first entry at or beyond log index `as_of` (what
    the benchmark must exclude), once they hold every entry below it."""
    below = node.log.leaves(as_of - 1, as_of) if as_of > 0 else []
    if below and not views.wait_for(below[0].notification_id, node.settings.limits.wait_seconds):
        raise Unavailable("the read models do not include the grade's cut of the log yet; retry")
    at = node.log.leaves(as_of, as_of + 1)
    return at[0].notification_id if at else views.position() + 1


def industry_figures(
    views: ReadModels, industry: str, period: str, cut: int, own: str
) -> dict[str, Figures]:
    """Each other enterprise of `industry` with figures for quarter `period` from its inputs
    before position `cut` that were not reversed before it: EnterpriseAccount.figures."""
    rows = views.query(
        COLUMNS,
        "SELECT i.account, i.leaf_hash, i.kind, i.co2e_g, i.value_fen"
        " FROM {industrial_inputs} i JOIN {enterprises} e ON e.account = i.account"
        " LEFT JOIN {industrial_reversals} r ON r.leaf_hash = i.leaf_hash AND r.position < ?"
        " WHERE e.industry = ? AND i.period = ? AND i.position < ? AND r.leaf_hash IS NULL"
        " AND i.account <> ? ORDER BY i.account, i.position",
        [cut, industry, period, cut, own],
    )
    readings: dict[str, list[dict[str, Any]]] = defaultdict(list)
    outputs: dict[str, dict[str, Any]] = {}
    for row in rows:
        if row["kind"] == "reading":
            readings[row["account"]].append(row)
        else:
            outputs.setdefault(row["account"], row)  # the live one: at most one at a time
    figures = {}
    for account, live in readings.items():
        output = outputs.get(account)
        if output is None or output["value_fen"] <= 0:
            continue
        inputs = sorted([r["leaf_hash"] for r in live] + [output["leaf_hash"]])
        figures[account] = (sum(r["co2e_g"] for r in live), output["value_fen"], inputs)
    return figures


def evidence_bundle(
    node: Node, views: Views, account: str, period: str, can_read: Callable[[str], bool]
) -> dict[str, Any]:
    """The latest grade of `account` for `period`, everything it cites, and the benchmark's
    inputs: others' entries where the caller may read them, else their leaf hashes and totals."""
    bundle, grade, size = grade_evidence(node, account, period)
    if not account.startswith("ind:"):
        return bundle
    cut = _cut(node, views, grade["as_of"])
    others = industry_figures(views, grade["industry"], grade["period"], cut, account)
    wanted = [bytes.fromhex(leaf) for _, _, inputs in others.values() for leaf in inputs]
    items = input_items(node, node.log.leaves_by_hash(wanted), size, can_read)
    bundle["benchmark"] = {
        "industry": grade["industry"],
        "period": grade["period"],
        "others": [
            {
                "account": other if can_read(other) else None,
                "co2e_g": co2e,
                "value_fen": value,
                "inputs": [items[leaf] for leaf in inputs],
            }
            for other, (co2e, value, inputs) in sorted(others.items())
        ],
    }
    return bundle
