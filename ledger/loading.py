"""Accounts for a batch: from the repository's cache, else all missing ones in one query.

The cache is trusted (no fast-forward query per read): a stale account can only make a
save conflict on its version, and a conflict evicts it, so nothing stale is ever appended.
"""

import contextlib
import copy
import threading
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any
from uuid import UUID

from eventsourcing.application import project_aggregate
from eventsourcing.persistence import StoredEvent
from eventsourcing.postgres import PostgresAggregateRecorder
from psycopg.sql import SQL, Identifier

from ledger.account import Account, account_uuid
from ledger.store import LedgerStore


def _select_sqlite(recorder: Any, where: str, params: list[Any]) -> list[StoredEvent]:
    statement = (
        f"SELECT originator_id, originator_version, topic, state FROM {recorder.events_table_name}"
        f" WHERE {where} ORDER BY originator_id, originator_version"
    )
    with recorder.datastore.transaction(commit=False) as cursor:
        cursor.execute(statement, params)
        return [
            StoredEvent(recorder.convert_originator_id(r[0]), r[1], r[2], bytes(r[3]))
            for r in cursor.fetchall()
        ]


def _select_postgres(
    recorder: PostgresAggregateRecorder, where: str, params: list[Any]
) -> list[StoredEvent]:
    statement = SQL(
        "SELECT originator_id, originator_version, topic, state FROM {0}.{1}"
        " WHERE " + where + " ORDER BY originator_id, originator_version"
    ).format(Identifier(recorder.datastore.schema), Identifier(recorder.events_table_name))
    with recorder.datastore.get_connection() as connection, connection.cursor() as cursor:
        cursor.execute(statement, params)
        return [
            StoredEvent(r["originator_id"], r["originator_version"], r["topic"], bytes(r["state"]))
            for r in cursor.fetchall()
        ]


def select_events(recorder: Any, ids: Sequence[UUID]) -> list[StoredEvent]:
    """Every stored event of these aggregates, in one query."""
    if isinstance(recorder, PostgresAggregateRecorder):
        return _select_postgres(recorder, "originator_id = ANY(%b)", [list(ids)])
    marks = ",".join("?" * len(ids))
    return _select_sqlite(recorder, f"originator_id IN ({marks})", [i.hex for i in ids])


def select_events_after(recorder: Any, after: Mapping[UUID, int]) -> list[StoredEvent]:
    """Each aggregate's stored events after the version given for it, in one query."""
    if isinstance(recorder, PostgresAggregateRecorder):
        where = " OR ".join(["(originator_id = %s AND originator_version > %s)"] * len(after))
        return _select_postgres(recorder, where, [v for pair in after.items() for v in pair])
    where = " OR ".join(["(originator_id = ? AND originator_version > ?)"] * len(after))
    params = [v for key, version in after.items() for v in (key.hex, version)]
    return _select_sqlite(recorder, where, params)


def _versions_postgres(recorder: PostgresAggregateRecorder, ids: Sequence[UUID]) -> dict[UUID, int]:
    statement = SQL(
        "SELECT originator_id, MAX(originator_version) AS version FROM {0}.{1}"
        " WHERE originator_id = ANY(%b) GROUP BY originator_id"
    ).format(Identifier(recorder.datastore.schema), Identifier(recorder.events_table_name))
    with recorder.datastore.get_connection() as connection, connection.cursor() as cursor:
        cursor.execute(statement, [list(ids)])
        return {row["originator_id"]: row["version"] for row in cursor.fetchall()}


def _versions_sqlite(recorder: Any, ids: Sequence[UUID]) -> dict[UUID, int]:
    statement = (
        f"SELECT originator_id, MAX(originator_version) FROM {recorder.events_table_name}"
        f" WHERE originator_id IN ({','.join('?' * len(ids))}) GROUP BY originator_id"
    )
    with recorder.datastore.transaction(commit=False) as cursor:
        cursor.execute(statement, [i.hex for i in ids])
        return {UUID(row[0]): row[1] for row in cursor.fetchall()}


def select_versions(recorder: Any, ids: Sequence[UUID]) -> dict[UUID, int]:
    """The stored version of each of these aggregates that has events, in one query."""
    if not ids:
        return {}
    if isinstance(recorder, PostgresAggregateRecorder):
        return _versions_postgres(recorder, ids)
    return _versions_sqlite(recorder, ids)


class AccountLoader:
    """Account aggregates by account id; callers get copies they may change."""

    def __init__(self, store: LedgerStore) -> None:
        self.store = store
        cache = store.repository.cache
        if cache is None:
            raise ValueError("the ledger store needs an aggregate cache")
        self.cache = cache
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
        events: dict[UUID, list[Any]] = defaultdict(list)
        for stored in select_events(self.store.recorder, missing):
            events[stored.originator_id].append(self.store.mapper.to_domain_event(stored))
        loaded = {key: project_aggregate(None, events[key]) for key in events}
        with self._lock:
            for key, aggregate in loaded.items():
                self.cache.put(key, aggregate)
        for account_id, key in keys.items():
            if found[account_id] is None and key in loaded:
                found[account_id] = copy.deepcopy(loaded[key])
        return found

    def get(self, account_id: str) -> Account | None:
        return self.get_many([account_id])[account_id]

    def stale(self, decided_on: Mapping[str, int | None]) -> set[str]:
        """The accounts whose stored version is no longer the one a decision read (None: the
        account had no entries), asked of the store: a refusal is true only if this is empty."""
        keys = {account_uuid(account_id): account_id for account_id in decided_on}
        stored = select_versions(self.store.recorder, list(keys))
        return {
            account_id
            for key, account_id in keys.items()
            if stored.get(key) != decided_on[account_id]
        }

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
