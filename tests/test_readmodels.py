"""Read models over HTTP on both backends: persons (scoped), city totals, benchmarks, after=."""

import dataclasses
from functools import partial

import pytest

from api.app import create_app
from projections.runner import run_projections
from tests.http_support import bearer
from tests.support import pid, register, signed

DAY = "2026-11-20"


@pytest.fixture
def app(node):
    return create_app(node, node.run_integrator, partial(run_projections, node))


def submit(client, wire):
    response = client.post("/v1/submissions?wait=true", json=wire)
    assert response.status_code == 201, response.text
    return response.json()


def test_person_totals_across_banks_are_scoped(client, node):
    abc, xyz = register(node, "bank.abc", ["bank"]), register(node, "bank.xyz", ["bank"])
    submit(client, signed(abc, f"per:abc:{pid('p1')}", "AccountOpened", {}))
    submit(client, signed(xyz, f"per:xyz:{pid('p1')}", "AccountOpened", {}))
    submit(
        client,
        signed(
            abc,
            f"per:abc:{pid('p1')}",
            "GreenBehaviourRecorded",
            {"behaviour": "online_transfer", "count": 1, "on": DAY, "ref": "a"},
        ),
    )
    last = submit(
        client,
        signed(
            xyz,
            f"per:xyz:{pid('p1')}",
            "GreenBehaviourRecorded",
            {"behaviour": "online_payment", "count": 2, "on": DAY, "ref": "b"},
        ),
    )
    after = f"?after={last['index']}"
    regulator = client.get(f"/v1/persons/{pid('p1')}{after}", headers=bearer(node, "regulator"))
    assert regulator.status_code == 200, regulator.text
    person = regulator.json()
    assert (person["points"], person["co2e_g"], person["accounts"]) == (34, 34, 2)
    assert sorted(person["banks"]) == ["abc", "xyz"]
    assert (
        client.get(f"/v1/persons/{pid('p1')}{after}", headers=bearer(node, "bank:abc")).status_code
        == 200
    )
    for principal in ("bank:zzz", "ent:91330800MAAXXXXXXX", "farm:x"):
        response = client.get(f"/v1/persons/{pid('p1')}{after}", headers=bearer(node, principal))
        assert response.status_code == 404, principal
    missing = client.get(f"/v1/persons/nobody{after}", headers=bearer(node, "regulator"))
    assert (
        missing.status_code == 404
        and missing.json()
        == client.get(f"/v1/persons/{pid('p1')}{after}", headers=bearer(node, "bank:zzz")).json()
    )
    assert client.get("/v1/persons/p1").status_code == 401


def test_city_totals_are_public_benchmarks_not_and_both_read_your_writes(client, node):
    meter = register(node, "meter.m1", ["meter"])
    account = "ind:91330800MAAXXXXXXX"
    submit(
        client,
        signed(
            node.authority_key,
            account,
            "EnterpriseRegistered",
            {"name": "A", "industry": "C26", "district": "K"},
        ),
    )
    submit(
        client,
        signed(
            meter,
            account,
            "EnergyReadingRecorded",
            {
                "meter": "M",
                "energy": "electricity",
                "quantity": 1000,
                "unit": "Wh",
                "from": "2026-07-01",
                "to": "2026-07-31",
            },
        ),
    )
    last = submit(
        client,
        signed(meter, account, "OutputValueReported", {"period": "2026-Q3", "value_fen": 5000}),
    )
    path = f"/v1/industries/C26/benchmark?period=2026-Q3&after={last['index']}"
    assert client.get(path).status_code == 401  # the city publishes city and district totals
    benchmark = client.get(path, headers=bearer(node, "ent:91330800MAAXXXXXXX"))
    assert benchmark.status_code == 200, benchmark.text
    assert (
        benchmark.json() | {"co2e_g": 570, "value_fen": 5000, "enterprises": 1} == benchmark.json()
    )
    totals = client.get(f"/v1/city/totals?after={last['index']}").json()
    assert totals["industrial"][0]["co2e_g"] == 570
    regulator = bearer(node, "regulator")
    assert (
        client.get("/v1/industries/C26/benchmark?period=Q3", headers=regulator).status_code == 422
    )
    assert client.get("/v1/city/totals?after=-1").status_code == 400
    far = client.get("/v1/city/totals?after=999999")  # no receipt can name it yet
    assert far.status_code == 409 and far.json()["field"] == "after"


def test_an_index_the_read_models_lack_is_503_with_retry_after(node, monkeypatch):
    from fastapi.testclient import TestClient

    from ledger.settings import Limits
    from tests.support import integrate_all

    quick = dataclasses.replace(node.settings, limits=Limits(wait_seconds=1))
    monkeypatch.setattr(node, "settings", quick)
    integrate_all(node)  # in the log, but no projector runs
    with TestClient(create_app(node)) as plain:
        lagging = plain.get("/v1/city/totals?after=0")
    assert lagging.status_code == 503 and lagging.json()["field"] == "after"
    assert lagging.headers["retry-after"] == "1"
