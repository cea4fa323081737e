"""Helpers for tests over the HTTP API: submissions, receipts, RFC 9457 problems, tokens.

The `app` and `client` fixtures are in conftest.py.
"""

import time
from typing import Any

from fastapi.testclient import TestClient
from httpx import Response

from crypto.keys import Signer
from ledger.node import Node
from tests.support import entry_of, signed


def send(
    client: TestClient,
    signer: Signer,
    account: str,
    type_: str,
    data: dict[str, Any],
    **kwargs: Any,
) -> Response:
    """POST one submission signed by `signer`; kwargs go to `signed` (id_, at)."""
    return client.post("/v1/submissions", json=signed(signer, account, type_, data, **kwargs))


def ok(response: Response) -> dict[str, Any]:
    """The body of an accepted request (200 or 201)."""
    assert response.status_code in (200, 201), response.text
    return response.json()


def effect(response: Response) -> dict[str, Any]:
    """The effect of the entry that a submission appended (201: new, not a replay)."""
    assert response.status_code == 201, response.text
    return entry_of(response.json())["effect"]


def problem(response: Response, status: int, field: str | None = None) -> dict[str, Any]:
    """The RFC 9457 problem answered with `status`, naming `field` when one is given."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["status"] == status and body["title"] and body["detail"], body
    if field is not None:
        assert body.get("field") == field, body
    return body


def refused(response: Response, status: int, field: str) -> dict[str, Any]:
    """The problem of a refused submission: `status`, and the `field` the refusal names."""
    return problem(response, status, field)


def bearer(node: Node, principal: str) -> dict[str, str]:
    """Headers with a new bearer token of `principal`, as `tokens create` makes one."""
    token = node.tokens.create(principal)[1]
    return {"Authorization": f"Bearer {token}"}


def grading_run(client: TestClient, node: Node, kind: str, period: str) -> dict[str, Any]:
    """Ask for a grading run of `kind` accounts over `period`; its accepted result."""
    wire = signed(
        node.authority_key, "sys:grading", "GradingRunRequested", {"kind": kind, "period": period}
    )
    return ok(client.post("/v1/grading/runs", json=wire))


def grade_of(receipt: dict[str, Any]) -> dict[str, Any]:
    """The grade (GradeAssigned data) in the receipt of a grading run's appended entry."""
    return entry_of(receipt)["submission"]["data"]


def reverse(client: TestClient, signer: Signer, account: str, entry: str, reason: str) -> Response:
    """Submit EntryReversed of the entry with leaf hash `entry` on `account`."""
    return send(client, signer, account, "EntryReversed", {"entry": entry, "reason": reason})


def publish_version_2(client: TestClient, node: Node, name: str) -> dict[str, Any]:
    """Version 2 of factor table `name` (the one the demo publishes), by the authority."""
    from ledger.seeds import SEED_VALID_FROM
    from tools.demo import VERSION_2

    body, source = next((body, source) for table, body, source in VERSION_2 if table == name)
    table = {"name": name, "version": 2, "valid_from": SEED_VALID_FROM}
    data = {**table, "factors": body, "source": source}
    assert node.authority_key is not None
    return ok(send(client, node.authority_key, "sys:factors", "FactorTablePublished", data))


def console_cookie(node: Node, token: str, ends: int | None = None) -> str:
    """The console session cookie a sign-in with `token` sets (ending at `ends`, Unix time)."""
    from api.console.session import SESSION_SECONDS, session_cookie, session_key
    from ledger.tokens import token_id

    ends = int(time.time()) + SESSION_SECONDS if ends is None else ends
    return session_cookie(session_key(node), token_id(token), ends)
