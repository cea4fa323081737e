"""Ledger key rotation (both backends): the checkpoint that integrates a LedgerKeyRotated is
signed by the old key and the new, later ones by the new alone, and every verifier that
trusts the old key follows it: the offline audit of an export (whole and incremental),
statement bundles, the client and a witness; a link that does not hold is caught."""

import base64
import copy
import json
from pathlib import Path

import msgspec
import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from client.ledger_client import LedgerClient
from client.verifier.audit import Audit
from client.verifier.bundle import bundle_from_object, load_bundle
from client.verifier.failure import Failure
from client.verifier.state import SavedState, StateError, save_state
from crypto.checkpoint import (
    Checkpoint,
    CheckpointError,
    checkpoint_of,
    open_checkpoint,
    parse_checkpoint,
    sign_checkpoint,
)
from crypto.cosignature import generate_cosigner
from crypto.key_history import KeyHistory, RotationError
from crypto.keys import Signer, generate_signer
from crypto.map_head import open_map_head
from crypto.merkle import prove_consistency
from crypto.note import add_signatures, sign_note, split_note
from crypto.policy import Policy
from crypto.witness_protocol import format_add_checkpoint
from ledger.bundles import statement_bundle, write_export
from ledger.errors import Conflict, Forbidden, Invalid
from ledger.keyfiles import write_new_key
from ledger.log.reader import cosignature_count
from ledger.node import Node
from ledger.storage.map_tables import map_head
from tests.files import run_cli
from tests.support import export_object, integrate_all, open_at, pid, register, signed
from tools.witness import create_witness_app
from tools.witness_state import WitnessState

DAY = "2026-11-20"
WITNESS = generate_cosigner("witness.rotation")


def place_key(node: Node, name: str = "ledger-2.key") -> Signer:
    """A new ledger key in the node's keys directory, as an operator places it."""
    new = generate_signer(node.origin)
    write_new_key(node.settings.keys_dir / name, new)
    return new


def rotate(node: Node, new: Signer) -> None:
    data = {"vkey": new.verifier.text}
    node.ledger.submit(signed(node.admin_key, "sys:keys", "LedgerKeyRotated", data))


def customer(node: Node, bank: Signer, name: str, behaviours: int = 2) -> str:
    account = f"per:abc:{pid(name)}"
    node.ledger.submit(signed(bank, account, "AccountOpened", {}))
    for number in range(behaviours):
        data = {"behaviour": "online_transfer", "count": 1, "on": DAY, "ref": f"{name}{number}"}
        node.ledger.submit(signed(bank, account, "GreenBehaviourRecorded", data))
    return account


@pytest.fixture
def rotated(node: Node) -> tuple[Signer, Signer, int, str]:
    """A log rotated once, with entries before and after in the same integration step:
    (old key, new key, the rotation's index, an account with entries on both sides)."""
    bank = register(node, "bank.abc", ["bank"])
    account = customer(node, bank, "before")
    integrate_all(node)
    new = place_key(node)
    rotate(node, new)
    customer(node, bank, "after")
    node.ledger.submit(
        signed(bank, account, "GreenBehaviourRecorded", {"behaviour": "online_transfer",
               "count": 1, "on": DAY, "ref": "late"})
    )  # fmt: skip
    integrate_all(node)
    [(index, vkey)] = node.ledger_keys.rotations(node.reader.size())
    assert vkey == new.verifier.text
    return node.ledger_key, new, index, account


def test_a_rotation_to_a_key_no_node_holds_is_refused(node: Node):
    stranger = generate_signer(node.origin)
    with pytest.raises(Invalid) as refused:
        rotate(node, stranger)
    assert refused.value.field == "submission.data.vkey" and "ledger-*.key" in refused.value.detail
    with pytest.raises(Invalid) as bad:
        node.ledger.submit(signed(node.admin_key, "sys:keys", "LedgerKeyRotated", {"vkey": "x"}))
    assert bad.value.field == "submission.data.vkey"
    with pytest.raises(Conflict):  # the first key: verifiers would not see it come back
        rotate(node, node.ledger_key)
    new = place_key(node)  # placed after the node started: the ring is read again
    rotate(node, new)
    with pytest.raises(Conflict):
        rotate(node, new)
    bank = register(node, "bank.abc", ["bank"])
    with pytest.raises(Forbidden):
        node.ledger.submit(signed(bank, "sys:keys", "LedgerKeyRotated", {"vkey": "y"}))


def test_the_rotation_checkpoint_is_signed_by_both_keys_and_later_ones_by_the_new(
    node: Node, rotated
):
    old, new, index, _ = rotated
    size, note = node.log.checkpoint_covering(index + 1)
    assert size == index + 1  # the rotation ends its integration step
    open_checkpoint(note, old.verifier)
    open_checkpoint(note, new.verifier)
    before = node.log.checkpoint_covering(index)
    assert before is not None and before[0] <= index
    open_checkpoint(before[1], old.verifier)
    with pytest.raises(CheckpointError):
        open_checkpoint(before[1], new.verifier)
    latest_size, latest = node.log.latest_checkpoint()
    assert latest_size > size
    open_checkpoint(latest, new.verifier)
    with pytest.raises(CheckpointError):
        open_checkpoint(latest, old.verifier)
    head = map_head(node.log.select, latest_size)
    assert head is not None
    open_map_head(head, new.verifier, node.origin)
    assert node.ledger_keys.signer(latest_size).verifier == new.verifier


def test_an_export_audited_from_the_old_key_follows_the_rotation(node: Node, rotated):
    old, new, index, _ = rotated
    bundle = export_object(node)
    [link] = bundle["ledger_keys"]
    assert link["index"] == index
    report = Audit(old.verifier).run(bundle_from_object(copy.deepcopy(bundle)))
    assert report.key_rotations == 1 and report.tree_size == node.reader.size()
    policy = Policy.every(old.verifier, [])  # a tlog-policy naming the first key
    Audit(old.verifier, policy=policy).run(bundle_from_object(copy.deepcopy(bundle)))

    missing = copy.deepcopy(bundle)
    del missing["ledger_keys"]
    with pytest.raises(Failure) as failure:
        Audit(old.verifier).run(bundle_from_object(missing))
    assert failure.value.check == "checkpoint signature"

    # only the new key signed it: the old key never vouched for the new one
    forged = copy.deepcopy(bundle)
    body = split_note(link["checkpoint"])[0]
    forged["ledger_keys"][0]["checkpoint"] = sign_note(body, new)
    with pytest.raises(Failure) as failure:
        Audit(old.verifier).run(bundle_from_object(forged))
    assert failure.value.check == "key rotation"

    # an attacker's key, its link signed by the attacker and a stolen old signature: no
    impostor = generate_signer(node.origin)
    entry = json.loads(base64.b64decode(link["entry"]))
    entry["submission"]["data"]["vkey"] = impostor.verifier.text
    swapped = copy.deepcopy(bundle)
    swapped["ledger_keys"][0]["entry"] = base64.b64encode(json.dumps(entry).encode()).decode()
    with pytest.raises(Failure) as failure:
        Audit(old.verifier).run(bundle_from_object(swapped))
    assert failure.value.check == "key rotation"


def test_a_statement_after_the_rotation_verifies_from_the_old_key(node: Node, rotated):
    old, _, _, account = rotated
    bundle = statement_bundle(node, account)
    checkpoint = parse_checkpoint(split_note(bundle["checkpoints"][0])[0])
    assert checkpoint.size == node.reader.size()
    report = Audit(old.verifier).run(bundle_from_object(copy.deepcopy(bundle)))
    assert report.statement is not None and report.current is not None
    body = split_note(bundle["statement"])[0]
    by_old = copy.deepcopy(bundle)
    by_old["statement"] = sign_note(body, old)  # the old key no longer speaks for this size
    with pytest.raises(Failure):
        Audit(old.verifier).run(bundle_from_object(by_old))


def test_an_incremental_audit_across_the_rotation(node: Node, tmp_path: Path):
    bank = register(node, "bank.abc", ["bank"])
    customer(node, bank, "first")
    integrate_all(node)
    old = node.ledger_key.verifier
    whole = tmp_path / "all.jsonl"
    with whole.open("w") as out:
        write_export(node, out)
    state = tmp_path / "audit.state"
    first = Audit(old)
    first.run(load_bundle(whole))
    save_state(state, first.header(node.origin), first.records())
    size = node.reader.size()
    new = place_key(node)
    rotate(node, new)
    customer(node, bank, "second")
    integrate_all(node)
    since = tmp_path / "since.jsonl"
    with since.open("w") as out:
        write_export(node, out, since=size)
    resumed = Audit(old)
    resumed.resume(state)
    report = resumed.run(load_bundle(since))
    assert report.key_rotations == 1
    # the state it leaves starts from the new key: the next day's audit needs no link
    save_state(state, resumed.header(node.origin), resumed.records(), since=state)
    later = node.reader.size()
    customer(node, bank, "third")
    integrate_all(node)
    with since.open("w") as out:
        write_export(node, out, since=later)
    third = Audit(old)
    third.resume(state)
    assert third.run(load_bundle(since)).key_rotations == 0
    # the state's key is reached again from the log key by the links it keeps, never taken
    # on its word: neither a key of the same name put in its place nor a state without links
    good = SavedState(state).header
    assert good.current_key == new.verifier.text and len(good.key_links) == 1
    impostor = generate_signer(old.name)
    checkpoint = checkpoint_of(good.checkpoint)
    for forged in (
        msgspec.structs.replace(good, key_links=[]),
        msgspec.structs.replace(
            good,
            current_key=impostor.verifier.text,
            key_links=[],
            checkpoint=sign_checkpoint(checkpoint, impostor),
        ),
    ):
        save_state(state, forged, [], since=state)
        with pytest.raises(StateError, match="is not where its rotation links lead"):
            Audit(old).resume(state)


def test_the_client_follows_the_rotation(node: Node, server, tmp_path: Path):
    old = node.ledger_key.verifier
    bank = register(node, "bank.abc", ["bank"])
    token = node.tokens.create("bank:abc")[1]
    client = LedgerClient(
        "http://testserver", log_key=old, transport=server, backoff=0, token=token
    )
    account = f"per:abc:{pid('client')}"
    client.submit(signed(bank, account, "AccountOpened", {}), wait=True)
    new = place_key(node)
    rotation = {"vkey": new.verifier.text}
    client.submit(signed(node.admin_key, "sys:keys", "LedgerKeyRotated", rotation), wait=True)
    data = {"behaviour": "online_transfer", "count": 1, "on": DAY, "ref": "c1"}
    receipt = client.submit(signed(bank, account, "GreenBehaviourRecorded", data), wait=True)
    assert receipt.index is not None
    keys = client.keys
    assert keys.current == new.verifier and len(keys.rotations) == 1
    assert client.statement(account).points >= 0


def test_a_witness_given_both_keys_cosigns_across_the_rotation(node: Node, rotated, tmp_path):
    old, new, index, _ = rotated
    state = WitnessState(tmp_path / "w.json", WITNESS, [old.verifier, new.verifier])
    witness = TestClient(create_witness_app(state))

    def post(old_size: int, note: str) -> int:
        proof = prove_consistency(old_size, parse_checkpoint(split_note(note)[0]).size, node.log)
        body = format_add_checkpoint(old_size, proof if old_size else [], note)
        return witness.post("/add-checkpoint", content=body).status_code

    before_size, before = node.log.checkpoint_covering(index)
    assert post(0, before) == 200
    size, note = node.log.checkpoint_covering(index + 1)
    body = parse_checkpoint(split_note(note)[0])
    assert post(before_size, sign_checkpoint(body, new)) == 403  # the new key alone, too soon
    assert post(before_size, note) == 200  # both keys: the new one takes over
    _, latest = node.log.latest_checkpoint()
    stolen = sign_checkpoint(parse_checkpoint(split_note(latest)[0]), old)
    assert post(size, stolen) == 403  # the old key alone, too late
    assert post(size, latest) == 200
    only_old = WitnessState(tmp_path / "o.json", WITNESS, [old.verifier])
    refused = TestClient(create_witness_app(only_old)).post(
        "/add-checkpoint", content=format_add_checkpoint(0, [], latest)
    )
    assert refused.status_code == 403


def test_key_history_links_refuse_what_does_not_hold(node: Node, rotated):
    old, new, index, _ = rotated
    [link] = node.ledger_keys.links(node.reader.size())
    history = KeyHistory.trusting(old.verifier).follow(link)
    assert history.at(index) == old.verifier and history.at(index + 1) == new.verifier
    assert history.follow(link) is history  # followed already
    for change in (
        {"index": index + 1},
        {"index": -1},
        {"inclusion": link["inclusion"][1:]},
        {"entry": "not base64!"},
        {"checkpoint": sign_checkpoint(parse_checkpoint(split_note(link["checkpoint"])[0]), old)},
    ):
        with pytest.raises(RotationError):
            KeyHistory.trusting(old.verifier).follow(link | change)
    with pytest.raises(RotationError):
        KeyHistory.trusting(generate_signer(node.origin).verifier).follow(link)


def test_two_rotations_are_followed_in_order(node: Node, rotated):
    old, second, _, account = rotated
    third = place_key(node, "ledger-3.key")
    rotate(node, third)
    data = {"behaviour": "online_transfer", "count": 1, "on": DAY, "ref": "third"}
    bank = register(node, "bank.def", ["bank"])
    node.ledger.submit(signed(bank, f"per:def:{pid('third')}", "AccountOpened", {}))
    node.ledger.submit(signed(bank, f"per:def:{pid('third')}", "GreenBehaviourRecorded", data))
    integrate_all(node)
    with pytest.raises(Conflict):  # a key the ledger had before
        rotate(node, second)
    bundle = export_object(node)
    assert len(bundle["ledger_keys"]) == 2
    report = Audit(old.verifier).run(bundle_from_object(copy.deepcopy(bundle)))
    assert report.key_rotations == 2
    latest = node.log.latest_checkpoint()
    assert latest is not None
    open_checkpoint(latest[1], third.verifier)
    swapped = copy.deepcopy(bundle)
    swapped["ledger_keys"].reverse()
    with pytest.raises(Failure) as failure:
        Audit(old.verifier).run(bundle_from_object(swapped))
    assert failure.value.check == "key rotation"
    first_only = copy.deepcopy(bundle)
    del first_only["ledger_keys"][1]
    with pytest.raises(Failure):
        Audit(old.verifier).run(bundle_from_object(first_only))
    statement = statement_bundle(node, account)
    assert len(statement["ledger_keys"]) == 2
    assert Audit(old.verifier).run(bundle_from_object(statement)).statement is not None


def test_the_cli_audits_across_the_rotation_on_two_workers(node: Node, rotated, tmp_path: Path):
    old, _, _, _ = rotated
    path = tmp_path / "all.jsonl"
    with path.open("w") as out:
        write_export(node, out)
    result = run_cli(
        "verify", str(path), "--log-key", old.verifier.text, "--workers", "2", text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 key rotations followed" in result.stdout
    stripped = tmp_path / "stripped.jsonl"
    lines = path.read_text().splitlines()
    header = json.loads(lines[0])
    del header["ledger_keys"]
    stripped.write_text("\n".join([json.dumps(header), *lines[1:]]) + "\n")
    refused = run_cli("verify", str(stripped), "--log-key", old.verifier.text, text=True)
    assert refused.returncode == 1 and "checkpoint signature" in refused.stdout


def test_a_node_without_the_new_key_says_so(node: Node, rotated, data_dir: Path, storage):
    (node.settings.keys_dir / "ledger-2.key").unlink()
    other = open_at(data_dir, storage)  # another process, its keys directory lacking it
    try:
        with TestClient(create_app(other)) as client:
            ready = client.get("/readyz")
            assert ready.status_code == 503
            assert any("ledger-*.key" in reason for reason in ready.json()["reasons"])
            key = client.get("/v1/log/key")
            assert key.status_code == 503 and key.headers["retry-after"]
            assert "ledger.key" in key.json()["detail"]
    finally:
        other.close()


def test_a_rotation_checkpoints_second_ledger_line_is_no_cosignature(node: Node):
    checkpoint = Checkpoint(node.origin, 1, bytes(32))
    both = sign_checkpoint(checkpoint, node.ledger_key, generate_signer(node.origin))
    assert cosignature_count(both) == 0
    assert cosignature_count(add_signatures(both, generate_signer("witness.one"))) == 1
