"""Read side of the log: checkpoints, proofs and leaves, as the HTTP API serves them."""

import time

from crypto.merkle import prove_consistency, prove_inclusion
from ledger.errors import Invalid, NotFound
from ledger.log.recorder import LogLeaf, LogRecorder


class LogReader:
    """Proofs against the stored tree; every size asked for must be one the log has reached."""

    def __init__(self, log: LogRecorder) -> None:
        self.log = log

    def checkpoint(self) -> tuple[int, str]:
        """The newest signed checkpoint as (size, note)."""
        latest = self.log.latest_checkpoint()
        if latest is None:
            raise NotFound("the log has no checkpoint yet")
        return latest

    def size(self) -> int:
        return self.log.tree_size()

    def _check_size(self, size: int, field: str) -> None:
        current = self.size()
        if not 1 <= size <= current:
            raise Invalid(f"{field} {size} is not in 1..{current}", field)

    def inclusion(self, index: int, tree_size: int) -> tuple[bytes, list[bytes]]:
        """The leaf hash at `index` and its inclusion proof in the tree of `tree_size`."""
        self._check_size(tree_size, "tree_size")
        if not 0 <= index < tree_size:
            raise Invalid(f"index {index} is not in 0..{tree_size - 1}", "index")
        leaf = self.log.leaves(index, index + 1)[0]
        return leaf.leaf_hash, prove_inclusion(index, tree_size, self.log)

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
