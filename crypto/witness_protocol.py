"""The add-checkpoint exchange of C2SP tlog-witness: request and response bodies, no I/O.

A request is `old SIZE\\n`, up to 63 consistency proof lines (base64 of a 32-byte hash, each
ending in a newline), an empty line, then the checkpoint's signed note. A 200 answer is one or
more signature lines; a 409 answer is the witness's size for the log, `SIZE\\n`, typed
text/x.tlog.size.
"""

import base64
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from crypto.cosignature import parse_signature_line
from crypto.keys import decode_base64
from crypto.merkle import HASH_SIZE
from crypto.note import NoteError, NoteSignature

ADD_CHECKPOINT_PATH = "/add-checkpoint"
SIZE_CONTENT_TYPE = "text/x.tlog.size"
MAX_PROOF_LINES = 63
MAX_SIZE = 2**64 - 1
_DECIMAL = re.compile("0|[1-9][0-9]*")


class WitnessProtocolError(ValueError):
    """A request or response body that does not follow tlog-witness."""


@dataclass(frozen=True)
class AddCheckpoint:
    """An add-checkpoint request: the size the log believes the witness has, proof, note."""

    old_size: int
    proof: tuple[bytes, ...]
    checkpoint: str


def _decimal(text: str, what: str) -> int:
    """A canonical decimal uint64, or WitnessProtocolError."""
    if not _DECIMAL.fullmatch(text) or int(text) > MAX_SIZE:
        raise WitnessProtocolError(f"{what} {text[:40]!r} is not a canonical decimal uint64")
    return int(text)


def format_add_checkpoint(old_size: int, proof: Sequence[bytes], checkpoint: str) -> bytes:
    """The request body for POST /add-checkpoint."""
    if len(proof) > MAX_PROOF_LINES:
        raise WitnessProtocolError(f"a consistency proof has at most {MAX_PROOF_LINES} hashes")
    lines = [f"old {old_size}\n", *(base64.b64encode(h).decode("ascii") + "\n" for h in proof)]
    return ("".join(lines) + "\n" + checkpoint).encode("utf-8")


def _proof_hash(line: str) -> bytes:
    """One consistency proof line as a 32-byte hash."""
    try:
        digest = decode_base64(line)
    except ValueError:
        raise WitnessProtocolError(f"proof line {line[:60]!r} is not base64") from None
    if len(digest) != HASH_SIZE:
        raise WitnessProtocolError(f"proof line holds {len(digest)} bytes, not {HASH_SIZE}")
    return digest


def parse_add_checkpoint(body: bytes) -> AddCheckpoint:
    """Parse a request body strictly; the checkpoint note itself is checked by the caller."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise WitnessProtocolError("request body is not valid UTF-8") from None
    head, blank, checkpoint = text.partition("\n\n")
    if not blank:
        raise WitnessProtocolError("request has no empty line before the checkpoint")
    if not checkpoint:
        raise WitnessProtocolError("request has no checkpoint")
    first, *proof_lines = head.split("\n")
    if not first.startswith("old "):
        raise WitnessProtocolError("request does not start with an `old SIZE` line")
    old_size = _decimal(first.removeprefix("old "), "old size")
    if len(proof_lines) > MAX_PROOF_LINES:
        raise WitnessProtocolError(f"more than {MAX_PROOF_LINES} consistency proof lines")
    proof = tuple(_proof_hash(line) for line in proof_lines)
    return AddCheckpoint(old_size, proof, checkpoint)


def format_size(size: int) -> str:
    """The 409 body: the witness's latest size for the log."""
    return f"{size}\n"


def parse_size(body: bytes) -> int:
    """The size in a 409 body."""
    text = body.decode("ascii", errors="replace")
    if not text.endswith("\n"):
        raise WitnessProtocolError("size body does not end in a newline")
    return _decimal(text[:-1], "witness size")


def format_cosignatures(signatures: Iterable[NoteSignature]) -> str:
    """The 200 body: the signature lines."""
    return "".join(signature.line for signature in signatures)


def parse_cosignatures(body: bytes) -> list[NoteSignature]:
    """The signature lines of a 200 body (at least one)."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise WitnessProtocolError("response body is not valid UTF-8") from None
    if not text.endswith("\n"):
        raise WitnessProtocolError("response is not signature lines ending in a newline")
    try:
        return [parse_signature_line(line + "\n") for line in text[:-1].split("\n")]
    except NoteError as e:
        raise WitnessProtocolError(f"response signature line: {e}") from None
