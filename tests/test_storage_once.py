"""Each entry's bytes are stored once: as its event's state in the event store, which the
log's tables point at; hashes are kept a row per run of records; used ids by 16 bytes of
their hash."""

from datetime import datetime
from typing import Any

import pytest
from eventsourcing.persistence import JSONTranscoder, StoredEvent
from eventsourcing.utils import get_topic

from crypto.merkle import MemoryHashStore, MerkleTree, leaf_hash, stored_hash_count
from crypto.records import decode_entry
from ledger import history
from ledger.account import ENTRY_TOPICS, Account, account_uuid
from ledger.errors import Conflict
from ledger.faults import IntegrityFault
from ledger.settings import Settings
from ledger.storage import base as storage_base
from ledger.storage.base import (
    TREE_RUN,
    EarlierLayout,
    LogLeaf,
    claim_key,
    run_ranges,
    tree_rows,
    writer_of,
)
from ledger.storage.transcoder import EntryTranscoder, entry_bytes
from ledger.submissions import check_submission
from tests.support import (
    audit_log,
    integrate_all,
    load_city,
    new_node,
    open_at,
    pid,
    register,
    signed,
)
from tools.init import initialise


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
    assert account not in node.log.accounts("per:")  # listed by person instead
    firm = next(leaf.account for leaf in leaves if leaf.account.startswith("ind:"))
    assert firm in node.log.accounts("ind:")


def test_an_account_s_chain_below_an_index_is_read_in_pages_and_ends(node, city, monkeypatch):
    """Pages of an account's entries past the cut used to be read again and again."""
    leaves = node.log.leaves(0, node.reader.size())
    counts: dict[str, list[LogLeaf]] = {}
    for leaf in leaves:
        counts.setdefault(leaf.account, []).append(leaf)
    account, mine = max(counts.items(), key=lambda item: len(item[1]))
    assert len(mine) >= 5
    monkeypatch.setattr(history, "PAGE", 2)
    real, calls = node.log.account_leaves, [0]

    def counted(*args: Any, **kwargs: Any) -> list[LogLeaf]:
        calls[0] += 1
        assert calls[0] < 50, "the chain's pages never end"
        return real(*args, **kwargs)

    monkeypatch.setattr(node.log, "account_leaves", counted)
    for cut in (mine[2].index, mine[3].index + 1, node.reader.size()):
        assert history.chain(node.log, account, cut) == [leaf for leaf in mine if leaf.index < cut]


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


def test_an_earlier_version_s_event_whose_leaf_hash_is_not_its_bytes_stops_the_log(node):
    bank = register(node, "bank.abc", ["bank"])
    integrate_all(node)
    size = node.reader.size()
    account = f"per:abc:{pid('tampered')}"
    node.ledger.submit(signed(bank, account, "AccountOpened", {}))
    events = node.log.plain_table(node.store.recorder.events_table_name)
    select = f"SELECT state FROM {events} WHERE originator_id = ?"
    (entry,) = next(iter(node.log.select(select, [node.log.originator(account)])))
    old = JSONTranscoder()  # stored as an earlier version did, with a leaf hash of its own
    old.register(_datetime_transcoding())
    state = EntryTranscoder().decode(bytes(entry))
    state["leaf_hash"] = "00" * 32
    with node.log.transaction(commit=True) as cursor:
        cursor.execute(
            node.log.sql(f"UPDATE {events} SET state = ? WHERE originator_id = ?"),
            [old.encode(state), node.log.originator(account)],
        )
    with pytest.raises(IntegrityFault, match="leaf hash mismatch"):
        node.integrator().step()
    assert node.reader.size() == size  # nothing integrated, nothing signed


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


def test_hashes_are_kept_a_row_per_run_of_records_in_the_dense_layout():
    store = MemoryHashStore()
    tree = MerkleTree(store)
    for number in range(70):
        tree.append(leaf_hash(bytes([number])))
    hashes = store.read_hashes(range(store.stored_count()))
    rows = dict(tree_rows(0, hashes))
    assert sorted(rows) == [0, 16, 32, 48, 64]  # one append: its aligned runs of records
    for index, expected in enumerate(hashes):
        record = writer_of(index)
        first = record - record % TREE_RUN
        offset = 32 * (index - stored_hash_count(first))
        assert rows[first][offset : offset + 32] == expected
    later = stored_hash_count(33)
    assert [first for first, _ in tree_rows(later, hashes[later:])] == [33, 48, 64]
    assert b"".join(h for _, h in tree_rows(later, hashes[later:])) == b"".join(hashes[later:])
    with pytest.raises(ValueError):
        tree_rows(later, hashes[later:-1])  # stops inside a record
    assert run_ranges([40, 3, 17, 5, 16]) == [(0, 5), (16, 17), (32, 40)]


def test_the_log_tables_read_back_every_proof(node, city, monkeypatch):
    log, size = node.log, node.reader.size()
    assert log.stored_count() == stored_hash_count(size)
    hashes = log.read_hashes(list(range(stored_hash_count(size))))
    monkeypatch.setattr(storage_base, "RANGES", 3)  # the runs read a few queries at a time
    assert log.read_hashes(list(range(stored_hash_count(size)))) == hashes
    proofs = node.reader.inclusion(size // 2, size), node.reader.consistency(size // 3, size)
    assert proofs[0][1] and proofs[1]
    steps = len(log.select("SELECT size FROM {t}", t="checkpoints"))
    assert len(log.select("SELECT record FROM {t}", t="tree")) <= size // TREE_RUN + 2 * steps
    per_record = [  # as logs written before kept them: a row per record
        (r, b"".join(hashes[stored_hash_count(r) : stored_hash_count(r + 1)])) for r in range(size)
    ]
    with log.transaction(commit=True) as cursor:
        cursor.execute(f"DELETE FROM {log.table('tree')}")
        cursor.executemany(log.sql(f"INSERT INTO {log.table('tree')} VALUES (?, ?)"), per_record)
    assert log.stored_count() == stored_hash_count(size)
    assert log.read_hashes(list(range(stored_hash_count(size)))) == hashes
    again = node.reader.inclusion(size // 2, size), node.reader.consistency(size // 3, size)
    assert again == proofs


EARLIER = {  # the log's tables as the previous version made them
    "leaves": "(idx BIGINT PRIMARY KEY, leaf_hash {blob} NOT NULL UNIQUE, account TEXT NOT NULL,"
    " seq BIGINT NOT NULL, entry {blob} NOT NULL, notification_id BIGINT NOT NULL UNIQUE,"
    " UNIQUE (account, seq))",
    "hashes": "(idx BIGINT PRIMARY KEY, hash {blob} NOT NULL)",
    "claims": "(key_id TEXT NOT NULL, id TEXT NOT NULL, digest TEXT NOT NULL,"
    " account TEXT NOT NULL, seq BIGINT NOT NULL, PRIMARY KEY (key_id, id))",
}


def astuple_of(leaf):
    return leaf.index, leaf.leaf_hash, leaf.account, leaf.seq, leaf.entry, leaf.notification_id


def _as_earlier_version(node):
    """Rewrite this node's log tables into the earlier layout, as an old database has them."""
    log = node.log
    size = node.reader.size()
    leaves = log.leaves(0, size)
    hashes = log.read_hashes(list(range(log.stored_count())))
    claims = []
    for leaf in leaves:
        entry = decode_entry(leaf.entry)
        checked = check_submission(entry.signed(), datetime.fromisoformat(entry.recorded_at))
        claims.append((*checked.claim_key, checked.digest, leaf.account, leaf.seq))
    blob = "BYTEA" if log.placeholder == "%s" else "BLOB"
    with log.transaction(commit=True) as cursor:
        for name, columns in EARLIER.items():
            table = log.plain_table(name) if name == "claims" else log.table(name)
            cursor.execute(f"CREATE TABLE {table} {columns.format(blob=blob)}")
        rows = [
            (x.index, x.leaf_hash, x.account, x.seq, x.entry, x.notification_id) for x in leaves
        ]
        cursor.executemany(log.sql(f"INSERT INTO {log.table('leaves')} VALUES (?,?,?,?,?,?)"), rows)
        cursor.executemany(
            log.sql(f"INSERT INTO {log.table('hashes')} VALUES (?, ?)"), list(enumerate(hashes))
        )
        cursor.executemany(
            log.sql(f"INSERT INTO {log.plain_table('claims')} VALUES (?,?,?,?,?)"), claims
        )
        for name in ("index", "tree", "accounts"):
            cursor.execute(f"DELETE FROM {log.table(name)}")
        cursor.execute(f"DELETE FROM {log.plain_table('submission_ids')}")
    return leaves, hashes


def test_postgres_finds_leaf_hashes_by_a_hash_index_and_init_drops_the_old_btree(
    data_dir, postgres_storage
):
    node = new_node(data_dir, postgres_storage)
    try:
        integrate_all(node)
        log, schema = node.log, postgres_storage["POSTGRES_SCHEMA"]
        with log.transaction(commit=True) as cursor:  # as a log written before this version
            cursor.execute(
                f"ALTER TABLE {log.table('index')}"
                " ADD CONSTRAINT log_index_leaf_hash_key UNIQUE (leaf_hash)"
            )
        initialise(Settings.build(data_dir, postgres_storage))
        definitions = log.select(
            "SELECT indexdef FROM pg_indexes WHERE schemaname = ? AND tablename = 'log_index'",
            [schema],
        )
        on_leaf = [d for (d,) in definitions if "(leaf_hash)" in d]
        assert len(on_leaf) == 1 and "USING hash" in on_leaf[0], definitions
        first = log.leaves(0, 1)[0]
        assert log.index_of(first.leaf_hash) == 0 and log.leaves_by_hash([first.leaf_hash]) == [
            first
        ]
    finally:
        node.close()


def test_init_moves_a_log_in_the_earlier_layout_bit_for_bit(data_dir, storage, node, city):
    size = node.reader.size()
    proofs = node.reader.inclusion(size // 2, size), node.reader.consistency(size // 3, size)
    leaves, hashes = _as_earlier_version(node)
    with pytest.raises(EarlierLayout, match="carbon-ledger init"):
        open_at(data_dir, storage)  # refused, never read wrongly
    initialise(Settings.build(data_dir, storage))  # what an upgrade runs once
    moved = open_at(data_dir, storage)
    try:
        assert moved.log.leaves(0, size) == leaves
        assert moved.log.read_hashes(list(range(len(hashes)))) == hashes
        assert (
            moved.reader.inclusion(size // 2, size),
            moved.reader.consistency(size // 3, size),
        ) == proofs
        assert moved.log.accounts("ind:") == node.log.accounts("ind:") != []
        assert not moved.log.exists("leaves") and not moved.log.exists_plain("claims")
        again = decode_entry(leaves[-1].entry).signed()  # a retry of an old submission
        assert moved.ledger.submit(again).replayed
        audit_log(moved)
    finally:
        moved.close()


def test_a_stored_event_is_the_entry_on_the_wire(node):
    receipt = node.ledger.submit(_registration(node, "wire"))
    integrate_all(node)
    (event,) = [
        e
        for e in node.store.reads.bulk_events([account_uuid("sys:keys")])
        if isinstance(e, StoredEvent) and leaf_hash(e.state).hex() == receipt.leaf_hash
    ]
    assert event.state == receipt.entry


def test_events_stored_under_the_earlier_topics_still_load(data_dir, storage, node):
    """An event is stored under its short explicit topic; those an earlier version stored
    under the module path are read, integrated and audited alike."""
    person = f"per:abc:{pid('topics')}"
    bank = register(node, "bank.abc", ["bank"])
    node.ledger.submit(signed(bank, person, "AccountOpened", {}))
    node.ledger.submit(signed(bank, person, "GreenBehaviourRecorded", _behaviour("t1")))
    stored = node.store.reads.bulk_events([account_uuid(person)])
    assert [event.topic for event in stored] == ["account:first", "account:entry"]
    with node.log.transaction(commit=True) as cursor:  # as an earlier version stored them
        for short, path in zip(ENTRY_TOPICS[:2], ENTRY_TOPICS[2:], strict=True):
            cursor.execute(
                node.log.sql(f"UPDATE {node.log.events} SET topic = ? WHERE topic = ?"),
                [path, short],
            )
    earlier = open_at(data_dir, storage)  # no cached account, no cached topic
    try:
        assert {e.topic for e in earlier.store.reads.bulk_events([account_uuid(person)])} == {
            "ledger.account:Account.Started",
            "ledger.account:Account.EntryAppended",
        }
        assert earlier.ledger.accounts.get(person).seq == 1
        earlier.ledger.submit(signed(bank, person, "GreenBehaviourRecorded", _behaviour("t2")))
        integrate_all(earlier)
        assert earlier.log.account_leaves(person, 0)[-1].seq == 2
        audit_log(earlier)
    finally:
        earlier.close()


def _behaviour(ref: str) -> dict[str, object]:
    return {"behaviour": "online_transfer", "count": 1, "on": "2026-11-20", "ref": ref}
