"""The `sys:` accounts every decision consults: keys, factor tables, grading methods."""

import copy
import threading
from collections import defaultdict
from typing import Any, cast
from uuid import UUID

from eventsourcing.application import project_aggregate
from eventsourcing.domain import DomainEventProtocol

from ledger.account import Account, account_uuid
from ledger.rules import SYSTEM_ACCOUNTS, initial_state
from ledger.store import LedgerStore


class SystemState:
    """Read-only copies of the system accounts, brought up to date on every `now()`."""

    def __init__(self, store: LedgerStore) -> None:
        self.store = store
        self._aggregates: dict[str, Account | None] = dict.fromkeys(SYSTEM_ACCOUNTS)
        self._lock = threading.Lock()

    def now(self) -> dict[str, Any]:
        """Each system account's state as of now (one query per account)."""
        return self.snapshot()[0]

    def snapshot(self) -> tuple[dict[str, Any], dict[str, int | None]]:
        """Each system account's state and version as of now (one query for all)."""
        with self._lock:
            after = {
                account_uuid(account): aggregate.version if aggregate else 0
                for account, aggregate in self._aggregates.items()
            }
            news: dict[UUID, list[DomainEventProtocol[UUID]]] = defaultdict(list)
            for stored in self.store.reads.bulk_events_after(after):
                key = cast(UUID, stored.originator_id)  # the store's ids are UUIDs
                news[key].append(self.store.mapper.to_domain_event(stored))
            states, versions = {}, {}
            for account, aggregate in self._aggregates.items():
                if news[account_uuid(account)]:  # a new copy: states handed out never change
                    aggregate = project_aggregate(
                        copy.deepcopy(aggregate), news[account_uuid(account)]
                    )
                    self._aggregates[account] = aggregate
                states[account] = aggregate.state if aggregate else initial_state(account)
                versions[account] = aggregate.version if aggregate else None
            return states, versions
