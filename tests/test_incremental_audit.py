"""Whole-log audits that keep up: streamed, split across worker processes by person, and
resumed from the state a previous audit left (`verify --state`, then `verify --since`)."""

import base64
import dataclasses
import itertools
import json
import multiprocessing
import os
import sqlite3
from pathlib import Path

import msgspec
import pytest

from client.verifier import state as state_file
from client.verifier.audit import Audit, Report
from client.verifier.bundle import BundleError, load_bundle
from client.verifier.chains import DEFAULT_CACHE, Chain, ChainStore
from client.verifier.failure import Failure
from client.verifier.parallel import AuditJob, audit_export, audit_share, one_export
from client.verifier.partition import Share, share_key
from client.verifier.state import ChainRecord, SavedState, StateError, decode_state, save_state
from crypto.account_map import bucket_of, map_key
from crypto.canonical import canonical_json
from crypto.keys import Signer, generate_signer
from ledger.bundles import write_export
from ledger.node import Node
from ledger.rules import initial_state
from tests.files import run_cli
from tests.support import integrate_all, load_city, pid, register, signed

DAY = "2026-11-20"


@pytest.fixture
def city(node):
    return load_city(node, seed=5, banks=3, persons=30, enterprises=10, farms=4)


def export(node: Node, path: Path, since: int = 0) -> Path:
    with path.open("w") as out:
        write_export(node, out, since=since)
    return path


def job(node: Node, bundle: Path, **options) -> AuditJob:
    return AuditJob(bundle, node.ledger_key.verifier.text, **options)


def counts(report: Report) -> dict:
    return {k: v for k, v in dataclasses.asdict(report).items() if k != "statement"}


def more_entries(node: Node, person: str) -> Signer:
    """A new bank's customer: a key registration, an account, some behaviours; the bank."""
    bank = register(node, "bank.late", ["bank"])
    customer(node, bank, person)
    return bank


def customer(node: Node, bank: Signer, person: str, behaviours: int = 3) -> None:
    """An account for `person` at `bank` (bank.late) and some behaviours."""
    account = f"per:late:{pid(person)}"
    node.ledger.submit(signed(bank, account, "AccountOpened", {}))
    for number in range(behaviours):
        data = {"behaviour": "online_transfer", "count": 1, "on": DAY, "ref": f"r{number}"}
        node.ledger.submit(signed(bank, account, "GreenBehaviourRecorded", data))
    integrate_all(node)


def rewrite_line(path: Path, index: int, change) -> None:
    """Replace the entry at `index` in an export by `change(entry)`, canonically encoded."""
    lines = path.read_text().splitlines()
    for number, line in enumerate(lines[1:], start=1):
        item = json.loads(line)
        if item.get("index") == index:
            entry = change(json.loads(base64.b64decode(item["entry"])))
            item["entry"] = base64.b64encode(canonical_json(entry)).decode()
            lines[number] = json.dumps(item)
    path.write_text("\n".join(lines) + "\n")


def test_shares_split_the_accounts_and_together_count_what_one_audit_does(node, city, tmp_path):
    bundle = export(node, tmp_path / "all.jsonl")
    whole = Audit(node.ledger_key.verifier).run(load_bundle(bundle))
    shares = [
        Audit(node.ledger_key.verifier, share=Share(n, 3)).run(load_bundle(bundle))
        for n in range(3)
    ]
    for name in ("accounts", "signatures", "effects", "grades"):
        assert sum(getattr(s, name) for s in shares) == getattr(whole, name), name
    assert all(s.entries == whole.entries for s in shares)
    # the first share folds every leaf to the root; the others only count them
    assert [s.root_recomputed for s in shares] == [True, False, False]
    assert all(s.signatures < whole.signatures for s in shares)  # each did a share
    # a person's accounts at every bank land in one share; enterprises and farms together
    assert share_key(f"per:bank01:{pid('a')}") == share_key(f"per:bank02:{pid('a')}")
    assert share_key("ind:X") == share_key("agr:Y") == ""
    assert share_key("sys:keys") is None
    # ... in the last share: the first also folds the root and the map
    assert [Share(n, 3).replays("ind:X") for n in range(3)] == [False, False, True]
    assert [Share(n, 3).tallies("sys:keys") for n in range(3)] == [True, False, False]
    assert Share().replays("ind:X") and Share().tallies("sys:keys")


def test_workers_and_a_tiny_cache_give_the_same_report(node, city, tmp_path):
    bundle = export(node, tmp_path / "all.jsonl")
    one = audit_export(job(node, bundle), workers=1)
    two = audit_export(job(node, bundle), workers=2)
    spilled = audit_export(job(node, bundle, cache=2), workers=1)  # every state spills
    assert counts(one) == counts(two) == counts(spilled)
    assert one.root_recomputed and one.effects == one.entries


def test_the_first_failure_in_log_order_wins_across_workers(node, city, tmp_path):
    bundle = export(node, tmp_path / "all.jsonl")
    lines = bundle.read_text().splitlines()[1:]
    items = [item for line in lines if "entry" in (item := json.loads(line))]
    behaviours = [
        item["index"]
        for item in items
        if b"GreenBehaviourRecorded" in base64.b64decode(item["entry"])
    ]
    target = behaviours[len(behaviours) // 2]
    rewrite_line(bundle, target, lambda e: {**e, "effect": {**e["effect"], "points": 10**6}})
    with pytest.raises(Failure) as caught:
        audit_export(job(node, bundle), workers=2)
    assert caught.value.check == "effect" and caught.value.where.startswith(f"entry {target} ")


def test_a_chain_spilled_to_the_temporary_file_comes_back_as_it_was():
    chains = ChainStore(cache=1)
    first, second = f"per:abc:{pid('one')}", f"per:abc:{pid('two')}"
    chains.put(first, Chain(3, "ab" * 32, initial_state(first), proven=False))
    chains.put(second, Chain(0, "cd" * 32, initial_state(second)))  # the first spills
    back = chains.get(first)
    assert back is not None and (back.seq, back.head, back.proven) == (3, "ab" * 32, False)
    chains.close()


def test_workers_that_read_different_bytes_fail_the_audit(node, city, tmp_path):
    """The first worker proves the bytes it read against the root; the others must have read
    the same bytes, or an export changed mid-audit would be replayed unproven."""
    bundle = export(node, tmp_path / "all.jsonl")
    whole = audit_export(job(node, bundle), workers=2)  # one file: the same bytes
    respaced = tmp_path / "respaced.jsonl"  # the same values, other bytes
    lines = bundle.read_text().splitlines()
    respaced.write_text("\n".join([*lines[:-1], lines[-1].replace(":", ": ", 1)]) + "\n")
    first = audit_share(job(node, bundle), Share(0, 2))
    second = audit_share(job(node, respaced), Share(1, 2))
    assert first.failure is None and second.failure is None  # each, alone, holds
    assert first.report.entries == second.report.entries == whole.entries
    with pytest.raises(BundleError, match="changed while it was audited"):
        one_export([first, second])


def test_an_audit_resumes_from_its_state_and_checks_only_the_new_entries(node, city, tmp_path):
    state = tmp_path / "audit.state"
    first = audit_export(job(node, export(node, tmp_path / "all.jsonl"), state=state), 2)
    size = first.entries
    more_entries(node, "newcomer")
    since = export(node, tmp_path / "since.jsonl", since=size)
    later = audit_export(job(node, since, since=state, state=state), workers=2)
    assert later.entries == node.reader.size() - size == 5
    assert later.signatures == 5 and later.consistency_proofs == 1 and later.root_recomputed
    assert later.accounts == first.accounts + 1  # the newcomer; sys:keys was there already
    # the new state goes on from the new checkpoint; a whole audit agrees with both
    nothing_new = export(node, tmp_path / "empty.jsonl", since=node.reader.size())
    assert audit_export(job(node, nothing_new, since=state), 1).entries == 0
    whole = audit_export(job(node, export(node, tmp_path / "all2.jsonl")), 2)
    assert whole.accounts == later.accounts and whole.entries == size + 5


def test_a_resumed_audit_still_replays_the_rules_with_the_saved_states(node, tmp_path):
    bank = register(node, "bank.abc", ["bank"])
    account = f"per:abc:{pid('capped')}"
    node.ledger.submit(signed(bank, account, "AccountOpened", {}))
    for number in range(10):  # the daily cap of online transfers
        data = {"behaviour": "online_transfer", "count": 1, "on": DAY, "ref": f"a{number}"}
        node.ledger.submit(signed(bank, account, "GreenBehaviourRecorded", data))
    integrate_all(node)
    state = tmp_path / "audit.state"
    size = audit_export(job(node, export(node, tmp_path / "a.jsonl"), state=state, cache=1), 1)
    data = {"behaviour": "online_transfer", "count": 1, "on": DAY, "ref": "over"}
    node.ledger.submit(signed(bank, account, "GreenBehaviourRecorded", data))
    integrate_all(node)
    since = export(node, tmp_path / "since.jsonl", since=size.entries)
    assert audit_export(job(node, since, since=state), 1).effects == 1
    # the ledger counted nothing over the cap; a log that claims it did fails the replay
    rewrite_line(since, size.entries, lambda e: {**e, "effect": {**e["effect"], "counted": 1}})
    with pytest.raises(Failure) as caught:
        audit_export(job(node, since, since=state), 1)
    assert caught.value.check in {"effect", "tree root"}


def test_what_a_resumed_audit_refuses(node, city, tmp_path):
    state = tmp_path / "audit.state"
    size = audit_export(job(node, export(node, tmp_path / "all.jsonl"), state=state), 1).entries
    kept = state.read_bytes()
    more_entries(node, "newcomer")
    whole = export(node, tmp_path / "all2.jsonl")
    # an export from 0 does not prove the new tree extends the audited one
    with pytest.raises(Failure) as caught:
        audit_export(job(node, whole, since=state), 1)
    assert (caught.value.check, caught.value.where) == (
        "consistency",
        f"sizes {size} -> {size + 5}",
    )
    since = export(node, tmp_path / "since.jsonl", since=size)
    # a proof that the new tree extends the audited one that does not hold (a fork):
    # refused, and a failed audit leaves the state as it was
    lines = since.read_text().splitlines()
    header = json.loads(lines[0])
    header["consistency"][0]["hashes"][0] = "00" * 32
    since.write_text("\n".join([json.dumps(header), *lines[1:]]) + "\n")
    with pytest.raises(Failure) as caught:
        audit_export(job(node, since, since=state, state=state), 1)
    assert caught.value.check == "consistency"
    assert state.read_bytes() == kept
    # a state for another log key, a truncated or garbled state: refused as not a state
    other = AuditJob(since, generate_signer(node.origin).verifier.text, since=state)
    with pytest.raises(StateError):
        audit_export(other, 1)
    for broken in (kept[: len(kept) // 2], kept[:3], b"\x00\x00\x00\x02ab" + kept):
        (tmp_path / "broken.state").write_bytes(broken)
        with pytest.raises((StateError, Failure, BundleError)):
            audit_export(job(node, since, since=tmp_path / "broken.state"), 1)


def test_the_cli_leaves_a_state_and_audits_since_it(node, city, tmp_path):
    vkey = node.ledger_key.verifier.text
    state = tmp_path / "audit.state"
    whole = export(node, tmp_path / "all.jsonl")
    result = run_cli("verify", str(whole), "--log-key", vkey, "--state", str(state), text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "cores' signature ceiling" in result.stdout and state.exists()
    size = node.reader.size()
    more_entries(node, "newcomer")
    since = export(node, tmp_path / "since.jsonl", since=size)
    result = run_cli(
        "verify", str(since), "--log-key", vkey, "--since", str(state), "--state", str(state),
        "--workers", "2", "--json", text=True,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    summary = json.loads(result.stdout)
    assert summary["entries"] == 5 and summary["workers"] == 2
    assert summary["signatures_per_second_one_core"] > 0
    refused = run_cli("verify", str(since), "--log-key", vkey, "--since", "/nonexistent", text=True)
    assert refused.returncode == 2 and "audit state" in refused.stderr


def saved_rows(path: Path) -> dict[str, list]:
    """A state file's contents, account states decoded (a set's order is not the state's)."""
    with sqlite3.connect(path) as db:
        chains = db.execute("SELECT * FROM chains ORDER BY account").fetchall()
        return {
            "chains": [(*row[:-1], decode_state(row[0], row[-1])) for row in chains],
            "buckets": db.execute("SELECT * FROM buckets ORDER BY bucket").fetchall(),
            "reference": db.execute("SELECT * FROM reference ORDER BY account").fetchall(),
            "meta": db.execute("SELECT * FROM meta ORDER BY name").fetchall(),
        }


def test_a_resumed_audit_leaves_the_state_a_whole_audit_would(node, city, tmp_path):
    bank = more_entries(node, "newcomer")
    state = tmp_path / "daily.state"
    first = audit_export(job(node, export(node, tmp_path / "all.jsonl"), state=state), 2)
    # the day moves a saved account, and adds one to a map bucket that holds saved accounts
    data = {"behaviour": "online_transfer", "count": 1, "on": DAY, "ref": "next day"}
    node.ledger.submit(signed(bank, f"per:late:{pid('newcomer')}", "GreenBehaviourRecorded", data))
    with sqlite3.connect(state) as db:
        buckets = {bucket for (bucket,) in db.execute("SELECT bucket FROM chains")}
    name = next(
        name
        for name in (f"sharer {n}" for n in itertools.count())
        if bucket_of(map_key(f"per:late:{pid(name)}")) in buckets
    )
    customer(node, bank, name, behaviours=1)
    since = export(node, tmp_path / "since.jsonl", since=first.entries)
    audit_export(job(node, since, since=state, state=state, cache=3), workers=2)
    whole = tmp_path / "whole.state"
    audit_export(job(node, export(node, tmp_path / "all2.jsonl"), state=whole), 1)
    assert saved_rows(state) == saved_rows(whole)
    # from a copy, too: the state resumed from stays as it was
    kept, copy = state.read_bytes(), tmp_path / "copy.state"
    nothing_new = export(node, tmp_path / "empty.jsonl", since=node.reader.size())
    audit_export(job(node, nothing_new, since=state, state=copy), 1)
    assert state.read_bytes() == kept and saved_rows(copy) == saved_rows(whole)


def test_a_resumed_audit_reads_only_the_accounts_and_buckets_the_new_entries_move(
    node, city, tmp_path
):
    state = tmp_path / "audit.state"
    size = audit_export(job(node, export(node, tmp_path / "all.jsonl"), state=state), 1).entries
    more_entries(node, "newcomer")
    audit = Audit(node.ledger_key.verifier)
    audit.resume(state)
    saved = audit.chains.saved
    assert saved is not None
    read: list[str] = []
    chain = saved.chain
    saved.chain = lambda account: read.append(account) or chain(account)
    audit.run(load_bundle(export(node, tmp_path / "since.jsonl", since=size)))
    assert set(read) == {f"per:late:{pid('newcomer')}"}  # looked for once: it is new
    assert saved.count(0, 1) > 40 > len(audit.account_map.buckets)  # the references' and its


def test_a_resumed_audit_caps_a_person_by_accounts_it_only_saved(node, tmp_path):
    person, first = pid("capped"), register(node, "bank.abc", ["bank"])
    node.ledger.submit(signed(first, f"per:abc:{person}", "AccountOpened", {}))
    for number in range(10):  # the daily cap of online transfers, at the first bank
        data = {"behaviour": "online_transfer", "count": 1, "on": DAY, "ref": f"a{number}"}
        node.ledger.submit(signed(first, f"per:abc:{person}", "GreenBehaviourRecorded", data))
    node.ledger.submit(signed(first, f"per:abc:{pid('other')}", "AccountOpened", {}))
    integrate_all(node)
    state = tmp_path / "audit.state"
    size = audit_export(job(node, export(node, tmp_path / "a.jsonl"), state=state), 1).entries
    second = register(node, "bank.xyz", ["bank"])
    node.ledger.submit(signed(second, f"per:xyz:{person}", "AccountOpened", {}))
    data = {"behaviour": "online_transfer", "count": 1, "on": DAY, "ref": "b"}
    receipt = node.ledger.submit(
        signed(second, f"per:xyz:{person}", "GreenBehaviourRecorded", data)
    )
    assert json.loads(receipt.entry)["effect"]["counted"] == 0  # capped by the other bank's
    integrate_all(node)
    since = export(node, tmp_path / "since.jsonl", since=size)
    for workers, cache in ((1, 1), (2, DEFAULT_CACHE)):
        assert audit_export(job(node, since, since=state, cache=cache), workers).effects == 3
    # a whole audit keeping one account and one person in memory finds the other bank's
    # account (and the person's) again in its temporary file
    whole = export(node, tmp_path / "whole.jsonl")
    assert audit_export(job(node, whole, cache=1), 1).effects == node.reader.size()
    # a saved state that does not decode is refused when the audit meets its account
    with sqlite3.connect(state) as db:
        db.execute("UPDATE chains SET state = x'c1' WHERE account = ?", [f"per:abc:{person}"])
    with pytest.raises(StateError, match="saved state of per:abc"):
        audit_export(job(node, since, since=state), 1)


def test_a_save_cut_short_leaves_the_state_it_resumed_from(node, city, tmp_path, monkeypatch):
    state = tmp_path / "audit.state"
    size = audit_export(job(node, export(node, tmp_path / "all.jsonl"), state=state), 1).entries
    kept = saved_rows(state)
    header = SavedState(state).header
    monkeypatch.setattr(state_file, "CACHE_SIZE", -64)  # pages reach the file before commit

    def killed_while_saving() -> None:
        def records():
            for number in range(12_000):  # past the first batch written
                yield ChainRecord(f"per:late:{pid(str(number))}", 0, "00" * 32, bytes(1000))
            os._exit(3)

        save_state(state, header, records(), since=state)

    child = multiprocessing.get_context("fork").Process(target=killed_while_saving)
    child.start()
    child.join()
    assert child.exitcode == 3 and Path(f"{state}-journal").exists()
    more_entries(node, "newcomer")
    since = export(node, tmp_path / "since.jsonl", since=size)
    assert audit_export(job(node, since, since=state), 1).entries == 5
    assert saved_rows(state) == kept


def test_saved_values_of_the_wrong_shape_are_refused_as_the_state(node, city, tmp_path):
    state = tmp_path / "audit.state"
    size = audit_export(job(node, export(node, tmp_path / "all.jsonl"), state=state), 1).entries
    more_entries(node, "newcomer")
    since = export(node, tmp_path / "since.jsonl", since=size)
    kept = state.read_bytes()
    for change, problem in (
        ("UPDATE buckets SET hash = x'00'", "map buckets"),
        ("UPDATE buckets SET bucket = 70000 WHERE bucket = (SELECT MAX(bucket) FROM buckets)",
         "map buckets"),
        ("UPDATE chains SET seq = 'first', person = 'p' WHERE account LIKE 'per:%'", "chain of"),
        ("UPDATE buckets SET count = -1", "map buckets"),
        ("UPDATE reference SET entries = x'90' WHERE account = 'sys:keys'", "no entries"),
    ):  # fmt: skip
        state.write_bytes(kept)
        with sqlite3.connect(state) as db:
            db.execute(change)
            if "person" in change:  # the newcomer's person: every saved account meets it
                db.execute("UPDATE chains SET person = ?", [pid("newcomer")])
        with pytest.raises(StateError, match=problem):
            audit_export(job(node, since, since=state), 1)
    # a reference account's saved entries must be its chain: none put in, none out of order
    for tamper in (lambda e: [e[0], *e], lambda e: [e[1], e[0], *e[2:]], lambda e: e[1:]):
        state.write_bytes(kept)
        with sqlite3.connect(state) as db:
            (entries,) = db.execute("SELECT entries FROM reference WHERE account = 'sys:keys'")
            changed = msgspec.msgpack.encode(tamper(msgspec.msgpack.decode(entries[0])))
            db.execute("UPDATE reference SET entries = ? WHERE account = 'sys:keys'", [changed])
        with pytest.raises(StateError, match="the saved sys:keys: entry seq"):
            audit_export(job(node, since, since=state), 1)
    # a state that cannot be written is refused as such, the audit done
    state.write_bytes(kept)
    with pytest.raises(StateError, match="cannot write the audit state"):
        audit_export(job(node, since, since=state, state=tmp_path / "all.jsonl" / "x"), 1)


def test_an_entry_nested_too_deeply_fails_the_audit_not_a_worker(node, city, tmp_path):
    bundle = export(node, tmp_path / "all.jsonl")
    lines = bundle.read_text().splitlines()
    number = next(n for n, line in enumerate(lines) if n > 10 and '"entry"' in line)
    item = json.loads(lines[number])
    deep = b'{"a":' + b"[" * 5000 + b"]" * 5000 + b',"account":"per:late:x"}'
    lines[number] = json.dumps({**item, "entry": base64.b64encode(deep).decode()})
    bundle.write_text("\n".join(lines) + "\n")
    for workers in (1, 2):
        with pytest.raises(Failure) as caught:
            audit_export(job(node, bundle), workers)
        assert (caught.value.check, caught.value.where) == ("entry bytes", f"entry {item['index']}")
    # an export line (not an entry) nested as deep: the bundle's fault, said so
    lines[number] = '{"index":' + "[" * 100_000 + "]" * 100_000 + "}"
    bundle.write_text("\n".join(lines) + "\n")
    for workers in (1, 2):
        with pytest.raises(BundleError, match="nested too deeply"):
            audit_export(job(node, bundle), workers)
    bundle.write_text("[" * 100_000 + "]" * 100_000 + "\n")  # and a header line
    with pytest.raises(BundleError, match="nested too deeply"):
        audit_export(job(node, bundle), 1)
