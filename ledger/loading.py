"""Accounts for a batch: from the repository's cache, else all missing ones in one query.

The cache is trusted (no fast-forward query per read): a stale account can only make a
save conflict on its version, and a conflict evicts it, so nothing stale is ever appended.
"""

import contextlib
import copy
import threading
from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import cast
from uuid import UUID

from eventsourcing.application import Cache, project_aggregate
from eventsourcing.domain import DomainEventProtocol

from ledger.account import Account, account_uuid
from ledger.storage.base import PersonCounts, persons_moved
from ledger.store import LedgerStore


class AccountLoader:
    """Account aggregates by account id; callers get copies they may change."""

    def __init__(self, store: LedgerStore) -> None:
        self.store = store
        cache = store.repository.cache
        if cache is None:
            raise ValueError("the ledger store needs an aggregate cache")
        self.cache = cast("Cache[UUID, Account]", cache)  # the store holds accounts only
        self._lock = threading.Lock()

    def _cached(self, key: UUID) -> Account | None:
        with self._lock:
            try:
                return copy.deepcopy(self.cache.get(key))
            except KeyError:
                return None

    def get_many(self, account_ids: Iterable[str]) -> dict[str, Account | None]:
        """Each account's aggregate, or None if it has no entries yet."""
        keys = {account_id: account_uuid(account_id) for account_id in account_ids}
        found: dict[str, Account | None] = {a: self._cached(k) for a, k in keys.items()}
        missing = [keys[a] for a, aggregate in found.items() if aggregate is None]
        if not missing:
            return found
        events: dict[UUID, list[DomainEventProtocol[UUID]]] = defaultdict(list)
        for stored in self.store.reads.bulk_events(missing):
            key = cast(UUID, stored.originator_id)  # the store's ids are UUIDs
            events[key].append(self.store.mapper.to_domain_event(stored))
        loaded: dict[UUID, Account | None] = {
            key: project_aggregate(None, events[key]) for key in events
        }
        with self._lock:
            for key, aggregate in loaded.items():
                self.cache.put(key, aggregate)
        for account_id, key in keys.items():
            if found[account_id] is None and key in loaded:
                found[account_id] = copy.deepcopy(loaded[key])
        return found

    def get(self, account_id: str) -> Account | None:
        return self.get_many([account_id])[account_id]

    def moved(self, decided_on: Mapping[str, int | None], persons: PersonCounts) -> bool:
        """Whether the store has moved on from what a decision read: an account's version
        (None: it had no entries) or a person's count of accounts. Asked of the store, not
        the cache: a refusal is true only if nothing has."""
        keys = {account_uuid(account_id): account_id for account_id in decided_on}
        stored = self.store.reads.bulk_versions(list(keys))
        if any(stored.get(key) != decided_on[account_id] for key, account_id in keys.items()):
            return True
        return bool(persons) and persons_moved(
            self.store.reads.person_counts(list(persons)), persons
        )

    def evict(self, account_ids: Iterable[str]) -> None:
        """Forget cached accounts (after a conflict showed another writer moved them on)."""
        with self._lock:
            for account_id in account_ids:
                with contextlib.suppress(KeyError):
                    self.cache.get(account_uuid(account_id), evict=True)

    def remember(self, accounts: Iterable[Account]) -> None:
        """Cache accounts just saved (the ledger saves their events, not the aggregates)."""
        with self._lock:
            for account in accounts:
                self.cache.put(account.id, account)
