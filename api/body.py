"""Request bodies read strictly: size-capped, parsed without floats or duplicate keys."""

from typing import Any

from fastapi import Request

from crypto.canonical import CanonicalError, parse_json
from ledger.errors import Malformed, TooLarge


async def read_json(request: Request, limit: int) -> Any:
    """The request's JSON body; TooLarge beyond `limit` bytes, Malformed if not strict JSON."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise TooLarge(f"body is over {limit} bytes")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise TooLarge(f"body is over {limit} bytes")
    try:
        return parse_json(bytes(body))
    except CanonicalError as error:
        field = error.path.removeprefix("$").removeprefix(".") or None
        raise Malformed(error.problem, field) from None
