"""Ed25519 note keys in the C2SP signed-note text forms, as Go's golang.org/x/mod/sumdb/note.

A verifier key is `NAME+HHHHHHHH+BASE64(ALG || public key)`, a signer key is
`PRIVATE+KEY+NAME+HHHHHHHH+BASE64(ALG || seed)`, and the key hash HHHHHHHH is the first four
bytes of SHA-256(NAME || 0x0A || ALG || public key), big-endian, in lowercase hex. ALG is the
key type's algorithm byte: 0x01 for the note keys here (Verifier, Signer); other Ed25519 key
types (crypto.cosignature) subclass BaseVerifier and BaseSigner with their own KeyType.
"""

import base64
import hashlib
import re
import secrets
from dataclasses import dataclass, field
from typing import ClassVar, Generic, Self, TypeVar

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


@dataclass(frozen=True)
class KeyType:
    """An Ed25519 key type: the algorithm byte in its key texts and hash, and what it is called."""

    alg: int
    algorithm: str

    def key_hash(self, name: str, public_key: bytes) -> int:
        """The 32-bit key hash of a name and a raw 32-byte public key of this type."""
        digest = hashlib.sha256(name.encode("utf-8") + b"\n" + bytes([self.alg]) + public_key)
        return int.from_bytes(digest.digest()[:4], "big")

    def encode(self, name: str, hash_: int, key: bytes) -> str:
        """`NAME+HHHHHHHH+BASE64(ALG || key)`."""
        data = base64.b64encode(bytes([self.alg]) + key).decode("ascii")
        return f"{name}+{hash_:08x}+{data}"

    def check_hash(self, kind: str, name: str, hash_: int, public_key: bytes) -> None:
        """Refuse a key whose stated hash is not this type's hash of its name and public key."""
        expected = self.key_hash(name, public_key)
        if hash_ != expected:
            raise KeyFormatError(
                f"{kind} key hash {hash_:08x} does not match its name and key"
                f" (expected {expected:08x})"
            )

    def split(self, kind: str, text: str) -> tuple[str, int, bytes]:
        """Name, stated hash and 32-byte key material of `NAME+HHHHHHHH+BASE64(ALG || key)`."""
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
        if data[0] != self.alg:
            raise KeyFormatError(
                f"unknown {kind} key algorithm 0x{data[0]:02x}"
                f" (only 0x{self.alg:02x}, {self.algorithm}, is supported)"
            )
        if len(data) != 1 + KEY_SIZE:
            raise KeyFormatError(
                f"malformed {kind} key: Ed25519 key is {len(data) - 1} bytes, not 32"
            )
        return name, int(hash16, 16), data[1:]


ED25519 = KeyType(ALG_ED25519, "Ed25519")


def _public_bytes(key: Ed25519PrivateKey) -> bytes:
    """The raw 32-byte public key of a private key."""
    return key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


@dataclass(frozen=True)
class BaseVerifier:
    """A named Ed25519 public key of the subclass's `key_type`, verifying signatures."""

    key_type: ClassVar[KeyType]
    kind: ClassVar[str] = "verifier"

    name: str
    key_hash: int
    public_key: bytes
    _key: Ed25519PublicKey = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        """Check the name, key size and hash; load the key once."""
        check_key_name(self.name)
        if len(self.public_key) != KEY_SIZE:
            raise KeyFormatError(f"Ed25519 public key is {len(self.public_key)} bytes, not 32")
        self.key_type.check_hash(self.kind, self.name, self.key_hash, self.public_key)
        object.__setattr__(self, "_key", Ed25519PublicKey.from_public_bytes(self.public_key))

    @classmethod
    def parse(cls, text: str) -> Self:
        """Parse a verifier key `NAME+HHHHHHHH+BASE64(ALG || public key)`."""
        return cls(*cls.key_type.split(cls.kind, text))

    @property
    def key_id(self) -> str:
        """`NAME+HHHHHHHH`: the name and key hash that signature lines refer to."""
        return f"{self.name}+{self.key_hash:08x}"

    @property
    def text(self) -> str:
        """The verifier key text `NAME+HHHHHHHH+BASE64(ALG || public key)`."""
        return self.key_type.encode(self.name, self.key_hash, self.public_key)

    def verify(self, message: bytes, signature: bytes) -> bool:
        """Whether `signature` is this key's Ed25519 signature of `message`."""
        if len(signature) != SIGNATURE_SIZE:
            return False
        try:
            self._key.verify(signature, message)
        except InvalidSignature:
            return False
        return True


V = TypeVar("V", bound=BaseVerifier)


@dataclass(frozen=True)
class BaseSigner(Generic[V]):
    """A named Ed25519 private key (its 32-byte seed) whose public half is a `verifier_type`."""

    verifier_type: ClassVar[type[BaseVerifier]]
    kind: ClassVar[str] = "signer"

    name: str
    key_hash: int
    seed: bytes = field(repr=False)
    _key: Ed25519PrivateKey = field(init=False, repr=False, compare=False)
    _verifier: V = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        """Check the name, seed size and hash; derive the key pair once."""
        check_key_name(self.name)
        if len(self.seed) != KEY_SIZE:
            raise KeyFormatError(f"Ed25519 seed is {len(self.seed)} bytes, not 32")
        key = Ed25519PrivateKey.from_private_bytes(self.seed)
        public = _public_bytes(key)
        self.verifier_type.key_type.check_hash(self.kind, self.name, self.key_hash, public)
        object.__setattr__(self, "_key", key)
        object.__setattr__(self, "_verifier", self.verifier_type(self.name, self.key_hash, public))

    @classmethod
    def from_seed(cls, name: str, seed: bytes) -> Self:
        """The key named `name` with this 32-byte Ed25519 seed."""
        public = _public_bytes(Ed25519PrivateKey.from_private_bytes(seed))
        return cls(name, cls.verifier_type.key_type.key_hash(name, public), seed)

    @classmethod
    def generate(cls, name: str) -> Self:
        """A new random key named `name` (which must also be usable in a signature line)."""
        check_key_name(name)
        if CONTROL.search(name):
            raise KeyFormatError(f"key name {name!r} contains an ASCII control character")
        return cls.from_seed(name, secrets.token_bytes(KEY_SIZE))

    @classmethod
    def parse(cls, text: str) -> Self:
        """Parse a signer key `PRIVATE+KEY+NAME+HHHHHHHH+BASE64(ALG || seed)`."""
        if not text.startswith(PRIVATE_KEY_PREFIX):
            raise KeyFormatError(
                f"malformed {cls.kind} key: does not start with {PRIVATE_KEY_PREFIX!r}"
            )
        key_type = cls.verifier_type.key_type
        return cls(*key_type.split(cls.kind, text.removeprefix(PRIVATE_KEY_PREFIX)))

    @property
    def key_id(self) -> str:
        """`NAME+HHHHHHHH`: the name and key hash that signature lines refer to."""
        return self._verifier.key_id

    @property
    def verifier(self) -> V:
        """The matching public key."""
        return self._verifier

    @property
    def text(self) -> str:
        """The secret signer key text `PRIVATE+KEY+NAME+HHHHHHHH+BASE64(ALG || seed)`."""
        key_type = self.verifier_type.key_type
        return PRIVATE_KEY_PREFIX + key_type.encode(self.name, self.key_hash, self.seed)

    def sign(self, message: bytes) -> bytes:
        """The 64-byte Ed25519 signature of `message` (deterministic)."""
        return self._key.sign(message)


class Verifier(BaseVerifier):
    """A named Ed25519 public key that verifies note signatures."""

    key_type = ED25519


class Signer(BaseSigner[Verifier]):
    """A named Ed25519 private key (its 32-byte seed) that signs notes."""

    verifier_type = Verifier


def key_hash(name: str, public_key: bytes) -> int:
    """The 32-bit key hash of a name and a raw 32-byte Ed25519 public key."""
    return ED25519.key_hash(name, public_key)


def generate_signer(name: str) -> Signer:
    """A new random key named `name` (which must also be usable in a signature line)."""
    return Signer.generate(name)


def signer_from_seed(name: str, seed: bytes) -> Signer:
    """The key named `name` with this 32-byte Ed25519 seed."""
    return Signer.from_seed(name, seed)


def parse_verifier(text: str) -> Verifier:
    """Parse a verifier key `NAME+HHHHHHHH+BASE64(0x01 || public key)`."""
    return Verifier.parse(text)


def parse_signer(text: str) -> Signer:
    """Parse a signer key `PRIVATE+KEY+NAME+HHHHHHHH+BASE64(0x01 || seed)`."""
    return Signer.parse(text)
