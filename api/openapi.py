"""The OpenAPI document as the API behaves: refusals are RFC 9457 problems, never 422."""

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from api.problems import PROBLEM_JSON

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
# JSON as the ledger reads it: integers (safe ones), never floats; `data` is an object of these
INTEGER_JSON: dict[str, Any] = {
    "anyOf": [
        {"type": "string"},
        {"type": "integer", "minimum": -(2**53 - 1), "maximum": 2**53 - 1},
        {"type": "boolean"},
        {"type": "null"},
        {"type": "array", "items": {"$ref": "#/components/schemas/IntegerJson"}},
        {"type": "object", "additionalProperties": {"$ref": "#/components/schemas/IntegerJson"}},
    ]
}
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
        for operations in schema.get("paths", {}).values():
            for operation in operations.values():
                _as_behaves(operation)
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        components.pop("HTTPValidationError", None)
        components.pop("ValidationError", None)
        components["Problem"] = PROBLEM_SCHEMA
        components["IntegerJson"] = INTEGER_JSON
        app.openapi_schema = schema
    return app.openapi_schema
