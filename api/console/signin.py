"""Signing in and out of the console, and `/console`, which sends each role to its page."""

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from api.auth import token_store
from api.console import session as sessions
from api.console.render import language, page
from api.console.session import SessionDep
from api.deps import NodeDep
from ledger.tokens import REGULATOR, TokenStore, token_id

router = APIRouter(include_in_schema=False)
PAGES = {
    REGULATOR: "regulator",
    "ent": "firm",
    "farm": "firm",
    "bank": "bank",
    "exchange": "exchange",
}


def home_of(kind: str) -> str:
    """The console page of a principal's kind."""
    return PAGES.get(kind, "firm")


@router.get("/console/sign-in", response_class=HTMLResponse)
async def sign_in_form(request: Request, session: SessionDep) -> HTMLResponse:
    return page(request, "signin.html", session=session, failed=False)


@router.post("/console/sign-in", response_class=HTMLResponse)
async def sign_in(
    request: Request, store: Annotated[TokenStore, Depends(token_store)], node: NodeDep
) -> Response:
    sessions.check_same_origin(request, required=True)
    token = (await sessions.form_fields(request)).get("token", "")[:200]
    principal = store.principal_for(token.strip())
    if principal is None:
        return page(request, "signin.html", status=401, session=None, failed=True)
    response = RedirectResponse(f"/console?lang={language(request)}", status_code=303)
    # a production ledger is served over TLS, maybe by a proxy on another host
    secure = request.url.scheme == "https" or node.settings.production
    sessions.start(response, sessions.session_key(node), token_id(token.strip()), secure)
    return response


@router.post("/console/sign-out")
async def sign_out(request: Request, session: SessionDep) -> Response:
    sessions.check_same_origin(request)
    if session is not None:
        sessions.check_csrf(session, (await sessions.form_fields(request)).get("csrf"))
    response = RedirectResponse(f"/?lang={language(request)}", status_code=303)
    sessions.end(response)
    return response


@router.get("/console")
async def console(request: Request, session: SessionDep) -> Response:
    lang = language(request)
    if session is None:
        return RedirectResponse(f"/console/sign-in?lang={lang}", status_code=303)
    return RedirectResponse(
        f"/console/{home_of(session.principal.kind)}?lang={lang}", status_code=303
    )
