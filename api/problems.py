"""How a refusal becomes a 4xx (or 5xx): each kind's status and title, in one table, and the
RFC 9457 problem for it; bad input never becomes a 500.

Every problem's `type` is `urn:carbon-ledger:problem:<Kind>`, for the ledger's refusals and
for the HTTP layer's own (Malformed for a parameter FastAPI refused, NotFound for no route).
"""

import logging
from http import HTTPStatus

import msgspec
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from crypto.records import Problem
from ledger.errors import (
    Conflict,
    Forbidden,
    Internal,
    Invalid,
    LedgerError,
    Malformed,
    NotFound,
    TooLarge,
    Unauthenticated,
    Unavailable,
)
from ledger.faults import TRANSIENT, is_transient, unavailable

PROBLEM_JSON = "application/problem+json"
PROBLEM_TYPE = "urn:carbon-ledger:problem:"
log = logging.getLogger("carbon_ledger.api")


class UnsupportedMediaType(LedgerError):
    """A body that is not `application/json` in UTF-8."""


class NotYet(LedgerError):
    """The read models have not caught up with the log index asked for."""


class TokenNotAccepted(Unauthenticated):
    """No bearer token, or one that is unknown or revoked."""


STATUS: dict[type[LedgerError], tuple[int, str]] = {
    Malformed: (400, "Malformed request"),
    Unauthenticated: (401, "Signature not accepted"),
    TokenNotAccepted: (401, "Bearer token required"),
    Forbidden: (403, "Not allowed"),
    NotFound: (404, "Not found"),
    Conflict: (409, "Conflict"),
    TooLarge: (413, "Too large"),
    UnsupportedMediaType: (415, "Unsupported media type"),
    Invalid: (422, "Unprocessable submission"),
    Internal: (500, "Internal error"),
    Unavailable: (503, "Service unavailable"),
    NotYet: (503, "Not yet"),
}
HEADERS: dict[type[LedgerError], dict[str, str]] = {
    Unavailable: {"Retry-After": "2"},  # seconds: a plain retry may get past these
    NotYet: {"Retry-After": "1"},
    TokenNotAccepted: {"WWW-Authenticate": "Bearer"},
}


def _kind(error: LedgerError) -> type[LedgerError]:
    return next(kind for kind in type(error).__mro__ if kind in STATUS)


def status_of(error: LedgerError) -> int:
    """The HTTP status of a refusal of this kind."""
    return STATUS[_kind(error)][0]


def headers_of(error: LedgerError) -> dict[str, str]:
    """The headers a refusal of this kind is sent with (Retry-After, WWW-Authenticate)."""
    return HEADERS.get(_kind(error), {})


def _body(kind: str, status: int, title: str, detail: str, field: str | None) -> dict[str, object]:
    problem = Problem(
        type=PROBLEM_TYPE + kind, title=title, status=status, detail=detail, field=field
    )
    body: dict[str, object] = msgspec.to_builtins(problem)  # `field` only where there is one
    return body


def problem_of(error: LedgerError) -> dict[str, object]:
    """The RFC 9457 problem object for a refusal."""
    kind = _kind(error)
    status, title = STATUS[kind]
    return _body(kind.__name__, status, title, error.detail, error.field)


def _response(body: dict[str, object], headers: dict[str, str] | None = None) -> JSONResponse:
    status = body["status"]
    assert isinstance(status, int)
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


async def _ledger_error(_: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, LedgerError)
    return _response(problem_of(error), headers_of(error))


async def _validation_error(_: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, RequestValidationError)
    first = error.errors()[0]
    field = ".".join(str(part) for part in first.get("loc", ())[1:]) or None
    return await _ledger_error(_, Malformed(str(first.get("msg", "invalid")), field))


async def _http_error(_: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, HTTPException)
    status = HTTPStatus(error.status_code)
    kind = "".join(word.capitalize() for word in status.name.split("_"))
    response = _response(_body(kind, status, status.phrase, str(error.detail), None))
    response.headers.update(error.headers or {})  # e.g. Allow on a 405
    return response


def _route(request: Request) -> str:
    """The route's template (`/v1/persons/{pid}`), never the path: a path may hold an id."""
    return getattr(request.scope.get("route"), "path", "unmatched")


async def _storage_error(request: Request, error: Exception) -> JSONResponse:
    """The database is down, full or locked: nothing was written, so 503 and retry."""
    log.warning("storage unavailable on %s %s: %s", request.method, _route(request), error)
    return await _ledger_error(request, unavailable(error))


async def _unexpected(request: Request, error: Exception) -> JSONResponse:
    if is_transient(error):  # e.g. ENOSPC from a file write
        return await _storage_error(request, error)
    log.exception("unexpected error on %s %s", request.method, _route(request))
    return _response(problem_of(Internal("the ledger could not complete the request")))


def install_problem_handlers(app: FastAPI) -> None:
    app.add_exception_handler(LedgerError, _ledger_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(HTTPException, _http_error)
    for storage_error in TRANSIENT:
        app.add_exception_handler(storage_error, _storage_error)
    app.add_exception_handler(Exception, _unexpected)
