"""The console's in-browser verifier (api/static/verify.js) on real documents, both backends.

A real node answers a receipt (POST /v1/submissions?wait=true), a grade statement, a period
statement and checkpoints; from them this test writes honest documents, a tlog-proof, and
tampered variants (an entry byte changed, a forged receipt signature, a checkpoint signed by
another key, a rolled-back or forked checkpoint, a bad inclusion hash, ...) as JSON fixtures,
then runs tests/js/verify.test.mjs with node's test runner over them: every honest document
must verify and every tampered one must fail naming the expected check. The JS test writes
what verifyDocument answered to results.json, which is checked here too.
"""

import base64
import copy
import hashlib
import json
import os
import re
import shutil
import subprocess
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from crypto.canonical import canonical_json
from crypto.checkpoint import Checkpoint, open_checkpoint, sign_checkpoint
from crypto.grade_statement import parse_grade_statement
from crypto.keys import generate_signer
from crypto.map_head import MapHead, parse_map_head, sign_map_head
from crypto.merkle import MemoryHashStore, MerkleTree, prove_consistency
from crypto.note import sign_note, split_note
from crypto.records import receipt_message, receipt_promise
from ledger.bundles import grade_statement, period_statement
from ledger.keyfiles import write_new_key
from ledger.log.ledger_keys import CURRENT_FOR
from ledger.node import Node
from tests.conftest import IN_CI
from tests.support import integrate_all, load_city, pid, register, signed
from tools.demo import demo_signer

ROOT = Path(__file__).resolve().parent.parent
JS_TEST = ROOT / "tests" / "js" / "verify.test.mjs"
FIXTURES_ENV = "CARBON_LEDGER_VERIFIER_FIXTURES"
NODE_MAJOR = 20
PERIOD = "2026-Q3"

Case = dict[str, Any]


@pytest.fixture
def node_js() -> str:
    """The node binary (Node.js 20 or later): missing fails under CI=true, else skips."""
    found = shutil.which("node")
    version = ""
    if found is not None:
        run = subprocess.run([found, "--version"], capture_output=True, text=True, timeout=30)
        version = run.stdout.strip()
    major = re.match(r"v(\d+)\.", version)
    if found is None or major is None or int(major.group(1)) < NODE_MAJOR:
        found_text = version or "no node on PATH"
        reason = f"Node.js {NODE_MAJOR}+ is needed for the browser verifier's tests ({found_text})"
        if IN_CI:
            pytest.fail(f"{reason} and CI=true")
        pytest.skip(reason)
    return found


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def flip_hex(text: str) -> str:
    """A hex hash with its first digit changed."""
    return ("0" if text[0] != "0" else "1") + text[1:]


def note_text(note: str) -> str:
    return split_note(note)[0]


def checkpoint_of(node: Node, note: str) -> Checkpoint:
    return open_checkpoint(note, node.ledger_key.verifier)[0]


def remembered(checkpoint: Checkpoint) -> dict[str, Any]:
    return {"size": checkpoint.size, "rootHash": checkpoint.root_hash.hex()}


def with_entry_byte_changed(entry64: str) -> str:
    """The entry with one byte changed: a digit of its recorded_at time."""
    entry = bytearray(base64.b64decode(entry64))
    at = entry.index(b'"recorded_at":"') + len(b'"recorded_at":"') + 3
    entry[at] = ord("0") if entry[at] != ord("0") else ord("1")
    return b64(bytes(entry))


def tlog_proof(index: int, hashes: list[str], note: str, extra: bytes | None) -> str:
    """A c2sp.org/tlog-proof@v1 file: header, optional extra, index, proof lines, checkpoint."""
    lines = ["c2sp.org/tlog-proof@v1"]
    if extra is not None:
        lines.append(f"extra {b64(extra)}")
    lines.append(f"index {index}")
    lines += [b64(bytes.fromhex(h)) for h in hashes]
    return "\n".join(lines) + "\n\n" + note


class Documents:
    """Real documents from one node, and the cases made of them."""

    def __init__(self, node: Node) -> None:
        self.node = node
        self.log_key = node.ledger_key.verifier.text
        plan = load_city(node, 3, banks=1, persons=2, enterprises=2, farms=1)
        self.enterprise = next(op.account for op in plan.operations if op.account[:4] == "ind:")
        self.farm = next(op.account for op in plan.operations if op.type == "ReductionRetired")
        bank = register(node, "bank.console", ["bank"])
        integrate_all(node)
        self.old = checkpoint_of(node, node.reader.checkpoint()[1])  # the page saw this one
        self.account = f"per:console:{pid('c1')}"
        with TestClient(create_app(node, node.run_integrator)) as http:
            answer = http.post(
                "/v1/submissions?wait=true", json=signed(bank, self.account, "AccountOpened", {})
            )
            pending = http.post(
                "/v1/submissions",
                json=signed(bank, f"per:console:{pid('c2')}", "AccountOpened", {}),
            )
        assert answer.status_code == 201 and answer.json()["inclusion"], answer.text
        assert pending.status_code == 201 and pending.json()["index"] is None, pending.text
        self.receipt: dict[str, Any] = answer.json()
        self.pending: dict[str, Any] = pending.json()
        node.ledger.submit(signed(bank, f"per:console:{pid('c3')}", "AccountOpened", {}))
        integrate_all(node)
        self.mid = checkpoint_of(node, self.receipt["checkpoint"])
        self.latest_note = node.reader.checkpoint()[1]
        self.latest = checkpoint_of(node, self.latest_note)
        assert self.old.size < self.mid.size < self.latest.size
        self.grade = grade_statement(node, self.enterprise, PERIOD)
        self.period = period_statement(node, self.farm, PERIOD)
        self.cases: list[Case] = []
        self.later_sizes: set[int] = set()  # of checkpoints the cases made later

    def proofs(self) -> dict[str, list[str]]:
        """Every consistency proof among the checkpoints the cases hold, as the API has them."""
        sizes = sorted({self.old.size, self.mid.size, self.latest.size, *self.later_sizes})
        return {
            f"{m} {n}": [h.hex() for h in self.node.reader.consistency(m, n)]
            for m in sizes
            for n in sizes
            if m < n
        }

    def add(self, name: str, document: Any, expect: dict[str, Any], **options: Any) -> None:
        """A case: `document` (JSON-encoded unless text), verified with the log key, the
        old checkpoint remembered and proofs fetchable unless `options` say otherwise."""
        text = document if isinstance(document, str) else json.dumps(document)
        fetch = options.pop("fetch", True)
        settings = {"logKey": self.log_key, "lastCheckpoint": remembered(self.old), **options}
        settings = {key: value for key, value in settings.items() if value is not None}
        self.cases.append(
            {"name": name, "document": text, "options": settings, "fetch": fetch, "expect": expect}
        )

    def honest(self) -> None:
        receipt, old, mid, latest = self.receipt, self.old, self.mid, self.latest
        facts = {
            "account": self.account,
            "seq": 0,
            "leafHash": receipt["leaf_hash"],
            "index": receipt["index"],
            "checkpointSize": mid.size,
            "type": "AccountOpened",
            "consistentWith": old.size,
        }
        self.add("receipt", receipt, {"ok": True, "kind": "receipt", "facts": facts})
        unseen = {**facts, "consistentWith": None}
        self.add("receipt, nothing remembered", receipt, ok("receipt", unseen), lastCheckpoint=None)
        self.add(
            "receipt, its own checkpoint remembered (root in base64, size as text)",
            receipt,
            ok("receipt", {"consistentWith": mid.size}),
            lastCheckpoint={"size": str(mid.size), "rootHash": b64(mid.root_hash)},
        )
        self.add(
            "receipt on an older tree than remembered, allowed and proven",
            receipt,
            ok("receipt", {"consistentWith": latest.size}),
            lastCheckpoint=remembered(latest),
            allowOlder=True,
        )
        self.add(
            "receipt pasted with spaces around",
            "\n  " + json.dumps(receipt, indent=2) + "\n\n",
            ok("receipt", {"index": receipt["index"]}),
        )
        statement = parse_grade_statement(note_text(self.grade["statement"]))
        self.add(
            "grade statement",
            self.grade,
            ok(
                "grade-statement",
                {
                    "account": self.enterprise,
                    "period": PERIOD,
                    "grade": statement.grade,
                    "method": statement.method,
                    "leafHash": statement.leaf,
                    "index": statement.index,
                    "checkpointSize": latest.size,
                    "consistentWith": old.size,
                },
            ),
        )
        head = self.period["statement"].split("\nhead ")[1].split("\n")[0]
        self.add(
            "period statement",
            self.period,
            ok(
                "period-statement",
                {
                    "account": self.farm,
                    "accountKind": "farm",
                    "period": PERIOD,
                    "head": head,
                    "leafHash": head,
                    "index": self.period["index"],
                    "checkpointSize": latest.size,
                    "currentAsOf": latest.size,
                },
            ),
        )
        entry = base64.b64decode(receipt["entry"])
        proof = tlog_proof(receipt["index"], receipt["inclusion"], receipt["checkpoint"], entry)
        proven = {"account": self.account, "seq": 0, "index": receipt["index"]}
        self.add("tlog-proof with the entry as extra data", proof, ok("tlog-proof", proven))
        self.add(
            "tlog-proof with CRLF line ends",
            proof.replace("\n", "\r\n"),
            ok("tlog-proof", proven),
        )
        bare = tlog_proof(receipt["index"], receipt["inclusion"], receipt["checkpoint"], None)
        self.add(
            "tlog-proof without extra data, the leaf hash given",
            bare,
            ok("tlog-proof", {"leafHash": receipt["leaf_hash"], "index": receipt["index"]}),
            leafHash=receipt["leaf_hash"],
        )
        self.add(
            "checkpoint",
            self.latest_note,
            ok("checkpoint", {"checkpointSize": latest.size, "rootHash": latest.root_hash.hex()}),
        )

    def tampered_receipts(self) -> None:
        receipt, node = self.receipt, self.node
        self.add(
            "receipt: an entry byte changed",
            {**receipt, "entry": with_entry_byte_changed(receipt["entry"])},
            failed("leaf hash"),
        )
        forger = generate_signer(node.origin)  # the log's name, another key
        promise = receipt_promise(
            receipt["account"], receipt["seq"], receipt["leaf_hash"], node.origin
        )
        forged = b64(forger.sign(receipt_message(promise)))
        self.add(
            "receipt: signature forged by another key",
            {**receipt, "signature": forged},
            failed("receipt signature"),
        )
        self.add(
            "receipt: seq changed after signing",
            {**receipt, "seq": receipt["seq"] + 1},
            failed("receipt signature"),
        )
        renumbered = receipt_promise(
            receipt["account"], receipt["seq"] + 1, receipt["leaf_hash"], node.origin
        )
        self.add(
            "receipt: the ledger's signed promise is not the entry's seq",
            {
                **receipt,
                "seq": receipt["seq"] + 1,
                "signature": b64(node.ledger_key.sign(receipt_message(renumbered))),
            },
            failed("entry"),
        )
        self.add(
            "receipt: for another log",
            {**receipt, "log": "elsewhere.example"},
            failed("origin"),
        )
        self.add(
            "receipt: origin asked for is not the log's",
            receipt,
            failed("origin"),
            origin="elsewhere.example",
        )
        mid = self.mid
        self.add(
            "receipt: checkpoint signed by another key",
            {**receipt, "checkpoint": sign_checkpoint(mid, forger)},
            failed("checkpoint signature"),
        )
        elsewhere = Checkpoint("elsewhere.example", mid.size, mid.root_hash)
        self.add(
            "receipt: checkpoint of another origin signed by the log key",
            {**receipt, "checkpoint": sign_checkpoint(elsewhere, node.ledger_key)},
            failed("origin"),
        )
        inclusion = receipt["inclusion"]
        self.add(
            "receipt: a bad inclusion hash",
            {**receipt, "inclusion": [flip_hex(inclusion[0]), *inclusion[1:]]},
            failed("inclusion"),
        )
        self.add(
            "receipt: an inclusion hash that is not hex",
            {**receipt, "inclusion": ["zz" * 32, *inclusion[1:]]},
            failed("inclusion"),
        )
        self.add(
            "receipt: a hash missing from the inclusion proof",
            {**receipt, "inclusion": inclusion[:-1]},
            failed("inclusion"),
        )
        self.add(
            "receipt: another index",
            {**receipt, "index": receipt["index"] - 1},
            failed("inclusion"),
        )
        self.add("receipt: not integrated yet", self.pending, failed("inclusion"))
        self.add(
            "receipt: on a tree older than remembered (rolled back)",
            receipt,
            failed("consistency"),
            lastCheckpoint=remembered(self.latest),
        )
        self.add(
            "receipt: another root at the remembered size (split view)",
            receipt,
            failed("consistency"),
            lastCheckpoint={"size": mid.size, "rootHash": hashlib.sha256(b"fork").hexdigest()},
        )
        self.add(
            "receipt: newer than remembered, but no way to fetch a proof",
            receipt,
            failed("consistency"),
            fetch=False,
        )

    def tampered_statements(self) -> None:
        grade, node = self.grade, self.node
        text = note_text(grade["statement"])
        statement = parse_grade_statement(text)
        other = "dark_green" if statement.grade != "dark_green" else "red"
        entry = json.loads(base64.b64decode(grade["entry"]))
        entry["submission"]["data"]["grade"] = other
        self.add(
            "grade statement: the entry recoloured",
            {**grade, "entry": b64(canonical_json(entry))},
            failed("leaf hash"),
        )
        recoloured = text.replace(f"\ngrade {statement.grade}\n", f"\ngrade {other}\n")
        forger = generate_signer(node.origin)
        self.add(
            "grade statement: recoloured and signed by another key",
            {**grade, "statement": sign_note(recoloured, forger)},
            failed("statement signature"),
        )
        edited = grade["statement"].replace(f"\ngrade {statement.grade}\n", f"\ngrade {other}\n")
        self.add(
            "grade statement: recoloured after signing",
            {**grade, "statement": edited},
            failed("statement signature"),
        )
        self.add(
            "grade statement: the ledger signs a grade its entry does not hold",
            {**grade, "statement": sign_note(recoloured, node.ledger_key)},
            failed("entry"),
        )
        padded = text.replace(f"\nindex {statement.index}\n", f"\nindex 0{statement.index}\n")
        self.add(
            "grade statement: signed text not in canonical form",
            {**grade, "statement": sign_note(padded, node.ledger_key)},
            failed("statement"),
        )
        self.add(
            "grade statement: sent with another (older) checkpoint",
            {**grade, "checkpoint": self.receipt["checkpoint"]},
            failed("statement"),
        )
        self.add(
            "grade statement: a bad inclusion hash",
            {**grade, "inclusion": [flip_hex(grade["inclusion"][0]), *grade["inclusion"][1:]]},
            failed("inclusion"),
        )
        period = self.period
        self.add(
            "period statement: reduction inflated after signing",
            {**period, "statement": period["statement"].replace("reduction_g ", "reduction_g 9")},
            failed("statement signature"),
        )
        self.add(
            "period statement: another index",
            {**period, "index": period["index"] + 1},
            failed("inclusion"),
        )
        self.add(
            "period statement: an entry byte changed",
            {**period, "entry": with_entry_byte_changed(period["entry"])},
            failed("leaf hash"),
        )

    def tampered_proofs(self) -> None:
        receipt, node = self.receipt, self.node
        entry = base64.b64decode(receipt["entry"])
        changed = base64.b64decode(with_entry_byte_changed(receipt["entry"]))
        index, hashes, note = receipt["index"], receipt["inclusion"], receipt["checkpoint"]
        self.add(
            "tlog-proof: extra data changed",
            tlog_proof(index, hashes, note, changed),
            failed("inclusion"),
        )
        self.add(
            "tlog-proof: extra data not the leaf given",
            tlog_proof(index, hashes, note, changed),
            failed("leaf hash"),
            leafHash=receipt["leaf_hash"],
        )
        self.add(
            "tlog-proof: another index",
            tlog_proof(index + 1, hashes, note, entry),
            failed("inclusion"),
        )
        self.add(
            "tlog-proof: no entry and no leaf hash",
            tlog_proof(index, hashes, note, None),
            failed("format"),
        )
        forger = generate_signer(node.origin)
        self.add(
            "tlog-proof: checkpoint signed by another key",
            tlog_proof(index, hashes, sign_checkpoint(self.mid, forger), entry),
            failed("checkpoint signature"),
        )
        latest = self.latest
        fork = Checkpoint(node.origin, latest.size, hashlib.sha256(b"fork").digest())
        self.add(
            "checkpoint: a fork (the real proof does not lead to it)",
            sign_checkpoint(fork, node.ledger_key),
            failed("consistency"),
        )
        beyond = Checkpoint(node.origin, latest.size + 5, hashlib.sha256(b"fork").digest())
        self.add(
            "checkpoint: larger than the log (no proof to fetch)",
            sign_checkpoint(beyond, node.ledger_key),
            failed("consistency"),
        )
        self.add(
            "checkpoint: rolled back",
            self.receipt["checkpoint"],
            failed("consistency"),
            lastCheckpoint=remembered(latest),
        )
        huge = Checkpoint(node.origin, 2**60, latest.root_hash)
        self.add(
            "checkpoint: a size beyond 2^53-1",
            sign_checkpoint(huge, node.ledger_key),
            failed("format"),
        )

    def malformed(self) -> None:
        receipt = self.receipt
        index = f'"index": {receipt["index"]}'
        wire = json.dumps(receipt)
        for name, document in [
            ("empty", ""),
            ("not JSON", "{not json"),
            ("a JSON array", "[1, 2]"),
            ("a JSON string", '"receipt"'),
            ("an object of nothing known", {"hello": "world"}),
            ("seq as text", {**receipt, "seq": "0"}),
            ("seq a float", {**receipt, "seq": 0.5}),
            ("entry not base64", {**receipt, "entry": "!!"}),
            ("inclusion not a list", {**receipt, "inclusion": "00"}),
            ("index null beside a proof", {**receipt, "index": None}),
            ("index 1e400", wire.replace(index, '"index": 1e400')),
            ("index of 400 digits", wire.replace(index, '"index": ' + "9" * 400)),
            ("index beyond 2^53", wire.replace(index, f'"index": {2**60}')),
            ("a control character in a note", self.latest_note.replace("\n", "\n\x01", 1)),
            ("a note without signatures", note_text(self.latest_note)),
            ("a bundle", {"format": "carbon-ledger/bundle/v1", "statement": "x"}),
            ("a statement note alone", self.grade["statement"]),
            ("a person summary", {"summary": "x", "checkpoint": self.latest_note}),
        ]:
            self.add(f"malformed: {name}", document, failed("format"))
        name, key_hash, key = self.log_key.split("+", 2)
        self.add("malformed: no log key", receipt, failed("format"), logKey=None)
        self.add(
            "malformed: a log key whose hash is not its own",
            receipt,
            failed("format"),
            logKey=f"{name}+{flip_hex(key_hash)}+{key}",
        )
        self.add(
            "malformed: the remembered checkpoint",
            receipt,
            failed("format"),
            lastCheckpoint={"size": -1, "rootHash": "00"},
        )

    def moved_on(self) -> None:
        """After the farm retires a gram more: its statement from before, with the new map,
        is stale; the enterprise's, which did not move, is current as of the new map."""
        node, old = self.node, self.period
        enterprise = period_statement(node, self.enterprise, PERIOD)
        sale = {"period": PERIOD, "quantity_g": 1, "ref": "lot:moved-on"}
        node.ledger.submit(
            signed(demo_signer(3, "exchange.demo"), self.farm, "ReductionRetired", sale)
        )
        integrate_all(node)
        snapshot = node.map_reader.prove([self.farm, self.enterprise])
        size = snapshot.size
        assert size > self.latest.size
        self.later_sizes.add(size)

        def with_map(answer: dict[str, Any], account: str) -> dict[str, Any]:
            hashes = [h.hex() for h in node.reader.consistency(self.latest.size, size)]
            proof = snapshot.proofs[account].to_json()
            consistency = [{"first": self.latest.size, "second": size, "hashes": hashes}]
            return {**answer, "map": {"head": snapshot.head, "proofs": {account: proof}}} | {
                "consistency": consistency
            }

        self.add(
            "period statement: current as of a newer map head",
            with_map(enterprise, self.enterprise),
            ok("period-statement", {"account": self.enterprise, "currentAsOf": size}),
        )
        stale = with_map(old, self.farm)
        self.add("period statement: stale (the farm moved on)", stale, failed("current"))
        bad = copy.deepcopy(with_map(enterprise, self.enterprise))
        bad["consistency"][0]["hashes"][0] = flip_hex(bad["consistency"][0]["hashes"][0])
        self.add(
            "period statement: a bad consistency hash to the map head", bad, failed("consistency")
        )
        self.add(
            "period statement: no consistency proof to the map head",
            {**with_map(enterprise, self.enterprise), "consistency": []},
            failed("consistency"),
        )
        sibling = copy.deepcopy(old)
        proof = sibling["map"]["proofs"][self.farm]
        proof["siblings"][0] = flip_hex(proof["siblings"][0])
        self.add("period statement: a map proof sibling changed", sibling, failed("map proof"))
        other = {**old, "map": {**old["map"], "proofs": {"ind:other": proof}}}
        self.add("period statement: no map proof of its account", other, failed("map proof"))
        self.add(
            "period statement: no map",
            {k: v for k, v in old.items() if k != "map"},
            failed("map head"),
        )
        # the real key signs a map head on a fork that extends the statement's checkpoint:
        # the page, which saw the real tree at that size, catches the split view
        store = MemoryHashStore()
        fork = MerkleTree(store)
        fork.append_many(leaf.leaf_hash for leaf in node.log.leaves(0, self.latest.size))
        fork.append_many(
            hashlib.sha256(bytes([n])).digest() for n in range(size - self.latest.size)
        )
        real = parse_map_head(note_text(snapshot.head))
        forked = MapHead(real.root, Checkpoint(node.origin, size, fork.root()))
        hashes = [h.hex() for h in prove_consistency(self.latest.size, size, store)]
        self.add(
            "period statement: a map head on a fork of the tree the page saw",
            {
                **enterprise,
                "map": {
                    "head": sign_map_head(forked, node.ledger_key),
                    "proofs": {self.enterprise: snapshot.proofs[self.enterprise].to_json()},
                },
                "consistency": [{"first": self.latest.size, "second": size, "hashes": hashes}],
            },
            failed("consistency"),
            lastCheckpoint=remembered(checkpoint_of(node, snapshot.checkpoint)),
            allowOlder=True,
        )
        signed_head = parse_map_head(note_text(old["map"]["head"]))
        for name, head in (
            (
                "of another log",
                MapHead(signed_head.root, replace(signed_head.checkpoint, origin="x")),
            ),
            (
                "at the same size, another root",
                MapHead(
                    signed_head.root,
                    replace(signed_head.checkpoint, root_hash=hashlib.sha256(b"other").digest()),
                ),
            ),
        ):
            self.add(
                f"period statement: a map head {name}",
                {**old, "map": {**old["map"], "head": sign_map_head(head, node.ledger_key)}},
                failed("map head"),
            )
        forger = generate_signer(node.origin)
        forged = sign_note(note_text(old["map"]["head"]), forger)
        self.add(
            "period statement: a map head signed by another key",
            {**old, "map": {**old["map"], "head": forged}},
            failed("map head"),
        )

    def rotated(self) -> None:
        """The ledger key rotated after the documents above: a receipt from before it and one
        after verify with the key history the page gives (options.logKeys); the newest key
        alone refuses the one from before, the first key alone the one after."""
        node = self.node
        new = generate_signer(node.origin)
        write_new_key(node.settings.keys_dir / "ledger-2.key", new)
        rotation = {"vkey": new.verifier.text}
        node.ledger.submit(signed(node.admin_key, "sys:keys", "LedgerKeyRotated", rotation))
        bank = register(node, "bank.rotated", ["bank"])
        integrate_all(node)
        time.sleep(CURRENT_FOR + 0.1)  # receipts take the new key within that
        with TestClient(create_app(node, node.run_integrator)) as http:
            account = f"per:rotated:{pid('r1')}"
            answer = http.post(
                "/v1/submissions?wait=true", json=signed(bank, account, "AccountOpened", {})
            )
        after = answer.json()
        assert answer.status_code == 201 and after["inclusion"], answer.text
        history = node.ledger_keys.history(node.reader.size())
        assert len(history.keys) == 2
        keys = {
            "logKey": new.verifier.text,
            "logKeys": [[index, key.text] for index, key in history.keys],
            "lastCheckpoint": None,
        }
        before = self.receipt
        self.add(
            "rotated: a receipt from before",
            before,
            ok("receipt", {"index": before["index"]}),
            **keys,
        )
        self.add(
            "rotated: a receipt after", after, ok("receipt", {"index": after["index"]}), **keys
        )
        self.add(
            "rotated: a receipt after, the first key alone",
            after,
            failed("receipt signature"),
            lastCheckpoint=None,
        )
        self.add(
            "rotated: a receipt from before, the newest key alone",
            before,
            failed("receipt signature"),
            logKey=new.verifier.text,
            lastCheckpoint=None,
        )
        backwards = {**keys, "logKeys": list(reversed(keys["logKeys"]))}
        self.add(
            "rotated: a history out of order", after, failed("checkpoint signature"), **backwards
        )


def ok(kind: str, facts: dict[str, Any]) -> dict[str, Any]:
    return {"ok": True, "kind": kind, "facts": facts}


def failed(check: str) -> dict[str, Any]:
    return {"ok": False, "check": check}


def test_the_browser_verifier_checks_real_documents_and_names_what_was_tampered(
    node: Node, node_js: str, tmp_path: Path
) -> None:
    documents = Documents(node)
    documents.honest()
    documents.tampered_receipts()
    documents.tampered_statements()
    documents.tampered_proofs()
    documents.malformed()
    documents.moved_on()
    documents.rotated()
    cases = documents.cases
    assert len({case["name"] for case in cases}) == len(cases)
    fixtures = tmp_path / "fixtures"
    fixtures.mkdir()
    (fixtures / "cases.json").write_text(
        json.dumps({"cases": cases, "proofs": documents.proofs()}, indent=1)
    )
    run = subprocess.run(
        [node_js, "--test", str(JS_TEST)],
        cwd=ROOT,
        env={**os.environ, FIXTURES_ENV: str(fixtures)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
    results = json.loads((fixtures / "results.json").read_text())
    assert set(results) == {case["name"] for case in cases}
    for case in cases:
        result, expect = results[case["name"]], case["expect"]
        assert result["ok"] is expect["ok"], (case["name"], result)
        if expect["ok"]:
            assert result["kind"] == expect["kind"], (case["name"], result)
            for name, value in expect["facts"].items():
                assert result["facts"][name] == value, (case["name"], name, result)
        else:
            assert result["check"] == expect["check"], (case["name"], result)
