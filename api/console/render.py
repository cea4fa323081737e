"""Pages: Jinja2 templates (every value escaped), the words of the page's language, and the
headers every page carries (a strict Content-Security-Policy: scripts, styles and
connections from this origin only, nothing inline, no framing)."""

from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from api.console.i18n import LANGUAGES, words

TEMPLATES = Jinja2Templates(directory=Path(__file__).resolve().parent.parent / "templates")
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",  # forms then send their Origin (no-referrer sends "null")
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}


def language(request: Request) -> str:
    """`?lang=` if it names one, else Chinese."""
    asked = request.query_params.get("lang", "zh")
    return asked if asked in LANGUAGES else "zh"


def page(
    request: Request,
    template: str,
    status: int = 200,
    query: dict[str, str] | None = None,
    **context: Any,
) -> HTMLResponse:
    """The page; its link to the other language keeps `query` (default: the request's)."""
    lang = language(request)
    other = "en" if lang == "zh" else "zh"
    kept = dict(request.query_params) if query is None else query
    switch = f"{request.url.path}?{urlencode(kept | {'lang': other})}"
    response = TEMPLATES.TemplateResponse(
        request,
        template,
        {"w": words(lang), "lang": lang, "switch_language": switch, **context},
        status_code=status,
    )
    response.headers.update(HEADERS)
    return response
