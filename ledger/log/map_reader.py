"""Account map proofs as the HTTP API serves them: the newest checkpoint, its signed map head
and each account's proof, all read in one snapshot of the store.

Each process keeps its own copy of the map's top and brings it up to date from the buckets
that changed since (crypto/account_map.py); the root it computes must be the one the map
head signs, or the copy is read again whole.
"""

import threading
from collections.abc import Sequence
from typing import NamedTuple

from crypto.account_map import MapLeaf, MapProof, MapTop, bucket_of, map_key, prove
from crypto.map_head import parse_map_head
from crypto.note import split_note
from ledger.errors import NotFound, Unavailable
from ledger.storage.base import LogRecorder
from ledger.storage.map_tables import Select, bucket_leaves, map_head, read_buckets


class MapSnapshot(NamedTuple):
    size: int
    checkpoint: str  # the newest checkpoint's note
    head: str  # its signed map head
    proofs: dict[str, MapProof]  # by account


class MapReader:
    def __init__(self, log: LogRecorder) -> None:
        self.log = log
        self.top = MapTop()
        self.size = -1  # the tree size self.top holds the map of (-1: none yet)
        self._lock = threading.Lock()

    def prove(self, accounts: Sequence[str]) -> MapSnapshot:
        """Each account's map proof (membership or not) in the newest checkpoint's map."""
        with self._lock, self.log.snapshot() as select:
            rows = select("SELECT size, note FROM {t} ORDER BY size DESC LIMIT 1", t="checkpoints")
            if not rows:
                raise NotFound("the log has no checkpoint yet")
            size, note = rows[0]
            head = map_head(select, size)
            if head is None:
                raise Unavailable("the account map is being built; retry shortly")
            root = parse_map_head(split_note(head)[0]).root
            if self._refresh(select, size) != root:
                self.top, self.size = MapTop(), -1  # a copy that went wrong: read it whole
                if self._refresh(select, size) != root:
                    raise Unavailable("the account map does not match its signed root")
            keys = {account: map_key(account) for account in accounts}
            buckets = {bucket_of(key) for key in keys.values()}
            cache = bucket_leaves(select, buckets, self.log.bucket_query)

            def leaves_of(bucket: int) -> list[MapLeaf]:
                if bucket not in cache:
                    cache.update(bucket_leaves(select, [bucket]))
                return cache[bucket]

            proofs = {account: prove(self.top, key, leaves_of) for account, key in keys.items()}
        return MapSnapshot(size, note, head, proofs)

    def _refresh(self, select: Select, size: int) -> bytes:
        """The map root, after applying the buckets changed since the copy's size."""
        if size < self.size:  # the store went back (a restore): read it whole
            self.top, self.size = MapTop(), -1
        if size != self.size:
            read_buckets(select, self.top, self.size)
            self.size = size
        return self.top.root()
