"""Evidence documents: attach one to an enterprise's or farm's account (signed by its key),
fetch one by its SHA-256 under the scope of that account."""

from typing import Annotated

from fastapi import APIRouter, Header, Path, Request, Response
from starlette.concurrency import run_in_threadpool

from api.accounts import AccountId
from api.auth import PrincipalDep
from api.deps import NodeDep
from api.responses import FastJSONResponse
from ledger.documents import DIGEST, MAX_DOCUMENT_BYTES, authorise_upload
from ledger.errors import NotFound, TooLarge

router = APIRouter(tags=["documents"])
Digest = Annotated[str, Path(pattern=f"^{DIGEST.pattern}$", description="hex SHA-256")]


async def _body(request: Request) -> bytes:
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_DOCUMENT_BYTES:
            raise TooLarge(f"a document is at most {MAX_DOCUMENT_BYTES} bytes")
    return bytes(body)


@router.post(
    "/v1/accounts/{account_id}/documents",
    summary="Attach an evidence document (any bytes, up to 1 MiB) signed by the account's key",
    status_code=201,
    responses={200: {"description": "the same bytes were attached to this account already"}},
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}
            },
        }
    },
)
async def attach(
    request: Request,
    account_id: AccountId,
    node: NodeDep,
    signature: Annotated[
        str | None,
        Header(
            alias="Document-Signature",
            description="<key id> <base64 Ed25519 over carbon-ledger/document/v1\\n"
            "account\\nsha256\\n>",
        ),
    ] = None,
) -> FastJSONResponse:
    content = await _body(request)
    registry = await run_in_threadpool(node.ledger.registry)
    digest = authorise_upload(account_id, content, signature, registry)
    _, new = await run_in_threadpool(node.documents.put, account_id, content)
    answer = {"sha256": digest, "size": len(content), "account": account_id}
    return FastJSONResponse(answer, status_code=201 if new else 200)


@router.get(
    "/v1/documents/{digest}",
    response_class=Response,
    summary="An evidence document, to principals whose scope covers its account",
)
async def fetch(digest: Digest, principal: PrincipalDep, node: NodeDep) -> Response:
    document = await run_in_threadpool(node.documents.get, digest)
    if document is None or not any(principal.can_read(a) for a in document.accounts):
        raise NotFound("no such document", "digest")
    return Response(document.content, media_type="application/octet-stream")
