"""The person index: a person-wide decision reads the person's accounts from one index probe,
and its save is refused if the person gained an account since (the count it read)."""

import pytest

from ledger.errors import LedgerError
from ledger.settings import Settings
from ledger.storage import base
from ledger.storage.base import PERSONS, EarlierLayout
from tests.support import audit_log, integrate_all, open_at, pid, register, signed
from tools.init import initialise

DAY = "2026-11-20"


def _behaviour(ref: str, count: int) -> dict[str, object]:
    return {"behaviour": "online_transfer", "count": count, "on": DAY, "ref": ref}


@pytest.fixture
def banks(node):
    return register(node, "bank.abc", ["bank"]), register(node, "bank.xyz", ["bank"])


def test_the_index_holds_each_persons_accounts_from_their_first_entry(node, banks):
    abc, xyz = banks
    one, two, nobody = pid("one"), pid("two"), pid("nobody")
    node.ledger.submit_batch(
        [
            signed(abc, f"per:abc:{one}", "AccountOpened", {}),
            signed(xyz, f"per:xyz:{one}", "AccountOpened", {}),
            signed(abc, f"per:abc:{two}", "AccountOpened", {}),
        ]
    )
    node.ledger.submit(signed(abc, f"per:abc:{one}", "GreenBehaviourRecorded", _behaviour("a", 1)))
    reads = node.store.reads
    assert reads.person_accounts([one, two, nobody]) == {
        one: {f"per:abc:{one}", f"per:xyz:{one}"},
        two: {f"per:abc:{two}"},
        nobody: set(),
    }
    assert reads.person_counts([one, two, nobody]) == {one: 2, two: 1, nobody: 0}
    assert reads.persons_indexed()


@pytest.mark.parametrize("batch", [False, True], ids=["one", "batch"])
def test_a_decision_on_a_stale_index_is_not_saved(node, banks, monkeypatch, batch):
    """The index as read before another writer opened and used the person's account at
    another bank: the save sees the person's count moved, and the decision is made again."""
    abc, xyz = banks
    person = pid("raced")
    mine, theirs = f"per:abc:{person}", f"per:xyz:{person}"
    node.ledger.submit(signed(abc, mine, "AccountOpened", {}))
    node.ledger.submit(signed(xyz, theirs, "AccountOpened", {}))
    node.ledger.submit(signed(xyz, theirs, "GreenBehaviourRecorded", _behaviour("x", 9)))
    reads = node.store.reads
    real = reads.person_accounts
    stale = {"left": 1}

    def as_before_theirs(persons):
        found = real(persons)
        if stale["left"]:
            stale["left"] -= 1
            found[person].discard(theirs)  # what a read before their opening saw
        return found

    monkeypatch.setattr(reads, "person_accounts", as_before_theirs)
    wire = signed(abc, mine, "GreenBehaviourRecorded", _behaviour("a", 5))
    if batch:
        (receipt,) = node.ledger.submit_batch([wire])
        assert not isinstance(receipt, LedgerError), receipt
    else:
        receipt = node.ledger.submit(wire)
    assert stale["left"] == 0  # the stale read was used, and its save refused
    assert (receipt.record.effect["counted"], receipt.record.effect["person_used"]) == (1, 9)


def test_the_count_a_save_checks_is_the_persons_before_the_batch(node, banks):
    """A batch that opens the person's account at another bank and then records a behaviour
    on it and on the first: the later items read the account the batch opened."""
    abc, xyz = banks
    person = pid("together")
    mine, theirs = f"per:abc:{person}", f"per:xyz:{person}"
    node.ledger.submit(signed(abc, mine, "AccountOpened", {}))
    results = node.ledger.submit_batch(
        [
            signed(xyz, theirs, "AccountOpened", {}),
            signed(xyz, theirs, "GreenBehaviourRecorded", _behaviour("x", 8)),
            signed(abc, mine, "GreenBehaviourRecorded", _behaviour("a", 5)),
        ]
    )
    assert not any(isinstance(r, LedgerError) for r in results), results
    effect = results[2].record.effect
    assert (effect["counted"], effect["person_used"]) == (2, 8)
    assert node.store.reads.person_counts([person]) == {person: 2}


def test_init_builds_the_index_of_a_ledger_written_before_it(data_dir, storage, node, banks):
    abc, xyz = banks
    person = pid("earlier")
    node.ledger.submit(signed(abc, f"per:abc:{person}", "AccountOpened", {}))
    node.ledger.submit(signed(xyz, f"per:xyz:{person}", "AccountOpened", {}))
    node.ledger.submit(
        signed(xyz, f"per:xyz:{person}", "GreenBehaviourRecorded", _behaviour("x", 9))
    )
    with node.log.transaction(commit=True) as cursor:  # as an earlier version left it
        cursor.execute(f"DROP TABLE {node.log.plain_table(PERSONS)}")
    node.ledger.accounts.evict([f"per:abc:{person}", f"per:xyz:{person}"])
    with pytest.raises(EarlierLayout, match="carbon-ledger init"):
        open_at(data_dir, storage)  # refused, never decided on an empty index
    initialise(Settings.build(data_dir, storage))  # what an upgrade runs once
    upgraded = open_at(data_dir, storage)
    try:
        assert upgraded.store.reads.person_counts([person]) == {person: 2}
        wire = signed(abc, f"per:abc:{person}", "GreenBehaviourRecorded", _behaviour("a", 5))
        receipt = upgraded.ledger.submit(wire)
        assert (receipt.record.effect["counted"], receipt.record.effect["person_used"]) == (1, 9)
        initialise(Settings.build(data_dir, storage))  # again: nothing to add
        assert upgraded.store.reads.person_counts([person]) == {person: 2}
        integrate_all(upgraded)
        audit_log(upgraded)
    finally:
        upgraded.close()


def test_persons_sharing_a_row_key_are_still_decided_apart(node, banks, monkeypatch):
    """Were two pseudonyms' hashes to collide, each would read a name of the other's bank
    under its own pseudonym, which holds no entries: the caps stay per person."""
    monkeypatch.setattr(base, "person_key", lambda person: 7)  # every person, one key
    abc, xyz = banks
    one, two = pid("first"), pid("second")
    node.ledger.submit(signed(abc, f"per:abc:{one}", "AccountOpened", {}))
    node.ledger.submit(signed(xyz, f"per:xyz:{two}", "AccountOpened", {}))
    node.ledger.submit(signed(xyz, f"per:xyz:{two}", "GreenBehaviourRecorded", _behaviour("x", 9)))
    assert node.store.reads.person_accounts([one]) == {one: {f"per:abc:{one}", f"per:xyz:{one}"}}
    wire = signed(abc, f"per:abc:{one}", "GreenBehaviourRecorded", _behaviour("a", 5))
    (receipt,) = node.ledger.submit_batch([wire])
    assert receipt.record.effect["counted"] == 5  # not capped by the other's 9
    assert "person_used" not in receipt.record.effect
    integrate_all(node)
    audit_log(node)
