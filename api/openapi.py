"""The OpenAPI document as the API behaves: refusals are RFC 9457 problems, never 422."""

from typing import Any

import msgspec
from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from api.examples import add_examples
from api.problems import PROBLEM_JSON
from ledger.rules import RULES

PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "field": {"type": "string", "description": "the request field at fault, if one is"},
    },
}
SCHEMAS = "#/components/schemas/"
MAX_SAFE = 2**53 - 1  # crypto.canonical refuses any integer beyond +-MAX_SAFE
INTEGER_JSON_REF = {"$ref": f"{SCHEMAS}IntegerJson"}
# JSON as the ledger reads it: integers (safe ones), never floats
INTEGER_JSON: dict[str, Any] = {
    "anyOf": [
        {"type": "string"},
        {"type": "integer", "minimum": -MAX_SAFE, "maximum": MAX_SAFE},
        {"type": "boolean"},
        {"type": "null"},
        {"type": "array", "items": INTEGER_JSON_REF},
        {"type": "object", "additionalProperties": INTEGER_JSON_REF},
    ]
}
# Event data schemas are components named EVENT_DATA + msgspec's name for the struct (its
# module-qualified name where two share a name); problem_openapi refuses any name clash.
EVENT_DATA = "EventData."


def _as_ledger_reads(schema: Any) -> Any:
    """msgspec's schema of a struct, narrowed to what reaches the struct: integers are safe
    ones, and a value of any type (`Any`, a `dict[str, Any]`'s or a `list[Any]`'s members)
    is IntegerJson, as crypto.canonical reads it."""
    if schema == {}:
        return dict(INTEGER_JSON_REF)
    if not isinstance(schema, dict):
        return schema  # true or false
    schema = dict(schema)
    kind = schema.get("type")
    if kind == "integer":
        schema["minimum"] = max(schema.get("minimum", -MAX_SAFE), -MAX_SAFE)
        schema["maximum"] = min(schema.get("maximum", MAX_SAFE), MAX_SAFE)
    elif kind == "object" and not {"properties", "additionalProperties"} & set(schema):
        schema["additionalProperties"] = {}
    elif kind == "array" and not {"items", "prefixItems"} & set(schema):
        schema["items"] = {}
    if "properties" in schema:
        schema["properties"] = {k: _as_ledger_reads(v) for k, v in schema["properties"].items()}
    for keyword in ("additionalProperties", "items"):
        if keyword in schema:
            schema[keyword] = _as_ledger_reads(schema[keyword])
    for keyword in ("anyOf", "oneOf", "allOf", "prefixItems"):
        if keyword in schema:
            schema[keyword] = [_as_ledger_reads(member) for member in schema[keyword]]
    return schema


def _event_data_schemas() -> tuple[dict[type, dict[str, Any]], dict[str, dict[str, Any]]]:
    """The JSON schema of every event type's data struct (ledger/rules.py decodes `data` into
    it, strictly: unknown fields are refused where the struct forbids them, and msgspec then
    says `additionalProperties: false`): a $ref per struct, and the components they name."""
    structs = list(dict.fromkeys(rule.schema for rules in RULES.values() for rule in rules))
    refs, components = msgspec.json.schema_components(
        structs, ref_template=f"{SCHEMAS}{EVENT_DATA}{{name}}"
    )
    named = {EVENT_DATA + name: _as_ledger_reads(schema) for name, schema in components.items()}
    return dict(zip(structs, refs, strict=True)), named


# the $ref of each event type's data schema (by its struct), and the components they refer to
EVENT_DATA_REFS, EVENT_DATA_COMPONENTS = _event_data_schemas()


def component(ref: dict[str, Any]) -> dict[str, Any]:
    """The component schema an event data $ref (from EVENT_DATA_REFS) names."""
    return EVENT_DATA_COMPONENTS[ref["$ref"].removeprefix(SCHEMAS)]


REFUSED = {
    "description": "Refused (bad input, unauthenticated, forbidden, not found, conflict, too"
    " large): an RFC 9457 problem naming the field at fault",
    "content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}},
}
UNSUPPORTED = {
    "description": "The body is declared as something other than application/json in UTF-8",
    "content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}},
}
NOT_YET = {
    "description": "The read model has not caught up with `after` yet; retry (Retry-After)",
    "content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}},
}


def _as_behaves(operation: dict[str, Any]) -> None:
    """Refusals as problems (4XX) and no 422 from FastAPI (validation errors are 400 problems
    here); a body, where one is read, is required and refused with 415 if not JSON."""
    responses = operation.setdefault("responses", {})
    responses.pop("422", None)
    responses.setdefault("4XX", REFUSED)
    if "requestBody" in operation:
        operation["requestBody"]["required"] = True
        responses.setdefault("415", UNSUPPORTED)


def problem_openapi(app: FastAPI) -> dict[str, Any]:
    """The OpenAPI document, every operation as it behaves (see `_as_behaves`)."""
    if app.openapi_schema is None:
        schema = get_openapi(
            title=app.title, version=app.version, description=app.description, routes=app.routes
        )
        for path, operations in schema.get("paths", {}).items():
            for method, operation in operations.items():
                _as_behaves(operation)
                add_examples(path, method, operation)
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        components.pop("HTTPValidationError", None)
        components.pop("ValidationError", None)
        ours = {"Problem": PROBLEM_SCHEMA, "IntegerJson": INTEGER_JSON, **EVENT_DATA_COMPONENTS}
        clashes = set(ours) & set(components)
        if clashes:
            raise RuntimeError(f"OpenAPI component names clash: {sorted(clashes)}")
        components.update(ours)
        app.openapi_schema = schema
    return app.openapi_schema
