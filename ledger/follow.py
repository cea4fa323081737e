"""The one loop that follows the notification log: the integrator's and the projector's.

Both read the entry events after their tracked position and commit what they made of them
with the new position in one transaction, so a step that failed, or ran twice, is repeated
harmlessly; only how a step is made differs.
"""

import logging
import threading
from collections.abc import Callable, Sequence

from eventsourcing.persistence import Notification

from ledger.account import ENTRY_TOPICS
from ledger.faults import is_transient
from ledger.store import LedgerStore

IDLE_SECONDS = 0.05
MAX_BACKOFF_SECONDS = 5.0


def entries_after(store: LedgerStore, position: int, limit: int) -> Sequence[Notification]:
    """Up to `limit` entry events after notification id `position`, in order."""
    return store.recorder.select_notifications(start=position + 1, limit=limit, topics=ENTRY_TOPICS)


def follow(
    step: Callable[[], int],
    stop: threading.Event,
    log: logging.Logger,
    *,
    wake: threading.Event | None = None,
    idle: float = IDLE_SECONDS,
    held: Callable[[], bool] = lambda: True,
    fatal: tuple[type[BaseException], ...] = (),
) -> None:
    """Call `step` (it returns how many entries it took) until `stop` is set or the lease is
    no longer `held`: again at once after work, after `wake` or `idle` s without. A failed
    step is logged and retried with backoff (0.1 s doubling to 5 s); `fatal` errors end it."""
    delay = 0.0
    while not stop.is_set() and held():
        try:
            taken = step()
            delay = 0.0
        except fatal:
            raise
        except Exception as error:
            delay = min(max(delay * 2, 0.1), MAX_BACKOFF_SECONDS)
            if is_transient(error):
                log.warning("storage unavailable (%s); retrying in %.1f s", error, delay)
            else:
                log.exception("a step failed; retrying in %.1f s", delay)
            stop.wait(delay)
            continue
        if taken == 0:
            if wake is None:
                stop.wait(idle)
            else:
                wake.wait(idle)
                wake.clear()
