"""The ledger key's history: rotations a verifier follows from the key it trusts.

A rotation is an entry `LedgerKeyRotated {"vkey": NEW}` on `sys:keys` at log index I. Every
checkpoint of size > I is the new key's; the first one (R) is signed by the old key and the
new, so it links them. A rotation link carries what a verifier needs to follow it offline:

    {"index": I, "entry": BASE64(entry bytes), "inclusion": [HEX...], "checkpoint": R}

The old key's signature on R says the log holds the rotation at I (the inclusion proof
shows it is the entry given), and the new key's that its holder took over. A verifier that
trusts the old key, and follows each link in order, then knows which key signs each size.
"""

import base64
import binascii
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import msgspec

from crypto.checkpoint import (
    Checkpoint,
    CheckpointError,
    checkpoint_of,
    open_checkpoint,
)
from crypto.keys import KeyFormatError, Verifier, parse_verifier
from crypto.merkle import ProofError, verify_inclusion
from crypto.note import NoteError
from crypto.records import decode_entry, entry_leaf_hash

ROTATION_TYPE = "LedgerKeyRotated"
REGISTRY_ACCOUNT = "sys:keys"


class RotationError(ValueError):
    """A rotation link that does not hold, or a note not signed by the key of its size."""


def rotated_key(entry_bytes: bytes) -> str | None:
    """The new ledger key (verifier text) if the entry is a rotation, else None."""
    entry = decode_entry(entry_bytes)
    if entry.account != REGISTRY_ACCOUNT or entry.submission.type != ROTATION_TYPE:
        return None
    vkey = entry.submission.data.get("vkey")
    return vkey if isinstance(vkey, str) else None


def rotation_link(
    index: int, entry: bytes, inclusion: Sequence[bytes], checkpoint: str
) -> dict[str, Any]:
    return {
        "index": index,
        "entry": base64.b64encode(entry).decode(),
        "inclusion": [node.hex() for node in inclusion],
        "checkpoint": checkpoint,
    }


def _link_fields(link: object) -> tuple[int, bytes, list[bytes], str]:
    if not isinstance(link, dict):
        raise RotationError("a rotation link must be an object")
    index, entry, inclusion, note = (
        link.get(name) for name in ("index", "entry", "inclusion", "checkpoint")
    )
    if not isinstance(index, int) or isinstance(index, bool) or index < 0:
        raise RotationError(f"rotation link index: {index!r}")
    if not isinstance(note, str) or not isinstance(entry, str) or not isinstance(inclusion, list):
        raise RotationError("a rotation link needs entry, inclusion and checkpoint")
    try:
        return (
            index,
            base64.b64decode(entry, validate=True),
            [bytes.fromhex(node) for node in inclusion],
            note,
        )
    except (binascii.Error, ValueError, TypeError) as error:
        raise RotationError(f"rotation link: {error}") from None


@dataclass(frozen=True)
class KeyHistory:
    """The ledger keys a verifier trusts, each from the rotation index it took over at
    (the first from -1: before any entry)."""

    origin: str
    keys: tuple[tuple[int, Verifier], ...]

    @classmethod
    def trusting(cls, key: Verifier) -> "KeyHistory":
        return cls(key.name, ((-1, key),))

    @property
    def current(self) -> Verifier:
        return self.keys[-1][1]

    @property
    def rotations(self) -> list[int]:
        """The log indexes of the rotations followed."""
        return [index for index, _ in self.keys[1:]]

    def at(self, size: int) -> Verifier:
        """The key that signs checkpoints (and what cites them) of tree size `size`."""
        for index, key in reversed(self.keys):
            if index < size:
                return key
        return self.keys[0][1]

    def holds(self, key_id: str) -> bool:
        return any(key.key_id == key_id for _, key in self.keys)

    def follow(self, link: object) -> "KeyHistory":
        """This history and one more rotation; RotationError unless the link holds."""
        index, entry, inclusion, note = _link_fields(link)
        try:
            vkey = rotated_key(entry)
        except (msgspec.ValidationError, msgspec.DecodeError) as error:
            raise RotationError(f"rotation entry: {error}") from None
        if vkey is None:
            raise RotationError(f"entry {index} is not a {ROTATION_TYPE} on {REGISTRY_ACCOUNT}")
        try:
            new = parse_verifier(vkey)
        except KeyFormatError as error:
            raise RotationError(f"rotation to a bad key: {error}") from None
        if self.holds(new.key_id):
            return self  # trusted already (given, or followed before): nothing to learn
        last = self.keys[-1][0]
        if index <= last:
            raise RotationError(f"rotation at index {index} is not after the one at {last}")
        if new.name != self.origin:
            raise RotationError(f"rotation to {new.key_id}: not a key named {self.origin}")
        checkpoint = self._open_by(note, self.current)
        self._open_by(note, new)
        if not index < checkpoint.size:
            raise RotationError(
                f"rotation at {index} is not in the checkpoint of {checkpoint.size}"
            )
        try:
            proof = list(inclusion)
            verify_inclusion(
                index, checkpoint.size, entry_leaf_hash(entry), proof, checkpoint.root_hash
            )
        except ProofError as error:
            raise RotationError(f"rotation entry's inclusion: {error}") from None
        return KeyHistory(self.origin, (*self.keys, (index, new)))

    def follow_all(self, links: Sequence[Any]) -> "KeyHistory":
        history = self
        for link in links:
            history = history.follow(link)
        return history

    def open_checkpoint(self, note: str) -> Checkpoint:
        """A checkpoint signed by the key of its size; RotationError otherwise."""
        try:
            size = checkpoint_of(note).size
        except (NoteError, CheckpointError) as error:
            raise RotationError(f"checkpoint note: {error}") from None
        return self._open_by(note, self.at(size))

    def _open_by(self, note: str, key: Verifier) -> Checkpoint:
        try:
            return open_checkpoint(note, key, origin=self.origin)[0]
        except (CheckpointError, NoteError) as error:
            raise RotationError(str(error)) from None
