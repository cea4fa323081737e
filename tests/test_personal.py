"""Personal accounts through the HTTP API, on both backends: every rule and every refusal."""

import pytest

from ledger.seeds import PERSONAL_FACTORS
from tests.http_support import effect, publish_version_2, refused, reverse, send
from tests.support import audit_log, integrate_all, pid, register, signed

DAY = "2026-11-20"


@pytest.fixture
def abc(node):
    return register(node, "bank.abc", ["bank"])


@pytest.fixture
def xyz(node):
    return register(node, "bank.xyz", ["bank"])


@pytest.fixture
def opened(client, abc):
    assert send(client, abc, f"per:abc:{pid('p1')}", "AccountOpened", {}).status_code == 201
    return f"per:abc:{pid('p1')}"


def record(client, signer, account, behaviour, count, ref, on=DAY):
    """Submit GreenBehaviourRecorded: `behaviour` done `count` times on day `on`."""
    data = {"behaviour": behaviour, "count": count, "on": on, "ref": ref}
    return send(client, signer, account, "GreenBehaviourRecorded", data)


def redeem(client, signer, account, points, use, ref):
    data = {"points": points, "use": use, "ref": ref}
    return send(client, signer, account, "PointsRedeemed", data)


def test_behaviour_earns_points_by_the_cited_factor_table(client, abc, opened):
    result = effect(record(client, abc, opened, "online_transfer", 2, "r1"))
    assert result == {"counted": 2, "co2e_g": 48, "points": 48, "rules": "personal-factors@1"}


def test_daily_and_monthly_caps_cut_counted(client, abc, opened):
    first = effect(record(client, abc, opened, "online_payment", 8, "a"))
    second = effect(record(client, abc, opened, "online_payment", 5, "b"))
    third = effect(record(client, abc, opened, "online_payment", 1, "c"))
    other_day = effect(record(client, abc, opened, "online_payment", 3, "d", "2026-11-21"))
    counted = [first["counted"], second["counted"], third["counted"], other_day["counted"]]
    assert counted == [8, 2, 0, 3]
    assert second["points"] == 10 and third["points"] == 0
    statement = effect(record(client, abc, opened, "e_statement", 1, "e"))
    again = effect(record(client, abc, opened, "e_statement", 1, "f", "2026-11-02"))
    assert (statement["counted"], again["counted"]) == (1, 0)


def test_redemption_and_its_limits(client, abc, opened):
    record(client, abc, opened, "online_bill_payment", 1, "r1")
    refused(redeem(client, abc, opened, 90, "goods", "x1"), 409, "submission.data.points")
    result = effect(redeem(client, abc, opened, 89, "fee_deduction", "x2"))
    assert result == {"points": -89}
    refused(redeem(client, abc, opened, 1, "goods", "x3"), 409, "submission.data.points")
    refused(redeem(client, abc, opened, 0, "goods", "x4"), 422, "submission.data.points")
    refused(redeem(client, abc, opened, 1, "cash", "x5"), 422, "submission.data.use")


def test_reversal_undoes_exactly_once_and_never_below_zero(client, abc, opened):
    leaf = record(client, abc, opened, "online_loan", 1, "r1").json()["leaf_hash"]
    redeemed = redeem(client, abc, opened, 50, "loan_rate_discount", "x1").json()["leaf_hash"]
    refused(reverse(client, abc, opened, leaf, "dup"), 409, "submission.data.entry")
    undo_redeem = effect(reverse(client, abc, opened, redeemed, "cancelled"))
    assert undo_redeem == {"reverses": redeemed, "points": 50, "co2e_g": 0}
    undo = effect(reverse(client, abc, opened, leaf, "bank error"))
    assert undo == {"reverses": leaf, "points": -89, "co2e_g": -89, "on": DAY}
    refused(reverse(client, abc, opened, leaf, "again"), 409, "submission.data.entry")
    for entry in ("ab" * 32, "nothex"):  # no such entry; not a leaf hash
        refused(reverse(client, abc, opened, entry, "?"), 422, "submission.data.entry")
    # the reversal released the monthly cap: the behaviour counts again
    again = effect(record(client, abc, opened, "online_loan", 5, "r2"))
    assert again["counted"] == 5


def test_refusals(client, node, abc, xyz, opened):
    unopened = record(client, abc, f"per:abc:{pid('p2')}", "online_payment", 1, "u")
    refused(unopened, 409, "submission.account")
    refused(send(client, abc, opened, "AccountOpened", {}), 409, "submission.type")
    refused(send(client, xyz, f"per:abc:{pid('p3')}", "AccountOpened", {}), 403, "submission.key")
    refused(record(client, xyz, opened, "online_payment", 1, "v"), 403, "submission.key")
    refused(record(client, abc, opened, "teleportation", 1, "w"), 422, "submission.data.behaviour")
    refused(record(client, abc, opened, "online_payment", 0, "w"), 422, "submission.data.count")
    for on in ("2026-13-01", "2099-01-01", "2019-01-01"):  # no such day; future; too old
        wrong_day = record(client, abc, opened, "online_payment", 1, "w", on)
        refused(wrong_day, 422, "submission.data.on")
    assert record(client, abc, opened, "online_payment", 1, "same").status_code == 201
    refused(record(client, abc, opened, "online_payment", 1, "same"), 409, "submission.data.ref")
    no_ref = {"behaviour": "online_payment", "count": 1, "on": DAY}
    refused(send(client, abc, opened, "GreenBehaviourRecorded", no_ref), 422, "submission.data")
    refused(send(client, abc, "per:abc", "AccountOpened", {}), 422, "submission.account")
    meter = register(node, "meter.m1", ["meter"])
    refused(redeem(client, meter, opened, 1, "goods", "m"), 403, "submission.type")


def test_a_new_factor_version_applies_from_its_date_and_is_cited(client, node, abc, opened):
    def publish(table, signer=node.authority_key):
        return send(client, signer, "sys:factors", "FactorTablePublished", table)

    factors = {
        **PERSONAL_FACTORS,
        "behaviours": {**PERSONAL_FACTORS["behaviours"], "online_transfer": {"co2e_g": 30}},
    }
    table = {
        "name": "personal-factors",
        "version": 2,
        "valid_from": "2026-11-21",
        "factors": factors,
        "source": "test",
    }
    assert publish(table).status_code == 201
    before = effect(record(client, abc, opened, "online_transfer", 1, "a", "2026-11-20"))
    after = effect(record(client, abc, opened, "online_transfer", 1, "b", "2026-11-21"))
    assert (before["co2e_g"], before["rules"]) == (24, "personal-factors@1")
    assert (after["co2e_g"], after["rules"]) == (30, "personal-factors@2")
    refused(publish(table), 409, "submission.data.version")
    for bad_factors in ({"g_per_point": "1", "behaviours": {}}, {"g_per_point": 1}):
        bad = {**table, "version": 3, "factors": bad_factors}
        refused(publish(bad), 422, "submission.data.factors")
    refused(publish({**table, "name": "x"}), 422, "submission.data.name")
    refused(publish({**table, "version": 3}, abc), 403, "submission.type")


@pytest.mark.parametrize(
    "person",
    [
        "330802199001011234",  # an 18-character resident id
        "33080219900101X",  # a 15-character one
        "33080219900101123x",
        pid("p1").upper(),  # base32, but not the lowercase form `carbon-ledger pid` makes
        pid("p1")[:-1],
        pid("p1") + "a",
        pid("p1")[:-1] + "1",  # 1 is not base32
        "p1",
    ],
)
def test_only_a_pseudonym_may_name_a_person(client, node, abc, person):
    account = f"per:abc:{person}"
    answer = refused(send(client, abc, account, "AccountOpened", {}), 422, "submission.account")
    assert person not in answer["detail"] and "pseudonym" in answer["detail"]
    for kind in ("GreenBehaviourRecorded", "PointsRedeemed"):  # whatever the event
        data = {"behaviour": "online_transfer", "count": 1, "on": DAY, "ref": "r"}
        answer = refused(send(client, abc, account, kind, data), 422, "submission.account")
        assert person not in str(answer)
    assert all(person not in leaf.entry.decode() for leaf in node.log.leaves(0, node.reader.size()))


def _counted(node, person):
    """Behaviours counted on the person's accounts at every bank, as the log's entries say."""
    from tests.support import check_log, integrate_all

    integrate_all(node)
    return sum(
        entry["effect"].get("counted", 0)
        for entry in check_log(node)
        if entry["account"].endswith(":" + person)
    )


def test_caps_are_per_person_across_banks(client, node, abc, xyz):
    person = pid("p1")
    for bank, signer in (("abc", abc), ("xyz", xyz)):
        assert send(client, signer, f"per:{bank}:{person}", "AccountOpened", {}).status_code == 201
    first = effect(record(client, abc, f"per:abc:{person}", "online_transfer", 6, "a1"))
    assert first["counted"] == 6 and "cap" not in first
    second = effect(record(client, xyz, f"per:xyz:{person}", "online_transfer", 6, "x1"))
    assert second == {
        "counted": 4,
        "co2e_g": 96,
        "points": 96,
        "rules": "personal-factors@1",
        "cap": "daily_cap",
        "person_used": 6,
    }
    third = effect(record(client, abc, f"per:abc:{person}", "online_transfer", 1, "a2"))
    assert (third["counted"], third["person_used"]) == (0, 10)
    other_day = effect(
        record(client, xyz, f"per:xyz:{person}", "online_transfer", 3, "x2", on="2026-11-19")
    )
    assert other_day["counted"] == 3
    assert effect(record(client, abc, f"per:abc:{person}", "e_statement", 1, "a3"))["counted"] == 1
    monthly = effect(record(client, xyz, f"per:xyz:{person}", "e_statement", 1, "x3"))
    assert (monthly["counted"], monthly["cap"]) == (0, "monthly_cap")
    assert _counted(node, person) == 6 + 4 + 3 + 1


def test_a_batch_with_a_behaviour_and_a_redemption_on_one_account_keeps_the_cap(node, abc, xyz):
    """Found by bench/scale.py's audit at 583,333 entries: a batch decided an account's
    behaviours without the person's other accounts when the batch also held a redemption on
    that account (which reads no other account), so the person went over the daily cap."""
    person = pid("batched")
    behaviour = {"behaviour": "online_transfer", "on": DAY}
    wires = [
        signed(xyz, f"per:xyz:{person}", "AccountOpened", {}),
        signed(
            xyz,
            f"per:xyz:{person}",
            "GreenBehaviourRecorded",
            {**behaviour, "count": 6, "ref": "x"},
        ),
        signed(abc, f"per:abc:{person}", "AccountOpened", {}),
        signed(
            abc,
            f"per:abc:{person}",
            "GreenBehaviourRecorded",
            {**behaviour, "count": 6, "ref": "a"},
        ),
        signed(
            abc, f"per:abc:{person}", "PointsRedeemed", {"points": 10, "use": "goods", "ref": "r"}
        ),
    ]
    results = node.ledger.submit_batch(wires)
    capped = results[3].record.effect
    assert (capped["counted"], capped["person_used"]) == (4, 6)
    assert _counted(node, person) == 10  # the daily cap, city-wide, in one batch too
    integrate_all(node)
    audit_log(node)  # and the offline replay agrees with every effect


def test_two_banks_at_once_never_exceed_a_persons_cap(node, abc, xyz):
    import threading

    person = pid("busy")
    banks = {"abc": abc, "xyz": xyz}
    for bank, signer in banks.items():
        node.ledger.submit(signed(signer, f"per:{bank}:{person}", "AccountOpened", {}))

    def submit(bank):
        for i in range(12):
            data = {"behaviour": "online_transfer", "count": 1, "on": DAY, "ref": f"{bank}{i}"}
            node.ledger.submit(
                signed(banks[bank], f"per:{bank}:{person}", "GreenBehaviourRecorded", data)
            )

    threads = [threading.Thread(target=submit, args=(bank,)) for bank in banks]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert _counted(node, person) == 10  # the daily cap, city-wide: never 20


def test_two_processes_at_once_never_exceed_a_persons_cap(
    node, abc, xyz, data_dir, storage, tmp_path
):
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    from ledger.keyfiles import write_new_key

    root = Path(__file__).resolve().parent.parent
    person = pid("twice")
    children = []
    for bank, signer in (("abc", abc), ("xyz", xyz)):
        node.ledger.submit(signed(signer, f"per:{bank}:{person}", "AccountOpened", {}))
        key_file = tmp_path / f"{bank}.key"
        write_new_key(key_file, signer)
        command = [sys.executable, "-m", "tests.proc_behaviour", str(data_dir), json.dumps(storage)]
        children.append(
            subprocess.Popen(
                [*command, str(key_file), f"per:{bank}:{person}", "12"],
                env={**os.environ, **storage, "PYTHONPATH": str(root)},
                cwd=root,
            )
        )
    assert [child.wait(timeout=120) for child in children] == [0, 0]
    assert _counted(node, person) == 10


def test_behaviours_beyond_banking_from_a_city_platform(client, node, abc):
    publish_version_2(client, node, "personal-factors")
    platform = register(node, "platform.citybus", ["platform"])
    person = pid("p1")
    city, bank = f"per:citybus:{person}", f"per:abc:{person}"
    assert send(client, platform, city, "AccountOpened", {}).status_code == 201
    assert send(client, abc, bank, "AccountOpened", {}).status_code == 201
    trips = effect(record(client, platform, city, "bus_or_metro_trip", 2, "bus1"))
    assert (trips["co2e_g"], trips["points"], trips["rules"]) == (160, 160, "personal-factors@2")
    saved = effect(record(client, platform, city, "electricity_saved_wh", 1_000, "kwh1"))
    assert saved["co2e_g"] == 570  # 1,000 Wh at 570.3 mg per Wh, rounded half up
    assert effect(record(client, abc, bank, "new_energy_vehicle", 1, "nev1"))["co2e_g"] == 500_000
    second = effect(record(client, platform, city, "new_energy_vehicle", 1, "nev2"))
    assert (second["counted"], second["cap"], second["person_used"]) == (0, "yearly_cap", 1)
    assert effect(record(client, abc, bank, "reusable_goods", 9, "bag1"))["counted"] == 5
    spent = effect(redeem(client, platform, city, 100, "neighbourhood_points", "lin1"))
    assert spent == {"points": -100}
    assert effect(redeem(client, abc, bank, 10, "merchant", "m1")) == {"points": -10}
    refused(record(client, platform, bank, "bus_or_metro_trip", 1, "x"), 403, "submission.key")
    refused(
        send(client, abc, f"per:citybus:{pid('p2')}", "AccountOpened", {}), 403, "submission.key"
    )


def test_a_signed_summary_of_a_persons_reduction_for_the_credit_score(client, node, abc, xyz):
    from crypto.note import open_note
    from crypto.person_summary import parse_person_summary
    from tests.http_support import bearer
    from tests.support import integrate_all

    person = pid("p1")
    for bank, signer in (("abc", abc), ("xyz", xyz)):
        assert send(client, signer, f"per:{bank}:{person}", "AccountOpened", {}).status_code == 201
    ok_a = effect(record(client, abc, f"per:abc:{person}", "online_transfer", 2, "a1"))  # 48 g
    effect(record(client, xyz, f"per:xyz:{person}", "online_payment", 3, "x1"))  # 15 g
    effect(record(client, xyz, f"per:xyz:{person}", "online_payment", 1, "x2", on="2026-08-01"))
    wrong = client.post(
        "/v1/submissions",
        json=signed(
            abc,
            f"per:abc:{person}",
            "GreenBehaviourRecorded",
            {"behaviour": "online_transfer", "count": 1, "on": DAY, "ref": "a2"},
        ),
    )
    reverse(client, abc, f"per:abc:{person}", wrong.json()["leaf_hash"], "entered twice")
    integrate_all(node)
    url = f"/v1/persons/{person}/summary?period=2026-Q4"
    answer = client.get(url, headers=bearer(node, "regulator")).json()
    note = open_note(answer["summary"], [node.ledger_key.verifier])
    summary = parse_person_summary(note.text)
    assert (summary.pid, summary.period) == (person, "2026-Q4")
    assert (summary.co2e_g, summary.points) == (ok_a["co2e_g"] + 15, ok_a["points"] + 15)
    assert [h.account for h in summary.accounts] == [f"per:abc:{person}", f"per:xyz:{person}"]
    assert summary.checkpoint.size == node.reader.size()
    assert client.get(url.replace("Q4", "Q3"), headers=bearer(node, "regulator")).json()
    assert client.get(url, headers=bearer(node, "bank:abc")).status_code == 200  # its customer
    assert client.get(url, headers=bearer(node, "bank:zzz")).status_code == 404  # not its
    missing = client.get(
        f"/v1/persons/{pid('nobody')}/summary?period=2026", headers=bearer(node, "regulator")
    )
    assert missing.status_code == 404


def test_an_exchange_retires_a_persons_reduction_once(client, node, abc, opened):
    exchange = register(node, "exchange.cex", ["exchange"])
    leaf = record(client, abc, opened, "online_loan", 1, "r1").json()["leaf_hash"]  # 89 g

    def retire(grams, ref, signer=exchange, account=opened, period="2026-Q4"):
        data = {"period": period, "quantity_g": grams, "ref": ref}
        return send(client, signer, account, "ReductionRetired", data)

    assert effect(retire(80, "lot-1")) == {"period": "2026-Q4", "retired_g": 80}
    refused(retire(10, "lot-2"), 409, "submission.data.quantity_g")  # 9 g left
    refused(retire(1, "lot-1"), 409, "submission.data.ref")
    refused(retire(1, "lot-3", period="2026-Q3"), 409, "submission.data.quantity_g")
    refused(retire(1, "lot-4", signer=abc), 403, "submission.type")
    refused(retire(1, "lot-5", account=f"per:abc:{pid('p2')}"), 409, "submission.account")
    # a retired reduction cannot be taken back by reversing the behaviour that made it
    refused(reverse(client, abc, opened, leaf, "bank error"), 409, "submission.data.entry")
    assert effect(retire(9, "lot-6"))["retired_g"] == 9
    refused(retire(1, "lot-7"), 409, "submission.data.quantity_g")
    state = node.ledger.accounts.get(opened).state
    assert (state.reduction("2026"), state.retired_in("2026"), state.unretired("2026")) == (
        89,
        89,
        0,
    )
