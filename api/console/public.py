"""The public page at `/`: the log's state, city and district totals of a period with
charts, the green list, and the in-browser check of a receipt or statement."""

import json
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from starlette.concurrency import run_in_threadpool

from api.console.charts import bar_chart
from api.console.render import page
from api.deps import NodeDep
from api.reads import views_of
from crypto.checkpoint import checkpoint_of
from crypto.cosignature import CosignatureError, cosignatures
from ledger.health import lags
from ledger.node import Node
from projections import breakdowns
from projections.views import Snapshot, Views

router = APIRouter(include_in_schema=False)


def log_state(node: Node, views: Views) -> dict[str, Any]:
    """The newest checkpoint, each witness's last cosignature of it, and the lag."""
    _, note = node.reader.checkpoint()
    checkpoint = checkpoint_of(note)
    verifiers = [witness.verifier for witness in node.settings.witnesses]
    try:
        stamped = {c.witness.name: c.timestamp for c in cosignatures(note, verifiers)}
    except CosignatureError:
        stamped = {}
    witnesses = [
        {
            "name": witness.verifier.name,
            "url": witness.url,
            "cosigned": datetime.fromtimestamp(stamped[witness.verifier.name], UTC).isoformat()
            if witness.verifier.name in stamped
            else None,
        }
        for witness in node.settings.witnesses
    ]
    waiting = lags(node, views.position(), datetime.now(UTC)).integration_entries
    return {
        "origin": checkpoint.origin,
        "size": checkpoint.size,
        "root": checkpoint.root_hash.hex(),
        "witnesses": witnesses,
        "waiting": waiting,
        **log_keys(node, checkpoint.size),
    }


def log_keys(node: Node, size: int) -> dict[str, str]:
    """What a page's verifier trusts for checkpoints up to `size`: the key of that size, and
    the key history (`[[from index, verifier key], ...]`, JSON) if the key was rotated."""
    history = node.ledger_keys.history(size)
    pairs = [[index, key.text] for index, key in history.keys]
    return {"log_key": history.at(size).text, "log_keys": json.dumps(pairs)}


def city_view(snapshot: Snapshot, asked: str | None) -> dict[str, Any]:
    """The city's figures of a period, per district, as the public page shows them."""
    period = breakdowns.period_or_default(snapshot, asked)
    totals = breakdowns.city_totals(snapshot, period, None)
    by_district = breakdowns.breakdown(snapshot, period, "district")
    industrial = [(r["district"], r["co2e_g"], r["co2e_t"]) for r in by_district["industrial"]]
    agri = [
        (r["district"], r["reduction_g"], r["reduction_t"]) for r in by_district["agricultural"]
    ]
    graded = "-" not in period or "-Q" in period
    return {
        "period": period,
        "totals": totals,
        "by_district": by_district,
        "industrial_chart": bar_chart(industrial),
        "agri_chart": bar_chart(agri),
        "green": snapshot.green_list_changes(period) if graded else None,
    }


def _public(node: Node, views: Views, asked: str | None) -> dict[str, Any]:
    with views.snapshot() as snapshot:
        city = city_view(snapshot, asked)
    return {"log": log_state(node, views), **city}


@router.get("/", response_class=HTMLResponse)
async def public(request: Request, node: NodeDep, period: str | None = None) -> HTMLResponse:
    context = await run_in_threadpool(_public, node, views_of(request), period)
    return page(request, "public.html", **context)
