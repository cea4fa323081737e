"""Leases survive database restarts honestly: a holder that lost its lease commits nothing."""

import logging
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from ledger.node import Node
from ledger.storage.base import LeaseLost
from tests.conftest import IN_CI, PG, opened_node
from tests.faults import postgres
from tests.support import (
    SEED_ENTRIES,
    check_log,
    integrate_all,
    open_at,
    pid,
    register,
    signed,
)


def test_a_superseded_integrator_commits_nothing(node):
    bank = register(node, "bank.abc", ["bank"])
    node.ledger.submit_batch(
        [signed(bank, f"per:abc:{pid(f'p{i}')}", "AccountOpened", {}) for i in range(5)]
    )
    old = node.integrator()
    old.ensure_checkpoint()
    new = node.integrator()  # another process took the lease meanwhile
    with pytest.raises(LeaseLost):
        old.step()
    assert node.reader.size() == 0
    assert new.step() == SEED_ENTRIES + 1 + 5
    assert len(check_log(node)) == SEED_ENTRIES + 1 + 5


def test_a_lost_lease_is_noticed_before_the_next_step(node):
    lease = node.lease()
    assert lease.try_acquire() and lease.held()
    lease.release()
    assert not lease.held()
    integrator = node.integrator()
    with pytest.raises(LeaseLost):
        integrator.run(threading.Event(), held=lambda: False)


def _terminate_other_backends() -> int:
    """What a PostgreSQL restart does to every session but this one."""
    with psycopg.connect(**PG, autocommit=True) as connection:
        rows = connection.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = %s AND pid <> pg_backend_pid()",
            [PG["dbname"]],
        ).fetchall()
    return len(rows)


@pytest.fixture
def pg_node(data_dir: Path, postgres_storage: dict[str, str]) -> Iterator[Node]:
    yield from opened_node(data_dir, postgres_storage)


@pytest.fixture
def integrators(
    data_dir: Path, postgres_storage: dict[str, str], pg_node: Node
) -> Iterator[list[Node]]:
    """Two more nodes, each running an integrator thread (one works, one stands by)."""
    nodes = [open_at(data_dir, postgres_storage) for _ in range(2)]
    stop = threading.Event()
    threads = [threading.Thread(target=n.run_integrator, args=(stop,)) for n in nodes]
    for thread in threads:
        thread.start()
    try:
        yield nodes
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=30)
        for opened in nodes:
            opened.close()


def _wait_for_size(node: Node, size: int, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if node.reader.size() >= size:
                return
        except Exception:  # the test's own pool reconnects too
            pass
        time.sleep(0.1)
    raise AssertionError(f"the log did not reach {size} in {seconds} s")


@pytest.mark.slow
def test_connections_dropped_under_two_integrators_keep_one_dense_log(pg_node, integrators, caplog):
    node = pg_node
    if os.geteuid() != 0 and not IN_CI:
        pytest.skip("restarting PostgreSQL needs root (pg_ctlcluster)")
    caplog.set_level(logging.WARNING)
    bank = register(node, "bank.abc", ["bank"])
    total = SEED_ENTRIES + 1
    for round_ in range(4):
        wires = [
            signed(bank, f"per:abc:{pid(f'r{round_}p{i}')}", "AccountOpened", {}) for i in range(50)
        ]
        for _attempt in range(50):  # the writer's own connections were dropped too
            try:
                node.ledger.submit_batch(wires)
                break
            except Exception:
                time.sleep(0.2)
        total += 50
        if round_ % 2:
            postgres("restart")  # the real thing: every session, the lease's too, is gone
        else:
            assert _terminate_other_backends() > 0
        _wait_for_size(node, total, 30)
    integrate_all(node)
    assert len(check_log(node)) == total
    collisions = [r for r in caplog.records if "duplicate key" in str(r.exc_info or r.msg)]
    assert collisions == []
