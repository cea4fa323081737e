"""The C2SP tlog-witness server and the ledger's witnessing, end to end on both backends."""

import json
import os
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient
from prometheus_client import REGISTRY

from api.app import create_app
from crypto.checkpoint import Checkpoint, open_checkpoint, sign_checkpoint
from crypto.cosignature import (
    CosignatureError,
    generate_cosigner,
    parse_witness_verifier,
    verify_cosignatures,
)
from crypto.keys import generate_signer
from crypto.merkle import MemoryHashStore, MerkleTree, leaf_hash, prove_consistency
from crypto.note import split_note
from crypto.witness_protocol import format_add_checkpoint
from ledger.log.witnessing import Witness
from ledger.node import Node
from tests.support import integrate_all, new_node, open_at, register
from tools.cli import main
from tools.witness import create_witness_app
from tools.witness_state import Refusal, Refused, WitnessState

WITNESS = generate_cosigner("witness.test")


def _state(path: Path, node: Node) -> WitnessState:
    return WitnessState(path, WITNESS, [node.ledger_key.verifier])


def _post(client: TestClient, old: int, proof: list[bytes], note: str):
    return client.post("/add-checkpoint", content=format_add_checkpoint(old, proof, note))


def _grow(node: Node, entries: int = 2) -> tuple[int, str]:
    """Append and integrate a few entries; the new (size, note)."""
    for _ in range(entries):
        register(node, "bank.w", ["bank"])
    integrate_all(node)
    return node.reader.checkpoint()


def test_witness_cosigns_successive_checkpoints(node: Node, tmp_path: Path):
    path = tmp_path / "witness" / "state.json"
    client = TestClient(create_witness_app(_state(path, node)))
    log_key, witness_key = node.ledger_key.verifier, WITNESS.verifier

    first_size, first = _grow(node)
    answer = _post(client, 0, [], first)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/plain")
    cosigned = first + answer.text
    checkpoint, [by] = verify_cosignatures(cosigned, log_key, [witness_key])
    assert checkpoint.size == first_size and by.witness == witness_key
    assert abs(by.timestamp - time.time()) < 60

    size, second = _grow(node)
    stale = _post(client, 0, [], second)
    assert stale.status_code == 409
    assert stale.headers["content-type"] == "text/x.tlog.size"
    assert stale.text == f"{first_size}\n"

    proof = prove_consistency(first_size, size, node.log)
    bad = [bytes([proof[0][0] ^ 1]) + proof[0][1:], *proof[1:]]
    assert _post(client, first_size, bad, second).status_code == 422
    assert _post(client, first_size, proof[:-1], second).status_code == 422
    answer = _post(client, first_size, proof, second)
    _, [by] = verify_cosignatures(second + answer.text, log_key, [witness_key])

    assert _post(client, size, [], second).status_code == 200  # the same head, cosigned again
    stored = json.loads(path.read_text())["logs"][node.origin]
    assert stored["size"] == size and stored["note"] == second
    assert [p.name for p in path.parent.iterdir()] == ["state.json"]  # no temporary left

    restarted = TestClient(create_witness_app(_state(path, node)))
    again = _post(restarted, 0, [], second)
    assert (again.status_code, again.text) == (409, f"{size}\n")
    fork = Checkpoint(node.origin, size, bytes(32))
    forked = _post(restarted, size, [], sign_checkpoint(fork, node.ledger_key))
    assert (forked.status_code, forked.text) == (409, f"{size}\n")
    assert _post(restarted, first_size, proof, second).status_code == 409


def test_witness_refusals(node: Node, tmp_path: Path):
    client = TestClient(create_witness_app(_state(tmp_path / "witness.json", node)))
    size, note = _grow(node, 1)
    checkpoint, _ = open_checkpoint(note, node.ledger_key.verifier)

    impostor = generate_signer(node.origin)  # the log's name, another key
    assert _post(client, 0, [], sign_checkpoint(checkpoint, impostor)).status_code == 403
    text, _ = split_note(note)
    assert _post(client, 0, [], text + "\n— x AAAAAAAA\n").status_code == 403  # no log signature

    other = generate_signer("other.example")
    elsewhere = Checkpoint("other.example", size, checkpoint.root_hash)
    assert _post(client, 0, [], sign_checkpoint(elsewhere, other)).status_code == 404

    for body in (b"", b"garbage", b"old 0\n\nnot a note", b"old x\n\n" + note.encode()):
        assert client.post("/add-checkpoint", content=body).status_code == 400, body
    assert _post(client, size + 1, [], note).status_code == 400  # old size above the new size
    assert client.post("/add-checkpoint", content=b"x" * 70_000).status_code == 413
    assert _post(client, 0, [], note).status_code == 200  # none of that changed the state


def test_concurrent_requests_are_serialised(tmp_path: Path):
    log = generate_signer("log.example")
    state = WitnessState(tmp_path / "witness.json", WITNESS, [log.verifier])
    tree = MerkleTree(MemoryHashStore())
    tree.append_many(leaf_hash(bytes([i])) for i in range(2))
    bodies = [
        format_add_checkpoint(
            0, [], sign_checkpoint(Checkpoint("log.example", n, tree.root(n)), log)
        )
        for n in (1, 2)
    ]
    results: list[Refusal | None] = []

    def ask(body: bytes) -> None:
        try:
            state.add_checkpoint(body)
            results.append(None)
        except Refused as refused:
            results.append(refused.kind)

    threads = [threading.Thread(target=ask, args=(bodies[i % 2],)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results.count(None) == 1  # all claim old size 0: only the first one holds
    assert results.count(Refusal.CONFLICT) == 7
    assert WitnessState(state.path, WITNESS, [log.verifier]).head("log.example").size in (1, 2)


@contextmanager
def _serving(app: FastAPI) -> Iterator[str]:
    """Run `app` with uvicorn on a free localhost port; its base URL."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "the witness did not start"
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_for_cosigned(client: TestClient, node: Node, size: int) -> str:
    """The served checkpoint once it is of `size` or more and cosigned by WITNESS."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        note = client.get("/v1/log/checkpoint").text
        checkpoint, cosigned = verify_cosignatures(
            note, node.ledger_key.verifier, [WITNESS.verifier]
        )
        if checkpoint.size >= size and cosigned:
            return note
        time.sleep(0.05)
    raise AssertionError(f"no cosigned checkpoint of size {size} was served")


def _grown_log_and_witness(
    data_dir: Path, storage: dict[str, str], tmp_path: Path
) -> tuple[int, str, WitnessState]:
    """A ledger grown by one entry (size and checkpoint note), and a witness for it."""
    plain = new_node(data_dir, storage)
    try:
        size, note = _grow(plain, 1)
        return size, note, _state(tmp_path / "witness.json", plain)
    finally:
        plain.close()


def test_ledger_serves_cosigned_checkpoints(
    data_dir: Path, storage: dict[str, str], tmp_path: Path
):
    size, note, state = _grown_log_and_witness(data_dir, storage, tmp_path)
    state.add_checkpoint(format_add_checkpoint(0, [], note))  # the ledger's first try is stale

    with _serving(create_witness_app(state)) as url:
        witnesses = [
            Witness(url, WITNESS.verifier),
            Witness(f"http://127.0.0.1:{_closed_port()}", generate_cosigner("down").verifier),
        ]
        node = open_at(data_dir, storage, witnesses)
        try:
            with TestClient(create_app(node, node.run_integrator)) as client:
                assert split_note(_wait_for_cosigned(client, node, size))[0] == split_note(note)[0]
                register(node, "bank.late", ["bank"])
                served = _wait_for_cosigned(client, node, size + 1)
                checkpoint, _ = open_checkpoint(served, node.ledger_key.verifier)
                assert state.head(node.origin).size == checkpoint.size
                text, (ledger_line, *cosignatures) = split_note(served)
                assert len(cosignatures) == 1  # the witness that is down gave none
                zeroed = cosignatures[0].signature[:8] + bytes(64)
                forged = (
                    text + "\n" + ledger_line.line + replace(cosignatures[0], signature=zeroed).line
                )
                with pytest.raises(CosignatureError):
                    verify_cosignatures(forged, node.ledger_key.verifier, [WITNESS.verifier])
        finally:
            node.close()


def test_the_cosigned_checkpoint_is_looked_for_at_or_below_the_newest_allowed(node: Node):
    """A statement is made at the newest cosigned checkpoint no newer than the map's: the
    search window of recent checkpoints ends there, not at the log's newest (64 newer ones
    would otherwise hide every cosigned one)."""
    sizes = [_grow(node, 1)[0] for _ in range(5)]
    assert [size for size, _ in node.log.recent_checkpoints(0, 2, sizes[2])] == sizes[2:0:-1]
    assert [size for size, _ in node.log.recent_checkpoints(sizes[1], 9, sizes[3])] == [
        sizes[3],
        sizes[2],
        sizes[1],
    ]
    assert node.log.recent_checkpoints(0, 1)[0][0] == sizes[-1]


def test_keygen_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    out = tmp_path / "witness.key"
    assert main(["witness", "keygen", "witness.example", "--out", str(out)]) == 0
    verifier = parse_witness_verifier(capsys.readouterr().out.strip())
    assert verifier.name == "witness.example"
    assert os.stat(out).st_mode & 0o777 == 0o600
    assert main(["witness", "keygen", "witness.example", "--out", str(out)]) == 1
    assert "not overwriting" in capsys.readouterr().err


def _failing_first(app: FastAPI, failures: int):
    """`app`, answering its first `failures` add-checkpoint requests with a 503."""
    left = [failures]

    async def asgi(scope, receive, send):
        if scope["type"] == "http" and scope["path"].endswith("add-checkpoint") and left[0]:
            left[0] -= 1
            await send({"type": "http.response.start", "status": 503, "headers": []})
            await send({"type": "http.response.body", "body": b"down for a moment"})
            return
        await app(scope, receive, send)

    return asgi


WITNESS_FAILED = "carbon_ledger_witness_failures_total"


def test_a_witness_that_missed_rounds_is_asked_again(
    data_dir: Path, storage: dict[str, str], tmp_path: Path
):
    size, _, state = _grown_log_and_witness(data_dir, storage, tmp_path)
    with _serving(_failing_first(create_witness_app(state), 2)) as url:
        node = open_at(data_dir, storage, [Witness(url, WITNESS.verifier)])

        def failures() -> float:
            counted = REGISTRY.get_sample_value(WITNESS_FAILED, {"witness": url})
            return counted or 0.0

        before = failures()
        try:
            with TestClient(create_app(node, node.run_integrator)) as client:
                served = _wait_for_cosigned(client, node, size)  # no newer checkpoint came
                assert open_checkpoint(served, node.ledger_key.verifier)[0].size == size
                assert failures() - before == 2  # each counted in /metrics
                assert "carbon_ledger_witness_failures_total" in client.get("/metrics").text
        finally:
            node.close()
