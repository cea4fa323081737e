"""Request bodies read strictly: JSON in UTF-8, size-capped, without floats or duplicate keys."""

from typing import Any

from fastapi import Request

from api.problems import UnsupportedMediaType
from crypto.canonical import CanonicalError, parse_json
from ledger.errors import Malformed, TooLarge

JSON_MEDIA_TYPE = "application/json"


def _check_media_type(content_type: str | None) -> None:
    """UnsupportedMediaType unless the body is declared `application/json`, in UTF-8 if a
    charset is named."""
    if content_type is None:
        raise UnsupportedMediaType(f"the body must be declared {JSON_MEDIA_TYPE} (Content-Type)")
    media_type, *parameters = content_type.split(";")
    charsets = [
        value.strip().strip('"').lower()
        for name, _, value in (parameter.partition("=") for parameter in parameters)
        if name.strip().lower() == "charset"
    ]
    if media_type.strip().lower() != JSON_MEDIA_TYPE or charsets not in ([], ["utf-8"]):
        raise UnsupportedMediaType(
            f"the body must be {JSON_MEDIA_TYPE} in UTF-8, not {content_type[:100]!r}"
        )


def _declares_over(content_length: str | None, limit: int) -> bool:
    """Whether a Content-Length of ASCII digits (however many) declares over `limit` bytes."""
    digits = (content_length or "").lstrip("0")
    if not (digits.isascii() and digits.isdigit()):
        return False
    return len(digits) > len(str(limit)) or int(digits) > limit


async def read_json(request: Request, limit: int) -> Any:
    """The request's JSON body; UnsupportedMediaType if declared as anything but JSON in UTF-8,
    TooLarge beyond `limit` bytes, Malformed if not strict JSON in UTF-8."""
    _check_media_type(request.headers.get("content-type"))
    if _declares_over(request.headers.get("content-length"), limit):
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
