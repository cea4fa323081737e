"""The client against a real node (both backends): retries without duplicates, proofs, and a
lying server caught by the check that should catch it."""

import base64
import copy
import hashlib
import json
import subprocess
import sys
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from client.ledger_client import (
    LedgerClient,
    LedgerRefused,
    Problem,
    Receipt,
    TransportError,
    VerificationError,
    urllib_transport,
)
from crypto.canonical import canonical_json
from crypto.checkpoint import Checkpoint, open_checkpoint, sign_checkpoint
from crypto.keys import generate_signer
from crypto.merkle import leaf_hash
from crypto.note import sign_note
from crypto.records import signed_submission as submission
from tests.support import pid, register, settle
from tools.demo import demo_signer, grade_all, load, make_plan

ROOT = Path(__file__).resolve().parent.parent
BASE = "http://testserver"
SERVER_PACKAGES = ("fastapi", "starlette", "uvicorn", "eventsourcing", "psycopg")


@pytest.fixture
def bank(node):
    return register(node, "bank.abc", ["bank"])


def client_for(node, transport, **options):
    return LedgerClient(
        BASE, log_key=node.ledger_key.verifier, transport=transport, backoff=0, **options
    )


def path_of(url):
    return urllib.parse.urlsplit(url).path


class Liar:
    """Passes requests through, counting the paths asked for; the answers to the paths in
    `edits` go through `edits[path](bytes) -> bytes`."""

    def __init__(self, send, edits=None):
        self.send, self.edits, self.paths = send, dict(edits or {}), []

    def __call__(self, method, url, headers, body):
        path = path_of(url)
        self.paths.append(path)
        status, answer_headers, data = self.send(method, url, headers, body)
        if path in self.edits:
            data = self.edits[path](data)
        return status, answer_headers, data


class Flaky:
    """Fails the first `failures` calls: refused, a 503, or the answer lost after the server
    acted; then passes through."""

    def __init__(self, send, failures, mode):
        self.send, self.failures, self.mode, self.calls = send, failures, mode, 0

    def __call__(self, method, url, headers, body):
        self.calls += 1
        if self.calls > self.failures:
            return self.send(method, url, headers, body)
        if self.mode == "refused":
            raise ConnectionRefusedError("ledger down")
        if self.mode == "503":
            return 503, {"content-type": "application/problem+json"}, b'{"status": 503}'
        self.send(method, url, headers, body)
        raise ConnectionResetError("answer lost")


def lying(send, path, edit):
    return Liar(send, {path: edit})


def json_edit(edit):
    return lambda data: json.dumps(edit(json.loads(data))).encode()


def entry_of(item):
    return json.loads(base64.b64decode(item["entry"]))


def with_entry(item, entry):
    return {**item, "entry": base64.b64encode(canonical_json(entry)).decode()}


def nudge(timestamp):
    """The same time one digit off: a change no rule notices."""
    return timestamp[:-2] + ("1" if timestamp[-2] != "1" else "2") + "Z"


def grow(node, bank, count, prefix):
    """Append `count` entries behind the client's back and wait until they are in the log."""
    node.ledger.submit_batch(
        [
            submission(bank, f"per:abc:{pid(f'{prefix}{i}')}", "AccountOpened", {})
            for i in range(count)
        ]
    )
    settle(node)


def fork_of(node, size, seed=b"fork"):
    """A checkpoint of `size` with a made-up root, signed by the real ledger key."""
    return sign_checkpoint(
        Checkpoint(node.origin, size, hashlib.sha256(seed).digest()), node.ledger_key
    )


def checkpoint_of(node, note):
    return open_checkpoint(note, node.ledger_key.verifier)[0]


def caught(check_names, call, *args, **kwargs):
    with pytest.raises(VerificationError) as error:
        call(*args, **kwargs)
    assert error.value.check in check_names, error.value
    return error.value


def test_importing_the_client_needs_no_server_packages():
    code = (
        "import sys, client.ledger_client; "
        f"print([m for m in sys.modules if m.split('.')[0] in {SERVER_PACKAGES!r}])"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True
    )
    assert result.stdout.strip() == "[]"


class Echo(BaseHTTPRequestHandler):
    """Answers POST /echo with the request body, anything else with a 404 problem."""

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        status = 200 if self.path == "/echo" else 404
        answer = body if status == 200 else b'{"status": 404, "title": "Not found"}'
        self.send_response(status)
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *args):
        pass


def test_the_default_transport_speaks_http_and_reports_no_answer():
    with ThreadingHTTPServer(("127.0.0.1", 0), Echo) as httpd:
        threading.Thread(target=httpd.serve_forever, daemon=True).start()
        base = f"http://127.0.0.1:{httpd.server_port}"
        status, _, body = urllib_transport("POST", base + "/echo", {}, b"hello")
        assert (status, body) == (200, b"hello")
        status, _, body = urllib_transport("POST", base + "/nowhere", {}, b"{}")
        assert status == 404 and json.loads(body)["title"] == "Not found"
        httpd.shutdown()
    with pytest.raises(TransportError):
        urllib_transport("POST", base + "/echo", {}, b"hello")
    client = LedgerClient(base, log_key=generate_signer("log").verifier, retries=1, backoff=0)
    with pytest.raises(TransportError):
        client.latest_checkpoint()


def test_submit_replay_and_refusals(node, server, bank):
    client = client_for(node, server)
    wire = submission(bank, f"per:abc:{pid('p1')}", "AccountOpened", {})
    receipt = client.submit(wire)
    assert (receipt.account, receipt.seq, receipt.replayed, receipt.proven) == (
        f"per:abc:{pid('p1')}",
        0,
        False,
        False,
    )
    assert receipt.record.signed() == wire
    again = client.submit(wire)
    assert again.replayed and again.leaf_hash == receipt.leaf_hash
    with pytest.raises(LedgerRefused) as refused:
        client.submit(submission(bank, f"per:abc:{pid('p1')}", "AccountOpened", {}))
    assert refused.value.problem.status == 409
    assert refused.value.problem.field == "submission.type"
    stranger = generate_signer("bank.abc")
    with pytest.raises(LedgerRefused) as refused:
        client.submit(submission(stranger, f"per:abc:{pid('p2')}", "AccountOpened", {}))
    assert refused.value.problem.status == 401


@pytest.mark.parametrize("mode", ["refused", "503", "lost"])
def test_retries_never_duplicate(node, server, bank, mode):
    settle(node)
    before = node.reader.size()
    flaky = Flaky(server, 3, mode)
    client = client_for(node, flaky)
    receipt = client.submit(submission(bank, f"per:abc:{pid('p1')}", "AccountOpened", {}))
    assert flaky.calls == 4 and receipt.seq == 0 and receipt.replayed == (mode == "lost")

    flaky.calls, flaky.failures = 0, 2
    wires = [submission(bank, f"per:abc:{pid(f'q{i}')}", "AccountOpened", {}) for i in range(5)]
    wires.append(submission(bank, f"per:abc:{pid('p1')}", "AccountOpened", {}))
    results = client.submit_batch(wires, wait=True)
    receipts, refusal = results[:5], results[5]
    assert all(isinstance(r, Receipt) and r.proven and r.seq == 0 for r in receipts)
    assert all(r.replayed == (mode == "lost") for r in receipts)
    assert isinstance(refusal, Problem) and refusal.status == 409
    settle(node)
    assert node.reader.size() == before + 6

    down = Flaky(server, 99, mode)
    with pytest.raises(TransportError) as error:
        client_for(node, down, retries=2).submit(
            submission(bank, f"per:abc:{pid('p9')}", "AccountOpened", {})
        )
    assert down.calls == 3
    assert error.value.status == (503 if mode == "503" else None)


def test_wait_and_polling_verify_inclusion_and_consistency(node, server, bank):
    recording = Liar(server)
    client = LedgerClient(BASE, transport=recording)  # trust on first use
    receipt = client.submit(
        submission(bank, f"per:abc:{pid('p1')}", "AccountOpened", {}), wait=True
    )
    assert receipt.proven and receipt.index is not None
    assert client.log_key == node.ledger_key.verifier
    assert client.last_checkpoint.size > receipt.index
    first = client.last_checkpoint

    grow(node, bank, 3, "g")
    latest = client.latest_checkpoint()
    assert latest.size == first.size + 3 and client.last_checkpoint == latest
    assert "/v1/log/proof/consistency" in recording.paths

    pending = client.submit(submission(bank, f"per:abc:{pid('p2')}", "AccountOpened", {}))
    assert not pending.proven and pending.index is None
    proven = client.wait_for_inclusion(pending, timeout=10)
    assert proven.proven and proven.index >= latest.size
    assert checkpoint_of(node, proven.checkpoint).size > proven.index
    assert recording.paths.count("/v1/log/key") == 1


def test_an_edited_receipt_is_refused(node, server, bank):
    honest = client_for(node, server)
    kept = {}

    def keep(data):
        kept["receipt"] = data
        return data

    client_for(node, lying(server, "/v1/submissions", keep)).submit(
        submission(bank, f"per:abc:{pid('p0')}", "AccountOpened", {})
    )

    def edit_entry(receipt):
        entry = json.loads(base64.b64decode(receipt["entry"]))
        entry["recorded_at"] = nudge(entry["recorded_at"])
        return with_entry(receipt, entry)

    def edit_both(receipt):
        edited = edit_entry(receipt)
        return {**edited, "leaf_hash": leaf_hash(base64.b64decode(edited["entry"])).hex()}

    def edit_proof(receipt):
        return {**receipt, "inclusion": ["00" * 32, *receipt["inclusion"][1:]]}

    cases = [
        (json_edit(edit_entry), {"receipt leaf hash"}, False),
        (json_edit(edit_both), {"receipt signature"}, False),
        (json_edit(lambda r: {**r, "seq": r["seq"] + 1}), {"receipt signature"}, False),
        (lambda _: kept["receipt"], {"receipt entry"}, False),
        (json_edit(edit_proof), {"inclusion"}, True),
        (json_edit(lambda r: {**r, "index": r["index"] + 1}), {"inclusion"}, True),
    ]
    for number, (edit, checks, wait) in enumerate(cases):
        client = client_for(node, lying(server, "/v1/submissions", edit))
        wire = submission(bank, f"per:abc:{pid(f'p{number + 1}')}", "AccountOpened", {})
        caught(checks, client.submit, wire, wait=wait)
        assert honest.submit(wire).replayed  # the ledger did append it: only the answer lied

    def edit_second(body):
        body["results"][1]["receipt"] = edit_entry(body["results"][1]["receipt"])
        return body

    batch = client_for(node, lying(server, "/v1/submissions/batch", json_edit(edit_second)))
    wires = [submission(bank, f"per:abc:{pid(f'b{i}')}", "AccountOpened", {}) for i in range(3)]
    caught({"receipt leaf hash"}, batch.submit_batch, wires)


def test_a_checkpoint_signed_by_another_key_is_refused(node, server, bank):
    settle(node)  # a checkpoint exists to be re-signed
    impostor = generate_signer(node.origin)  # the log's name, another key

    def resign(data):
        return sign_checkpoint(checkpoint_of(node, data.decode()), impostor).encode()

    client = client_for(node, lying(server, "/v1/log/checkpoint", resign))
    caught({"checkpoint signature"}, client.latest_checkpoint)

    def resign_receipt(receipt):
        return {**receipt, "checkpoint": resign(receipt["checkpoint"].encode()).decode()}

    client = client_for(node, lying(server, "/v1/submissions", json_edit(resign_receipt)))
    wire = submission(bank, f"per:abc:{pid('p1')}", "AccountOpened", {})
    caught({"checkpoint signature"}, client.submit, wire, wait=True)
    assert client.last_checkpoint is None


def test_a_fork_is_caught(node, server, bank):
    settle(node)  # a real tree first: every tree extends the empty one
    liar = Liar(server)
    client = client_for(node, liar)
    seen = client.latest_checkpoint()
    assert seen.size > 0
    grow(node, bank, 3, "f")
    real_size = node.reader.size()
    forks = [
        (fork_of(node, seen.size), {"split view"}),
        (fork_of(node, real_size), {"consistency"}),  # the real proof does not lead to it
        (fork_of(node, real_size + 5), {"consistency"}),  # no proof at all for it
    ]
    for fork, checks in forks:
        liar.edits["/v1/log/checkpoint"] = lambda _, fork=fork: fork.encode()
        caught(checks, client.latest_checkpoint)
        assert client.last_checkpoint == seen
    liar.edits.clear()
    assert client.latest_checkpoint().size == real_size


def test_a_rollback_is_caught(node, server, bank):
    token = node.tokens.create("bank:abc")[1]
    liar = Liar(server)
    client = client_for(node, liar, token=token)
    client.submit(submission(bank, f"per:abc:{pid('p1')}", "AccountOpened", {}), wait=True)
    old = client.statement(f"per:abc:{pid('p1')}")
    old_note = old.bundle["checkpoints"][-1]
    grow(node, bank, 2, "r")
    assert client.latest_checkpoint().size == old.checkpoint.size + 2

    liar.edits["/v1/log/checkpoint"] = lambda _: old_note.encode()
    caught({"rollback"}, client.latest_checkpoint)

    def old_receipt(receipt):
        return {**receipt, "checkpoint": old_note, "index": 0, "inclusion": []}

    liar.edits["/v1/submissions"] = json_edit(old_receipt)
    wire = submission(bank, f"per:abc:{pid('p2')}", "AccountOpened", {})
    caught({"rollback"}, client.submit, wire, wait=True)

    # an old bundle verifies on its own: only the client's memory tells it is stale
    liar.edits[f"/v1/accounts/per:abc:{pid('p1')}/statement"] = lambda _: json.dumps(
        old.bundle
    ).encode()
    caught({"rollback"}, client.statement, f"per:abc:{pid('p1')}")


def test_an_older_answer_overtaken_by_a_newer_one_is_no_rollback(node, server, bank):
    """Two threads: one answer carries checkpoint N, but another thread verified N + 2 first."""
    settle(node)

    def overtaken(method, url, headers, body):
        answer = server(method, url, headers, body)
        if method == "POST":
            grow(node, bank, 2, "c")
            assert client.latest_checkpoint().size == node.reader.size()
        return answer

    client = client_for(node, overtaken)
    client.latest_checkpoint()
    receipt = client.submit(
        submission(bank, f"per:abc:{pid('p1')}", "AccountOpened", {}), wait=True
    )
    assert receipt.proven
    assert checkpoint_of(node, receipt.checkpoint).size < client.last_checkpoint.size


def test_statements_are_verified_and_a_tampered_one_is_caught(node, server, bank):
    token = node.tokens.create("bank:abc")[1]
    client = client_for(node, server, token=token)
    account = f"per:abc:{pid('p1')}"
    client.submit(submission(bank, account, "AccountOpened", {}))
    behaviour = {"behaviour": "online_transfer", "count": 2, "on": "2026-11-20", "ref": "t1"}
    client.submit(submission(bank, account, "GreenBehaviourRecorded", behaviour), wait=True)
    client.submit(submission(bank, f"per:abc:{pid('p2')}", "AccountOpened", {}), wait=True)

    statement = client.statement(account)
    assert (statement.account, statement.seq) == (account, 1)
    assert statement.points > 0 and statement.co2e_g == 48
    assert statement.checkpoint == client.last_checkpoint
    assert statement.report.inclusion_proofs >= 1

    def edit_history(bundle):
        bundle = copy.deepcopy(bundle)
        position = next(
            i for i, item in enumerate(bundle["entries"]) if entry_of(item)["account"] == account
        )
        entry = entry_of(bundle["entries"][position])
        entry["recorded_at"] = nudge(entry["recorded_at"])
        bundle["entries"][position] = with_entry(bundle["entries"][position], entry)
        return bundle

    path = f"/v1/accounts/{account}/statement"
    tampered = client_for(node, lying(server, path, json_edit(edit_history)), token=token)
    error = caught({"inclusion"}, tampered.statement, account)  # every entry is proven
    assert error.failure is not None and error.failure.check == "inclusion"

    other = client.statement(f"per:abc:{pid('p2')}").bundle
    swapped = client_for(
        node, lying(server, path, lambda _: json.dumps(other).encode()), token=token
    )
    caught({"statement"}, swapped.statement, account)

    # after the account moved on, the old statement with the map proof of now: the map
    # holds a newer head, so the statement is stale (a client that saw a newer checkpoint
    # would also refuse the old one's as a rollback)
    assert statement.current_as_of == statement.checkpoint.size
    old = statement.bundle
    again = {**behaviour, "ref": "t2"}
    client.submit(submission(bank, account, "GreenBehaviourRecorded", again), wait=True)
    first, second = statement.checkpoint.size, client.statement(account).current_as_of
    assert second > first
    hashes = [h.hex() for h in node.reader.consistency(first, second)]
    consistency = [{"first": first, "second": second, "hashes": hashes}]

    def stale(bundle):
        return {**old, "map": bundle["map"], "consistency": consistency}

    replayed = client_for(node, lying(server, path, json_edit(stale)), token=token)
    caught({"current"}, replayed.statement, account)

    with pytest.raises(LedgerRefused) as refused:
        client_for(node, server).statement(account)
    assert refused.value.problem.status == 401


@pytest.fixture
def city(node):
    """A small graded demo city, loaded before the server (and its integrator) starts."""
    plan = make_plan(seed=3, banks=2, persons=20, enterprises=12, farms=6)
    assert load(node, plan, seed=3, progress=False) == []
    grade_all(node)
    return plan


def test_evidence_is_verified(node, city, server):
    plan = city
    token = node.tokens.create("regulator")[1]
    client = client_for(node, server, token=token)
    enterprise = next(op.account for op in plan.operations if op.account.startswith("ind:"))
    evidence = client.evidence(enterprise, "2026-Q3")
    assert (evidence.account, evidence.period) == (enterprise, "2026-Q3")
    assert evidence.grade in ("dark_green", "light_green", "yellow", "red")

    def inflate(bundle):
        bundle["benchmark"]["others"][0]["co2e_g"] += 1
        return bundle

    path = f"/v1/accounts/{enterprise}/evidence"
    lied = client_for(node, lying(server, path, json_edit(inflate)), token=token)
    caught({"benchmark"}, lied.evidence, enterprise, "2026-Q3")


def test_a_bank_verifies_any_enterprise_grade_it_lends_against(node, city, server):
    token = node.tokens.create("bank:bank01")[1]
    client = client_for(node, server, token=token)
    enterprise = next(op.account for op in city.operations if op.account.startswith("ind:"))
    farm = next(op.account for op in city.operations if op.account.startswith("agr:"))
    stated = client.grade_statement(enterprise, "2026-Q3")
    assert stated.grade in ("dark_green", "light_green", "yellow", "red")
    assert stated.data["co2e_g"] > 0 and stated.statement.account == enterprise
    assert client.grade_statement(farm, "2026-Q3").data["period"] == "2026-Q3"
    history = client.get_json(f"/v1/accounts/{enterprise}/grades", auth=True)  # not a 404
    assert history["account"] == enterprise
    with pytest.raises(LedgerRefused) as refused:  # the published part only: no raw readings
        client.evidence(enterprise, "2026-Q3")
    assert refused.value.problem.status == 404
    rival = node.tokens.create("ent:" + "9" * 18)[1]  # another firm may not read this one's
    with pytest.raises(LedgerRefused) as refused:
        client_for(node, server, token=rival).grade_statement(enterprise, "2026-Q3")
    assert refused.value.problem.status == 404
    path = f"/v1/accounts/{enterprise}/grade-statement"

    def recolour(answer):
        entry = json.loads(base64.b64decode(answer["entry"]))
        entry["submission"]["data"]["grade"] = (
            "dark_green" if stated.grade != "dark_green" else "red"
        )
        answer["entry"] = base64.b64encode(canonical_json(entry)).decode()
        return answer

    caught(
        {"grade statement"},
        client_for(node, lying(server, path, json_edit(recolour)), token=token).grade_statement,
        enterprise,
        "2026-Q3",
    )
    forged = generate_signer(node.origin)

    def resign(answer):
        text = answer["statement"].split("\n\n")[0] + "\n"
        answer["statement"] = sign_note(text.replace(stated.grade, "dark_green"), forged)
        return answer

    caught(
        {"grade statement"},
        client_for(node, lying(server, path, json_edit(resign)), token=token).grade_statement,
        enterprise,
        "2026-Q3",
    )


def test_an_exchange_verifies_what_a_farm_proves_for_a_quarter(node, city, server):
    token = node.tokens.create("exchange:cex")[1]
    client = client_for(node, server, token=token)
    sold = next(op.account for op in city.operations if op.type == "ReductionRetired")
    stated = client.period_statement(sold, "2026-Q3")
    assert (stated.account, stated.kind, stated.period) == (sold, "farm", "2026-Q3")
    assert stated.reduction_g >= stated.retired_g >= 1
    path = f"/v1/accounts/{sold}/period-statement"

    def inflate(answer):
        answer["statement"] = answer["statement"].replace("reduction_g ", "reduction_g 9", 1)
        return answer

    liar = client_for(node, lying(server, path, json_edit(inflate)), token=token)
    caught({"period statement"}, liar.period_statement, sold, "2026-Q3")
    banker = client_for(node, server, token=node.tokens.create("bank:bank01")[1])
    with pytest.raises(LedgerRefused) as refused:
        banker.period_statement(sold, "2026-Q3")
    assert refused.value.problem.status == 404


def test_a_stale_period_statement_is_caught(node, city, server):
    """The account map shows a period statement's head is the account's newest: after the
    farm moves on, yesterday's statement with today's map fails `current`."""
    token = node.tokens.create("exchange:cex")[1]
    sold = next(op.account for op in city.operations if op.type == "ReductionRetired")
    path = f"/v1/accounts/{sold}/period-statement"
    query = path + "?period=2026-Q3"
    old = client_for(node, server, token=token).get_json(query, auth=True)
    assert old["map"]["proofs"].keys() == {sold}
    exchange = demo_signer(3, "exchange.demo")
    sale = {"period": "2026-Q3", "quantity_g": 1, "ref": "lot:stale-test"}
    node.ledger.submit(submission(exchange, sold, "ReductionRetired", sale))
    settle(node)
    fresh = client_for(node, server, token=token)
    assert fresh.period_statement(sold, "2026-Q3").seq == entry_of(old)["seq"] + 1
    old_size = checkpoint_of(node, old["checkpoint"]).size

    def stale(answer):
        new_size = int(answer["map"]["head"].split("\n")[3])
        hashes = [h.hex() for h in node.reader.consistency(old_size, new_size)]
        kept = {
            "map": answer["map"],
            "consistency": [{"first": old_size, "second": new_size, "hashes": hashes}],
        }
        return {k: v for k, v in old.items() if k not in kept} | kept

    def unproven(answer):
        answer["map"]["proofs"][sold]["siblings"][0] = "00" * 32
        return answer

    def unmapped(answer):
        return {k: v for k, v in answer.items() if k != "map"}

    def no_proof(answer):
        answer["map"]["proofs"] = {}
        return answer

    def odd_consistency(answer):
        return stale(answer) | {"consistency": [1]}

    for edit, checks in (
        (stale, {"current"}),
        (unproven, {"map proof"}),
        (unmapped, {"map head"}),
        (no_proof, {"map proof"}),
        (odd_consistency, {"consistency"}),
    ):
        liar = client_for(node, lying(server, path, json_edit(edit)), token=token)
        caught(checks, liar.period_statement, sold, "2026-Q3")


def test_a_map_head_on_a_fork_of_what_was_seen_is_caught(node, city, server):
    """Another thread saw a newer checkpoint than a statement's: the statement's map head,
    though proven to extend the statement's checkpoint, must not fork from it."""
    client = client_for(node, server)
    before = client.latest_checkpoint()
    grow(node, register(node, "bank.fork", ["bank"]), 3, "fork")
    seen = client.latest_checkpoint()
    assert seen.size > before.size
    same_size = Checkpoint(node.origin, seen.size, hashlib.sha256(b"fork").digest())
    caught({"split view"}, client._consistent_with_seen, same_size, before)
    beyond = Checkpoint(node.origin, seen.size + 5, hashlib.sha256(b"fork").digest())
    caught({"consistency"}, client._consistent_with_seen, beyond, before)
    client._consistent_with_seen(seen, before)  # the real one
    client._consistent_with_seen(beyond, seen)  # nothing seen past what it extends


def test_a_credit_score_system_verifies_a_persons_summary(node, city, server):
    token = node.tokens.create("regulator")[1]
    client = client_for(node, server, token=token)
    person = next(op.account for op in city.operations if op.type == "GreenBehaviourRecorded")
    pid_ = person.rpartition(":")[2]
    summary = client.person_summary(pid_, "2026")
    assert summary.co2e_g > 0 and summary.points > 0
    signed = client.get_json(f"/v1/persons/{pid_}/summary?period=2026", auth=True)
    assert f"\nco2e_g {summary.co2e_g}\npoints {summary.points}\n" in signed["summary"]
    path = f"/v1/persons/{pid_}/summary"

    def drop(answer):  # an honest-looking bundle that lacks the person's entries
        answer["entries"] = [i for i in answer["entries"] if entry_of(i)["account"] != person]
        return answer

    liar = client_for(node, lying(server, path, json_edit(drop)), token=token)
    caught({"statement"}, liar.person_summary, pid_, "2026")


def test_state_file_pins_the_key_and_the_checkpoint_across_restarts(node, server, bank, tmp_path):
    settle(node)
    state = tmp_path / "client" / "state.json"
    first = LedgerClient(BASE, state_file=state, transport=server)  # trust on first use
    seen = first.latest_checkpoint()
    saved = json.loads(state.read_text())
    assert saved["log_key"] == node.ledger_key.verifier.text
    assert checkpoint_of(node, saved["checkpoint"]) == seen
    old_note = saved["checkpoint"]
    grow(node, bank, 3, "s")

    forked = lying(server, "/v1/log/checkpoint", lambda _: fork_of(node, seen.size + 3).encode())
    restarted = LedgerClient(BASE, state_file=state, transport=forked)
    assert restarted.last_checkpoint == seen and restarted.log_key == node.ledger_key.verifier
    caught({"consistency"}, restarted.latest_checkpoint)
    assert "/v1/log/key" not in forked.paths  # pinned by the state file

    newest = LedgerClient(BASE, state_file=state, transport=server).latest_checkpoint()
    assert newest.size == seen.size + 3
    rolled_back = lying(server, "/v1/log/checkpoint", lambda _: old_note.encode())
    caught(
        {"rollback"}, LedgerClient(BASE, state_file=state, transport=rolled_back).latest_checkpoint
    )
    assert sorted(p.name for p in state.parent.iterdir()) == ["state.json"]

    with pytest.raises(VerificationError) as error:
        LedgerClient(BASE, log_key=generate_signer(node.origin).verifier, state_file=state)
    assert error.value.check == "state file"


def test_a_lying_server_cannot_drop_reorder_or_recompute_through_the_client(node, server, bank):
    token = node.tokens.create("bank:abc")[1]
    client = client_for(node, server, token=token)
    account = f"per:abc:{pid('p1')}"
    client.submit(submission(bank, account, "AccountOpened", {}))
    for ref in ("a", "b"):
        behaviour = {"behaviour": "online_transfer", "count": 1, "on": "2026-11-20", "ref": ref}
        client.submit(submission(bank, account, "GreenBehaviourRecorded", behaviour), wait=True)
    path = f"/v1/accounts/{account}/statement"

    def mine(bundle):
        return [
            i for i, item in enumerate(bundle["entries"]) if entry_of(item)["account"] == account
        ]

    def drop(bundle):
        bundle = copy.deepcopy(bundle)
        del bundle["entries"][mine(bundle)[1]]
        return bundle

    def reorder(bundle):
        bundle = copy.deepcopy(bundle)
        first, second = mine(bundle)[:2]
        entries = bundle["entries"]
        entries[first], entries[second] = (
            {**entries[second], "index": entries[first]["index"]},
            {**entries[first], "index": entries[second]["index"]},
        )
        return bundle

    def wrong_factors(bundle):
        bundle = copy.deepcopy(bundle)
        position = mine(bundle)[1]
        entry = entry_of(bundle["entries"][position])
        entry["effect"]["rules"] = "personal-factors@2"
        bundle["entries"][position] = with_entry(bundle["entries"][position], entry)
        return bundle

    # Each entry carries its own proof: a dropped one breaks the chain, a moved or edited one
    # no longer matches its proof.
    for edit, check in ((drop, "chain"), (reorder, "inclusion"), (wrong_factors, "inclusion")):
        liar = client_for(node, lying(server, path, json_edit(edit)), token=token)
        caught({check}, liar.statement, account)


def test_witness_cosignatures_are_checked_by_the_client(node, server, bank):
    from crypto.cosignature import cosign, generate_cosigner
    from crypto.note import split_note

    settle(node)
    witness = generate_cosigner("witness.a")

    def cosigned(data):
        note = data.decode()
        return (note + cosign(split_note(note)[0], witness, 1_764_000_000).line).encode()

    def forged(data):
        line = cosign(split_note(data.decode())[0], witness, 1_764_000_000).line
        return (data.decode() + line.replace(line.split()[-1][-8:], "AAAAAAA=")).encode()

    good = client_for(
        node, lying(server, "/v1/log/checkpoint", cosigned), witnesses=[witness.verifier]
    )
    assert good.latest_checkpoint().size == node.reader.size()
    bare = client_for(node, server, witnesses=[witness.verifier])
    caught({"cosignature"}, bare.latest_checkpoint)
    liar = client_for(
        node, lying(server, "/v1/log/checkpoint", forged), witnesses=[witness.verifier]
    )
    caught({"cosignature"}, liar.latest_checkpoint)


def test_batch_items_not_written_for_a_passing_reason_are_sent_again(node, server, bank):
    from eventsourcing.persistence import IntegrityError, OperationalError

    settle(node)
    before = node.reader.size()
    real_put, calls = node.store.events.put, []

    def put(*args, **kwargs):  # conflict, two items written, then storage trouble once
        calls.append(1)
        if len(calls) == 1:
            raise IntegrityError("another writer")
        if len(calls) == 4:
            raise OperationalError("disk full")
        return real_put(*args, **kwargs)

    node.store.events.put = put
    try:
        wires = [submission(bank, f"per:abc:{pid(f'r{i}')}", "AccountOpened", {}) for i in range(5)]
        results = client_for(node, server).submit_batch(wires)
    finally:
        node.store.events.put = real_put
    assert all(isinstance(r, Receipt) and r.seq == 0 for r in results), results
    settle(node)
    assert node.reader.size() == before + 5
