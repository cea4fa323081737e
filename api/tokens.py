"""POST /v1/tokens: create, revoke or list bearer tokens by an admin-signed request."""

from typing import Any

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool

from api.body import read_json
from api.deps import NodeDep
from api.responses import FastJSONResponse
from ledger.submissions import now_utc
from ledger.token_requests import carry_out

MAX_REQUEST_BODY = 4 * 1024
router = APIRouter(prefix="/v1", tags=["tokens"])
REQUEST_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["request", "signature"],
    "additionalProperties": False,
    "properties": {
        "request": {
            "type": "object",
            "required": ["action", "key", "at", "id"],
            "additionalProperties": False,
            "properties": {
                "action": {"enum": ["create", "revoke", "list"]},
                "key": {"type": "string"},
                "at": {"type": "string", "description": "RFC 3339 UTC, within 5 minutes"},
                "id": {"type": "string", "description": "never reused by the key"},
                "principal": {"type": "string", "description": "create: bank:<bank>, ..."},
                "token_id": {"type": "string", "description": "revoke: the token's id"},
            },
        },
        "signature": {
            "type": "string",
            "description": "base64 Ed25519 over carbon-ledger/token-request/v1\\n + JCS(request)",
        },
    },
}


@router.post(
    "/tokens",
    summary="Create, revoke or list bearer tokens (admin-signed request; a token is shown once)",
    openapi_extra={"requestBody": {"content": {"application/json": {"schema": REQUEST_SCHEMA}}}},
)
async def tokens(request: Request, node: NodeDep) -> FastJSONResponse:
    wire = await read_json(request, MAX_REQUEST_BODY)
    registry = await run_in_threadpool(node.ledger.registry)
    answer = await run_in_threadpool(carry_out, wire, registry, node.tokens, now_utc())
    status = 201 if "token" in answer else 200
    return FastJSONResponse(answer, status_code=status, headers={"Cache-Control": "no-store"})
