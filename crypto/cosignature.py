"""Witness cosignatures on checkpoints (C2SP tlog-cosignature, cosignature/v1 with Ed25519).

A witness key is a signed-note key of type 0x04: its verifier key is
`NAME+HHHHHHHH+BASE64(0x04 || public key)` with HHHHHHHH the first four bytes of
SHA-256(NAME || 0x0A || 0x04 || public key). It signs `cosignature/v1\\ntime T\\n` followed by
the checkpoint body, and its signature line carries key hash || uint64 T || signature.
Its private key text mirrors crypto.keys: `PRIVATE+KEY+NAME+HHHHHHHH+BASE64(0x04 || seed)`.
"""

import base64
import hashlib
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from crypto.checkpoint import Checkpoint, CheckpointError, open_checkpoint, parse_checkpoint
from crypto.keys import (
    CONTROL,
    KEY_SIZE,
    PRIVATE_KEY_PREFIX,
    SIGNATURE_SIZE,
    KeyFormatError,
    Verifier,
    check_key_name,
    decode_base64,
)
from crypto.note import NoteError, NoteSignature, split_note

ALG_COSIGNATURE = 0x04
TIMESTAMP_SIZE = 8
MAX_TIMESTAMP = 2**64 - 1
_HEX8 = re.compile("[0-9a-fA-F]{8}")


class CosignatureError(ValueError):
    """A cosignature that is malformed or does not verify."""


def cosignature_key_hash(name: str, public_key: bytes) -> int:
    """The 32-bit key hash of a witness name and raw 32-byte Ed25519 public key (type 0x04)."""
    digest = hashlib.sha256(name.encode("utf-8") + b"\n" + bytes([ALG_COSIGNATURE]) + public_key)
    return int.from_bytes(digest.digest()[:4], "big")


def cosigned_message(body: str, timestamp: int) -> bytes:
    """The bytes a cosignature signs: the cosignature/v1 header, the time, the checkpoint body."""
    return f"cosignature/v1\ntime {timestamp}\n{body}".encode()


def _encode_key(name: str, hash_: int, key: bytes) -> str:
    """`NAME+HHHHHHHH+BASE64(0x04 || key)`."""
    data = base64.b64encode(bytes([ALG_COSIGNATURE]) + key).decode("ascii")
    return f"{name}+{hash_:08x}+{data}"


def _check_hash(kind: str, name: str, hash_: int, public_key: bytes) -> None:
    """Refuse a key whose stated hash is not the type 0x04 hash of its name and public key."""
    expected = cosignature_key_hash(name, public_key)
    if hash_ != expected:
        raise KeyFormatError(
            f"{kind} key hash {hash_:08x} does not match its name and key (expected {expected:08x})"
        )


@dataclass(frozen=True)
class CosignatureVerifier:
    """A witness's named Ed25519 public key, verifying cosignature/v1 signatures."""

    name: str
    key_hash: int
    public_key: bytes
    _key: Ed25519PublicKey = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        """Check the name, key size and hash; load the key once."""
        check_key_name(self.name)
        if len(self.public_key) != KEY_SIZE:
            raise KeyFormatError(f"Ed25519 public key is {len(self.public_key)} bytes, not 32")
        _check_hash("witness verifier", self.name, self.key_hash, self.public_key)
        object.__setattr__(self, "_key", Ed25519PublicKey.from_public_bytes(self.public_key))

    @property
    def key_id(self) -> str:
        """`NAME+HHHHHHHH`: the name and key hash that signature lines refer to."""
        return f"{self.name}+{self.key_hash:08x}"

    @property
    def text(self) -> str:
        """The verifier key text `NAME+HHHHHHHH+BASE64(0x04 || public key)`."""
        return _encode_key(self.name, self.key_hash, self.public_key)

    def verify(self, message: bytes, signature: bytes) -> bool:
        """Whether `signature` is this key's Ed25519 signature of `message`."""
        if len(signature) != SIGNATURE_SIZE:
            return False
        try:
            self._key.verify(signature, message)
        except InvalidSignature:
            return False
        return True


@dataclass(frozen=True)
class CosignatureSigner:
    """A witness's named Ed25519 private key (its 32-byte seed), making cosignatures."""

    name: str
    key_hash: int
    seed: bytes = field(repr=False)
    _key: Ed25519PrivateKey = field(init=False, repr=False, compare=False)
    _verifier: CosignatureVerifier = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        """Check the name, seed size and hash; derive the key pair once."""
        check_key_name(self.name)
        if len(self.seed) != KEY_SIZE:
            raise KeyFormatError(f"Ed25519 seed is {len(self.seed)} bytes, not 32")
        key = Ed25519PrivateKey.from_private_bytes(self.seed)
        public = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        _check_hash("witness signer", self.name, self.key_hash, public)
        object.__setattr__(self, "_key", key)
        object.__setattr__(self, "_verifier", CosignatureVerifier(self.name, self.key_hash, public))

    @property
    def key_id(self) -> str:
        """`NAME+HHHHHHHH`: the name and key hash that signature lines refer to."""
        return self._verifier.key_id

    @property
    def verifier(self) -> CosignatureVerifier:
        """The matching public key."""
        return self._verifier

    @property
    def text(self) -> str:
        """The secret key text `PRIVATE+KEY+NAME+HHHHHHHH+BASE64(0x04 || seed)`."""
        return PRIVATE_KEY_PREFIX + _encode_key(self.name, self.key_hash, self.seed)

    def sign(self, message: bytes) -> bytes:
        """The 64-byte Ed25519 signature of `message` (deterministic)."""
        return self._key.sign(message)


def cosigner_from_seed(name: str, seed: bytes) -> CosignatureSigner:
    """The witness key named `name` with this 32-byte Ed25519 seed."""
    public = Ed25519PrivateKey.from_private_bytes(seed).public_key()
    public_bytes = public.public_bytes(Encoding.Raw, PublicFormat.Raw)
    return CosignatureSigner(name, cosignature_key_hash(name, public_bytes), seed)


def generate_cosigner(name: str) -> CosignatureSigner:
    """A new random witness key named `name` (which must be usable in a signature line)."""
    check_key_name(name)
    if CONTROL.search(name):
        raise KeyFormatError(f"key name {name!r} contains an ASCII control character")
    return cosigner_from_seed(name, secrets.token_bytes(KEY_SIZE))


def _split_key(kind: str, text: str) -> tuple[str, int, bytes]:
    """Name, stated hash and 32-byte key material of `NAME+HHHHHHHH+BASE64(0x04 || key)`."""
    name, _, rest = text.partition("+")
    hash16, _, data64 = rest.partition("+")
    try:
        check_key_name(name)
    except KeyFormatError as e:
        raise KeyFormatError(f"malformed {kind} key: {e}") from None
    if not _HEX8.fullmatch(hash16):
        raise KeyFormatError(f"malformed {kind} key: key hash {hash16!r} is not 8 hex digits")
    try:
        data = decode_base64(data64)
    except ValueError:
        raise KeyFormatError(f"malformed {kind} key: key data is not base64") from None
    if not data or data[0] != ALG_COSIGNATURE:
        found = f"0x{data[0]:02x}" if data else "none"
        raise KeyFormatError(f"{kind} key algorithm is {found}, not 0x04 (Ed25519 cosignature/v1)")
    if len(data) != 1 + KEY_SIZE:
        raise KeyFormatError(f"malformed {kind} key: Ed25519 key is {len(data) - 1} bytes, not 32")
    return name, int(hash16, 16), data[1:]


def parse_witness_verifier(text: str) -> CosignatureVerifier:
    """Parse a witness verifier key `NAME+HHHHHHHH+BASE64(0x04 || public key)`."""
    return CosignatureVerifier(*_split_key("witness verifier", text))


def parse_witness_signer(text: str) -> CosignatureSigner:
    """Parse a witness private key `PRIVATE+KEY+NAME+HHHHHHHH+BASE64(0x04 || seed)`."""
    if not text.startswith(PRIVATE_KEY_PREFIX):
        raise KeyFormatError(f"malformed witness key: does not start with {PRIVATE_KEY_PREFIX!r}")
    return CosignatureSigner(*_split_key("witness signer", text.removeprefix(PRIVATE_KEY_PREFIX)))


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
