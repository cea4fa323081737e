"""The event store's recorders, with one addition: a save may name the versions the system
accounts must still have when it commits.

A decision reads the key registry, factor tables and methods before its transaction. If
another process moved one of them on meanwhile, the entry would land after that change in
log order while having been decided before it, and an offline replay would disagree. The
check runs after the insert, inside the same transaction, where the store's write lock
(PostgreSQL's table lock, SQLite's single writer) makes it exact; a mismatch is a conflict,
which the ledger retries like any other.
"""

from collections.abc import Mapping, Sequence
from typing import Any
from uuid import UUID

from eventsourcing.persistence import IntegrityError, StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder
from eventsourcing.sqlite import SQLiteApplicationRecorder
from psycopg.sql import SQL, Identifier

Versions = Mapping[UUID, int | None]


def _moved(found: dict[UUID, int], expected: Versions) -> bool:
    return any(found.get(originator) != version for originator, version in expected.items())


MOVED = "a system account moved on since the decision; retry"


class LedgerSQLiteRecorder(SQLiteApplicationRecorder):
    def _insert_events(
        self, c: Any, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        ids = super()._insert_events(c, stored_events, **kwargs)
        expected: Versions = kwargs.get("system_versions") or {}
        if expected:
            marks = ",".join("?" * len(expected))
            c.execute(
                f"SELECT originator_id, MAX(originator_version) FROM {self.events_table_name}"
                f" WHERE originator_id IN ({marks}) GROUP BY originator_id",
                [key.hex for key in expected],
            )
            if _moved({UUID(row[0]): row[1] for row in c.fetchall()}, expected):
                raise IntegrityError(MOVED)  # the SQLite transaction rolls back on the way out
        return ids


class LedgerPostgresRecorder(PostgresApplicationRecorder):
    def _fetch_ids_after_insert_events(
        self, curs: Any, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        ids = super()._fetch_ids_after_insert_events(curs, stored_events, **kwargs)
        expected: Versions = kwargs.get("system_versions") or {}
        if expected:
            curs.execute(
                SQL(
                    "SELECT originator_id, MAX(originator_version) AS version FROM {0}.{1}"
                    " WHERE originator_id = ANY(%s) GROUP BY originator_id"
                ).format(Identifier(self.datastore.schema), Identifier(self.events_table_name)),
                [list(expected)],
            )
            if _moved({row["originator_id"]: row["version"] for row in curs.fetchall()}, expected):
                # Fail on the server, so the transaction aborts: eventsourcing holds exceptions
                # raised here until after its transaction block, which would then commit.
                curs.execute(
                    f"DO $$ BEGIN RAISE EXCEPTION '{MOVED}' USING ERRCODE = 'unique_violation';"
                    " END $$"
                )
        return ids
