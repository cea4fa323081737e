"""Two processes (two nodes, each with its own caches) writing the same accounts: a refusal
is never decided on what one of them cached, only on what the store holds."""

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from crypto.keys import generate_signer
from crypto.records import Receipt
from ledger.errors import Conflict, Forbidden, LedgerError
from ledger.node import Node
from tests.conftest import opened_node
from tests.serving import descendants, free_port, healthy, start_serve, stop, until
from tests.support import pid, register, signed

DAY = "2026-11-20"


@pytest.fixture
def other(data_dir: Path, storage: dict[str, str], node: Node) -> Iterator[Node]:
    """A second node on the same store: another process's caches."""
    yield from opened_node(data_dir, storage)


Submit = Callable[[Node, dict[str, Any]], Receipt]


def _one(node: Node, wire: dict[str, Any]) -> Receipt:
    return node.ledger.submit(wire)


def _batch(node: Node, wire: dict[str, Any]) -> Receipt:
    (result,) = node.ledger.submit_batch([wire])
    if isinstance(result, LedgerError):
        raise result
    return result


@pytest.fixture(params=[_one, _batch], ids=["one", "batch"])
def submit(request: pytest.FixtureRequest) -> Submit:
    return request.param


def _registration(node: Node, name: str) -> tuple[Any, dict[str, Any]]:
    key = generate_signer(name)
    data = {"vkey": key.verifier.text, "roles": ["bank"]}
    return key, signed(node.admin_key, "sys:keys", "KeyRegistered", data)


def test_revoke_after_register_in_another_process(node, other, submit):
    submit(other, _registration(other, "bank.warm")[1])  # other caches sys:keys
    for number in range(5):
        key, registration = _registration(node, f"bank.k{number}")
        submit(node, registration)
        revocation = signed(other.admin_key, "sys:keys", "KeyRevoked", {"key": key.key_id})
        assert isinstance(submit(other, revocation), Receipt)
        for writer in (node, other):  # refused everywhere once the revocation is acknowledged
            with pytest.raises(Forbidden):
                submit(writer, signed(key, f"per:k{number}:{pid('p1')}", "AccountOpened", {}))


def _behaviour(bank: Any, account: str, ref: str) -> dict[str, Any]:
    data = {"behaviour": "online_bill_payment", "count": 1, "on": DAY, "ref": ref}
    return signed(bank, account, "GreenBehaviourRecorded", data)


def test_redeem_after_earn_in_another_process(node, other, submit):
    bank = register(node, "bank.abc", ["bank"])
    submit(
        other, signed(bank, f"per:abc:{pid('p1')}", "AccountOpened", {})
    )  # other caches the account
    for number in range(2):  # 89 points each
        submit(node, _behaviour(bank, f"per:abc:{pid('p1')}", f"r{number}"))
    redemption = {"points": 150, "use": "goods", "ref": "x1"}
    receipt = submit(other, signed(bank, f"per:abc:{pid('p1')}", "PointsRedeemed", redemption))
    assert isinstance(receipt, Receipt)


def test_reverse_after_append_in_another_process(node, other, submit):
    bank = register(node, "bank.abc", ["bank"])
    submit(
        other, signed(bank, f"per:abc:{pid('p1')}", "AccountOpened", {})
    )  # other caches the account
    appended = node.ledger.submit(_behaviour(bank, f"per:abc:{pid('p1')}", "r1"))
    reversal = {"entry": appended.leaf_hash, "reason": "entered twice"}
    receipt = submit(other, signed(bank, f"per:abc:{pid('p1')}", "EntryReversed", reversal))
    assert isinstance(receipt, Receipt)


def test_a_true_refusal_is_still_refused_after_the_recheck(node, other, submit):
    bank = register(node, "bank.abc", ["bank"])
    submit(other, signed(bank, f"per:abc:{pid('p1')}", "AccountOpened", {}))
    node.ledger.submit(_behaviour(bank, f"per:abc:{pid('p1')}", "r1"))
    redemption = {"points": 90, "use": "goods", "ref": "x1"}  # one more than there is
    with pytest.raises(LedgerError) as refused:
        submit(other, signed(bank, f"per:abc:{pid('p1')}", "PointsRedeemed", redemption))
    assert isinstance(refused.value, Conflict) and refused.value.field == "submission.data.points"


@pytest.mark.slow
def test_register_then_revoke_over_two_uvicorn_workers(node, data_dir, storage):
    """The shipped `serve --workers 2`: every revocation of a key just registered is accepted
    by whichever worker gets it, and from then on every worker refuses the key."""
    port = free_port()
    server = start_serve(data_dir, port, storage, "--workers", "2", "--no-integrator")
    processes = {}
    try:
        until(lambda: healthy(port))
        processes = descendants(server.pid)
        base = f"http://127.0.0.1:{port}"
        # a connection per request, so the two workers take turns as they accept them
        with httpx.Client(base_url=base, timeout=30, headers={"Connection": "close"}) as http:
            for number in range(20):
                key, registration = _registration(node, f"bank.h{number}")
                assert http.post("/v1/submissions", json=registration).status_code == 201
                revocation = signed(node.admin_key, "sys:keys", "KeyRevoked", {"key": key.key_id})
                answer = http.post("/v1/submissions", json=revocation)
                assert answer.status_code == 201, answer.text
                for _ in range(4):  # both workers, whichever answers
                    use = signed(key, f"per:h{number}:{pid('p1')}", "AccountOpened", {})
                    assert http.post("/v1/submissions", json=use).status_code == 403
    finally:
        stop(server, processes)


def test_an_account_another_process_opened_counts_toward_a_cap(node, other, submit):
    """A person's account at another bank, read as absent by this process and opened by
    another since: the decision that leaves it out must not be saved."""
    abc, xyz = register(node, "bank.abc", ["bank"]), register(node, "bank.xyz", ["bank"])
    person = pid("late")
    mine, theirs = f"per:abc:{person}", f"per:xyz:{person}"

    def behaviour(ref: str, count: int) -> dict[str, Any]:
        return {"behaviour": "online_transfer", "count": count, "on": DAY, "ref": ref}

    submit(node, signed(abc, mine, "AccountOpened", {}))
    submit(node, signed(abc, mine, "GreenBehaviourRecorded", behaviour("a1", 1)))  # reads theirs
    submit(other, signed(xyz, theirs, "AccountOpened", {}))
    submit(other, signed(xyz, theirs, "GreenBehaviourRecorded", behaviour("x1", 9)))
    late = submit(node, signed(abc, mine, "GreenBehaviourRecorded", behaviour("a2", 5)))
    assert (late.record.effect["counted"], late.record.effect["person_used"]) == (0, 10)
