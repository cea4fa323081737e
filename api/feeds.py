"""Change feeds: what happened to a principal's accounts, or one account, in log order (grades
assigned or changed and why, disputes filed and decided, green list joined or dropped,
points issued and redeemed); `next_cursor` resumes, each item's `position` identifies it."""

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from api.accounts import AccountId
from api.auth import Principal, PrincipalDep
from api.deps import NodeDep
from api.params import After
from api.reads import Format, Limit, answer, read
from ledger.errors import NotFound
from ledger.tokens import REGULATOR
from projections.feed import COLUMNS, feed

router = APIRouter(tags=["feeds"])
FeedCursor = Annotated[str, Query(pattern="^[0-9]{1,15}$", description="items after this position")]


def owner_of(principal: Principal) -> str | None:
    """The owner whose items a principal's feed holds: None (all) for the regulator."""
    if principal.kind == REGULATOR:
        return None
    if principal.kind in ("bank", "ent", "farm"):
        return f"{principal.kind}:{principal.code}"
    raise NotFound("no feed for this principal")


@router.get("/v1/feed", summary="The change feed of the caller's accounts (the regulator: all)")
async def principal_feed(
    request: Request,
    principal: PrincipalDep,
    node: NodeDep,
    cursor: FeedCursor = "0",
    limit: Limit = 100,
    after: After = None,
    format: Format = "json",
) -> Any:
    owner = owner_of(principal)
    page, stated = await read(request, node, after, feed, owner, None, int(cursor), limit)
    return answer(page.to_json(), stated, format, "items", COLUMNS, "feed")


@router.get("/v1/accounts/{account_id}/feed", summary="One account's change feed (scoped)")
async def account_feed(
    request: Request,
    account_id: AccountId,
    principal: PrincipalDep,
    node: NodeDep,
    cursor: FeedCursor = "0",
    limit: Limit = 100,
    after: After = None,
    format: Format = "json",
) -> Any:
    if not principal.can_read(account_id):
        raise NotFound("no such account")
    page, stated = await read(request, node, after, feed, None, account_id, int(cursor), limit)
    return answer(page.to_json(), stated, format, "items", COLUMNS, "feed")
