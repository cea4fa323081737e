"""The integrator's side of the account map: each step's new heads -> bucket hashes -> root
-> a map head signed with the checkpoint, committed in the step's transaction.

The map's top (2^16 bucket hashes and their ancestors, about 6 MB) stays in memory; a step
reads and rewrites one row for each bucket its entries touch. A top read from storage must
fold to the root signed at that size, or the log stops (IntegrityFault) rather than sign a
map it cannot vouch for. A log that has no map yet (one
written before the map existed) gets it built once from its entries, before the next step.
"""

import logging
import threading
from collections.abc import Sequence

from crypto.account_map import TOP_BITS, AccountMap, MapTop, bucket_of, map_key, subtree_hash
from crypto.checkpoint import Checkpoint, checkpoint_of
from crypto.keys import Signer
from crypto.map_head import MapHead, parse_map_head, sign_map_head
from crypto.note import split_note
from ledger.faults import IntegrityFault
from ledger.log.ledger_keys import LedgerKeys
from ledger.storage.base import Fence, LogLeaf, LogRecorder, tree_size_in
from ledger.storage.map_tables import (
    BucketChange,
    MapChange,
    bucket_leaves,
    map_head,
    pack_heads,
    read_buckets,
)

PAGE = 5000
log = logging.getLogger("carbon_ledger.integrator")


class LogMoved(RuntimeError):
    """Another integrator committed since this step read the log's size (this one's lease is
    lost): the step is dropped, not taken for a map that disagrees with its signed root."""


class MapKeeper:
    """Kept by a node across its integrators: the top it holds is used again while the log
    is still at the size it was held for and the signed root there is its root."""

    def __init__(self, log: LogRecorder, keys: LedgerKeys) -> None:
        self.log = log
        self.keys = keys
        self.top: MapTop | None = None  # None: to be read again before the next change
        self.size = -1  # the tree size the top is the map of
        self.turn = threading.Lock()  # held by an integrator's step from its read to its commit

    def forget(self) -> None:
        """Drop the top held in memory (a commit failed: what it held may not have landed)."""
        self.top = None

    def empty(self, checkpoint: Checkpoint) -> MapChange:
        """The change that gives the empty log's checkpoint its map head."""
        self.top, self.size = MapTop(), 0
        return MapChange((), self._sign(checkpoint, self.keys.signer(0)))

    def advance(
        self, leaves: Sequence[LogLeaf], checkpoint: Checkpoint, fence: Fence | None, signer: Signer
    ) -> MapChange:
        """The map change for a step appending `leaves`, making `checkpoint` (whose key is
        `signer`)."""
        top = self._top(checkpoint.size - len(leaves), fence)
        heads = {map_key(leaf.account): leaf.leaf_hash for leaf in leaves}
        touched: dict[int, dict[bytes, bytes]] = {}
        for key, head in heads.items():
            touched.setdefault(bucket_of(key), {})[key] = head
        stored = bucket_leaves(self.log.select, touched, self.log.bucket_query)
        buckets = []
        for bucket, new in touched.items():
            merged = sorted({**dict(stored[bucket]), **new}.items())
            hash_ = subtree_hash(merged, TOP_BITS)
            top.set(bucket, hash_, len(merged))
            count = min(len(merged), 2)
            buckets.append(BucketChange(bucket, hash_, count, checkpoint.size, pack_heads(merged)))
        self.size = checkpoint.size
        return MapChange(buckets, self._sign(checkpoint, signer))

    def _sign(self, checkpoint: Checkpoint, signer: Signer) -> str:
        assert self.top is not None
        return sign_map_head(MapHead(self.top.root(), checkpoint), signer)

    def _top(self, size: int, fence: Fence | None) -> MapTop:
        """The map's top as of the log's `size`, read (or first built) if not held."""
        head = map_head(self.log.select, size)
        if (
            self.top is not None
            and self.size == size
            and self._signed_root(head) == self.top.root()
        ):
            return self.top
        if head is None:
            self._build(fence)
        top = MapTop()
        with self.log.snapshot() as select:  # the buckets as of the newest checkpoint
            newest = tree_size_in(select)
            read_buckets(select, top)
        if newest != size:
            raise LogMoved(f"the log is at size {newest}, not {size}: another integrator moved it")
        root, signed = top.root(), self._signed_root(head)
        if signed is not None and root != signed:
            raise IntegrityFault(
                f"the account map's stored buckets fold to {root.hex()}, not to the root"
                f" {signed.hex()} signed at size {size}"
            )
        self.top, self.size = top, size
        return top

    @staticmethod
    def _signed_root(head: str | None) -> bytes | None:
        return None if head is None else parse_map_head(split_note(head)[0]).root

    def _build(self, fence: Fence | None) -> None:
        """Build and commit the map of a log written before it had one, from its entries, and
        sign its head with the newest checkpoint."""
        latest = self.log.latest_checkpoint()
        assert latest is not None  # the integrator signs the empty tree's before any step
        checkpoint = checkpoint_of(latest[1])
        size = checkpoint.size
        log.info("building the account map of %d entries", size)
        account_map = AccountMap()
        for start in range(0, size, PAGE):
            for leaf in self.log.leaves(start, min(start + PAGE, size)):
                account_map.set(map_key(leaf.account), leaf.leaf_hash)
            log.info("account map: %d of %d entries", min(start + PAGE, size), size)
        account_map.root()
        self.top, self.size = account_map.top, size
        buckets = []
        for bucket in sorted(account_map.buckets):
            hash_, count = account_map.top.node(TOP_BITS, bucket)
            heads = pack_heads(account_map.leaves(bucket))
            buckets.append(BucketChange(bucket, hash_, count, size, heads))
        signed = self._sign(checkpoint, self.keys.signer(size))
        self.log.record_map(MapChange(buckets, signed), size, fence)
