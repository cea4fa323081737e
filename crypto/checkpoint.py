"""Transparency-log checkpoints (C2SP tlog-checkpoint): signed notes holding a tree head.

The note text is the origin line, the tree size in decimal, the base64 root hash, then any
non-empty extension lines, each ending in a newline.
"""

import base64
import re
from collections.abc import Iterable
from dataclasses import dataclass

from crypto.keys import CONTROL, Signer, Verifier, decode_base64, is_utf8
from crypto.note import Note, NoteError, open_note, sign_note, split_note

HASH_SIZE = 32
MAX_TREE_SIZE = 2**64 - 1
_DECIMAL = re.compile("0|[1-9][0-9]*")


class CheckpointError(ValueError):
    """A checkpoint that is malformed, not signed by the log, or from another origin."""


def _check_line(what: str, line: str) -> None:
    """Refuse a line that is empty or could not be part of a note text."""
    if not line:
        raise CheckpointError(f"checkpoint {what} is empty")
    if "\n" in line or CONTROL.search(line):
        raise CheckpointError(f"checkpoint {what} contains a control character")
    if not is_utf8(line):
        raise CheckpointError(f"checkpoint {what} is not valid UTF-8")


@dataclass(frozen=True)
class Checkpoint:
    """A log's tree head: origin, tree size, RFC 6962 root hash and optional extension lines."""

    origin: str
    size: int
    root_hash: bytes
    extensions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        """Refuse a checkpoint whose body would not parse back to it."""
        object.__setattr__(self, "extensions", tuple(self.extensions))
        _check_line("origin", self.origin)
        for line in self.extensions:
            _check_line("extension line", line)
        if type(self.size) is not int or not 0 <= self.size <= MAX_TREE_SIZE:
            raise CheckpointError(f"checkpoint tree size {self.size!r} is not a uint64")
        if len(self.root_hash) != HASH_SIZE:
            raise CheckpointError(f"checkpoint root hash is {len(self.root_hash)} bytes, not 32")

    def body(self) -> str:
        """The note text: `ORIGIN\\nSIZE\\nBASE64(root)\\n` and the extension lines."""
        root = base64.b64encode(self.root_hash).decode("ascii")
        return "\n".join([self.origin, str(self.size), root, *self.extensions]) + "\n"


def parse_checkpoint(body: str) -> Checkpoint:
    """Parse a checkpoint note text strictly (size without leading zeros, 32-byte root)."""
    if not body.endswith("\n"):
        raise CheckpointError("checkpoint does not end in a newline")
    lines = body[:-1].split("\n")
    if len(lines) < 3:
        raise CheckpointError("checkpoint needs an origin, a tree size and a root hash line")
    origin, size, root, *extensions = lines
    if not _DECIMAL.fullmatch(size):
        raise CheckpointError(f"checkpoint tree size {size[:40]!r} is not a canonical decimal")
    try:
        root_hash = decode_base64(root)
    except ValueError:
        raise CheckpointError(f"checkpoint root hash {root[:60]!r} is not base64") from None
    return Checkpoint(origin, int(size), root_hash, tuple(extensions))


def checkpoint_of(note: str) -> Checkpoint:
    """The checkpoint a signed note carries, its signatures not checked (to see which key
    must have signed it, or to read what a checked note says); NoteError or CheckpointError
    if it carries none."""
    return parse_checkpoint(split_note(note)[0])


def sign_checkpoint(checkpoint: Checkpoint, signer: Signer, *more: Signer) -> str:
    """The checkpoint as a note signed by the log's key (and any more keys)."""
    return sign_note(checkpoint.body(), signer, *more)


def open_checkpoint(
    note: str | bytes,
    log_verifier: Verifier,
    *,
    origin: str | None = None,
    witnesses: Iterable[Verifier] = (),
) -> tuple[Checkpoint, Note]:
    """Open a checkpoint that the log key signed (witness keys verified too, if signed)."""
    try:
        opened = open_note(note, [log_verifier, *witnesses])
    except NoteError as e:
        raise CheckpointError(f"checkpoint note: {e}") from e
    log_key = (log_verifier.name, log_verifier.key_hash)
    if not any((sig.name, sig.key_hash) == log_key for sig in opened.verified):
        raise CheckpointError(f"checkpoint is not signed by the log key {log_verifier.key_id}")
    checkpoint = parse_checkpoint(opened.text)
    if origin is not None and checkpoint.origin != origin:
        raise CheckpointError(f"checkpoint origin {checkpoint.origin!r} is not {origin!r}")
    return checkpoint, opened
