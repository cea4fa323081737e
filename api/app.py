"""The FastAPI application: routes and problem handlers around one ledger node."""

import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from api import (
    accounts,
    bundles,
    documents,
    feeds,
    grading,
    log,
    observe,
    readmodels,
    registries,
    stream,
    submissions,
    tiles,
    tokens,
    webhooks,
)
from api.console import downloads, public, roles, signin
from api.openapi import NOT_YET, problem_openapi
from api.problems import install_problem_handlers
from ledger.node import Node
from projections.views import Views

Background = Callable[[threading.Event], None]
STATIC = Path(__file__).resolve().parent / "static"  # the console's CSS and scripts


def create_app(node: Node, *background: Background) -> FastAPI:
    """The API over `node`; each `background` task (integrator, projections) runs while it is up."""

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        observe.install_request_ids()
        stop = threading.Event()
        app.state.stopping = stop  # open event streams end
        threads = [threading.Thread(target=task, args=(stop,), daemon=True) for task in background]
        for thread in threads:
            thread.start()
        try:
            yield
        finally:
            stop.set()
            for thread in threads:
                thread.join(timeout=10)
            app.state.views.close(node)

    app = FastAPI(
        title="Carbon Ledger",
        version="1",
        description="Signed, hash-chained carbon accounts with an RFC 6962 log.",
        lifespan=lifespan,
        docs_url=None,  # FastAPI's pages run inline and CDN scripts: no strict CSP possible
        redoc_url=None,
    )
    app.state.node = node
    app.state.tokens = node.tokens
    app.state.views = Views.of(node)
    app.state.stopping = threading.Event()  # the lifespan's, once it starts
    install_problem_handlers(app)
    app.add_middleware(observe.Observed)
    app.include_router(observe.router)
    app.include_router(submissions.router)
    app.include_router(log.router)
    app.include_router(tiles.router)
    app.include_router(accounts.router)
    app.include_router(grading.router)
    app.include_router(bundles.router)
    app.include_router(tokens.router)
    app.include_router(documents.router)
    for reads in (readmodels, registries, feeds):
        app.include_router(reads.router, responses={503: NOT_YET})
    app.include_router(stream.router)
    app.include_router(webhooks.router)
    for pages in (public, signin, roles, downloads):
        app.include_router(pages.router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    # FastAPI's documented way to customise the schema is to replace this method
    app.openapi = lambda: problem_openapi(app)  # type: ignore[method-assign]
    return app
