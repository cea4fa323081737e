"""The OpenAPI document says what the API does: problems for refusals, the real statuses."""

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.problems import PROBLEM_JSON
from ledger.node import open_node


@pytest.fixture(scope="module")
def spec(tmp_path_factory):
    node = open_node(tmp_path_factory.mktemp("openapi"))
    try:
        yield TestClient(create_app(node)).get("/openapi.json").json()
    finally:
        node.close()


def _operations(spec):
    return [
        (f"{method.upper()} {path}", operation)
        for path, operations in spec["paths"].items()
        for method, operation in operations.items()
    ]


def test_every_operation_documents_problem_refusals_and_no_422(spec):
    for name, operation in _operations(spec):
        responses = operation["responses"]
        assert "422" not in responses, name
        problem = responses["4XX"]["content"][PROBLEM_JSON]["schema"]
        assert problem == {"$ref": "#/components/schemas/Problem"}, name
    assert spec["components"]["schemas"]["Problem"]["required"] == [
        "type",
        "title",
        "status",
        "detail",
    ]


def test_success_and_retry_statuses(spec):
    operations = dict(_operations(spec))
    for name in ("POST /v1/submissions", "POST /v1/grading/runs"):
        assert {"200", "201"} <= set(operations[name]["responses"]), name
    assert set(operations["POST /v1/submissions/batch"]["responses"]) == {"200", "4XX"}


def test_read_models_document_not_yet(spec):
    operations = dict(_operations(spec))
    assert "503" in operations["GET /v1/city/totals"]["responses"]
    assert "503" not in operations["GET /v1/log/checkpoint"]["responses"]


def test_a_validation_refusal_is_the_documented_problem(client):
    response = client.get("/v1/log/proof/inclusion", params={"index": "x", "size": "1"})
    assert response.status_code == 400
    assert response.headers["content-type"] == PROBLEM_JSON
    assert {"type", "title", "status", "detail"} <= set(response.json())


def test_periods_are_documented_with_their_pattern(spec):
    parameters = spec["paths"]["/v1/agri/green-list"]["get"]["parameters"]
    period = next(p for p in parameters if p["name"] == "period")
    assert period["schema"]["pattern"] == "^[0-9]{4}(-Q[1-4])?$"


def test_a_bad_period_is_still_the_domain_refusal(client):
    response = client.get("/v1/agri/green-list", params={"period": "2026-Q5"})
    assert response.status_code == 422 and response.json()["field"] == "period"
