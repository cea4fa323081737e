"""C2SP tlog-proof files written by the client (for a receipt) and by `carbon-ledger proof`
(for any entry), read by `carbon-ledger verify`; a tlog-policy quorum for bundles."""

import json

import pytest

from client.ledger_client import LedgerClient
from client.verifier.audit import Audit
from client.verifier.bundle import bundle_from_object
from client.verifier.failure import Failure
from crypto.cosignature import cosign, generate_cosigner
from crypto.note import split_note
from crypto.policy import Group, Policy
from crypto.records import signed_submission as submission
from crypto.tlog_proof import parse_tlog_proof
from ledger.bundles import tlog_proof
from tests.files import run_cli
from tests.support import export_object, integrate_all, pid, register

BASE = "http://testserver"


def test_the_client_keeps_a_receipt_as_a_tlog_proof_that_verify_checks(node, server, tmp_path):
    bank = register(node, "bank.abc", ["bank"])
    client = LedgerClient(BASE, log_key=node.ledger_key.verifier, transport=server, backoff=0)
    receipt = client.submit(submission(bank, f"per:abc:{pid('p1')}", "AccountOpened", {}))
    path = client.write_proof(receipt, tmp_path / "opened.tlog-proof", timeout=10)
    proof = parse_tlog_proof(path.read_text())
    assert proof.extra == receipt.entry
    vkey = node.ledger_key.verifier.text
    result = run_cli("verify", str(path), "--log-key", vkey, "--json", text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert json.loads(result.stdout)["account"] == f"per:abc:{pid('p1')}"
    # the entry edited in the file: its leaf is no longer the one proven
    path.write_text(path.read_text().replace(proof.text().split("\n")[1], "extra e30="))
    failed = run_cli("verify", str(path), "--log-key", vkey, text=True)
    assert failed.returncode == 1 and failed.stdout.startswith("FAIL tlog-proof: inclusion")


def test_carbon_ledger_proof_writes_any_entry_and_a_policy_decides_its_witnesses(
    node, data_dir, storage, tmp_path
):
    register(node, "bank.abc", ["bank"])
    integrate_all(node)
    out = tmp_path / "entry.tlog-proof"
    env = {**storage} if storage else None
    made = run_cli("proof", "--index", "1", "--out", str(out), "--data", str(data_dir), env=env)
    assert made.returncode == 0, made.stderr
    assert parse_tlog_proof(out.read_text()) == tlog_proof(node, 1)
    witness = generate_cosigner("witness.example")
    policy = tmp_path / "quorum.policy"
    log_line = f"log {node.ledger_key.verifier.text}\n"
    policy.write_text(log_line + f"witness w {witness.verifier.text}\nquorum w\n")
    refused = run_cli("verify", str(out), "--policy", str(policy), text=True)
    assert refused.returncode == 1 and "quorum 'w' not met" in refused.stdout
    # cosigned by the witness: now the quorum holds
    proof = parse_tlog_proof(out.read_text())
    line = cosign(split_note(proof.checkpoint)[0], witness, 1_764_000_000).line
    out.write_text(out.read_text() + line)
    accepted = run_cli("verify", str(out), "--policy", str(policy), "--json", text=True)
    assert accepted.returncode == 0, accepted.stdout + accepted.stderr
    policy.write_text(log_line + "quorum none\n")
    assert run_cli("verify", str(out), "--policy", str(policy), text=True).returncode == 0
    missing = run_cli("proof", "--leaf", "00" * 32, "--data", str(data_dir), env=env, text=True)
    assert missing.returncode == 1 and "no integrated entry" in missing.stderr


def test_a_bundle_audit_takes_a_quorum_of_witnesses(node):
    register(node, "bank.abc", ["bank"])
    integrate_all(node)
    bundle = export_object(node)
    body = split_note(bundle["checkpoints"][-1])[0]
    a, b, c = (generate_cosigner(f"witness.{n}") for n in "abc")
    two_of_three = Policy(
        (node.ledger_key.verifier,),
        {"a": a.verifier, "b": b.verifier, "c": c.verifier},
        {"two": Group(2, ("a", "b", "c"))},
        "two",
    )
    cosigned = bundle["checkpoints"][-1] + "".join(
        cosign(body, w, 1_764_000_000).line for w in (a, c)
    )
    report = Audit(node.ledger_key.verifier, policy=two_of_three).run(
        bundle_from_object({**bundle, "checkpoints": [cosigned]})
    )
    assert report.cosignatures == 2
    one = bundle["checkpoints"][-1] + cosign(body, b, 1_764_000_000).line
    with pytest.raises(Failure) as caught:
        Audit(node.ledger_key.verifier, policy=two_of_three).run(
            bundle_from_object({**bundle, "checkpoints": [one]})
        )
    assert (caught.value.check, caught.value.field) == ("cosignature", "quorum")
