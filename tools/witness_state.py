"""A witness's state and rules (C2SP tlog-witness): check, persist, then cosign checkpoints.

The state is one JSON file holding, per log origin, the latest checkpoint cosigned: size, root
and note. It is rewritten atomically (temporary file, fsync, rename, fsync of the directory)
before any cosignature on the new checkpoint leaves the witness, and one lock serialises
requests so the stored size never goes back.
"""

import base64
import json
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

from crypto.checkpoint import CheckpointError, open_checkpoint, parse_checkpoint
from crypto.cosignature import CosignatureSigner, cosign
from crypto.keys import Verifier
from crypto.merkle import EMPTY_ROOT, ProofError, verify_consistency
from crypto.note import NoteError, split_note
from crypto.witness_protocol import WitnessProtocolError, format_cosignatures, parse_add_checkpoint
from ledger.files import write_atomically


class Refusal(Enum):
    """Why a witness does not cosign (tools/witness.py gives each its C2SP status)."""

    MALFORMED = "malformed"
    UNKNOWN_LOG = "unknown log"
    NOT_SIGNED = "not signed by the log"
    CONFLICT = "not at the witness's size, or a fork"
    BAD_PROOF = "consistency proof fails"


class Refused(Exception):
    """An add-checkpoint request the witness does not cosign: why, in words, and its size."""

    def __init__(self, kind: Refusal, detail: str, size: int | None = None) -> None:
        super().__init__(detail)
        self.kind = kind
        self.detail = detail
        self.size = size


@dataclass(frozen=True)
class LogHead:
    """The latest checkpoint a witness cosigned for one log."""

    size: int
    root: bytes
    note: str


EMPTY_HEAD = LogHead(0, EMPTY_ROOT, "")


def load_heads(path: Path) -> dict[str, LogHead]:
    """The heads stored in a state file (none if it does not exist yet)."""
    if not path.exists():
        return {}
    logs = json.loads(path.read_text(encoding="utf-8"))["logs"]
    return {
        origin: LogHead(head["size"], base64.b64decode(head["root"]), head["note"])
        for origin, head in logs.items()
    }


def save_heads(path: Path, heads: dict[str, LogHead]) -> None:
    """Replace the state file atomically and durably."""
    logs = {
        origin: {"size": h.size, "root": base64.b64encode(h.root).decode(), "note": h.note}
        for origin, h in sorted(heads.items())
    }
    data = json.dumps({"logs": logs}, indent=1, sort_keys=True).encode("utf-8")
    write_atomically(path, data)


def _signed_by(note: str, key: Verifier) -> bool:
    try:
        open_checkpoint(note, key, origin=key.name)
    except CheckpointError:
        return False
    return True


def _active_key(head: LogHead, log_keys: list[Verifier]) -> Verifier | None:
    """The key the log signs with now: of the keys given (oldest first), the newest that
    signed the head last cosigned (None before the first). A new key takes over only on a
    checkpoint the current one signed too (a rotation's), and the old one is then done."""
    if not head.note:
        return None
    signed = [key for key in log_keys if _signed_by(head.note, key)]
    return signed[-1] if signed else None


class WitnessState:
    """Known logs (origin = log key name), their latest cosigned heads, and the witness key."""

    def __init__(
        self,
        path: Path,
        signer: CosignatureSigner,
        log_keys: Iterable[Verifier],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.path = path
        self.signer = signer
        self.clock = clock
        self.logs: dict[str, list[Verifier]] = {}  # a log's keys: more than one across a rotation
        for key in log_keys:
            self.logs.setdefault(key.name, []).append(key)
        self._heads = load_heads(path)
        self._lock = threading.Lock()

    def head(self, origin: str) -> LogHead:
        """The latest head cosigned for `origin` (size 0, the empty tree, if none)."""
        with self._lock:
            return self._heads.get(origin, EMPTY_HEAD)

    def add_checkpoint(self, body: bytes) -> str:
        """The cosignature lines for an add-checkpoint request body; Refused if not cosigned."""
        try:
            request = parse_add_checkpoint(body)
            text, _ = split_note(request.checkpoint)
            checkpoint = parse_checkpoint(text)
        except (WitnessProtocolError, NoteError, CheckpointError) as e:
            raise Refused(Refusal.MALFORMED, str(e)) from None
        log_keys = self.logs.get(checkpoint.origin)
        if log_keys is None:
            raise Refused(Refusal.UNKNOWN_LOG, f"unknown log origin {checkpoint.origin!r}")
        if not any(_signed_by(request.checkpoint, key) for key in log_keys):
            wanted = " or ".join(key.key_id for key in log_keys)
            raise Refused(Refusal.NOT_SIGNED, f"the checkpoint is not signed by {wanted}")
        if request.old_size > checkpoint.size:
            raise Refused(
                Refusal.MALFORMED,
                f"old size {request.old_size} is above the checkpoint size {checkpoint.size}",
            )
        with self._lock:
            head = self._heads.get(checkpoint.origin, EMPTY_HEAD)
            active = _active_key(head, log_keys)
            if active is not None and not _signed_by(request.checkpoint, active):
                raise Refused(
                    Refusal.NOT_SIGNED,
                    f"the checkpoint is not signed by the log's key {active.key_id}",
                )
            if request.old_size != head.size:
                raise Refused(Refusal.CONFLICT, f"the witness is at size {head.size}", head.size)
            if checkpoint.size == head.size and checkpoint.root_hash != head.root:
                raise Refused(
                    Refusal.CONFLICT,
                    f"fork: another root for size {head.size}, which the witness cosigned",
                    head.size,
                )
            try:
                verify_consistency(
                    head.size, checkpoint.size, head.root, checkpoint.root_hash, request.proof
                )
            except ProofError as e:
                raise Refused(Refusal.BAD_PROOF, str(e)) from None
            new = LogHead(checkpoint.size, checkpoint.root_hash, request.checkpoint)
            if new != head:
                save_heads(self.path, {**self._heads, checkpoint.origin: new})
                self._heads[checkpoint.origin] = new
            return format_cosignatures([cosign(text, self.signer, int(self.clock()))])
