"""The OpenAPI document says what the API does: problems for refusals, the real statuses."""

import re

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.problems import PROBLEM_JSON
from api.tiles import COORDINATES, LEVEL
from ledger.log.tiles import parse_tile_path
from tests.support import new_node


@pytest.fixture(scope="module")
def spec(tmp_path_factory):
    node = new_node(tmp_path_factory.mktemp("openapi"), {})
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
    assert set(operations["POST /v1/submissions/batch"]["responses"]) == {"200", "415", "4XX"}


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


def _parses(path):
    try:
        parse_tile_path(path)
    except ValueError:
        return False
    return True


@pytest.mark.parametrize("level", ["0", "9", "10", "63", "64", "00", "-1", "entries", ""])
@pytest.mark.parametrize(
    "coordinates",
    [
        "000",
        "999.p/255",
        "x001/x234/067",
        "x999/x999/x999/x999/x999/x999/999",
        "x001/x000/x000/x000/x000/x000/x000/000",
        "x000/001",
        "x01/000",
        "0001",
        "000/",
        "000.p/0",
        "000.p/01",
        "000.p/100",
        "000.p/249",
        "000.p/256",
        "000.p/+1",
    ],
)
def test_documented_tile_patterns_are_the_tile_path_rule(spec, level, coordinates):
    documented = re.search(COORDINATES, coordinates) and (
        level == "entries" or re.search(LEVEL, level)
    )
    assert bool(documented) == _parses(f"tile/{level}/{coordinates}")
    parameters = spec["paths"]["/v1/log/tile/{level}/{path}"]["get"]["parameters"]
    patterns = {p["name"]: p["schema"]["pattern"] for p in parameters if "pattern" in p["schema"]}
    assert patterns == {"level": LEVEL, "path": COORDINATES}
