"""The spine over HTTP on both backends: receipts, proofs, and RFC 9457 problems for bad input."""

import base64
import json

import pytest

from api.app import create_app
from crypto.checkpoint import open_checkpoint
from crypto.keys import generate_signer, parse_verifier
from crypto.merkle import verify_consistency, verify_inclusion
from crypto.records import receipt_message, receipt_promise
from tests.http_support import problem
from tests.support import SEED_ENTRIES, pid, register, settle, signed

JSON = {"Content-Type": "application/json"}


@pytest.fixture
def app(node):
    return create_app(node, node.run_integrator)


@pytest.fixture
def bank(node):
    return register(node, "bank.abc", ["bank"])


def test_submit_wait_returns_a_proof_that_verifies(client, bank):
    log_key = parse_verifier(client.get("/v1/log/key").text.strip())
    wire = signed(bank, f"per:abc:{pid('p1')}", "AccountOpened", {})
    response = client.post("/v1/submissions?wait=true", json=wire)
    assert response.status_code == 201, response.text
    receipt = response.json()
    checkpoint, _ = open_checkpoint(receipt["checkpoint"], log_key)
    leaf = bytes.fromhex(receipt["leaf_hash"])
    proof = [bytes.fromhex(h) for h in receipt["inclusion"]]
    verify_inclusion(receipt["index"], checkpoint.size, leaf, proof, checkpoint.root_hash)
    promise = receipt_promise(
        receipt["account"], receipt["seq"], receipt["leaf_hash"], receipt["log"]
    )
    assert log_key.verify(receipt_message(promise), base64.b64decode(receipt["signature"]))
    assert json.loads(base64.b64decode(receipt["entry"]))["submission"] == wire["submission"]
    again = client.post("/v1/submissions", json=wire)
    assert again.status_code == 200 and again.json()["leaf_hash"] == receipt["leaf_hash"]
    assert again.json()["index"] == receipt["index"]


def test_batch_has_a_result_per_item(client, bank):
    wires = [signed(bank, f"per:abc:{pid(f'p{i}')}", "AccountOpened", {}) for i in range(20)]
    wires.append(signed(bank, f"per:abc:{pid('p0')}", "AccountOpened", {}))
    response = client.post("/v1/submissions/batch?wait=true", json={"submissions": wires})
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert [r["status"] for r in results] == [201] * 20 + [409]
    assert results[-1]["problem"]["field"] == "submission.type"
    assert sorted(r["receipt"]["index"] for r in results[:20]) == list(
        range(SEED_ENTRIES + 1, SEED_ENTRIES + 21)
    )
    retry = client.post("/v1/submissions/batch", json={"submissions": wires[:20]})
    assert [r["status"] for r in retry.json()["results"]] == [200] * 20


def test_proof_endpoints_match_checkpoints(client, node, bank):
    log_key = node.ledger_key.verifier
    sizes_and_roots = []
    for round_ in range(3):
        wires = [
            signed(bank, f"per:abc:{pid(f'r{round_}-{i}')}", "AccountOpened", {}) for i in range(5)
        ]
        client.post("/v1/submissions/batch?wait=true", json={"submissions": wires})
        settle(node)
        checkpoint, _ = open_checkpoint(client.get("/v1/log/checkpoint").text, log_key)
        sizes_and_roots.append((checkpoint.size, checkpoint.root_hash))
    (first, first_root), (second, second_root) = sizes_and_roots[0], sizes_and_roots[-1]
    proof = client.get(f"/v1/log/proof/consistency?first={first}&second={second}").json()
    verify_consistency(
        first, second, first_root, second_root, [bytes.fromhex(h) for h in proof["hashes"]]
    )
    for index in range(second):
        body = client.get(f"/v1/log/proof/inclusion?index={index}&tree_size={second}").json()
        hashes = [bytes.fromhex(h) for h in body["hashes"]]
        verify_inclusion(index, second, bytes.fromhex(body["leaf_hash"]), hashes, second_root)


def test_keys_and_health(client, node, bank):
    keys = client.get("/v1/keys").json()["keys"]
    seeded = {node.admin_key, node.authority_key, node.grader_key}
    assert {k["key"] for k in keys} == {k.key_id for k in seeded} | {bank.key_id}
    assert client.get("/healthz").json()["status"] == "ok"


def test_bad_input_gets_a_problem_never_a_500(client, node, bank):
    meter = register(node, "meter.m1", ["meter"])
    good = signed(bank, f"per:abc:{pid('p1')}", "AccountOpened", {})
    settle(node)
    before = client.get("/healthz").json()["tree_size"]
    post = client.post
    problem(post("/v1/submissions", content=b"{not json", headers=JSON), 400)
    problem(post("/v1/submissions", content=b"{}"), 415)  # no Content-Type
    problem(
        post("/v1/submissions", content=b'{"submission": {"data": {"x": 1.5}}}', headers=JSON),
        400,
        "submission.data.x",
    )
    problem(post("/v1/submissions", json={**good, "signature": "%%%"}), 400, "signature")
    problem(
        post("/v1/submissions", json={**good, "signature": base64.b64encode(bytes(64)).decode()}),
        401,
        "signature",
    )
    stranger = generate_signer("bank.nobody")
    problem(
        post("/v1/submissions", json=signed(stranger, f"per:abc:{pid('p1')}", "AccountOpened", {})),
        401,
    )
    problem(
        post("/v1/submissions", json=signed(meter, f"per:abc:{pid('p1')}", "AccountOpened", {})),
        403,
    )
    future = signed(bank, f"per:abc:{pid('p1')}", "AccountOpened", {}, at="2099-01-01T00:00:00Z")
    problem(post("/v1/submissions", json=future), 422, "submission.at")
    problem(post("/v1/submissions", content=b"x" * 40000, headers=JSON), 413)
    problem(post("/v1/submissions/batch", json={"submissions": []}), 400, "submissions")
    problem(post("/v1/submissions/batch", json=[good]), 400, "submissions")
    problem(post("/v1/submissions/batch", json={"submissions": [good] * 1001}), 400, "submissions")
    problem(client.get("/v1/log/proof/inclusion?index=99&tree_size=1"), 422, "index")
    problem(client.get("/v1/log/proof/inclusion?index=0&tree_size=999"), 409, "tree_size")
    problem(client.get("/v1/log/proof/inclusion?index=-1&tree_size=1"), 400, "index")
    problem(client.get("/v1/log/proof/inclusion?tree_size=1"), 400, "index")
    problem(client.get("/v1/log/proof/consistency?first=5&second=2"), 422)
    problem(client.get("/v1/nowhere"), 404)
    settle(node)
    assert client.get("/healthz").json()["tree_size"] == before
    assert post("/v1/submissions", json=good).status_code == 201


def test_unprintable_or_non_ascii_input_gets_a_problem(client, node, bank):
    """Found by fuzzing: lone surrogates in keys and non-ASCII signatures were 500s."""
    good = signed(bank, f"per:abc:{pid('p2')}", "AccountOpened", {})
    settle(node)
    before = client.get("/healthz").json()["tree_size"]
    bodies = [
        b'{"\\ud800": 1.5}',
        b'{"\\ud800": 1}',
        b'{"submission": {"\\ud800": 1}, "signature": "x"}',
        json.dumps({**good, "submission": {**good["submission"], "data": {"\ud800": 1}}}).encode(),
    ]
    for path in ("/v1/submissions", "/v1/grading/runs"):
        for body in bodies:
            response = client.post(path, content=body, headers=JSON)
            assert response.status_code == 400, (path, body, response.text)
            assert "\\ud800" in response.text or "surrogate" in response.text
    run = signed(
        node.authority_key, "sys:grading", "GradingRunRequested", {"kind": "agri", "period": "2026"}
    )
    for path, wire in (("/v1/submissions", good), ("/v1/grading/runs", run)):
        problem(client.post(path, json={**wire, "signature": "é" * 88}), 400, "signature")
    batch = {"submissions": [{"submission": {"\ud800": 1}, "signature": "x"}, good]}
    whole = client.post("/v1/submissions/batch", content=json.dumps(batch).encode(), headers=JSON)
    problem(whole, 400)  # a body that is not Unicode text is refused as a whole
    assert client.post("/v1/submissions", json=good).status_code == 201
    settle(node)
    assert client.get("/healthz").json()["tree_size"] == before + 1


def test_revoked_key_is_refused(client, node, bank):
    revoke = signed(node.admin_key, "sys:keys", "KeyRevoked", {"key": bank.key_id})
    assert client.post("/v1/submissions", json=revoke).status_code == 201
    problem(
        client.post(
            "/v1/submissions", json=signed(bank, f"per:abc:{pid('p9')}", "AccountOpened", {})
        ),
        403,
    )


def test_wrong_method_is_a_problem_with_allow(client):
    response = client.delete("/healthz")
    assert response.status_code == 405 and response.headers["allow"] == "GET"
    assert response.headers["content-type"].startswith("application/problem+json")


def test_with_witnesses_the_served_checkpoint_is_the_newest_cosigned(client, node, bank):
    from crypto.cosignature import cosign, count_cosignatures, generate_cosigner
    from crypto.note import split_note

    settle(node)
    witness = generate_cosigner("witness.a")
    size, note = node.reader.checkpoint()
    node.log.store_cosigned(size, note + cosign(split_note(note)[0], witness, 1_764_000_000).line)
    node.reader.witnesses = 1
    assert (
        client.post(
            "/v1/submissions", json=signed(bank, f"per:abc:{pid('p9')}", "AccountOpened", {})
        ).status_code
        == 201
    )
    settle(node)
    assert node.log.latest_checkpoint()[0] > size  # a newer checkpoint, not yet cosigned
    served = client.get("/v1/log/checkpoint").text
    assert count_cosignatures(served, [witness.verifier]) == 1 and f"\n{size}\n" in served
    waited = client.post(
        "/v1/submissions?wait=true", json=signed(bank, f"per:abc:{pid('p10')}", "AccountOpened", {})
    )
    assert (
        waited.status_code == 201 and waited.json()["index"] is not None
    )  # proof at a covering size
