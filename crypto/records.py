"""Exact record formats: what submitters sign, what entries hold, what receipts promise."""

import base64
import hashlib
import json
from typing import Any, TypedDict

import msgspec

from crypto.canonical import canonical_json
from crypto.keys import Signer
from crypto.merkle import leaf_hash

SUBMISSION_CONTEXT = b"carbon-ledger/submission/v1\n"
RECEIPT_CONTEXT = b"carbon-ledger/receipt/v1\n"
ENTRY_VERSION = 1
BUNDLE_FORMAT = "carbon-ledger/bundle/v1"


class EntryRecord(TypedDict):
    """An entry as the log commits to it (before canonical encoding)."""

    v: int
    account: str
    seq: int
    prev: str
    submission: dict[str, Any] | msgspec.Raw  # the signed submission: JSON, or its bytes
    signature: str
    effect: dict[str, Any]  # JSON: what the rule worked out
    recorded_at: str


class ReceiptPromise(TypedDict):
    """What the ledger signs in a receipt."""

    account: str
    seq: int
    leaf_hash: str
    log: str


class Receipt(msgspec.Struct, frozen=True, kw_only=True):
    """A receipt as the ledger hands it out and the client receives it: the signed promise,
    the entry's bytes (base64 on the wire) and, once integrated, its log index, a checkpoint
    and the inclusion proof. `replayed` is not on the wire: a replay is answered 200."""

    account: str
    seq: int
    leaf_hash: str
    entry: bytes
    log: str
    signature: str
    index: int | None = None
    checkpoint: str | None = None
    inclusion: tuple[str, ...] | None = None
    replayed: bool = False

    @property
    def proven(self) -> bool:
        """Whether it carries an inclusion proof (the client keeps only verified ones)."""
        return self.inclusion is not None

    @property
    def record(self) -> dict[str, Any]:
        """The entry as the log holds it (submission, signature, effect, ...); ValueError if
        its bytes are not a JSON object."""
        record = json.loads(self.entry)
        if not isinstance(record, dict):
            raise ValueError("the entry is not a JSON object")
        return record

    def to_wire(self) -> dict[str, Any]:
        """The JSON object of the receipt: `index` always present (null until integrated),
        `checkpoint` and `inclusion` only with a proof."""
        wire: dict[str, Any] = {
            "account": self.account,
            "seq": self.seq,
            "leaf_hash": self.leaf_hash,
            "entry": base64.b64encode(self.entry).decode(),
            "log": self.log,
            "signature": self.signature,
            "index": self.index,
        }
        if self.inclusion is not None:
            wire["checkpoint"] = self.checkpoint
            wire["inclusion"] = list(self.inclusion)
        return wire


class Problem(msgspec.Struct, frozen=True, omit_defaults=True):
    """An RFC 9457 problem: why the ledger refused a request or one item of a batch."""

    type: str
    title: str
    status: int
    detail: str
    field: str | None = None


def submission_message(submission: dict[str, Any]) -> bytes:
    """The bytes a submitter's Ed25519 signature covers."""
    return SUBMISSION_CONTEXT + canonical_json(submission)


def sign_submission(signer: Signer, submission: dict[str, Any]) -> dict[str, Any]:
    """The wire form `{"submission": ..., "signature": BASE64}` of a submission."""
    signature = signer.sign(submission_message(submission))
    return {"submission": submission, "signature": base64.b64encode(signature).decode()}


def entry_record(
    *,
    account: str,
    seq: int,
    prev: str,
    submission: dict[str, Any] | msgspec.Raw,
    signature: str,
    effect: dict[str, Any],
    recorded_at: str,
) -> EntryRecord:
    """An entry as the log commits to it (before canonical encoding)."""
    return {
        "v": ENTRY_VERSION,
        "account": account,
        "seq": seq,
        "prev": prev,
        "submission": submission,
        "signature": signature,
        "effect": effect,
        "recorded_at": recorded_at,
    }


def entry_leaf_hash(entry_bytes: bytes) -> bytes:
    """The RFC 6962 leaf hash of an entry: its id everywhere."""
    return leaf_hash(entry_bytes)


def receipt_promise(account: str, seq: int, leaf_hash_hex: str, origin: str) -> ReceiptPromise:
    """What the ledger signs in a receipt: this leaf will be in log `origin`."""
    return {"account": account, "seq": seq, "leaf_hash": leaf_hash_hex, "log": origin}


def receipt_message(promise: ReceiptPromise) -> bytes:
    """The bytes the ledger's receipt signature covers."""
    return RECEIPT_CONTEXT + canonical_json(promise)


def sign_receipt(signer: Signer, promise: ReceiptPromise) -> str:
    """Base64 Ed25519 signature of a receipt promise by the ledger key."""
    return base64.b64encode(signer.sign(receipt_message(promise))).decode()


def submission_digest(submission_bytes: bytes) -> str:
    """Hex SHA-256 of a submission's canonical bytes: what idempotency compares."""
    return hashlib.sha256(submission_bytes).hexdigest()
