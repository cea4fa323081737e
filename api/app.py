"""The FastAPI application: routes and problem handlers around one ledger node."""

import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI

from api import accounts, bundles, grading, log, submissions
from api.problems import install_problem_handlers
from api.tokens import TOKENS_FILE, TokenStore
from ledger.node import Node

Background = Callable[[threading.Event], None]


def create_app(node: Node, background: Background | None = None) -> FastAPI:
    """The API over `node`; `background` (e.g. the integrator) runs while the app is up."""

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        stop = threading.Event()
        thread = None
        if background is not None:
            thread = threading.Thread(target=background, args=(stop,), daemon=True)
            thread.start()
        try:
            yield
        finally:
            stop.set()
            if thread is not None:
                thread.join(timeout=10)

    app = FastAPI(
        title="Carbon Ledger",
        version="1",
        description="Signed, hash-chained carbon accounts with an RFC 6962 log.",
        lifespan=lifespan,
    )
    app.state.node = node
    app.state.tokens = TokenStore(node.data_dir / TOKENS_FILE)
    install_problem_handlers(app)
    app.include_router(submissions.router)
    app.include_router(log.router)
    app.include_router(accounts.router)
    app.include_router(grading.router)
    app.include_router(bundles.router)
    return app
