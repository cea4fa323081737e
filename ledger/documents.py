"""Evidence documents: files a firm attaches to a dispute, kept by content (SHA-256) and read
under the scope of the account they belong to. Beside SQLite they are files named by hash;
on PostgreSQL, rows of a table (ledger/storage/postgres.py)."""

import base64
import binascii
import hashlib
import re
from abc import ABC, abstractmethod
from pathlib import Path
from typing import NamedTuple

from crypto.records import document_message
from ledger.errors import Forbidden, Invalid, LedgerError, TooLarge, Unauthenticated
from ledger.files import create_atomically
from ledger.registry import KeyRegistry

MAX_DOCUMENT_BYTES = 1024 * 1024
DIGEST = re.compile(r"[0-9a-f]{64}")
DOCUMENTS_DIR = "documents"


OWNERS = {"ind:": "ent.", "agr:": "farm."}  # whose key may attach documents to an account
SIGNERS = frozenset({"enterprise", "farm", "authority"})


def authorise_upload(
    account: str, content: bytes, header: str | None, registry: KeyRegistry
) -> str:
    """The digest of a document whose upload the account's own key (or the authority's)
    signed; Unauthenticated, Forbidden or TooLarge otherwise."""
    if len(content) > MAX_DOCUMENT_BYTES:
        raise TooLarge(f"a document is at most {MAX_DOCUMENT_BYTES} bytes")
    if not content:
        raise Invalid("the document is empty", "body")
    prefix = account[:4]
    if prefix not in OWNERS:
        raise Invalid("documents attach to enterprise and farm accounts", "account_id")
    key_id, _, signature_text = (header or "").partition(" ")
    try:
        signature = base64.b64decode(signature_text, validate=True)
    except (binascii.Error, ValueError):
        signature = b""
    if not key_id or len(signature) != 64:
        raise Unauthenticated(
            "send Document-Signature: <key id> <base64 Ed25519 signature>", "Document-Signature"
        )
    try:
        verifier = registry.authorise(key_id, SIGNERS)
    except LedgerError as error:  # it names a submission's field; here the key is the header's
        raise type(error)(error.detail, "Document-Signature") from None
    owner = OWNERS[prefix] + account[4:]
    authority = "authority" in registry.keys[key_id].roles  # authorise found it
    if key_id.split("+", 1)[0] != owner and not authority:
        raise Forbidden(f"only key {owner} or the authority may attach here", "Document-Signature")
    digest = document_digest(content)
    if not verifier.verify(document_message(account, digest), signature):
        raise Unauthenticated("signature does not verify", "Document-Signature")
    return digest


class Document(NamedTuple):
    accounts: tuple[str, ...]  # every account the bytes are attached to, the first first
    content: bytes


def document_digest(content: bytes) -> str:
    """Hex SHA-256 of a document: its name, and what a GradeDisputed's `evidence` cites."""
    return hashlib.sha256(content).hexdigest()


class DocumentStore(ABC):
    """Documents by digest, each attached to the accounts that attached it: the same bytes
    from another account are that account's too, and tell it nothing of the first."""

    @abstractmethod
    def put(self, account: str, content: bytes) -> tuple[str, bool]:
        """Keep `content` for `account`: its digest, and whether it is new to the account (the
        same bytes again change nothing)."""

    @abstractmethod
    def get(self, digest: str) -> Document | None:
        """The document with this digest, or None."""


class FileDocumentStore(DocumentStore):
    """A file per document, `<digest>` holding its first account, a newline and the bytes;
    in a directory `<digest>.accounts`, a file per other account it is attached to (named by
    a hash of the account, holding the account)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def put(self, account: str, content: bytes) -> tuple[str, bool]:
        digest = document_digest(content)
        if create_atomically(self.directory / digest, account.encode() + b"\n" + content):
            return digest, True
        found = self.get(digest)
        if found is not None and found.accounts[0] == account:
            return digest, False
        return digest, create_atomically(self._also(digest, account), account.encode())

    def get(self, digest: str) -> Document | None:
        if not DIGEST.fullmatch(digest):
            return None
        try:
            stored = (self.directory / digest).read_bytes()
        except FileNotFoundError:
            return None
        first, _, content = stored.partition(b"\n")
        others = self.directory / f"{digest}.accounts"
        named = others.iterdir() if others.is_dir() else ()
        also = sorted(path.read_text() for path in named if not path.name.startswith("."))
        return Document((first.decode(), *also), content)

    def _also(self, digest: str, account: str) -> Path:
        name = hashlib.sha256(account.encode()).hexdigest()[:32]
        return self.directory / f"{digest}.accounts" / name
