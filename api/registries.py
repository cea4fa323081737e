"""Registries, a page at a time: enterprises and farms (filtered by district, industry or
kind, and the grade held for a period), a bank's own accounts, and disputes (scoped)."""

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request

from api.auth import Principal, PrincipalDep
from api.deps import NodeDep
from api.params import After
from api.reads import Cursor, Format, Limit, answer, read
from ledger.domain.common import check_period
from ledger.errors import Invalid, NotFound
from ledger.tokens import REGULATOR
from projections import registries
from projections.registries import GradedFilter

router = APIRouter(tags=["registries"])
Text = Annotated[str | None, Query(pattern="^[^\\x00-\\x1f]{1,64}$")]
GradePeriod = Annotated[
    str | None, Query(pattern="^[0-9]{4}(-Q[1-4])?$", description="YYYY or YYYY-Qn")
]
Grade = Annotated[
    str | None,
    Query(
        pattern="^(dark_green|light_green|yellow|red|mid_green|none)$",
        description="only accounts holding this grade for `period`",
    ),
]
LISTERS = {  # who may list every enterprise, and every farm
    "enterprises": (REGULATOR, "bank"),
    "farms": (REGULATOR, "bank", "exchange"),
}


def _filter(
    district: str | None,
    category: str | None,
    period: str | None,
    grade: str | None,
    search: str | None,
) -> GradedFilter:
    if period is not None:
        check_period(period, "period")
    if grade is not None and period is None:
        raise Invalid("a grade filter needs the `period` it is held for", "grade")
    return GradedFilter(district, category, period, grade, search)


def _lists_graded(principal: Principal, registry: str) -> None:
    if principal.kind not in LISTERS[registry]:
        raise NotFound(f"the {registry} registry is for {', '.join(LISTERS[registry])}")


@router.get(
    "/v1/enterprises",
    summary="Registered enterprises, by account; filter by district, industry and the colour"
    " held for a period (the regulator, banks, exchanges)",
)
async def enterprises(
    request: Request,
    principal: PrincipalDep,
    node: NodeDep,
    district: Text = None,
    industry: Text = None,
    period: GradePeriod = None,
    grade: Grade = None,
    q: Annotated[
        str | None, Query(pattern="^[^\\x00-\\x1f]{1,64}$", description="name contains")
    ] = None,
    cursor: Cursor = None,
    limit: Limit = 100,
    after: After = None,
    format: Format = "json",
) -> Any:
    _lists_graded(principal, "enterprises")
    where = _filter(district, industry, period, grade, q)
    page, stated = await read(
        request, node, after, registries.graded_registry, "enterprises", where, cursor, limit
    )
    columns = ("account", "name", "industry", "district", "grade")
    return answer(page.to_json(), stated, format, "items", columns, "enterprises")


@router.get(
    "/v1/farms",
    summary="Registered farms, by account; filter by district, kind and the tier held for a"
    " period (the regulator, banks, exchanges)",
)
async def farms(
    request: Request,
    principal: PrincipalDep,
    node: NodeDep,
    district: Text = None,
    kind: Annotated[str | None, Query(pattern="^(grain|pig|fertiliser)$")] = None,
    period: GradePeriod = None,
    tier: Grade = None,
    q: Annotated[
        str | None, Query(pattern="^[^\\x00-\\x1f]{1,64}$", description="name contains")
    ] = None,
    cursor: Cursor = None,
    limit: Limit = 100,
    after: After = None,
    format: Format = "json",
) -> Any:
    _lists_graded(principal, "farms")
    where = _filter(district, kind, period, tier, q)
    page, stated = await read(
        request, node, after, registries.graded_registry, "farms", where, cursor, limit
    )
    columns = ("account", "name", "kind", "district", "grade")
    return answer(page.to_json(), stated, format, "items", columns, "farms")


@router.get(
    "/v1/banks/{bank}/accounts",
    summary="A bank's (or city platform's) personal accounts with their totals (that bank, the"
    " regulator)",
)
async def bank_accounts(
    request: Request,
    bank: Annotated[str, Path(pattern="^[a-z0-9-]{1,32}$")],
    principal: PrincipalDep,
    node: NodeDep,
    cursor: Cursor = None,
    limit: Limit = 100,
    after: After = None,
    format: Format = "json",
) -> Any:
    if principal.kind != REGULATOR and (principal.kind, principal.code) != ("bank", bank):
        raise NotFound("no such bank")
    page, stated = await read(request, node, after, registries.bank_accounts, bank, cursor, limit)
    columns = ("account", "pid", *registries.PERSONAL)
    return answer(page.to_json(), stated, format, "items", columns, f"accounts-{bank}")


OWN_ACCOUNT = {"ent": "ind", "farm": "agr"}


@router.get(
    "/v1/disputes",
    summary="Disputes in the order filed, open or decided (the regulator all; an enterprise or"
    " farm its own)",
)
async def disputes(
    request: Request,
    principal: PrincipalDep,
    node: NodeDep,
    status: Annotated[str | None, Query(pattern="^(open|decided)$")] = None,
    cursor: Annotated[str | None, Query(pattern="^[0-9]{1,15}$")] = None,
    limit: Limit = 100,
    after: After = None,
    format: Format = "json",
) -> Any:
    if principal.kind == REGULATOR:
        account = None
    elif principal.kind in OWN_ACCOUNT:
        account = f"{OWN_ACCOUNT[principal.kind]}:{principal.code}"
    else:
        raise NotFound("disputes are for the regulator and the disputing account")
    page, stated = await read(
        request, node, after, registries.disputes, account, status, cursor, limit
    )
    return answer(page.to_json(), stated, format, "items", registries.DISPUTE_COLUMNS, "disputes")


@router.get(
    "/v1/retirements",
    summary="Reductions retired by exchanges, in log order (the regulator: all; an exchange: its"
    " own)",
)
async def retirements(
    request: Request,
    principal: PrincipalDep,
    node: NodeDep,
    cursor: Annotated[str | None, Query(pattern="^[0-9]{1,15}$")] = None,
    limit: Limit = 100,
    after: After = None,
    format: Format = "json",
) -> Any:
    if principal.kind not in (REGULATOR, "exchange"):
        raise NotFound("retirements are for the regulator and exchanges")
    exchange = None if principal.kind == REGULATOR else f"exchange.{principal.code}"
    page, stated = await read(request, node, after, registries.retirements, exchange, cursor, limit)
    return answer(
        page.to_json(), stated, format, "items", registries.RETIREMENT_COLUMNS, "retirements"
    )
