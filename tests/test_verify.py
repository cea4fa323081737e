"""The offline verifier on real bundles, and a lying server caught by the check that should."""

import base64
import copy
import json

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from client.verifier.audit import Audit
from client.verifier.bundle import bundle_from_object
from client.verifier.failure import Failure
from crypto.canonical import canonical_json
from crypto.checkpoint import Checkpoint, sign_checkpoint
from crypto.note import open_note, sign_note
from ledger.bundles import export_lines
from ledger.domain.personal import period_reduction
from ledger.seeds import PERSONAL_FACTORS
from projections.evidence import evidence_bundle
from projections.runner import Projector
from projections.views import Views
from tests.files import ROOT, run_cli
from tests.http_support import bearer
from tests.support import entry_of, export_object, integrate_all, load_city, pid, signed


@pytest.fixture
def city(node):
    plan = load_city(node, seed=3, banks=2, persons=20, enterprises=12, farms=6)
    Projector(node.store).catch_up()  # grade evidence takes the benchmark from the read models
    return plan


def audit(node, bundle):
    return Audit(node.ledger_key.verifier).run(bundle_from_object(copy.deepcopy(bundle)))


def failure(node, bundle):
    with pytest.raises(Failure) as caught:
        audit(node, bundle)
    return caught.value


def nudge(timestamp):
    """The same time one microsecond-digit off: a change no rule notices."""
    digit = timestamp[-2]
    return timestamp[:-2] + ("1" if digit != "1" else "2") + "Z"


def with_entry(item, entry):
    return {**item, "entry": base64.b64encode(canonical_json(entry)).decode()}


def test_whole_log_export_verifies_with_every_effect_and_grade_recomputed(node, city, tmp_path):
    report = audit(node, export_object(node))
    assert report.root_recomputed and report.entries == node.reader.size()
    assert report.grades > 0 and report.effects == report.entries == report.signatures
    out = tmp_path / "export.jsonl"
    vkey = node.ledger_key.verifier.text
    env = {"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}
    with out.open("w") as file:
        for line in export_lines(node):
            file.write(line + "\n")
    result = run_cli("verify", str(out), "--log-key", vkey, "--json", text=True, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert json.loads(result.stdout)["ok"] is True


def test_statement_verifies_and_one_head_proof_commits_the_history(node, city):
    headers = bearer(node, "bank:bank01")
    account = next(op.account for op in city.operations if op.account.startswith("per:bank01:"))
    with TestClient(create_app(node)) as client:
        response = client.get(f"/v1/accounts/{account}/statement", headers=headers)
        assert response.status_code == 200, response.text
        bundle = response.json()
        other = client.get("/v1/accounts/ind:X/statement", headers=headers)
        assert other.status_code == 404
    report = audit(node, bundle)
    assert report.statement["account"] == account
    mine = [item for item in bundle["entries"] if entry_of(item)["account"] == account]
    assert all("inclusion" in item for item in bundle["entries"])
    # The head's proof alone commits the history: keep only it, edit an older entry, and
    # the chain under the head's proof breaks (positions left unproven on purpose here).
    head_only = copy.deepcopy(bundle)
    for item in head_only["entries"]:
        if entry_of(item)["account"] == account and item["index"] != mine[-1]["index"]:
            del item["inclusion"]
    assert (
        Audit(node.ledger_key.verifier, prove_positions=False)
        .run(bundle_from_object(copy.deepcopy(head_only)))
        .statement
    )
    position = head_only["entries"].index(
        next(i for i in head_only["entries"] if i["index"] == mine[0]["index"])
    )
    entry = entry_of(mine[0])
    entry["recorded_at"] = nudge(entry["recorded_at"])
    head_only["entries"][position] = with_entry(head_only["entries"][position], entry)
    with pytest.raises(Failure) as broken:
        Audit(node.ledger_key.verifier, prove_positions=False).run(bundle_from_object(head_only))
    assert broken.value.check == "chain"
    # without the head's proof nothing ties the history to the log
    unproven = copy.deepcopy(bundle)
    head_position = unproven["entries"].index(mine[-1])
    del unproven["entries"][head_position]["inclusion"]
    assert failure(node, unproven).check == "inclusion"
    # and by default every position must be proven: replay order decides keys and factors
    older_unproven = copy.deepcopy(bundle)
    del older_unproven["entries"][older_unproven["entries"].index(mine[0])]["inclusion"]
    assert failure(node, older_unproven).check == "inclusion"
    # a statement claiming more points than the history gives
    lying = copy.deepcopy(bundle)
    lying["statement"] = lying["statement"].replace(
        f"points {report.statement['points']}\n", f"points {report.statement['points'] + 1}\n"
    )
    assert failure(node, lying).check == "statement"


def test_a_lying_server_is_caught(node, city):
    honest = export_object(node)
    entries = honest["entries"]
    per = next(
        i
        for i, item in enumerate(entries)
        if entry_of(item)["submission"]["type"] == "GreenBehaviourRecorded"
    )

    edited = copy.deepcopy(honest)
    entry = entry_of(entries[per])
    entry["effect"]["points"] += 1
    edited["entries"][per] = with_entry(entries[per], entry)
    caught = failure(node, edited)
    assert (caught.check, caught.field) == ("effect", "effect")

    wrong_rules = copy.deepcopy(honest)
    entry = entry_of(entries[per])
    entry["effect"]["rules"] = "personal-factors@9"
    wrong_rules["entries"][per] = with_entry(entries[per], entry)
    assert failure(node, wrong_rules).check == "effect"

    forged = copy.deepcopy(honest)
    entry = entry_of(entries[per])
    entry["submission"]["data"]["count"] += 1
    forged["entries"][per] = with_entry(entries[per], entry)
    assert failure(node, forged).check == "signature and role"

    dropped = copy.deepcopy(honest)
    del dropped["entries"][per]
    assert failure(node, dropped).check == "completeness"

    reordered = copy.deepcopy(honest)  # two entries of one account swap places
    account = entry_of(entries[per])["account"]
    a = per
    b = next(i for i in range(per + 1, len(entries)) if entry_of(entries[i])["account"] == account)
    reordered["entries"][a], reordered["entries"][b] = (
        {**reordered["entries"][b], "index": a},
        {**reordered["entries"][a], "index": b},
    )
    caught = failure(node, reordered)
    assert (caught.check, caught.field) == ("chain", "seq")

    # a change that every rule accepts (the time of the last entry) leaves only the root to tell
    retimed = copy.deepcopy(honest)
    entry = entry_of(entries[-2])  # the last entry: its checkpoint's map head follows it
    entry["recorded_at"] = nudge(entry["recorded_at"])
    retimed["entries"][-2] = with_entry(entries[-2], entry)
    caught = failure(node, retimed)
    assert caught.check == "tree root", caught


def test_inconsistent_checkpoints_are_caught(node, city):
    honest = export_object(node)
    size, note = node.reader.checkpoint()
    fork = sign_checkpoint(Checkpoint(node.origin, size - 1, bytes(32)), node.ledger_key)
    bundle = {
        **honest,
        "checkpoints": [fork, note],
        "consistency": [
            {
                "first": size - 1,
                "second": size,
                "hashes": [h.hex() for h in node.reader.consistency(size - 1, size)],
            }
        ],
    }
    assert failure(node, bundle).check == "consistency"
    other_key = {**honest, "checkpoints": [note.replace(node.origin, node.origin + "x", 1)]}
    assert failure(node, other_key).check == "checkpoint signature"
    integrate_all(node)


def test_grade_evidence_verifies_and_a_wrong_benchmark_is_caught(node, city):
    enterprise = next(op.account for op in city.operations if op.account.startswith("ind:"))
    farm = next(op.account for op in city.operations if op.account.startswith("agr:"))
    code = enterprise.split(":")[1]
    with TestClient(create_app(node)) as client:
        own = client.get(
            f"/v1/accounts/{enterprise}/evidence?period=2026-Q3",
            headers=bearer(node, f"ent:{code}"),
        )
        assert own.status_code == 200, own.text
        regulator = bearer(node, "regulator")
        full = client.get(
            f"/v1/accounts/{enterprise}/evidence?period=2026-Q3", headers=regulator
        ).json()
        farm_evidence = client.get(
            f"/v1/accounts/{farm}/evidence?period=2026-Q3", headers=regulator
        ).json()
        assert (
            client.get(
                f"/v1/accounts/{enterprise}/evidence?period=2024-Q1", headers=regulator
            ).status_code
            == 404
        )
        assert (
            client.get(
                f"/v1/accounts/{farm}/evidence?period=2026-Q3", headers=own.request.headers
            ).status_code
            == 404
        )
    report = audit(node, own.json())
    assert report.grade["account"] == enterprise
    others = own.json()["benchmark"]["others"]
    assert others and all(
        o["account"] is None and all("entry" not in i for i in o["inputs"]) for o in others
    )
    assert all(
        o["account"] and all("entry" in i for i in o["inputs"]) for o in full["benchmark"]["others"]
    )
    assert audit(node, full).grade["grade"] in ("dark_green", "light_green", "yellow", "red")
    assert audit(node, farm_evidence).grade["account"] == farm
    inflated = copy.deepcopy(full)
    inflated["benchmark"]["others"][0]["co2e_g"] += 1
    assert failure(node, inflated).check == "benchmark"
    hidden_lie = copy.deepcopy(own.json())
    hidden_lie["benchmark"]["others"][0]["inputs"][0]["leaf_hash"] = "00" * 32
    assert failure(node, hidden_lie).check == "inclusion"


def test_witness_cosignatures_are_required_and_checked(node, city):
    from crypto.cosignature import cosign, generate_cosigner
    from crypto.note import split_note

    honest = export_object(node)
    note = honest["checkpoints"][-1]
    body = split_note(note)[0]
    witness, other = generate_cosigner("witness.a"), generate_cosigner("witness.b")
    cosigned = note + cosign(body, witness, 1_764_000_000).line
    bundle = {**honest, "checkpoints": [cosigned]}
    report = Audit(node.ledger_key.verifier, [witness.verifier]).run(
        bundle_from_object(copy.deepcopy(bundle))
    )
    assert report.cosignatures == 1
    with pytest.raises(Failure) as missing:
        Audit(node.ledger_key.verifier, [witness.verifier, other.verifier]).run(
            bundle_from_object(copy.deepcopy(bundle))
        )
    assert (missing.value.check, missing.value.expected, missing.value.found) == (
        "cosignature",
        2,
        1,
    )
    forged_line = cosign(body, witness, 1_764_000_000).line
    forged = note + forged_line.replace(forged_line.split()[-1][-8:], "AAAAAAA=")
    with pytest.raises(Failure) as caught:
        Audit(node.ledger_key.verifier, [witness.verifier]).run(
            bundle_from_object({**honest, "checkpoints": [forged]})
        )
    assert caught.value.check == "cosignature"


def test_a_grade_made_from_a_stale_cache_still_has_verifiable_evidence(node, data_dir, storage):
    """Another worker appends to an enterprise after this worker cached it: the benchmark
    comes from the log below the run's cut, so evidence still adds up."""
    from ledger.ledger import Ledger
    from ledger.storage.factory import storage_env
    from ledger.store import LedgerStore
    from tests.support import register, signed

    meter = register(node, "meter.m1", ["meter"])
    x, y = "ind:91330800AAAAAAAAAA", "ind:91330800BBBBBBBBBB"

    def reading(month, wh):
        return {
            "meter": "m",
            "energy": "electricity",
            "quantity": wh,
            "unit": "Wh",
            "from": f"2026-{month}-01",
            "to": f"2026-{month}-28",
        }

    for account in (x, y):
        node.ledger.submit(
            signed(
                node.authority_key,
                account,
                "EnterpriseRegistered",
                {"name": "n", "industry": "C26", "district": "d"},
            )
        )
        node.ledger.submit(
            signed(meter, account, "EnergyReadingRecorded", reading("01", 1_000_000))
        )
        node.ledger.submit(
            signed(
                meter, account, "OutputValueReported", {"period": "2026-Q1", "value_fen": 100_000}
            )
        )
    node.integrate_pending()
    other_worker = Ledger(
        LedgerStore(env=storage_env(data_dir, storage)), node.ledger_keys, node.origin
    )
    other_worker.submit(signed(meter, x, "EnergyReadingRecorded", reading("02", 5_000_000)))
    node.integrate_pending()
    result = node.grader().run("industrial", "2026-Q1", as_of=node.reader.size())
    assert {r.account for r in result.appended} == {x, y} or result.refused
    node.integrate_pending()
    Projector(node.store).catch_up()
    for account in {r.account for r in result.appended}:
        bundle = evidence_bundle(node, Views(node.store), account, "2026-Q1", lambda _: True)
        report = audit(node, bundle)
        assert report.grade["account"] == account


def test_a_batch_mixing_system_and_account_entries_lands_in_decision_order(node):
    """Registration, use and revocation of a key in one batch: the log keeps that order."""
    from crypto.keys import generate_signer
    from tests.support import signed

    bank = generate_signer("bank.b1")
    results = node.ledger.submit_batch(
        [
            signed(
                node.admin_key,
                "sys:keys",
                "KeyRegistered",
                {"vkey": bank.verifier.text, "roles": ["bank"]},
            ),
            signed(bank, f"per:b1:{pid('p1')}", "AccountOpened", {}),
            signed(node.admin_key, "sys:keys", "KeyRevoked", {"key": bank.key_id}),
        ]
    )
    assert all(hasattr(r, "leaf_hash") for r in results), results
    node.integrate_pending()
    assert audit(node, export_object(node)).entries == node.reader.size()


def test_evidence_cannot_pad_the_benchmark_or_cite_an_old_grade(node, city):
    from tests.support import signed

    enterprise = next(op.account for op in city.operations if op.account.startswith("ind:"))
    with TestClient(create_app(node)) as client:
        full = client.get(
            f"/v1/accounts/{enterprise}/evidence?period=2026-Q3", headers=bearer(node, "regulator")
        ).json()
    assert audit(node, full).benchmark_hidden == 0
    first = full["benchmark"]["others"][0]

    repeated = copy.deepcopy(full)  # one enterprise's reading counted twice
    repeated["benchmark"]["others"][0]["inputs"].append(first["inputs"][0])
    caught = failure(node, repeated)
    assert (caught.check, caught.field) == ("benchmark", "inputs")

    for spelling in (str.upper, lambda text: " ".join([text[:2], text[2:]])):
        respelt = copy.deepcopy(full)  # the same reading again, its leaf hash spelt otherwise
        again = {**first["inputs"][0], "leaf_hash": spelling(first["inputs"][0]["leaf_hash"])}
        respelt["benchmark"]["others"][0]["inputs"].append(again)
        caught = failure(node, respelt)
        assert (caught.check, caught.field) == ("benchmark", "inputs")

    twice = copy.deepcopy(full)  # the same enterprise listed twice
    twice["benchmark"]["others"].append(copy.deepcopy(first))
    assert failure(node, twice).field in ("account", "inputs")

    own_input = next(
        i
        for i in full["entries"]
        if entry_of(i)["account"] == enterprise
        and entry_of(i)["submission"]["type"] == "EnergyReadingRecorded"
    )
    from crypto.merkle import leaf_hash

    hidden = copy.deepcopy(full)  # a made-up hidden enterprise whose input is the graded one's
    hidden["benchmark"]["others"].append(
        {
            "account": None,
            "co2e_g": 1,
            "value_fen": 1,
            "inputs": [
                {
                    "index": own_input["index"],
                    "leaf_hash": leaf_hash(base64.b64decode(own_input["entry"])).hex(),
                    "inclusion": own_input["inclusion"],
                }
            ],
        }
    )
    caught = failure(node, hidden)
    assert (caught.check, caught.field) == ("benchmark", "inputs")

    itself = copy.deepcopy(full)  # the graded enterprise passed off as another
    itself["benchmark"]["others"][0]["account"] = enterprise
    assert failure(node, itself).field == "account"

    # a regrade after a new reading: evidence citing the older grade is refused
    from tools.demo import demo_signer

    meter = demo_signer(3, "meter.demo")
    reading = {
        "meter": "late",
        "energy": "electricity",
        "quantity": 10**9,
        "unit": "Wh",
        "from": "2026-09-01",
        "to": "2026-09-30",
    }
    node.ledger.submit(signed(meter, enterprise, "EnergyReadingRecorded", reading))
    node.integrate_pending()
    assert node.grader().run("industrial", "2026-Q3", node.reader.size()).appended
    node.integrate_pending()
    Projector(node.store).catch_up()
    with TestClient(create_app(node)) as client:
        latest = client.get(
            f"/v1/accounts/{enterprise}/evidence?period=2026-Q3", headers=bearer(node, "regulator")
        ).json()
    assert audit(node, latest).grade["account"] == enterprise
    stale = copy.deepcopy(latest)
    stale["grade"] = full["grade"]
    caught = failure(node, stale)
    assert (caught.check, caught.field) == ("evidence", "grade")


MALFORMED = [
    '{"format": "carbon-ledger/bundle/v1", "origin": "x", "checkpoints": [], "entries": 5}',
    "[1, 2]",
    '{"format": "carbon-ledger/bundle/v1", "origin": "x", "checkpoints": 5}',
    '{"format": "carbon-ledger/bundle/v1", "origin": "x", "checkpoints": [], "entries": [5]}',
    '{"x": ' + "1" * 5000 + "}",
    '{"format": "carbon-ledger/bundle/v1", "origin": "x", "checkpoints": []}\n{"a": '
    + "9" * 5000
    + "}",
]


@pytest.mark.parametrize("text", MALFORMED, ids=range(len(MALFORMED)))
def test_a_malformed_bundle_fails_without_a_traceback(text, tmp_path):
    from crypto.keys import generate_signer

    bundle = tmp_path / "bad.json"
    bundle.write_text(text)
    vkey = generate_signer("ledger.quzhou").verifier.text
    result = run_cli("verify", str(bundle), "--log-key", vkey, text=True)
    assert result.returncode in (1, 2), result.stdout + result.stderr
    assert "Traceback" not in result.stderr


def resign(node, bundle, edit):
    """The bundle with its statement's text changed by `edit` and signed again by the ledger
    key: what a ledger whose key signs wrong figures would hand out."""
    text = open_note(bundle["statement"], [node.ledger_key.verifier]).text
    return {**bundle, "statement": sign_note(edit(text), node.ledger_key)}


def test_period_statements_and_person_summaries_are_recomputed_offline(node, city):
    regulator = bearer(node, "regulator")
    person = next(op.account for op in city.operations if op.type == "GreenBehaviourRecorded")
    farm = next(op.account for op in city.operations if op.type == "ReductionRetired")
    firm = next(op.account for op in city.operations if op.type == "ProcessOutputRecorded")
    kinds = {}
    with TestClient(create_app(node)) as client:
        for account in (person, farm, firm):
            path = f"/v1/accounts/{account}/period-statement?period=2026&history=true"
            response = client.get(path, headers=regulator)
            assert response.status_code == 200, response.text
            bundle = response.json()
            stated = audit(node, bundle).statement
            assert stated["account"] == account and stated["period"] == "2026"
            kinds[stated["kind"]] = stated
            caught = failure(node, resign(node, bundle, lambda t: t.replace("\nseq ", "\nseq 9")))
            assert (caught.check, caught.field) == ("statement", "head")
        pid_ = person.rpartition(":")[2]
        path = f"/v1/persons/{pid_}/summary?period=2026&history=true"
        summary = client.get(path, headers=regulator).json()
    assert kinds["person"]["reduction_g"] > 0 and kinds["person"]["emission_g"] == 0
    assert kinds["farm"]["reduction_g"] >= kinds["farm"]["retired_g"] >= 1
    assert kinds["enterprise"]["emission_g"] > 0 and kinds["enterprise"]["reduction_g"] == 0

    farm_bundle = {**bundle}  # the enterprise's: a statement claiming a reduction is caught
    claimed = resign(node, farm_bundle, lambda t: t.replace("reduction_g 0", "reduction_g 1"))
    assert failure(node, claimed).check == "period figures"

    summed = audit(node, summary).statement
    assert summed["pid"] == pid_ and summed["co2e_g"] >= kinds["person"]["reduction_g"]
    inflated = resign(
        node,
        summary,
        lambda t: t.replace(f"co2e_g {summed['co2e_g']}\n", f"co2e_g {summed['co2e_g'] + 1}\n"),
    )
    assert failure(node, inflated).check == "person summary"

    co2e_g, points = period_reduction(node.ledger.accounts.get(person).state, "2026")

    def drop_one(text):  # an account left out, with its figures taken off the sums
        lines = [line for line in text.split("\n") if not line.startswith(f"account {person} ")]
        text = "\n".join(lines).replace(
            f"co2e_g {summed['co2e_g']}\n", f"co2e_g {summed['co2e_g'] - co2e_g}\n"
        )
        return text.replace(f"points {summed['points']}\n", f"points {summed['points'] - points}\n")

    caught = failure(node, resign(node, summary, drop_one))
    assert (caught.check, caught.field) == ("person summary", "accounts")

    # the account left out and its chain kept out of the bundle too: the account map's
    # proof shows the account holds entries the summary did not sum
    hidden = resign(node, summary, drop_one)
    hidden["entries"] = [e for e in hidden["entries"] if entry_of(e)["account"] != person]
    caught = failure(node, hidden)
    assert (caught.check, caught.field) == ("current", "head")
    unproven = copy.deepcopy(summary)  # every account the person could have is proven
    del unproven["map"]["proofs"][person]
    caught = failure(node, unproven)
    assert (caught.check, caught.field) == ("person summary", "map")


def test_names_beyond_the_bmp_audit_in_the_order_they_were_signed(node):
    """Canonical JSON sorts keys by UTF-16 code units, so a name beyond U+FFFF comes before
    one at U+E000: the audit checks the signature over the submission's bytes in that order
    (a re-sort by code point would make a valid log fail)."""
    behaviours = {
        **PERSONAL_FACTORS["behaviours"],
        "\ue000 private-use": {"co2e_g": 1},
        "\U0001f6b2 bike": {"co2e_g": 2},
    }
    table = {
        "name": "personal-factors",
        "version": 2,
        "valid_from": "2026-11-21",
        "factors": {**PERSONAL_FACTORS, "behaviours": behaviours},
        "source": "test",
    }
    node.ledger.submit(signed(node.authority_key, "sys:factors", "FactorTablePublished", table))
    integrate_all(node)
    entries = [entry_of(item) for item in export_object(node)["entries"] if "entry" in item]
    published = canonical_json(entries[-1]["submission"])
    assert published.index("\U0001f6b2".encode()) < published.index("\ue000".encode())
    assert audit(node, export_object(node)).signatures == len(entries)
