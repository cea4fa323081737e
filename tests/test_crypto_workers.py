"""Ed25519 in worker processes: answers in order, routed to the right caller, never stuck."""

import os
import threading

import pytest

from crypto.keys import generate_signer
from ledger.crypto_workers import CryptoWorkers, WorkerExited

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


def test_discarded_answers_do_not_reach_the_next_caller(workers):
    unread = workers.verifying()
    for item in _items(40, bad_every=2):
        unread.add(item)
    unread.results()  # sent, never read
    unread.discard()
    stream = workers.verifying()
    for item in _items(40):
        stream.add(item)
    assert list(stream.results()) == [True] * 40


def test_a_dead_worker_fails_its_callers_and_is_replaced():
    pool = CryptoWorkers(1)
    try:
        child = pool.next_child()
        child.process.kill()
        child.process.wait()
        public_key, message, signature = _items(1)[0]
        with pytest.raises(WorkerExited):
            child.answer(child.send(["verify", [[public_key, message, signature]]]))
        stream = pool.verifying()
        stream.add((public_key, message, signature))
        assert list(stream.results()) == [True]
        assert pool.next_child() is not child
    finally:
        pool.close()
