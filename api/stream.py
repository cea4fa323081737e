"""Change feeds as server-sent events (text/event-stream): each feed item, as the feeds of
api/feeds.py scope them, is one event `id: <position>`, `event: <kind>`, `data: <the item as
compact JSON>`. A stream resumes after `Last-Event-ID` (what an EventSource sends when it
reconnects), else after `?cursor=`; it polls the read models every POLL_SECONDS, says
`: keepalive` after KEEPALIVE_SECONDS of silence, and ends when the client goes, the app
stops (or is signalled to: `end_streams_on_signals`), or the bearer token is revoked
(checked every TOKEN_CHECK_SECONDS)."""

import asyncio
import functools
import signal
import time
from collections.abc import AsyncIterator, Callable
from types import FrameType
from typing import Annotated, Any

import msgspec
from fastapi import APIRouter, Depends, FastAPI, Header, Request
from fastapi.responses import StreamingResponse
from fastapi.security import HTTPAuthorizationCredentials
from starlette.concurrency import run_in_threadpool

from api.accounts import AccountId
from api.auth import PrincipalDep, bearer, token_store
from api.feeds import FeedCursor, owner_of
from api.reads import views_of
from ledger.errors import NotFound
from projections.feed import feed

POLL_SECONDS = 1.0
KEEPALIVE_SECONDS = 15
TOKEN_CHECK_SECONDS = 15
BATCH_ITEMS = 100  # per read
KEEPALIVE = b": keepalive\n\n"
router = APIRouter(tags=["feeds"])
LastEventId = Annotated[
    str | None,
    Header(
        alias="Last-Event-ID",
        pattern="^[0-9]{1,15}$",
        description="resume after this position (an EventSource sends it on reconnecting)",
    ),
]
EVENT_STREAM: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "One event per feed item, `: keepalive` comments between",
        "content": {
            "text/event-stream": {
                "schema": {"type": "string"},
                "example": 'id: 1587\nevent: grade_assigned\ndata: {"position":1587,...}\n\n',
            }
        },
    }
}


def end_streams_on_signals(app: FastAPI) -> None:
    """On SIGTERM or SIGINT, end the app's open event streams, then run the handler in place
    (the server's): a server drains its requests before it stops the app, and would cut a
    stream only once the drain time is up. Call it from the main thread once the server's
    handlers are in place (uvicorn: from the app factory)."""
    app.state.signalled = False
    for signum in (signal.SIGINT, signal.SIGTERM):
        previous = signal.getsignal(signum)
        if callable(previous):
            signal.signal(signum, functools.partial(_signalled, app, previous))


Handler = Callable[[int, FrameType | None], Any]


def _signalled(app: FastAPI, previous: Handler, signum: int, frame: FrameType | None) -> None:
    app.state.signalled = True  # a flag, not an Event: a signal handler takes no lock
    previous(signum, frame)


def _ending(app: Any) -> bool:
    """Whether the app stops: its lifespan has ended, or a stop signal came."""
    return bool(app.state.stopping.is_set() or getattr(app.state, "signalled", False))


def _token(credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]) -> str:
    """The bearer token (PrincipalDep has accepted it), to check it is still live later."""
    return "" if credentials is None else credentials.credentials


TokenDep = Annotated[str, Depends(_token)]


def event(item: dict[str, Any]) -> bytes:
    """One feed item as a server-sent event."""
    head = f"id: {item['position']}\nevent: {item['kind']}\ndata: ".encode()
    return head + msgspec.json.encode(item) + b"\n\n"


async def _events(
    request: Request, token: str, owner: str | None, account: str | None, cursor: int
) -> AsyncIterator[bytes]:
    views, tokens = views_of(request), await token_store(request)
    checked = written = time.monotonic()
    while not _ending(request.app):
        page = await run_in_threadpool(feed, views, owner, account, cursor, BATCH_ITEMS)
        for item in page.items:
            yield event(item)
            cursor, written = item["position"], time.monotonic()
        now = time.monotonic()
        if now - checked >= TOKEN_CHECK_SECONDS:
            if await run_in_threadpool(tokens.principal_for, token) is None:
                return  # revoked
            checked = now
        if now - written >= KEEPALIVE_SECONDS:
            yield KEEPALIVE
            written = now
        if page.next_cursor is None:
            await asyncio.sleep(POLL_SECONDS)


def _stream(
    request: Request,
    token: str,
    owner: str | None,
    account: str | None,
    cursor: str,
    last_event_id: str | None,
) -> StreamingResponse:
    after = int(last_event_id if last_event_id is not None else cursor)
    return StreamingResponse(
        _events(request, token, owner, account, after),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


@router.get(
    "/v1/feed/stream",
    response_class=StreamingResponse,
    responses=EVENT_STREAM,
    summary="The caller's change feed as server-sent events (the regulator: all)",
)
async def principal_stream(
    request: Request,
    principal: PrincipalDep,
    token: TokenDep,
    cursor: FeedCursor = "0",
    last_event_id: LastEventId = None,
) -> StreamingResponse:
    owner = owner_of(principal)
    return _stream(request, token, owner, None, cursor, last_event_id)


@router.get(
    "/v1/accounts/{account_id}/feed/stream",
    response_class=StreamingResponse,
    responses=EVENT_STREAM,
    summary="One account's change feed as server-sent events (scoped)",
)
async def account_stream(
    request: Request,
    account_id: AccountId,
    principal: PrincipalDep,
    token: TokenDep,
    cursor: FeedCursor = "0",
    last_event_id: LastEventId = None,
) -> StreamingResponse:
    if not principal.can_read(account_id):
        raise NotFound("no such account")
    return _stream(request, token, None, account_id, cursor, last_event_id)
