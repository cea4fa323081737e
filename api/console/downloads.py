"""The console's downloads, for the signed-in principal: CSV files of what its page lists
(every page of it) and a firm's evidence bundle, scoped as the API scopes them."""

import json
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from api.console.render import HEADERS
from api.console.roles import OWN
from api.console.session import Session, SessionDep
from api.deps import NodeDep
from api.reads import views_of
from ledger.errors import NotFound
from ledger.tokens import REGULATOR
from projections import breakdowns, registries
from projections.evidence import evidence_bundle
from projections.exports import csv_bytes
from projections.periods import READ_PERIOD
from projections.registries import GradedFilter, every_item
from projections.views import Snapshot, Views

router = APIRouter(include_in_schema=False)
EVERY = 1000


def _rows(
    snapshot: Snapshot, name: str, session: Session, period: str
) -> tuple[list[dict[str, Any]], tuple[str, ...]]:
    """The rows and columns of download `name` for the session's principal; NotFound if the
    principal has no such download."""
    kind, code = session.principal.kind, session.principal.code
    graded = "-" not in period or "-Q" in period
    if name == "enterprises.csv" and kind in (REGULATOR, "bank"):
        where = GradedFilter(period=period if graded else None)
        rows = every_item(
            lambda c: registries.graded_registry(snapshot, "enterprises", where, c, EVERY)
        )
        return rows, ("account", "name", "industry", "district", "grade")
    if name.startswith("breakdown-") and kind == REGULATOR:
        by = name.removeprefix("breakdown-").removesuffix(".csv")
        if by not in ("district", "industry"):
            raise NotFound("no such download")
        rows = breakdowns.industrial_totals(snapshot, period, by)
        return rows, (
            by,
            "enterprises",
            *breakdowns.INDUSTRIAL_SUMS,
            "co2e_t",
            "intensity_g_per_yuan",
        )
    if name == "disputes.csv" and kind in (REGULATOR, *OWN):
        account = None if kind == REGULATOR else f"{OWN[kind]}:{code}"
        rows = every_item(lambda c: registries.disputes(snapshot, account, None, c, EVERY))
        return rows, registries.DISPUTE_COLUMNS
    if name == "accounts.csv" and kind == "bank":
        rows = every_item(lambda c: registries.bank_accounts(snapshot, code, c, EVERY))
        return rows, ("account", "pid", *registries.PERSONAL)
    raise NotFound("no such download")


def _csv(views: Views, name: str, session: Session, asked: str | None) -> bytes:
    with views.snapshot() as snapshot:
        period = breakdowns.period_or_default(snapshot, asked)
        rows, columns = _rows(snapshot, name, session, period)
    return csv_bytes(rows, columns)


@router.get("/console/download/evidence.json")
async def evidence(
    request: Request, session: SessionDep, node: NodeDep, period: str = ""
) -> Response:
    if session is None or session.principal.kind not in OWN:
        raise NotFound("no such download")
    if not READ_PERIOD.fullmatch(period) or ("-" in period and "-Q" not in period):
        raise NotFound("no grade for that period")
    account = f"{OWN[session.principal.kind]}:{session.principal.code}"
    bundle = await run_in_threadpool(
        evidence_bundle, node, views_of(request), account, period, session.principal.can_read
    )
    headers = HEADERS | {"Content-Disposition": f'attachment; filename="evidence-{period}.json"'}
    return Response(json.dumps(bundle).encode(), media_type="application/json", headers=headers)


@router.get("/console/download/{name}")
async def download(
    request: Request, name: str, session: SessionDep, period: str | None = None
) -> Response:
    if session is None or len(name) > 40:
        raise NotFound("no such download")
    body = await run_in_threadpool(_csv, views_of(request), name, session, period)
    headers = HEADERS | {"Content-Disposition": f'attachment; filename="{name}"'}
    return Response(body, media_type="text/csv; charset=utf-8", headers=headers)
