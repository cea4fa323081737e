"""SQLite: every SQLite table and query (events and claims, log, views, bulk reads), the
file lease, and the backend's defaults."""

import contextlib
import fcntl
import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from functools import partial
from pathlib import Path
from typing import Any, TextIO
from uuid import UUID

from eventsourcing.persistence import InfrastructureFactory, IntegrityError, StoredEvent
from eventsourcing.sqlite import (
    SQLiteApplicationRecorder,
    SQLiteCursor,
    SQLiteDatastore,
    SQLiteTrackingRecorder,
)

from ledger.account import account_uuid
from ledger.documents import DOCUMENTS_DIR, DocumentStore, FileDocumentStore
from ledger.storage.base import (
    CLAIMS,
    CLAIMS_TABLE,
    LOG_TABLES,
    MOVED,
    PERSONS,
    PERSONS_INDEXED,
    PERSONS_MOVED,
    PERSONS_TABLE,
    Backend,
    FoundClaim,
    Lease,
    LogRecorder,
    SQLCursor,
    Versions,
    ViewRecorder,
    ViewSchema,
    claim_key,
    counted_accounts,
    found_claim,
    held_accounts,
    index_first_entries,
    keyed,
    moved,
    persons_moved,
)
from ledger.tokens import TOKENS_FILE, FileTokenStore, TokenStore
from ledger.webhooks import WEBHOOKS_FILE, FileWebhookStore, WebhookStore

SQLITE_FILE = "ledger.sqlite"
# an INTEGER PRIMARY KEY is the rowid itself; WITHOUT ROWID keeps a row in its key's b-tree
SQLITE_TYPES = {
    "blob": "BLOB",
    "int_key": "INTEGER",
    "without_rowid": " WITHOUT ROWID",
    "leaf_unique": " UNIQUE",
}


class LedgerSQLiteRecorder(SQLiteApplicationRecorder):
    def construct_create_table_statements(self) -> list[str]:
        claims = CLAIMS_TABLE.format(t=CLAIMS, **SQLITE_TYPES)
        persons = PERSONS_TABLE.format(t=PERSONS, **SQLITE_TYPES)
        return [*super().construct_create_table_statements(), claims, persons]

    def find_claim(self, key_id: str, id_: str) -> FoundClaim | None:
        with self.datastore.transaction(commit=False) as c:
            c.execute(f"SELECT digest, seq FROM {CLAIMS} WHERE claim = ?", [claim_key(key_id, id_)])
            return found_claim(c.fetchone())

    def _insert_events(
        self, c: SQLiteCursor, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        # Private: eventsourcing runs this inside the save's transaction, after the events'
        # insert, with insert_events' keyword arguments; no public hook sees that cursor, and
        # the claims and the system-version check must commit or roll back with the events
        # (tests/test_storage_layout.py pins the method and its signature).
        ids = super()._insert_events(c, stored_events, **kwargs)
        claims = [claim.row() for claim in kwargs.get("claims", ())]
        c.executemany(f"INSERT INTO {CLAIMS} VALUES (?, ?, ?)", claims)
        expected: Versions = kwargs.get("system_versions") or {}
        if expected and moved(self._versions(c, list(expected)), expected):
            raise IntegrityError(MOVED)  # the SQLite transaction rolls back on the way out
        persons = kwargs.get("persons") or {}
        if persons and persons_moved(self._person_counts(c, list(persons)), persons):
            raise IntegrityError(PERSONS_MOVED)
        rows = [row.stored() for row in kwargs.get("person_rows") or ()]
        c.executemany(f"INSERT INTO {PERSONS} VALUES (?, ?)", rows)
        return ids

    def _select(self, where: str, params: list[Any]) -> list[StoredEvent]:
        statement = (
            f"SELECT originator_id, originator_version, topic, state FROM {self.events_table_name}"
            f" WHERE {where} ORDER BY originator_id, originator_version"
        )
        with self.datastore.transaction(commit=False) as cursor:
            cursor.execute(statement, params)
            return [
                StoredEvent(self.convert_originator_id(r[0]), r[1], r[2], bytes(r[3]))
                for r in cursor.fetchall()
            ]

    def bulk_events(self, ids: Sequence[UUID]) -> list[StoredEvent]:
        marks = ",".join("?" * len(ids))
        return self._select(f"originator_id IN ({marks})", [i.hex for i in ids])

    def bulk_events_after(self, after: Mapping[UUID, int]) -> list[StoredEvent]:
        where = " OR ".join(["(originator_id = ? AND originator_version > ?)"] * len(after))
        params = [v for key, version in after.items() for v in (key.hex, version)]
        return self._select(where, params)

    def _versions(self, cursor: SQLiteCursor, ids: Sequence[UUID]) -> dict[UUID, int]:
        """The stored version of each of these aggregates that has events, on `cursor`."""
        cursor.execute(
            f"SELECT originator_id, MAX(originator_version) FROM {self.events_table_name}"
            f" WHERE originator_id IN ({','.join('?' * len(ids))}) GROUP BY originator_id",
            [i.hex for i in ids],
        )
        return {UUID(row[0]): row[1] for row in cursor.fetchall()}

    def bulk_versions(self, ids: Sequence[UUID]) -> dict[UUID, int]:
        if not ids:
            return {}
        with self.datastore.transaction(commit=False) as cursor:
            return self._versions(cursor, ids)

    def person_accounts(self, persons: Sequence[str]) -> dict[str, set[str]]:
        if not persons:
            return {}
        keys = list(keyed(persons))
        marks = ",".join("?" * len(keys))
        with self.datastore.transaction(commit=False) as cursor:
            cursor.execute(f"SELECT person, bank FROM {PERSONS} WHERE person IN ({marks})", keys)
            return held_accounts(persons, cursor.fetchall())

    @staticmethod
    def _person_counts(cursor: SQLiteCursor, persons: Sequence[str]) -> dict[str, int]:
        keys = list(keyed(persons))
        marks = ",".join("?" * len(keys))
        cursor.execute(
            f"SELECT person, COUNT(*) FROM {PERSONS} WHERE person IN ({marks}) GROUP BY person",
            keys,
        )
        return counted_accounts(persons, cursor.fetchall())

    def person_counts(self, persons: Sequence[str]) -> dict[str, int]:
        if not persons:
            return {}
        with self.datastore.transaction(commit=False) as cursor:
            return self._person_counts(cursor, persons)

    def persons_indexed(self) -> bool:
        with self.datastore.transaction(commit=False) as cursor:
            cursor.execute("SELECT 1 FROM sqlite_master WHERE name = ?", [PERSONS])
            if not cursor.fetchall():
                return False
            cursor.execute(
                f"SELECT 1 FROM {PERSONS} WHERE person = ? AND bank = ?", list(PERSONS_INDEXED)
            )
            return bool(cursor.fetchall())

    def index_persons(self) -> int:
        if self.persons_indexed():
            return 0
        page = (
            f"SELECT rowid, state FROM {self.events_table_name}"
            " WHERE originator_version = 1 AND rowid > ? ORDER BY rowid LIMIT 10000"
        )
        insert = f"INSERT OR IGNORE INTO {PERSONS} VALUES (?, ?)"
        with self.datastore.transaction(commit=True) as cursor:

            def first_events(after: int) -> list[tuple[int, bytes]]:
                cursor.execute(page, [after])
                return [(row[0], bytes(row[1])) for row in cursor.fetchall()]

            return index_first_entries(first_events, partial(cursor.executemany, insert))


class SQLiteLogRecorder(LogRecorder, SQLiteTrackingRecorder):
    events = "stored_events"  # eventsourcing's SQLite events table (its rowid: the position)
    event_position = "rowid"

    def table(self, name: str) -> str:
        return f"log_{name}"

    def originator(self, account: str) -> Any:
        return account_uuid(account).hex  # as eventsourcing's SQLite recorder stores ids

    def exists_plain(self, name: str, qualified: bool = False) -> bool:
        return bool(self._all("SELECT 1 FROM sqlite_master WHERE name = ?", [name]))

    def plain_table(self, name: str) -> str:
        return name

    def transaction(self, *, commit: bool) -> AbstractContextManager[SQLiteCursor]:
        return self.datastore.transaction(commit=commit)

    def construct_create_table_statements(self) -> list[str]:
        return [
            *super().construct_create_table_statements(),
            *(sql.format(t=self.table(name), **SQLITE_TYPES) for name, sql in LOG_TABLES.items()),
        ]


class SQLiteViewRecorder(ViewRecorder, SQLiteTrackingRecorder):
    def __init__(self, datastore: SQLiteDatastore, *, views: ViewSchema, **kwargs: Any) -> None:
        self.views = views
        super().__init__(datastore, **kwargs)
        self.insert_tracking_statement = self._own_tracking(self.insert_tracking_statement)
        self.select_max_tracking_id_statement = self._own_tracking(
            self.select_max_tracking_id_statement
        )

    def _own_tracking(self, statement: str) -> str:
        """eventsourcing's SQLite tracking statement, on our tracking table."""
        return re.sub(r"\btracking\b", self.views.tracking, statement)

    def table(self, name: str) -> str:
        return name

    def transaction(self, *, commit: bool) -> AbstractContextManager[SQLiteCursor]:
        return self.datastore.transaction(commit=commit)

    def _lock(self, cursor: SQLCursor, application_name: str) -> None:
        # A write as the transaction's first statement takes SQLite's write lock, so what
        # this transaction reads next is the latest commit.
        cursor.execute(
            f"UPDATE {self.views.tracking} SET notification_id = notification_id"
            " WHERE application_name = ?",
            [application_name],
        )

    def construct_create_table_statements(self) -> list[str]:
        views = self.views
        return [
            *map(self._own_tracking, super().construct_create_table_statements()),
            *(sql for table in views.tables for sql in views.create_statements(table, table.name)),
        ]


class FileLease:
    """An exclusive flock on a file in the data directory."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file: TextIO | None = None

    def try_acquire(self) -> bool:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        file = self.path.open("a")
        try:
            fcntl.flock(file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            file.close()
            return False
        self._file = file
        return True

    def held(self) -> bool:
        return self._file is not None

    def release(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


class SQLite(Backend):
    name = "sqlite"
    persistence_module = "eventsourcing.sqlite"
    application_recorder = LedgerSQLiteRecorder
    log_recorder_class = SQLiteLogRecorder
    view_recorder_class = SQLiteViewRecorder

    @classmethod
    def defaults(cls, data_dir: Path) -> dict[str, str]:
        return {
            "PERSISTENCE_MODULE": cls.persistence_module,
            "SQLITE_DBNAME": str(data_dir / SQLITE_FILE),
            "SQLITE_LOCK_TIMEOUT": "30",
            "APPLICATION_RECORDER_TOPIC": cls.recorder_topic(),
        }

    @contextlib.contextmanager
    def _no_lock(self) -> Iterator[None]:
        yield

    def setup_lock(self) -> AbstractContextManager[None]:
        """Nothing: SQLite serialises DDL already."""
        return self._no_lock()

    def prepare(self, factory: InfrastructureFactory[Any]) -> None:
        """Nothing to adjust: no pool."""

    def missing(self) -> str | None:
        sqlite_file = self.settings.get("SQLITE_DBNAME", "")
        return None if Path(sqlite_file).exists() else f"there is no {sqlite_file}"

    def lease(self, factory: InfrastructureFactory[Any], data_dir: Path, purpose: str) -> Lease:
        return FileLease(data_dir / f"{purpose}.lock")

    def document_store(
        self, factory: InfrastructureFactory[Any], data_dir: Path, create: bool = False
    ) -> DocumentStore:
        """Files named by hash beside the database."""
        return FileDocumentStore(data_dir / DOCUMENTS_DIR)

    def token_store(
        self, factory: InfrastructureFactory[Any], data_dir: Path, create: bool = False
    ) -> TokenStore:
        """A file beside the database: one machine, like the database."""
        return FileTokenStore(data_dir / TOKENS_FILE)

    def webhook_store(
        self, factory: InfrastructureFactory[Any], data_dir: Path, create: bool = False
    ) -> WebhookStore:
        """A file beside the database, like the tokens."""
        return FileWebhookStore(data_dir / WEBHOOKS_FILE)
