"""What operators watch: request ids, /metrics (summed over uvicorn workers and helpers),
/readyz judged on the database's answers, and JSON logs that never hold a token or a key."""

import dataclasses
import json
import os
import signal
import time
from functools import partial

import httpx
import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from crypto.records import signed_submission
from ledger.settings import Limits
from projections.runner import run_projections
from tests.http_support import bearer
from tests.serving import alive, descendants, free_port, healthy, start_serve, until
from tests.support import integrate_all, pid, register


def _sample(text: str, name: str, **labels: str) -> float:
    """The value of metric `name` with `labels` (a subset) in Prometheus text `text`."""
    for line in text.splitlines():
        named = line.startswith(name) and line[len(name) : len(name) + 1] in ("{", " ")
        if named and all(f'{k}="{v}"' in line for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"no {name} {labels} in /metrics")


@pytest.fixture
def app(node):
    return create_app(node, node.run_integrator, partial(run_projections, node))


def test_request_ids_metrics_and_readiness(client, node):
    bank = register(node, "bank.abc", ["bank"])
    wire = signed_submission(bank, f"per:abc:{pid('p1')}", "AccountOpened", {})
    given = client.post("/v1/submissions?wait=true", json=wire, headers={"X-Request-Id": "req-1"})
    assert given.status_code == 201 and given.headers["x-request-id"] == "req-1"
    made = client.post("/v1/submissions", json=wire, headers={"X-Request-Id": "bad id;" + "x" * 70})
    assert made.status_code == 200 and len(made.headers["x-request-id"]) == 32
    client.post("/v1/submissions", json={"submission": {}, "signature": ""})
    batch = [
        signed_submission(bank, f"per:abc:{pid(f'q{i}')}", "AccountOpened", {}) for i in range(3)
    ]
    client.post("/v1/submissions/batch", json={"submissions": batch})
    until(lambda: client.get("/readyz").json()["projection_lag_entries"] == 0, 10)
    text = client.get("/metrics").text
    assert _sample(text, "carbon_ledger_submissions_total", outcome="accepted") >= 4
    assert _sample(text, "carbon_ledger_submissions_total", outcome="replayed") >= 1
    assert _sample(text, "carbon_ledger_submissions_total", reason="Malformed") >= 1
    assert _sample(text, "carbon_ledger_batch_items_count") >= 1
    route = "/v1/submissions/batch"
    assert _sample(text, "carbon_ledger_request_seconds_count", route=route, method="POST") >= 1
    assert _sample(text, "carbon_ledger_tree_size") == node.reader.size()
    assert _sample(text, "carbon_ledger_integration_lag_entries") == 0
    assert _sample(text, "carbon_ledger_checkpoint_age_seconds") >= 0
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["ready"] is True


def test_not_ready_while_an_entry_waits_for_the_read_models(node, monkeypatch):
    quick = dataclasses.replace(node.settings, limits=Limits(ready_projection_seconds=1))
    monkeypatch.setattr(node, "settings", quick)
    bank = register(node, "bank.abc", ["bank"])
    with TestClient(create_app(node)) as plain:  # no projector runs
        integrate_all(node)
        assert plain.get("/readyz").status_code == 200  # the seeds are young yet
        node.ledger.submit(signed_submission(bank, f"per:abc:{pid('p1')}", "AccountOpened", {}))
        time.sleep(1.2)
        integrate_all(node)
        answer = plain.get("/readyz")
        assert answer.status_code == 503 and answer.headers["retry-after"] == "5"
        assert "read models" in answer.json()["reasons"][0]
        text = plain.get("/metrics").text
        assert _sample(text, "carbon_ledger_projection_lag_seconds") > 1
        assert _sample(text, "carbon_ledger_projection_lag_entries") > 0


@pytest.mark.slow
def test_metrics_sum_workers_and_logs_are_json_without_secrets(tmp_path):
    data, port = tmp_path / "data", free_port()
    server = start_serve(data, port, {}, "--workers", "2")
    processes: dict[int, str] = {}
    try:
        until(lambda: healthy(port), 60)
        processes = descendants(server.pid)
        base = f"http://127.0.0.1:{port}"
        made = httpx.post(f"{base}/v1/tokens", json=_create_token(data), timeout=30)
        token = made.json()["token"]
        bank = register_over_http(base, data)
        sent = 40
        for i in range(sent):  # a connection each: the two workers share them out
            wire = signed_submission(bank, f"per:abc:{pid(f'p{i}')}", "AccountOpened", {})
            assert httpx.post(f"{base}/v1/submissions", json=wire, timeout=30).status_code == 201
        read = f"{base}/v1/accounts/per:abc:{pid('p0')}"
        httpx.get(read, headers={"Authorization": f"Bearer {token}"}, timeout=30)
        scraped = until(lambda: _summed(base, sent + 1), 30)
        assert _sample(scraped, "carbon_ledger_checkpoint_age_seconds") < 60
    finally:
        server.send_signal(signal.SIGTERM)  # serve drains, stops its children and exits
        try:
            stderr = server.communicate(timeout=60)[1].decode()
        finally:
            for process in alive(processes):
                os.kill(process, signal.SIGKILL)
    lines = [json.loads(line) for line in stderr.splitlines() if line.strip()]
    requests = [line for line in lines if line["logger"] == "carbon_ledger.access"]
    assert len(requests) >= sent and all(len(line["request_id"]) == 32 for line in requests)
    assert {line["route"] for line in requests} >= {"/v1/submissions", "/v1/tokens"}
    submitted = [line for line in requests if line["route"] == "/v1/submissions"]
    assert len({line["pid"] for line in submitted}) == 2  # both workers counted, one total
    secrets = [token, *(p.read_text().strip() for p in (data / "keys").iterdir())]
    assert not [secret for secret in secrets if secret in stderr]


def _summed(base: str, accepted: int) -> str | None:
    text = httpx.get(f"{base}/metrics").text
    return (
        text
        if _sample(text, "carbon_ledger_submissions_total", outcome="accepted") >= accepted
        else None
    )


def _create_token(data):
    from crypto.records import signed_token_request
    from ledger.keyfiles import read_key

    return signed_token_request(
        read_key(data / "keys" / "admin.key"), "create", principal="bank:abc"
    )


def register_over_http(base: str, data):
    from crypto.keys import generate_signer
    from ledger.keyfiles import read_key

    bank = generate_signer("bank.abc")
    admin = read_key(data / "keys" / "admin.key")
    roles = {"vkey": bank.verifier.text, "roles": ["bank"]}
    wire = signed_submission(admin, "sys:keys", "KeyRegistered", roles)
    assert httpx.post(f"{base}/v1/submissions", json=wire, timeout=30).status_code == 201
    return bank


def test_bearer_is_never_logged(client, node, caplog):
    headers = bearer(node, "regulator")
    with caplog.at_level("INFO"):
        client.get(f"/v1/accounts/per:abc:{pid('p1')}", headers=headers)
    assert caplog.records and headers["Authorization"][7:] not in caplog.text


def test_a_failing_request_is_logged_by_its_route_not_its_path(node, caplog, monkeypatch):
    """A path may hold what must never reach a log (a national id typed where a pseudonym
    goes): errors name the route's template."""
    from eventsourcing.persistence import OperationalError

    import api.readmodels

    def down(*args, **kwargs):
        raise OperationalError("server closed the connection unexpectedly")

    def broken(*args, **kwargs):
        raise RuntimeError("a bug")

    typed = "330102199001011234"
    client = TestClient(create_app(node), raise_server_exceptions=False)
    with caplog.at_level("INFO"):
        for fault, status in ((down, 503), (broken, 500)):
            monkeypatch.setattr(api.readmodels, "_person", fault)
            answer = client.get(f"/v1/persons/{typed}", headers=bearer(node, "regulator"))
            assert answer.status_code == status
    ours = [r for r in caplog.records if r.name.startswith("carbon_ledger")]  # not httpx's
    text = "\n".join(f"{r.getMessage()} {r.__dict__}" for r in ours)
    assert "storage unavailable on GET /v1/persons/{pid}" in text
    assert "unexpected error on GET /v1/persons/{pid}" in text and typed not in text


def test_no_page_is_served_without_a_strict_content_security_policy(client):
    for path in ("/docs", "/redoc", "/docs/oauth2-redirect"):
        assert client.get(path).status_code == 404
    assert client.get("/openapi.json").status_code == 200
