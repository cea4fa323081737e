"""POST /v1/grading/runs: a signed GradingRunRequested, then the grades it produced (a node
holding the grader key); GET /v1/grading/proposals: the grades a grader process should sign
(production, where the node holds no grader key)."""

import copy
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from starlette.concurrency import run_in_threadpool

from api.auth import PrincipalDep
from api.body import read_json
from api.deps import NodeDep
from api.openapi import component
from api.problems import headers_of, problem_of
from api.readmodels import PERIOD_DOC
from api.responses import FastJSONResponse
from api.submissions import MAX_SUBMISSION_BODY, WIRE_SCHEMA
from ledger.domain.common import check_period
from ledger.domain.runs import RUNS_ACCOUNT
from ledger.errors import NotFound
from ledger.node import Node
from ledger.tokens import REGULATOR

router = APIRouter(prefix="/v1/grading", tags=["grading"])


def _run_schema() -> dict[str, Any]:
    """The wire schema narrowed to what a run request is: GradingRunRequested on sys:grading,
    its period spelled as a period (the ledger refuses any other)."""
    schema = copy.deepcopy(WIRE_SCHEMA)
    (run,) = (
        branch
        for branch in schema["properties"]["submission"]["oneOf"]
        if branch["properties"]["type"] == {"const": "GradingRunRequested"}
        and branch["properties"]["account"] == {"const": RUNS_ACCOUNT}
    )
    data = copy.deepcopy(component(run["properties"]["data"]))
    data["properties"]["period"].update(PERIOD_DOC)
    run["properties"]["data"] = data
    schema["properties"]["submission"] = run
    return schema


@router.post(
    "/runs",
    summary="Grade every enterprise or farm with data in a period (authority-signed request)",
    status_code=201,
    responses={
        200: {"description": "nothing new to append: every grade is unchanged"},
        202: {"description": "the request is recorded but storage failed before grading: retry"},
    },
    openapi_extra={"requestBody": {"content": {"application/json": {"schema": _run_schema()}}}},
)
async def grading_run(request: Request, node: NodeDep) -> FastJSONResponse:
    wire = await read_json(request, MAX_SUBMISSION_BODY)
    receipt, result = await run_in_threadpool(node.run_grading, wire)
    body: dict[str, Any] = {
        "request": receipt.to_wire(),
        "appended": [r.to_wire() for r in result.appended],
        "unchanged": result.unchanged,
        "refused": [problem_of(error) for error in result.refused],
    }
    if result.incomplete is not None:  # recorded, not graded: 202, and send it again later
        body["incomplete"] = problem_of(result.incomplete)
        headers = headers_of(result.incomplete)
        return FastJSONResponse(body, status_code=202, headers=headers)
    return FastJSONResponse(body, status_code=201 if result.appended else 200)


def _proposals(node: Node, kind: Literal["industrial", "agri"], period: str) -> dict[str, Any]:
    as_of = node.reader.size()
    changed, unchanged = node.grading().proposals(kind, period, as_of)
    grades = [{"account": account, "data": data} for account, data in changed.items()]
    return {
        "kind": kind,
        "period": period,
        "as_of": as_of,
        "unchanged": unchanged,
        "grades": grades,
    }


@router.get(
    "/proposals",
    summary="The grades a grading service should sign and submit now (regulator token)",
)
async def proposals(
    kind: Literal["industrial", "agri"],
    period: Annotated[str, Query(json_schema_extra=PERIOD_DOC)],
    principal: PrincipalDep,
    node: NodeDep,
) -> dict[str, Any]:
    if principal.kind != REGULATOR:
        raise NotFound("grading proposals are for the regulator's grading service")
    check_period(period, "period")
    return await run_in_threadpool(_proposals, node, kind, period)
