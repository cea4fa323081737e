"""GET /v1/accounts/...: an account's state and entries, to principals whose scope covers it."""

import base64
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Path

from api.auth import Principal, PrincipalDep
from api.deps import NodeDep
from api.params import after_seq_query, size_query
from crypto.records import decode_entry
from ledger import queries
from ledger.domain.agricultural import FarmAccount
from ledger.domain.common import quarter_of
from ledger.domain.graded import GradedAccount
from ledger.domain.industrial import EnterpriseAccount
from ledger.domain.personal import PersonalAccount
from ledger.domain.reference import ReferenceBook
from ledger.domain.runs import GradingRuns
from ledger.errors import Malformed, NotFound
from ledger.queries import AccountEntry
from ledger.registry import KeyRegistry
from ledger.submissions import ACCOUNT_PATTERN

MAX_ENTRIES = 1000
router = APIRouter(prefix="/v1/accounts", tags=["accounts"])
AccountId = Annotated[
    str, Path(pattern=f"^{ACCOUNT_PATTERN.pattern}$", description="e.g. per:<bank>:<pid>")
]


def _no_such_account() -> NotFound:
    """The one refusal for an account that does not exist or is outside the reader's scope."""
    return NotFound("no such account")


def _check_scope(principal: Principal, account_id: str) -> None:
    """Entries to whoever may read the account's statements: a statement carries its chain."""
    if not principal.can_read_statements(account_id):
        raise _no_such_account()


def _personal(account: PersonalAccount) -> dict[str, Any]:
    return {
        "opened": account.opened,
        "points": account.points,
        "co2e_g": account.co2e_g,
        "issued": account.issued,
        "redeemed": account.redeemed,
    }


def _graded(account: GradedAccount) -> dict[str, Any]:
    return {
        "registered": account.registered,
        "grades": {
            period: {"grade": account.grades[leaf]["grade"], "leaf_hash": leaf}
            for period, leaf in sorted(account.latest_grade.items())
        },
        "open_disputes": sorted(
            leaf for leaf, dispute in account.disputes.items() if dispute.outcome is None
        ),
    }


def _industrial(account: EnterpriseAccount) -> dict[str, Any]:
    return {
        **_graded(account),
        "readings": len(account.readings.keys() - account.reversed),
        "outputs": dict(
            sorted(
                (period, value_fen)
                for leaf, (period, value_fen) in account.outputs.items()
                if leaf not in account.reversed
            )
        ),
    }


def _agricultural(account: FarmAccount) -> dict[str, Any]:
    quarters = sorted({quarter_of(a.end) for a in account.activities.values()})
    return {
        **_graded(account),
        "activities": len(account.activities.keys() - account.reversed),
        "quarters": {  # what an exchange may still retire: reductions and sinks, in grams
            quarter: {
                "reduction_g": account.reduction(quarter),
                "retired_g": account.retired_in(quarter),
                "unretired_g": account.unretired(quarter),
            }
            for quarter in quarters
        },
    }


def _keys(registry: KeyRegistry) -> dict[str, Any]:
    return {
        "keys": {
            key_id: {"roles": sorted(key.roles), "revoked": key.revoked}
            for key_id, key in sorted(registry.keys.items())
        }
    }


def _reference(book: ReferenceBook) -> dict[str, Any]:
    return {
        name: [
            {"version": p.version, "valid_from": p.valid_from, "leaf_hash": p.leaf_hash}
            for p in versions
        ]
        for name, versions in sorted(book.versions.items())
    }


def _runs(runs: GradingRuns) -> dict[str, Any]:
    return {
        "runs": [
            {"kind": kind, "period": period, "leaf_hash": leaf} for kind, period, leaf in runs.runs
        ]
    }


PRESENTERS: dict[type, tuple[str, Callable[[Any], dict[str, Any]]]] = {
    PersonalAccount: ("personal", _personal),
    EnterpriseAccount: ("industrial", _industrial),
    FarmAccount: ("agricultural", _agricultural),
    KeyRegistry: ("keys", _keys),
    ReferenceBook: ("reference", _reference),
    GradingRuns: ("grading_runs", _runs),
}


@router.get("/{account_id}", summary="An account's current state (write side)")
def account_state(account_id: AccountId, principal: PrincipalDep, node: NodeDep) -> dict[str, Any]:
    if not principal.can_read_statements(account_id):
        raise _no_such_account()
    aggregate = queries.current_account(
        node.store, node.ledger.accounts.get(account_id), account_id
    )
    if aggregate is None:
        raise _no_such_account()
    kind, present = PRESENTERS[type(aggregate.state)]
    return {
        "account": account_id,
        "seq": aggregate.seq,
        "head": aggregate.head,
        "kind": kind,
        "state": present(aggregate.state),
    }


def _entry(item: AccountEntry) -> dict[str, Any]:
    entry = decode_entry(item.entry)
    return {
        "seq": item.seq,
        "index": item.index,
        "leaf_hash": item.leaf_hash,
        "type": entry.submission.type,
        "data": entry.submission.data,
        "key": entry.submission.key,
        "at": entry.submission.at,
        "effect": entry.effect,
        "recorded_at": entry.recorded_at,
        "entry": base64.b64encode(item.entry).decode(),
    }


@router.get(
    "/{account_id}/entries",
    summary="An account's entries after a seq: integrated ones with their log index, then newer",
)
def account_entries(
    account_id: AccountId,
    principal: PrincipalDep,
    node: NodeDep,
    after_text: Annotated[str, after_seq_query("entries after this seq (-1: all)")] = "-1",
    limit_text: Annotated[str, size_query(f"at most {MAX_ENTRIES}", "limit")] = "100",
) -> dict[str, Any]:
    after_seq = int(after_text)
    limit = int(limit_text)
    if limit > MAX_ENTRIES:
        raise Malformed(f"limit is at most {MAX_ENTRIES}", "limit")
    _check_scope(principal, account_id)
    entries = queries.account_entries(node.store, node.log, account_id, after_seq, limit)
    if entries is None:
        raise _no_such_account()
    return {
        "account": account_id,
        "entries": [_entry(entry) for entry in entries],
        "next_after_seq": entries[-1].seq if entries else after_seq,
    }
