"""POST /v1/submissions and /v1/submissions/batch: hand signed submissions to the ledger."""

import logging
import re
import time
from typing import Annotated, Any

import msgspec
from fastapi import APIRouter, Query, Request
from starlette.concurrency import run_in_threadpool

from api.body import read_json
from api.deps import NodeDep
from api.openapi import EVENT_DATA_REFS, INTEGER_JSON_REF
from api.problems import problem_of, status_of
from api.responses import FastJSONResponse
from crypto.records import Receipt
from ledger.domain.common import EventRule
from ledger.errors import LedgerError, Malformed
from ledger.metrics import BATCH_ITEMS, SUBMISSIONS
from ledger.node import Node
from ledger.rules import RULES
from ledger.settings import MAX_BATCH_ITEMS
from ledger.submissions import ACCOUNT_PATTERN, ID_PATTERN

MAX_SUBMISSION_BODY = 32 * 1024
MAX_BATCH_BODY = MAX_BATCH_ITEMS * MAX_SUBMISSION_BODY
log = logging.getLogger("carbon_ledger.api")

router = APIRouter(prefix="/v1/submissions", tags=["submissions"])
# The domain's AT_PATTERN narrowed to real dates and times (the domain also parses it): years
# 0001-9999, days as their month has them, 29 February in leap years only.
_YEAR = "([1-9][0-9]{3}|0[1-9][0-9]{2}|00[1-9][0-9]|000[1-9])"
_LEAP_YEAR = "([0-9]{2}(0[48]|[2468][048]|[13579][26])|(0[48]|[2468][048]|[13579][26])00)"
_DAY = (
    f"({_YEAR}-((0[13578]|1[02])-(0[1-9]|[12][0-9]|3[01])|(0[469]|11)-(0[1-9]|[12][0-9]|30)"
    f"|02-(0[1-9]|1[0-9]|2[0-8]))|{_LEAP_YEAR}-02-29)"
)
AT_SCHEMA_PATTERN = f"^{_DAY}T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\\.[0-9]{{1,6}})?Z$"
# what follows an account id's kind (`per:` ...) in ACCOUNT_PATTERN
ACCOUNT_TAIL = ACCOUNT_PATTERN.pattern.partition("):")[2]


def account_schema(kind: str) -> dict[str, Any]:
    """The accounts of `kind` (an EventRule's account_prefix): a system account is that one id,
    any other kind its prefix and then what ACCOUNT_PATTERN allows."""
    if re.fullmatch("[a-z]+:", kind) and ACCOUNT_TAIL:
        return {"type": "string", "pattern": f"^{kind}{ACCOUNT_TAIL}$"}
    if ACCOUNT_PATTERN.fullmatch(kind):
        return {"const": kind}
    raise ValueError(f"account kind {kind!r} is neither a prefix nor an account id")


def submission_schema(event_type: str, rule: EventRule[Any, Any]) -> dict[str, Any]:
    """A submission of `event_type` on `rule`'s kind of account: its data is the rule's schema."""
    return {
        "type": "object",
        "required": ["account", "type", "data", "key", "at", "id"],
        "additionalProperties": False,
        "properties": {
            "account": account_schema(rule.account_prefix),
            "type": {"const": event_type},
            "data": EVENT_DATA_REFS[rule.schema],
            "key": {"type": "string"},
            "at": {"type": "string", "pattern": AT_SCHEMA_PATTERN},
            "id": {"type": "string", "pattern": f"^{ID_PATTERN.pattern}$"},
        },
    }


# one branch per (event type, account kind) that ledger/rules.py accepts
WIRE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["submission", "signature"],
    "additionalProperties": False,
    "properties": {
        "submission": {
            "oneOf": [
                submission_schema(event_type, rule)
                for event_type, rules in sorted(RULES.items())
                for rule in rules
            ]
        },
        "signature": {"type": "string", "pattern": "^[A-Za-z0-9+/]{86}==$"},
    },
}
Wait = Annotated[
    bool, Query(description="return once the entry is in a signed checkpoint, with proof")
]


def _with_proof(node: Node, receipt: Receipt, deadline: float) -> dict[str, Any]:
    """The receipt, plus its log index, a checkpoint and the inclusion proof if integrated
    by `deadline` (one deadline for a whole batch)."""
    timeout = max(0.0, deadline - time.monotonic())
    index = node.reader.wait_for_index(bytes.fromhex(receipt.leaf_hash), timeout)
    if index is None:
        return receipt.to_wire()
    size, note = node.reader.checkpoint(covering=index + 1)
    _, proof = node.reader.inclusion(index, size)
    inclusion = tuple(h.hex() for h in proof)
    proven = msgspec.structs.replace(receipt, index=index, checkpoint=note, inclusion=inclusion)
    return proven.to_wire()


def _receipt_body(node: Node, receipt: Receipt, wait: bool, deadline: float) -> dict[str, Any]:
    """The receipt; a new entry has no index yet, a replayed one may have. The entry is
    written by now, so storage trouble while looking for its index leaves the index out
    instead of failing the answer: a 5xx says nothing was written."""
    try:
        if wait:
            return _with_proof(node, receipt, deadline)
        index = node.log.index_of(bytes.fromhex(receipt.leaf_hash)) if receipt.replayed else None
    except Exception:
        log.exception("receipt handed out without its index")
        index = None
    return msgspec.structs.replace(receipt, index=index).to_wire()


@router.post(
    "",
    summary="Append one signed submission",
    status_code=201,
    responses={200: {"description": "a retry of accepted bytes: the original receipt"}},
    openapi_extra={"requestBody": {"content": {"application/json": {"schema": WIRE_SCHEMA}}}},
)
async def submit(request: Request, node: NodeDep, wait: Wait = False) -> FastJSONResponse:
    wire = await read_json(request, MAX_SUBMISSION_BODY)
    try:
        receipt = await run_in_threadpool(node.ledger.submit, wire)
    except LedgerError as error:
        count_result(error)
        raise
    count_result(receipt)
    body = await run_in_threadpool(
        _receipt_body, node, receipt, wait, time.monotonic() + node.settings.limits.wait_seconds
    )
    return FastJSONResponse(body, status_code=200 if receipt.replayed else 201)


def count_result(result: Receipt | LedgerError) -> None:
    """One answered submission, in carbon_ledger_submissions_total."""
    if isinstance(result, LedgerError):
        SUBMISSIONS.labels("refused", type(result).__name__).inc()
    else:
        SUBMISSIONS.labels("replayed" if result.replayed else "accepted", "").inc()


def _batch_results(node: Node, wires: list[Any], wait: bool) -> list[dict[str, Any]]:
    results = node.ledger.submit_batch(wires)
    BATCH_ITEMS.observe(len(wires))
    for result in results:
        count_result(result)
    deadline = time.monotonic() + node.settings.limits.wait_seconds
    return [
        {"status": status_of(result), "problem": problem_of(result)}
        if isinstance(result, LedgerError)
        else {
            "status": 200 if result.replayed else 201,
            "receipt": _receipt_body(node, result, wait, deadline),
        }
        for result in results
    ]


@router.post(
    "/batch",
    summary="Append up to 1000 signed submissions, with a result per item",
    openapi_extra={
        "requestBody": {
            "content": {
                "application/json": {
                    "schema": {
                        "type": "object",
                        "required": ["submissions"],
                        "additionalProperties": False,
                        "properties": {
                            "submissions": {
                                "type": "array",
                                "minItems": 1,
                                "maxItems": MAX_BATCH_ITEMS,
                                # any JSON the body may hold: each item is checked on its
                                # own, with a result each
                                "items": {
                                    **INTEGER_JSON_REF,
                                    "description": "a signed submission (see above)",
                                },
                            }
                        },
                    }
                }
            }
        }
    },
)
async def submit_batch(request: Request, node: NodeDep, wait: Wait = False) -> FastJSONResponse:
    body = await read_json(request, MAX_BATCH_BODY)
    wires = body.get("submissions") if isinstance(body, dict) else None
    if not isinstance(wires, list) or set(body) != {"submissions"}:
        raise Malformed('body must be {"submissions": [...]}', "submissions")
    most = node.settings.limits.batch_items
    if not 1 <= len(wires) <= most:
        raise Malformed(f"a batch holds 1 to {most} submissions", "submissions")
    results = await run_in_threadpool(_batch_results, node, wires, wait)
    return FastJSONResponse({"results": results})
