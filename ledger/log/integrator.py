"""The integrator: entries in notification order -> dense log indices -> tree -> checkpoint."""

import logging
import threading
from collections.abc import Callable, Sequence

from eventsourcing.persistence import Notification, Tracking

from crypto.checkpoint import Checkpoint, sign_checkpoint
from crypto.key_history import REGISTRY_ACCOUNT, rotated_key
from crypto.keys import Signer, parse_verifier
from crypto.merkle import MerkleTree, leaf_hash, stored_hash_count
from crypto.records import decode_entry
from ledger.account import entry_event
from ledger.faults import IntegrityFault
from ledger.follow import entries_after, follow
from ledger.log.ledger_keys import KeyNotHeld, LedgerKeys
from ledger.log.map_keeper import MapKeeper
from ledger.log.overlay import PendingHashes
from ledger.metrics import CHECKPOINT_TIME
from ledger.storage.base import Fence, LeaseLost, LogBatch, LogLeaf, LogRecorder
from ledger.store import LedgerStore

BATCH_LIMIT = 1000
log = logging.getLogger("carbon_ledger.integrator")


class Integrator:
    """Gives each new entry the next dense index and signs a checkpoint, exactly once per entry."""

    def __init__(
        self,
        store: LedgerStore,
        log: LogRecorder,
        keys: LedgerKeys,
        origin: str,
        fence: Fence,
        map_keeper: MapKeeper | None = None,
    ) -> None:
        self.store = store
        self.log = log
        self.keys = keys
        self.origin = origin
        self.fence = fence  # every commit checks it: a newer integrator's takes precedence
        self.map = map_keeper or MapKeeper(log, keys)
        self.before_commit: Callable[[LogBatch], None] = lambda batch: None
        # Given (size, note) of each checkpoint committed, and of the newest one when run starts.
        self.on_checkpoint: Callable[[int, str], None] = lambda size, note: None

    def ensure_checkpoint(self) -> tuple[int, str]:
        """The newest checkpoint as (size, note), signing the empty tree's if the log has none."""
        with self.map.turn:
            return self._ensure_checkpoint()

    def _ensure_checkpoint(self) -> tuple[int, str]:
        latest = self.log.latest_checkpoint()
        if latest is None:
            checkpoint = Checkpoint(self.origin, 0, MerkleTree(PendingHashes(self.log, 0)).root())
            latest = (0, self._sign(checkpoint, self.keys.signer(0)))
            batch = LogBatch((), 0, (), 0, latest[1], self.map.empty(checkpoint))
            self._record(batch, None)
        return latest

    def pending(self) -> int:
        """About how many entries wait to be integrated (notification ids may have gaps)."""
        position = self.log.max_tracking_id(self.store.name) or 0
        return max(0, (self.store.recorder.max_notification_id() or 0) - position)

    def step(self, limit: int = BATCH_LIMIT) -> int:
        """Integrate up to `limit` new entries in one transaction; return how many. Steps of
        integrators sharing a map keeper (one process) take turns: each changes its top."""
        with self.map.turn:
            return self._step(limit)

    def _step(self, limit: int) -> int:
        position = self.log.max_tracking_id(self.store.name) or 0
        notifications = entries_after(self.store, position, limit)
        if not notifications:
            return 0
        size = self.log.tree_size()
        base = stored_hash_count(size)
        pending = PendingHashes(self.log, base)
        tree = MerkleTree(pending)
        leaves, signers = self._leaves(size, notifications)
        tree.append_many(leaf.leaf_hash for leaf in leaves)
        checkpoint = Checkpoint(self.origin, size + len(leaves), tree.root())
        try:
            batch = LogBatch(
                leaves=leaves,
                hashes_start=base,
                hashes=pending.pending,
                size=checkpoint.size,
                checkpoint=self._sign(checkpoint, *signers),
                map=self.map.advance(leaves, checkpoint, self.fence, signers[-1]),
            )
            self.before_commit(batch)
        except BaseException:
            self.map.forget()
            raise
        self._record(batch, Tracking(self.store.name, leaves[-1].notification_id))
        self.on_checkpoint(batch.size, batch.checkpoint)
        return len(leaves)

    def _record(self, batch: LogBatch, tracking: Tracking | None) -> None:
        """Commit `batch`; the map's top held in memory is read again if that fails."""
        try:
            self.log.record(batch, tracking, self.fence)
        except BaseException:
            self.map.forget()
            raise
        CHECKPOINT_TIME.set_to_current_time()  # committed, not merely signed

    def run(
        self,
        stop: threading.Event,
        wake: threading.Event | None = None,
        batch: int = BATCH_LIMIT,
        held: Callable[[], bool] = lambda: True,
    ) -> None:
        """Integrate until `stop` is set, polling briefly when idle.

        A storage error (a locked database, a dropped connection) is logged and retried
        with backoff: a step commits atomically and re-reads its position, so repeating it is
        safe. A leaf hash that does not match its entry, or an account map whose stored
        buckets do not fold to the root signed with them (IntegrityFault), stops the log; a
        lease that is no longer `held`, or was taken by another integrator, raises LeaseLost.
        """
        self.on_checkpoint(*self.ensure_checkpoint())
        follow(
            lambda: self.step(batch),
            stop,
            log,
            wake=wake,
            held=held,
            fatal=(IntegrityFault, LeaseLost),
        )
        if not held():
            raise LeaseLost("the integrator lease was lost")

    def _leaves(
        self, size: int, notifications: Sequence[Notification]
    ) -> tuple[list[LogLeaf], list[Signer]]:
        """The step's leaves and the keys that sign its checkpoint: the current key, and if
        a leaf rotates it, the new key too, that leaf ending the step (crypto/key_history.py)."""
        signers = [self.keys.signer(size)]
        leaves = []
        for offset, notification in enumerate(notifications):
            leaf = self._leaf(size + offset, notification)
            leaves.append(leaf)
            if leaf.account == REGISTRY_ACCOUNT and (vkey := rotated_key(leaf.entry)):
                key_id = parse_verifier(vkey).key_id
                if not self.keys.holds(key_id):
                    raise KeyNotHeld(f"the rotation at {leaf.index} is to {key_id}, not held")
                signers.append(self.keys.ring[key_id])
                break
        return leaves, signers

    def _sign(self, checkpoint: Checkpoint, *signers: Signer) -> str:
        return sign_checkpoint(checkpoint, *signers)

    def _leaf(self, index: int, notification: Notification) -> LogLeaf:
        """The log leaf of a stored entry event, its leaf hash rechecked against its bytes."""
        event = entry_event(self.store.mapper.to_domain_event(notification))
        entry = event.entry.encode()
        digest = leaf_hash(entry)
        if digest.hex() != event.leaf_hash:
            raise IntegrityFault(f"notification {notification.id}: leaf hash mismatch")
        record = decode_entry(entry)
        return LogLeaf(index, digest, record.account, record.seq, entry, notification.id)
