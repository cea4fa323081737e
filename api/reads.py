"""Answers from the read models: read-your-writes (`?after=INDEX`), one snapshot per answer,
`as_of` (the log size and checkpoint it reflects), and JSON or CSV.

CSV (`?format=csv`) is UTF-8 with a byte order mark, for spreadsheets; its header row holds
the column names each route documents, nested values are JSON, and `as_of` travels in the
`Carbon-Ledger-Log-Size`, `Carbon-Ledger-Checkpoint-Size` and `Carbon-Ledger-Ahead-Of-Log`
headers."""

from collections.abc import Callable, Sequence
from typing import Annotated, Any, Literal, TypeVar, cast

from fastapi import Query, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from api.problems import NotYet
from ledger.errors import Conflict
from ledger.node import Node
from projections.exports import csv_bytes
from projections.views import Views, as_of

T = TypeVar("T")
Format = Annotated[
    Literal["json", "csv"], Query(description="json, or csv (UTF-8 with BOM) for spreadsheets")
]
Cursor = Annotated[
    str | None, Query(pattern="^[!-~]{1,200}$", description="`next_cursor` of the page before")
]
Limit = Annotated[int, Query(ge=1, le=1000, description="items per page")]


def views_of(request: Request) -> Views:
    return cast(Views, request.app.state.views)


def _wait(node: Node, views: Views, index: int | None) -> None:
    """Block until the views include the entry at log `index` (integrated first)."""
    if index is None:
        return
    size = node.reader.size()
    if index >= size:  # a receipt's index is in the log by the time anyone has it
        raise Conflict(f"log index {index} is beyond the log (size {size})", "after")
    leaf = node.log.leaves(index, index + 1)[0]
    if not views.wait_for(leaf.notification_id, node.settings.limits.wait_seconds):
        raise NotYet(f"the read models do not include log index {index} yet; retry", "after")


def _snapshot_read(
    node: Node, views: Views, read: Callable[..., T], args: tuple[Any, ...]
) -> tuple[T, dict[str, Any]]:
    with views.snapshot() as snapshot:
        result = read(snapshot, *args)
    return result, as_of(node, snapshot.position)


async def read(
    request: Request, node: Node, after: str | None, read: Callable[..., T], *args: Any
) -> tuple[T, dict[str, Any]]:
    """`read(snapshot, *args)` once the views include log index `after`, and its as_of."""
    views = views_of(request)
    await run_in_threadpool(_wait, node, views, None if after is None else int(after))
    return await run_in_threadpool(_snapshot_read, node, views, read, args)


def csv_response(
    rows: Sequence[dict[str, Any]], columns: Sequence[str], name: str, stated: dict[str, Any]
) -> Response:
    """Rows as a CSV download named `name`.csv, in `columns` order (missing cells empty)."""
    checkpoint = stated["checkpoint"]
    headers = {
        "Content-Disposition": f'attachment; filename="{name}.csv"',
        "Carbon-Ledger-Log-Size": str(stated["log_size"]),
        "Carbon-Ledger-Checkpoint-Size": str(checkpoint["size"]) if checkpoint else "",
        "Carbon-Ledger-Ahead-Of-Log": "true" if stated["ahead_of_log"] else "false",
    }
    return Response(csv_bytes(rows, columns), media_type="text/csv; charset=utf-8", headers=headers)


def answer(
    body: dict[str, Any],
    stated: dict[str, Any],
    format_: str,
    rows_key: str,
    columns: Sequence[str],
    name: str,
) -> dict[str, Any] | Response:
    """`body` with `as_of` as JSON, or its `rows_key` list as CSV."""
    if format_ == "csv":
        return csv_response(body[rows_key], columns, name, stated)
    return {**body, "as_of": stated}
