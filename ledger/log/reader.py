"""Read side of the log: checkpoints, proofs and leaves, as the HTTP API serves them."""

import time

from crypto.merkle import prove_consistency, prove_inclusions, prove_leaf_inclusion
from ledger.errors import Conflict, Invalid, NotFound
from ledger.storage.base import LogLeaf, LogRecorder

RECENT = 64  # how far back to look for a fully cosigned checkpoint


def cosignature_count(note: str) -> int:
    """Signature lines by keys not named as the log (a rotation's checkpoint has two)."""
    origin = note.partition("\n")[0]
    lines = note.split("\n\n\u2014 ", 1)[-1].split("\n\u2014 ")
    return sum(1 for line in lines if line and not line.startswith(origin + " "))


class LogReader:
    """Proofs against the stored tree; every size asked for must be one the log has reached."""

    def __init__(self, log: LogRecorder, witnesses: int = 0) -> None:
        self.log = log
        self.witnesses = witnesses

    def checkpoint(
        self, covering: int = 0, latest: tuple[int, str] | None = None
    ) -> tuple[int, str]:
        """The checkpoint to serve, as (size, note): with witnesses configured, the newest
        one they have all cosigned (among the recent ones of size >= `covering`, and none
        newer than `latest` if given), else the newest (or `latest`). Witnesses cosign in
        the background, so the newest is often not yet cosigned.
        """
        latest = latest or self.log.latest_checkpoint()
        if latest is None:
            raise NotFound("the log has no checkpoint yet")
        if self.witnesses:
            for size, note in self.log.recent_checkpoints(covering, RECENT, latest[0]):
                if cosignature_count(note) >= self.witnesses:
                    return size, note
        return latest

    def size(self) -> int:
        return self.log.tree_size()

    def _check_size(self, size: int, field: str) -> None:
        current = self.size()
        if not 1 <= size <= current:
            error = Invalid if size < 1 else Conflict  # beyond: the log has not grown that far
            raise error(f"{field} {size} is not in 1..{current}", field)

    def inclusion(self, index: int, tree_size: int) -> tuple[bytes, list[bytes]]:
        """The leaf hash at `index` and its inclusion proof in the tree of `tree_size`."""
        self._check_size(tree_size, "tree_size")
        if not 0 <= index < tree_size:
            raise Invalid(f"index {index} is not in 0..{tree_size - 1}", "index")
        return prove_leaf_inclusion(index, tree_size, self.log)

    def inclusions(self, indexes: list[int], tree_size: int) -> dict[int, list[bytes]]:
        """Inclusion proofs of many leaves in the tree of `tree_size`, by index, read at once."""
        self._check_size(tree_size, "tree_size")
        return prove_inclusions(indexes, tree_size, self.log)

    def consistency(self, first: int, second: int) -> list[bytes]:
        self._check_size(second, "second")
        if not 1 <= first <= second:
            raise Invalid(f"first {first} is not in 1..{second}", "first")
        return prove_consistency(first, second, self.log)

    def leaf(self, index: int) -> LogLeaf:
        leaves = self.log.leaves(index, index + 1)
        if not leaves:
            raise NotFound(f"no entry at index {index}", "index")
        return leaves[0]

    def wait_for_index(self, leaf_hash: bytes, timeout: float) -> int | None:
        """The log index of a leaf, waiting up to `timeout` seconds for integration."""
        deadline = time.monotonic() + timeout
        while True:
            index = self.log.index_of(leaf_hash)
            if index is not None or time.monotonic() >= deadline:
                return index
            time.sleep(0.02)
