"""Industrial accounts over HTTP, on both backends: readings, output, grades, disputes."""

import base64
import json
from fractions import Fraction

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from tests.support import register, signed

A, B, C, D = (f"ind:91330800MA{n}XXXXXXX" for n in "ABCD")  # C26 x3, C30 x1


@pytest.fixture
def client(node):
    with TestClient(create_app(node, node.run_integrator)) as test_client:
        yield test_client


@pytest.fixture
def meter(node):
    return register(node, "meter.lvnengma", ["meter"])


def send(client, signer, account, type_, data, **kwargs):
    return client.post("/v1/submissions", json=signed(signer, account, type_, data, **kwargs))


def ok(response):
    assert response.status_code in (200, 201), response.text
    return response.json()


def effect(response):
    return json.loads(base64.b64decode(ok(response)["entry"]))["effect"]


def refused(response, status, field):
    assert response.status_code == status, response.text
    assert response.json().get("field") == field, response.json()


def reading(energy, quantity, unit, start, end, meter_id="M1"):
    return {
        "meter": meter_id,
        "energy": energy,
        "quantity": quantity,
        "unit": unit,
        "from": start,
        "to": end,
    }


def register_enterprises(client, node):
    for account, industry in ((A, "C26"), (B, "C26"), (C, "C26"), (D, "C30")):
        ok(
            send(
                client,
                node.authority_key,
                account,
                "EnterpriseRegistered",
                {"name": account[-8:], "industry": industry, "district": "Kecheng"},
            )
        )


def run(client, node, kind, period):
    wire = signed(
        node.authority_key, "sys:grading", "GradingRunRequested", {"kind": kind, "period": period}
    )
    response = client.post("/v1/grading/runs", json=wire)
    return ok(response)


def grade_of(receipt):
    return json.loads(base64.b64decode(receipt["entry"]))["submission"]["data"]


def test_readings_effects_and_refusals(client, node, meter):
    register_enterprises(client, node)
    assert effect(
        send(
            client,
            meter,
            A,
            "EnergyReadingRecorded",
            reading("electricity", 1_000_000, "Wh", "2026-07-01", "2026-07-31"),
        )
    ) == {
        "co2e_g": 570_300,
        "rules": "industrial-factors@1",
    }
    assert effect(
        send(
            client,
            meter,
            A,
            "EnergyReadingRecorded",
            reading("water", 1_000, "L", "2026-07-01", "2026-07-31", "W1"),
        )
    ) == {
        "scope3_co2e_g": 168,
        "rules": "industrial-factors@1",
    }
    assert (
        effect(
            send(
                client,
                meter,
                A,
                "EnergyReadingRecorded",
                reading("raw_coal", 3, "g", "2026-07-01", "2026-07-31", "K1"),
            )
        )["co2e_g"]
        == 6
    )  # 5.7 -> 6
    refused(
        send(
            client,
            meter,
            A,
            "EnergyReadingRecorded",
            reading("steam", 1, "Wh", "2026-07-01", "2026-07-31", "S1"),
        ),
        422,
        "submission.data.unit",
    )
    refused(
        send(
            client,
            meter,
            A,
            "EnergyReadingRecorded",
            reading("electricity", 1, "Wh", "2026-07-15", "2026-08-15"),
        ),
        409,
        "submission.data.from",
    )
    refused(
        send(
            client,
            meter,
            A,
            "EnergyReadingRecorded",
            reading("electricity", 1, "Wh", "2026-08-15", "2026-08-01"),
        ),
        422,
        "submission.data.from",
    )
    refused(
        send(
            client,
            meter,
            A,
            "EnergyReadingRecorded",
            reading("electricity", 1, "Wh", "2026-08-01", "2099-01-01"),
        ),
        422,
        "submission.data.to",
    )
    refused(
        send(
            client,
            meter,
            A,
            "EnergyReadingRecorded",
            reading("electricity", -1, "Wh", "2026-08-01", "2026-08-31"),
        ),
        422,
        "submission.data.quantity",
    )
    refused(
        send(
            client,
            meter,
            A,
            "EnergyReadingRecorded",
            reading("nuclear", 1, "Wh", "2026-08-01", "2026-08-31"),
        ),
        422,
        "submission.data.energy",
    )
    refused(
        send(
            client,
            meter,
            "ind:91330800MAZXXXXXXX",
            "EnergyReadingRecorded",
            reading("electricity", 1, "Wh", "2026-08-01", "2026-08-31"),
        ),
        409,
        "submission.account",
    )
    refused(
        send(
            client,
            node.authority_key,
            A,
            "EnergyReadingRecorded",
            reading("electricity", 1, "Wh", "2026-08-01", "2026-08-31"),
        ),
        403,
        "submission.type",
    )
    refused(
        send(
            client,
            meter,
            A,
            "EnterpriseRegistered",
            {"name": "x", "industry": "C26", "district": "y"},
        ),
        403,
        "submission.type",
    )
    refused(
        send(
            client,
            node.authority_key,
            A,
            "EnterpriseRegistered",
            {"name": "x", "industry": "C26", "district": "y"},
        ),
        409,
        "submission.type",
    )
    refused(
        send(
            client,
            node.authority_key,
            "ind:SHORT",
            "EnterpriseRegistered",
            {"name": "x", "industry": "C26", "district": "y"},
        ),
        422,
        "submission.account",
    )
    refused(
        send(
            client,
            node.authority_key,
            "ind:91330800MAQXXXXXXX",
            "EnterpriseRegistered",
            {"name": "x", "industry": "26", "district": "y"},
        ),
        422,
        "submission.data.industry",
    )
    # another meter may read the same period; a reversal frees the range
    assert (
        send(
            client,
            meter,
            A,
            "EnergyReadingRecorded",
            reading("electricity", 5, "Wh", "2026-07-01", "2026-07-31", "M2"),
        ).status_code
        == 201
    )
    first = ok(
        send(
            client,
            meter,
            B,
            "EnergyReadingRecorded",
            reading("natural_gas", 1_000, "L", "2026-07-01", "2026-07-31"),
        )
    )
    undo = effect(
        send(
            client,
            meter,
            B,
            "EntryReversed",
            {"entry": first["leaf_hash"], "reason": "meter fault"},
        )
    )
    assert undo == {"reverses": first["leaf_hash"], "co2e_g": -2162, "on": "2026-07-31"}
    assert (
        send(
            client,
            meter,
            B,
            "EnergyReadingRecorded",
            reading("natural_gas", 900, "L", "2026-07-01", "2026-07-31"),
        ).status_code
        == 201
    )
    refused(
        send(client, meter, B, "EntryReversed", {"entry": first["leaf_hash"], "reason": "again"}),
        409,
        "submission.data.entry",
    )


def test_output_value_one_live_value_per_quarter(client, node, meter):
    register_enterprises(client, node)
    first = ok(
        send(client, meter, A, "OutputValueReported", {"period": "2026-Q3", "value_fen": 100})
    )
    refused(
        send(
            client,
            node.authority_key,
            A,
            "OutputValueReported",
            {"period": "2026-Q3", "value_fen": 200},
        ),
        409,
        "submission.data.period",
    )
    refused(
        send(client, meter, A, "OutputValueReported", {"period": "2026", "value_fen": 200}),
        422,
        "submission.data.period",
    )
    refused(
        send(client, meter, A, "OutputValueReported", {"period": "2026-Q5", "value_fen": 200}),
        422,
        "submission.data.period",
    )
    assert (
        effect(
            send(client, meter, A, "EntryReversed", {"entry": first["leaf_hash"], "reason": "typo"})
        )["value_fen"]
        == -100
    )
    assert effect(
        send(
            client,
            node.authority_key,
            A,
            "OutputValueReported",
            {"period": "2026-Q3", "value_fen": 200},
        )
    ) == {"period": "2026-Q3", "value_fen": 200}


def expected_grade(co2e, value, industry_co2e, industry_value, previous):
    """An independent reading of domain.md's method, with exact fractions."""
    colours = ["dark_green", "light_green", "yellow", "red"]
    k = Fraction(co2e, value) / Fraction(industry_co2e, industry_value)
    index = 0 if k <= Fraction(8, 10) else 1 if k <= 1 else 2 if k <= Fraction(12, 10) else 3
    if previous:
        now, before = Fraction(co2e, value), Fraction(*previous)
        if now <= before * Fraction(95, 100):
            index = max(index - 1, 0)
        elif now > before:
            index = min(index + 1, 3)
    return colours[index]


def load_quarter(client, meter, period_days, figures):
    start, end = period_days
    for account, (wh, fen) in figures.items():
        ok(
            send(
                client,
                meter,
                account,
                "EnergyReadingRecorded",
                reading("electricity", wh, "Wh", start, end),
            )
        )
        ok(
            send(
                client,
                meter,
                account,
                "OutputValueReported",
                {"period": f"{end[:4]}-Q{(int(end[5:7]) - 1) // 3 + 1}", "value_fen": fen},
            )
        )


def test_grading_run_follows_the_method_and_is_idempotent(client, node, meter):
    register_enterprises(client, node)
    last_year = {A: (1_000_000, 1_000_000), B: (1_000_000, 1_000_000)}
    this_year = {
        A: (700_000, 1_000_000),
        B: (1_000_000, 900_000),
        C: (1_500_000, 1_000_000),
        D: (10, 10),
    }
    load_quarter(client, meter, ("2025-07-01", "2025-09-30"), last_year)
    load_quarter(client, meter, ("2026-07-01", "2026-09-30"), this_year)
    result = run(client, node, "industrial", "2026-Q3")
    grades = {r["account"]: grade_of(r) for r in result["appended"]}
    assert set(grades) == {A, B, C, D} and result["refused"] == []
    co2e = {a: (wh * 570_300 + 500_000) // 1_000_000 for a, (wh, _) in this_year.items()}
    before = {a: (wh * 570_300 + 500_000) // 1_000_000 for a, (wh, _) in last_year.items()}
    c26_co2e = co2e[A] + co2e[B] + co2e[C]
    c26_value = sum(this_year[a][1] for a in (A, B, C))
    for account in (A, B, C):
        previous = (before[account], last_year[account][1]) if account in last_year else None
        grade = grades[account]
        assert (grade["industry_co2e_g"], grade["industry_value_fen"]) == (c26_co2e, c26_value)
        assert grade["grade"] == expected_grade(
            co2e[account], this_year[account][1], c26_co2e, c26_value, previous
        )
        assert grade["previous"] == (
            None if previous is None else {"co2e_g": previous[0], "value_fen": previous[1]}
        )
        assert grade["method"] == "industrial-grading@1" and len(grade["inputs"]) == 2
    assert grades[D]["grade"] == "light_green"  # alone in its industry: K = 1
    again = run(client, node, "industrial", "2026-Q3")
    assert again["appended"] == [] and again["unchanged"] == 4
    # a correction to C changes C26's benchmark: C26 regraded, C30 unchanged
    old_inputs = grades[C]["inputs"]
    for leaf in old_inputs:  # reverse C's reading and output value, then report them again
        ok(send(client, meter, C, "EntryReversed", {"entry": leaf, "reason": "recalibrated"}))
    load_quarter(client, meter, ("2026-07-01", "2026-09-30"), {C: (900_000, 1_000_000)})
    third = run(client, node, "industrial", "2026-Q3")
    assert {r["account"] for r in third["appended"]} == {A, B, C} and third["unchanged"] == 1
    regraded = grade_of(next(r for r in third["appended"] if r["account"] == C))
    assert not set(old_inputs) & set(regraded["inputs"])


def test_grade_refusals_and_disputes(client, node, meter):
    register_enterprises(client, node)
    load_quarter(
        client,
        meter,
        ("2026-07-01", "2026-09-30"),
        {A: (1_000_000, 1_000_000), B: (2_000_000, 1_000_000)},
    )
    result = run(client, node, "industrial", "2026-Q3")
    grade_a = next(r for r in result["appended"] if r["account"] == A)
    data = grade_of(grade_a)
    grader = node.grader_key
    refused(send(client, meter, A, "GradeAssigned", data), 403, "submission.type")
    refused(
        send(client, grader, A, "GradeAssigned", {**data, "co2e_g": data["co2e_g"] + 1}),
        422,
        "submission.data.co2e_g",
    )
    wrong = "red" if data["grade"] != "red" else "dark_green"
    refused(
        send(client, grader, A, "GradeAssigned", {**data, "grade": wrong}),
        422,
        "submission.data.grade",
    )
    refused(
        send(client, grader, A, "GradeAssigned", {**data, "inputs": data["inputs"][:1]}),
        422,
        "submission.data.inputs",
    )
    refused(
        send(client, grader, A, "GradeAssigned", {**data, "method": "industrial-grading@9"}),
        422,
        "submission.data.method",
    )
    refused(
        send(client, grader, A, "GradeAssigned", {**data, "period": "2026-Q2"}),
        422,
        "submission.data.period",
    )
    code = A.split(":")[1]
    enterprise = register(node, f"ent.{code}", ["enterprise"])
    other = register(node, f"ent.{B.split(':')[1]}", ["enterprise"])
    dispute = {
        "grade": grade_a["leaf_hash"],
        "reason": "meter M1 was miscalibrated",
        "evidence": ["ab" * 32],
    }
    refused(send(client, other, A, "GradeDisputed", dispute), 403, "submission.key")
    refused(
        send(client, enterprise, A, "GradeDisputed", {**dispute, "grade": "cd" * 32}),
        422,
        "submission.data.grade",
    )
    refused(
        send(client, enterprise, A, "GradeDisputed", {**dispute, "evidence": ["xyz"]}),
        422,
        "submission.data.evidence[0]",
    )
    disputed = ok(send(client, enterprise, A, "GradeDisputed", dispute))
    resolution = {
        "dispute": disputed["leaf_hash"],
        "outcome": "upheld",
        "note": "recalibrate and regrade",
    }
    refused(send(client, enterprise, A, "DisputeResolved", resolution), 403, "submission.type")
    refused(
        send(
            client, node.authority_key, A, "DisputeResolved", {**resolution, "dispute": "ef" * 32}
        ),
        422,
        "submission.data.dispute",
    )
    ok(send(client, node.authority_key, A, "DisputeResolved", resolution))
    refused(
        send(client, node.authority_key, A, "DisputeResolved", resolution),
        409,
        "submission.data.dispute",
    )


def test_grading_run_requests_are_checked(client, node, meter):
    wire = signed(
        meter, "sys:grading", "GradingRunRequested", {"kind": "industrial", "period": "2026-Q3"}
    )
    refused(client.post("/v1/grading/runs", json=wire), 403, "submission.type")
    wire = signed(
        node.authority_key,
        "sys:grading",
        "GradingRunRequested",
        {"kind": "industrial", "period": "Q3"},
    )
    refused(client.post("/v1/grading/runs", json=wire), 422, "submission.data.period")
    wire = signed(node.authority_key, "sys:keys", "KeyRevoked", {"key": meter.key_id})
    refused(client.post("/v1/grading/runs", json=wire), 422, "submission.type")
    empty = run(client, node, "agri", "2026-Q3")
    assert empty["appended"] == [] and empty["unchanged"] == 0
