"""Agricultural accounts over HTTP, on both backends: activities, green-list grades, disputes."""

import pytest

from api.app import create_app
from tests.http_support import (
    bearer,
    effect,
    grade_of,
    grading_run,
    ok,
    publish_version_2,
    refused,
    reverse,
    send,
)
from tests.support import pid, register

GRAIN, PIGS, MILL = "agr:grain-001", "agr:pig-007", "agr:fert-003"


@pytest.fixture
def app(node):
    return create_app(node, node.run_integrator)


@pytest.fixture
def bureau(node):
    return register(node, "agri.bureau", ["agri"])


def record(client, signer, account, name, quantity, unit, start="2026-07-01", end="2026-09-30"):
    """Submit AgriActivityRecorded: `quantity` `unit` of activity `name` from `start` to `end`."""
    data = {"activity": name, "quantity": quantity, "unit": unit, "from": start, "to": end}
    return send(client, signer, account, "AgriActivityRecorded", data)


def register_farms(client, node):
    for account, kind in ((GRAIN, "grain"), (PIGS, "pig"), (MILL, "fertiliser")):
        farm = {"name": account, "kind": kind, "district": "Longyou"}
        ok(send(client, node.authority_key, account, "FarmRegistered", farm))


def test_activity_effects_and_refusals(client, node, bureau):
    register_farms(client, node)
    straw = effect(record(client, bureau, GRAIN, "straw_returned", 1_000_000, "g"))
    assert straw == {"reduction_g": 150_000, "emission_g": 0, "rules": "agri-factors@1"}
    pigs = effect(record(client, bureau, PIGS, "pigs_in_stock", 100, "head_day"))
    assert pigs == {"reduction_g": 0, "emission_g": 82_192, "rules": "agri-factors@1"}
    refused(record(client, bureau, GRAIN, "straw_returned", 1, "kg"), 422, "submission.data.unit")
    refused(record(client, bureau, GRAIN, "alchemy", 1, "g"), 422, "submission.data.activity")
    nowhere = record(client, bureau, "agr:nowhere", "straw_returned", 1, "g")
    refused(nowhere, 409, "submission.account")
    backwards = record(client, bureau, GRAIN, "straw_returned", 1, "g", "2026-09-01", "2026-08-01")
    refused(backwards, 422, "submission.data.from")
    authority = node.authority_key
    refused(record(client, authority, GRAIN, "straw_returned", 1, "g"), 403, "submission.type")
    farm = {"name": "x", "kind": "grain", "district": "y"}
    refused(send(client, authority, GRAIN, "FarmRegistered", farm), 409, "submission.type")
    fish = {**farm, "kind": "fish"}
    refused(send(client, authority, "agr:new", "FarmRegistered", fish), 422, "submission.data.kind")


def test_green_list_grades_and_corrections(client, node, bureau):
    register_farms(client, node)
    ok(record(client, bureau, GRAIN, "straw_returned", 1_000_000, "g"))  # 150 kg sink
    ok(record(client, bureau, PIGS, "pigs_in_stock", 1_000, "head_day"))  # 821.9 kg
    biogas = ok(record(client, bureau, PIGS, "biogas_used", 300_000, "L"))  # 600 kg
    ok(record(client, bureau, MILL, "pigs_in_stock", 10, "head_day"))
    result = grading_run(client, node, "agri", "2026-Q3")
    grades = {r["account"]: grade_of(r) for r in result["appended"]}
    assert grades[GRAIN]["grade"] == "dark_green"  # no emissions, some reduction
    assert (grades[PIGS]["reduction_g"], grades[PIGS]["emission_g"]) == (600_000, 821_918)
    assert grades[PIGS]["grade"] == "mid_green"  # 600 / 822 = 73%
    assert grades[MILL]["grade"] == "none"
    assert grading_run(client, node, "agri", "2026-Q3")["appended"] == []
    ok(reverse(client, bureau, PIGS, biogas["leaf_hash"], "meter fault"))
    ok(record(client, bureau, PIGS, "biogas_used", 100_000, "L"))  # 200 kg: 24%
    again = grading_run(client, node, "agri", "2026-Q3")
    assert [r["account"] for r in again["appended"]] == [PIGS] and again["unchanged"] == 2
    regraded = grade_of(again["appended"][0])
    assert regraded["grade"] == "light_green"
    farm = register(node, "farm.pig-007", ["farm"])
    dispute = {
        "grade": again["appended"][0]["leaf_hash"],
        "reason": "biogas meter replaced",
        "evidence": [],
    }
    neighbour = register(node, "farm.grain-001", ["farm"])
    refused(send(client, neighbour, PIGS, "GradeDisputed", dispute), 403, "submission.key")
    disputed = ok(send(client, farm, PIGS, "GradeDisputed", dispute))
    resolution = {"dispute": disputed["leaf_hash"], "outcome": "rejected", "note": "reading stands"}
    ok(send(client, node.authority_key, PIGS, "DisputeResolved", resolution))
    grader_data = {**regraded, "grade": "dark_green"}
    regrade = send(client, node.grader_key, PIGS, "GradeAssigned", grader_data)
    refused(regrade, 422, "submission.data.grade")


def test_each_kind_of_farm_reports_its_own_items(client, node, bureau):
    register_farms(client, node)
    publish_version_2(client, node, "agri-factors")
    area = effect(record(client, bureau, GRAIN, "planting_area", 50_000, "m2"))
    assert area == {"reduction_g": 0, "emission_g": 0, "rules": "agri-factors@2"}  # a datum
    assert effect(record(client, bureau, GRAIN, "straw_produced", 9_000, "g"))["reduction_g"] == 0
    assert (
        effect(record(client, bureau, GRAIN, "straw_returned", 1_000_000, "g"))["reduction_g"]
        == 150_000
    )
    assert effect(record(client, bureau, PIGS, "manure_produced", 5, "g"))["emission_g"] == 0
    assert effect(record(client, bureau, PIGS, "ecological_area", 5, "m2"))["reduction_g"] == 0
    for item in ("manure_treated", "organic_fertiliser_produced"):
        assert effect(record(client, bureau, MILL, item, 7, "g"))["reduction_g"] == 0
    sold = effect(record(client, bureau, MILL, "organic_fertiliser", 1_000_000, "g"))
    assert sold["reduction_g"] == 166_000
    pigs = refused(
        record(client, bureau, GRAIN, "pigs_in_stock", 10, "head_day"),
        422,
        "submission.data.activity",
    )
    assert "a grain farm does not report pigs_in_stock" in pigs["detail"]
    refused(
        record(client, bureau, MILL, "pigs_in_stock", 10, "head_day"),
        422,
        "submission.data.activity",
    )
    refused(
        record(client, bureau, PIGS, "straw_returned", 10, "g"), 422, "submission.data.activity"
    )


def _settled(listed):
    return listed if listed["farms"] and listed["dropped"] else None


def test_the_green_list_says_who_joined_and_who_dropped_off(node):
    from functools import partial

    from fastapi.testclient import TestClient

    from projections.runner import run_projections
    from tests.serving import until

    app = create_app(node, node.run_integrator, partial(run_projections, node))
    bureau = register(node, "agri.bureau", ["agri"])
    with TestClient(app) as client:
        register_farms(client, node)
        q2, q3 = ("2026-04-01", "2026-06-30"), ("2026-07-01", "2026-09-30")
        ok(record(client, bureau, GRAIN, "straw_returned", 1_000_000, "g", *q2))
        ok(record(client, bureau, PIGS, "biogas_used", 1_000, "L", *q3))
        grading_run(client, node, "agri", "2026-Q2")
        grading_run(client, node, "agri", "2026-Q3")
        listed = until(
            lambda: _settled(client.get("/v1/agri/green-list?period=2026-Q3").json()), 20
        )
    assert listed["since"] == "2026-Q2" and [f["account"] for f in listed["farms"]] == [PIGS]
    assert listed["joined"] == [PIGS] and listed["dropped"] == [GRAIN]


def test_an_exchange_retires_a_farms_reduction_once(client, node, bureau):
    register_farms(client, node)
    exchange = register(node, "exchange.cex", ["exchange"])
    straw = ok(record(client, bureau, GRAIN, "straw_returned", 1_000_000, "g"))  # 150,000 g in Q3
    ok(record(client, bureau, PIGS, "pigs_in_stock", 10, "head_day"))

    def retire(account, grams, ref, period="2026-Q3", signer=exchange):
        data = {"period": period, "quantity_g": grams, "ref": ref}
        return send(client, signer, account, "ReductionRetired", data)

    assert effect(retire(GRAIN, 100_000, "lot-1")) == {"period": "2026-Q3", "retired_g": 100_000}
    refused(retire(GRAIN, 60_000, "lot-2"), 409, "submission.data.quantity_g")  # 50,000 left
    refused(retire(GRAIN, 1, "lot-1"), 409, "submission.data.ref")
    refused(retire(GRAIN, 1, "lot-3", period="2026"), 422, "submission.data.period")
    refused(retire(GRAIN, 1, "lot-3", period="2026-Q2"), 409, "submission.data.quantity_g")
    refused(retire(PIGS, 1, "lot-4"), 409, "submission.data.quantity_g")  # emissions only
    refused(retire(GRAIN, 1, "lot-5", signer=bureau), 403, "submission.type")
    refused(retire(GRAIN, 0, "lot-6"), 422, "submission.data.quantity_g")
    assert effect(retire(GRAIN, 50_000, "lot-7"))["retired_g"] == 50_000
    refused(retire(GRAIN, 1, "lot-8"), 409, "submission.data.quantity_g")  # never twice
    # nor taken back: the activity whose reduction was sold cannot be reversed
    refused(
        reverse(client, bureau, GRAIN, straw["leaf_hash"], "typo"), 409, "submission.data.entry"
    )
    headers = bearer(node, "exchange:cex")
    state = client.get(f"/v1/accounts/{GRAIN}", headers=headers).json()["state"]
    assert state["quarters"]["2026-Q3"] == {
        "reduction_g": 150_000,
        "retired_g": 150_000,
        "unretired_g": 0,
    }
    year = node.ledger.accounts.get(GRAIN).state  # a year sums its quarters' retirements
    assert (year.retired_in("2026"), year.unretired("2026")) == (150_000, 0)
    assert client.get(f"/v1/accounts/{GRAIN}/grades", headers=headers).status_code == 200
    # its entries too, as its statements carry them (one scope for a farm's chain)
    entries = client.get(f"/v1/accounts/{GRAIN}/entries", headers=headers)
    assert entries.status_code == 200 and entries.json()["entries"]
    index = entries.json()["entries"][0]["index"]
    assert client.get(f"/v1/log/entries/{index}", headers=headers).status_code == 200
    # and its evidence: past the scope (the farm has no grade here, so that is what is said)
    evidence = client.get(f"/v1/accounts/{GRAIN}/evidence?period=2026-Q3", headers=headers)
    assert (evidence.status_code, evidence.json()["field"]) == (404, "period"), evidence.text
    person = f"per:abc:{pid('p1')}"
    for path in (f"/v1/accounts/{person}", f"/v1/accounts/{person}/entries"):
        assert client.get(path, headers=headers).status_code == 404


def test_grade_history_shows_each_dispute_and_its_outcome(node):
    from functools import partial

    from fastapi.testclient import TestClient

    from projections.runner import run_projections
    from tests.serving import until

    app = create_app(node, node.run_integrator, partial(run_projections, node))
    bureau = register(node, "agri.bureau", ["agri"])
    farm = register(node, "farm.pig-007", ["farm"])
    with TestClient(app) as client:
        register_farms(client, node)
        ok(record(client, bureau, PIGS, "biogas_used", 1_000, "L"))
        [grade] = grading_run(client, node, "agri", "2026-Q3")["appended"]
        first = {"grade": grade["leaf_hash"], "reason": "meter replaced", "evidence": []}
        disputed = ok(send(client, farm, PIGS, "GradeDisputed", first))
        resolution = {"dispute": disputed["leaf_hash"], "outcome": "upheld", "note": "regrade"}
        ok(send(client, node.authority_key, PIGS, "DisputeResolved", resolution))
        second = {**first, "reason": "and the new one too"}
        ok(send(client, farm, PIGS, "GradeDisputed", second))
        headers = bearer(node, "farm:pig-007")

        def history():
            grades = client.get(f"/v1/accounts/{PIGS}/grades", headers=headers).json()["grades"]
            return grades if grades and len(grades[0]["disputes"]) == 2 else None

        [shown] = until(history, 20)
    assert [(d["reason"], d["outcome"], d["note"]) for d in shown["disputes"]] == [
        ("meter replaced", "upheld", "regrade"),
        ("and the new one too", "open", None),
    ]
