"""Scoped bundles to verify offline: an account's balance statement (and, later, evidence)."""

from typing import Any

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool

from api.auth import PrincipalDep
from api.deps import NodeDep
from ledger.bundles import statement_bundle
from ledger.errors import NotFound

router = APIRouter(prefix="/v1/accounts", tags=["proofs"])


@router.get(
    "/{account_id}/statement",
    summary="A ledger-signed balance statement with the account's history and proofs",
)
async def statement(account_id: str, principal: PrincipalDep, node: NodeDep) -> dict[str, Any]:
    if not principal.can_read(account_id):
        raise NotFound("no such account")
    try:
        return await run_in_threadpool(statement_bundle, node, account_id)
    except NotFound:
        raise NotFound("no such account") from None
