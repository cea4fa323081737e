"""The event store's recorders, with two additions in the save's own transaction: the
idempotency claims, and the versions the system accounts must still have.

Claims: (key, id) is unique in a `claims` table, so a second use of an id by a key
conflicts in the same transaction as the entry it would append: the database enforces
idempotency, and no aggregate or event is spent on it.

System versions:
A decision reads the key registry, factor tables and methods before its transaction. If
another process moved one of them on meanwhile, the entry would land after that change in
log order while having been decided before it, and an offline replay would disagree. The
check runs after the insert, inside the same transaction, where the store's write lock
(PostgreSQL's table lock, SQLite's single writer) makes it exact; a mismatch is a conflict,
which the ledger retries like any other.
"""

from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple
from uuid import UUID

from eventsourcing.persistence import IntegrityError, StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder
from eventsourcing.sqlite import SQLiteApplicationRecorder
from psycopg.sql import SQL, Identifier

Versions = Mapping[UUID, int | None]
CLAIMS = "claims"
CLAIMS_TABLE = (
    "CREATE TABLE IF NOT EXISTS {t} (key_id TEXT NOT NULL, id TEXT NOT NULL,"
    " digest TEXT NOT NULL, account TEXT NOT NULL, seq BIGINT NOT NULL, PRIMARY KEY (key_id, id))"
)


class Claim(NamedTuple):
    """A key's idempotency id, the digest of the bytes it was used for, and their entry."""

    key_id: str
    id: str
    digest: str
    account: str
    seq: int


def _moved(found: dict[UUID, int], expected: Versions) -> bool:
    return any(found.get(originator) != version for originator, version in expected.items())


MOVED = "a system account moved on since the decision; retry"


class LedgerSQLiteRecorder(SQLiteApplicationRecorder):
    def construct_create_table_statements(self) -> list[str]:
        return [*super().construct_create_table_statements(), CLAIMS_TABLE.format(t=CLAIMS)]

    def find_claim(self, key_id: str, id_: str) -> Claim | None:
        with self.datastore.transaction(commit=False) as c:
            c.execute(f"SELECT * FROM {CLAIMS} WHERE key_id = ? AND id = ?", [key_id, id_])
            row = c.fetchone()
        return Claim(*row) if row else None

    def _insert_events(
        self, c: Any, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        ids = super()._insert_events(c, stored_events, **kwargs)
        c.executemany(f"INSERT INTO {CLAIMS} VALUES (?, ?, ?, ?, ?)", kwargs.get("claims", ()))
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
    def __init__(self, datastore: Any, **kwargs: Any) -> None:
        super().__init__(datastore, **kwargs)
        self.claims_table = SQL("{0}.{1}").format(
            Identifier(self.datastore.schema), Identifier(CLAIMS)
        )
        self.sql_create_statements.append(SQL(CLAIMS_TABLE).format(t=self.claims_table))
        self.insert_columns_statement = SQL(
            "INSERT INTO {0}.{1} (originator_id, originator_version, topic, state)"
            " SELECT * FROM unnest(%b::uuid[], %b::bigint[], %b::text[], %b::bytea[])"
            " RETURNING notification_id"
        ).format(Identifier(self.datastore.schema), Identifier(self.events_table_name))

    def _insert_stored_events(
        self, curs: Any, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> None:
        """The library's insert, with one binary array per column instead of one text array
        of a composite type: no quoting or escaping per value on either side, a fraction of
        the cost per event (bench/ingest.py)."""
        self._lock_table(curs)
        self._notify_channel(curs)
        columns = (
            [e.originator_id for e in stored_events],
            [e.originator_version for e in stored_events],
            [e.topic for e in stored_events],
            [e.state for e in stored_events],
        )
        curs.execute(self.insert_columns_statement, columns, prepare=True)

    def find_claim(self, key_id: str, id_: str) -> Claim | None:
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(
                SQL("SELECT * FROM {0} WHERE key_id = %s AND id = %s").format(self.claims_table),
                [key_id, id_],
            )
            row = curs.fetchone()
        return Claim(**row) if row else None

    def _fetch_ids_after_insert_events(
        self, curs: Any, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        ids = super()._fetch_ids_after_insert_events(curs, stored_events, **kwargs)
        # Whatever fails must fail on the server, so the transaction aborts (eventsourcing
        # holds exceptions raised here until after its transaction block, which would then
        # commit), and as the last statement, so it is the one error the pipeline reports.
        expected: Versions = kwargs.get("system_versions") or {}
        if expected:
            curs.execute(
                SQL(
                    "SELECT originator_id, MAX(originator_version) AS version FROM {0}.{1}"
                    " WHERE originator_id = ANY(%b) GROUP BY originator_id"
                ).format(Identifier(self.datastore.schema), Identifier(self.events_table_name)),
                [list(expected)],
            )
            if _moved({row["originator_id"]: row["version"] for row in curs.fetchall()}, expected):
                curs.execute(
                    f"DO $$ BEGIN RAISE EXCEPTION '{MOVED}' USING ERRCODE = 'unique_violation';"
                    " END $$"
                )
                return ids
        claims = kwargs.get("claims", ())
        if claims:  # a used (key, id) is a unique violation
            columns = [list(column) for column in zip(*claims, strict=True)]
            curs.execute(
                SQL(
                    "INSERT INTO {0} SELECT * FROM"
                    " unnest(%b::text[], %b::text[], %b::text[], %b::text[], %b::bigint[])"
                ).format(self.claims_table),
                columns,
            )
        return ids
