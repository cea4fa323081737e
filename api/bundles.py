"""Scoped bundles to verify offline: an account's balance statement, a grade's evidence."""

from typing import Any

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool

from api.accounts import AccountId
from api.auth import PrincipalDep
from api.deps import NodeDep
from api.params import HistoryParam
from api.readmodels import Period
from api.reads import views_of
from ledger.bundles import grade_statement, period_statement, statement_bundle
from ledger.domain.common import check_period
from ledger.errors import NotFound
from projections.evidence import evidence_bundle

router = APIRouter(prefix="/v1/accounts", tags=["proofs"])


@router.get(
    "/{account_id}/statement",
    summary="A ledger-signed balance statement with the account's history and proofs",
)
async def statement(
    account_id: AccountId, principal: PrincipalDep, node: NodeDep
) -> dict[str, Any]:
    if not principal.can_read_statements(account_id):
        raise NotFound("no such account")
    try:
        return await run_in_threadpool(statement_bundle, node, account_id)
    except NotFound:
        raise NotFound("no such account") from None


@router.get(
    "/{account_id}/grade-statement",
    summary="A ledger-signed statement of the account's latest grade for a period, with proof"
    " (banks may ask it of any enterprise or farm)",
)
async def grade_statement_of(
    account_id: AccountId, period: Period, principal: PrincipalDep, node: NodeDep
) -> dict[str, Any]:
    check_period(period, "period")
    if not principal.can_read_grades(account_id) or account_id.startswith(("per:", "sys:")):
        raise NotFound("no such account")
    return await run_in_threadpool(grade_statement, node, account_id, period)


@router.get(
    "/{account_id}/period-statement",
    summary="A ledger-signed statement of an account's reductions, emissions and retirements"
    " in a period, with the head entry's proof and the account map's proof that the head is"
    " the newest (the account's reader; exchanges any farm's)",
)
async def period_statement_of(
    account_id: AccountId,
    period: Period,
    principal: PrincipalDep,
    node: NodeDep,
    history: HistoryParam = False,
) -> dict[str, Any]:
    check_period(period, "period")
    if not principal.can_read_statements(account_id) or account_id.startswith("sys:"):
        raise NotFound("no such account")
    return await run_in_threadpool(period_statement, node, account_id, period, history)


@router.get(
    "/{account_id}/evidence",
    summary="A grade, every entry it cites, the benchmark's inputs and the proofs",
)
async def evidence(
    request: Request, account_id: AccountId, period: Period, principal: PrincipalDep, node: NodeDep
) -> dict[str, Any]:
    check_period(period, "period")
    if not principal.can_read_statements(account_id) or not account_id.startswith(("ind:", "agr:")):
        raise NotFound("no such account")
    views = views_of(request)
    return await run_in_threadpool(
        evidence_bundle, node, views, account_id, period, principal.can_read
    )
