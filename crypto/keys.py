"""Ed25519 note keys in the C2SP signed-note text forms, as Go's golang.org/x/mod/sumdb/note.

A verifier key is `NAME+HHHHHHHH+BASE64(0x01 || public key)`, a signer key is
`PRIVATE+KEY+NAME+HHHHHHHH+BASE64(0x01 || seed)`, and the key hash HHHHHHHH is the first four
bytes of SHA-256(NAME || 0x0A || 0x01 || public key), big-endian, in lowercase hex.
"""

import base64
import hashlib
import re
import secrets
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

ALG_ED25519 = 0x01
KEY_SIZE = 32
SIGNATURE_SIZE = 64
PRIVATE_KEY_PREFIX = "PRIVATE+KEY+"

# Go's unicode.IsSpace: exactly the characters with the Unicode White_Space property.
_SPACE = re.compile("[\t\n\v\f\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]")
# ASCII control characters other than newline: never allowed anywhere in a signed note.
CONTROL = re.compile("[\x00-\x09\x0b-\x1f]")
_HEX8 = re.compile("[0-9a-fA-F]{8}")
# Go's base64.StdEncoding: the standard alphabet, padded to a multiple of four.
_BASE64 = re.compile("(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?")


class KeyFormatError(ValueError):
    """A key name or encoded key that is malformed, of another algorithm, or with a wrong hash."""


def is_utf8(text: str) -> bool:
    """Whether `text` encodes as UTF-8 (it holds no lone surrogate)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def decode_base64(text: str) -> bytes:
    """Decode padded standard base64 as strictly as Go's base64.StdEncoding (ValueError if bad)."""
    if not _BASE64.fullmatch(text):
        raise ValueError(f"not padded standard base64: {text[:80]!r}")
    return base64.b64decode(text)


def check_key_name(name: str) -> None:
    """Refuse a name Go refuses: empty, not UTF-8, or holding a '+' or a Unicode space."""
    if not name:
        raise KeyFormatError("key name is empty")
    if not is_utf8(name):
        raise KeyFormatError(f"key name {name!r} is not valid UTF-8")
    if "+" in name:
        raise KeyFormatError(f"key name {name!r} contains '+'")
    if _SPACE.search(name):
        raise KeyFormatError(f"key name {name!r} contains a space")


def key_hash(name: str, public_key: bytes) -> int:
    """The 32-bit key hash of a name and a raw 32-byte Ed25519 public key."""
    digest = hashlib.sha256(name.encode("utf-8") + b"\n" + bytes([ALG_ED25519]) + public_key)
    return int.from_bytes(digest.digest()[:4], "big")


def _encode_key(name: str, hash_: int, key: bytes) -> str:
    """`NAME+HHHHHHHH+BASE64(0x01 || key)`."""
    data = base64.b64encode(bytes([ALG_ED25519]) + key).decode("ascii")
    return f"{name}+{hash_:08x}+{data}"


def _check_hash(kind: str, name: str, hash_: int, public_key: bytes) -> None:
    """Refuse a key whose stated hash is not the hash of its name and public key."""
    expected = key_hash(name, public_key)
    if hash_ != expected:
        raise KeyFormatError(
            f"{kind} key hash {hash_:08x} does not match its name and key (expected {expected:08x})"
        )


@dataclass(frozen=True)
class Verifier:
    """A named Ed25519 public key that verifies note signatures."""

    name: str
    key_hash: int
    public_key: bytes
    _key: Ed25519PublicKey = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        """Check the name, key size and hash; load the key once."""
        check_key_name(self.name)
        if len(self.public_key) != KEY_SIZE:
            raise KeyFormatError(f"Ed25519 public key is {len(self.public_key)} bytes, not 32")
        _check_hash("verifier", self.name, self.key_hash, self.public_key)
        object.__setattr__(self, "_key", Ed25519PublicKey.from_public_bytes(self.public_key))

    @property
    def key_id(self) -> str:
        """`NAME+HHHHHHHH`: the name and key hash that signature lines refer to."""
        return f"{self.name}+{self.key_hash:08x}"

    @property
    def text(self) -> str:
        """The verifier key text `NAME+HHHHHHHH+BASE64(0x01 || public key)`."""
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
class Signer:
    """A named Ed25519 private key (its 32-byte seed) that signs notes."""

    name: str
    key_hash: int
    seed: bytes = field(repr=False)
    _key: Ed25519PrivateKey = field(init=False, repr=False, compare=False)
    _verifier: Verifier = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        """Check the name, seed size and hash; derive the key pair once."""
        check_key_name(self.name)
        if len(self.seed) != KEY_SIZE:
            raise KeyFormatError(f"Ed25519 seed is {len(self.seed)} bytes, not 32")
        key = Ed25519PrivateKey.from_private_bytes(self.seed)
        public = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        _check_hash("signer", self.name, self.key_hash, public)
        object.__setattr__(self, "_key", key)
        object.__setattr__(self, "_verifier", Verifier(self.name, self.key_hash, public))

    @property
    def key_id(self) -> str:
        """`NAME+HHHHHHHH`: the name and key hash that signature lines refer to."""
        return self._verifier.key_id

    @property
    def verifier(self) -> Verifier:
        """The matching public key."""
        return self._verifier

    @property
    def text(self) -> str:
        """The secret signer key text `PRIVATE+KEY+NAME+HHHHHHHH+BASE64(0x01 || seed)`."""
        return PRIVATE_KEY_PREFIX + _encode_key(self.name, self.key_hash, self.seed)

    def sign(self, message: bytes) -> bytes:
        """The 64-byte Ed25519 signature of `message` (deterministic)."""
        return self._key.sign(message)


def generate_signer(name: str) -> Signer:
    """A new random key named `name` (which must also be usable in a signature line)."""
    check_key_name(name)
    if CONTROL.search(name):
        raise KeyFormatError(f"key name {name!r} contains an ASCII control character")
    return signer_from_seed(name, secrets.token_bytes(KEY_SIZE))


def signer_from_seed(name: str, seed: bytes) -> Signer:
    """The key named `name` with this 32-byte Ed25519 seed."""
    public = Ed25519PrivateKey.from_private_bytes(seed).public_key()
    return Signer(name, key_hash(name, public.public_bytes(Encoding.Raw, PublicFormat.Raw)), seed)


def _split_key(kind: str, text: str) -> tuple[str, int, bytes]:
    """Name, stated hash and 32-byte key material of `NAME+HHHHHHHH+BASE64(0x01 || key)`."""
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
    if not data:
        raise KeyFormatError(f"malformed {kind} key: key data is empty")
    if data[0] != ALG_ED25519:
        raise KeyFormatError(
            f"unknown {kind} key algorithm 0x{data[0]:02x} (only 0x01, Ed25519, is supported)"
        )
    if len(data) != 1 + KEY_SIZE:
        raise KeyFormatError(f"malformed {kind} key: Ed25519 key is {len(data) - 1} bytes, not 32")
    return name, int(hash16, 16), data[1:]


def parse_verifier(text: str) -> Verifier:
    """Parse a verifier key `NAME+HHHHHHHH+BASE64(0x01 || public key)`."""
    return Verifier(*_split_key("verifier", text))


def parse_signer(text: str) -> Signer:
    """Parse a signer key `PRIVATE+KEY+NAME+HHHHHHHH+BASE64(0x01 || seed)`."""
    if not text.startswith(PRIVATE_KEY_PREFIX):
        raise KeyFormatError(f"malformed signer key: does not start with {PRIVATE_KEY_PREFIX!r}")
    return Signer(*_split_key("signer", text.removeprefix(PRIVATE_KEY_PREFIX)))
