"""Ed25519 in worker processes: answers in order, routed to the right caller, never stuck."""

import os
import threading

import pytest
from prometheus_client import REGISTRY

from crypto.keys import generate_signer
from ledger.crypto_workers import CryptoWorkers, WorkerExited, _Child
from tests.support import pid, register, signed

SIGNER = generate_signer("bank.workers")


@pytest.fixture
def workers():
    pool = CryptoWorkers(2)
    yield pool
    pool.close()


def _items(count: int, *, bad_every: int = 0) -> list[tuple[bytes, bytes, bytes]]:
    items = []
    for i in range(count):
        message = f"message {i}".encode()
        signature = SIGNER.sign(message)
        if bad_every and i % bad_every == 0:
            signature = SIGNER.sign(message + b"!")
        items.append((SIGNER.verifier.public_key, message, signature))
    return items


def test_verification_answers_each_item_in_order(workers):
    stream = workers.verifying()
    for item in _items(100, bad_every=7):
        stream.add(item)
    assert list(stream.results()) == [i % 7 != 0 for i in range(100)]


def test_signatures_are_the_keys_own(workers):
    messages = [os.urandom(50) for _ in range(70)]
    stream = workers.signing(SIGNER.seed)
    for message in messages:
        stream.add(message)
    assert list(stream.results()) == [SIGNER.sign(m) for m in messages]


def test_many_requests_in_flight_do_not_fill_the_pipes():
    pool = CryptoWorkers(1)
    try:
        stream = pool.signing(SIGNER.seed)
        messages = [os.urandom(200) for _ in range(3000)]  # ~100 requests, ~200 KB of answers
        for message in messages:
            stream.add(message)
        assert list(stream.results()) == [SIGNER.sign(m) for m in messages]
    finally:
        pool.close()


def test_concurrent_callers_each_get_their_own_answers(workers):
    failures = []

    def caller(number: int) -> None:
        items = _items(90, bad_every=number + 2)
        for _ in range(5):
            stream = workers.verifying()
            for item in items:
                stream.add(item)
            if list(stream.results()) != [i % (number + 2) != 0 for i in range(90)]:
                failures.append(number)

    threads = [threading.Thread(target=caller, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []


def test_abandoned_answers_are_dropped_not_kept(workers):
    unread = workers.verifying()
    for item in _items(200, bad_every=2):
        unread.add(item)
    answers = unread.results()
    assert next(answers) is False  # item 0; the rest are never read
    unread.abandon()
    stream = workers.verifying()
    for item in _items(200):
        stream.add(item)
    assert list(stream.results()) == [True] * 200
    for child in workers._children:
        assert child.answers == {} and child.abandoned == set()


def _restarts() -> float:
    return REGISTRY.get_sample_value("carbon_ledger_crypto_worker_restarts_total") or 0.0


def test_a_dead_worker_is_replaced(workers):
    child = workers.next_child()
    workers.next_child()
    child.process.kill()
    child.process.wait()
    with pytest.raises(WorkerExited):
        child.answer(child.send(b"\0\0\0\1\xc0"))
    before = _restarts()
    assert workers.next_child() is not child
    assert _restarts() == before + 1  # carbon_ledger_crypto_worker_restarts_total
    stream = workers.verifying()
    stream.add(_items(1)[0])
    assert list(stream.results()) == [True]


def test_work_a_dead_worker_will_not_take_is_done_here(workers, monkeypatch):
    for _ in range(2):
        child = workers.next_child()
        child.process.kill()
        child.process.wait()
    monkeypatch.setattr(_Child, "alive", lambda _: True)  # not noticed before sending
    stream = workers.verifying()
    for item in _items(100, bad_every=3):
        stream.add(item)
    assert list(stream.results()) == [i % 3 != 0 for i in range(100)]


def test_work_a_worker_never_answers_is_done_here(workers, monkeypatch):
    def broken(self, size):
        raise EOFError

    monkeypatch.setattr(_Child, "_read_exactly", broken)
    stream = workers.signing(SIGNER.seed)
    messages = [os.urandom(30) for _ in range(70)]
    for message in messages:
        stream.add(message)
    assert list(stream.results()) == [SIGNER.sign(m) for m in messages]
    assert not any(child.alive() for child in workers._children)  # killed, to be replaced


def test_a_batch_is_decided_right_without_workers(node, monkeypatch):
    def refuse(self, frame):
        raise WorkerExited("test")

    monkeypatch.setattr(_Child, "send", refuse)
    bank = register(node, "bank.alone", ["bank"])
    wires = [signed(bank, f"per:alone:{pid(f'p{i}')}", "AccountOpened", {}) for i in range(40)]
    wires[7]["signature"] = wires[8]["signature"]
    results = node.ledger.submit_batch(wires)
    assert [hasattr(r, "leaf_hash") for r in results] == [i != 7 for i in range(40)]
    receipt = results[0]
    assert node.ledger.receipt_for(receipt.account, receipt.seq).signature == receipt.signature
