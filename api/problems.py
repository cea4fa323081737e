"""RFC 9457 problem responses for every refusal; bad input never becomes a 500."""

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from ledger.errors import LedgerError
from ledger.faults import TRANSIENT, is_transient, unavailable

PROBLEM_JSON = "application/problem+json"
log = logging.getLogger("carbon_ledger.api")


def problem_response(
    status: int, title: str, detail: str, field: str | None = None
) -> JSONResponse:
    body: dict[str, object] = {
        "type": "about:blank",
        "title": title,
        "status": status,
        "detail": detail,
    }
    if field is not None:
        body["field"] = field
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON)


async def _ledger_error(_: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, LedgerError)
    headers = getattr(error, "headers", None)
    return JSONResponse(
        error.problem(), status_code=error.status, media_type=PROBLEM_JSON, headers=headers
    )


async def _validation_error(_: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, RequestValidationError)
    first = error.errors()[0]
    field = ".".join(str(part) for part in first.get("loc", ())[1:]) or None
    return problem_response(400, "Malformed request", first.get("msg", "invalid"), field)


async def _http_error(_: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, HTTPException)
    response = problem_response(error.status_code, "HTTP error", str(error.detail))
    response.headers.update(error.headers or {})  # e.g. Allow on a 405
    return response


async def _storage_error(request: Request, error: Exception) -> JSONResponse:
    """The database is down, full or locked: nothing was written, so 503 and retry."""
    log.warning("storage unavailable on %s %s: %s", request.method, request.url.path, error)
    return await _ledger_error(request, unavailable(error))


async def _unexpected(request: Request, error: Exception) -> JSONResponse:
    if is_transient(error):  # e.g. ENOSPC from a file write
        return await _storage_error(request, error)
    log.exception("unexpected error on %s %s", request.method, request.url.path)
    return problem_response(500, "Internal error", "the ledger could not complete the request")


def install_problem_handlers(app: FastAPI) -> None:
    app.add_exception_handler(LedgerError, _ledger_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(HTTPException, _http_error)
    for storage_error in TRANSIENT:
        app.add_exception_handler(storage_error, _storage_error)
    app.add_exception_handler(Exception, _unexpected)
