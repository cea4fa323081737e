"""Exact record formats: what submitters sign, what entries hold, what receipts promise."""

import base64
import hashlib
import uuid
from datetime import UTC, datetime
from typing import Any

import msgspec

from crypto.canonical import canonical_json
from crypto.keys import Signer
from crypto.merkle import leaf_hash

SUBMISSION_CONTEXT = b"carbon-ledger/submission/v1\n"
RECEIPT_CONTEXT = b"carbon-ledger/receipt/v1\n"
TOKEN_REQUEST_CONTEXT = b"carbon-ledger/token-request/v1\n"
DOCUMENT_CONTEXT = b"carbon-ledger/document/v1\n"
ENTRY_VERSION = 1
BUNDLE_FORMAT = "carbon-ledger/bundle/v1"
AT_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


class Submission(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """What a submitter signs: an event of `type` on `account`, by `key`, at `at`, with an
    `id` the key never reuses for other bytes."""

    account: str
    type: str
    data: dict[str, Any]  # JSON: the event type's own struct checks it
    key: str
    at: str
    id: str


class SignedSubmission(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The wire form of a submission. `submission` stays JSON as sent: its canonical bytes
    are what the signature covers, so it is checked as a `Submission`, never re-encoded."""

    submission: dict[str, Any]
    signature: str


class Entry(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """An entry as the log commits to it: a signed submission and what the rule made of it."""

    v: int
    account: str
    seq: int
    prev: str  # the leaf hash of the account's previous entry ("" for its first)
    submission: Submission
    signature: str
    effect: dict[str, Any]  # JSON: what the rule worked out, in base units
    recorded_at: str

    def signed(self) -> dict[str, Any]:
        """The submission in its wire form, as its submitter sent it."""
        return {"submission": msgspec.to_builtins(self.submission), "signature": self.signature}


class TokenRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True, omit_defaults=True):
    """An admin's signed request to create, revoke or list bearer tokens; `id` is never
    reused by the key (a replayed create is refused, so no one gets a token twice)."""

    action: str  # create | revoke | list
    key: str
    at: str
    id: str
    principal: str | None = None  # create
    token_id: str | None = None  # revoke


class ReceiptPromise(msgspec.Struct, frozen=True):
    """What the ledger signs in a receipt: this leaf will be in log `log`."""

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
    def record(self) -> Entry:
        """The entry as the log holds it; ValueError if its bytes are not one."""
        return decode_entry(self.entry)

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
    """The wire form `{"submission": ..., "signature": BASE64}` of any JSON object (tests
    sign malformed ones); `signed_submission` builds a well-formed one."""
    signature = signer.sign(submission_message(submission))
    return {"submission": submission, "signature": base64.b64encode(signature).decode()}


def signed_submission(
    signer: Signer,
    account: str,
    type: str,
    data: dict[str, Any],
    id: str | None = None,
    at: datetime | str | None = None,
) -> dict[str, Any]:
    """A signed wire submission by `signer`; `id` defaults to a new UUID, `at` to now (UTC)."""
    when = at or datetime.now(UTC)
    if isinstance(when, datetime):
        when = when.astimezone(UTC).strftime(AT_FORMAT)
    submission = Submission(account, type, data, signer.key_id, when, id or str(uuid.uuid4()))
    return sign_submission(signer, msgspec.to_builtins(submission))


def signed_token_request(
    signer: Signer,
    action: str,
    *,
    principal: str | None = None,
    token_id: str | None = None,
    at: datetime | None = None,
) -> dict[str, Any]:
    """The wire form `{"request": ..., "signature": BASE64}` of a token request by `signer`."""
    when = (at or datetime.now(UTC)).astimezone(UTC).strftime(AT_FORMAT)
    request = TokenRequest(action, signer.key_id, when, str(uuid.uuid4()), principal, token_id)
    fields = msgspec.to_builtins(request)
    signature = signer.sign(TOKEN_REQUEST_CONTEXT + canonical_json(fields))
    return {"request": fields, "signature": base64.b64encode(signature).decode()}


def document_message(account: str, digest: str) -> bytes:
    """What a firm's key signs to attach a document (by its SHA-256) to its account."""
    return DOCUMENT_CONTEXT + f"{account}\n{digest}\n".encode()


def sign_document(signer: Signer, account: str, content: bytes) -> str:
    """The `Document-Signature` header for uploading `content` to `account`: key id, base64."""
    digest = hashlib.sha256(content).hexdigest()
    signature = signer.sign(document_message(account, digest))
    return f"{signer.key_id} {base64.b64encode(signature).decode()}"


def encode_entry(
    *,
    account: str,
    seq: int,
    prev: str,
    submission: msgspec.Raw,
    signature: str,
    effect: dict[str, Any],
    recorded_at: str,
) -> bytes:
    """An entry's canonical bytes, embedding the submission's canonical bytes as signed;
    CanonicalError if the effect has no canonical form."""
    return canonical_json(
        {
            "v": ENTRY_VERSION,
            "account": account,
            "seq": seq,
            "prev": prev,
            "submission": submission,
            "signature": signature,
            "effect": effect,
            "recorded_at": recorded_at,
        }
    )


def decode_entry(entry_bytes: bytes) -> Entry:
    """The entry in a leaf's bytes; msgspec.ValidationError (a ValueError) naming the field if
    they are not one."""
    return msgspec.json.decode(entry_bytes, type=Entry)


_SUBMISSION_FIELDS = sorted(Submission.__struct_fields__)


def parsed_submission_bytes(submission: Submission) -> bytes:
    """The canonical bytes of a submission parsed from canonical bytes (an entry's): its
    fields sorted, its data's keys kept in the order they were parsed, which is canonical
    (UTF-16) order; msgspec's own sort, by code point, differs beyond U+FFFF."""
    return msgspec.json.encode({name: getattr(submission, name) for name in _SUBMISSION_FIELDS})


def entry_leaf_hash(entry_bytes: bytes) -> bytes:
    """The RFC 6962 leaf hash of an entry: its id everywhere."""
    return leaf_hash(entry_bytes)


def receipt_promise(account: str, seq: int, leaf_hash_hex: str, origin: str) -> ReceiptPromise:
    """What the ledger signs in a receipt: this leaf will be in log `origin`."""
    return ReceiptPromise(account, seq, leaf_hash_hex, origin)


def receipt_message(promise: ReceiptPromise) -> bytes:
    """The bytes the ledger's receipt signature covers."""
    return RECEIPT_CONTEXT + canonical_json(msgspec.structs.asdict(promise))


def sign_receipt(signer: Signer, promise: ReceiptPromise) -> str:
    """Base64 Ed25519 signature of a receipt promise by the ledger key."""
    return base64.b64encode(signer.sign(receipt_message(promise))).decode()


def submission_digest(submission_bytes: bytes) -> str:
    """Hex SHA-256 of a submission's canonical bytes: what idempotency compares."""
    return hashlib.sha256(submission_bytes).hexdigest()
