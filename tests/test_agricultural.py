"""Agricultural accounts over HTTP, on both backends: activities, green-list grades, disputes."""

import base64
import json

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from tests.support import register, signed

GRAIN, PIGS, MILL = "agr:grain-001", "agr:pig-007", "agr:fert-003"


@pytest.fixture
def client(node):
    with TestClient(create_app(node, node.run_integrator)) as test_client:
        yield test_client


@pytest.fixture
def bureau(node):
    return register(node, "agri.bureau", ["agri"])


def send(client, signer, account, type_, data):
    return client.post("/v1/submissions", json=signed(signer, account, type_, data))


def ok(response):
    assert response.status_code in (200, 201), response.text
    return response.json()


def effect(response):
    return json.loads(base64.b64decode(ok(response)["entry"]))["effect"]


def refused(response, status, field):
    assert response.status_code == status, response.text
    assert response.json().get("field") == field, response.json()


def activity(name, quantity, unit, start="2026-07-01", end="2026-09-30"):
    return {"activity": name, "quantity": quantity, "unit": unit, "from": start, "to": end}


def register_farms(client, node):
    for account, kind in ((GRAIN, "grain"), (PIGS, "pig"), (MILL, "fertiliser")):
        ok(
            send(
                client,
                node.authority_key,
                account,
                "FarmRegistered",
                {"name": account, "kind": kind, "district": "Longyou"},
            )
        )


def run(client, node, period):
    wire = signed(
        node.authority_key, "sys:grading", "GradingRunRequested", {"kind": "agri", "period": period}
    )
    return ok(client.post("/v1/grading/runs", json=wire))


def test_activity_effects_and_refusals(client, node, bureau):
    register_farms(client, node)
    assert effect(
        send(
            client,
            bureau,
            GRAIN,
            "AgriActivityRecorded",
            activity("straw_returned", 1_000_000, "g"),
        )
    ) == {
        "reduction_g": 150_000,
        "emission_g": 0,
        "rules": "agri-factors@1",
    }
    pigs = effect(
        send(
            client, bureau, PIGS, "AgriActivityRecorded", activity("pigs_in_stock", 100, "head_day")
        )
    )
    assert pigs == {"reduction_g": 0, "emission_g": 82_192, "rules": "agri-factors@1"}
    refused(
        send(client, bureau, GRAIN, "AgriActivityRecorded", activity("straw_returned", 1, "kg")),
        422,
        "submission.data.unit",
    )
    refused(
        send(client, bureau, GRAIN, "AgriActivityRecorded", activity("alchemy", 1, "g")),
        422,
        "submission.data.activity",
    )
    refused(
        send(
            client,
            bureau,
            "agr:nowhere",
            "AgriActivityRecorded",
            activity("straw_returned", 1, "g"),
        ),
        409,
        "submission.account",
    )
    refused(
        send(
            client,
            bureau,
            GRAIN,
            "AgriActivityRecorded",
            activity("straw_returned", 1, "g", "2026-09-01", "2026-08-01"),
        ),
        422,
        "submission.data.from",
    )
    refused(
        send(
            client,
            node.authority_key,
            GRAIN,
            "AgriActivityRecorded",
            activity("straw_returned", 1, "g"),
        ),
        403,
        "submission.type",
    )
    refused(
        send(
            client,
            node.authority_key,
            GRAIN,
            "FarmRegistered",
            {"name": "x", "kind": "grain", "district": "y"},
        ),
        409,
        "submission.type",
    )
    refused(
        send(
            client,
            node.authority_key,
            "agr:new",
            "FarmRegistered",
            {"name": "x", "kind": "fish", "district": "y"},
        ),
        422,
        "submission.data.kind",
    )


def test_green_list_grades_and_corrections(client, node, bureau):
    register_farms(client, node)
    ok(
        send(
            client,
            bureau,
            GRAIN,
            "AgriActivityRecorded",
            activity("straw_returned", 1_000_000, "g"),
        )
    )  # 150 kg sink
    ok(
        send(
            client,
            bureau,
            PIGS,
            "AgriActivityRecorded",
            activity("pigs_in_stock", 1_000, "head_day"),
        )
    )  # 821.9 kg
    biogas = ok(
        send(client, bureau, PIGS, "AgriActivityRecorded", activity("biogas_used", 300_000, "L"))
    )  # 600 kg
    ok(
        send(
            client, bureau, MILL, "AgriActivityRecorded", activity("pigs_in_stock", 10, "head_day")
        )
    )
    result = run(client, node, "2026-Q3")
    grades = {
        r["account"]: json.loads(base64.b64decode(r["entry"]))["submission"]["data"]
        for r in result["appended"]
    }
    assert grades[GRAIN]["grade"] == "dark_green"  # no emissions, some reduction
    assert (grades[PIGS]["reduction_g"], grades[PIGS]["emission_g"]) == (600_000, 821_918)
    assert grades[PIGS]["grade"] == "mid_green"  # 600 / 822 = 73%
    assert grades[MILL]["grade"] == "none"
    assert run(client, node, "2026-Q3")["appended"] == []
    ok(
        send(
            client,
            bureau,
            PIGS,
            "EntryReversed",
            {"entry": biogas["leaf_hash"], "reason": "meter fault"},
        )
    )
    ok(
        send(client, bureau, PIGS, "AgriActivityRecorded", activity("biogas_used", 100_000, "L"))
    )  # 200 kg: 24%
    again = run(client, node, "2026-Q3")
    assert [r["account"] for r in again["appended"]] == [PIGS] and again["unchanged"] == 2
    regraded = json.loads(base64.b64decode(again["appended"][0]["entry"]))["submission"]["data"]
    assert regraded["grade"] == "light_green"
    farm = register(node, "farm.pig-007", ["farm"])
    dispute = {
        "grade": again["appended"][0]["leaf_hash"],
        "reason": "biogas meter replaced",
        "evidence": [],
    }
    refused(
        send(client, register(node, "farm.grain-001", ["farm"]), PIGS, "GradeDisputed", dispute),
        403,
        "submission.key",
    )
    disputed = ok(send(client, farm, PIGS, "GradeDisputed", dispute))
    ok(
        send(
            client,
            node.authority_key,
            PIGS,
            "DisputeResolved",
            {"dispute": disputed["leaf_hash"], "outcome": "rejected", "note": "reading stands"},
        )
    )
    grader_data = {**regraded, "grade": "dark_green"}
    refused(
        send(client, node.grader_key, PIGS, "GradeAssigned", grader_data),
        422,
        "submission.data.grade",
    )
