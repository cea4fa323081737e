"""Operations on both backends: tokens by admin-signed request (shared by the store every
node reads), the grading service's proposals, and the CLI's refusal to guess where tokens live."""

from datetime import UTC, datetime, timedelta

import pytest

from api.app import create_app
from crypto.records import signed_submission, signed_token_request
from ledger.domain.grading import grade_submission
from tests.files import run_cli
from tests.http_support import bearer, ok, problem
from tests.support import pid, register, settle
from tests.test_industrial import A, B, load_quarter, register_enterprises


@pytest.fixture
def app(node):
    return create_app(node, node.run_integrator)


def _ask(client, signer, action, **fields):
    return client.post("/v1/tokens", json=signed_token_request(signer, action, **fields))


def test_tokens_by_admin_signed_request(client, node):
    made = _ask(client, node.admin_key, "create", principal="bank:abc")
    assert made.status_code == 201 and made.headers["cache-control"] == "no-store"
    token, token_id = made.json()["token"], made.json()["token_id"]
    headers = {"Authorization": f"Bearer {token}"}
    assert client.get(f"/v1/accounts/per:abc:{pid('nobody')}", headers=headers).status_code == 404
    assert node.tokens.principal_for(token) == "bank:abc"  # the store every node reads
    listed = _ask(client, node.admin_key, "list").json()["tokens"]
    assert {"id": token_id, "principal": "bank:abc", "revoked": False}.items() <= listed[0].items()
    assert token not in str(listed)
    assert _ask(client, node.admin_key, "revoke", token_id=token_id).status_code == 200
    problem(client.get(f"/v1/accounts/per:abc:{pid('nobody')}", headers=headers), 401)
    assert _ask(client, node.admin_key, "list").json()["tokens"][0]["revoked"] is True
    problem(_ask(client, node.admin_key, "revoke", token_id="ffffffff"), 404, "request.token_id")


def test_token_requests_are_checked(client, node):
    wire = signed_token_request(node.admin_key, "create", principal="regulator")
    assert client.post("/v1/tokens", json=wire).status_code == 201
    problem(client.post("/v1/tokens", json=wire), 409, "request.id")  # no second token
    bank = register(node, "bank.abc", ["bank"])
    problem(_ask(client, bank, "create", principal="regulator"), 403, "request.key")
    stranger = register(node, "stranger", ["meter"]).key_id
    forged = signed_token_request(node.admin_key, "list")
    forged["request"]["key"] = stranger
    problem(client.post("/v1/tokens", json=forged), 403, "request.key")
    tampered = signed_token_request(node.admin_key, "create", principal="bank:abc")
    tampered["request"]["principal"] = "regulator"
    problem(client.post("/v1/tokens", json=tampered), 401, "signature")
    old = datetime.now(UTC) - timedelta(minutes=6)
    problem(_ask(client, node.admin_key, "list", at=old), 422, "request.at")
    problem(_ask(client, node.admin_key, "create", principal="bank"), 422, "request.principal")
    problem(_ask(client, node.admin_key, "create"), 422, "request.principal")
    problem(_ask(client, node.admin_key, "burn"), 422, "request.action")
    extra = signed_token_request(node.admin_key, "list")
    extra["request"]["more"] = 1
    problem(client.post("/v1/tokens", json=extra), 400, "request.more")


def test_grading_proposals_signed_by_a_grading_service(client, node):
    meter = register(node, "meter.lvnengma", ["meter"])
    service = register(node, "grader.service", ["grader"])
    register_enterprises(client, node)
    load_quarter(client, meter, ("2026-07-01", "2026-09-30"), {A: (700, 1000), B: (900, 1000)})
    settle(node)  # proposals read the log as integrated: both firms' readings in it
    problem(client.get("/v1/grading/proposals?kind=industrial&period=2026-Q3"), 401)
    banker = bearer(node, "bank:abc")
    url = "/v1/grading/proposals?kind=industrial&period=2026-Q3"
    problem(client.get(url, headers=banker), 404)
    regulator = bearer(node, "regulator")
    problem(client.get(url.replace("2026-Q3", "2026-Q5"), headers=regulator), 422, "period")
    proposed = ok(client.get(url, headers=regulator))
    assert {g["account"] for g in proposed["grades"]} == {A, B} and proposed["unchanged"] == 0
    for grade in proposed["grades"]:
        wire = grade_submission(service, grade["account"], grade["data"])
        assert client.post("/v1/submissions", json=wire).status_code == 201
        assert client.post("/v1/submissions", json=wire).status_code == 200  # a retry: one entry
    again = ok(client.get(url, headers=regulator))
    assert again["grades"] == [] and again["unchanged"] == 2
    stranger = signed_submission(meter, A, "GradeAssigned", proposed["grades"][0]["data"])
    problem(client.post("/v1/submissions", json=stranger), 403)


def test_tokens_cli_refuses_to_guess_where_tokens_live(tmp_path):
    refused = run_cli("tokens", "create", "--principal", "regulator", text=True, cwd=tmp_path)
    assert refused.returncode != 0 and "--data DIR" in refused.stderr
    assert not (tmp_path / "data").exists()
    no_key = run_cli("tokens", "list", "--url", "http://127.0.0.1:9", text=True)
    assert no_key.returncode == 2 and "--key" in no_key.stderr
