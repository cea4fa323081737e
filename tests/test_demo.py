"""A small demo city loads without refusals, and what the ledger says matches a recomputation
from the demo's plan alone (domain.md's factors and methods, exact fractions)."""

import json
from collections import defaultdict
from fractions import Fraction

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from projections.runner import Projector
from tests.http_support import bearer
from tests.support import audit_log, load_city
from tools.demo import dispute_some, load, make_plan

GRAMS = {
    "online_payment": (5, 10),
    "online_transfer": (24, 10),
    "online_wealth_management": (24, 5),
    "paperless_branch": (24, 5),
    "bus_or_metro_trip": (80, 10),  # personal-factors@2, which the demo publishes
}
ENERGY_UG = {"electricity": 570_300, "raw_coal": 1_900_000}
PROCESS_UG = {"cement_clinker": 520_000}  # industrial-factors@2, which the demo publishes
AGRI = {  # agri-factors@2, which the demo publishes: data items without a factor count zero
    "straw_returned": (150_000, "reduce"),
    "organic_fertiliser": (166_000, "reduce"),
    "biogas_used": (2_000_000, "reduce"),
    "pigs_in_stock": (821_917_808, "emit"),
    "planting_area": (0, "reduce"),
    "straw_produced": (0, "reduce"),
    "manure_produced": (0, "reduce"),
    "manure_treated": (0, "reduce"),
    "organic_fertiliser_produced": (0, "reduce"),
}
COLOURS = ["dark_green", "light_green", "yellow", "red"]
CITY = {"seed": 7, "banks": 3, "persons": 60, "enterprises": 18, "farms": 9}


def grams(quantity, ug):
    return (quantity * ug + 500_000) // 1_000_000


def expected_personal(plan):
    """Points issued and redeemed per bank, applying daily caps per person (across banks)
    and refusing overdrafts."""
    used = defaultdict(int)
    balance = defaultdict(int)
    issued, redeemed, accounts = defaultdict(int), defaultdict(int), defaultdict(int)
    for op in plan.operations:
        bank = op.account.split(":")[1] if op.account.startswith("per:") else None
        if op.type == "AccountOpened":
            accounts[bank] += 1
        elif op.type == "GreenBehaviourRecorded":
            per_gram, cap = GRAMS[op.data["behaviour"]]
            key = (op.account.split(":")[2], op.data["behaviour"], op.data["on"])
            counted = min(op.data["count"], cap - used[key])
            used[key] += counted
            issued[bank] += counted * per_gram
            balance[op.account] += counted * per_gram
        elif op.type == "PointsRedeemed" and op.data["points"] <= balance[op.account]:
            redeemed[bank] += op.data["points"]
            balance[op.account] -= op.data["points"]
    return accounts, issued, redeemed


def expected_industrial(plan, period):
    co2e, value, industry = defaultdict(int), {}, {}
    for op in plan.operations:
        if op.type == "EnterpriseRegistered":
            industry[op.account] = op.data["industry"]
        elif op.type == "EnergyReadingRecorded" and op.data["energy"] in ENERGY_UG:
            quarter = f"{op.data['to'][:4]}-Q{(int(op.data['to'][5:7]) - 1) // 3 + 1}"
            co2e[op.account, quarter] += grams(op.data["quantity"], ENERGY_UG[op.data["energy"]])
        elif op.type == "ProcessOutputRecorded":
            quarter = f"{op.data['to'][:4]}-Q{(int(op.data['to'][5:7]) - 1) // 3 + 1}"
            co2e[op.account, quarter] += grams(op.data["quantity"], PROCESS_UG[op.data["product"]])
        elif op.type == "OutputValueReported":
            value[op.account, op.data["period"]] = op.data["value_fen"]
    totals = defaultdict(lambda: [0, 0])
    for account, code in industry.items():
        totals[code][0] += co2e[account, period]
        totals[code][1] += value[account, period]
    grades = {}
    previous_period = f"{int(period[:4]) - 1}{period[4:]}"
    for account, code in industry.items():
        k = Fraction(co2e[account, period], value[account, period]) / Fraction(*totals[code])
        index = 0 if k <= Fraction(4, 5) else 1 if k <= 1 else 2 if k <= Fraction(6, 5) else 3
        if (account, previous_period) in value:
            now = Fraction(co2e[account, period], value[account, period])
            before = Fraction(co2e[account, previous_period], value[account, previous_period])
            index = (
                max(index - 1, 0)
                if now <= before * Fraction(95, 100)
                else min(index + 1, 3)
                if now > before
                else index
            )
        grades[account] = COLOURS[index]
    return grades


def expected_agri(plan):
    reduction, emission, farms = defaultdict(int), defaultdict(int), []
    for op in plan.operations:
        if op.type == "FarmRegistered":
            farms.append(op.account)
        elif op.type == "AgriActivityRecorded":
            ug, kind = AGRI[op.data["activity"]]
            target = reduction if kind == "reduce" else emission
            target[op.account] += grams(op.data["quantity"], ug)
    grades = {}
    for farm in farms:
        r, e = reduction[farm], emission[farm]
        grades[farm] = (
            "none"
            if r == 0
            else "dark_green"
            if e == 0 or Fraction(r, e) >= 1
            else "mid_green"
            if Fraction(r, e) >= Fraction(1, 2)
            else "light_green"
        )
    return grades


def ledger_grades(node, prefix, period):
    grades = {}
    for leaf in node.log.leaves(0, node.reader.size()):
        entry = json.loads(leaf.entry)
        submission = entry["submission"]
        if (
            submission["type"] == "GradeAssigned"
            and leaf.account.startswith(prefix)
            and submission["data"]["period"] == period
        ):
            grades[leaf.account] = submission["data"]["grade"]
    return grades


@pytest.fixture
def city(node):
    return load_city(node, **CITY)


def test_demo_grades_match_an_independent_recomputation(node, city):
    assert ledger_grades(node, "ind:", "2026-Q3") == expected_industrial(city, "2026-Q3")
    assert ledger_grades(node, "agr:", "2026-Q3") == expected_agri(city)


def test_demo_exercises_the_new_rules(city):
    kinds = {op.type for op in city.operations}
    assert {"ProcessOutputRecorded", "FactorTablePublished", "ReductionRetired"} <= kinds
    assert any(op.signer.startswith("platform.") for op in city.operations)
    items = {op.data["activity"] for op in city.operations if op.type == "AgriActivityRecorded"}
    assert {"planting_area", "manure_produced", "manure_treated"} <= items
    uses = {op.data["use"] for op in city.operations if op.type == "PointsRedeemed"}
    assert {"neighbourhood_points", "merchant"} <= uses
    persons = {op.account.split(":")[2] for op in city.operations if op.account.startswith("per:")}
    assert persons and all(len(person) == 52 and person.islower() for person in persons)


def test_demo_is_deterministic_and_retry_safe(node, city):
    again = make_plan(**CITY)
    assert again.operations == city.operations
    size = node.reader.size()
    # every id replays its receipt
    assert load(node, again, seed=CITY["seed"], progress=False) == []
    node.integrate_pending()
    assert node.reader.size() == size


def test_demo_city_totals_match_an_independent_recomputation(node, city):
    from fastapi.testclient import TestClient

    from api.app import create_app
    from projections.runner import Projector

    Projector(node.store).catch_up()
    accounts, issued, redeemed = expected_personal(city)
    with TestClient(create_app(node)) as client:
        totals = client.get("/v1/city/totals").json()
        personal = totals["personal"]
        assert personal["accounts"] == sum(accounts.values())
        assert personal["issued"] == sum(issued.values()) == personal["co2e_g"]
        assert personal["redeemed"] == sum(redeemed.values())
        assert personal["outstanding"] == sum(issued.values()) - sum(redeemed.values())
        assert "banks" not in personal  # per-bank figures are not public
        regulator = bearer(node, "regulator")
        by_bank = client.get("/v1/city/totals", headers=regulator).json()["personal"]["banks"]
        pids = {op.account.split(":")[2] for op in city.operations if op.account.startswith("per:")}
        assert personal["persons"] == len(pids)
        for bank, count in accounts.items():
            assert (by_bank[bank]["opened"], by_bank[bank]["issued"]) == (count, issued[bank])
        industry_grades = defaultdict(int)
        for grade in expected_industrial(city, "2026-Q3").values():
            industry_grades[grade] += 1
        distribution = totals["grades"]["industrial"]["2026-Q3"]["city"]
        assert distribution == dict(industry_grades)
        agri_grades = defaultdict(int)
        for grade in expected_agri(city).values():
            agri_grades[grade] += 1
        assert totals["grades"]["agricultural"]["2026-Q3"]["city"] == dict(agri_grades)


def test_demo_green_list_and_grade_history_are_served(node, city):
    from fastapi.testclient import TestClient

    from api.app import create_app
    from projections.runner import Projector

    Projector(node.store).catch_up()
    expected = {farm for farm, grade in expected_agri(city).items() if grade != "none"}
    enterprise = next(op.account for op in city.operations if op.account.startswith("ind:"))
    token = node.tokens.create(f"ent:{enterprise[4:]}")[1]
    with TestClient(create_app(node)) as client:
        listed = client.get("/v1/agri/green-list?period=2026-Q3").json()["farms"]
        assert {farm["account"] for farm in listed} == expected
        history = client.get(
            f"/v1/accounts/{enterprise}/grades", headers={"Authorization": f"Bearer {token}"}
        )
        assert [g["period"] for g in history.json()["grades"]] == ["2025-Q3", "2026-Q3"]
        other = next(
            op.account
            for op in city.operations
            if op.account.startswith("ind:") and op.account != enterprise
        )
        assert (
            client.get(
                f"/v1/accounts/{other}/grades", headers={"Authorization": f"Bearer {token}"}
            ).status_code
            == 404
        )


def test_demo_disputes_are_decided_with_their_evidence_and_the_log_still_audits(node, city):
    assert dispute_some(node, seed=CITY["seed"]) == []
    assert dispute_some(node, seed=CITY["seed"]) == []  # retry-safe: replays, no refusal
    disputed = [
        account
        for account in node.log.accounts("ind:") + node.log.accounts("agr:")
        if node.ledger.accounts.get(account).state.disputes
    ]
    assert len(disputed) == 3
    outcomes = [
        d.outcome for a in disputed for d in node.ledger.accounts.get(a).state.disputes.values()
    ]
    assert sorted(outcomes) == ["rejected", "upheld", "upheld"]
    Projector(node.store).catch_up()
    with TestClient(create_app(node)) as client:
        history = client.get(
            f"/v1/accounts/{disputed[0]}/grades", headers=bearer(node, "regulator")
        )
        [shown] = [d for g in history.json()["grades"] for d in g["disputes"]]
        document = client.get(
            f"/v1/documents/{shown['evidence'][0]}", headers=bearer(node, "regulator")
        )
    assert document.status_code == 200 and b"calibration" in document.content
    assert audit_log(node).entries == node.reader.size()
