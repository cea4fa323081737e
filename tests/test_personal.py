"""Personal accounts through the HTTP API, on both backends: every rule and every refusal."""

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from tests.support import register, signed

DAY = "2026-11-20"


@pytest.fixture
def client(node):
    with TestClient(create_app(node)) as test_client:
        yield test_client


@pytest.fixture
def abc(node):
    return register(node, "bank.abc", ["bank"])


@pytest.fixture
def xyz(node):
    return register(node, "bank.xyz", ["bank"])


def send(client, signer, account, type_, data, **kwargs):
    return client.post("/v1/submissions", json=signed(signer, account, type_, data, **kwargs))


def effect(response):
    assert response.status_code == 201, response.text
    import base64
    import json

    return json.loads(base64.b64decode(response.json()["entry"]))["effect"]


def refused(response, status, field):
    assert response.status_code == status, response.text
    assert response.json()["field"] == field, response.json()
    return response.json()


def behaviour(behaviour_, count, ref, on=DAY):
    return {"behaviour": behaviour_, "count": count, "on": on, "ref": ref}


@pytest.fixture
def opened(client, abc):
    assert send(client, abc, "per:abc:p1", "AccountOpened", {}).status_code == 201
    return "per:abc:p1"


def test_behaviour_earns_points_by_the_cited_factor_table(client, abc, opened):
    result = effect(
        send(client, abc, opened, "GreenBehaviourRecorded", behaviour("online_transfer", 2, "r1"))
    )
    assert result == {"counted": 2, "co2e_g": 48, "points": 48, "rules": "personal-factors@1"}


def test_daily_and_monthly_caps_cut_counted(client, abc, opened):
    first = effect(
        send(client, abc, opened, "GreenBehaviourRecorded", behaviour("online_payment", 8, "a"))
    )
    second = effect(
        send(client, abc, opened, "GreenBehaviourRecorded", behaviour("online_payment", 5, "b"))
    )
    third = effect(
        send(client, abc, opened, "GreenBehaviourRecorded", behaviour("online_payment", 1, "c"))
    )
    other_day = effect(
        send(
            client,
            abc,
            opened,
            "GreenBehaviourRecorded",
            behaviour("online_payment", 3, "d", "2026-11-21"),
        )
    )
    assert [first["counted"], second["counted"], third["counted"], other_day["counted"]] == [
        8,
        2,
        0,
        3,
    ]
    assert second["points"] == 10 and third["points"] == 0
    statement = effect(
        send(client, abc, opened, "GreenBehaviourRecorded", behaviour("e_statement", 1, "e"))
    )
    again = effect(
        send(
            client,
            abc,
            opened,
            "GreenBehaviourRecorded",
            behaviour("e_statement", 1, "f", "2026-11-02"),
        )
    )
    assert (statement["counted"], again["counted"]) == (1, 0)


def test_redemption_and_its_limits(client, abc, opened):
    send(client, abc, opened, "GreenBehaviourRecorded", behaviour("online_bill_payment", 1, "r1"))
    refused(
        send(client, abc, opened, "PointsRedeemed", {"points": 90, "use": "goods", "ref": "x1"}),
        409,
        "submission.data.points",
    )
    result = effect(
        send(
            client,
            abc,
            opened,
            "PointsRedeemed",
            {"points": 89, "use": "fee_deduction", "ref": "x2"},
        )
    )
    assert result == {"points": -89}
    refused(
        send(client, abc, opened, "PointsRedeemed", {"points": 1, "use": "goods", "ref": "x3"}),
        409,
        "submission.data.points",
    )
    refused(
        send(client, abc, opened, "PointsRedeemed", {"points": 0, "use": "goods", "ref": "x4"}),
        422,
        "submission.data.points",
    )
    refused(
        send(client, abc, opened, "PointsRedeemed", {"points": 1, "use": "cash", "ref": "x5"}),
        422,
        "submission.data.use",
    )


def test_reversal_undoes_exactly_once_and_never_below_zero(client, abc, opened):
    earned = send(client, abc, opened, "GreenBehaviourRecorded", behaviour("online_loan", 1, "r1"))
    leaf = earned.json()["leaf_hash"]
    redeemed = send(
        client,
        abc,
        opened,
        "PointsRedeemed",
        {"points": 50, "use": "loan_rate_discount", "ref": "x1"},
    )
    refused(
        send(client, abc, opened, "EntryReversed", {"entry": leaf, "reason": "dup"}),
        409,
        "submission.data.entry",
    )
    undo_redeem = effect(
        send(
            client,
            abc,
            opened,
            "EntryReversed",
            {"entry": redeemed.json()["leaf_hash"], "reason": "cancelled"},
        )
    )
    assert undo_redeem == {"reverses": redeemed.json()["leaf_hash"], "points": 50, "co2e_g": 0}
    undo = effect(
        send(client, abc, opened, "EntryReversed", {"entry": leaf, "reason": "bank error"})
    )
    assert undo == {"reverses": leaf, "points": -89, "co2e_g": -89}
    refused(
        send(client, abc, opened, "EntryReversed", {"entry": leaf, "reason": "again"}),
        409,
        "submission.data.entry",
    )
    refused(
        send(client, abc, opened, "EntryReversed", {"entry": "ab" * 32, "reason": "?"}),
        422,
        "submission.data.entry",
    )
    refused(
        send(client, abc, opened, "EntryReversed", {"entry": "nothex", "reason": "?"}),
        422,
        "submission.data.entry",
    )
    # the reversal released the monthly cap: the behaviour counts again
    again = effect(
        send(client, abc, opened, "GreenBehaviourRecorded", behaviour("online_loan", 5, "r2"))
    )
    assert again["counted"] == 5


def test_refusals(client, node, abc, xyz, opened):
    refused(
        send(
            client, abc, "per:abc:p2", "GreenBehaviourRecorded", behaviour("online_payment", 1, "u")
        ),
        409,
        "submission.account",
    )
    refused(send(client, abc, opened, "AccountOpened", {}), 409, "submission.type")
    refused(send(client, xyz, "per:abc:p3", "AccountOpened", {}), 403, "submission.key")
    refused(
        send(client, xyz, opened, "GreenBehaviourRecorded", behaviour("online_payment", 1, "v")),
        403,
        "submission.key",
    )
    refused(
        send(client, abc, opened, "GreenBehaviourRecorded", behaviour("teleportation", 1, "w")),
        422,
        "submission.data.behaviour",
    )
    refused(
        send(client, abc, opened, "GreenBehaviourRecorded", behaviour("online_payment", 0, "w")),
        422,
        "submission.data.count",
    )
    refused(
        send(
            client,
            abc,
            opened,
            "GreenBehaviourRecorded",
            behaviour("online_payment", 1, "w", "2026-13-01"),
        ),
        422,
        "submission.data.on",
    )
    refused(
        send(
            client,
            abc,
            opened,
            "GreenBehaviourRecorded",
            behaviour("online_payment", 1, "w", "2099-01-01"),
        ),
        422,
        "submission.data.on",
    )
    refused(
        send(
            client,
            abc,
            opened,
            "GreenBehaviourRecorded",
            behaviour("online_payment", 1, "w", "2019-01-01"),
        ),
        422,
        "submission.data.on",
    )
    assert (
        send(
            client, abc, opened, "GreenBehaviourRecorded", behaviour("online_payment", 1, "same")
        ).status_code
        == 201
    )
    refused(
        send(client, abc, opened, "GreenBehaviourRecorded", behaviour("online_payment", 1, "same")),
        409,
        "submission.data.ref",
    )
    refused(
        send(
            client,
            abc,
            opened,
            "GreenBehaviourRecorded",
            {"behaviour": "online_payment", "count": 1, "on": DAY},
        ),
        422,
        "submission.data",
    )
    refused(send(client, abc, "per:abc", "AccountOpened", {}), 422, "submission.account")
    meter = register(node, "meter.m1", ["meter"])
    refused(
        send(client, meter, opened, "PointsRedeemed", {"points": 1, "use": "goods", "ref": "m"}),
        403,
        "submission.type",
    )


def test_a_new_factor_version_applies_from_its_date_and_is_cited(client, node, abc, opened):
    from ledger.seeds import PERSONAL_FACTORS

    table = {
        **PERSONAL_FACTORS,
        "behaviours": {**PERSONAL_FACTORS["behaviours"], "online_transfer": {"co2e_g": 30}},
    }
    publish = {
        "name": "personal-factors",
        "version": 2,
        "valid_from": "2026-11-21",
        "factors": table,
        "source": "test",
    }
    assert (
        send(client, node.authority_key, "sys:factors", "FactorTablePublished", publish).status_code
        == 201
    )
    before = effect(
        send(
            client,
            abc,
            opened,
            "GreenBehaviourRecorded",
            behaviour("online_transfer", 1, "a", "2026-11-20"),
        )
    )
    after = effect(
        send(
            client,
            abc,
            opened,
            "GreenBehaviourRecorded",
            behaviour("online_transfer", 1, "b", "2026-11-21"),
        )
    )
    assert (before["co2e_g"], before["rules"]) == (24, "personal-factors@1")
    assert (after["co2e_g"], after["rules"]) == (30, "personal-factors@2")
    refused(
        send(client, node.authority_key, "sys:factors", "FactorTablePublished", publish),
        409,
        "submission.data.version",
    )
    bad = {**publish, "version": 3, "factors": {"g_per_point": "1", "behaviours": {}}}
    refused(
        send(client, node.authority_key, "sys:factors", "FactorTablePublished", bad),
        422,
        "submission.data.factors",
    )
    bad = {**publish, "version": 3, "factors": {"g_per_point": 1}}
    refused(
        send(client, node.authority_key, "sys:factors", "FactorTablePublished", bad),
        422,
        "submission.data.factors",
    )
    refused(
        send(
            client,
            node.authority_key,
            "sys:factors",
            "FactorTablePublished",
            {**publish, "name": "x"},
        ),
        422,
        "submission.data.name",
    )
    refused(
        send(client, abc, "sys:factors", "FactorTablePublished", {**publish, "version": 3}),
        403,
        "submission.type",
    )
