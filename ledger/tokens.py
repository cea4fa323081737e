"""Bearer tokens for reading accounts: who holds one (a principal), and where their hashes
are kept (never the tokens): a 0600 JSON file beside an SQLite ledger, a table on PostgreSQL
(ledger/storage/postgres.py) so that every node in front of it sees a token at once."""

import hashlib
import re
import secrets
from abc import ABC, abstractmethod
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

from ledger.domain.industrial import CREDIT_CODE
from ledger.errors import Conflict
from ledger.files import RecordFile

TOKENS_FILE = "tokens.json"
TOKEN_PREFIX = "cl_"
REGULATOR = "regulator"
CODES = {
    "bank": re.compile(r"[A-Za-z0-9._-]{1,64}"),
    "exchange": re.compile(r"[A-Za-z0-9._-]{1,64}"),
    "ent": CREDIT_CODE,
    "farm": re.compile(r"[A-Za-z0-9._:-]{1,160}"),
}


def parse_principal(text: str) -> tuple[str, str]:
    """(kind, code) of `regulator`, `bank:<bank>`, `ent:<credit code>` or `farm:<code>`."""
    if text == REGULATOR:
        return REGULATOR, ""
    kind, _, code = text.partition(":")
    pattern = CODES.get(kind)
    if pattern is None or not pattern.fullmatch(code):
        raise ValueError(
            f"bad principal {text!r}: regulator, bank:<bank>, ent:<18-char code> or farm:<code>"
        )
    return kind, code


def token_hash(token: str) -> str:
    """Hex SHA-256 of a token: all the store keeps of it."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def token_id(token: str) -> str:
    """A token's id (what lists, revocations and webhooks name): its hash's first 8 digits."""
    return id_of_hash(token_hash(token))


def id_of_hash(digest: str) -> str:
    """The id of the token whose hash is `digest`."""
    return digest[:8]


@dataclass(frozen=True)
class TokenRecord:
    """One issued token as stored: its hash, never the token."""

    id: str
    sha256: str
    principal: str
    created: str
    revoked: bool = False
    request: str | None = None  # "<admin key>:<request id>" of an API-made token


def new_token() -> tuple[str, str]:
    """A fresh (token, its hash)."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    return token, token_hash(token)


def replayed(request: str) -> Conflict:
    return Conflict(f"token request {request} was carried out already", "request.id")


def now_text() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class TokenStore(ABC):
    """Where token hashes are kept. A token's id is the first 8 hex digits of its hash."""

    @abstractmethod
    def create(self, principal: str, request: str | None = None) -> tuple[str, str]:
        """A new token for `principal` as (token id, token); the token is shown only now.
        ValueError if the principal is malformed; Conflict if `request` made one already."""

    @abstractmethod
    def revoke(self, token_id: str) -> None:
        """Mark a token revoked (a no-op if it already is); LookupError if there is no such id."""

    @abstractmethod
    def principal_for(self, token: str) -> str | None:
        """The principal of a live token, asked of the store now; None if unknown or revoked."""

    @abstractmethod
    def principal_of_id(self, token_id: str) -> str | None:
        """The principal of the live token with this id, asked of the store now; None if
        unknown or revoked."""

    @abstractmethod
    def list(self) -> list["TokenRecord"]:
        """Every token record, oldest first."""


class FileTokenStore(TokenStore):
    """Tokens in one JSON file, re-read whenever another process has replaced it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.file = RecordFile(path, "tokens", TokenRecord, lambda record: record.sha256)

    def create(self, principal: str, request: str | None = None) -> tuple[str, str]:
        parse_principal(principal)
        with self.file.writing() as records:
            if request is not None and any(r.request == request for r in records.values()):
                raise replayed(request)
            used = {record.id for record in records.values()}
            token, digest = new_token()
            while id_of_hash(digest) in used:
                token, digest = new_token()
            record = TokenRecord(id_of_hash(digest), digest, principal, now_text(), False, request)
            records[digest] = record
        return record.id, token

    def revoke(self, token_id: str) -> None:
        with self.file.writing() as records:
            found = [digest for digest, record in records.items() if record.id == token_id]
            if not found:
                raise LookupError(f"no token with id {token_id!r}")
            records[found[0]] = replace(records[found[0]], revoked=True)

    def principal_for(self, token: str) -> str | None:
        record = self.file.current().get(token_hash(token))
        return None if record is None or record.revoked else record.principal

    def principal_of_id(self, token_id: str) -> str | None:
        live = (r for r in self.file.current().values() if r.id == token_id and not r.revoked)
        return next((record.principal for record in live), None)

    def list(self) -> list[TokenRecord]:
        return sorted(self.file.current().values(), key=lambda record: (record.created, record.id))
