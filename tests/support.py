"""Helpers for tests: signed submissions, registered keys, log checks."""

import base64
import itertools
import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from client.verifier.audit import Audit, Report
from client.verifier.bundle import bundle_from_object
from crypto.checkpoint import open_checkpoint
from crypto.keys import Signer, generate_signer
from crypto.merkle import verify_inclusion
from crypto.pseudonym import person_pseudonym
from crypto.records import signed_submission as submission
from ledger.account import ENTRY_TOPICS
from ledger.bundles import export_lines
from ledger.log.witnessing import Witness
from ledger.node import Node, open_node
from ledger.settings import Settings
from tools.demo import DemoPlan, grade_all, load, make_plan
from tools.init import initialise

_ids = itertools.count()


def open_at(data_dir: Path, storage: dict[str, str], witnesses: Sequence[Witness] = ()) -> Node:
    """A node on an existing ledger, as another process opens it."""
    return open_node(Settings.build(data_dir, storage, witnesses))


def accounts_with(node: Node, prefix: str) -> list[str]:
    """Ids of the accounts with integrated entries whose id starts with `prefix`, from the
    log's leaves (the log's own listing leaves personal accounts out)."""
    leaves = node.log.leaves(0, node.reader.size())
    return sorted({leaf.account for leaf in leaves if leaf.account.startswith(prefix)})


def new_node(data_dir: Path, storage: dict[str, str], witnesses: Sequence[Witness] = ()) -> Node:
    """A node on a ledger initialised first, as `carbon-ledger init` does (if it is new)."""
    settings = Settings.build(data_dir, storage, witnesses)
    initialise(settings)
    return open_node(settings)


PID_SECRET = b"carbon-ledger tests: banks' shared pseudonym secret"


def pid(name: str) -> str:
    """The pseudonym a bank would send for the person `name` (as `carbon-ledger pid` makes)."""
    return person_pseudonym(PID_SECRET, name)


def signed(
    signer: Signer,
    account: str,
    type_: str,
    data: dict[str, Any],
    *,
    id_: str | None = None,
    at: str | None = None,
) -> dict[str, Any]:
    """A wire submission signed by `signer`, built as the client builds one."""
    return submission(signer, account, type_, data, id=id_ or f"t-{next(_ids)}", at=at)


def register(node: Node, name: str, roles: list[str]) -> Signer:
    """A new key, registered by the node's admin key."""
    signer = generate_signer(name)
    node.ledger.submit(
        signed(
            node.admin_key,
            "sys:keys",
            "KeyRegistered",
            {"vkey": signer.verifier.text, "roles": roles},
        )
    )
    return signer


def integrate_all(node: Node) -> None:
    integrator = node.integrator()
    integrator.ensure_checkpoint()
    while integrator.step():
        pass


def entry_of(receipt_json: dict[str, Any]) -> dict[str, Any]:
    return json.loads(base64.b64decode(receipt_json["entry"]))


def check_log(node: Node) -> list[dict[str, Any]]:
    """Assert the whole log holds: dense indices, chains, proofs against the checkpoint."""
    size, note = node.reader.checkpoint()
    checkpoint, _ = open_checkpoint(note, node.ledger_key.verifier)
    assert checkpoint.size == size
    leaves = node.log.leaves(0, size)
    assert [leaf.index for leaf in leaves] == list(range(size))
    heads: dict[str, str] = {}
    entries = []
    for leaf in leaves:
        entry = json.loads(leaf.entry)
        assert entry["account"] == leaf.account and entry["seq"] == leaf.seq
        assert entry["prev"] == heads.get(leaf.account, ""), f"chain broken at {leaf.index}"
        assert entry["seq"] == (0 if entry["prev"] == "" else entry["seq"])
        heads[leaf.account] = leaf.leaf_hash.hex()
        _, proof = node.reader.inclusion(leaf.index, size)
        verify_inclusion(leaf.index, size, leaf.leaf_hash, proof, checkpoint.root_hash)
        entries.append(entry)
    seqs: dict[str, list[int]] = {}
    for entry in entries:
        seqs.setdefault(entry["account"], []).append(entry["seq"])
    for account, numbers in seqs.items():
        assert numbers == list(range(len(numbers))), f"{account} seqs {numbers}"
    return entries


def export_object(node: Node) -> dict[str, Any]:
    """The whole log as one bundle object, as `carbon-ledger export --all` writes it, but
    with the entries at their indexes in `entries` and only the last map head, after them."""
    header, *lines = [json.loads(line) for line in export_lines(node)]
    heads = [line for line in lines if "map" in line]
    return {**header, "entries": [line for line in lines if "map" not in line] + heads[-1:]}


def audit_log(node: Node) -> Report:
    """The offline verifier's report on the whole log (Failure if any check fails)."""
    return Audit(node.ledger_key.verifier).run(bundle_from_object(export_object(node)))


def load_city(node: Node, seed: int, **sizes: int) -> DemoPlan:
    """The demo city of `sizes` planned from `seed`, loaded without a refusal, then graded."""
    plan = make_plan(seed=seed, **sizes)
    assert load(node, plan, seed=seed, progress=False) == []
    grade_all(node)
    return plan


def settle(node: Node, timeout: float = 5.0) -> None:
    """Wait until a running integrator has integrated every entry appended so far."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        position = node.log.max_tracking_id(node.store.name) or 0
        pending = node.store.recorder.select_notifications(
            start=position + 1, limit=1, topics=ENTRY_TOPICS
        )
        if not pending:
            return
        time.sleep(0.02)
    raise TimeoutError("the integrator did not catch up")


SEED_ENTRIES = 8  # genesis, authority and grader keys, three factor tables, two methods
SEED_KEYS = 3  # entries on sys:keys after seeding
