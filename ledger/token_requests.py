"""Admin-signed token requests: checked as submissions are (a registered, unrevoked key with
the admin role signed these bytes, recently), then carried out on the token store."""

import base64
import binascii
from dataclasses import asdict
from datetime import datetime, timedelta
from typing import Any

import msgspec

from crypto.canonical import CanonicalError, canonical_json
from crypto.records import TOKEN_REQUEST_CONTEXT, TokenRequest
from ledger.errors import Invalid, LedgerError, Malformed, NotFound, Unauthenticated
from ledger.registry import KeyRegistry
from ledger.submissions import check_at, convert
from ledger.tokens import TokenStore

MAX_AGE = timedelta(minutes=5)  # a captured request is replayable no longer than this
ADMIN = frozenset({"admin"})


class SignedTokenRequest(msgspec.Struct, forbid_unknown_fields=True):
    request: dict[str, Any]
    signature: str


def _authenticate(
    envelope: SignedTokenRequest, request: TokenRequest, registry: KeyRegistry
) -> None:
    try:
        signature = base64.b64decode(envelope.signature, validate=True)
    except (binascii.Error, ValueError):
        raise Malformed("signature is not base64", "signature") from None
    try:
        message = TOKEN_REQUEST_CONTEXT + canonical_json(envelope.request)
    except CanonicalError as error:
        raise Invalid(error.problem, "request" + error.path[1:]) from None
    try:
        verifier = registry.authorise(request.key, ADMIN)
    except LedgerError as error:
        raise type(error)(error.detail, "request.key") from None
    if len(signature) != 64 or not verifier.verify(message, signature):
        raise Unauthenticated("signature does not verify", "signature")


def carry_out(
    wire: Any, registry: KeyRegistry, tokens: TokenStore, now: datetime
) -> dict[str, Any]:
    """Check a signed token request and do what it asks; the answer's JSON."""
    envelope = convert(wire, SignedTokenRequest, "")
    request = convert(envelope.request, TokenRequest, "request")
    when = check_at(request.at, now, "request.at")
    if when < now - MAX_AGE:
        raise Invalid("`at` is more than 5 minutes old: sign the request again", "request.at")
    _authenticate(envelope, request, registry)
    if request.action == "create":
        if request.principal is None:
            raise Invalid("create needs a principal", "request.principal")
        try:
            token_id, token = tokens.create(request.principal, f"{request.key}:{request.id}")
        except ValueError as error:
            raise Invalid(str(error), "request.principal") from None
        return {"token_id": token_id, "principal": request.principal, "token": token}
    if request.action == "revoke":
        if request.token_id is None:
            raise Invalid("revoke needs a token_id", "request.token_id")
        try:
            tokens.revoke(request.token_id)
        except LookupError as error:
            raise NotFound(str(error.args[0]), "request.token_id") from None
        return {"token_id": request.token_id, "revoked": True}
    if request.action == "list":
        fields = ("id", "principal", "created", "revoked")
        return {"tokens": [{k: asdict(r)[k] for k in fields} for r in tokens.list()]}
    raise Invalid("action must be create, revoke or list", "request.action")
