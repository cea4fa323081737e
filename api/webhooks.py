"""Webhooks: a principal with a change feed registers URLs its feed items are POSTed to, signed
by the ledger key (projections/webhook_delivery.py says how), lists and deletes its own. A
webhook lives on its token: once that is revoked, nothing more is delivered to it."""

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request, Response
from starlette.concurrency import run_in_threadpool

from api.auth import Principal, PrincipalDep, TokenIdDep
from api.body import read_json
from api.deps import NodeDep
from api.feeds import owner_of
from api.responses import FastJSONResponse
from ledger.errors import Invalid, Malformed
from ledger.tokens import REGULATOR
from ledger.webhooks import MAX_URL_CHARS, check_target, check_url, live_tokens

MAX_REQUEST_BODY = 4 * 1024
MAX_CURSOR = 2**53 - 1
router = APIRouter(prefix="/v1/webhooks", tags=["webhooks"])
WebhookId = Annotated[str, Path(pattern="^[0-9a-f]{16}$", description="the webhook's id")]
REQUEST_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["url"],
    "additionalProperties": False,
    "properties": {
        "url": {"type": "string", "maxLength": MAX_URL_CHARS, "description": "https:// or http://"},
        "cursor": {
            "type": "integer",
            "description": "deliver the feed items after this position (default 0: all)",
        },
    },
}


def principal_name(principal: Principal) -> str:
    """`regulator`, or `<kind>:<code>` as a token names its holder."""
    return REGULATOR if principal.kind == REGULATOR else f"{principal.kind}:{principal.code}"


def _request(wire: Any) -> tuple[str, int]:
    """The URL and starting cursor of a registration; Malformed or Invalid naming the field."""
    if not isinstance(wire, dict):
        raise Malformed('send {"url": "https://..."}')
    unknown = sorted(set(wire) - {"url", "cursor"})
    if unknown:
        raise Malformed(f"unknown field {unknown[0]!r}", unknown[0])
    url, cursor = wire.get("url"), wire.get("cursor", 0)
    if not isinstance(url, str):
        raise Malformed("url is a string", "url")
    if type(cursor) is not int or not 0 <= cursor <= MAX_CURSOR:
        raise Invalid(f"cursor is a feed position, 0 to {MAX_CURSOR}", "cursor")
    return check_url(url), cursor


@router.post(
    "",
    status_code=201,
    summary="Register a webhook: the caller's feed items are POSTed to it, signed (at most 5)",
    openapi_extra={"requestBody": {"content": {"application/json": {"schema": REQUEST_SCHEMA}}}},
)
async def register(
    request: Request, principal: PrincipalDep, token: TokenIdDep, node: NodeDep
) -> FastJSONResponse:
    owner_of(principal)  # only a principal with a feed
    url, cursor = _request(await read_json(request, MAX_REQUEST_BODY))
    await run_in_threadpool(check_target, url, node.settings.production)
    name = principal_name(principal)
    webhook = await run_in_threadpool(node.webhooks.add, name, url, cursor, token)
    headers = {"Location": f"/v1/webhooks/{webhook.id}"}
    return FastJSONResponse(webhook.to_json(), status_code=201, headers=headers)


@router.get(
    "",
    summary="The caller's webhooks, with the last feed position each was sent and whether the"
    " token that registered it is still live (a revoked one's get nothing more)",
)
async def webhooks(principal: PrincipalDep, node: NodeDep) -> dict[str, Any]:
    found = await run_in_threadpool(node.webhooks.list, principal_name(principal))
    live = await run_in_threadpool(live_tokens, node.tokens, found)
    return {"webhooks": [{**hook.to_json(), "live": hook.lives_on(live)} for hook in found]}


@router.delete("/{webhook_id}", status_code=204, summary="Delete one of the caller's webhooks")
async def delete(webhook_id: WebhookId, principal: PrincipalDep, node: NodeDep) -> Response:
    await run_in_threadpool(node.webhooks.remove, principal_name(principal), webhook_id)
    return Response(status_code=204)
