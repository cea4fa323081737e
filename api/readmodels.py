"""Reads from the projections: city totals, breakdowns and series (public where the city
publishes them), benchmarks, the green list, persons and grade histories (scoped).

`?after=INDEX` (a log index from a receipt) answers only once the read models include
that entry: read-your-writes. Every answer says `as_of`: the log size and checkpoint it
reflects.
"""

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from starlette.concurrency import run_in_threadpool

from api.accounts import AccountId
from api.auth import OptionalPrincipalDep, Principal, PrincipalDep
from api.deps import NodeDep
from api.params import After, HistoryParam
from api.reads import Format, answer, read
from ledger.bundles import person_summary
from ledger.domain.common import check_period
from ledger.domain.industrial import INDUSTRY
from ledger.domain.personal import account_id
from ledger.domain.reference import METHODS_ACCOUNT
from ledger.errors import Forbidden, NotFound
from ledger.node import Node
from ledger.tokens import REGULATOR
from projections import breakdowns
from projections.explanations import explain_history
from projections.periods import GRANULARITIES, check_read_period
from projections.views import ReadModels

router = APIRouter(tags=["read models"])

PERIOD_DOC = {"pattern": "^[0-9]{4}(-Q[1-4])?$", "description": "a year YYYY or quarter YYYY-Qn"}
Period = Annotated[str, Query(json_schema_extra=PERIOD_DOC)]  # checked by check_period (422)
READ_PERIOD_DOC = {
    "pattern": "^[0-9]{4}(-(Q[1-4]|0[1-9]|1[0-2]))?$",
    "description": "a year YYYY, quarter YYYY-Qn or month YYYY-MM",
}
ReadPeriod = Annotated[str | None, Query(json_schema_extra=READ_PERIOD_DOC)]
Granularity = Annotated[str, Query(pattern=f"^({'|'.join(GRANULARITIES)})$")]
By = Annotated[
    str,
    Query(
        pattern="^(district|industry|kind)$",
        description="district (public), or industry or farm kind (regulator)",
    ),
]
IndustryCode = Annotated[
    str, Path(pattern=f"^{INDUSTRY.pattern}$", description="a GB/T 4754 code such as C26")
]
# per:<bank>:<pid>: a pid holds no colon
PersonId = Annotated[str, Path(pattern="^[A-Za-z0-9._-]{1,160}$")]
SERIES_COLUMNS = {
    "per": ("period", "co2e_g", "co2e_t", "issued", "redeemed"),
    "ind": (
        "period",
        "co2e_g",
        "co2e_t",
        "scope3_co2e_g",
        "value_fen",
        "value_yuan",
        "intensity_g_per_yuan",
    ),
    "agr": ("period", "reduction_g", "reduction_t", "emission_g", "emission_t"),
}


def _checked(period: str | None) -> str | None:
    return None if period is None else check_read_period(period)


def _banks_shown(principal: Principal | None) -> list[str] | None:
    """Per-bank figures: every bank for the regulator, its own for a bank, none in public."""
    if principal is None or principal.kind not in (REGULATOR, "bank"):
        return None
    return [] if principal.kind == REGULATOR else [principal.code]


@router.get(
    "/v1/city/totals",
    summary="City totals of a period: personal, industrial, agricultural, grades (public; "
    "per-bank figures for the regulator and each bank's own)",
)
async def city_totals(
    request: Request,
    node: NodeDep,
    principal: OptionalPrincipalDep,
    period: ReadPeriod = None,
    after: After = None,
) -> dict[str, Any]:
    checked = _checked(period)
    totals, stated = await read(
        request, node, after, breakdowns.city_totals, checked, _banks_shown(principal)
    )
    return {**totals, "as_of": stated}


@router.get(
    "/v1/city/breakdown",
    summary="A period's totals per district (public), industry or farm kind (regulator)",
)
async def city_breakdown(
    request: Request,
    node: NodeDep,
    principal: OptionalPrincipalDep,
    by: By,
    period: ReadPeriod = None,
    after: After = None,
    format: Format = "json",
) -> Any:
    checked = _checked(period)
    if by != "district" and (principal is None or principal.kind != REGULATOR):
        raise NotFound(f"per-{by} figures are for the regulator")
    body, stated = await read(request, node, after, breakdowns.breakdown, checked, by)
    rows = [{"part": "industrial", **r} for r in body["industrial"]] + [
        {"part": "agricultural", **r} for r in body["agricultural"]
    ]
    columns = (
        "part",
        by,
        "city",
        "enterprises",
        "farms",
        *breakdowns.INDUSTRIAL_SUMS,
        *breakdowns.AGRI_SUMS,
    )
    return answer({**body, "rows": rows}, stated, format, "rows", columns, f"breakdown-{by}")


@router.get("/v1/city/series", summary="The city's figures per month, quarter or year (public)")
async def city_series(
    request: Request,
    node: NodeDep,
    granularity: Granularity = "quarter",
    after: After = None,
    format: Format = "json",
) -> Any:
    body, stated = await read(request, node, after, breakdowns.city_series, granularity)
    rows = [
        {"part": part, **row}
        for part in ("personal", "industrial", "agricultural")
        for row in body[part]
    ]
    columns = (
        "part",
        "period",
        *breakdowns.PERSONAL_FLOWS,
        "scope3_co2e_g",
        "value_fen",
        *breakdowns.AGRI_SUMS,
    )
    return answer({**body, "rows": rows}, stated, format, "rows", columns, f"city-{granularity}")


@router.get(
    "/v1/industries/{code}/benchmark",
    summary="An industry's totals for a period (any principal: the city publishes city and"
    " district totals, not an industry's)",
)
async def benchmark(
    request: Request,
    code: IndustryCode,
    period: Period,
    node: NodeDep,
    principal: PrincipalDep,
    after: After = None,
) -> dict[str, Any]:
    check_period(period, "period")
    own = None if principal.kind == REGULATOR else f"ind:{principal.code}"
    if principal.kind not in (REGULATOR, "ent"):
        raise NotFound("an industry's totals are for the regulator and its enterprises")
    body, stated = await read(request, node, after, _benchmark, code, period, own)
    return {**body, "as_of": stated}


def _benchmark(views: ReadModels, code: str, period: str, own: str | None) -> dict[str, Any]:
    """The industry's totals, to the regulator or to an enterprise of that industry."""
    if own is not None and (views.enterprise(own) or {}).get("industry") != code:
        raise NotFound("an industry's totals are for the regulator and its enterprises")
    return views.benchmark(code, period)


def _person(views: ReadModels, pid: str, bank: str | None) -> dict[str, Any]:
    """Totals across banks: every bank named for the regulator; for one of the person's
    banks, the same totals and only its own bank named."""
    found = views.person(pid)
    if found is None or (bank is not None and bank not in found["banks"]):
        raise NotFound("no such person")
    return found if bank is None else {**found, "banks": [bank]}


def _person_reader(principal: Principal) -> str | None:
    """None for the regulator, the bank's code for a bank; NotFound for anyone else."""
    if principal.kind not in (REGULATOR, "bank"):
        raise NotFound("no such person")
    return None if principal.kind == REGULATOR else principal.code


@router.get(
    "/v1/persons/{pid}",
    summary="A person's totals across every bank (the regulator, and each of the person's banks)",
)
async def person(
    request: Request, pid: PersonId, principal: PrincipalDep, node: NodeDep, after: After = None
) -> dict[str, Any]:
    found, stated = await read(request, node, after, _person, pid, _person_reader(principal))
    return {**found, "as_of": stated}


def _person_series(
    views: ReadModels, pid: str, bank: str | None, granularity: str
) -> list[dict[str, Any]]:
    _person(views, pid, bank)
    return breakdowns.person_series(views, pid, granularity)


@router.get(
    "/v1/persons/{pid}/series",
    summary="A person's CO2e and points per month, quarter or year, across every bank",
)
async def person_series(
    request: Request,
    pid: PersonId,
    principal: PrincipalDep,
    node: NodeDep,
    granularity: Granularity = "month",
    after: After = None,
    format: Format = "json",
) -> Any:
    bank = _person_reader(principal)
    series, stated = await read(request, node, after, _person_series, pid, bank, granularity)
    body = {"pid": pid, "granularity": granularity, "series": series}
    return answer(body, stated, format, "series", SERIES_COLUMNS["per"], f"person-{granularity}")


def _summary(node: Node, pid: str, period: str, bank: str | None, history: bool) -> dict[str, Any]:
    if bank is not None and not node.ledger.accounts.get(account_id(bank, pid)):
        raise NotFound("no such person")
    if bank is not None and history:
        raise Forbidden("the history of every bank's accounts is the regulator's", "history")
    return person_summary(node, pid, period, history, bank)


@router.get(
    "/v1/persons/{pid}/summary",
    summary="A ledger-signed summary of a person's reduction in a period, across every bank"
    " (the regulator and the person's banks: for the city credit score)",
)
async def person_summary_of(
    pid: PersonId,
    period: Period,
    principal: PrincipalDep,
    node: NodeDep,
    history: HistoryParam = False,
) -> dict[str, Any]:
    bank = _person_reader(principal)
    check_period(period, "period")
    return await run_in_threadpool(_summary, node, pid, period, bank, history)


@router.get(
    "/v1/agri/green-list", summary="Farms on the agricultural green list for a period (public)"
)
async def green_list(
    request: Request, period: Period, node: NodeDep, after: After = None, format: Format = "json"
) -> Any:
    check_period(period, "period")
    body, stated = await read(request, node, after, ReadModels.green_list_changes, period)
    columns = ("account", "name", "kind", "district", "grade")
    return answer(body, stated, format, "farms", columns, f"green-list-{period}")


def _explained(node: Node, history: list[dict[str, Any]], detailed: bool) -> list[dict[str, Any]]:
    """The history explained; for a lender (not `detailed`) without the energy breakdown and
    without the disputes (their reasons and evidence are the firm's and the regulator's)."""
    book = node.ledger.system.now()[METHODS_ACCOUNT]
    explained = explain_history(book, node.log if detailed else None, history)
    return explained if detailed else [{**grade, "disputes": []} for grade in explained]


@router.get(
    "/v1/accounts/{account_id}/grades",
    summary="An account's grade history, each grade explained (K, band, vertical step, "
    "breakdown by energy and process), with its disputes (scoped; banks any enterprise's)",
)
async def grade_history(
    request: Request,
    account_id: AccountId,
    principal: PrincipalDep,
    node: NodeDep,
    after: After = None,
    format: Format = "json",
) -> Any:
    if not principal.can_read_grades(account_id):
        raise NotFound("no such account")
    history, stated = await read(request, node, after, ReadModels.grade_history, account_id)
    detailed = principal.can_read(account_id)
    explained = await run_in_threadpool(_explained, node, history, detailed)
    columns = (
        "leaf_hash",
        "period",
        "grade",
        "method",
        "seq",
        "recorded_at",
        "data",
        "explanation",
        "disputes",
    )
    body = {"account": account_id, "grades": explained}
    return answer(body, stated, format, "grades", columns, "grades")


@router.get(
    "/v1/accounts/{account_id}/series",
    summary="An account's figures per month, quarter or year: a person's CO2e and points, an "
    "enterprise's emissions, output and intensity, a farm's reductions and emissions",
)
async def account_series(
    request: Request,
    account_id: AccountId,
    principal: PrincipalDep,
    node: NodeDep,
    granularity: Granularity = "quarter",
    after: After = None,
    format: Format = "json",
) -> Any:
    kind = account_id.split(":", 1)[0]
    if kind not in SERIES_COLUMNS or not principal.can_read_grades(account_id):
        raise NotFound("no such account")
    series, stated = await read(
        request, node, after, breakdowns.account_series, account_id, granularity
    )
    body = {"account": account_id, "granularity": granularity, "series": series}
    return answer(body, stated, format, "series", SERIES_COLUMNS[kind], f"series-{granularity}")
