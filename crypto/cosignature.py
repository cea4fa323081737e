"""Witness cosignatures on checkpoints (C2SP tlog-cosignature, cosignature/v1 with Ed25519).

A witness key is a signed-note key of type 0x04 (crypto.keys with KeyType COSIGNATURE_V1): its
verifier key is `NAME+HHHHHHHH+BASE64(0x04 || public key)` with HHHHHHHH the first four bytes of
SHA-256(NAME || 0x0A || 0x04 || public key), and its private key text is
`PRIVATE+KEY+NAME+HHHHHHHH+BASE64(0x04 || seed)`. It signs `cosignature/v1\\ntime T\\n` followed
by the checkpoint body, and its signature line carries key hash || uint64 T || signature.
"""

from collections.abc import Iterable
from dataclasses import dataclass

from crypto.checkpoint import Checkpoint, CheckpointError, open_checkpoint, parse_checkpoint
from crypto.keys import SIGNATURE_SIZE, BaseSigner, BaseVerifier, KeyType, Verifier
from crypto.note import NoteError, NoteSignature, split_note

ALG_COSIGNATURE = 0x04
COSIGNATURE_V1 = KeyType(ALG_COSIGNATURE, "Ed25519 cosignature/v1")
TIMESTAMP_SIZE = 8
MAX_TIMESTAMP = 2**64 - 1


class CosignatureError(ValueError):
    """A cosignature that is malformed or does not verify."""


class CosignatureVerifier(BaseVerifier):
    """A witness's named Ed25519 public key, verifying cosignature/v1 signatures."""

    key_type = COSIGNATURE_V1
    kind = "witness verifier"


class CosignatureSigner(BaseSigner[CosignatureVerifier]):
    """A witness's named Ed25519 private key (its 32-byte seed), making cosignatures."""

    verifier_type = CosignatureVerifier
    kind = "witness signer"


def cosignature_key_hash(name: str, public_key: bytes) -> int:
    """The 32-bit key hash of a witness name and raw 32-byte Ed25519 public key (type 0x04)."""
    return COSIGNATURE_V1.key_hash(name, public_key)


def cosigner_from_seed(name: str, seed: bytes) -> CosignatureSigner:
    """The witness key named `name` with this 32-byte Ed25519 seed."""
    return CosignatureSigner.from_seed(name, seed)


def generate_cosigner(name: str) -> CosignatureSigner:
    """A new random witness key named `name` (which must be usable in a signature line)."""
    return CosignatureSigner.generate(name)


def parse_witness_verifier(text: str) -> CosignatureVerifier:
    """Parse a witness verifier key `NAME+HHHHHHHH+BASE64(0x04 || public key)`."""
    return CosignatureVerifier.parse(text)


def parse_witness_signer(text: str) -> CosignatureSigner:
    """Parse a witness private key `PRIVATE+KEY+NAME+HHHHHHHH+BASE64(0x04 || seed)`."""
    return CosignatureSigner.parse(text)


def cosigned_message(body: str, timestamp: int) -> bytes:
    """The bytes a cosignature signs: the cosignature/v1 header, the time, the checkpoint body."""
    return f"cosignature/v1\ntime {timestamp}\n{body}".encode()


def parse_signature_line(line: str) -> NoteSignature:
    """Parse one `— NAME BASE64` line (ending in a newline) by the signed-note rules."""
    if not line.endswith("\n") or "\n" in line[:-1]:
        raise NoteError("a signature line is one line ending in a newline")
    _, signatures = split_note("-\n\n" + line)  # the block of a note whose text is "-\n"
    return signatures[0]


def cosign(body: str, signer: CosignatureSigner, timestamp: int) -> NoteSignature:
    """The witness's cosignature/v1 line on a checkpoint body at `timestamp` (Unix seconds)."""
    try:
        parse_checkpoint(body)
    except CheckpointError as e:
        raise CosignatureError(f"cosignature/v1 signs checkpoints only: {e}") from None
    if type(timestamp) is not int or not 0 <= timestamp <= MAX_TIMESTAMP:
        raise CosignatureError(f"timestamp {timestamp!r} is not a uint64")
    signature = signer.sign(cosigned_message(body, timestamp))
    payload = timestamp.to_bytes(TIMESTAMP_SIZE, "big") + signature
    return NoteSignature(signer.name, signer.key_hash, payload)


def verify_cosignature(body: str, line: NoteSignature, verifier: CosignatureVerifier) -> int:
    """The timestamp of a valid cosignature by `verifier` on `body`; CosignatureError if not."""
    if (line.name, line.key_hash) != (verifier.name, verifier.key_hash):
        raise CosignatureError(f"signature by {line.key_id} is not by witness {verifier.key_id}")
    if len(line.signature) != TIMESTAMP_SIZE + SIGNATURE_SIZE:
        raise CosignatureError(f"cosignature by {line.key_id} is not 8 + 64 bytes")
    timestamp = int.from_bytes(line.signature[:TIMESTAMP_SIZE], "big")
    if not verifier.verify(cosigned_message(body, timestamp), line.signature[TIMESTAMP_SIZE:]):
        raise CosignatureError(f"invalid cosignature by witness {verifier.key_id}")
    return timestamp


@dataclass(frozen=True)
class Cosigned:
    """A witness that cosigned a checkpoint, and the time it stated."""

    witness: CosignatureVerifier
    timestamp: int


def cosignatures(note: str | bytes, witnesses: Iterable[CosignatureVerifier]) -> list[Cosigned]:
    """Which of `witnesses` cosigned a signed note's text, and when (the log key is not checked).

    Lines by other keys are ignored; a line naming a given witness key (name and hash) that
    does not verify raises CosignatureError, as a bad signature by a known key does in
    crypto.note.open_note.
    """
    text, lines = split_note(note)
    known = {(w.name, w.key_hash): w for w in witnesses}
    cosigned: dict[tuple[str, int], Cosigned] = {}
    for line in lines:
        witness = known.get((line.name, line.key_hash))
        if witness is not None:
            timestamp = verify_cosignature(text, line, witness)
            cosigned.setdefault((line.name, line.key_hash), Cosigned(witness, timestamp))
    return list(cosigned.values())


def count_cosignatures(note: str | bytes, witnesses: Iterable[CosignatureVerifier]) -> int:
    """How many of `witnesses` cosigned the note (CosignatureError if one's line is forged)."""
    return len(cosignatures(note, witnesses))


def verify_cosignatures(
    note: str | bytes, log_verifier: Verifier, witnesses: Iterable[CosignatureVerifier]
) -> tuple[Checkpoint, list[Cosigned]]:
    """Open a checkpoint signed by the log; which of `witnesses` cosigned it, and when."""
    checkpoint, _ = open_checkpoint(note, log_verifier)
    return checkpoint, cosignatures(note, witnesses)
