"""The write side on both backends: genesis, chains, idempotency, refusals, concurrency."""

import base64
import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from api.problems import status_of
from crypto.keys import generate_signer
from crypto.records import Receipt, receipt_message, receipt_promise
from ledger.errors import (
    Conflict,
    Forbidden,
    Invalid,
    LedgerError,
    Malformed,
    TooLarge,
    Unauthenticated,
)
from tests.support import (
    SEED_ENTRIES,
    SEED_KEYS,
    check_log,
    integrate_all,
    new_node,
    pid,
    register,
    signed,
)


def test_genesis_registers_the_admin_key_signed_by_itself(node):
    integrate_all(node)
    entries = check_log(node)
    genesis = entries[0]
    assert genesis["account"] == "sys:keys" and genesis["seq"] == 0 and genesis["prev"] == ""
    assert genesis["submission"]["key"] == node.admin_key.key_id
    assert genesis["submission"]["data"]["vkey"] == node.admin_key.verifier.text
    assert node.ledger.registry().keys[node.admin_key.key_id].roles == {"admin"}


def test_first_start_writes_private_keys_with_mode_0600(node, data_dir):
    for name in ("ledger.key", "admin.key"):
        path = data_dir / "keys" / name
        assert path.stat().st_mode & 0o777 == 0o600
        assert path.read_text().startswith("PRIVATE+KEY+")


def test_reopening_does_not_repeat_genesis(node, data_dir, storage):
    again = new_node(data_dir, storage)  # init again: a no-op
    try:
        assert again.ledger_key.text == node.ledger_key.text
        integrate_all(again)
        assert again.reader.size() == SEED_ENTRIES
    finally:
        again.close()


def test_receipt_is_signed_by_the_ledger(node):
    bank = register(node, "bank.abc", ["bank"])
    receipt = node.ledger.submit(signed(bank, f"per:abc:{pid('p1')}", "AccountOpened", {}))
    promise = receipt_promise(receipt.account, receipt.seq, receipt.leaf_hash, node.origin)
    assert node.ledger_key.verifier.verify(
        receipt_message(promise), base64.b64decode(receipt.signature)
    )
    assert json.loads(receipt.entry)["seq"] == 0


def test_chains_link_and_indices_are_dense(node):
    bank = register(node, "bank.abc", ["bank"])
    second = register(node, "bank.xyz", ["bank"])
    results = node.ledger.submit_batch(
        [signed(bank, f"per:abc:{pid(f'p{i}')}", "AccountOpened", {}) for i in range(50)]
        + [signed(second, f"per:xyz:{pid(f'p{i}')}", "AccountOpened", {}) for i in range(50)]
    )
    assert all(isinstance(r, Receipt) for r in results)
    integrate_all(node)
    entries = check_log(node)
    assert len(entries) == SEED_ENTRIES + 102
    keys = [e for e in entries if e["account"] == "sys:keys"]
    assert [e["seq"] for e in keys] == list(range(SEED_KEYS + 2))
    assert keys[-2]["prev"] != "" and keys[-1]["prev"] != keys[-2]["prev"]


def test_retry_returns_the_original_receipt(node):
    bank = register(node, "bank.abc", ["bank"])
    wire = signed(bank, f"per:abc:{pid('p1')}", "AccountOpened", {}, id_="open-p1")
    first = node.ledger.submit(wire)
    again = node.ledger.submit(wire)
    assert again.replayed and not first.replayed
    assert (again.leaf_hash, again.entry, again.signature) == (
        first.leaf_hash,
        first.entry,
        first.signature,
    )
    batch = node.ledger.submit_batch([wire, wire])
    assert [r.leaf_hash for r in batch] == [first.leaf_hash] * 2
    integrate_all(node)
    assert node.reader.size() == SEED_ENTRIES + 2


def test_same_id_other_bytes_is_a_conflict(node):
    bank = register(node, "bank.abc", ["bank"])
    node.ledger.submit(signed(bank, f"per:abc:{pid('p1')}", "AccountOpened", {}, id_="x1"))
    with pytest.raises(Conflict) as caught:
        node.ledger.submit(signed(bank, f"per:abc:{pid('p2')}", "AccountOpened", {}, id_="x1"))
    assert caught.value.field == "submission.id"
    other = node.ledger.submit_batch(
        [
            signed(bank, f"per:abc:{pid('p3')}", "AccountOpened", {}, id_="x2"),
            signed(bank, f"per:abc:{pid('p4')}", "AccountOpened", {}, id_="x2"),
        ]
    )
    assert isinstance(other[0], Receipt) and isinstance(other[1], Conflict)


def test_the_same_id_under_another_key_is_independent(node):
    first = register(node, "bank.abc", ["bank"])
    second = register(node, "bank.xyz", ["bank"])
    node.ledger.submit(signed(first, f"per:abc:{pid('p1')}", "AccountOpened", {}, id_="same"))
    node.ledger.submit(signed(second, f"per:xyz:{pid('p1')}", "AccountOpened", {}, id_="same"))


def _refusals(node):
    bank = register(node, "bank.abc", ["bank"])
    meter = register(node, "meter.m1", ["meter"])
    revoked = register(node, "bank.old", ["bank"])
    node.ledger.submit(signed(node.admin_key, "sys:keys", "KeyRevoked", {"key": revoked.key_id}))
    stranger = generate_signer("bank.nobody")
    good = signed(bank, f"per:abc:{pid('p1')}", "AccountOpened", {})
    bad_signature = {**good, "signature": base64.b64encode(bytes(64)).decode()}
    tampered = json.loads(json.dumps(good))
    tampered["submission"]["account"] = f"per:abc:{pid('p2')}"
    with_float = json.loads(json.dumps(good))
    with_float["submission"]["data"] = {"x": 1.5}
    return [
        ("not an object", [1, 2], Malformed, None),
        ("unknown field", {**good, "extra": 1}, Malformed, "extra"),
        ("bad base64", {**good, "signature": "!!!"}, Malformed, "signature"),
        ("short signature", {**good, "signature": "AAAA"}, Malformed, "signature"),
        ("wrong signature", bad_signature, Unauthenticated, "signature"),
        ("tampered", tampered, Unauthenticated, "signature"),
        (
            "unknown key",
            signed(stranger, f"per:abc:{pid('p1')}", "AccountOpened", {}),
            Unauthenticated,
            "submission.key",
        ),
        (
            "revoked key",
            signed(revoked, f"per:abc:{pid('p1')}", "AccountOpened", {}),
            Forbidden,
            "submission.key",
        ),
        (
            "wrong role",
            signed(meter, f"per:abc:{pid('p1')}", "AccountOpened", {}),
            Forbidden,
            "submission.type",
        ),
        (
            "float",
            with_float,
            Invalid,
            "submission.data.x",
        ),
        (
            "unknown data field",
            signed(bank, f"per:abc:{pid('p1')}", "AccountOpened", {"x": 1}),
            Invalid,
            "submission.data",
        ),
        (
            "future at",
            signed(bank, f"per:abc:{pid('p1')}", "AccountOpened", {}, at="2099-01-01T00:00:00Z"),
            Invalid,
            "submission.at",
        ),
        (
            "bad at",
            signed(bank, f"per:abc:{pid('p1')}", "AccountOpened", {}, at="yesterday"),
            Invalid,
            "submission.at",
        ),
        (
            "unknown type",
            signed(bank, f"per:abc:{pid('p1')}", "Nonsense", {}),
            Invalid,
            "submission.type",
        ),
        (
            "wrong account",
            signed(bank, "ind:123", "AccountOpened", {}),
            Invalid,
            "submission.account",
        ),
        (
            "bad id",
            signed(bank, f"per:abc:{pid('p1')}", "AccountOpened", {}, id_="no spaces"),
            Invalid,
            "submission.id",
        ),
        (
            "oversize",
            signed(
                node.admin_key,
                "sys:keys",
                "KeyRegistered",
                {"vkey": "x" * 17000, "roles": ["bank"]},
            ),
            TooLarge,
            "submission",
        ),
        (
            "bad vkey",
            signed(
                node.admin_key, "sys:keys", "KeyRegistered", {"vkey": "nope", "roles": ["bank"]}
            ),
            Invalid,
            "submission.data.vkey",
        ),
        (
            "unknown role",
            signed(
                node.admin_key,
                "sys:keys",
                "KeyRegistered",
                {"vkey": generate_signer("x.y").verifier.text, "roles": ["king"]},
            ),
            Invalid,
            "submission.data.roles",
        ),
        (
            "self-registration",
            signed(
                stranger,
                "sys:keys",
                "KeyRegistered",
                {"vkey": stranger.verifier.text, "roles": ["admin"]},
            ),
            Unauthenticated,
            "submission.key",
        ),
    ]


def test_every_refusal_names_its_field_and_changes_nothing(node):
    cases = _refusals(node)
    integrate_all(node)
    size = node.reader.size()
    for label, wire, kind, field in cases:
        with pytest.raises(kind) as caught:
            node.ledger.submit(wire)
        assert caught.value.field == field, label
        assert 400 <= status_of(caught.value) < 500
    integrate_all(node)
    assert node.reader.size() == size


def test_batch_refuses_items_one_by_one(node):
    bank = register(node, "bank.abc", ["bank"])
    results = node.ledger.submit_batch(
        [
            signed(bank, f"per:abc:{pid('p1')}", "AccountOpened", {}),
            signed(bank, f"per:abc:{pid('p1')}", "AccountOpened", {}),
            {"nonsense": True},
            signed(bank, f"per:abc:{pid('p2')}", "AccountOpened", {}),
        ]
    )
    assert isinstance(results[0], Receipt)
    assert isinstance(results[1], Conflict)
    assert isinstance(results[2], Malformed)
    assert isinstance(results[3], Receipt)


def test_concurrent_submitters_lose_and_duplicate_nothing(node):
    bank = register(node, "bank.abc", ["bank"])
    wires = [signed(bank, f"per:abc:{pid(f'p{i % 7}')}", "AccountOpened", {}) for i in range(7)]
    admin_wires = [
        signed(
            node.admin_key,
            "sys:keys",
            "KeyRegistered",
            {"vkey": generate_signer(f"bank.b{i}").verifier.text, "roles": ["bank"]},
        )
        for i in range(24)
    ]
    everything = wires + admin_wires
    with ThreadPoolExecutor(8) as pool:
        outcomes = list(pool.map(_outcome(node), everything + everything))
    assert all(isinstance(o, Receipt) for o in outcomes), [
        o for o in outcomes if not isinstance(o, Receipt)
    ]
    integrate_all(node)
    entries = check_log(node)
    assert len(entries) == SEED_ENTRIES + 1 + len(everything)
    assert len({o.leaf_hash for o in outcomes}) == len(everything)


def _outcome(node):
    def submit(wire):
        try:
            return node.ledger.submit(wire)
        except LedgerError as error:
            return error

    return submit


def test_integrator_crash_between_steps_leaves_the_log_exact(node):
    bank = register(node, "bank.abc", ["bank"])
    node.ledger.submit_batch(
        [signed(bank, f"per:abc:{pid(f'p{i}')}", "AccountOpened", {}) for i in range(30)]
    )
    integrator = node.integrator()
    integrator.ensure_checkpoint()

    def crash(batch):
        raise RuntimeError("killed between computing and committing")

    integrator.before_commit = crash
    with pytest.raises(RuntimeError):
        integrator.step(limit=10)
    assert node.reader.size() == 0
    restarted = node.integrator()
    assert restarted.step(limit=10) == 10
    integrate_all(node)
    assert len(check_log(node)) == SEED_ENTRIES + 31


def test_a_second_integrator_stands_by(node):
    first, second = node.lease(), node.lease()
    assert first.try_acquire()
    try:
        assert not second.try_acquire()
    finally:
        first.release()
    assert second.try_acquire()
    second.release()


def test_integrator_thread_checkpoints_within_a_second(node):

    bank = register(node, "bank.abc", ["bank"])
    stop = threading.Event()
    thread = threading.Thread(target=node.run_integrator, args=(stop,))
    thread.start()
    try:
        receipt = node.ledger.submit(signed(bank, f"per:abc:{pid('p1')}", "AccountOpened", {}))
        started = time.monotonic()
        index = node.reader.wait_for_index(bytes.fromhex(receipt.leaf_hash), 1.0)
        assert index is not None and time.monotonic() - started < 1.0
    finally:
        stop.set()
        thread.join()


def test_a_key_revoked_earlier_in_a_batch_signs_nothing_after_it(node):
    bank = register(node, "bank.abc", ["bank"])
    results = node.ledger.submit_batch(
        [
            signed(node.admin_key, "sys:keys", "KeyRevoked", {"key": bank.key_id}),
            signed(bank, f"per:abc:{pid('p1')}", "AccountOpened", {}),
        ]
    )
    assert isinstance(results[0], Receipt)
    assert isinstance(results[1], Forbidden) and results[1].field == "submission.key"


def test_a_revocation_by_another_worker_between_decision_and_save_wins(node):
    """The entry decided before a concurrent revocation must not land after it."""
    from ledger.ledger import Ledger

    bank = register(node, "bank.abc", ["bank"])
    other_worker = Ledger(node.store, node.ledger_keys, node.origin)
    decide = node.ledger._apply

    def revoke_meanwhile(*args, **kwargs):
        item = decide(*args, **kwargs)
        node.ledger._apply = decide
        other_worker.submit(signed(node.admin_key, "sys:keys", "KeyRevoked", {"key": bank.key_id}))
        return item

    node.ledger._apply = revoke_meanwhile
    with pytest.raises(Forbidden):
        node.ledger.submit(signed(bank, f"per:abc:{pid('p1')}", "AccountOpened", {}))
    integrate_all(node)
    check_log(node)
    assert all(
        leaf.account != f"per:abc:{pid('p1')}" for leaf in node.log.leaves(0, node.reader.size())
    )


def test_the_integrator_survives_storage_errors(node):

    bank = register(node, "bank.abc", ["bank"])
    integrator = node.integrator()
    real_step, failures = integrator.step, []

    def flaky_step(limit):
        if len(failures) < 3:
            failures.append(1)
            raise RuntimeError("database is locked")
        return real_step(limit)

    integrator.step = flaky_step
    stop = threading.Event()
    thread = threading.Thread(target=integrator.run, args=(stop,))
    thread.start()
    try:
        receipt = node.ledger.submit(signed(bank, f"per:abc:{pid('p1')}", "AccountOpened", {}))
        assert node.reader.wait_for_index(bytes.fromhex(receipt.leaf_hash), 10) is not None
    finally:
        stop.set()
        thread.join()
    assert len(failures) == 3
