"""Storage trouble: a 5xx always means nothing was written, and says when to retry."""

import time
from collections.abc import Callable
from typing import Any

import psycopg
import pytest
from eventsourcing.persistence import IntegrityError, OperationalError

from crypto.records import Receipt
from ledger.errors import Unavailable
from ledger.node import Node
from tests.conftest import PG
from tests.http_support import problem
from tests.support import SEED_ENTRIES, check_log, integrate_all, new_node, pid, register, signed


def _failing_puts(node: Node, monkeypatch: pytest.MonkeyPatch, fail: Callable[[int], Any]) -> None:
    """Make the event store's n-th put raise `fail(n)` when that is an exception."""
    real_put = node.store.events.put
    calls = [0]

    def put(*args: Any, **kwargs: Any) -> Any:
        calls[0] += 1
        error = fail(calls[0])
        if error is not None:
            raise error
        return real_put(*args, **kwargs)

    monkeypatch.setattr(node.store.events, "put", put)


def _wires(bank: Any, count: int) -> list[dict[str, Any]]:
    return [signed(bank, f"per:abc:{pid(f'p{i}')}", "AccountOpened", {}) for i in range(count)]


def test_a_batch_the_store_refuses_is_a_503_with_nothing_written(client, node, monkeypatch):
    bank = register(node, "bank.abc", ["bank"])
    _failing_puts(node, monkeypatch, lambda n: OperationalError("database or disk is full"))
    response = client.post("/v1/submissions/batch", json={"submissions": _wires(bank, 10)})
    problem(response, 503)
    assert int(response.headers["retry-after"]) > 0
    one = client.post("/v1/submissions", json=_wires(bank, 1)[0])
    problem(one, 503)
    monkeypatch.undo()
    integrate_all(node)
    assert len(check_log(node)) == SEED_ENTRIES + 1


def test_storage_failing_midway_through_a_fallback_answers_per_item(client, node, monkeypatch):
    """A conflict sends the batch item by item; the store then fails after four items: the
    answer gives their receipts and a 503 for each of the rest, never a 500."""
    bank = register(node, "bank.abc", ["bank"])

    def fail(call: int) -> Exception | None:
        if call == 1:
            return IntegrityError("another writer moved an account on")
        return OperationalError("terminating connection") if call > 5 else None

    _failing_puts(node, monkeypatch, fail)
    response = client.post("/v1/submissions/batch", json={"submissions": _wires(bank, 10)})
    assert response.status_code == 200, response.text
    statuses = [result["status"] for result in response.json()["results"]]
    assert statuses == [201] * 4 + [503] * 6
    monkeypatch.undo()
    integrate_all(node)
    assert len(check_log(node)) == SEED_ENTRIES + 1 + 4


def test_a_retry_after_a_partial_batch_completes_it_exactly_once(node, monkeypatch):
    bank = register(node, "bank.abc", ["bank"])
    wires = _wires(bank, 6)

    def fail(call: int) -> Exception | None:
        if call == 1:
            return IntegrityError("conflict")
        return OperationalError("disk full") if call > 3 else None

    _failing_puts(node, monkeypatch, fail)
    first = node.ledger.submit_batch(wires)
    assert [isinstance(r, Receipt) for r in first] == [True, True] + [False] * 4
    assert all(isinstance(r, Unavailable) for r in first[2:])
    monkeypatch.undo()
    again = node.ledger.submit_batch(wires)
    assert [r.replayed for r in again if isinstance(r, Receipt)] == [True, True] + [False] * 4
    integrate_all(node)
    assert len(check_log(node)) == SEED_ENTRIES + 1 + 6


def test_a_written_entry_is_answered_even_if_its_proof_cannot_be_read(client, node, monkeypatch):
    bank = register(node, "bank.abc", ["bank"])

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(node.reader, "wait_for_index", broken)
    response = client.post("/v1/submissions?wait=true", json=_wires(bank, 1)[0])
    assert response.status_code == 201 and response.json()["index"] is None


def _drop_connections() -> None:
    """What a PostgreSQL restart does to every session but this one."""
    with psycopg.connect(**PG, autocommit=True) as connection:
        connection.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = %s AND pid <> pg_backend_pid()",
            [PG["dbname"]],
        )


@pytest.fixture
def pg_client(postgres_storage, data_dir):
    from fastapi.testclient import TestClient

    from api.app import create_app

    node = new_node(data_dir, postgres_storage)
    try:
        with TestClient(create_app(node)) as client:
            yield node, client
    finally:
        node.close()


def test_dropped_connections_are_replaced_before_use(pg_client):
    node, client = pg_client
    assert node.store.factory.datastore.pool._check.__qualname__.startswith("_purging_check")
    bank = register(node, "bank.abc", ["bank"])
    for round_ in range(3):
        for _ in range(4):  # more than the pool holds: every pooled connection is dead
            assert client.get("/v1/keys").status_code == 200
        _drop_connections()
        started = time.monotonic()
        wires = [
            signed(bank, f"per:abc:{pid(f'r{round_}p{i}')}", "AccountOpened", {}) for i in range(3)
        ]
        response = client.post("/v1/submissions/batch", json={"submissions": wires})
        assert response.status_code == 200, response.text
        assert [r["status"] for r in response.json()["results"]] == [201] * 3
        for _ in range(8):
            assert client.get("/v1/keys").status_code == 200
        assert time.monotonic() - started < 5


def test_a_grading_run_cut_short_by_storage_is_202_not_503(node, monkeypatch):
    from fastapi.testclient import TestClient

    from api.app import create_app

    run = signed(
        node.authority_key, "sys:grading", "GradingRunRequested", {"kind": "agri", "period": "2026"}
    )
    real_grader = node.grader

    class Broken:
        def run(self, *args: Any, **kwargs: Any) -> Any:
            raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(node, "grader", Broken)
    with TestClient(create_app(node, node.run_integrator)) as client:
        cut = client.post("/v1/grading/runs", json=run)
        assert cut.status_code == 202, cut.text  # the request is written: no 5xx
        assert cut.json()["incomplete"]["status"] == 503 and cut.headers["retry-after"]
        monkeypatch.setattr(node, "grader", real_grader)
        again = client.post("/v1/grading/runs", json=run)
        assert again.status_code in (200, 201) and "incomplete" not in again.json()
        assert again.json()["request"]["leaf_hash"] == cut.json()["request"]["leaf_hash"]


def test_nothing_that_can_fail_runs_between_a_save_and_its_answer(client, node, monkeypatch):
    """Storage failing right after an entry is saved (a key ring refresh, say) must not turn
    the answer into a 503 that says nothing was written."""
    bank = register(node, "bank.abc", ["bank"])
    saved = [False]
    real_put, real_current = node.store.events.put, node.ledger.keys.current

    def put(*args: Any, **kwargs: Any) -> Any:
        result = real_put(*args, **kwargs)
        saved[0] = True
        return result

    def current(*args: Any, **kwargs: Any) -> Any:
        if saved[0]:
            raise OperationalError("server closed the connection unexpectedly")
        return real_current(*args, **kwargs)

    monkeypatch.setattr(node.store.events, "put", put)
    monkeypatch.setattr(node.ledger.keys, "current", current)
    one = client.post("/v1/submissions", json=_wires(bank, 1)[0])
    assert one.status_code == 201, one.text
    saved[0] = False
    batch = client.post("/v1/submissions/batch", json={"submissions": _wires(bank, 3)[1:]})
    assert [r["status"] for r in batch.json()["results"]] == [201, 201]
