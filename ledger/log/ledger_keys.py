"""The ledger keys this node holds (its key ring) and the rotations the log has integrated:
which key signs each tree size, and the links a verifier follows (crypto/key_history.py).

The ring is `ledger.key` (the key the log began with) and any `ledger-*.key` beside it,
re-read when a key is asked for that it lacks: an operator places the next key on every
node, then an admin submits the rotation.
"""

import logging
import threading
import time
from pathlib import Path
from typing import Any

from crypto.key_history import REGISTRY_ACCOUNT, KeyHistory, rotated_key, rotation_link
from crypto.keys import KeyFormatError, Signer, parse_verifier
from crypto.merkle import prove_inclusion
from ledger.errors import Unavailable
from ledger.keyfiles import read_key
from ledger.storage.base import LogRecorder

NEXT_KEYS = "ledger-*.key"
log = logging.getLogger("carbon_ledger.keys")
CURRENT_FOR = 1.0  # seconds current() trusts the log's size it read


class KeyNotHeld(Unavailable):
    """The log's key for some size is not in this node's ring (503 until it is placed)."""


class LedgerKeys:
    """This node's ledger key ring and the log's rotations of it, read as the log grows."""

    def __init__(self, log: LogRecorder, keys_dir: Path, first: Signer) -> None:
        self.log = log
        self.keys_dir = keys_dir
        self.first = first
        self.ring = {first.verifier.key_id: first}
        self._lock = threading.Lock()
        self._rotations: list[tuple[int, str]] = []  # (log index, new key's verifier text)
        self._seq = -1  # the last sys:keys entry read
        self._through = 0  # every rotation below this tree size is known
        self._links: dict[int, dict[str, Any]] = {}  # by rotation index: a link never changes
        self._size, self._read_at = 0, -CURRENT_FOR  # the log's size, when current() read it

    def holds(self, key_id: str) -> bool:
        """Whether the ring has this key (reading the keys directory again if not)."""
        if key_id not in self.ring:
            self._read_ring()
        return key_id in self.ring

    def _read_ring(self) -> None:
        for path in sorted(self.keys_dir.glob(NEXT_KEYS)):
            try:
                signer = read_key(path)
            except (OSError, KeyFormatError) as error:  # half copied, say: skipped till whole
                log.warning("ledger key file %s not read: %s", path, error)
                continue
            if signer.name == self.first.name:
                self.ring.setdefault(signer.verifier.key_id, signer)

    def rotations(self, size: int) -> list[tuple[int, str]]:
        """The integrated rotations below tree size `size`, as (index, verifier text)."""
        with self._lock:
            if size > self._through:  # callers ask of sizes the log has reached
                while leaves := self.log.account_leaves(REGISTRY_ACCOUNT, self._seq):
                    for leaf in leaves:
                        if (vkey := rotated_key(leaf.entry)) is not None:
                            self._rotations.append((leaf.index, vkey))
                    self._seq = leaves[-1].seq
                self._through = size
            return [(index, vkey) for index, vkey in self._rotations if index < size]

    def history(self, size: int) -> KeyHistory:
        """The verifiers of every key up to tree size `size`, as a verifier follows them."""
        keys = [(index, parse_verifier(vkey)) for index, vkey in self.rotations(size)]
        return KeyHistory(self.first.name, ((-1, self.first.verifier), *keys))

    def signer(self, size: int) -> Signer:
        """The private key that signs the checkpoint of tree size `size` (and what cites it)."""
        key_id = self.history(size).at(size).key_id
        if not self.holds(key_id):
            raise KeyNotHeld(
                f"this node lacks the ledger key {key_id}: place it beside ledger.key"
                " (as ledger-*.key)"
            )
        return self.ring[key_id]

    def current(self) -> Signer:
        """The newest checkpoint's key, the log's size read again at most once a second (what
        receipts are signed with: any key of the history verifies them)."""
        if time.monotonic() - self._read_at > CURRENT_FOR:
            self._size, self._read_at = self.log.tree_size(), time.monotonic()
        return self.signer(self._size)

    def links(self, size: int, since: int = 0) -> list[dict[str, Any]]:
        """The rotation links a verifier trusting the key of size `since` follows to the key
        of `size`: each rotation's entry, its signed checkpoint and the inclusion between."""
        return [self._link(index) for index, _ in self.rotations(size) if index >= since]

    def _link(self, index: int) -> dict[str, Any]:
        """The link of the rotation at `index`, read once: its checkpoint is the first one
        covering it, and neither that nor the entry ever changes."""
        if index not in self._links:
            covering = self.log.checkpoint_covering(index + 1)
            if covering is None:  # integrated, so some checkpoint covers it
                raise LookupError(f"no checkpoint covers the rotation at {index}")
            (leaf,) = self.log.leaves(index, index + 1)
            proof = prove_inclusion(index, covering[0], self.log)
            self._links[index] = rotation_link(index, leaf.entry, proof, covering[1])
        return self._links[index]
