"""The projector: follows the notification log and folds each batch into the views exactly once."""

import logging
import threading
from collections.abc import Callable

from eventsourcing.persistence import Notification, Tracking

from crypto.records import decode_entry
from ledger.account import entry_event
from ledger.follow import entries_after, follow
from ledger.node import Node
from ledger.storage.base import wait_for_lease
from ledger.store import LedgerStore
from projections.fold import LoggedEntry, fold
from projections.recorder import StalePosition, ViewRecorder, open_view_recorder

BATCH_LIMIT = 1000
POLL_SECONDS = 0.1
RETRY_SECONDS = 2.0

log = logging.getLogger(__name__)


class Projector:
    """Reads entry events after the views' position and commits their deltas with it."""

    def __init__(self, store: LedgerStore, recorder: ViewRecorder | None = None) -> None:
        self.store = store
        self.recorder = recorder or open_view_recorder(store)

    def position(self) -> int:
        return self.recorder.position(self.store.name)

    def step(self, limit: int = BATCH_LIMIT) -> int:
        """Fold up to `limit` new entries in one transaction; return how many (or StalePosition)."""
        start = self.position()
        notifications = entries_after(self.store, start, limit)
        if not notifications:
            return 0
        deltas = fold(self._entry(notification) for notification in notifications)
        self.recorder.record(deltas, start, Tracking(self.store.name, notifications[-1].id))
        return len(notifications)

    def catch_up(self, progress: Callable[[int], None] | None = None) -> int:
        """Fold every entry there is; `progress` gets the running count after each batch."""
        done = 0
        while True:
            try:
                count = self.step()
            except StalePosition:
                continue
            if count == 0:
                return done
            done += count
            if progress is not None:
                progress(done)

    def rebuild(self, progress: Callable[[int], None] | None = None) -> int:
        """Empty the views and fold the whole log again; return how many entries."""
        self.recorder.clear(self.store.name)
        return self.catch_up(progress)

    def run(
        self,
        stop: threading.Event,
        poll: float = POLL_SECONDS,
        held: Callable[[], bool] = lambda: True,
    ) -> None:
        """Fold new entries until `stop` is set or the lease is no longer `held`; a failed
        batch is logged and retried (the position check makes a repeat harmless)."""
        follow(self._step_once, stop, log, idle=poll, held=held)

    def _step_once(self) -> int:
        """A step; one that lost a race for the position (StalePosition) counts as work."""
        try:
            return self.step()
        except StalePosition:
            return 1

    def _entry(self, notification: Notification) -> LoggedEntry:
        event = entry_event(self.store.mapper.to_domain_event(notification))
        return LoggedEntry(notification.id, event.leaf_hash, decode_entry(event.entry.encode()))


def run_projections(node: Node, stop: threading.Event) -> None:
    """Stand by for the projector lease, then keep the views up to date until `stop` is set;
    stand by again whenever the lease is lost (e.g. its connection died in a restart)."""
    while not stop.is_set():
        lease = node.lease("projections")
        if not wait_for_lease(lease, stop):
            return
        try:
            Projector(node.store).run(stop, held=lease.held)
        except Exception:  # the database went away before the projector started
            log.exception("projections could not start; standing by")
            stop.wait(RETRY_SECONDS)
        finally:
            lease.release()
