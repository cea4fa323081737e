"""Each entry's bytes are stored once: as its event's state in the event store, which the
log's tables point at; hashes are kept per record; used ids by 16 bytes of their hash."""

import pytest
from eventsourcing.persistence import JSONTranscoder, StoredEvent
from eventsourcing.utils import get_topic

from crypto.merkle import MemoryHashStore, MerkleTree, leaf_hash, stored_hash_count
from ledger.account import Account, account_uuid
from ledger.errors import Conflict
from ledger.storage.base import EarlierLayout, claim_key, tree_rows, writer_of
from ledger.storage.transcoder import EntryTranscoder, entry_bytes
from tests.support import integrate_all, load_city, open_at, signed


@pytest.fixture
def city(node):
    return load_city(node, seed=7, banks=2, persons=10, enterprises=4, farms=3)


def test_an_event_is_stored_as_its_entry_and_read_back_whole(node, city):
    leaves = node.log.leaves(0, node.reader.size())
    account = next(leaf.account for leaf in leaves if leaf.account.startswith("per:"))
    stored = node.store.reads.bulk_events([account_uuid(account)])
    mine = [leaf for leaf in leaves if leaf.account == account]
    assert [event.state for event in stored] == [leaf.entry for leaf in mine]
    assert [event.topic for event in stored][:1] == [get_topic(Account.Started)]
    # read back through the mapper, the events are what the aggregate needs
    events = [node.store.mapper.to_domain_event(event) for event in stored]
    assert events[0].account == account and events[0].originator_topic == get_topic(Account)
    assert [e.leaf_hash for e in events] == [leaf.leaf_hash.hex() for leaf in mine]
    assert node.ledger.accounts.get(account).seq == len(mine) - 1
    # an account's entries through the event store, in seq order, from a given seq
    assert node.log.account_leaves(account, 0) == mine[1:]
    assert account in node.log.accounts("per:")


def test_events_stored_as_json_by_an_earlier_version_still_load():
    transcoder = EntryTranscoder()
    transcoder.register(_datetime_transcoding())
    entry = b'{"account":"per:x:y","seq":0,"recorded_at":"2026-12-01T00:00:00Z"}'
    old = JSONTranscoder()
    old.register(_datetime_transcoding())
    state = {"timestamp": transcoder.decode(entry)["timestamp"], "entry": entry.decode()}
    encoded = old.encode({**state, "leaf_hash": leaf_hash(entry).hex(), "extra": 1})
    assert transcoder.decode(encoded)["entry"] == entry.decode()
    assert entry_bytes(encoded) == entry_bytes(entry) == entry
    # a state the entry alone would not give back is kept as JSON, not cut to the entry
    odd = {**state, "leaf_hash": "00" * 32}
    assert transcoder.encode(odd) != entry and transcoder.decode(transcoder.encode(odd)) == odd


def _datetime_transcoding():
    from eventsourcing.persistence import DatetimeAsISO

    return DatetimeAsISO()


def test_a_retried_id_is_found_by_its_hashed_key(node):
    wire = _registration(node, "again")
    first = node.ledger.submit(wire)
    again = node.ledger.submit(wire)
    assert again.replayed and (again.account, again.seq) == (first.account, first.seq)
    assert isinstance(node.ledger.submit_batch([_registration(node, "again")])[0], Conflict)
    assert claim_key("a", "bc") != claim_key("ab", "c")  # length-prefixed: no ambiguity
    assert len(claim_key("k", "i")) == 16


def _registration(node, id_):
    from crypto.keys import generate_signer

    vkey = generate_signer("bank.retry").verifier.text
    data = {"vkey": vkey, "roles": ["bank"]}
    return signed(node.admin_key, "sys:keys", "KeyRegistered", data, id_=id_)


def test_hashes_are_kept_per_record_in_the_dense_layout():
    store = MemoryHashStore()
    tree = MerkleTree(store)
    for number in range(70):
        tree.append(leaf_hash(bytes([number])))
    hashes = store.read_hashes(range(store.stored_count()))
    rows = dict(tree_rows(0, hashes))
    assert sorted(rows) == list(range(70))
    for index, expected in enumerate(hashes):
        record, position = writer_of(index)
        assert rows[record][32 * position : 32 * (position + 1)] == expected
    later = stored_hash_count(33)
    assert tree_rows(later, hashes[later:])[0][0] == 33
    with pytest.raises(ValueError):
        tree_rows(later, hashes[later:-1])  # stops inside a record


def test_the_log_tables_read_back_every_proof(node, city):
    size = node.reader.size()
    assert node.log.stored_count() == stored_hash_count(size)
    _, proof = node.reader.inclusion(size // 2, size)
    assert proof and node.reader.consistency(size // 3, size)


def test_a_database_in_the_earlier_layout_is_refused_not_overwritten(data_dir, storage, node):
    node.ledger.submit(_registration(node, "one"))
    integrate_all(node)
    with node.log.transaction(commit=True) as cursor:
        cursor.execute(f"CREATE TABLE {node.log.table('leaves')} (idx BIGINT)")
    with pytest.raises(EarlierLayout):
        open_at(data_dir, storage)


def test_a_stored_event_is_the_entry_on_the_wire(node):
    receipt = node.ledger.submit(_registration(node, "wire"))
    integrate_all(node)
    (event,) = [
        e
        for e in node.store.reads.bulk_events([account_uuid("sys:keys")])
        if isinstance(e, StoredEvent) and leaf_hash(e.state).hex() == receipt.leaf_hash
    ]
    assert event.state == receipt.entry
