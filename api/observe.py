"""What operators watch: a request id and one access line per request, latency per route,
GET /metrics (Prometheus text, summed over the node's processes) and GET /readyz."""

import contextvars
import logging
import os
import re
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.deps import NodeDep
from ledger.health import Lags, lags, unready
from ledger.log.ledger_keys import KeyNotHeld
from ledger.metrics import REQUEST_SECONDS
from ledger.node import Node
from projections.views import Views

REQUEST_ID = contextvars.ContextVar[str | None]("request_id", default=None)
GOOD_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")  # a caller's X-Request-Id, if it looks like one
access = logging.getLogger("carbon_ledger.access")
router = APIRouter(tags=["operations"])


class RequestIdFilter(logging.Filter):
    """Adds the request id of the request being served to every record logged meanwhile."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id") and (request_id := REQUEST_ID.get()) is not None:
            record.request_id = request_id
        return True


def install_request_ids() -> None:
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, RequestIdFilter) for f in handler.filters):
            handler.addFilter(RequestIdFilter())


class Observed:
    """ASGI middleware: a request id (the caller's X-Request-Id if well formed, else new),
    echoed in the response; the request's latency by route template; one access line."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = dict(scope["headers"]).get(b"x-request-id", b"").decode("latin-1")
        request_id = given if GOOD_ID.fullmatch(given) else uuid.uuid4().hex
        token = REQUEST_ID.set(request_id)
        started = time.perf_counter()
        status = 500

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [
                    *message.get("headers", []),
                    (b"x-request-id", request_id.encode()),
                ]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            seconds = time.perf_counter() - started
            route = getattr(scope.get("route"), "path", "unmatched")
            REQUEST_SECONDS.labels(route, scope["method"], f"{status // 100}xx").observe(seconds)
            access.info(
                "%s %s %d",
                scope["method"],
                route,
                status,
                extra={
                    "method": scope["method"],
                    "route": route,
                    "status": status,
                    "ms": round(seconds * 1000, 1),
                },
            )
            REQUEST_ID.reset(token)


class LagCollector(Collector):
    """The lags as gauges, asked of the database at each scrape."""

    def __init__(self, measured: Lags, checkpoint_age: float | None) -> None:
        self.measured = measured
        self.checkpoint_age = checkpoint_age

    def collect(self) -> Iterator[GaugeMetricFamily]:
        m = self.measured
        for name, text, value in (
            ("tree_size", "Entries in the log (its latest checkpoint's size)", m.tree_size),
            ("appended_entries", "Entries appended (the newest entry's position)", m.appended),
            (
                "integration_lag_entries",
                "Entries appended but not yet in the log",
                m.integration_entries,
            ),
            (
                "integration_lag_seconds",
                "Age of the oldest entry not yet in the log",
                m.integration_seconds,
            ),
            ("projection_lag_entries", "Entries not yet in the read models", m.projection_entries),
            (
                "projection_lag_seconds",
                "Age of the oldest entry not yet in the read models",
                m.projection_seconds,
            ),
        ):
            yield GaugeMetricFamily(f"carbon_ledger_{name}", text, value=value)
        if self.checkpoint_age is not None:
            yield GaugeMetricFamily(
                "carbon_ledger_checkpoint_age_seconds",
                "Seconds since this node's integrator last signed a checkpoint",
                value=self.checkpoint_age,
            )


def _registry() -> CollectorRegistry:
    """The counted metrics: every process's (multiprocess mode under `serve`), or this one's."""
    if "PROMETHEUS_MULTIPROC_DIR" not in os.environ:
        return REGISTRY
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    return registry


def _checkpoint_age(registry: CollectorRegistry) -> float | None:
    stamps = [
        sample.value
        for family in registry.collect()
        if family.name == "carbon_ledger_checkpoint_timestamp_seconds"
        for sample in family.samples
        if sample.value > 0
    ]
    return time.time() - max(stamps) if stamps else None


def _measure(node: Node, views: Views) -> Lags:
    return lags(node, views.position(), datetime.now(UTC))


def _key_missing(node: Node, size: int) -> list[str]:
    """Why this node cannot sign for the log now: it lacks the key a rotation made current."""
    try:
        node.ledger_keys.signer(size)
    except KeyNotHeld as missing:
        return [missing.detail]
    return []


@router.get("/metrics", include_in_schema=False)
async def metrics(request: Request, node: NodeDep) -> Response:
    counted = _registry()
    measured = await run_in_threadpool(_measure, node, request.app.state.views)
    scraped = CollectorRegistry()
    scraped.register(LagCollector(measured, _checkpoint_age(counted)))
    body = generate_latest(counted) + generate_latest(scraped)
    return Response(body, media_type=CONTENT_TYPE_LATEST)


@router.get("/readyz", summary="Readiness: the database answers and the helpers keep up")
async def readyz(request: Request, node: NodeDep) -> JSONResponse:
    limits = node.settings.limits
    try:
        measured = await run_in_threadpool(_measure, node, request.app.state.views)
    except Exception as error:  # the database is out of reach: not ready, and say why
        return JSONResponse(
            {"ready": False, "reasons": [f"the database does not answer: {type(error).__name__}"]},
            status_code=503,
            headers={"Retry-After": "5"},
        )
    reasons = unready(measured, limits)
    reasons += await run_in_threadpool(_key_missing, node, measured.tree_size)
    body: dict[str, Any] = {
        "ready": not reasons,
        "reasons": reasons,
        "tree_size": measured.tree_size,
        "integration_lag_entries": measured.integration_entries,
        "projection_lag_entries": measured.projection_entries,
    }
    headers = {"Retry-After": "5"} if reasons else {}
    return JSONResponse(body, status_code=503 if reasons else 200, headers=headers)
