"""Signed notes (C2SP signed-note), with the rules of Go's golang.org/x/mod/sumdb/note.

A signed note is a text ending in a newline, a blank line, then one or more lines
`— NAME BASE64(4-byte key hash || signature)`. The whole note is UTF-8 without ASCII control
characters other than newline, and the text is everything before the last blank line.
"""

import base64
from collections.abc import Iterable
from dataclasses import dataclass

from crypto.keys import CONTROL, Signer, Verifier, check_key_name, decode_base64, is_utf8

MAX_SIGNATURES = 100
SIGNATURE_PREFIX = "— "


class NoteError(ValueError):
    """A note that is malformed, not signed by a known key, or badly signed by a known key."""


class UnverifiedNoteError(NoteError):
    """A well-formed note without any signature by a known key; `note` holds what was parsed."""

    def __init__(self, note: "Note") -> None:
        unknown = ", ".join(sig.key_id for sig in note.unverified)
        super().__init__(f"note has no verifiable signatures (signed by unknown keys: {unknown})")
        self.note = note


@dataclass(frozen=True)
class NoteSignature:
    """One signature line: key name, key hash and the raw signature bytes after the hash."""

    name: str
    key_hash: int
    signature: bytes

    @property
    def key_id(self) -> str:
        """`NAME+HHHHHHHH` of the key that made (or claims to have made) the signature."""
        return f"{self.name}+{self.key_hash:08x}"

    @property
    def line(self) -> str:
        """The signature line, newline included."""
        data = base64.b64encode(self.key_hash.to_bytes(4, "big") + self.signature).decode("ascii")
        return f"{SIGNATURE_PREFIX}{self.name} {data}\n"


@dataclass(frozen=True)
class Note:
    """An opened note: its text, the signatures verified and those by unknown keys."""

    text: str
    verified: tuple[NoteSignature, ...]
    unverified: tuple[NoteSignature, ...]


def _malformed(reason: str) -> NoteError:
    """The error for a note that does not parse."""
    return NoteError(f"malformed note: {reason}")


def _decode(message: str | bytes) -> str:
    """The message as text, refused unless valid UTF-8 without non-newline control characters."""
    if isinstance(message, bytes):
        try:
            message = message.decode("utf-8")
        except UnicodeDecodeError:
            raise _malformed("not valid UTF-8") from None
    elif not is_utf8(message):
        raise _malformed("not valid UTF-8")
    if CONTROL.search(message):
        raise _malformed("contains an ASCII control character other than newline")
    return message


def _parse_signature(number: int, line: str) -> NoteSignature:
    """Parse signature line number `number` (without its newline)."""
    if not line.startswith(SIGNATURE_PREFIX):
        raise _malformed(f"signature line {number} does not start with an em dash and a space")
    name, _, data64 = line.removeprefix(SIGNATURE_PREFIX).partition(" ")
    try:
        check_key_name(name)
        data = decode_base64(data64)
    except ValueError as e:
        raise _malformed(f"signature line {number}: {e}") from None
    if len(data) < 5:
        raise _malformed(f"signature line {number}: signature is shorter than 5 bytes")
    return NoteSignature(name, int.from_bytes(data[:4], "big"), data[4:])


def split_note(message: str | bytes) -> tuple[str, list[NoteSignature]]:
    """The text and the signatures (in order, repeats kept) of a signed note, unverified."""
    message = _decode(message)
    split = message.rfind("\n\n")
    if split < 0:
        raise _malformed("no blank line between text and signatures")
    text, block = message[: split + 1], message[split + 2 :]
    if not block:
        raise _malformed("no signature lines")
    if not block.endswith("\n"):
        raise _malformed("last signature line does not end in a newline")
    lines = block[:-1].split("\n")
    if len(lines) > MAX_SIGNATURES:
        raise _malformed(f"more than {MAX_SIGNATURES} signatures")
    return text, [_parse_signature(i, line) for i, line in enumerate(lines, 1)]


def _index(verifiers: Iterable[Verifier]) -> dict[tuple[str, int], list[Verifier]]:
    """Verifiers by (name, key hash); more than one for a pair makes that pair ambiguous."""
    known: dict[tuple[str, int], list[Verifier]] = {}
    for verifier in verifiers:
        known.setdefault((verifier.name, verifier.key_hash), []).append(verifier)
    return known


def open_note(message: str | bytes, verifiers: Iterable[Verifier]) -> Note:
    """Parse a signed note and verify the signatures by known keys, as Go's note.Open does."""
    # Unknown keys (name and hash not both known) are listed as unverified, identical repeats
    # once; a known key's repeated signature is skipped, its invalid signature is an error, and
    # two verifiers sharing a name and hash make that key ambiguous (an error if it is used).
    text, signatures = split_note(message)
    known = _index(verifiers)
    data = text.encode("utf-8")
    verified: list[NoteSignature] = []
    unverified: list[NoteSignature] = []
    seen: set[tuple[str, int]] = set()
    for sig in signatures:
        candidates = known.get((sig.name, sig.key_hash))
        if candidates is None:
            if sig not in unverified:
                unverified.append(sig)
            continue
        if len(candidates) > 1:
            raise NoteError(f"ambiguous key {sig.key_id}")
        if (sig.name, sig.key_hash) in seen:
            continue
        seen.add((sig.name, sig.key_hash))
        if not candidates[0].verify(data, sig.signature):
            raise NoteError(f"invalid signature for key {sig.key_id}")
        verified.append(sig)
    note = Note(text, tuple(verified), tuple(unverified))
    if not verified:
        raise UnverifiedNoteError(note)
    return note


def _check_text(text: str) -> None:
    """Refuse a note text that could not be opened once signed."""
    if not text.endswith("\n"):
        raise NoteError("note text must end in a newline")
    if not is_utf8(text):
        raise NoteError("note text is not valid UTF-8")
    if CONTROL.search(text):
        raise NoteError("note text contains an ASCII control character other than newline")


def _signature_lines(text: str, signers: tuple[Signer, ...], existing: list[NoteSignature]) -> str:
    """New signature lines on `text`, refusing a second signature by any key."""
    if not signers:
        raise NoteError("no signers given")
    if len(existing) + len(signers) > MAX_SIGNATURES:
        raise NoteError(f"a note can carry at most {MAX_SIGNATURES} signatures")
    keys = {(sig.name, sig.key_hash) for sig in existing}
    data = text.encode("utf-8")
    lines = []
    for signer in signers:
        if (signer.name, signer.key_hash) in keys:
            raise NoteError(f"note is already signed by {signer.key_id}")
        if CONTROL.search(signer.name):
            raise NoteError(f"key name {signer.name!r} contains an ASCII control character")
        keys.add((signer.name, signer.key_hash))
        lines.append(NoteSignature(signer.name, signer.key_hash, signer.sign(data)).line)
    return "".join(lines)


def sign_note(text: str, *signers: Signer) -> str:
    """The signed note of `text` (which must end in a newline) with one line per signer."""
    _check_text(text)
    return text + "\n" + _signature_lines(text, signers, [])


def add_signatures(signed_note: str, *signers: Signer) -> str:
    """Cosign: append the signers' lines, keeping the existing (unverified) lines as they are."""
    text, existing = split_note(signed_note)
    return signed_note + _signature_lines(text, signers, existing)
