"""Go's note.Open and tlog.CheckRecord / tlog.CheckTree accept what the HTTP API serves.

The Go side is tests/interop/tlogtool, built once per session by tests/gotools.py (which
says what it needs, and when the tests skip).
Runs on SQLite and on PostgreSQL (the `node` fixture).
"""

import base64
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from crypto.checkpoint import Checkpoint, open_checkpoint
from crypto.keys import parse_verifier
from tests.gotools import build_tool, run_json
from tests.support import integrate_all, pid, register, signed

# Submissions per batch, integrated after each: with the genesis entry and the bank key's
# registration the checkpoints have sizes 1, 2, 3, 8, 16, 33, 64 and 100 (powers of two and
# their neighbours, where proof shapes change).
BATCHES = (7, 1, 15, 1, 31, 36)  # from the seeded 9 entries: sizes 16, 17, 32, 33, 64, 100


@pytest.fixture(scope="session")
def tlogtool(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Build tlogtool once; it takes one JSON request (see _run) and prints its verdicts."""
    return build_tool("tlogtool", tmp_path_factory)


@dataclass
class Served:
    """What the API served while the log grew."""

    client: TestClient
    vkey: str
    origin: str
    notes: list[str]  # the checkpoint after each integration, oldest first
    checkpoints: dict[int, Checkpoint]  # by size, as Python opens them
    entries: dict[str, str]  # leaf hash (hex) -> base64 entry, from the batch receipts

    @property
    def sizes(self) -> list[int]:
        return sorted(self.checkpoints)

    def _proof(self, kind: str, **params: int) -> dict[str, Any]:
        """The served proof of `kind`, which must echo its parameters."""
        response = self.client.get(f"/v1/log/proof/{kind}", params=params)
        assert response.status_code == 200, response.text
        proof = response.json()
        assert {name: proof[name] for name in params} == params
        return proof

    def inclusion(self, index: int, tree_size: int) -> dict[str, Any]:
        proof = self._proof("inclusion", index=index, tree_size=tree_size)
        if proof["leaf_hash"] in self.entries:
            proof["leaf_data"] = self.entries[proof["leaf_hash"]]
        return proof

    def consistency(self, first: int, second: int) -> dict[str, Any]:
        proof = self._proof("consistency", first=first, second=second)
        # The roots from the checkpoints served earlier, one in hex and one in base64.
        if first in self.checkpoints:
            proof["first_root"] = self.checkpoints[first].root_hash.hex()
        if second in self.checkpoints:
            proof["second_root"] = base64.b64encode(self.checkpoints[second].root_hash).decode()
        return proof


@pytest.fixture
def served(node, client) -> Served:
    """A log grown in batches through the API, with every checkpoint it served on the way."""
    key = client.get("/v1/log/key")
    assert key.status_code == 200
    vkey = key.text.removesuffix("\n")
    verifier = parse_verifier(vkey)
    notes: list[str] = []
    checkpoints: dict[int, Checkpoint] = {}
    entries: dict[str, str] = {}

    def integrate() -> None:
        integrate_all(node)
        response = client.get("/v1/log/checkpoint")
        assert response.status_code == 200, response.text
        checkpoint, _ = open_checkpoint(response.text, verifier, origin=node.origin)
        notes.append(response.text)
        checkpoints[checkpoint.size] = checkpoint

    integrate()
    bank = register(node, "bank.go-interop", ["bank"])
    integrate()
    opened = 0
    for count in BATCHES:
        wires = [
            signed(bank, f"per:go-interop:{pid(f'{opened + i}')}", "AccountOpened", {})
            for i in range(count)
        ]
        opened += count
        response = client.post("/v1/submissions/batch", json={"submissions": wires})
        assert response.status_code == 200, response.text
        for result in response.json()["results"]:
            assert result["status"] == 201, result
            entries[result["receipt"]["leaf_hash"]] = result["receipt"]["entry"]
        integrate()
    return Served(client, vkey, node.origin, notes, checkpoints, entries)


def _run(tlogtool: Path, served: Served, **items: Any) -> tuple[int, dict[str, Any]]:
    """Go's verdicts on `items` (inclusion and consistency proofs) with every checkpoint."""
    request = {
        "vkey": served.vkey,
        "origin": served.origin,
        "checkpoints": served.notes,
        "inclusion": [],
        "consistency": [],
        **items,
    }
    return run_json(tlogtool, request)


def _errors(verdicts: list[dict[str, Any]]) -> list[tuple[int, str]]:
    return [(i, v["err"]) for i, v in enumerate(verdicts) if not v["ok"]]


def test_go_accepts_served_checkpoints_and_proofs(tlogtool, served):
    assert served.sizes == [8, 9, 16, 17, 32, 33, 64, 100]
    inclusion = [served.inclusion(i, n) for n in served.sizes for i in range(n)]
    consistency = [served.consistency(m, n) for n in served.sizes for m in served.sizes if m <= n]
    returncode, verdicts = _run(tlogtool, served, inclusion=inclusion, consistency=consistency)
    errors = {key: _errors(verdicts[key]) for key in ("checkpoints", "inclusion", "consistency")}
    assert errors == {"checkpoints": [], "inclusion": [], "consistency": []}
    assert returncode == 0
    # Go read each checkpoint's size and root as Python did.
    expected = [open_checkpoint(note, parse_verifier(served.vkey))[0] for note in served.notes]
    assert [(c["size"], c["root"]) for c in verdicts["checkpoints"]] == [
        (c.size, base64.b64encode(c.root_hash).decode()) for c in expected
    ]
    assert len(verdicts["inclusion"]) == sum(served.sizes) == 279
    assert len(verdicts["consistency"]) == 36
    # Every entry submitted through the API was hashed by Go (tlog.RecordHash) too.
    assert sum("leaf_data" in p for p in inclusion if p["tree_size"] == 100) == sum(BATCHES)


def _flip(hex_hash: str) -> str:
    """The hash with its last bit flipped."""
    raw = bytearray(bytes.fromhex(hex_hash))
    raw[-1] ^= 1
    return raw.hex()


def test_go_refuses_tampered_proofs(tlogtool, served):
    good = served.inclusion(37, 100)
    bad_hash = {**good, "hashes": [*good["hashes"][:2], _flip(good["hashes"][2])]}
    bad_leaf = {**good, "leaf_hash": _flip(good["leaf_hash"])}
    bad_leaf.pop("leaf_data")
    bad_data = {**good, "leaf_data": base64.b64encode(b"{}").decode()}
    wrong_index = {**good, "index": 38}
    short = {**good, "hashes": good["hashes"][:-1]}
    longer = {**good, "hashes": [*good["hashes"], good["hashes"][0]]}
    fine = served.consistency(33, 100)
    tampered = {**fine, "hashes": [_flip(fine["hashes"][0]), *fine["hashes"][1:]]}
    wrong_first = {**served.consistency(16, 100), "first_root": None, "first": 8}
    given_root = {**fine, "second_root": _flip(served.checkpoints[100].root_hash.hex())}
    # No checkpoint of size 20 was served, so Go takes this root as given; it is no tree's.
    unknown_root = {**served.consistency(20, 100), "first_root": "ab" * 32}
    returncode, verdicts = _run(
        tlogtool,
        served,
        inclusion=[good, bad_hash, bad_leaf, bad_data, wrong_index, short, longer],
        consistency=[fine, tampered, wrong_first, given_root, unknown_root],
    )
    assert returncode == 1
    assert [v["ok"] for v in verdicts["checkpoints"]] == [True] * len(served.notes)
    assert [v["ok"] for v in verdicts["inclusion"]] == [True] + [False] * 6
    assert [v["ok"] for v in verdicts["consistency"]] == [True, False, False, False, False]
    assert "tlog.CheckRecord" in verdicts["inclusion"][1]["err"]
    assert "RecordHash" in verdicts["inclusion"][3]["err"]
    assert "tlog.CheckTree" in verdicts["consistency"][1]["err"]
    assert "tlog.CheckTree" in verdicts["consistency"][2]["err"]
    assert "not the checkpoint's" in verdicts["consistency"][3]["err"]
    assert "tlog.CheckTree" in verdicts["consistency"][4]["err"]


def test_go_refuses_a_tampered_checkpoint(tlogtool, served):
    note = served.notes[-1]
    body, signature = note.split("\n\n", 1)
    lines = body.split("\n")
    root = bytearray(base64.b64decode(lines[2]))
    root[0] ^= 0x80
    forged = "\n".join([*lines[:2], base64.b64encode(root).decode()]) + "\n\n" + signature
    returncode, out = run_json(
        tlogtool,
        {"vkey": served.vkey, "checkpoints": [note, forged], "inclusion": [], "consistency": []},
    )
    assert returncode == 1
    verdicts = out["checkpoints"]
    assert verdicts[0]["ok"]
    assert not verdicts[1]["ok"]
    assert "note.Open" in verdicts[1]["err"]
