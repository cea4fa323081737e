"""Reads from the projections: city totals and benchmarks (public), persons (scoped).

`?after=INDEX` (a log index from a receipt) answers only once the read models include
that entry: read-your-writes.
"""

from collections.abc import Callable
from typing import Annotated, Any, TypeVar, cast

from fastapi import APIRouter, Path, Query, Request
from starlette.concurrency import run_in_threadpool

from api.accounts import AccountId
from api.auth import PrincipalDep
from api.deps import NodeDep
from api.params import After, HistoryParam
from api.problems import NotYet
from ledger.bundles import person_summary
from ledger.domain.common import check_period
from ledger.domain.industrial import INDUSTRY
from ledger.errors import Conflict, NotFound
from ledger.node import Node
from ledger.tokens import REGULATOR
from projections.views import Views

router = APIRouter(tags=["read models"])

PERIOD_DOC = {"pattern": "^[0-9]{4}(-Q[1-4])?$", "description": "a year YYYY or quarter YYYY-Qn"}
Period = Annotated[str, Query(json_schema_extra=PERIOD_DOC)]  # checked by check_period (422)
IndustryCode = Annotated[
    str, Path(pattern=f"^{INDUSTRY.pattern}$", description="a GB/T 4754 code such as C26")
]
# per:<bank>:<pid>: a pid holds no colon
PersonId = Annotated[str, Path(pattern="^[A-Za-z0-9._-]{1,160}$")]


T = TypeVar("T")


def views_of(request: Request) -> Views:
    return cast(Views, request.app.state.views)


def _wait(node: Node, views: Views, index: int | None) -> None:
    """Block until the views include the entry at log `index` (integrated first)."""
    if index is None:
        return
    size = node.reader.size()
    if index >= size:  # a receipt's index is in the log by the time anyone has it
        raise Conflict(f"log index {index} is beyond the log (size {size})", "after")
    leaf = node.log.leaves(index, index + 1)[0]
    if not views.wait_for(leaf.notification_id, node.settings.limits.wait_seconds):
        raise NotYet(f"the read models do not include log index {index} yet; retry", "after")


async def _read(
    request: Request, node: Node, after: str | None, read: Callable[..., T], *args: Any
) -> T:
    views = views_of(request)
    await run_in_threadpool(_wait, node, views, None if after is None else int(after))
    return await run_in_threadpool(read, views, *args)


@router.get("/v1/city/totals", summary="City totals: personal, industrial, agricultural (public)")
async def city_totals(
    request: Request, node: NodeDep, period: Period | None = None, after: After = None
) -> dict[str, Any]:
    if period is not None:
        check_period(period, "period")
    return await _read(request, node, after, Views.city_totals, period)


@router.get("/v1/industries/{code}/benchmark", summary="An industry's totals for a period (public)")
async def benchmark(
    request: Request, code: IndustryCode, period: Period, node: NodeDep, after: After = None
) -> dict[str, Any]:
    check_period(period, "period")
    return await _read(request, node, after, Views.benchmark, code, period)


def _person(views: Views, pid: str, bank: str | None) -> dict[str, Any]:
    """Totals across banks for the regulator; a bank sees only its own account of the person."""
    if bank is None:
        found = views.person(pid)
    else:
        balance = views.balance(f"per:{bank}:{pid}")
        found = balance and {**balance, "accounts": 1, "banks": [bank]}
    if not found:
        raise NotFound("no such person")
    return found


@router.get(
    "/v1/persons/{pid}", summary="A person's totals across banks (regulator), or at one bank"
)
async def person(
    request: Request, pid: PersonId, principal: PrincipalDep, node: NodeDep, after: After = None
) -> dict[str, Any]:
    if principal.kind not in (REGULATOR, "bank"):
        raise NotFound("no such person")
    bank = None if principal.kind == REGULATOR else principal.code
    return await _read(request, node, after, _person, pid, bank)


@router.get(
    "/v1/persons/{pid}/summary",
    summary="A ledger-signed summary of a person's reduction in a period, across every bank"
    " (regulator: for the city credit score)",
)
async def person_summary_of(
    pid: PersonId,
    period: Period,
    principal: PrincipalDep,
    node: NodeDep,
    history: HistoryParam = False,
) -> dict[str, Any]:
    if principal.kind != REGULATOR:
        raise NotFound("no such person")
    check_period(period, "period")
    return await run_in_threadpool(person_summary, node, pid, period, history)


@router.get(
    "/v1/agri/green-list", summary="Farms on the agricultural green list for a period (public)"
)
async def green_list(
    request: Request, period: Period, node: NodeDep, after: After = None
) -> dict[str, Any]:
    check_period(period, "period")
    return await _read(request, node, after, Views.green_list_changes, period)


@router.get("/v1/accounts/{account_id}/grades", summary="An account's grade history (scoped)")
async def grade_history(
    request: Request,
    account_id: AccountId,
    principal: PrincipalDep,
    node: NodeDep,
    after: After = None,
) -> dict[str, Any]:
    if not principal.can_read_grades(account_id):
        raise NotFound("no such account")
    history = await _read(request, node, after, Views.grade_history, account_id)
    return {"account": account_id, "grades": history}
