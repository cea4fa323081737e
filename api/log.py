"""Public log endpoints: checkpoint, key, inclusion and consistency proofs, keys, health."""

from typing import Annotated, Any

from fastapi import APIRouter
from fastapi.responses import PlainTextResponse
from starlette.concurrency import run_in_threadpool

from api.deps import NodeDep
from api.params import index_query, size_query
from ledger.errors import NotFound

router = APIRouter(tags=["log"])
NOTE_TYPE = "text/plain; charset=utf-8"


@router.get("/v1/log/checkpoint", response_class=PlainTextResponse, summary="Signed checkpoint")
async def checkpoint(node: NodeDep) -> PlainTextResponse:
    _, note = await run_in_threadpool(node.reader.checkpoint)
    return PlainTextResponse(note, media_type=NOTE_TYPE, headers={"Cache-Control": "no-cache"})


@router.get("/v1/log/key", response_class=PlainTextResponse, summary="The log's verifier key")
def log_key(node: NodeDep) -> PlainTextResponse:
    """The key of the checkpoint served (after a rotation, the new one)."""
    try:
        size, _ = node.reader.checkpoint()
    except NotFound:  # no checkpoint yet: the first will be the first key's
        size = 0
    key = node.ledger_keys.signer(size).verifier
    return PlainTextResponse(key.text + "\n", media_type=NOTE_TYPE)


@router.get("/v1/log/keys", summary="The log key's history: its rotations, as links to follow")
def log_keys(node: NodeDep) -> dict[str, Any]:
    """The key the log began with and each rotation since (crypto/key_history.py): a verifier
    trusting an older key follows the links to the newest."""
    size = node.reader.size()
    first = node.ledger_key.verifier.text
    return {"origin": node.origin, "first": first, "rotations": node.ledger_keys.links(size)}


@router.get("/v1/log/proof/inclusion", summary="RFC 9162 inclusion proof")
def inclusion(
    index_text: Annotated[str, index_query("the leaf's index", "index")],
    size_text: Annotated[str, size_query("the tree's size", "tree_size")],
    node: NodeDep,
) -> dict[str, Any]:
    index, tree_size = int(index_text), int(size_text)
    leaf, hashes = node.reader.inclusion(index, tree_size)
    return {
        "index": index,
        "tree_size": tree_size,
        "leaf_hash": leaf.hex(),
        "hashes": [h.hex() for h in hashes],
    }


@router.get("/v1/log/proof/consistency", summary="RFC 9162 consistency proof")
def consistency(
    first_text: Annotated[str, size_query("the older tree's size", "first")],
    second_text: Annotated[str, size_query("the newer tree's size", "second")],
    node: NodeDep,
) -> dict[str, Any]:
    first, second = int(first_text), int(second_text)
    hashes = node.reader.consistency(first, second)
    return {"first": first, "second": second, "hashes": [h.hex() for h in hashes]}


@router.get("/v1/keys", summary="The key registry: every key, its roles, whether revoked")
def keys(node: NodeDep) -> dict[str, Any]:
    registry = node.ledger.registry()
    return {
        "keys": [
            {
                "key": key_id,
                "vkey": registered.verifier.text,
                "roles": sorted(registered.roles),
                "revoked": registered.revoked,
            }
            for key_id, registered in sorted(registry.keys.items())
        ]
    }


@router.get("/healthz", summary="Liveness, with the log's size")
def healthz(node: NodeDep) -> dict[str, Any]:
    return {"status": "ok", "tree_size": node.reader.size()}
