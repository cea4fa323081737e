"""Map heads: a ledger-signed note binding the account map's root to a checkpoint.

    carbon-ledger/account-map/v1
    root BASE64(map root)
    ORIGIN
    SIZE
    BASE64(log root)

The last three lines are the checkpoint's body, so a map head says: after the first SIZE
entries of this log, each account's newest entry is the one the map with this root holds.
Its first line can never be a checkpoint's (no origin line is followed by that `root` line
and a size), so the one ledger key signs both without either passing for the other.
"""

import base64

import msgspec

from crypto.checkpoint import Checkpoint, CheckpointError, parse_checkpoint
from crypto.keys import Signer, Verifier, decode_base64
from crypto.note import NoteError, open_note, sign_note

HEADER = "carbon-ledger/account-map/v1"


class MapHeadError(ValueError):
    """A map head that is malformed, not the log key's, or of another log."""


class MapHead(msgspec.Struct, frozen=True):
    """The account map's root after the checkpoint's entries, and that checkpoint."""

    root: bytes
    checkpoint: Checkpoint

    def body(self) -> str:
        root = base64.b64encode(self.root).decode("ascii")
        return f"{HEADER}\nroot {root}\n{self.checkpoint.body()}"


def parse_map_head(body: str) -> MapHead:
    """The map head in a note's text; MapHeadError if it is not exactly that form."""
    header, _, rest = body.partition("\n")
    root_line, _, checkpoint = rest.partition("\n")
    name, _, value = root_line.partition(" ")
    if header != HEADER or name != "root":
        raise MapHeadError(f"not a {HEADER} note")
    try:
        root = decode_base64(value)
        head = MapHead(root, parse_checkpoint(checkpoint))
    except (ValueError, CheckpointError) as error:
        raise MapHeadError(f"map head: {error}") from None
    if len(root) != 32 or head.body() != body:
        raise MapHeadError("map head is not in canonical form")
    return head


def sign_map_head(head: MapHead, signer: Signer) -> str:
    return sign_note(head.body(), signer)


def open_map_head(note: str, log_key: Verifier, origin: str) -> MapHead:
    """The map head the log key signed in `note`, for the log `origin`."""
    try:
        head = parse_map_head(open_note(note, [log_key]).text)
    except NoteError as error:
        raise MapHeadError(f"map head note: {error}") from None
    if head.checkpoint.origin != origin:
        raise MapHeadError(f"map head origin {head.checkpoint.origin!r} is not {origin!r}")
    return head
