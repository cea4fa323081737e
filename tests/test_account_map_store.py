"""The account map the integrator keeps (on both backends): a signed map head with every
checkpoint whose root is the map of every account's newest entry, proofs served from one
snapshot, the map built for a log that had none, a failed commit leaving no trace; and what
the verifier makes of it: every signed root of an export recomputed, a stale statement caught.
"""

import base64
import copy
import json
import logging
import threading

import pytest

from client.verifier.audit import Audit
from client.verifier.bundle import bundle_from_object
from client.verifier.failure import Failure
from crypto.account_map import AccountMap, MapProof, map_key, verify_map_proof
from crypto.checkpoint import Checkpoint, parse_checkpoint
from crypto.keys import Signer, generate_signer
from crypto.map_head import MapHead, open_map_head, sign_map_head
from crypto.note import split_note
from ledger.bundles import export_lines, period_statement, statement_bundle
from ledger.faults import IntegrityFault
from ledger.log.map_keeper import LogMoved
from ledger.metrics import CHECKPOINT_TIME
from ledger.node import Node
from ledger.rules import SYSTEM_ACCOUNTS
from ledger.settings import Settings
from ledger.storage.base import EarlierLayout
from ledger.storage.map_tables import map_head, unpack_heads
from projections.evidence import evidence_bundle
from projections.runner import Projector
from projections.views import Views
from tests.support import (
    accounts_with,
    export_object,
    integrate_all,
    load_city,
    open_at,
    register,
    signed,
)
from tools.demo import demo_signer
from tools.init import initialise

DAY = "2026-11-20"
SEED = 11


@pytest.fixture
def city(node):
    return load_city(node, seed=SEED, banks=2, persons=12, enterprises=3, farms=2)


def rebuilt_root(node: Node, size: int) -> bytes:
    """The map recomputed apart from the integrator: every entry's account and leaf hash."""
    account_map = AccountMap()
    for leaf in node.log.leaves(0, size):
        account_map.set(map_key(leaf.account), leaf.leaf_hash)
    return account_map.root()


def signed_head(node: Node, size: int) -> MapHead:
    note = map_head(node.log.select, size)
    assert note is not None, f"no map head at size {size}"
    return open_map_head(note, node.ledger_key.verifier, node.origin)


def personal_account(city) -> str:
    return next(op.account for op in city.operations if op.account.startswith("per:"))


def bank_key(city, account: str) -> Signer:
    opened = next(
        op for op in city.operations if (op.account, op.type) == (account, "AccountOpened")
    )
    return demo_signer(SEED, opened.signer)


def behaviour(node: Node, city, account: str, ref: str) -> None:
    data = {"behaviour": "online_transfer", "count": 1, "on": DAY, "ref": ref}
    node.ledger.submit(signed(bank_key(city, account), account, "GreenBehaviourRecorded", data))
    integrate_all(node)


def test_every_checkpoint_has_a_map_head_over_every_account(node, city):
    checkpoints = node.log.select("SELECT size, note FROM {t} ORDER BY size", t="checkpoints")
    heads = node.log.select("SELECT size FROM {t} ORDER BY size", t="map_heads")
    assert [size for size, _ in checkpoints] == [size for (size,) in heads]
    for size, note in checkpoints[-3:]:
        head = signed_head(node, size)
        assert head.checkpoint == parse_checkpoint(split_note(note)[0])
        assert head.root == rebuilt_root(node, size)


def test_map_proofs_show_each_head_and_an_absent_account(node, city):
    account = personal_account(city)
    absent = "per:nobank:" + "a" * 52
    snapshot = node.map_reader.prove([account, absent])
    head = open_map_head(snapshot.head, node.ledger_key.verifier, node.origin)
    assert head.checkpoint.size == snapshot.size == node.reader.size()
    newest = node.log.account_leaves(account, -1)[-1].leaf_hash
    assert verify_map_proof(head.root, map_key(account), snapshot.proofs[account]) == newest
    assert verify_map_proof(head.root, map_key(absent), snapshot.proofs[absent]) is None
    behaviour(node, city, account, "later")  # the process's copy of the top catches up
    again = node.map_reader.prove([account])
    moved = open_map_head(again.head, node.ledger_key.verifier, node.origin)
    newer = node.log.account_leaves(account, -1)[-1].leaf_hash
    assert verify_map_proof(moved.root, map_key(account), again.proofs[account]) == newer != newest


def test_a_log_without_a_map_gets_one_built(node, city):
    for table in ("map_buckets", "map_accounts", "map_heads"):  # as a log before the map
        with node.log.transaction(commit=True) as cursor:
            cursor.execute(f"DELETE FROM {node.log.table(table)}")
    size = node.reader.size()
    behaviour(node, city, personal_account(city), "after-upgrade")
    assert signed_head(node, size).root == rebuilt_root(node, size)  # built at the old size
    assert signed_head(node, size + 1).root == rebuilt_root(node, size + 1)


EARLIER_MAP = (  # the previous version's row per account
    "(bucket INTEGER NOT NULL, key {blob} NOT NULL, head {blob} NOT NULL,"
    " PRIMARY KEY (bucket, key))"
)


def _map_as_earlier_version(node: Node) -> int:
    """Rewrite this node's map into the previous layout, as an old database has it; the
    accounts it holds."""
    log = node.log
    rows = log.select("SELECT bucket, heads FROM {t}", t="map_accounts")
    accounts = [
        (bucket, leaf.key, leaf.head) for bucket, heads in rows for leaf in unpack_heads(heads)
    ]
    blob = "BYTEA" if log.placeholder == "%s" else "BLOB"
    with log.transaction(commit=True) as cursor:
        cursor.execute(f"CREATE TABLE {log.table('map')} {EARLIER_MAP.format(blob=blob)}")
        insert = log.sql(f"INSERT INTO {log.table('map')} VALUES (?, ?, ?)")
        cursor.executemany(insert, accounts)
        cursor.execute(f"DELETE FROM {log.table('map_accounts')}")
    return len(accounts)


def test_init_moves_a_map_kept_a_row_per_account(data_dir, storage, node, city):
    account, absent = personal_account(city), "per:nobank:" + "b" * 52
    before = node.map_reader.prove([account, absent])
    assert _map_as_earlier_version(node) == len(accounts_with(node, "")) > 20
    with pytest.raises(EarlierLayout, match="carbon-ledger init"):
        open_at(data_dir, storage)  # refused, never read wrongly
    initialise(Settings.build(data_dir, storage))  # what an upgrade runs once
    moved = open_at(data_dir, storage)
    try:
        assert moved.map_reader.prove([account, absent]) == before
        assert not moved.log.exists("map")
        size = moved.reader.size()
        behaviour(moved, city, account, "after-the-move")
        assert signed_head(moved, size + 1).root == rebuilt_root(moved, size + 1)
    finally:
        moved.close()


def test_integrators_sharing_a_map_keeper_take_turns(node, city):
    """One process's integrators (the background one, and `integrate_pending`) share the
    map's top, which a step changes before it commits: a step holds it to its commit."""
    integrator = node.integrator()
    held = []
    integrator.before_commit = lambda batch: held.append(node.map_keeper.turn.locked())
    node.ledger.submit(
        signed(
            bank_key(city, personal_account(city)),
            personal_account(city),
            "GreenBehaviourRecorded",
            {"behaviour": "online_transfer", "count": 1, "on": DAY, "ref": "in-turn-2"},
        )
    )
    assert integrator.step() == 1 and held == [True]
    assert not node.map_keeper.turn.locked()


def test_a_failed_commit_leaves_the_map_as_it_was(node, city):
    account = personal_account(city)
    integrator = node.integrator()
    integrator.ensure_checkpoint()
    CHECKPOINT_TIME.set(0)

    def fail(batch):
        raise OSError("the disk went away")

    integrator.before_commit = fail
    data = {"behaviour": "online_transfer", "count": 1, "on": DAY, "ref": "lost-commit"}
    node.ledger.submit(signed(bank_key(city, account), account, "GreenBehaviourRecorded", data))
    with pytest.raises(OSError):
        integrator.step()
    assert CHECKPOINT_TIME._value.get() == 0  # signed, never committed: no checkpoint's age
    integrator.before_commit = lambda batch: None
    assert integrator.step() == 1
    assert CHECKPOINT_TIME._value.get() > 0
    size = node.reader.size()
    assert signed_head(node, size).root == rebuilt_root(node, size)


def test_a_map_whose_stored_buckets_do_not_fold_to_the_signed_root_stops_the_log(
    node, city, caplog
):
    account = personal_account(city)
    size = node.reader.size()
    with node.log.transaction(commit=True) as cursor:  # one bucket's hash, changed on disk
        cursor.execute(
            node.log.sql(
                f"UPDATE {node.log.table('map_buckets')} SET hash = ?"
                f" WHERE bucket = (SELECT MIN(bucket) FROM {node.log.table('map_buckets')})"
            ),
            [bytes(32)],
        )
    integrator = node.integrator()
    integrator.map.forget()  # as after a restart: the top is read from storage
    data = {"behaviour": "online_transfer", "count": 1, "on": DAY, "ref": "tampered-map"}
    node.ledger.submit(signed(bank_key(city, account), account, "GreenBehaviourRecorded", data))
    with pytest.raises(IntegrityFault, match=f"signed at size {size}"):
        integrator.step()
    assert node.reader.size() == size  # nothing integrated, no checkpoint or map head signed
    assert map_head(node.log.select, size + 1) is None
    with caplog.at_level(logging.CRITICAL), pytest.raises(IntegrityFault):
        node.run_integrator(threading.Event())  # as `integrate` runs it: it stops, and says so
    assert "integration stops: the account map's stored buckets" in caplog.text


def test_a_step_that_read_a_size_another_integrator_moved_past_is_dropped_not_a_fault(node, city):
    size = node.reader.size()
    behaviour(node, city, personal_account(city), "moved-on")  # as another integrator would
    node.map_keeper.forget()
    signer = node.ledger_keys.current()
    with pytest.raises(LogMoved, match=f"at size {size + 1}, not {size}"):
        node.map_keeper.advance([], Checkpoint(node.origin, size, bytes(32)), None, signer)


def verify(node: Node, bundle: dict) -> Audit:
    audit = Audit(node.ledger_key.verifier)
    audit.run(bundle_from_object(bundle))
    return audit


def failure(node: Node, bundle: dict) -> Failure:
    with pytest.raises(Failure) as caught:
        verify(node, bundle)
    return caught.value


def test_a_statement_proves_it_is_current_and_a_stale_one_is_caught(node, city):
    account = personal_account(city)
    old = statement_bundle(node, account)
    report = verify(node, old).report
    proven = sorted([account, *SYSTEM_ACCOUNTS])  # and the system accounts' histories whole
    assert report.current == {"size": node.reader.size(), "accounts": proven}

    behaviour(node, city, account, "spent-since")  # the account moves on
    new = statement_bundle(node, account)
    assert verify(node, new).report.current["size"] == node.reader.size()

    # the old statement shown with the newest map proof (what an exchange fetches to check
    # that a balance is current): the map holds a newer head, so the statement is stale
    first, second = verify(node, old).report.tree_size, node.reader.size()
    stale = copy.deepcopy(old)
    stale["map"] = new["map"]
    hashes = [h.hex() for h in node.reader.consistency(first, second)]
    stale["consistency"] = [{"first": first, "second": second, "hashes": hashes}]
    caught = failure(node, stale)
    assert (caught.check, caught.field) == ("current", "head")


def test_a_statement_shows_the_system_accounts_histories_whole(node, city, monkeypatch):
    account = personal_account(city)
    cosigned = node.reader.checkpoint()
    register(node, "bank.later", ["bank"])  # sys:keys moves on past the statement's checkpoint
    integrate_all(node)
    # witnesses have cosigned only the older checkpoint: the statement is made at it, the
    # map proofs at the newest, and sys:keys' next entry shows its history below is whole
    monkeypatch.setattr(node.reader, "checkpoint", lambda covering=0, latest=None: cosigned)
    served = statement_bundle(node, account)
    monkeypatch.undo()
    after = served["reference_next"]["sys:keys"]
    assert after["index"] >= cosigned[0] and list(served["reference_next"]) == ["sys:keys"]
    report = verify(node, served).report
    assert (report.tree_size, report.current["size"]) == (cosigned[0], node.reader.size())
    without = {k: v for k, v in served.items() if k != "reference_next"}
    caught = failure(node, without)  # the map's sys:keys is newer than the chain shown
    assert (caught.check, caught.where, caught.field) == (
        "current",
        "successor of sys:keys",
        "reference_next",
    )
    # a history cut short (its last key registration left out) cannot pass that entry off
    # as coming later: it is below the statement's size
    honest = statement_bundle(node, account)
    last = max(
        (i for i in honest["entries"] if entry_of(i)["account"] == "sys:keys"),
        key=lambda item: item["index"],
    )
    cut = copy.deepcopy(honest)
    cut["entries"] = [item for item in cut["entries"] if item["index"] != last["index"]]
    assert failure(node, cut).where == "successor of sys:keys"
    cut["reference_next"] = {"sys:keys": last | {"inclusion": honest_inclusion(node, last)}}
    caught = failure(node, cut)
    assert (caught.check, caught.field) == ("current", "index")


def test_every_partial_bundle_shows_the_system_accounts_histories_whole(node, city):
    enterprise = next(op.account for op in city.operations if op.account.startswith("ind:"))
    period = next(
        op.data["period"]
        for op in city.operations
        if op.account == enterprise and op.type == "OutputValueReported"
    )
    Projector(node.store).catch_up()  # the benchmark is read from the read models
    person = personal_account(city)
    for bundle, current in (
        (period_statement(node, person, period, history=True), [person]),  # its currency too
        (evidence_bundle(node, Views(node.store), enterprise, period, lambda _: True), []),
    ):
        proven = verify(node, bundle).report.current["accounts"]
        assert proven == sorted([*current, *SYSTEM_ACCOUNTS])
        without_account = copy.deepcopy(bundle)  # only the system accounts' proofs left
        for account in current:
            del without_account["map"]["proofs"][account]
        bare = {k: v for k, v in bundle.items() if k != "map"}
        for cut in (bare, without_account) if current else (bare,):
            caught = failure(node, cut)
            expected = ("current", current) if current else ("references", list(SYSTEM_ACCOUNTS))
            assert (caught.check, caught.field, caught.found) == (expected[0], "map", expected[1])
        if current:  # the system accounts' proofs are required on their own too
            only_account = copy.deepcopy(bundle)
            for account in SYSTEM_ACCOUNTS:
                del only_account["map"]["proofs"][account]
            caught = failure(node, only_account)
            assert (caught.check, caught.found) == ("references", list(SYSTEM_ACCOUNTS))


def entry_of(item: dict) -> dict:
    return json.loads(base64.b64decode(item["entry"]))


def honest_inclusion(node: Node, item: dict) -> list[str]:
    _, proof = node.reader.inclusion(item["index"], node.reader.size())
    return [h.hex() for h in proof]


def test_map_proofs_in_a_statement_are_checked(node, city):
    account = personal_account(city)
    honest = statement_bundle(node, account)
    missing = {k: v for k, v in honest.items() if k != "map"}
    assert (failure(node, missing).check, failure(node, missing).field) == ("current", "map")

    flipped = copy.deepcopy(honest)
    sibling = flipped["map"]["proofs"][account]["siblings"][0]
    flipped["map"]["proofs"][account]["siblings"][0] = (
        "1" if sibling[0] == "0" else "0"
    ) + sibling[1:]
    assert failure(node, flipped).check == "map proof"

    another = copy.deepcopy(honest)
    head = open_map_head(honest["map"]["head"], node.ledger_key.verifier, node.origin)
    another["map"]["head"] = sign_map_head(head, generate_signer(node.ledger_key.name))
    assert failure(node, another).check == "map head"

    elsewhere = copy.deepcopy(honest)  # a proof for another account does not stand for this one
    other = next(
        op.account
        for op in city.operations
        if op.account.startswith("per:") and op.account != account
    )
    elsewhere["map"]["proofs"] = {account: node.map_reader.prove([other]).proofs[other].to_json()}
    assert failure(node, elsewhere).check in {"map proof", "current"}


def test_an_export_s_every_map_root_is_recomputed(node, city):
    exported = [json.loads(line) for line in export_lines(node)]
    heads = [line for line in exported if "map" in line]
    report = verify(node, {**exported[0], "entries": exported[1:]}).report
    assert report.map_roots == len(heads) > 1

    # the ledger signing a map root that is not the map of the log (an account's head
    # left at an older entry): caught at that map head
    lying = copy.deepcopy(exported)
    number = next(i for i, line in enumerate(lying) if "map" in line and i > len(lying) // 2)
    head = open_map_head(lying[number]["map"], node.ledger_key.verifier, node.origin)
    lying[number]["map"] = sign_map_head(MapHead(bytes(32), head.checkpoint), node.ledger_key)
    caught = failure(node, {**lying[0], "entries": lying[1:]})
    assert (caught.check, caught.field) == ("account map", "root")

    dropped = [line for line in exported if line is not heads[-1]]  # the last one left out
    caught = failure(node, {**dropped[0], "entries": dropped[1:]})
    assert (caught.check, caught.field) == ("account map", "map")


def test_map_proof_json_round_trips_through_a_bundle(node, city):
    account = personal_account(city)
    proof = node.map_reader.prove([account]).proofs[account]
    assert isinstance(proof, MapProof)
    assert json.loads(json.dumps(proof.to_json())) == proof.to_json()
    assert export_object(node)["entries"][-1].keys() == {"map"}
