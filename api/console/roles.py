"""Each role's console page, from the same read models and rules as the API: the regulator's
dashboard, an enterprise's or farm's grade and why, a bank's desk, an exchange's desk, and
any account's decoded entries (scoped as the API scopes them)."""

import json
import re
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from api.console.charts import bar_chart
from api.console.public import city_view, log_keys
from api.console.render import language, page
from api.console.session import Session, SessionDep
from api.console.signin import home_of
from api.deps import NodeDep
from api.reads import views_of
from crypto.records import decode_entry
from ledger import queries
from ledger.domain.personal import PSEUDONYM
from ledger.domain.reference import METHODS_ACCOUNT
from ledger.errors import Invalid
from ledger.node import Node
from ledger.submissions import ACCOUNT_PATTERN
from ledger.tokens import REGULATOR
from projections import breakdowns, registries
from projections.explanations import explain_history
from projections.periods import READ_PERIOD
from projections.registries import GradedFilter
from projections.views import Views, as_of

router = APIRouter(include_in_schema=False)
PAGE = 50
OWN = {"ent": "ind", "farm": "agr"}


class WrongRole(Exception):
    """The session's principal has no such page."""


CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _text(value: str | None, limit: int = 64) -> str | None:
    """A search field as typed (trimmed, at most `limit` characters); Invalid if it holds
    control characters, which no name, code or pseudonym does."""
    if value and CONTROL.search(value):
        raise Invalid("a search field holds no control characters", "q")
    return value.strip()[:limit] or None if value else None


def _require(request: Request, session: Session | None, kinds: tuple[str, ...]) -> Response | None:
    """A redirect to sign in, or to the principal's own page, unless it is one of `kinds`."""
    lang = language(request)
    if session is None:
        return RedirectResponse(f"/console/sign-in?lang={lang}", status_code=303)
    if session.principal.kind not in kinds:
        return RedirectResponse(f"/console/{home_of(session.principal.kind)}?lang={lang}", 303)
    return None


def _regulator(node: Node, views: Views, asked: dict[str, str | None]) -> dict[str, Any]:
    with views.snapshot() as snapshot:
        city = city_view(snapshot, asked["period"])
        period = city["period"]
        graded = "-" not in period or "-Q" in period
        where = GradedFilter(
            asked["district"],
            asked["industry"],
            period if graded else None,
            asked["grade"] if graded else None,
            asked["q"],
        )
        firms = registries.graded_registry(snapshot, "enterprises", where, asked["cursor"], PAGE)
        by_industry = breakdowns.industrial_totals(snapshot, period, "industry")
        return {
            **city,
            "personal": breakdowns.personal_totals(snapshot, period, []),
            "by_industry": by_industry,
            "industry_chart": bar_chart(
                [(r["industry"], r["co2e_g"], r["co2e_t"]) for r in by_industry]
            ),
            "changes": breakdowns.grade_changes(snapshot, period) if graded else [],
            "open_disputes": registries.disputes(snapshot, None, "open", None, PAGE).items,
            "firms": firms,
            "asked": asked,
            "as_of": as_of(node, snapshot.position),  # what the figures were read at
        }


@router.get("/console/regulator", response_class=HTMLResponse)
async def regulator(
    request: Request,
    session: SessionDep,
    period: str | None = None,
    district: str | None = None,
    industry: str | None = None,
    grade: str | None = None,
    q: str | None = None,
    cursor: str | None = None,
    *,
    node: NodeDep,
) -> Response:
    refused = _require(request, session, (REGULATOR,))
    if refused is not None:
        return refused
    asked = {
        "period": period if period and READ_PERIOD.fullmatch(period) else None,
        "district": _text(district),
        "industry": _text(industry, 8),
        "grade": _text(grade, 16),
        "q": _text(q),
        "cursor": _text(cursor, 200),
    }
    context = await run_in_threadpool(_regulator, node, views_of(request), asked)
    return page(request, "regulator.html", session=session, session_page="regulator", **context)


def _firm(node: Node, views: Views, account: str, asked: str | None) -> dict[str, Any]:
    with views.snapshot() as snapshot:
        stated = as_of(node, snapshot.position)
        history = snapshot.grade_history(account)
        series = breakdowns.account_series(snapshot, account, "quarter")
        period = breakdowns.period_or_default(snapshot, asked)
        registered = (
            snapshot.enterprise(account) if account.startswith("ind:") else snapshot.farm(account)
        )
    book = node.ledger.system.now()[METHODS_ACCOUNT]
    explained = explain_history(book, node.log, history)
    latest = explained[-1] if explained else None
    figure = "co2e_g" if account.startswith("ind:") else "reduction_g"
    shown = figure[:-2] + "_t"
    return {
        "account": account,
        "registered": registered,
        "latest": latest,
        "history": list(reversed(explained)),
        "chart": bar_chart([(row["period"], row[figure], row[shown]) for row in series]),
        "series": series,
        "period": period,
        "as_of": stated,
    }


@router.get("/console/firm", response_class=HTMLResponse)
async def firm(
    request: Request, session: SessionDep, node: NodeDep, period: str | None = None
) -> Response:
    refused = _require(request, session, tuple(OWN))
    if refused is not None or session is None:
        return refused or RedirectResponse("/console/sign-in", 303)
    account = f"{OWN[session.principal.kind]}:{session.principal.code}"
    context = await run_in_threadpool(_firm, node, views_of(request), account, period)
    return page(request, "firm.html", session=session, session_page="firm", **context)


def _pseudonym(asked: str | None) -> str | None:
    """A person's pseudonym as asked, or "" for anything else (a national id typed in, say:
    never looked up, shown back or kept); None if nothing was asked."""
    if not asked:
        return None
    return asked if PSEUDONYM.fullmatch(asked) else ""


def _bank(node: Node, views: Views, bank: str, asked: dict[str, str | None]) -> dict[str, Any]:
    with views.snapshot() as snapshot:
        period = breakdowns.period_or_default(snapshot, asked["period"])
        person = None
        if asked["pid"] is not None:  # "" (not a pseudonym) is never looked up
            found = snapshot.person(asked["pid"]) if asked["pid"] else None
            held = found is not None and bank in found["banks"]
            person = {**found, "banks": [bank]} if found and held else {"missing": True}
        return {
            "bank": bank,
            "period": period,
            "accounts": registries.bank_accounts(snapshot, bank, asked["cursor"], PAGE),
            "flows": breakdowns.personal_totals(snapshot, period, [bank])["banks"].get(bank),
            "person": person,
            "pid": asked["pid"] or "",
            "lending": registries.graded_registry(
                snapshot, "enterprises", GradedFilter(period=period), None, PAGE
            ),
            "as_of": as_of(node, snapshot.position),
        }


@router.get("/console/bank", response_class=HTMLResponse)
async def bank(
    request: Request,
    session: SessionDep,
    period: str | None = None,
    pid: str | None = None,
    cursor: str | None = None,
    *,
    node: NodeDep,
) -> Response:
    refused = _require(request, session, ("bank",))
    if refused is not None or session is None:
        return refused or RedirectResponse("/console/sign-in", 303)
    asked = {
        "period": period if period and READ_PERIOD.fullmatch(period) else None,
        "pid": _pseudonym(pid),
        "cursor": _text(cursor, 200),
    }
    bank_code = session.principal.code
    context = await run_in_threadpool(_bank, node, views_of(request), bank_code, asked)
    kept = {name: value for name, value in asked.items() if value}  # never what was not a pid
    return page(request, "bank.html", query=kept, session=session, session_page="bank", **context)


def _exchange(node: Node, views: Views, exchange: str) -> dict[str, Any]:
    with views.snapshot() as snapshot:
        retired = registries.retirements(snapshot, exchange, None, PAGE)
        stated = as_of(node, snapshot.position)
    return {
        "retired": retired,
        "log": {**log_keys(node, node.reader.size()), "origin": node.origin},
        "as_of": stated,
    }


@router.get("/console/exchange", response_class=HTMLResponse)
async def exchange(request: Request, session: SessionDep, node: NodeDep) -> Response:
    refused = _require(request, session, ("exchange",))
    if refused is not None or session is None:
        return refused or RedirectResponse("/console/sign-in", 303)
    keys = f"exchange.{session.principal.code}"
    context = await run_in_threadpool(_exchange, node, views_of(request), keys)
    return page(request, "exchange.html", session=session, session_page="exchange", **context)


def _account(node: Node, views: Views, account: str, detailed: bool) -> dict[str, Any] | None:
    found = queries.account_entries(node.store, node.log, account, -1, 200)
    if found is None:
        return None
    entries = []
    for item in found:
        entry = decode_entry(item.entry)
        entries.append(
            {
                "seq": item.seq,
                "index": item.index,
                "type": entry.submission.type,
                "data": json.dumps(entry.submission.data, ensure_ascii=False, sort_keys=True),
                "effect": json.dumps(entry.effect, ensure_ascii=False, sort_keys=True),
                "recorded_at": entry.recorded_at,
            }
        )
    with views.snapshot() as snapshot:
        history = snapshot.grade_history(account)
    book = node.ledger.system.now()[METHODS_ACCOUNT]
    return {
        "account": account,
        "entries": entries,
        "history": explain_history(book, node.log if detailed else None, history),
    }


@router.get("/console/accounts/{account_id}", response_class=HTMLResponse)
async def account(
    request: Request, account_id: str, session: SessionDep, node: NodeDep
) -> Response:
    refused = _require(request, session, (REGULATOR, "bank", "ent", "farm", "exchange"))
    if refused is not None or session is None:
        return refused or RedirectResponse("/console/sign-in", 303)
    principal = session.principal
    context = None
    if ACCOUNT_PATTERN.fullmatch(account_id) and principal.can_read(account_id):
        context = await run_in_threadpool(_account, node, views_of(request), account_id, True)
    if context is None:
        return page(
            request,
            "missing.html",
            status=404,
            session=session,
            session_page=home_of(principal.kind),
        )
    return page(
        request, "account.html", session=session, session_page=home_of(principal.kind), **context
    )
