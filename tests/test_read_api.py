"""The scoped read API on both backends: bearer tokens, scopes, account state and entries."""

import base64
import json

import pytest

from tests.http_support import bearer, problem
from tests.support import integrate_all, open_at, pid, register, signed

CODE = "91330800MA2DHXXX0A"
OTHER_CODE = "91330800MA2DHYYY0B"
FARM = "qz-farm-001"


@pytest.fixture
def accounts(node):
    """per:abc:p1 (one behaviour), per:xyz:p1, two enterprises and a farm; all integrated."""
    abc, xyz = register(node, "bank.abc", ["bank"]), register(node, "bank.xyz", ["bank"])
    node.ledger.submit(signed(abc, f"per:abc:{pid('p1')}", "AccountOpened", {}))
    behaviour = {"behaviour": "online_payment", "count": 2, "on": "2026-11-20", "ref": "T1"}
    node.ledger.submit(signed(abc, f"per:abc:{pid('p1')}", "GreenBehaviourRecorded", behaviour))
    node.ledger.submit(signed(xyz, f"per:xyz:{pid('p1')}", "AccountOpened", {}))
    for code in (CODE, OTHER_CODE):
        registered = {"name": "Quzhou Paper", "industry": "C26", "district": "Kecheng"}
        node.ledger.submit(
            signed(node.authority_key, f"ind:{code}", "EnterpriseRegistered", registered)
        )
    farm = {"name": "Longyou Grain", "kind": "grain", "district": "Longyou"}
    node.ledger.submit(signed(node.authority_key, f"agr:{FARM}", "FarmRegistered", farm))
    integrate_all(node)
    return abc


def test_regulator_reads_everything(client, node, accounts):
    headers = bearer(node, "regulator")
    personal = client.get(f"/v1/accounts/per:abc:{pid('p1')}", headers=headers)
    assert personal.status_code == 200, personal.text
    body = personal.json()
    assert (body["account"], body["seq"], body["kind"]) == (f"per:abc:{pid('p1')}", 1, "personal")
    assert body["state"] == {
        "opened": True,
        "points": 10,
        "co2e_g": 10,
        "issued": 10,
        "redeemed": 0,
    }
    industrial = client.get(f"/v1/accounts/ind:{CODE}", headers=headers).json()
    assert industrial["kind"] == "industrial"
    assert industrial["state"] == {
        "registered": {"name": "Quzhou Paper", "industry": "C26", "district": "Kecheng"},
        "grades": {},
        "open_disputes": [],
        "readings": 0,
        "outputs": {},
    }
    farm = client.get(f"/v1/accounts/agr:{FARM}", headers=headers).json()
    assert farm["kind"] == "agricultural" and farm["state"]["activities"] == 0
    assert farm["state"]["registered"]["kind"] == "grain"
    keys = client.get("/v1/accounts/sys:keys", headers=headers).json()
    assert keys["kind"] == "keys"
    assert ["bank"] in [key["roles"] for key in keys["state"]["keys"].values()]
    for account in (f"per:xyz:{pid('p1')}", "sys:factors", "sys:methods"):
        assert client.get(f"/v1/accounts/{account}", headers=headers).status_code == 200


def test_bank_reads_only_its_own_customers(client, node, accounts):
    headers = bearer(node, "bank:abc")
    assert client.get(f"/v1/accounts/per:abc:{pid('p1')}", headers=headers).status_code == 200
    assert (
        client.get(f"/v1/accounts/per:abc:{pid('p1')}/entries", headers=headers).status_code == 200
    )
    missing = problem(client.get(f"/v1/accounts/per:abc:{pid('nobody')}", headers=headers), 404)
    assert missing["detail"] == "no such account"
    assert problem(
        client.get(f"/v1/accounts/per:abc:{pid('nobody')}/entries", headers=headers), 404
    ) == (missing)
    for account in (f"per:xyz:{pid('p1')}", f"ind:{CODE}", f"agr:{FARM}", "sys:keys"):
        for path in (f"/v1/accounts/{account}", f"/v1/accounts/{account}/entries"):
            assert problem(client.get(path, headers=headers), 404) == missing


def test_enterprise_and_farm_read_their_own_account(client, node, accounts):
    enterprise = bearer(node, f"ent:{CODE}")
    assert client.get(f"/v1/accounts/ind:{CODE}", headers=enterprise).status_code == 200
    farm = bearer(node, f"farm:{FARM}")
    assert client.get(f"/v1/accounts/agr:{FARM}", headers=farm).status_code == 200
    missing = problem(client.get("/v1/accounts/agr:nothing", headers=farm), 404)
    for headers, account in (
        (enterprise, f"ind:{OTHER_CODE}"),
        (enterprise, f"agr:{FARM}"),
        (enterprise, f"per:abc:{pid('p1')}"),
        (farm, f"ind:{CODE}"),
        (farm, f"per:abc:{pid('p1')}"),
    ):
        assert problem(client.get(f"/v1/accounts/{account}", headers=headers), 404) == missing


@pytest.mark.parametrize(
    "authorization", [None, "Bearer", "Bearer cl_unknown", "Basic dXNlcjpwYXNz", "cl_x"]
)
def test_no_or_bad_token_is_401(client, accounts, authorization):
    headers = {} if authorization is None else {"Authorization": authorization}
    for path in (f"/v1/accounts/per:abc:{pid('p1')}", f"/v1/accounts/per:abc:{pid('p1')}/entries"):
        response = client.get(path, headers=headers)
        body = problem(response, 401)
        assert body["status"] == 401 and body["title"] and body["detail"]
        assert response.headers["www-authenticate"] == "Bearer"


def test_revoked_token_is_refused_by_the_running_app(client, node, accounts):
    token_id, token = node.tokens.create("regulator")
    headers = {"Authorization": f"Bearer {token}"}
    assert client.get(f"/v1/accounts/per:abc:{pid('p1')}", headers=headers).status_code == 200
    node.tokens.revoke(token_id)  # as `tokens revoke` does
    problem(client.get(f"/v1/accounts/per:abc:{pid('p1')}", headers=headers), 401)


def test_entries_match_the_log_then_show_unintegrated_ones(client, node, accounts):
    headers = bearer(node, "bank:abc")
    redeem = {"points": 3, "use": "goods", "ref": "R1"}
    receipt = node.ledger.submit(signed(accounts, f"per:abc:{pid('p1')}", "PointsRedeemed", redeem))
    body = client.get(f"/v1/accounts/per:abc:{pid('p1')}/entries", headers=headers).json()
    assert body["account"] == f"per:abc:{pid('p1')}" and body["next_after_seq"] == 2
    entries = body["entries"]
    assert [e["seq"] for e in entries] == [0, 1, 2]
    assert [e["type"] for e in entries] == [
        "AccountOpened",
        "GreenBehaviourRecorded",
        "PointsRedeemed",
    ]
    for entry, leaf in zip(entries, node.log.account_leaves(f"per:abc:{pid('p1')}"), strict=False):
        assert entry["index"] == leaf.index == node.log.index_of(leaf.leaf_hash)
        assert entry["leaf_hash"] == leaf.leaf_hash.hex()
        assert base64.b64decode(entry["entry"]) == leaf.entry
    assert entries[1]["effect"]["points"] == 10 and entries[1]["effect"]["co2e_g"] == 10
    assert entries[2]["index"] is None and entries[2]["leaf_hash"] == receipt.leaf_hash
    assert entries[2]["effect"] == {"points": -3}
    assert base64.b64decode(entries[2]["entry"]) == receipt.entry
    recorded = json.loads(receipt.entry)["recorded_at"]
    assert entries[2]["recorded_at"] == recorded
    integrate_all(node)
    after = client.get(
        f"/v1/accounts/per:abc:{pid('p1')}/entries?after_seq=1", headers=headers
    ).json()
    [latest] = after["entries"]
    assert latest["index"] == node.log.index_of(bytes.fromhex(receipt.leaf_hash))
    state = client.get(f"/v1/accounts/per:abc:{pid('p1')}", headers=headers).json()
    assert state["seq"] == 2 and state["head"] == receipt.leaf_hash
    assert state["state"]["points"] == 7 and state["state"]["redeemed"] == 3


def test_entries_page_by_after_seq_and_limit(client, node, accounts):
    headers = bearer(node, "bank:abc")
    for ref in ("T2", "T3", "T4"):
        behaviour = {"behaviour": "online_payment", "count": 1, "on": "2026-11-20", "ref": ref}
        node.ledger.submit(
            signed(accounts, f"per:abc:{pid('p1')}", "GreenBehaviourRecorded", behaviour)
        )
    integrate_all(node)
    redeem = {"points": 1, "use": "goods", "ref": "R1"}
    node.ledger.submit(signed(accounts, f"per:abc:{pid('p1')}", "PointsRedeemed", redeem))
    seen, after = [], -1
    while True:
        path = f"/v1/accounts/per:abc:{pid('p1')}/entries?after_seq={after}&limit=2"
        page = client.get(path, headers=headers).json()
        if not page["entries"]:
            assert page["next_after_seq"] == after
            break
        seen += page["entries"]
        after = page["next_after_seq"]
    assert [e["seq"] for e in seen] == list(range(6))
    assert [e["index"] is None for e in seen] == [False] * 5 + [True]
    for limit in (0, 1001):
        path = f"/v1/accounts/per:abc:{pid('p1')}/entries?limit={limit}"
        problem(client.get(path, headers=headers), 400)


def test_state_includes_entries_appended_by_another_process(client, node, storage, accounts):
    headers = bearer(node, "bank:abc")
    assert client.get(f"/v1/accounts/per:abc:{pid('p1')}", headers=headers).json()["seq"] == 1
    other = open_at(node.data_dir, storage)  # e.g. another uvicorn worker
    try:
        redeem = {"points": 4, "use": "donation", "ref": "R9"}
        other.ledger.submit(signed(accounts, f"per:abc:{pid('p1')}", "PointsRedeemed", redeem))
    finally:
        other.close()
    state = client.get(f"/v1/accounts/per:abc:{pid('p1')}", headers=headers).json()
    assert state["seq"] == 2 and state["state"]["points"] == 6
