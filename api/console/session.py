"""Console sign-in: a bearer token exchanged for an HttpOnly, SameSite=Strict cookie that
names the token and when the session ends, signed by the ledger (not the token itself: a
copied cookie is no API token, and it ends within SESSION_SECONDS); the token is checked
against the store on every request, so revoking it ends the session; a CSRF token bound to
the session on every form, and same-origin checks on every POST."""

import hashlib
import hmac
import time
from typing import Annotated
from urllib.parse import parse_qs, urlsplit

from fastapi import Depends, Request
from fastapi.responses import Response

from api.auth import Principal, token_store
from api.deps import NodeDep
from ledger.errors import Forbidden, Malformed
from ledger.node import Node
from ledger.tokens import TokenStore

COOKIE = "cl_session"
SESSION_SECONDS = 8 * 3600
CSRF_CONTEXT = b"carbon-ledger/console-csrf/v1"
SESSION_CONTEXT = b"carbon-ledger/console-session/v1"
MAX_FORM_BYTES = 4096
MAX_COOKIE = 120


def csrf_for(cookie: str) -> str:
    """The CSRF token of a session: only a page that could read the HttpOnly cookie's value
    (none can) or was served it by this server (every console form) knows it."""
    return hmac.new(cookie.encode(), CSRF_CONTEXT, hashlib.sha256).hexdigest()


def session_key(node: Node) -> bytes:
    """What signs session cookies: derived from the ledger key every node holds, so a
    session made on one node is good on all."""
    return hmac.new(node.ledger_key.seed, SESSION_CONTEXT, hashlib.sha256).digest()


def session_cookie(key: bytes, token_id: str, ends: int) -> str:
    """`TOKEN_ID.ENDS.MAC`: the token's id, the Unix time the session ends, their HMAC."""
    body = f"{token_id}.{ends}"
    return f"{body}.{hmac.new(key, body.encode(), hashlib.sha256).hexdigest()}"


class Session:
    """A signed-in principal, the session's cookie and its CSRF token."""

    def __init__(self, principal: Principal, cookie: str) -> None:
        self.principal = principal
        self.cookie = cookie
        self.csrf = csrf_for(cookie)


def session_of(
    request: Request, store: Annotated[TokenStore, Depends(token_store)], node: NodeDep
) -> Session | None:
    """The request's session if its cookie is one this ledger signed, has not ended, and
    names a token the store still accepts."""
    cookie = request.cookies.get(COOKIE)
    if not cookie or len(cookie) > MAX_COOKIE:
        return None
    token_id, _, rest = cookie.partition(".")
    ends, _, _ = rest.partition(".")
    if not ends.isascii() or not ends.isdigit() or int(ends) <= time.time():
        return None
    if not hmac.compare_digest(session_cookie(session_key(node), token_id, int(ends)), cookie):
        return None
    principal = store.principal_of_id(token_id)
    return None if principal is None else Session(Principal.parse(principal), cookie)


SessionDep = Annotated[Session | None, Depends(session_of)]


def start(response: Response, key: bytes, token_id: str, secure: bool) -> None:
    """Set the session cookie of the token with `token_id`, ending in SESSION_SECONDS."""
    response.set_cookie(
        COOKIE,
        session_cookie(key, token_id, int(time.time()) + SESSION_SECONDS),
        max_age=SESSION_SECONDS,
        path="/",
        httponly=True,
        samesite="strict",
        secure=secure,
    )


def end(response: Response) -> None:
    response.delete_cookie(COOKIE, path="/")


def check_same_origin(request: Request, required: bool = False) -> None:
    """Refuse a POST another site made: its Origin (or Referer) must be this host; if
    `required` (signing in, which no CSRF token guards yet), it must be there too."""
    claimed = request.headers.get("origin") or request.headers.get("referer")
    if claimed is None:
        if required:
            raise Forbidden("a form that says neither its Origin nor its Referer", "origin")
        return  # not a browser, or one that sends neither: the CSRF token still guards
    host = request.headers.get("host", "")
    try:
        netloc = urlsplit(claimed).netloc
    except ValueError:
        netloc = None  # not a URL at all
    if netloc != host:
        raise Forbidden("a form from another site", "origin")


async def form_fields(request: Request) -> dict[str, str]:
    """A small urlencoded form's fields (the first value of each); Malformed otherwise."""
    if request.headers.get("content-type", "").split(";")[0] != "application/x-www-form-urlencoded":
        raise Malformed("send the form as application/x-www-form-urlencoded", "content-type")
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        raise Malformed(f"a console form is at most {MAX_FORM_BYTES} bytes")
    try:
        fields = parse_qs(body.decode(), max_num_fields=20, strict_parsing=False)
    except (UnicodeDecodeError, ValueError):
        raise Malformed("the form is not UTF-8 urlencoded fields") from None
    return {name: values[0] for name, values in fields.items()}


def check_csrf(session: Session, sent: str | None) -> None:
    if sent is None or not hmac.compare_digest(sent, session.csrf):
        raise Forbidden("the form's CSRF token does not match the session", "csrf")
