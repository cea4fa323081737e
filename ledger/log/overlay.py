"""A hash store that reads committed hashes from the log and keeps new ones until commit."""

from collections.abc import Sequence

from crypto.merkle import HashReader


class PendingHashes:
    """Committed stored hashes below `base_count`, pending ones above it."""

    def __init__(self, committed: HashReader, base_count: int) -> None:
        self.committed = committed
        self.base_count = base_count
        self.pending: list[bytes] = []
        self._cache: dict[int, bytes] = {}

    def read_hashes(self, indexes: Sequence[int]) -> list[bytes]:
        wanted = [i for i in indexes if i < self.base_count and i not in self._cache]
        if wanted:
            self._cache.update(zip(wanted, self.committed.read_hashes(wanted), strict=True))
        return [
            self._cache[i] if i < self.base_count else self.pending[i - self.base_count]
            for i in indexes
        ]

    def append_hashes(self, start: int, hashes: Sequence[bytes]) -> None:
        if start != self.stored_count():
            raise ValueError(f"append at {start}, but {self.stored_count()} hashes are stored")
        self.pending.extend(hashes)

    def stored_count(self) -> int:
        return self.base_count + len(self.pending)
