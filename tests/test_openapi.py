"""The OpenAPI document says what the API does: problems for refusals, the real statuses."""

import copy
import re
from datetime import datetime

import pytest
from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st

from api.app import create_app
from api.problems import PROBLEM_JSON
from api.submissions import AT_SCHEMA_PATTERN
from api.tiles import COORDINATES, LEVEL
from crypto.keys import generate_signer
from ledger.domain.runs import METHODS, RUNS_ACCOUNT
from ledger.log.tiles import parse_tile_path
from ledger.rules import RULES
from ledger.submissions import ACCOUNT_PATTERN, AT_PATTERN
from tests.support import new_node, pid, register, signed


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


# --- submissions: a oneOf branch per (event type, account kind), `data` as the rule decodes it

KNOWN = {"type", "const", "enum", "pattern", "properties", "required", "additionalProperties"}
KNOWN |= {"items", "anyOf", "oneOf", "$ref", "minimum", "maximum", "title", "description"}
JSON_TYPES = {"object": dict, "array": list, "string": str, "boolean": bool, "null": type(None)}


def _valid(spec, schema, value):
    """Whether `value` is valid against `schema`: JSON Schema 2020-12 for the keywords the
    document uses (any other fails the test, so nothing passes unread), except that a float
    is never an integer (1.0 is one to JSON Schema, and refused by the ledger)."""
    assert set(schema) <= KNOWN, f"unread keywords {set(schema) - KNOWN}"
    if "$ref" in schema:
        name = schema["$ref"].removeprefix("#/components/schemas/")
        if not _valid(spec, spec["components"]["schemas"][name], value):
            return False
    kind = schema.get("type")
    if kind is not None and type(value) is not JSON_TYPES.get(kind, int):
        return False
    if (
        ("const" in schema and value != schema["const"])
        or ("enum" in schema and value not in schema["enum"])
        or ("pattern" in schema and not re.search(schema["pattern"], value))
        or ("minimum" in schema and value < schema["minimum"])
        or ("maximum" in schema and value > schema["maximum"])
        or ("anyOf" in schema and not any(_valid(spec, s, value) for s in schema["anyOf"]))
        or ("oneOf" in schema and sum(_valid(spec, s, value) for s in schema["oneOf"]) != 1)
    ):
        return False
    if isinstance(value, list):
        return all(_valid(spec, schema.get("items", {}), item) for item in value)
    if isinstance(value, dict):
        if not set(schema.get("required", [])) <= set(value):
            return False
        for name, member in value.items():
            of = schema.get("properties", {}).get(name, schema.get("additionalProperties", {}))
            if of is False or not _valid(spec, of, member):
                return False
    return True


def _body_schema(spec, path):
    return spec["paths"][path]["post"]["requestBody"]["content"]["application/json"]["schema"]


def _branches(spec):
    return _body_schema(spec, "/v1/submissions")["properties"]["submission"]["oneOf"]


def _subschemas(schema):
    """`schema` and every schema inside it."""
    if isinstance(schema, dict):
        yield schema
        for member in schema.get("properties", {}).values():
            yield from _subschemas(member)
        yield from _subschemas(schema.get("additionalProperties"))
        yield from _subschemas(schema.get("items"))
        for member in schema.get("anyOf", []) + schema.get("oneOf", []):
            yield from _subschemas(member)


def _kind(branch):
    """The account kind a branch is for: an EventRule's account_prefix."""
    account = branch["properties"]["account"]
    if "const" in account:  # a system account: that one id
        return account["const"]
    return account["pattern"][1:].partition(":")[0] + ":"  # a kind: its prefix, then an id


def _rule(branch):
    event_type = branch["properties"]["type"]["const"]
    (rule,) = [r for r in RULES[event_type] if r.account_prefix == _kind(branch)]
    return rule


def test_every_event_type_is_a_branch_on_each_of_its_account_kinds(spec):
    expected = {(t, rule.account_prefix) for t, rules in RULES.items() for rule in rules}
    found = []
    for branch in _branches(spec):
        properties = branch["properties"]
        kind = _kind(branch)
        if "const" in properties["account"]:
            assert ACCOUNT_PATTERN.fullmatch(kind), kind
        else:
            pattern = properties["account"]["pattern"]
            assert pattern == f"^{kind}[A-Za-z0-9._:-]{{1,160}}$"
            for tail in ("x", "A.b_c:d-9", "x" * 160, "", "x" * 161, "x/y"):
                documented = re.search(pattern, kind + tail) is not None
                assert documented == bool(ACCOUNT_PATTERN.fullmatch(kind + tail)), tail
        found.append((properties["type"]["const"], kind))
        assert branch["additionalProperties"] is False
        assert set(branch["required"]) == set(properties)
        assert set(properties) == {"account", "type", "data", "key", "at", "id"}
    assert sorted(found) == sorted(expected)  # each once: no two branches overlap


def test_event_data_is_the_rule_schema_with_safe_integers(spec):
    components = spec["components"]["schemas"]
    for branch in _branches(spec):
        ref = branch["properties"]["data"]["$ref"]
        assert ref.startswith("#/components/schemas/EventData."), ref
        data = components[ref.removeprefix("#/components/schemas/")]
        struct = _rule(branch).schema
        fields = struct.__struct_encode_fields__  # as the wire names them ("from", not from_)
        optional = len(struct.__struct_defaults__)
        assert list(data["properties"]) == list(fields), ref
        assert set(data["required"]) == set(fields[: len(fields) - optional]), ref
        forbids = struct.__struct_config__.forbid_unknown_fields
        assert (data.get("additionalProperties") is False) == forbids, ref
    for name, schema in components.items():
        if not name.startswith("EventData.") and name != "IntegerJson":
            continue
        for member in _subschemas(schema):
            assert member != {}, f"{name}: a value of any type is IntegerJson (no floats)"
            if member.get("type") == "integer":
                assert -(2**53 - 1) <= member["minimum"] <= member["maximum"] <= 2**53 - 1, name
            if member.get("type") == "object":
                assert "properties" in member or "additionalProperties" in member, name


def _wires(node):
    """Signed submissions of several event types and account kinds, as the ledger takes them."""
    bank = register(node, "bank.abc", ["bank"])
    authority = node.authority_key
    return [
        (bank, f"per:abc:{pid('p1')}", "AccountOpened", {}),
        (bank, f"per:abc:{pid('p1')}", "GreenBehaviourRecorded", GREEN),
        (node.admin_key, "sys:keys", "KeyRegistered", {"vkey": NEW_KEY, "roles": ["meter"]}),
        (authority, "ind:91330800MAXXXXXXXX", "EnterpriseRegistered", ENTERPRISE),
        (authority, "agr:F1", "FarmRegistered", {"name": "f", "kind": "pig", "district": "d"}),
        (authority, "sys:grading", "GradingRunRequested", {"kind": "agri", "period": "2026"}),
    ]


GREEN = {"behaviour": "online_payment", "count": 2, "on": "2026-01-05", "ref": "r1"}
ENTERPRISE = {"name": "e", "industry": "C26", "district": "Kecheng"}
NEW_KEY = generate_signer("meter.m1").verifier.text


def _mutated(wire, **changes):
    """`wire` with submission fields (or data fields, as data_NAME) changed; its signature no
    longer verifies, so what the ledger says of it is what it makes of the fields."""
    wire = copy.deepcopy(wire)
    for name, value in changes.items():
        target = wire["submission"]
        if name.startswith("data_"):
            target, name = target["data"], name.removeprefix("data_")
        target[name] = value
    return wire


def test_submissions_the_ledger_takes_are_the_documented_ones(client, node, spec):
    schema = _body_schema(spec, "/v1/submissions")
    for signer, account, event_type, data in _wires(node):
        wire = signed(signer, account, event_type, data)
        assert _valid(spec, schema, wire), event_type
        refusals = [
            _mutated(wire, data_unknown=1),
            _mutated(wire, account="sys:keys" if account != "sys:keys" else f"per:abc:{pid('p1')}"),
            _mutated(wire, account=account.replace(":", ":/")),
            _mutated(wire, type="TypeUnknown"),
            _mutated(wire, at="2026-02-29T00:00:00Z"),
        ]
        for refused in refusals:
            assert not _valid(spec, schema, refused), refused["submission"]
            response = client.post("/v1/submissions", json=refused)
            assert response.status_code in (400, 422), (refused["submission"], response.text)
        response = client.post("/v1/submissions", json=wire)
        assert response.status_code == 201, response.text


def test_unsafe_integers_in_data_are_undocumented_and_refused(client, node, spec):
    schema = _body_schema(spec, "/v1/submissions")
    wire = signed(node.admin_key, "sys:factors", "FactorTablePublished", FACTORS)
    assert _valid(spec, schema, wire)
    for changes in (
        {"data_version": 2**53},
        {"data_factors": {"a": [1, {"b": -(2**53)}]}},
        {"data_factors": {"a": 1.5}},
    ):
        refused = _mutated(wire, **changes)
        assert not _valid(spec, schema, refused), changes
        response = client.post("/v1/submissions", json=refused)
        assert response.status_code == 400, response.text


FACTORS = {
    "name": "agri-factors",
    "version": 2,
    "valid_from": "2026-01-01",
    "factors": {"activities": {"x": {"unit": "g", "co2e_ug_per_unit": 2**53 - 1, "kind": "sink"}}},
    "source": "s",
}


def _near(low, high, *edges):
    return st.integers(low, high) | st.sampled_from(edges)


TIMES = st.builds(
    "{:04d}-{:02d}-{:02d}T{:02d}:{:02d}:{:02d}{}Z".format,
    _near(0, 9999, 0, 4, 100, 400, 1900, 2000, 2024, 2100, 9996),
    _near(0, 13, 2),
    _near(0, 32, 28, 29, 30, 31),
    _near(0, 24, 23, 24),
    _near(0, 60, 59, 60),
    _near(0, 60, 59, 60),
    st.sampled_from(["", ".5", ".123456"]),
)


@given(TIMES | st.from_regex(AT_PATTERN, fullmatch=True))
@settings(max_examples=500)
def test_documented_times_are_the_real_ones(at):
    """AT_SCHEMA_PATTERN holds what the ledger takes as a time (however far in the future)."""
    try:
        real = bool(AT_PATTERN.fullmatch(at)) and datetime.fromisoformat(at) is not None
    except ValueError:
        real = False
    assert bool(re.search(AT_SCHEMA_PATTERN, at)) == real


@pytest.mark.parametrize(
    ("at", "documented"),
    [
        ("2024-02-29T00:00:00Z", True),
        ("2000-02-29T23:59:59.123456Z", True),
        ("0004-02-29T00:00:00Z", True),
        ("1900-02-29T00:00:00Z", False),
        ("2026-04-31T00:00:00Z", False),
        ("2026-12-31T24:00:00Z", False),
        ("0000-01-01T00:00:00Z", False),
        ("2026-01-01T00:00:00.1234567Z", False),
        ("2026-01-01T00:00:00+00:00", False),
    ],
)
def test_documented_times_at_the_edges(at, documented):
    assert bool(re.search(AT_SCHEMA_PATTERN, at)) == documented


def test_a_grading_run_is_the_run_branch_with_a_period(spec):
    (run,) = [
        branch
        for branch in _branches(spec)
        if branch["properties"]["type"]["const"] == "GradingRunRequested"
    ]
    documented = _body_schema(spec, "/v1/grading/runs")["properties"]["submission"]
    assert {k: v for k, v in documented["properties"].items() if k != "data"} == {
        k: v for k, v in run["properties"].items() if k != "data"
    }
    assert documented["properties"]["account"] == {"const": RUNS_ACCOUNT}
    data = documented["properties"]["data"]
    assert data["properties"]["kind"] == {"enum": sorted(METHODS)}
    assert data["properties"]["period"]["pattern"] == "^[0-9]{4}(-Q[1-4])?$"
    assert data["additionalProperties"] is False


def test_batch_items_are_any_json_the_ledger_reads(spec):
    items = _body_schema(spec, "/v1/submissions/batch")["properties"]["submissions"]["items"]
    assert items["$ref"] == "#/components/schemas/IntegerJson"


READ_TAGS = {"read models", "registries", "feeds", "webhooks"}


def test_every_read_route_has_an_example_and_csv_where_it_offers_it(spec):
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            if method == "delete" or not READ_TAGS & set(operation.get("tags", [])):
                continue
            if path.endswith("/summary"):
                continue  # a signed note: described, not exemplified
            if path.endswith("/stream"):
                assert "example" in operation["responses"]["200"]["content"]["text/event-stream"]
                continue
            ok = operation["responses"]["201" if method == "post" else "200"]
            content = ok["content"]
            assert "example" in content["application/json"], path
            offers_csv = any(p["name"] == "format" for p in operation.get("parameters", []))
            assert ("text/csv" in content) == offers_csv, path
